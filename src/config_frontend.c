/*
 * config_frontend.c - the `frontends` list of the configuration: listen and
 * backend addresses, certificates (and their OCSP responses), ALPN, the
 * PROXY protocol both ways, client certificates.
 *
 * Main thread, while a configuration loads (config.c calls it).  It reads
 * certificate, key, CA, CRL and OCSP files to check them, so it must never
 * run on a worker.  Errors name FILE:LINE as everywhere in the loader.
 */
#include "config_frontend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "addr.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "config_files.h"
#include "config_section.h"
#include "ocsp.h"

#define CONFIG_MAX_FRONTENDS 64
#define CONFIG_MAX_NAME      64
#define CONFIG_MAX_ALPN      16
#define CONFIG_MAX_ALPN_LEN  255

static const char *const config_frontend_keys[] = {
    "name",         "listen",     "backend",       "certs",     "alpn",       "proxy_protocol",
    "accept_proxy", "proxy_from", "client_verify", "client_ca", "client_crl", "backend_idempotent",
    NULL,
};
static const char *const config_cert_keys[] = {"cert", "key", "ocsp", NULL};

static const struct config_section_choice config_client_verify[] = {
    {"none", CONFIG_CLIENT_VERIFY_NONE},
    {"optional", CONFIG_CLIENT_VERIFY_OPTIONAL},
    {"required", CONFIG_CLIENT_VERIFY_REQUIRED},
    {NULL, 0},
};

/* Never prompt for a pass phrase: an encrypted key is a configuration error. */
static int
load_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Every certificate in the PEM file `path`: the leaf, and the rest in *chain. */
static X509 *
load_cert_chain(const char *path, STACK_OF(X509) **chain)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *leaf = NULL;
    X509 *c;

    *chain = sk_X509_new_null();
    if (bio == NULL || *chain == NULL) {
        goto out;
    }
    leaf = PEM_read_bio_X509(bio, NULL, load_no_passphrase, NULL);
    while (leaf != NULL && (c = PEM_read_bio_X509(bio, NULL, load_no_passphrase, NULL)) != NULL) {
        if (sk_X509_push(*chain, c) <= 0) {
            X509_free(c);
            break;
        }
    }
out:
    ERR_clear_error();
    BIO_free(bio);
    return leaf;
}

/*
 * A certificate's `ocsp`: "auto" needs `ocsp.cache` and a responder URL in
 * the certificate's authorityInfoAccess; a FILE must hold a DER response
 * that belongs to the certificate (a "good" status for its CertID, signed
 * by its issuer or a responder the issuer delegated to).  Both need the
 * issuer after the leaf in the cert file.  An expired FILE is no error here
 * (files age; start-up and reload log it and staple nothing).
 */
