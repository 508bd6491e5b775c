/*
 * tlsctx.c - SSL_CTX per frontend: versions, ciphers, groups, certificates,
 * SNI, ALPN, session-ID context and the cache/ticket callbacks.
 *
 * Main thread at start-up.  Certificates whose leaves carry the same names
 * (same subjectAltName, or same subject when there is none) share one
 * SSL_CTX, so an ECDSA and an RSA certificate for one site are both loaded
 * there and OpenSSL picks per client from its signature algorithms.
 */
#include "tlsctx.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "log.h"
#include "ocsp_store.h"
#include "sessions.h"
#include "tickets.h"

/* Which group a certificate belongs to. */
struct cert_info {
    X509 *leaf;
    int key_type;
    size_t group;
};

static int
on_servername(SSL *ssl, int *alert, void *arg)
{
    const struct tlsctx *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    int idx;

    (void)alert;
    if (name == NULL) {
        return SSL_TLSEXT_ERR_OK;
    }
    idx = certs_lookup(t->names, name);
    if (idx > 0 && (size_t)idx < t->nctxs && SSL_get_SSL_CTX(ssl) != t->ctxs[idx]) {
        SSL_set_SSL_CTX(ssl, t->ctxs[idx]);
    }
    return SSL_TLSEXT_ERR_OK;
}

static int
on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
        unsigned int inlen, void *arg)
{
    const struct tlsctx *t = arg;
    unsigned char *sel;

    (void)ssl;
    if (SSL_select_next_proto(&sel, outlen, t->alpn, (unsigned)t->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        /* No common protocol: carry on without ALPN, as hitch and HAProxy do. */
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int
load_leaf(const char *path, X509 **out)
{
    BIO *bio = BIO_new_file(path, "r");

    if (bio == NULL) {
        return -1;
    }
    *out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return *out != NULL ? 0 : -1;
}

/* True when a and b carry the same names (so they belong in one SSL_CTX). */
static int
same_names(X509 *a, X509 *b)
{
    int ia = X509_get_ext_by_NID(a, NID_subject_alt_name, -1);
    int ib = X509_get_ext_by_NID(b, NID_subject_alt_name, -1);

    if (ia < 0 || ib < 0) {
        return ia < 0 && ib < 0 &&
               X509_NAME_cmp(X509_get_subject_name(a), X509_get_subject_name(b)) == 0;
    }
    const ASN1_OCTET_STRING *da = X509_EXTENSION_get_data(X509_get_ext(a, ia));
    const ASN1_OCTET_STRING *db = X509_EXTENSION_get_data(X509_get_ext(b, ib));
    return ASN1_STRING_cmp(da, db) == 0;
}

/* Session-ID context: SHA-256 over the frontend name and its certificates'
 * DER, never the listen address, so instances on different addresses share
 * sessions while two frontends never do (CVE-2014-3616). */
static int
make_sid_ctx(struct tlsctx *t, const struct config_frontend *fe, struct cert_info *ci)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) > 0 &&
             EVP_DigestUpdate(md, "tessera-sid-v1", 15) > 0 &&
             EVP_DigestUpdate(md, fe->name, strlen(fe->name) + 1) > 0;

    for (size_t i = 0; ok && i < fe->ncerts; i++) {
        unsigned char fp[EVP_MAX_MD_SIZE];
        unsigned int fplen = 0;
        ok = X509_digest(ci[i].leaf, EVP_sha256(), fp, &fplen) > 0 &&
             EVP_DigestUpdate(md, fp, fplen) > 0;
    }
    ok = ok && EVP_DigestFinal_ex(md, digest, &dlen) > 0;
    EVP_MD_CTX_free(md);
    if (!ok) {
        return -1;
    }
    memcpy(t->sid_ctx, digest, sizeof(t->sid_ctx));
    return 0;
}

static int
alpn_build(struct tlsctx *t, const struct config_frontend *fe)
{
    size_t len = 0;

    for (size_t i = 0; i < fe->nalpn; i++) {
        len += 1 + strlen(fe->alpn[i]);
    }
    if (len == 0) {
        return 0;
    }
    t->alpn = malloc(len);
    if (t->alpn == NULL) {
        return -1;
    }
    for (size_t i = 0; i < fe->nalpn; i++) {
        size_t n = strlen(fe->alpn[i]);
        t->alpn[t->alpn_len++] = (unsigned char)n;
        memcpy(t->alpn + t->alpn_len, fe->alpn[i], n);
        t->alpn_len += n;
    }
    return 0;
}

static SSL_CTX *
ctx_new(const struct config *cfg, struct tlsctx *t, struct err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        err_set(err, "%s: cannot create a TLS context", cfg->path);
        return NULL;
    }
    /* The values were checked by config_load; a failure here is unexpected. */
    if (SSL_CTX_set_min_proto_version(ctx, cfg->tls.min_version) != 1 ||
        SSL_CTX_set_cipher_list(ctx, cfg->tls.ciphers) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, cfg->tls.ciphersuites) != 1 ||
        SSL_CTX_set1_groups_list(ctx, cfg->tls.groups) != 1) {
        err_set(err, "%s: tls settings rejected by OpenSSL", cfg->path);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                                 SSL_OP_NO_TLSv1_1);
    if (!cfg->sessions.tickets) {
        /* TLS 1.2: session IDs only; TLS 1.3: stateful tickets (session IDs). */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_timeout(ctx, (long)cfg->sessions.lifetime);
    SSL_CTX_set_session_id_context(ctx, t->sid_ctx, sizeof(t->sid_ctx));
    sessions_setup_ctx(ctx, cfg);
    tickets_setup_ctx(ctx);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    if (t->alpn_len > 0) {
        SSL_CTX_set_alpn_select_cb(ctx, on_alpn, t);
    }
    return ctx;
}

