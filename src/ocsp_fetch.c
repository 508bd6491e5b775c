/*
 * ocsp_fetch.c - see ocsp_fetch.h.
 *
 * The OCSP fetcher thread only.  libcurl's easy interface with
 * CURLOPT_NOSIGNAL (no SIGALRM in a threaded process: its threaded resolver
 * bounds name lookups instead), no redirects, http and https only, and a
 * body size limit.
 */
#include "ocsp_fetch.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocsp.h"

struct body {
    unsigned char *buf;
    size_t len;
    bool too_large;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;

    if (b->len + n > OCSP_MAX_RESPONSE) {
        b->too_large = true;
        return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
    }
    if (b->buf == NULL) {
        b->buf = malloc(OCSP_MAX_RESPONSE);
        if (b->buf == NULL) {
            return 0;
        }
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    return n;
}

/* libcurl calls this about once a second, and more often while data moves. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    const _Atomic bool *stop = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(stop) ? 1 : 0;
}

int
ocsp_fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
ocsp_fetch_global_cleanup(void)
{
    curl_global_cleanup();
}

enum ocsp_fetch_result
ocsp_fetch_post(const char *url, const unsigned char *req, size_t len, unsigned timeout_ms,
                const _Atomic bool *stop, unsigned char **out, size_t *outlen, char *why,
                size_t whylen)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct body body = {NULL, 0, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    enum ocsp_fetch_result r = OCSP_FETCH_ERROR;
    long status = 0;
    CURLcode rc;

    *out = NULL;
    *outlen = 0;
    snprintf(why, whylen, "out of memory");
    if (curl == NULL) {
        return OCSP_FETCH_ERROR;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/ocsp-request");
    if (hdrs == NULL) {
        goto out;
    }
    struct curl_slist *more = curl_slist_append(hdrs, "Accept: application/ocsp-response");
    if (more == NULL) {
        goto out;
    }
    hdrs = more;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)req);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)(uintptr_t)stop);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tessera");

    rc = curl_easy_perform(curl);
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(why, whylen, "stopped");
        r = OCSP_FETCH_STOPPED;
        goto out;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, whylen, "no answer within %u ms", timeout_ms);
        r = OCSP_FETCH_TIMEOUT;
        goto out;
    }
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s",
                 body.too_large      ? "response too large"
                 : errbuf[0] != '\0' ? errbuf
                                     : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        snprintf(why, whylen, "HTTP status %ld", status);
        goto out;
    }
    if (body.len == 0) {
        snprintf(why, whylen, "empty response");
        goto out;
    }
    *out = body.buf;
    *outlen = body.len;
    body.buf = NULL;
    r = OCSP_FETCH_OK;
out:
    free(body.buf);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    return r;
}
