/*
 * tlsctx.h - the TLS side of one frontend: its SSL_CTXs (one per group of
 * certificates that share names), SNI lookup, ALPN, session-ID context,
 * client-certificate verification.
 *
 * Built on the main thread at start-up (and by `tessera -t`); afterwards
 * read-only and shared by all workers, which call tlsctx_new_ssl and the
 * client-certificate helpers on their own connections' SSLs.
 */
#ifndef TESSERA_TLSCTX_H
#define TESSERA_TLSCTX_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

struct certs;
struct stats;
struct ocsp_binding;
struct ocsp_store;

struct tlsctx {
    SSL_CTX **ctxs; /* ctxs[0] serves unknown or absent SNI */
    size_t nctxs;
    struct certs *names;
    unsigned char *alpn; /* wire format: length-prefixed protocol names */
    size_t alpn_len;
    unsigned char sid_ctx[SSL_MAX_SID_CTX_LENGTH];
    X509_STORE *client_store;  /* client_ca (+ client_crl); NULL with client_verify none */
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

/* Room for a certificate's commonName in UTF-8 (64 characters, RFC 5280's
 * ub-common-name, of up to 4 bytes each) and its NUL. */
#define TLSCTX_CN_MAX 257

/* What a connection's client certificate says (tlsctx_client_cert). */
struct tlsctx_client_cert {
    bool conn;              /* the client sent a certificate in this handshake (a full one) */
    bool sess;              /* the session has one: sent now, or in the handshake resumed */
    long verify;            /* SSL_get_verify_result: X509_V_OK when it verified or none came */
    char cn[TLSCTX_CN_MAX]; /* the subject's first commonName, "" when none (or not text) */
};

/*
 * Fill `out` for an established connection (the PROXY v2 SSL TLV: client
 * flags PP2_CLIENT_CERT_CONN / _SESS, verify, CN).  A resumed session keeps
 * the certificate and the verification result of the handshake that made it
 * (OpenSSL serialises both in the session, and sessions.c's memcached
 * entries carry that DER).  The worker that owns the SSL.
 */
void tlsctx_client_cert(const SSL *ssl, struct tlsctx_client_cert *out);

/*
 * Count tessera_client_certs_total for a handshake that just ended, on a
 * frontend with client_verify (nothing otherwise): completed, it is "ok" or
 * "none"; failed, "failed" when the certificate was the reason (it did not
 * verify, or client_verify = "required" and none came).  Call it before
 * anything clears the OpenSSL error queue.  The worker that owns the SSL.
 */
void tlsctx_count_client_cert(const SSL *ssl, struct stats *st, bool completed);

#endif