static int
ctx_use_cert(SSL_CTX *ctx, const struct config_cert *cc, const char *cfgpath, struct err *err)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cc->cert) != 1) {
        err_set(err, "%s:%d: cannot load certificate chain %s", cfgpath, cc->line, cc->cert);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cc->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        err_set(err, "%s:%d: cannot use private key %s", cfgpath, cc->line, cc->key);
        return -1;
    }
    return 0;
}

struct tlsctx *
tlsctx_new(const struct config *cfg, const struct config_frontend *fe, struct ocsp_store *ocsp,
           struct err *err)
{
    struct tlsctx *t = calloc(1, sizeof(*t));
    struct cert_info *ci = calloc(fe->ncerts ? fe->ncerts : 1, sizeof(*ci));
    size_t ngroups = 0;

    if (t == NULL || ci == NULL) {
        err_set(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < fe->ncerts; i++) {
        if (load_leaf(fe->certs[i].cert, &ci[i].leaf) < 0) {
            err_set(err, "%s:%d: cannot read certificate %s", cfg->path, fe->certs[i].line,
                    fe->certs[i].cert);
            goto fail;
        }
        ci[i].key_type = EVP_PKEY_get_base_id(X509_get0_pubkey(ci[i].leaf));
        ci[i].group = ngroups;
        for (size_t j = 0; j < i; j++) {
            if (same_names(ci[i].leaf, ci[j].leaf) && ci[i].key_type != ci[j].key_type) {
                bool taken = false;
                for (size_t k = 0; k < i; k++) {
                    taken |= ci[k].group == ci[j].group && ci[k].key_type == ci[i].key_type;
                }
                if (!taken) {
                    ci[i].group = ci[j].group;
                    break;
                }
            }
        }
        if (ci[i].group == ngroups) {
            ngroups++;
        }
    }
    if (make_sid_ctx(t, fe, ci) < 0 || alpn_build(t, fe) < 0) {
        err_set(err, "%s: cannot derive the session context", cfg->path);
        goto fail;
    }
    t->names = certs_new();
    t->ctxs = calloc(ngroups, sizeof(*t->ctxs));
    t->ocsp = ocsp_binding_new(ocsp);
    if (t->names == NULL || t->ctxs == NULL || t->ocsp == NULL) {
        err_set(err, "out of memory");
        goto fail;
    }
    for (size_t g = 0; g < ngroups; g++) {
        t->ctxs[g] = ctx_new(cfg, t, err);
        if (t->ctxs[g] == NULL) {
            goto fail;
        }
        t->nctxs++;
    }
    for (size_t i = 0; i < fe->ncerts; i++) {
        if (ctx_use_cert(t->ctxs[ci[i].group], &fe->certs[i], cfg->path, err) < 0 ||
            ocsp_binding_add(t->ocsp, t->ctxs[ci[i].group], cfg, &fe->certs[i], err) < 0) {
            goto fail;
        }
        certs_add_x509(t->names, ci[i].leaf, (int)ci[i].group);
    }
    for (size_t i = 0; i < fe->ncerts; i++) {
        X509_free(ci[i].leaf);
    }
    free(ci);
    ERR_clear_error();
    return t;
fail:
    if (ci != NULL) {
        for (size_t i = 0; i < fe->ncerts; i++) {
            X509_free(ci[i].leaf);
        }
    }
    free(ci);
    tlsctx_free(t);
    ERR_clear_error();
    return NULL;
}

void
tlsctx_free(struct tlsctx *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nctxs; i++) {
        SSL_CTX_free(t->ctxs[i]);
    }
    free(t->ctxs);
    ocsp_binding_free(t->ocsp); /* after the contexts: their status callback uses it */
    certs_free(t->names);
    free(t->alpn);
    free(t);
}

SSL *
tlsctx_new_ssl(const struct tlsctx *t)
{
    return SSL_new(t->ctxs[0]);
}
