/*
 * tlsctx.c - SSL_CTX per frontend: versions, ciphers, groups, certificates,
 * SNI, ALPN, session-ID context, the cache/ticket callbacks and the
 * verification of client certificates.
 *
 * Main thread at start-up.  Certificates whose leaves carry the same names
 * (same subjectAltName, or same subject when there is none) share one
 * SSL_CTX, so an ECDSA and an RSA certificate for one site are both loaded
 * there and OpenSSL picks per client from its signature algorithms.
 *
 * Client certificates (client_verify "optional" or "required"): every
 * SSL_CTX of the frontend gets the same verify mode, the same CA names for
 * the CertificateRequest and one shared X509_STORE (client_ca, and
 * client_crl with X509_V_FLAG_CRL_CHECK), so the SNI switch
 * (SSL_set_SSL_CTX) changes nothing about them.  "optional" is HAProxy's
 * `verify optional`: SSL_VERIFY_PEER alone, so a client without a
 * certificate is served and a certificate that does not verify fails the
 * handshake (OpenSSL's default verify callback).  Workers verify
 * concurrently through the shared store, which takes its own lock for each
 * issuer lookup: a cost of full handshakes with a certificate only.
 */
#include "tlsctx.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "earlydata.h"
#include "log.h"
#include "ocsp_store.h"
#include "sessions.h"
#include "stats.h"
#include "tickets.h"
#include "tlsinfo.h"

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

/*
 * Session-ID context: SHA-256 over the frontend name and its certificates'
 * DER, never the listen address, so instances on different addresses share
 * sessions while two frontends never do (CVE-2014-3616).  With client
 * certificates, also the verify mode and `client` (the digest of the CA
 * certificates and CRLs, client_store_load): a session made without client
 * certificates, under another CA or before a CRL changed never resumes here
 * (OpenSSL treats a session whose context differs as a miss, for session
 * IDs, stateful tickets, memcached entries and stateless tickets alike).  A
 * frontend without client certificates keeps the context it always had.
 */
static int
make_sid_ctx(struct tlsctx *t, const struct config_frontend *fe, struct cert_info *ci,
             const unsigned char *client, size_t client_len)
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
    if (ok && fe->client_verify != CONFIG_CLIENT_VERIFY_NONE) {
        unsigned char mode = (unsigned char)fe->client_verify;

        ok = EVP_DigestUpdate(md, "client-verify", 14) > 0 && EVP_DigestUpdate(md, &mode, 1) > 0 &&
             EVP_DigestUpdate(md, client, client_len) > 0;
    }
    ok = ok && EVP_DigestFinal_ex(md, digest, &dlen) > 0;
    EVP_MD_CTX_free(md);
    if (!ok) {
        return -1;
    }
    memcpy(t->sid_ctx, digest, sizeof(t->sid_ctx));
    return 0;
}

/*
 * The verification store of a frontend with client certificates: every
 * certificate of client_ca and every CRL of client_crl (config.c checked
 * that they parse).  `digest` gets SHA-256 over their SHA-256 fingerprints,
 * in file order, for the session-ID context.  0, or -1 with err set.
 */
static int
client_store_load(struct tlsctx *t, const struct config *cfg, const struct config_frontend *fe,
                  unsigned char digest[EVP_MAX_MD_SIZE], unsigned int *dlen, struct err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char fp[EVP_MAX_MD_SIZE];
    unsigned int fplen = 0;
    BIO *bio = NULL;
    X509 *x509;
    X509_CRL *crl;
    int n = 0;

    t->client_store = X509_STORE_new();
    if (md == NULL || t->client_store == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) <= 0) {
        err_set(err, "out of memory");
        goto fail;
    }
    bio = BIO_new_file(fe->client_ca, "r");
    while (bio != NULL && (x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int ok = X509_digest(x509, EVP_sha256(), fp, &fplen) > 0 &&
                 EVP_DigestUpdate(md, fp, fplen) > 0 && X509_STORE_add_cert(t->client_store, x509);

        X509_free(x509);
        if (!ok) {
            n = 0; /* all or nothing */
            break;
        }
        n++;
    }
    BIO_free(bio);
    bio = NULL;
    if (n == 0) {
        err_set(err, "%s:%d: cannot read the client CA certificates in %s", cfg->path,
                fe->client_ca_line, fe->client_ca);
        goto fail;
    }
    if (fe->client_crl != NULL) {
        n = 0;
        bio = BIO_new_file(fe->client_crl, "r");
        while (bio != NULL && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
            int ok = X509_CRL_digest(crl, EVP_sha256(), fp, &fplen) > 0 &&
                     EVP_DigestUpdate(md, fp, fplen) > 0 &&
                     X509_STORE_add_crl(t->client_store, crl);

            X509_CRL_free(crl);
            if (!ok) {
                n = 0;
                break;
            }
            n++;
        }
        if (n == 0) {
            err_set(err, "%s:%d: cannot read the CRLs in %s", cfg->path, fe->client_crl_line,
                    fe->client_crl);
            goto fail;
        }
        /* The leaf's issuer must have a CRL in the store, or the leaf is
         * refused (X509_V_ERR_UNABLE_TO_GET_CRL): fail closed. */
        X509_STORE_set_flags(t->client_store, X509_V_FLAG_CRL_CHECK);
    }
    if (EVP_DigestFinal_ex(md, digest, dlen) <= 0) {
        err_set(err, "%s: cannot digest the client CA file", cfg->path);
        goto fail;
    }
    BIO_free(bio);
    EVP_MD_CTX_free(md);
    return 0;
fail:
    BIO_free(bio);
    EVP_MD_CTX_free(md);
    return -1;
}

