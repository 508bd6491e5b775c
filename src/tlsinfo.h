/*
 * tlsinfo.h - what an established TLS connection negotiated, in the terms
 * of the PROXY protocol v2 TLVs (ALPN, AUTHORITY, SSL and its sub-TLVs), so
 * a backend learns it with the client's address.
 *
 * Runs on the connection's worker, once per backend connection, after the
 * handshake (for accepted early data: once the server's Finished is sent,
 * before the client's; conn.c's EARLY).  Reads the SSL only; the strings it
 * cannot borrow from OpenSSL are copied into the struct tlsinfo, which must
 * outlive the use of `tls`.
 */
#ifndef TESSERA_TLSINFO_H
#define TESSERA_TLSINFO_H

#include <openssl/ssl.h>

#include "proxy_proto.h"
#include "tlsctx.h"

/* A server certificate as the SSL TLV names it. */
struct tlsinfo_cert {
    const char *sig_alg; /* its signature algorithm, "ecdsa-with-SHA256" (OpenSSL's static name) */
    char key_alg[32];    /* its key: "RSA2048", "EC256", "ED25519" */
};

struct tlsinfo {
    struct proxy_proto_tls tls;
    struct tlsctx_client_cert client; /* the client certificate: flags, verdict, CN */
    struct tlsinfo_cert cert;         /* used only for a certificate tlsinfo_note_cert missed */
};

/* Main thread, while a frontend's contexts are built: describe the server
 * certificate `cert` once (its key and signature algorithms, as the v2
 * TLVs name them) and keep that with it, so that no connection has to.
 * 0, or -1 out of memory (the description is then made per connection). */
int tlsinfo_note_cert(X509 *cert);

/* Fill *out from the established `ssl`. */
void tlsinfo_describe(SSL *ssl, struct tlsinfo *out);

#endif
