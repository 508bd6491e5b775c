/*
 * ocsp.c - see ocsp.h.
 *
 * Any thread, no shared state.  The signature check follows RFC 6960 4.2.2.2:
 * the response is signed either by the issuer itself, or by a responder
 * certificate the issuer signed with the id-kp-OCSPSigning purpose.  The
 * issuer is the only trust anchor (X509_V_FLAG_PARTIAL_CHAIN): tessera
 * vouches for a staple with the chain it serves, not with a system store.
 */
#include "ocsp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

const char *
ocsp_verdict_name(enum ocsp_verdict v)
{
    switch (v) {
    case OCSP_RESP_OK:
        return "ok";
    case OCSP_RESP_MALFORMED:
        return "malformed";
    case OCSP_RESP_UNVERIFIED:
        return "unverified";
    case OCSP_RESP_MISMATCH:
        return "mismatch";
    case OCSP_RESP_REVOKED:
        return "revoked";
    case OCSP_RESP_EXPIRED:
        return "expired";
    case OCSP_RESP__COUNT:
        break;
    }
    return "?";
}

static int
asn1_to_time(const ASN1_GENERALIZEDTIME *t, time_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return -1;
    }
    *out = timegm(&tm);
    return 0;
}

/* Signed by the issuer, or by a responder it delegated to (see above). */
static int
verify_signer(OCSP_BASICRESP *bs, X509 *issuer)
{
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *certs = sk_X509_new_null();
    int ok = 0;

    if (store == NULL || certs == NULL || X509_STORE_add_cert(store, issuer) != 1 ||
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
        sk_X509_push(certs, issuer) <= 0) {
        goto out;
    }
    /* OCSP_TRUSTOTHER: a response signed by `issuer` itself needs no chain;
     * one signed by a delegated responder (its certificate in the response)
     * is chained to the issuer and checked for the OCSP-signing purpose. */
    ok = OCSP_basic_verify(bs, certs, store, OCSP_TRUSTOTHER) == 1;
out:
    sk_X509_free(certs); /* issuer is borrowed */
    X509_STORE_free(store);
    return ok;
}

enum ocsp_verdict
ocsp_check(const unsigned char *der, size_t len, X509 *leaf, X509 *issuer, time_t now,
           struct ocsp_times *times)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    OCSP_CERTID *ids[2] = {NULL, NULL};
    ASN1_GENERALIZEDTIME *thisupd = NULL;
    ASN1_GENERALIZEDTIME *nextupd = NULL;
    int status = -1;
    int reason = 0;
    bool found = false;
    enum ocsp_verdict v = OCSP_RESP_MALFORMED;

    memset(times, 0, sizeof(*times));
    ERR_clear_error();
    if (len == 0 || len > OCSP_MAX_RESPONSE ||
        (resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL || p != der + len ||
        OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        (bs = OCSP_response_get1_basic(resp)) == NULL) {
        goto out;
    }
    v = OCSP_RESP_UNVERIFIED;
    if (!verify_signer(bs, issuer)) {
        goto out;
    }
    v = OCSP_RESP_MISMATCH;
    ids[0] = OCSP_cert_to_id(EVP_sha1(), leaf, issuer);
    ids[1] = OCSP_cert_to_id(EVP_sha256(), leaf, issuer);
    for (size_t i = 0; i < 2 && !found; i++) {
        found = ids[i] != NULL &&
                OCSP_resp_find_status(bs, ids[i], &status, &reason, NULL, &thisupd, &nextupd) == 1;
    }
    if (!found || asn1_to_time(thisupd, &times->this_update) < 0) {
        goto out;
    }
    if (nextupd == NULL) {
        times->next_update = times->this_update + OCSP_NO_NEXT_UPDATE_S;
    } else if (asn1_to_time(nextupd, &times->next_update) < 0) {
        v = OCSP_RESP_MALFORMED;
        goto out;
    }
    if (status != V_OCSP_CERTSTATUS_GOOD) {
        v = OCSP_RESP_REVOKED;
        goto out;
    }
    if (now >= times->next_update || times->this_update > now + OCSP_SKEW_S ||
        times->next_update <= times->this_update) {
        v = OCSP_RESP_EXPIRED;
        goto out;
    }
    v = OCSP_RESP_OK;
out:
    OCSP_CERTID_free(ids[0]);
    OCSP_CERTID_free(ids[1]);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return v;
}

X509 *
ocsp_find_issuer(X509 *leaf, STACK_OF(X509) *chain)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_check_issued(c, leaf) == X509_V_OK) {
            return c;
        }
    }
    return NULL;
}

char *
ocsp_responder_url(X509 *leaf)
{
    STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(leaf);
    char *url = NULL;

    for (int i = 0; urls != NULL && i < sk_OPENSSL_STRING_num(urls) && url == NULL; i++) {
        const char *u = sk_OPENSSL_STRING_value(urls, i);
        if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) {
            url = strdup(u);
        }
    }
    X509_email_free(urls); /* frees a string stack, X509_get1_ocsp(3) */
    return url;
}

int
ocsp_request_der(X509 *leaf, X509 *issuer, unsigned char **out, size_t *len)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
    int n = -1;

    *out = NULL;
    if (req == NULL || id == NULL || OCSP_request_add0_id(req, id) == NULL) {
        OCSP_CERTID_free(id);
        OCSP_REQUEST_free(req);
        return -1;
    }
    n = i2d_OCSP_REQUEST(req, out); /* id belongs to req now */
    OCSP_REQUEST_free(req);
    if (n <= 0) {
        *out = NULL;
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

int
ocsp_read_file(const char *path, unsigned char **out, size_t *len)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;

    *out = NULL;
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto fail;
    }
    if (st.st_size > OCSP_MAX_RESPONSE) {
        rc = -EFBIG;
        goto fail;
    }
    buf = malloc(OCSP_MAX_RESPONSE + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + got, OCSP_MAX_RESPONSE + 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = -errno;
            goto fail;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
        if (got > OCSP_MAX_RESPONSE) {
            rc = -EFBIG;
            goto fail;
        }
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

int64_t
ocsp_next_fetch(int64_t now, int64_t next_update, unsigned failures)
{
    int64_t success = now + OCSP_REFRESH_MIN_S;

    if (next_update > now) {
        int64_t half = (next_update - now) / 2;
        if (half > OCSP_REFRESH_MAX_S) {
            half = OCSP_REFRESH_MAX_S;
        }
        success = now + (half > OCSP_REFRESH_MIN_S ? half : OCSP_REFRESH_MIN_S);
    }
    if (failures == 0) {
        return success;
    }
    int64_t retry = OCSP_RETRY_MIN_S;
    for (unsigned i = 1; i < failures && retry < OCSP_RETRY_MAX_S; i++) {
        retry *= 2;
    }
    if (retry > OCSP_RETRY_MAX_S) {
        retry = OCSP_RETRY_MAX_S;
    }
    if (next_update > now && success < now + retry) {
        return success;
    }
    return now + retry;
}