/* One SSL_CTX of a frontend with client certificates: mode, CA names, store. */
static int
ctx_verify_clients(SSL_CTX *ctx, const struct tlsctx *t, const struct config_frontend *fe,
                   const char *cfgpath, struct err *err)
{
    STACK_OF(X509_NAME) *names;
    int mode = SSL_VERIFY_PEER;

    if (fe->client_verify == CONFIG_CLIENT_VERIFY_NONE) {
        return 0;
    }
    if (fe->client_verify == CONFIG_CLIENT_VERIFY_REQUIRED) {
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    /* The CertificateRequest lists these names (certificate_authorities in
     * TLS 1.3), so a client with several certificates picks the right one. */
    names = SSL_load_client_CA_file(fe->client_ca);
    if (names == NULL || SSL_CTX_set1_verify_cert_store(ctx, t->client_store) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        err_set(err, "%s:%d: cannot use the client CA file %s", cfgpath, fe->client_ca_line,
                fe->client_ca);
        return -1;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, mode, NULL);
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
ctx_new(const struct config *cfg, const struct config_frontend *fe, struct tlsctx *t,
        struct err *err)
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
    SSL_CTX_set_timeout(ctx, (long)cfg->sessions.lifetime);
    SSL_CTX_set_session_id_context(ctx, t->sid_ctx, sizeof(t->sid_ctx));
    sessions_setup_ctx(ctx, cfg);
    earlydata_setup_ctx(ctx, cfg, fe);
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
    /* Described once here rather than in every PROXY v2 header; should
     * it fail, tlsinfo_describe describes it per connection. */
    (void)tlsinfo_note_cert(SSL_CTX_get0_certificate(ctx));
    return 0;
}

struct tlsctx *
tlsctx_new(const struct config *cfg, const struct config_frontend *fe, struct ocsp_store *ocsp,
           struct err *err)
{
    struct tlsctx *t = calloc(1, sizeof(*t));
    struct cert_info *ci = calloc(fe->ncerts ? fe->ncerts : 1, sizeof(*ci));
    unsigned char client[EVP_MAX_MD_SIZE];
    unsigned int client_len = 0;
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
    if (fe->client_verify != CONFIG_CLIENT_VERIFY_NONE &&
        client_store_load(t, cfg, fe, client, &client_len, err) < 0) {
        goto fail;
    }
    if (make_sid_ctx(t, fe, ci, client, client_len) < 0 || alpn_build(t, fe) < 0) {
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
        t->ctxs[g] = ctx_new(cfg, fe, t, err);
        if (t->ctxs[g] == NULL) {
            goto fail;
        }
        t->nctxs++;
        if (ctx_verify_clients(t->ctxs[g], t, fe, cfg->path, err) < 0) {
            goto fail;
        }
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
    X509_STORE_free(t->client_store);
    free(t);
}

SSL *
tlsctx_new_ssl(const struct tlsctx *t)
{
    return SSL_new(t->ctxs[0]);
}

void
tlsctx_client_cert(const SSL *ssl, struct tlsctx_client_cert *out)
{
    X509 *peer = SSL_get0_peer_certificate(ssl); /* the session's: kept on resumption */
    const X509_NAME *subject;
    const ASN1_STRING *data;
    unsigned char *utf8 = NULL;
    int idx;
    int len;

    memset(out, 0, sizeof(*out));
    out->verify = SSL_get_verify_result(ssl);
    if (peer == NULL) {
        return;
    }
    out->sess = true;
    out->conn = !SSL_session_reused(ssl);
    subject = X509_get_subject_name(peer);
    idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx < 0) {
        return;
    }
    data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    len = ASN1_STRING_to_UTF8(&utf8, data);
    /* A CN with a NUL in it, or longer than the standard allows, is not
     * passed on at all: a backend that trusts it must not see a prefix. */
    if (len > 0 && (size_t)len < sizeof(out->cn) && memchr(utf8, '\0', (size_t)len) == NULL) {
        memcpy(out->cn, utf8, (size_t)len);
        out->cn[len] = '\0';
    }
    OPENSSL_free(utf8);
}

void
tlsctx_count_client_cert(const SSL *ssl, struct stats *st, bool completed)
{
    if (!(SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER)) {
        return; /* client_verify = "none" */
    }
    if (!completed) {
        unsigned long e = ERR_peek_last_error();
        bool missing = ERR_GET_LIB(e) == ERR_LIB_SSL &&
                       ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE;

        if (missing || SSL_get_verify_result(ssl) != X509_V_OK) {
            stats_add(st, STAT_CLIENT_CERTS_FAILED, 1);
        }
        return;
    }
    if (log_enabled(LOG_LVL_DEBUG)) {
        struct tlsctx_client_cert cc;

        tlsctx_client_cert(ssl, &cc);
        log_debug_limited("client certificate: %s, verify %ld, CN \"%s\"",
                          cc.conn   ? "sent on this connection"
                          : cc.sess ? "from the session resumed"
                                    : "none",
                          cc.verify, cc.cn);
    }
    if (SSL_get0_peer_certificate(ssl) == NULL) {
        stats_add(st, STAT_CLIENT_CERTS_NONE, 1);
    } else if (SSL_get_verify_result(ssl) == X509_V_OK) {
        stats_add(st, STAT_CLIENT_CERTS_OK, 1);
    } else {
        /* Not expected: OpenSSL's verify callback fails the handshake of a
         * certificate that does not verify.  Never counted "ok". */
        stats_add(st, STAT_CLIENT_CERTS_FAILED, 1);
    }
}