static int
load_cert_ocsp(struct config_section *sec, struct config_cert *out)
{
    struct config_loader *ld = sec->ld;
    char label[CONFIG_SECTION_LABEL_MAX];
    STACK_OF(X509) *chain = NULL;
    config_setting_t *s;
    const char *text;
    unsigned char *der = NULL;
    size_t len = 0;
    X509 *leaf = NULL;
    X509 *issuer;
    char *url = NULL;
    struct ocsp_times times;
    int rc = -1;

    if (config_section_peek_string(sec, "ocsp", NULL, &text, &s) < 0) {
        return -1;
    }
    if (text == NULL) {
        return 0;
    }
    config_section_label(sec, "ocsp", label, sizeof(label));
    if (text[0] == '\0') {
        return config_section_fail(ld, s, "'%s' must not be empty", label);
    }
    leaf = load_cert_chain(out->cert, &chain);
    issuer = leaf != NULL ? ocsp_find_issuer(leaf, chain) : NULL;
    if (issuer == NULL) {
        config_section_fail(ld, s,
                            "'%s' needs the issuer's certificate after the leaf in '%s' "
                            "(a response is checked against it)",
                            label, out->cert);
        goto out;
    }
    if (strcmp(text, "auto") == 0) {
        out->ocsp_auto = true;
        if (ld->cfg->ocsp.cache == NULL) {
            config_section_fail(ld, s,
                                "'%s' = \"auto\" needs 'ocsp.cache' (a folder for the fetched "
                                "responses)",
                                label);
            goto out;
        }
        url = ocsp_responder_url(leaf);
        if (url == NULL) {
            config_section_fail(ld, s,
                                "'%s' = \"auto\": '%s' names no http(s) OCSP responder in its "
                                "authorityInfoAccess",
                                label, out->cert);
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (config_section_resolve_path(ld, s, text, &out->ocsp_file) < 0 ||
        config_files_readable(ld, s, "OCSP response file", out->ocsp_file) < 0) {
        goto out;
    }
    int err = ocsp_read_file(out->ocsp_file, &der, &len);
    if (err < 0) {
        config_section_fail(ld, s, "'%s': cannot read '%s': %s", label, out->ocsp_file,
                            err == -EFBIG ? "larger than an OCSP response can be" : strerror(-err));
        goto out;
    }
    switch (ocsp_check(der, len, leaf, issuer, clock_wall_s(), &times)) {
    case OCSP_RESP_OK:
    case OCSP_RESP_EXPIRED:
        rc = 0;
        break;
    case OCSP_RESP_MALFORMED:
        config_section_fail(ld, s, "'%s': '%s' is not a successful DER OCSP response", label,
                            out->ocsp_file);
        break;
    case OCSP_RESP_UNVERIFIED:
        config_section_fail(ld, s, "'%s': '%s' is not signed by the issuer of '%s'", label,
                            out->ocsp_file, out->cert);
        break;
    case OCSP_RESP_MISMATCH:
        config_section_fail(ld, s, "'%s': '%s' has no status for '%s' (another certificate's?)",
                            label, out->ocsp_file, out->cert);
        break;
    case OCSP_RESP_REVOKED:
        config_section_fail(ld, s, "'%s': '%s' says '%s' is revoked (or unknown to the responder)",
                            label, out->ocsp_file, out->cert);
        break;
    case OCSP_RESP__COUNT:
        CHECK(!"not a verdict");
    }
out:
    free(url);
    free(der);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/*
 * Open `path` (already checked readable) as a BIO.  Returns NULL with the
 * error recorded against `s`.
 */
static BIO *
load_open_pem(struct config_loader *ld, const config_setting_t *s, const char *path)
{
    BIO *bio;

    ERR_clear_error();
    bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        config_section_fail(ld, s, "cannot open '%s'", path);
    }
    return bio;
}

/*
 * One `{ cert = ...; key = ...; }` group: resolve both paths, check that the
 * certificate parses, the key parses and that they belong together.
 */
static int
load_cert(struct config_section *sec, struct config_cert *out)
{
    struct config_loader *ld = sec->ld;
    config_setting_t *cert_s;
    config_setting_t *key_s;
    const char *cert_text;
    const char *key_text;
    X509 *x509 = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    char label[CONFIG_SECTION_LABEL_MAX];
    int rc = -1;

    if (config_section_check_keys(sec, config_cert_keys) < 0 ||
        config_section_require_string(sec, "cert", &cert_text, &cert_s) < 0 ||
        config_section_peek_string(sec, "key", NULL, &key_text, &key_s) < 0) {
        return -1;
    }
    out->line = (int)config_setting_source_line(cert_s);
    if (cert_text[0] == '\0') {
        config_section_label(sec, "cert", label, sizeof(label));
        return config_section_fail(ld, cert_s, "'%s' must not be empty", label);
    }
    if (key_text != NULL && key_text[0] == '\0') {
        config_section_label(sec, "key", label, sizeof(label));
        return config_section_fail(ld, key_s, "'%s' must not be empty", label);
    }
    if (key_s == NULL) {
        /* The key lives in the certificate's file; errors point at `cert`. */
        key_s = cert_s;
        key_text = cert_text;
    }
    if (config_section_resolve_path(ld, cert_s, cert_text, &out->cert) < 0 ||
        config_section_resolve_path(ld, key_s, key_text, &out->key) < 0 ||
        config_files_readable(ld, cert_s, "certificate file", out->cert) < 0 ||
        config_files_readable(ld, key_s, "key file", out->key) < 0) {
        return -1;
    }

    bio = load_open_pem(ld, cert_s, out->cert);
    if (bio == NULL) {
        goto fail;
    }
    x509 = PEM_read_bio_X509(bio, NULL, load_no_passphrase, NULL);
    if (x509 == NULL) {
        config_section_fail(ld, cert_s, "'%s' contains no PEM certificate", out->cert);
        goto fail;
    }
    BIO_free(bio);

    bio = load_open_pem(ld, key_s, out->key);
    if (bio == NULL) {
        goto fail;
    }
    ERR_clear_error();
    pkey = PEM_read_bio_PrivateKey(bio, NULL, load_no_passphrase, NULL);
    if (pkey == NULL) {
        config_section_fail(ld, key_s, "'%s' contains no PEM private key (or it is encrypted)",
                            out->key);
        goto fail;
    }
    ERR_clear_error();
    if (X509_check_private_key(x509, pkey) != 1) {
        config_section_fail(ld, key_s, "certificate does not match key (cert '%s', key '%s')",
                            out->cert, out->key);
        goto fail;
    }
    rc = 0;
fail:
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    X509_free(x509);
    BIO_free(bio);
    return rc;
}

static int
load_certs(struct config_section *fe_sec, struct config_frontend *fe)
{
    struct config_loader *ld = fe_sec->ld;
    config_setting_t *s = config_section_member(fe_sec, "certs");
    char label[CONFIG_SECTION_LABEL_MAX];
    int n;

    config_section_label(fe_sec, "certs", label, sizeof(label));
    if (s == NULL) {
        return config_section_fail(ld, config_section_anchor(fe_sec), "'%s' is required", label);
    }
    n = config_section_group_list(ld, s, label);
    if (n < 0) {
        return -1;
    }
    if (n == 0) {
        return config_section_fail(ld, s, "'%s' must not be empty", label);
    }
    fe->certs = calloc((size_t)n, sizeof(*fe->certs));
    if (fe->certs == NULL) {
        return config_section_fail(ld, s, "out of memory");
    }
    fe->ncerts = (size_t)n;
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_section_group_elem(s, i);
        char cert_label[CONFIG_SECTION_LABEL_MAX];
        struct config_section sec = {ld, e, cert_label};

        config_section_set_label(cert_label, sizeof(cert_label), "%s[%d]", label, i);
        if (!config_setting_is_group(e)) {
            return config_section_fail(
                ld, e, "'%s' must be a group: { cert = \"...\"; key = \"...\"; }", cert_label);
        }
        if (load_cert(&sec, &fe->certs[i]) < 0 || load_cert_ocsp(&sec, &fe->certs[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

static bool
load_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > CONFIG_MAX_NAME) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

static int
load_alpn(const struct config_section *sec, struct config_frontend *fe)
{
    char label[CONFIG_SECTION_LABEL_MAX];
    config_setting_t *s;

    if (config_section_get_strings(sec, "alpn", &fe->alpn, &fe->nalpn, &s) < 0) {
        return -1;
    }
    config_section_label(sec, "alpn", label, sizeof(label));
    if (fe->nalpn > CONFIG_MAX_ALPN) {
        return config_section_fail(sec->ld, s, "'%s' has %zu entries (at most %d)", label,
                                   fe->nalpn, CONFIG_MAX_ALPN);
    }
    for (size_t i = 0; i < fe->nalpn; i++) {
        size_t len = strlen(fe->alpn[i]);

        /* RFC 7301 section 3.1: a protocol name is 1 to 255 bytes. */
        if (len == 0 || len > CONFIG_MAX_ALPN_LEN) {
            return config_section_fail(sec->ld, config_setting_get_elem(s, (unsigned)i),
                                       "'%s' entries must be 1 to %d bytes long", label,
                                       CONFIG_MAX_ALPN_LEN);
        }
    }
    return 0;
}

/* ---- frontends: client certificates ------------------------------------------------------ */

/*
 * Every certificate in the PEM file `path` (at least one), as a new stack
 * the caller frees with sk_X509_pop_free.  Other PEM blocks are skipped.
 */
static STACK_OF(X509) *
load_ca_certs(struct config_loader *ld, const config_setting_t *s, const char *label,
              const char *path)
{
    STACK_OF(X509) *cas = sk_X509_new_null();
    BIO *bio = load_open_pem(ld, s, path);
    X509 *x509;

    if (cas == NULL || bio == NULL) {
        if (cas == NULL) {
            config_section_fail(ld, s, "out of memory");
        }
        goto fail;
    }
    while ((x509 = PEM_read_bio_X509(bio, NULL, load_no_passphrase, NULL)) != NULL) {
        if (sk_X509_push(cas, x509) <= 0) {
            X509_free(x509);
            config_section_fail(ld, s, "out of memory");
            goto fail;
        }
    }
    ERR_clear_error(); /* the end of the file */
    if (sk_X509_num(cas) == 0) {
        config_section_fail(ld, s, "'%s': '%s' contains no PEM certificate", label, path);
        goto fail;
    }
    BIO_free(bio);
    return cas;
fail:
    BIO_free(bio);
    sk_X509_pop_free(cas, X509_free);
    return NULL;
}

/*
 * The CRL file: at least one PEM CRL, each signed by a certificate of the
 * CA file (a CRL from any other issuer could never apply, so it is a
 * mistake worth a line).
 */
static int
load_check_crls(struct config_loader *ld, const config_setting_t *s, const char *label,
                const char *path, STACK_OF(X509) *cas)
{
    BIO *bio = load_open_pem(ld, s, path);
    X509_CRL *crl = NULL;
    int n = 0;
    int rc = -1;

    if (bio == NULL) {
        return -1;
    }
    while ((crl = PEM_read_bio_X509_CRL(bio, NULL, load_no_passphrase, NULL)) != NULL) {
        bool signed_by_ca = false;
        char issuer[256];

        for (int i = 0; i < sk_X509_num(cas) && !signed_by_ca; i++) {
            X509 *ca = sk_X509_value(cas, i);

            signed_by_ca =
                X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
                X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
        }
        if (!signed_by_ca) {
            X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
            config_section_fail(ld, s,
                                "'%s': a CRL in '%s' (issuer %s) is not signed by a certificate "
                                "of client_ca",
                                label, path, issuer);
            goto fail;
        }
        X509_CRL_free(crl);
        crl = NULL;
        n++;
    }
    if (n == 0) {
        config_section_fail(ld, s, "'%s': '%s' contains no PEM CRL", label, path);
        goto fail;
    }
    rc = 0;
fail:
    ERR_clear_error();
    X509_CRL_free(crl);
    BIO_free(bio);
    return rc;
}

/*
 * client_verify, client_ca, client_crl.  "" means unset for either file (the
 * design's example writes client_ca = "").  A CA file without verification,
 * or a CRL without a CA file, is refused rather than ignored: either says
 * that the operator believes clients are checked when they are not.
 */
static int
load_client_certs(const struct config_section *sec, struct config_frontend *fe)
{
    struct config_loader *ld = sec->ld;
    config_setting_t *ca_s;
    config_setting_t *crl_s;
    const char *ca;
    const char *crl;
    char label[CONFIG_SECTION_LABEL_MAX];
    char crl_label[CONFIG_SECTION_LABEL_MAX];
    STACK_OF(X509) *cas = NULL;
    int verify;
    int rc = -1;

    if (config_section_get_choice(sec, "client_verify", config_client_verify,
                                  CONFIG_CLIENT_VERIFY_NONE, &verify) < 0 ||
        config_section_peek_string(sec, "client_ca", "", &ca, &ca_s) < 0 ||
        config_section_peek_string(sec, "client_crl", "", &crl, &crl_s) < 0) {
        return -1;
    }
    fe->client_verify = (enum config_client_verify)verify;
    config_section_label(sec, "client_ca", label, sizeof(label));
    config_section_label(sec, "client_crl", crl_label, sizeof(crl_label));
    if (fe->client_verify == CONFIG_CLIENT_VERIFY_NONE) {
        if (ca[0] != '\0') {
            return config_section_fail(ld, ca_s,
                                       "'%s' needs client_verify = \"optional\" or "
                                       "\"required\"",
                                       label);
        }
    } else if (ca[0] == '\0') {
        return config_section_fail(ld,
                                   ca_s != NULL ? ca_s : config_section_where(sec, "client_verify"),
                                   "'%s' is required when client_verify is not \"none\"", label);
    }
    if (crl[0] != '\0' && ca[0] == '\0') {
        return config_section_fail(ld, crl_s, "'%s' needs client_ca", crl_label);
    }
    if (ca[0] == '\0') {
        return 0;
    }

    fe->client_ca_line = (int)config_setting_source_line(ca_s);
    if (config_section_resolve_path(ld, ca_s, ca, &fe->client_ca) < 0 ||
        config_files_readable(ld, ca_s, "client CA file", fe->client_ca) < 0) {
        return -1;
    }
    cas = load_ca_certs(ld, ca_s, label, fe->client_ca);
    if (cas == NULL) {
        return -1;
    }
    if (crl[0] != '\0') {
        fe->client_crl_line = (int)config_setting_source_line(crl_s);
        if (config_section_resolve_path(ld, crl_s, crl, &fe->client_crl) < 0 ||
            config_files_readable(ld, crl_s, "client CRL file", fe->client_crl) < 0 ||
            load_check_crls(ld, crl_s, crl_label, fe->client_crl, cas) < 0) {
            goto fail;
        }
    }
    rc = 0;
fail:
    sk_X509_pop_free(cas, X509_free);
    return rc;
}

static const struct config_section_choice config_proxy_versions[] = {
    {"off", CONFIG_PROXY_OFF},
    {"v1", CONFIG_PROXY_V1},
    {"v2", CONFIG_PROXY_V2},
    {NULL, 0},
};

/* The PROXY protocol both ways: to the backend, and from a balancer in front. */
static int
load_proxy(const struct config_section *sec, struct config_frontend *fe)
{
    char label[CONFIG_SECTION_LABEL_MAX];
    config_setting_t *from_s;

    if (config_section_get_choice(sec, "proxy_protocol", config_proxy_versions, CONFIG_PROXY_OFF,
                                  &fe->proxy_protocol) < 0 ||
        config_section_get_bool(sec, "accept_proxy", false, &fe->accept_proxy) < 0 ||
        config_section_get_bool(sec, "backend_idempotent", false, &fe->backend_idempotent) < 0 ||
        config_section_get_cidrs(sec, "proxy_from", &fe->proxy_from, &fe->nproxy_from, &from_s) <
            0) {
        return -1;
    }
    /* A header is believed only from the balancers named: without them any
     * client could claim any address. */
    if (fe->accept_proxy && fe->nproxy_from == 0) {
        config_section_label(sec, "proxy_from", label, sizeof(label));
        return config_section_fail(sec->ld, config_section_where(sec, "accept_proxy"),
                                   "'%s' is required with accept_proxy = true: the balancers' "
                                   "addresses (CIDRs)",
                                   label);
    }
    return 0;
}

/* frontends[i]; the ones before it are loaded already (for uniqueness). */
static int
load_frontend(struct config_loader *ld, config_setting_t *group, size_t i)
{
    struct config *cfg = ld->cfg;
    struct config_frontend *fe = &cfg->frontends[i];
    char name_label[CONFIG_SECTION_LABEL_MAX];
    char fe_label[CONFIG_SECTION_LABEL_MAX];
    struct config_section sec = {ld, group, fe_label};
    config_setting_t *name_s;
    const char *name;

    config_section_set_label(fe_label, sizeof(fe_label), "frontends[%zu]", i);
    config_section_label(&sec, "name", name_label, sizeof(name_label));
    if (!config_setting_is_group(group)) {
        return config_section_fail(ld, group, "'%s' must be a group: { listen = ...; ... }",
                                   fe_label);
    }
    fe->line = (int)config_setting_source_line(group);
    if (config_section_check_keys(&sec, config_frontend_keys) < 0 ||
        config_section_peek_string(&sec, "name", NULL, &name, &name_s) < 0) {
        return -1;
    }
    if (name == NULL) {
        if (cfg->nfrontends > 1) {
            return config_section_fail(
                ld, group, "'%s' is required when there are several frontends", name_label);
        }
        name = "default";
    } else if (!load_name_ok(name)) {
        return config_section_fail(
            ld, name_s, "'%s' = \"%s\" must be 1 to %d characters from A-Z a-z 0-9 _ . -",
            name_label, name, CONFIG_MAX_NAME);
    }
    for (size_t j = 0; j < i; j++) {
        if (strcmp(cfg->frontends[j].name, name) == 0) {
            return config_section_fail(ld, name_s,
                                       "frontend name \"%s\" is already used on line %d", name,
                                       cfg->frontends[j].line);
        }
    }
    if (config_section_strdup(ld, name_s, name, &fe->name) < 0 ||
        config_section_require_addr(&sec, "listen", &fe->listen_text, &fe->listen) < 0 ||
        config_section_require_addr(&sec, "backend", &fe->backend_text, &fe->backend) < 0) {
        return -1;
    }
    for (size_t j = 0; j < i; j++) {
        const struct config_frontend *other = &cfg->frontends[j];

        if (other->listen.len == fe->listen.len &&
            memcmp(&other->listen.ss, &fe->listen.ss, fe->listen.len) == 0) {
            return config_section_fail(
                ld, config_section_member(&sec, "listen"),
                "'%s.listen' = \"%s\" is already used by frontend \"%s\" (line %d)", fe_label,
                fe->listen_text, other->name, other->line);
        }
    }
    if (load_certs(&sec, fe) < 0 || load_alpn(&sec, fe) < 0 || load_proxy(&sec, fe) < 0) {
        return -1;
    }
    return load_client_certs(&sec, fe);
}

int
config_frontend_load_all(struct config_loader *ld)
{
    struct config *cfg = ld->cfg;
    config_setting_t *s = config_setting_get_member(ld->root, "frontends");
    int n;

    if (s == NULL) {
        return config_section_fail(ld, ld->root, "'frontends' is required");
    }
    n = config_section_group_list(ld, s, "frontends");
    if (n < 0) {
        return -1;
    }
    if (n < 1 || n > CONFIG_MAX_FRONTENDS) {
        return config_section_fail(ld, s, "'frontends' must have 1 to %d entries (got %d)",
                                   CONFIG_MAX_FRONTENDS, n);
    }
    cfg->frontends = calloc((size_t)n, sizeof(*cfg->frontends));
    if (cfg->frontends == NULL) {
        return config_section_fail(ld, s, "out of memory");
    }
    cfg->nfrontends = (size_t)n;
    for (int i = 0; i < n; i++) {
        if (load_frontend(ld, config_section_group_elem(s, i), (size_t)i) < 0) {
            return -1;
        }
    }
    return 0;
}

void
config_frontend_free(struct config_frontend *fe)
{
    free(fe->name);
    free(fe->listen_text);
    free(fe->backend_text);
    for (size_t j = 0; j < fe->ncerts; j++) {
        free(fe->certs[j].cert);
        free(fe->certs[j].key);
        free(fe->certs[j].ocsp_file);
    }
    free(fe->certs);
    for (size_t j = 0; j < fe->nalpn; j++) {
        free(fe->alpn[j]);
    }
    free(fe->alpn);
    free(fe->client_ca);
    free(fe->client_crl);
    free(fe->proxy_from);
}
