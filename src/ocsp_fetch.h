/*
 * ocsp_fetch.h - one OCSP request over HTTP (RFC 6960 appendix A.1: POST,
 * application/ocsp-request) with libcurl, bounded in time.
 *
 * Blocking: only the OCSP fetcher thread (ocsp_store.c) calls it, never a
 * worker or the main loop.  ocsp_fetch_global_init runs once on the main
 * thread before that thread starts.
 */
#ifndef TESSERA_OCSP_FETCH_H
#define TESSERA_OCSP_FETCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum ocsp_fetch_result {
    OCSP_FETCH_OK = 0,
    OCSP_FETCH_ERROR,   /* refused, reset, not HTTP 200, too large, ... */
    OCSP_FETCH_TIMEOUT, /* no complete answer within the time limit */
    OCSP_FETCH_STOPPED, /* *stop became true meanwhile */
};

int ocsp_fetch_global_init(void);
void ocsp_fetch_global_cleanup(void);

/*
 * POST `req` (DER) to `url` and wait at most `timeout_ms` for the whole
 * answer.  On OCSP_FETCH_OK *out (free()) holds the body, at most
 * OCSP_MAX_RESPONSE bytes.  Otherwise `why` says what failed.  The transfer
 * is abandoned within about a second once *stop is true.
 */
enum ocsp_fetch_result ocsp_fetch_post(const char *url, const unsigned char *req, size_t len,
                                       unsigned timeout_ms, const _Atomic bool *stop,
                                       unsigned char **out, size_t *outlen, char *why,
                                       size_t whylen);

#endif
