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

struct tlsinfo {
    struct proxy_proto_tls tls;
    struct tlsctx_client_cert client; /* the client certificate: flags, verdict, CN */
    char key_alg[32]; /* the server certificate's key: "RSA2048", "EC256", "ED25519" */
};

/* Fill *out from the established `ssl`. */
void tlsinfo_describe(SSL *ssl, struct tlsinfo *out);

#endif
