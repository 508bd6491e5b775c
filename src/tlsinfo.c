/*
 * tlsinfo.c - the negotiated parameters of an established TLS connection,
 * as the PROXY protocol v2 TLVs carry them.
 *
 * The names follow what HAProxy sends and Varnish's vmod_proxy reads back:
 * the version as OpenSSL names it ("TLSv1.3"), the cipher's OpenSSL name,
 * the server certificate's signature algorithm by its short name
 * ("RSA-SHA256") and its key as algorithm and size ("RSA2048", "EC256").
 */
#include "tlsinfo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

static void
describe_key(X509 *cert, char *buf, size_t len)
{
    EVP_PKEY *key = cert != NULL ? X509_get0_pubkey(cert) : NULL;

    buf[0] = '\0';
    if (key == NULL) {
        return;
    }
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        snprintf(buf, len, "RSA%d", EVP_PKEY_get_bits(key));
        break;
    case EVP_PKEY_EC:
        snprintf(buf, len, "EC%d", EVP_PKEY_get_bits(key));
        break;
    case EVP_PKEY_ED25519:
        snprintf(buf, len, "ED25519");
        break;
    case EVP_PKEY_ED448:
        snprintf(buf, len, "ED448");
        break;
    default:
        snprintf(buf, len, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
        break;
    }
}

/* A server certificate's struct tlsinfo_cert is kept as its ex_data. */
static int cert_desc_index = -1;
static pthread_once_t cert_desc_once = PTHREAD_ONCE_INIT;

static void
cert_desc_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void
cert_desc_init(void)
{
    cert_desc_index = X509_get_ex_new_index(0, NULL, NULL, NULL, cert_desc_free);
}

static void
cert_desc_fill(X509 *cert, struct tlsinfo_cert *d)
{
    int sig = cert != NULL ? X509_get_signature_nid(cert) : NID_undef;

    d->sig_alg = sig != NID_undef ? OBJ_nid2sn(sig) : NULL;
    describe_key(cert, d->key_alg, sizeof(d->key_alg));
}

int
tlsinfo_note_cert(X509 *cert)
{
    struct tlsinfo_cert *d;

    pthread_once(&cert_desc_once, cert_desc_init);
    if (cert_desc_index < 0 || X509_get_ex_data(cert, cert_desc_index) != NULL) {
        return cert_desc_index < 0 ? -1 : 0;
    }
    if ((d = malloc(sizeof(*d))) == NULL) {
        return -1;
    }
    cert_desc_fill(cert, d);
    if (X509_set_ex_data(cert, cert_desc_index, d) != 1) {
        free(d);
        return -1;
    }
    return 0;
}

void
tlsinfo_describe(SSL *ssl, struct tlsinfo *out)
{
    struct proxy_proto_tls *t = &out->tls;
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    X509 *own = SSL_get_certificate(ssl);
    const struct tlsinfo_cert *desc;

    memset(t, 0, sizeof(*t));
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    t->alpn = alpn;
    t->alpn_len = alpn_len;
    t->authority = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    t->client = PROXY_PROTO_CLIENT_SSL;
    /* The session carries the certificate and its verdict (also when it was
     * resumed, here or through memcached); this connection sent one only in
     * a full handshake. */
    tlsctx_client_cert(ssl, &out->client);
    if (out->client.sess) {
        t->client |= PROXY_PROTO_CLIENT_CERT_SESS;
        t->verify = (uint32_t)out->client.verify;
        t->cn = out->client.cn[0] != '\0' ? out->client.cn : NULL;
    }
    if (out->client.conn) {
        t->client |= PROXY_PROTO_CLIENT_CERT_CONN;
    }
    t->version = SSL_get_version(ssl);
    t->cipher = SSL_get_cipher_name(ssl);
    /* Described when the contexts were built (tlsinfo_note_cert); a
     * certificate that could not be is described now, into *out. */
    desc = own != NULL && cert_desc_index >= 0 ? X509_get_ex_data(own, cert_desc_index) : NULL;
    if (desc == NULL) {
        cert_desc_fill(own, &out->cert);
        desc = &out->cert;
    }
    t->sig_alg = desc->sig_alg;
    /* Early data is accepted before the handshake completes: the header
     * then leaves ahead of the client's Finished (conn.c, EARLY). */
    t->early_data = SSL_get_early_data_status(ssl) == SSL_EARLY_DATA_ACCEPTED;
    t->key_alg = desc->key_alg[0] != '\0' ? desc->key_alg : NULL;
}
