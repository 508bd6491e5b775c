/*
 * ocsp.h - checking OCSP responses (RFC 6960) against a certificate and its
 * issuer, building requests, and when to fetch the next response.
 *
 * Pure apart from OpenSSL: no clock (the time is passed in), no I/O except
 * ocsp_read_file.  Any thread; the X509 arguments are only read.  Used by
 * config.c (`tessera -t`, reload), ocsp_store.c (the fetcher thread and
 * start-up) and the unit tests.
 */
#ifndef TESSERA_OCSP_H
#define TESSERA_OCSP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

/* A response is refused when its thisUpdate is further than this in the
 * future (a responder whose clock runs ahead).  nextUpdate gets no such
 * allowance: an expired staple makes strict clients fail the handshake. */
#define OCSP_SKEW_S 300
/* A response without nextUpdate (RFC 6960 4.2.2.1: "newer information is
 * always available") is treated as valid for this long after thisUpdate. */
#define OCSP_NO_NEXT_UPDATE_S 3600
/* Larger responses are refused (they are a few KiB at most in practice). */
#define OCSP_MAX_RESPONSE 65536

/* What is wrong with a response; OCSP_RESP_OK when it may be stapled. */
enum ocsp_verdict {
    OCSP_RESP_OK = 0,
    OCSP_RESP_MALFORMED,  /* not DER, not "successful", not a basic response */
    OCSP_RESP_UNVERIFIED, /* not signed by the issuer or a responder it delegated to */
    OCSP_RESP_MISMATCH,   /* no status for this certificate (another certificate's) */
    OCSP_RESP_REVOKED,    /* revoked, or status "unknown" */
    OCSP_RESP_EXPIRED,    /* now >= nextUpdate, or thisUpdate too far in the future */
    OCSP_RESP__COUNT,
};

/* "malformed", "unverified", ... (metric labels and log lines). */
const char *ocsp_verdict_name(enum ocsp_verdict v);

/* What a good response says about its period. */
struct ocsp_times {
    time_t this_update;
    time_t next_update; /* thisUpdate + OCSP_NO_NEXT_UPDATE_S when absent */
};

/*
 * Check the DER response `der` for `leaf` issued by `issuer` at time `now`:
 * a successful basic response, signed by the issuer (or by a responder
 * certificate the issuer made for OCSP signing), whose status for leaf's
 * CertID (SHA-1 or SHA-256) is "good", and current (thisUpdate <= now +
 * OCSP_SKEW_S, now < nextUpdate).  *times is filled whenever the status
 * could be read (also for OCSP_RESP_EXPIRED).
 */
enum ocsp_verdict ocsp_check(const unsigned char *der, size_t len, X509 *leaf, X509 *issuer,
                             time_t now, struct ocsp_times *times);

/* The certificate in `chain` that issued `leaf`, or NULL (not a new reference). */
X509 *ocsp_find_issuer(X509 *leaf, STACK_OF(X509) *chain);

/* The first http:// or https:// OCSP responder URL of leaf's Authority
 * Information Access extension, as a new string (free()), or NULL. */
char *ocsp_responder_url(X509 *leaf);

/* The DER request for leaf's status (SHA-1 CertID, no nonce, so that a
 * response can be cached: RFC 5019), in *out (OPENSSL_free()).  -1 on error. */
int ocsp_request_der(X509 *leaf, X509 *issuer, unsigned char **out, size_t *len);

/* Read a whole file of at most OCSP_MAX_RESPONSE bytes into *out (free()).
 * Returns 0, or -errno (-EFBIG when larger). */
int ocsp_read_file(const char *path, unsigned char **out, size_t *len);

/* Refresh policy: half of the validity left, bounded; retries back off. */
#define OCSP_REFRESH_MIN_S 10
#define OCSP_REFRESH_MAX_S 43200
#define OCSP_RETRY_MIN_S   10
#define OCSP_RETRY_MAX_S   600

/*
 * When (unix s) to fetch again at `now`: after a success (failures == 0)
 * halfway to `next_update`, at least OCSP_REFRESH_MIN_S and at most
 * OCSP_REFRESH_MAX_S from now; after `failures` failures in a row
 * OCSP_RETRY_MIN_S doubled per failure, at most OCSP_RETRY_MAX_S, and never
 * later than the success schedule of a staple still in use (next_update 0:
 * none).
 */
int64_t ocsp_next_fetch(int64_t now, int64_t next_update, unsigned failures);

#endif
