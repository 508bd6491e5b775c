/*
 * ocsp_store.h - OCSP stapling: the staple of every certificate that has
 * one, the status callback that hands it to a handshake, and the fetcher
 * thread that keeps `ocsp = "auto"` staples fresh.
 *
 * The store is process-wide and outlives generations, so a certificate
 * that a reload keeps keeps its staple.  Threads: the main thread creates,
 * starts and frees the store and builds bindings (tlsctx.c, per
 * generation); workers run the status callback; the fetcher thread
 * ("ocsp") fetches, verifies, publishes and writes the disk cache; the
 * admin thread reads a view.  A staple is an immutable, reference-counted
 * blob: publishing one swaps a pointer under its certificate's mutex, and
 * a worker holds that mutex only to take a reference.
 */
#ifndef TESSERA_OCSP_STORE_H
#define TESSERA_OCSP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config.h"
#include "ocsp.h"

struct ocsp_store;
struct ocsp_binding;

/* Results of one fetch, as counted in tessera_ocsp_fetches_total. */
enum ocsp_fetches {
    OCSP_FETCHES_OK = 0,
    OCSP_FETCHES_ERROR,   /* no HTTP answer, not 200, ... */
    OCSP_FETCHES_INVALID, /* an answer that is no good staple (ocsp_check) */
    OCSP_FETCHES_TIMEOUT, /* ocsp.timeout passed */
    OCSP_FETCHES__COUNT,
};

/* Main thread.  NULL when out of memory. */
struct ocsp_store *ocsp_store_new(void);
/* Main thread, once no other thread may be missing (after the privilege
 * drop): start the fetcher thread.  -1 with err set. */
int ocsp_store_start(struct ocsp_store *s, struct err *err);
/* Main thread, after every binding is freed: stop the thread (a fetch
 * under way is abandoned within about a second) and free it all. */
void ocsp_store_free(struct ocsp_store *s);

/* Main thread, building one frontend's contexts: a binding collects its
 * certificates' staples.  `s` NULL (tessera -t) binds nothing. */
struct ocsp_binding *ocsp_binding_new(struct ocsp_store *s);
/*
 * The certificate `cc` was just loaded into `ctx` (its leaf is
 * SSL_CTX_get0_certificate, its chain SSL_CTX_get0_chain_certs).  If it has
 * an `ocsp` setting, find or make its entry (an "auto" entry is shared by
 * every generation that has the same certificate; a FILE is read again) and
 * install the status callback on ctx.  -1 with err set (out of memory, no
 * issuer in the chain); a response that is no good is logged, counted and
 * not stapled, never an error.
 */
int ocsp_binding_add(struct ocsp_binding *b, SSL_CTX *ctx, const struct config *cfg,
                     const struct config_cert *cc, struct err *err);
/* Any thread (the generation's last reference): after the SSL_CTXs are freed. */
void ocsp_binding_free(struct ocsp_binding *b);

/* What the admin endpoint shows. */
struct ocsp_view_cert {
    char *label;    /* the certificate file */
    int64_t expiry; /* nextUpdate of the staple in use, unix s; 0: none */
};
struct ocsp_view {
    size_t n;
    struct ocsp_view_cert *certs;
    uint64_t fetches[OCSP_FETCHES__COUNT];
    uint64_t rejected[OCSP_RESP__COUNT]; /* by verdict; [OCSP_RESP_OK] unused */
};
/* Admin thread.  Fills *v (ocsp_view_release frees it); `s` NULL: empty. */
void ocsp_store_describe(struct ocsp_store *s, struct ocsp_view *v);
void ocsp_view_release(struct ocsp_view *v);

#endif
