/*
 * tlsctx.h - the TLS side of one frontend: its SSL_CTXs (one per group of
 * certificates that share names), SNI lookup, ALPN, session-ID context.
 *
 * Built on the main thread at start-up (and by `tessera -t`); afterwards
 * read-only and shared by all workers, which only call tlsctx_new_ssl.
 */
#ifndef TESSERA_TLSCTX_H
#define TESSERA_TLSCTX_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

struct certs;
struct ocsp_binding;
struct ocsp_store;

struct tlsctx {
    SSL_CTX **ctxs; /* ctxs[0] serves unknown or absent SNI */
    size_t nctxs;
    struct certs *names;
    unsigned char *alpn; /* wire format: length-prefixed protocol names */
    size_t alpn_len;
    unsigned char sid_ctx[SSL_MAX_SID_CTX_LENGTH];
    struct ocsp_binding *ocsp; /* the certificates' staples (ocsp_store.h) */
};

/* Build the contexts of frontend `fe`; certificates with an `ocsp` setting
 * get their staples from `ocsp` (NULL: none, as for `tessera -t`).
 * Returns NULL with err set ("FILE:LINE: why"). */
struct tlsctx *tlsctx_new(const struct config *cfg, const struct config_frontend *fe,
                          struct ocsp_store *ocsp, struct err *err);
void tlsctx_free(struct tlsctx *t);

/* A new server SSL for an accepted connection, not yet bound to a socket. */
SSL *tlsctx_new_ssl(const struct tlsctx *t);

#endif
