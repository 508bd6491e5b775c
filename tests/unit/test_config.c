/*
 * test_config.c - config_load() on real files: a full configuration, the
 * defaults, the annotated example, and a table of broken configurations
 * whose exact "FILE:LINE: what" message is checked.
 *
 * Thread: the cmocka runner's only thread.  Ownership: the group set-up
 * makes a mkdtemp() folder holding a self-signed ECDSA P-256 certificate,
 * its key, a second (mismatching) key and the configuration files; the
 * group tear-down removes the folder.  Nothing else on disk is touched.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "ocsp.h"
#include "reload.h"
#include "token.h"
#include "trim.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The real path of the mkdtemp() folder; every file of the test lives there. */
static char test_dir[PATH_MAX];

/* ---- fixtures ---------------------------------------------------------------------------- */

static char *
test_path(const char *name)
{
    char *path;

    if (asprintf(&path, "%s/%s", test_dir, name) < 0) {
        fail_msg("out of memory");
    }
    return path;
}

static void
test_write(const char *name, const char *text)
{
    char *path = test_path(name);
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
        fail_msg("cannot write %s: %s", path, strerror(errno));
    }
    free(path);
}

static void
test_chmod(const char *name, mode_t mode)
{
    char *path = test_path(name);

    if (chmod(path, mode) != 0) {
        fail_msg("cannot chmod %s: %s", path, strerror(errno));
    }
    free(path);
}

static EVP_PKEY *
test_gen_key(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    if (key == NULL) {
        fail_msg("EVP_EC_gen failed");
    }
    return key;
}

static X509 *
test_gen_cert(EVP_PKEY *key)
{
    X509 *x509 = X509_new();
    X509_NAME *name;

    if (x509 == NULL || X509_set_version(x509, 2) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x509), 1) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x509), 0) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x509), 86400) == NULL ||
        X509_set_pubkey(x509, key) != 1) {
        fail_msg("cannot build the certificate");
    }
    name = X509_get_subject_name(x509);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                                   -1, 0) != 1 ||
        X509_set_issuer_name(x509, name) != 1 || X509_sign(x509, key, EVP_sha256()) == 0) {
        fail_msg("cannot sign the certificate");
    }
    return x509;
}

/* Write the PEM objects given (either may be NULL) to `name`. */
static void
test_write_pem(const char *name, X509 *x509, EVP_PKEY *key)
{
    char *path = test_path(name);
    BIO *bio = BIO_new_file(path, "w");

    if (bio == NULL || (x509 != NULL && PEM_write_bio_X509(bio, x509) != 1) ||
        (key != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)) {
        fail_msg("cannot write %s", path);
    }
    BIO_free(bio);
    free(path);
}

/* A CRL that names x509's subject as its issuer, signed by `key` (the
 * certificate's own key, or another one for a forged CRL), written as PEM. */
static void
test_write_crl(const char *name, X509 *x509, EVP_PKEY *key)
{
    char *path = test_path(name);
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
    ASN1_TIME *next = ASN1_TIME_set(NULL, time(NULL) + 86400);
    BIO *bio = BIO_new_file(path, "w");

    if (crl == NULL || now == NULL || next == NULL || bio == NULL ||
        X509_CRL_set_version(crl, 1) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(x509)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, now) != 1 || X509_CRL_set1_nextUpdate(crl, next) != 1 ||
        X509_CRL_sign(crl, key, EVP_sha256()) == 0 || PEM_write_bio_X509_CRL(bio, crl) != 1) {
        fail_msg("cannot write the CRL %s", path);
    }
    BIO_free(bio);
    ASN1_TIME_free(next);
    ASN1_TIME_free(now);
    X509_CRL_free(crl);
    free(path);
}

static int
group_setup(void **state)
{
    char tmpl[] = "/tmp/tessera-test-config.XXXXXX";
    EVP_PKEY *key;
    EVP_PKEY *other;
    X509 *x509;

    (void)state;
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, test_dir) == NULL) {
        return -1;
    }
    key = test_gen_key();
    other = test_gen_key();
    x509 = test_gen_cert(key);
    test_write_pem("site.pem", x509, NULL);
    test_write_pem("site.key", NULL, key);
    test_write_pem("combo.pem", x509, key);
    test_write_pem("other.key", NULL, other);
    test_write_crl("site.crl", x509, key);
    test_write_crl("forged.crl", x509, other);
    test_write("garbage.txt", "this is not PEM\n");
    test_write("cluster.key", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    test_write("old.key", "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n");
    test_write("shared.key", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    test_write("short.key", "0011\n");
    /* Secret files must be private to their owner. */
    test_chmod("cluster.key", 0600);
    test_chmod("old.key", 0400);
    test_chmod("shared.key", 0644);
    test_chmod("short.key", 0600);
    /* admin.token_file: private, one line of at least 16 visible characters. */
    test_write("admin.token", "s3cr3t-t0ken-0123456789abcdef\n");
    test_write("admin-nonl.token", "s3cr3t-t0ken-0123456789abcdef");
    test_write("open.token", "s3cr3t-t0ken-0123456789abcdef\n");
    test_write("short.token", "tooshort\n");
    test_write("space.token", "s3cr3t t0ken 0123456789abcdef\n");
    test_write("two.token", "s3cr3t-t0ken-0123456789abcdef\nsecond-line-0123456789\n");
    test_chmod("admin.token", 0600);
    test_chmod("admin-nonl.token", 0400);
    test_chmod("open.token", 0640);
    test_chmod("short.token", 0600);
    test_chmod("space.token", 0600);
    test_chmod("two.token", 0600);
    {
        char big[400];
        memset(big, 'x', sizeof(big) - 2);
        big[sizeof(big) - 2] = '\n';
        big[sizeof(big) - 1] = '\0';
        test_write("big.token", big);
        test_chmod("big.token", 0600);
    }
    X509_free(x509);
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
    return 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
group_teardown(void **state)
{
    (void)state;
    return nftw(test_dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * Expand "@F@" (the configuration file's path) and "@D@" (the test folder)
 * in `tmpl`.  The caller frees the result.
 */
static char *
test_expand(const char *tmpl, const char *file)
{
    size_t cap = strlen(tmpl) + 1;
    char *out;
    size_t len = 0;

    for (const char *p = tmpl; *p != '\0'; p++) {
        if (*p == '@') {
            cap += strlen(file) + strlen(test_dir);
        }
    }
    out = malloc(cap);
    assert_non_null(out);
    while (*tmpl != '\0') {
        const char *sub = NULL;

        if (strncmp(tmpl, "@F@", 3) == 0) {
            sub = file;
        } else if (strncmp(tmpl, "@D@", 3) == 0) {
            sub = test_dir;
        }
        if (sub != NULL) {
            memcpy(out + len, sub, strlen(sub));
            len += strlen(sub);
            tmpl += 3;
        } else {
            out[len++] = *tmpl++;
        }
    }
    out[len] = '\0';
    return out;
}

/* Write `text` as `name` and load it; returns config_load()'s result. */
static int
test_load(const char *name, const char *text, struct config **cfg, struct err *err)
{
    char *path = test_path(name);
    int rc;

    test_write(name, text);
    rc = config_load(path, cfg, err);
    free(path);
    return rc;
}

/* ---- valid configurations ---------------------------------------------------------------- */

static void
test_full(void **state)
{
    struct config *cfg = NULL;
    struct err err = {{0}};
    char buf[64];
    char *want;

    (void)state;
    static const char full[] =
        "workers = 3;\n"
        "max_connections = 20000L; pidfile = \"run.pid\";\n"
        "log = { level = \"debug\"; syslog = true; };\n"
        "tls = {\n"
        "  min_version = \"TLSv1.3\";\n"
        "  ciphers = \"ECDHE-ECDSA-AES256-GCM-SHA384\";\n"
        "  ciphersuites = \"TLS_AES_256_GCM_SHA384\";\n"
        "  groups = \"P-256\";\n"
        "};\n"
        "frontends = (\n"
        "  { name = \"web-1.a_b\";\n"
        "    listen = \"127.0.0.1:8443\";\n"
        "    backend = \"127.0.0.1:8080\";\n"
        "    certs = ( { cert = \"site.pem\"; key = \"site.key\"; },\n"
        "              { cert = \"@D@/combo.pem\"; } );\n"
        "    alpn = [ \"h2\", \"http/1.1\" ]; proxy_protocol = \"v2\";\n"
        "  },\n"
        "  { name = \"v6\";\n"
        "    listen = \"[::1]:9443\";\n"
        "    backend = \"[::1]:9080\";\n"
        "    certs = ( { cert = \"combo.pem\"; } );\n"
        "    alpn = ( \"http/1.1\" ); proxy_protocol = \"v1\"; accept_proxy = true;"
        " proxy_from = [ \"10.0.0.0/8\", \"::1\" ];\n"
        "  }\n"
        ");\n"
        "sessions = { store = \"local\"; lifetime = 7200; tickets = false; };\n"
        "tickets = { rotate = 600; keep = 12; refresh = 150; };\n"
        "memcached = {\n"
        "  servers = [ \"127.0.0.1:11211\", \"mc-2.example:11212\", \"[::1]:11213\" ];\n"
        "  options = \"--TCP-NODELAY\";\n"
        "  prefix = \"t:\";\n"
        "  timeout_ms = 60000;\n"
        "  secret_file = \"cluster.key\";\n"
        "  old_secret_files = [ \"old.key\" ];\n"
        "};\n"
        "admin = { listen = \"0.0.0.0:9091\"; allow = [ \"10.0.0.0/8\", \"::1\" ]; };\n"
        "timeouts = { handshake = 1; connect = 3600; idle = 86400; shutdown = 0; };\n";
    char *expanded = test_expand(full, "");

    assert_int_equal(test_load("full.conf", expanded, &cfg, &err), 0);
    free(expanded);
    assert_non_null(cfg);

    want = test_path("full.conf");
    assert_string_equal(cfg->path, want);
    free(want);
    assert_string_equal(cfg->dir, test_dir);
    assert_int_equal(cfg->workers, 3);
    assert_int_equal(cfg->max_connections, 20000);
    want = test_path("run.pid");
    assert_string_equal(cfg->pidfile, want);
    free(want);
    assert_int_equal(cfg->log.level, LOG_LVL_DEBUG);
    assert_true(cfg->log.syslog);
    assert_int_equal(cfg->tls.min_version, TLS1_3_VERSION);
    assert_string_equal(cfg->tls.ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384");
    assert_string_equal(cfg->tls.ciphersuites, "TLS_AES_256_GCM_SHA384");
    assert_string_equal(cfg->tls.groups, "P-256");

    assert_int_equal(cfg->nfrontends, 2);
    const struct config_frontend *fe = &cfg->frontends[0];
    assert_string_equal(fe->name, "web-1.a_b");
    assert_int_equal(fe->line, 11);
    assert_string_equal(fe->listen_text, "127.0.0.1:8443");
    assert_string_equal(addr_format(&fe->listen, buf, sizeof(buf)), "127.0.0.1:8443");
    assert_string_equal(fe->backend_text, "127.0.0.1:8080");
    assert_string_equal(addr_format(&fe->backend, buf, sizeof(buf)), "127.0.0.1:8080");
    assert_int_equal(fe->ncerts, 2);
    want = test_path("site.pem");
    assert_string_equal(fe->certs[0].cert, want);
    free(want);
    want = test_path("site.key");
    assert_string_equal(fe->certs[0].key, want);
    free(want);
    assert_int_equal(fe->certs[0].line, 14);
    want = test_path("combo.pem");
    assert_string_equal(fe->certs[1].cert, want);
    assert_string_equal(fe->certs[1].key, want);
    assert_int_equal(fe->certs[1].line, 15);
    assert_int_equal(fe->nalpn, 2);
    assert_string_equal(fe->alpn[0], "h2");
    assert_string_equal(fe->alpn[1], "http/1.1");
    assert_int_equal(fe->proxy_protocol, CONFIG_PROXY_V2);
    assert_false(fe->accept_proxy);
    assert_int_equal(fe->nproxy_from, 0);

    fe = &cfg->frontends[1];
    assert_string_equal(fe->name, "v6");
    assert_string_equal(addr_format(&fe->listen, buf, sizeof(buf)), "[::1]:9443");
    assert_string_equal(addr_format(&fe->backend, buf, sizeof(buf)), "[::1]:9080");
    assert_int_equal(fe->ncerts, 1);
    assert_string_equal(fe->certs[0].cert, want);
    assert_string_equal(fe->certs[0].key, want);
    free(want);
    assert_int_equal(fe->nalpn, 1);
    assert_string_equal(fe->alpn[0], "http/1.1");
    assert_int_equal(fe->proxy_protocol, CONFIG_PROXY_V1);
    assert_true(fe->accept_proxy);
    assert_int_equal(fe->nproxy_from, 2);
    assert_int_equal(fe->proxy_from[0].family, AF_INET);
    assert_int_equal(fe->proxy_from[0].prefix, 8);
    assert_int_equal(fe->proxy_from[1].family, AF_INET6);

    assert_int_equal(cfg->sessions.store, CONFIG_STORE_LOCAL);
    assert_int_equal(cfg->sessions.lifetime, 7200);
    assert_false(cfg->sessions.tickets);
    assert_int_equal(cfg->tickets.rotate, 600);
    assert_int_equal(cfg->tickets.keep, 12);
    assert_int_equal(cfg->tickets.refresh, 150);

    assert_int_equal(cfg->memcached.nservers, 3);
    assert_string_equal(cfg->memcached.servers[0], "127.0.0.1:11211");
    assert_string_equal(cfg->memcached.servers[1], "mc-2.example:11212");
    assert_string_equal(cfg->memcached.servers[2], "[::1]:11213");
    assert_string_equal(cfg->memcached.options, "--TCP-NODELAY");
    assert_string_equal(cfg->memcached.prefix, "t:");
    assert_int_equal(cfg->memcached.timeout_ms, 60000);
    want = test_path("cluster.key");
    assert_string_equal(cfg->memcached.secret_file, want);
    free(want);
    assert_int_equal(cfg->memcached.nold_secret_files, 1);
    want = test_path("old.key");
    assert_string_equal(cfg->memcached.old_secret_files[0], want);
    free(want);

    assert_true(cfg->admin.enabled);
    assert_string_equal(cfg->admin.listen_text, "0.0.0.0:9091");
    assert_string_equal(addr_format(&cfg->admin.listen, buf, sizeof(buf)), "0.0.0.0:9091");
    assert_int_equal(cfg->admin.nallow, 2);
    assert_int_equal(cfg->admin.allow[0].family, AF_INET);
    assert_int_equal(cfg->admin.allow[0].prefix, 8);
    assert_int_equal(cfg->admin.allow[1].family, AF_INET6);
    assert_int_equal(cfg->admin.allow[1].prefix, 128);

    assert_int_equal(cfg->timeouts.handshake, 1);
    assert_int_equal(cfg->timeouts.connect, 3600);
    assert_int_equal(cfg->timeouts.idle, 86400);
    assert_int_equal(cfg->timeouts.shutdown, 0);
    config_free(cfg);
}

/* Early data on: the three tls keys and the frontend's backend_idempotent. */
static void
test_early_data(void **state)
{
    static const char text[] =
        "frontends = ( { listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\";\n"
        "                certs = ( { cert = \"site.pem\"; key = \"site.key\"; } );\n"
        "                backend_idempotent = true; } );\n"
        "tls = { early_data = true; max_early_data = 1024; early_data_window = 3; };\n"
        "sessions = { store = \"memcached\"; };\n"
        "memcached = { servers = [ \"127.0.0.1:11211\" ]; secret_file = \"cluster.key\"; };\n";
    struct config *cfg = NULL;
    struct err err = {{0}};

    (void)state;
    if (test_load("early.conf", text, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_true(cfg->tls.early_data);
    assert_int_equal(cfg->tls.max_early_data, 1024);
    assert_int_equal(cfg->tls.early_data_window, 3);
    assert_true(cfg->frontends[0].backend_idempotent);
    config_free(cfg);
}

static void
test_defaults(void **state)
{
    static const char text[] =
        "frontends = ( { listen = \"*:8443\"; backend = \"127.0.0.1:8080\";\n"
        "                certs = ( { cert = \"site.pem\"; key = \"site.key\"; } ); } );\n";
    struct config *cfg = NULL;
    struct err err = {{0}};
    char buf[64];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    char *want;

    (void)state;
    if (test_load("defaults.conf", text, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(cfg->workers, cpus < 1 ? 1 : cpus);
    assert_int_equal(cfg->max_connections, 0);
    assert_null(cfg->pidfile);
    assert_int_equal(cfg->log.level, LOG_LVL_INFO);
    assert_false(cfg->log.syslog);
    assert_int_equal(cfg->tls.min_version, TLS1_2_VERSION);
    assert_string_equal(cfg->tls.ciphers, CONFIG_DEFAULT_CIPHERS);
    assert_string_equal(cfg->tls.ciphersuites, CONFIG_DEFAULT_CIPHERSUITES);
    assert_string_equal(cfg->tls.groups, CONFIG_DEFAULT_GROUPS);
    assert_false(cfg->tls.early_data);
    assert_int_equal(cfg->tls.max_early_data, 16384);
    assert_int_equal(cfg->tls.early_data_window, 10);
    assert_false(cfg->frontends[0].backend_idempotent);

    assert_int_equal(cfg->nfrontends, 1);
    assert_string_equal(cfg->frontends[0].name, "default");
    assert_string_equal(addr_format(&cfg->frontends[0].listen, buf, sizeof(buf)), "0.0.0.0:8443");
    assert_int_equal(cfg->frontends[0].nalpn, 0);
    assert_null(cfg->frontends[0].alpn);
    assert_int_equal(cfg->frontends[0].proxy_protocol, CONFIG_PROXY_OFF);
    assert_false(cfg->frontends[0].accept_proxy);
    assert_int_equal(cfg->frontends[0].nproxy_from, 0);
    want = test_path("site.pem");
    assert_string_equal(cfg->frontends[0].certs[0].cert, want);
    free(want);

    assert_int_equal(cfg->sessions.store, CONFIG_STORE_LOCAL);
    assert_int_equal(cfg->sessions.lifetime, 64800);
    assert_true(cfg->sessions.tickets);
    assert_int_equal(cfg->tickets.rotate, 3600);
    assert_int_equal(cfg->tickets.keep, 18);
    assert_int_equal(cfg->tickets.refresh, 10);

    assert_int_equal(cfg->memcached.nservers, 0);
    assert_string_equal(cfg->memcached.options, "");
    assert_string_equal(cfg->memcached.prefix, "tessera:");
    assert_int_equal(cfg->memcached.timeout_ms, 50);
    assert_null(cfg->memcached.secret_file);
    assert_int_equal(cfg->memcached.nold_secret_files, 0);

    assert_true(cfg->admin.enabled);
    assert_string_equal(cfg->admin.listen_text, "127.0.0.1:9090");
    assert_string_equal(addr_format(&cfg->admin.listen, buf, sizeof(buf)), "127.0.0.1:9090");
    assert_int_equal(cfg->admin.nallow, 0);
    assert_null(cfg->admin.token_file);
    assert_false(cfg->admin.has_token);

    assert_int_equal(cfg->timeouts.handshake, 10);
    assert_int_equal(cfg->timeouts.connect, 5);
    assert_int_equal(cfg->timeouts.idle, 300);
    assert_int_equal(cfg->timeouts.shutdown, 30);
    config_free(cfg);
}

/* Odd but valid spellings: a single group for lists, "" disabling admin, @include. */
static void
test_variants(void **state)
{
    static const char text[] =
        "@include \"inc-ok.conf\"\n"
        "frontends = { listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\";\n"
        "              certs = { cert = \"combo.pem\"; }; alpn = []; };\n"
        "admin = { listen = \"\"; allow = ( \"127.0.0.1\" ); };\n"
        "tickets = { keep = 1; };\n"
        "sessions = { lifetime = 3600; };\n"
        "pidfile = \"\";\n"
        "memcached = { servers = []; old_secret_files = []; prefix = \"\"; };\n";
    struct config *cfg = NULL;
    struct err err = {{0}};

    (void)state;
    test_write("inc-ok.conf", "workers = 2;\n");
    if (test_load("variants.conf", text, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(cfg->workers, 2);
    assert_int_equal(cfg->nfrontends, 1);
    assert_string_equal(cfg->frontends[0].name, "default");
    assert_int_equal(cfg->frontends[0].ncerts, 1);
    assert_int_equal(cfg->frontends[0].nalpn, 0);
    assert_false(cfg->admin.enabled);
    assert_string_equal(cfg->admin.listen_text, "");
    assert_int_equal(cfg->admin.nallow, 1);
    assert_int_equal(cfg->tickets.keep, 1);
    assert_int_equal(cfg->sessions.lifetime, 3600); /* keep * rotate == lifetime is enough */
    assert_string_equal(cfg->memcached.prefix, "");
    assert_null(cfg->pidfile); /* "" is none */
    config_free(cfg);

    /* The folder is the real path, whatever spelling the file was given with. */
    char *dotted = test_path("./variants.conf");
    assert_int_equal(config_load(dotted, &cfg, &err), 0);
    assert_string_equal(cfg->path, dotted);
    assert_string_equal(cfg->dir, test_dir);
    config_free(cfg);
    free(dotted);
}

/*
 * conf/tessera.conf must load as shipped (next to a site.pem/site.key).
 * Found through $srcdir (automake) or from the source tree's top or
 * tests/unit folders; skipped when it cannot be found.
 */
static void
test_example(void **state)
{
    static const char *const rel[] = {"conf/tessera.conf", "../conf/tessera.conf",
                                      "../../conf/tessera.conf"};
    const char *srcdir = getenv("srcdir");
    struct config *cfg = NULL;
    struct err err = {{0}};
    char *text = NULL;
    FILE *f = NULL;

    (void)state;
    for (size_t i = 0; i < 2 * ARRAY_SIZE(rel) && f == NULL; i++) {
        char *path;

        if (i < ARRAY_SIZE(rel)) {
            if (srcdir == NULL) {
                continue;
            }
            if (asprintf(&path, "%s/%s", srcdir, rel[i]) < 0) {
                fail_msg("out of memory");
            }
        } else {
            path = strdup(rel[i - ARRAY_SIZE(rel)]);
        }
        f = fopen(path, "r");
        free(path);
    }
    if (f == NULL) {
        skip();
    }
    size_t cap = 0;
    ssize_t n = getdelim(&text, &cap, '\0', f);
    fclose(f);
    assert_true(n > 0);
    if (test_load("example.conf", text, &cfg, &err) != 0) {
        fail_msg("conf/tessera.conf: %s", err.msg);
    }
    free(text);
    assert_int_equal(cfg->nfrontends, 1);
    assert_string_equal(cfg->frontends[0].listen_text, "127.0.0.1:8443");
    assert_string_equal(cfg->frontends[0].backend_text, "127.0.0.1:8080");
    config_free(cfg);
}

static void
test_missing_file(void **state)
{
    struct config unused;
    struct config *cfg = &unused;
    struct err err = {{0}};
    char *path = test_path("absent.conf");

    (void)state;
    char *want = test_expand("@D@/absent.conf: No such file or directory", "");

    assert_int_equal(config_load(path, &cfg, &err), -1);
    assert_ptr_equal(cfg, &unused);
    assert_string_equal(err.msg, want);
    free(want);
    free(path);

    want = test_expand(
        "@D@/nodir/absent.conf: cannot resolve its folder: No such file or directory", "");
    path = test_path("nodir/absent.conf");
    assert_int_equal(config_load(path, &cfg, &err), -1);
    assert_string_equal(err.msg, want);
    free(want);
    free(path);

    want = test_expand("@D@: not a regular file", "");
    assert_int_equal(config_load(test_dir, &cfg, &err), -1);
    assert_string_equal(err.msg, want);
    free(want);
}

/* ---- the table of broken configurations -------------------------------------------------- */

#define CERTS "certs = ( { cert = \"site.pem\"; key = \"site.key\"; } );"
/* One valid frontend on one line, so that line numbers stay easy to count. */
#define FE                                                                                         \
    "frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\"; " CERTS " } );\n"
#define FE_WITH(extra)                                                                             \
    "frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\"; " extra " } );\n"
#define FE_PLAIN                                                                                   \
    "frontends = ( { listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\"; "                        \
    "certs = ( { cert = \"site.pem\"; key = \"site.key\"; } ); } );\n"
#define MC_OK "memcached = { servers = [ \"127.0.0.1:11211\" ]; secret_file = \"cluster.key\"; };\n"

struct bad_case {
    const char *text; /* the file */
    const char *want; /* the message; @F@ = this file, @D@ = the folder */
};

static const struct bad_case bad_cases[] = {
    /* Syntax, as libconfig words it. */
    {"workers = ;\n" FE, "@F@:1: syntax error"},
    {FE "workers = 1;\nworkers = 2;\n", "@F@:3: duplicate setting name"},
    {FE "@include \"inc-bad.conf\"\n", "@D@/inc-bad.conf:2: syntax error"},
    {FE "@include \"inc-range.conf\"\n",
     "@D@/inc-range.conf:1: 'workers' must be between 0 and 1024 (got 2000)"},

    /* Unknown keys at every level. */
    {"bogus = 1;\n" FE, "@F@:1: unknown setting 'bogus'"},
    {FE "tls = {\n  min_version = \"TLSv1.2\";\n  cipher = \"x\";\n};\n",
     "@F@:4: unknown setting 'cipher' in 'tls'"},
    {FE_WITH("lisen = \"x\"; " CERTS), "@F@:1: unknown setting 'lisen' in 'frontends[0]'"},
    {FE_WITH("certs = ( { cert = \"site.pem\"; kye = \"site.key\"; } );"),
     "@F@:1: unknown setting 'kye' in 'frontends[0].certs[0]'"},
    {FE "timeouts = { read = 5; };\n", "@F@:2: unknown setting 'read' in 'timeouts'"},

    /* Types. */
    {"workers = \"4\";\n" FE, "@F@:1: 'workers' must be an integer"},
    {"workers = 1.5;\n" FE, "@F@:1: 'workers' must be an integer"},
    {"workers = true;\n" FE, "@F@:1: 'workers' must be an integer"},
    {FE "log = { syslog = 1; };\n", "@F@:2: 'log.syslog' must be a boolean (true or false)"},
    {FE "log = { syslog = \"true\"; };\n", "@F@:2: 'log.syslog' must be a boolean (true or false)"},
    {FE "log = 5;\n", "@F@:2: 'log' must be a group: log = { ... };"},
    {FE "tls = { ciphers = 5; };\n", "@F@:2: 'tls.ciphers' must be a string"},
    {FE "sessions = { tickets = \"yes\"; };\n",
     "@F@:2: 'sessions.tickets' must be a boolean (true or false)"},
    {FE "memcached = { servers = \"127.0.0.1:11211\"; };\n",
     "@F@:2: 'memcached.servers' must be an array of strings: [ \"...\", ... ]"},
    {FE "memcached = { servers = ( \"127.0.0.1:11211\", 5 ); };\n",
     "@F@:2: 'memcached.servers' must be an array of strings: [ \"...\", ... ]"},
    {FE_WITH(CERTS " alpn = \"h2\";"),
     "@F@:1: 'frontends[0].alpn' must be an array of strings: [ \"...\", ... ]"},
    {"frontends = [ \"web\" ];\n", "@F@:1: 'frontends' must be a list of groups: ( { ... }, ... )"},
    {"frontends = ( \"web\" );\n", "@F@:1: 'frontends[0]' must be a group: { listen = ...; ... }"},
    {FE_WITH("certs = [ \"site.pem\" ];"),
     "@F@:1: 'frontends[0].certs' must be a list of groups: ( { ... }, ... )"},
    {FE_WITH("certs = ( \"site.pem\" );"),
     "@F@:1: 'frontends[0].certs[0]' must be a group: { cert = \"...\"; key = \"...\"; }"},

    /* Range edges. */
    {"workers = 1025;\n" FE, "@F@:1: 'workers' must be between 0 and 1024 (got 1025)"},
    {"workers = -1;\n" FE, "@F@:1: 'workers' must be between 0 and 1024 (got -1)"},
    {"max_connections = 10000001;\n" FE,
     "@F@:1: 'max_connections' must be between 0 and 10000000 (got 10000001)"},
    {"max_connections = 10000000000L;\n" FE,
     "@F@:1: 'max_connections' must be between 0 and 10000000 (got 10000000000)"},
    {FE "sessions = { lifetime = 0; };\n",
     "@F@:2: 'sessions.lifetime' must be between 1 and 604800 (got 0)"},
    {FE "sessions = { lifetime = 604801; };\n",
     "@F@:2: 'sessions.lifetime' must be between 1 and 604800 (got 604801)"},
    {FE "tickets = { rotate = 3; };\n",
     "@F@:2: 'tickets.rotate' must be between 4 and 604800 (got 3)"},
    {FE "tickets = { rotate = 604801; };\n",
     "@F@:2: 'tickets.rotate' must be between 4 and 604800 (got 604801)"},
    {FE "tickets = { keep = 61; };\n", "@F@:2: 'tickets.keep' must be between 0 and 60 (got 61)"},
    {FE "tickets = { refresh = 0; };\n",
     "@F@:2: 'tickets.refresh' must be between 1 and 3600 (got 0)"},
    {FE "tickets = { refresh = 3601; };\n",
     "@F@:2: 'tickets.refresh' must be between 1 and 3600 (got 3601)"},
    {FE "memcached = { timeout_ms = 0; };\n",
     "@F@:2: 'memcached.timeout_ms' must be between 1 and 60000 (got 0)"},
    {FE "memcached = { timeout_ms = 60001; };\n",
     "@F@:2: 'memcached.timeout_ms' must be between 1 and 60000 (got 60001)"},
    {FE "timeouts = { handshake = 0; };\n",
     "@F@:2: 'timeouts.handshake' must be between 1 and 3600 (got 0)"},
    {FE "timeouts = { connect = 3601; };\n",
     "@F@:2: 'timeouts.connect' must be between 1 and 3600 (got 3601)"},
    {FE "timeouts = { idle = 86401; };\n",
     "@F@:2: 'timeouts.idle' must be between 1 and 86400 (got 86401)"},
    {FE "timeouts = { shutdown = -1; };\n",
     "@F@:2: 'timeouts.shutdown' must be between 0 and 3600 (got -1)"},
    {FE "timeouts = { shutdown = 3601; };\n",
     "@F@:2: 'timeouts.shutdown' must be between 0 and 3600 (got 3601)"},

    /* Enumerations and OpenSSL strings. */
    {FE "log = { level = \"verbose\"; };\n",
     "@F@:2: 'log.level' must be \"error\", \"warn\", \"info\" or \"debug\" (got \"verbose\")"},
    {FE "tls = { min_version = \"TLSv1.1\"; };\n",
     "@F@:2: 'tls.min_version' must be \"TLSv1.2\" or \"TLSv1.3\" (got \"TLSv1.1\")"},
    {FE "tls = {\n  ciphers = \"NOPE\";\n};\n",
     "@F@:3: 'tls.ciphers' = \"NOPE\" selects no cipher OpenSSL knows"},
    {FE "tls = { ciphersuites = \"TLS_AES_128_GCM_SHA256:TLS_FOO\"; };\n",
     "@F@:2: 'tls.ciphersuites': unknown TLS 1.3 ciphersuite 'TLS_FOO'"},
    {FE "tls = { min_version = \"TLSv1.3\";\n  ciphersuites = \"\"; };\n",
     "@F@:3: 'tls.ciphersuites' is empty but 'tls.min_version' is \"TLSv1.3\""},
    {FE "tls = { groups = \"X25519:P-999\"; };\n",
     "@F@:2: 'tls.groups' = \"X25519:P-999\" names a group OpenSSL does not know"},
    /* Early data (TLS 1.3 0-RTT). */
    {FE "tls = { early_data = 1; };\n",
     "@F@:2: 'tls.early_data' must be a boolean (true or false)"},
    {FE "tls = { max_early_data = 0; };\n",
     "@F@:2: 'tls.max_early_data' must be between 1 and 16384 (got 0)"},
    {FE "tls = { max_early_data = 16385; };\n",
     "@F@:2: 'tls.max_early_data' must be between 1 and 16384 (got 16385)"},
    {FE "tls = { early_data_window = 0; };\n",
     "@F@:2: 'tls.early_data_window' must be between 1 and 60 (got 0)"},
    {FE "tls = { early_data_window = 61; };\n",
     "@F@:2: 'tls.early_data_window' must be between 1 and 60 (got 61)"},
    {FE_WITH(CERTS " backend_idempotent = \"yes\";"),
     "@F@:1: 'frontends[0].backend_idempotent' must be a boolean (true or false)"},
    {FE "tls = {\n  early_data = true;\n};\n",
     "@F@:3: 'tls.early_data' needs 'sessions.store' = \"memcached\" (early data is accepted "
     "once cluster-wide, recorded there)"},
    {FE "tls = {\n  early_data = true;\n};\nsessions = { store = \"local\"; };\n",
     "@F@:3: 'tls.early_data' needs 'sessions.store' = \"memcached\" (early data is accepted "
     "once cluster-wide, recorded there)"},
    {FE "sessions = { store = \"redis\"; };\n",
     "@F@:2: 'sessions.store' must be \"local\" or \"memcached\" (got \"redis\")"},

    /* Frontends. */
    {"workers = 1;\n", "@F@:1: 'frontends' is required"},
    {"workers = 1;\nfrontends = ( );\n", "@F@:2: 'frontends' must have 1 to 64 entries (got 0)"},
    {"frontends = (\n"
     " { name = \"web\"; listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\"; " CERTS " },\n"
     " { name = \"web\"; listen = \"127.0.0.1:3\"; backend = \"127.0.0.1:2\"; " CERTS " }\n"
     ");\n",
     "@F@:3: frontend name \"web\" is already used on line 2"},
    {"frontends = (\n"
     " { name = \"a\"; listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\"; " CERTS " },\n"
     " {\n"
     "   listen = \"127.0.0.1:3\"; backend = \"127.0.0.1:2\"; " CERTS " }\n"
     ");\n",
     "@F@:3: 'frontends[1].name' is required when there are several frontends"},
    {"frontends = (\n"
     " { name = \"a\"; listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\"; " CERTS " },\n"
     " { name = \"b\";\n"
     "   listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\"; " CERTS " }\n"
     ");\n",
     "@F@:4: 'frontends[1].listen' = \"127.0.0.1:1\" is already used by frontend \"a\" (line 2)"},
    {FE_WITH("name = \"we b\"; " CERTS),
     "@F@:1: 'frontends[0].name' = \"we b\" must be 1 to 64 characters from A-Z a-z 0-9 _ . -"},
    {FE_WITH("name = \"\"; " CERTS),
     "@F@:1: 'frontends[0].name' = \"\" must be 1 to 64 characters from A-Z a-z 0-9 _ . -"},
    {"frontends = ( { listen = \"localhost:8443\"; backend = \"127.0.0.1:8080\"; " CERTS " } );\n",
     "@F@:1: 'frontends[0].listen' = \"localhost:8443\": not a numeric IPv4 address (host names "
     "are not accepted)"},
    {"frontends = ( { listen = \"127.0.0.1:0\"; backend = \"127.0.0.1:8080\"; " CERTS " } );\n",
     "@F@:1: 'frontends[0].listen' = \"127.0.0.1:0\": port 0 is not allowed here"},
    {"frontends = ( { listen = \"127.0.0.1:65536\"; backend = \"127.0.0.1:8080\"; " CERTS " } );\n",
     "@F@:1: 'frontends[0].listen' = \"127.0.0.1:65536\": port out of range (0-65535)"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"::1:80\"; " CERTS " } );\n",
     "@F@:1: 'frontends[0].backend' = \"::1:80\": IPv6 addresses need brackets: \"[addr]:port\""},
    {"frontends = (\n  {\n    listen = \"127.0.0.1:8443\";\n    " CERTS "\n  }\n);\n",
     "@F@:2: 'frontends[0].backend' is required"},
    {"frontends = ( { backend = \"127.0.0.1:8080\"; " CERTS " } );\n",
     "@F@:1: 'frontends[0].listen' is required"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\"; } );\n",
     "@F@:1: 'frontends[0].certs' is required"},
    {FE_WITH("certs = ( );"), "@F@:1: 'frontends[0].certs' must not be empty"},
    {FE_WITH("certs = ( { key = \"site.key\"; } );"),
     "@F@:1: 'frontends[0].certs[0].cert' is required"},
    {FE_WITH("certs = ( { cert = \"\"; } );"),
     "@F@:1: 'frontends[0].certs[0].cert' must not be empty"},
    {FE_WITH(CERTS " alpn = [ \"h2\", \"\" ];"),
     "@F@:1: 'frontends[0].alpn' entries must be 1 to 255 bytes long"},
    {FE_WITH(CERTS " alpn = [ \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\", "
                   "\"10\", \"11\", \"12\", \"13\", \"14\", \"15\", \"16\", \"17\" ];"),
     "@F@:1: 'frontends[0].alpn' has 17 entries (at most 16)"},

    /* Certificates and keys: errors point at the cert or key line. */
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\";\n"
     "  certs = ( {\n"
     "    cert = \"missing.pem\";\n"
     "    key = \"site.key\"; } ); } );\n",
     "@F@:3: certificate file '@D@/missing.pem': No such file or directory"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\";\n"
     "  certs = ( {\n"
     "    cert = \"site.pem\";\n"
     "    key = \"missing.key\"; } ); } );\n",
     "@F@:4: key file '@D@/missing.key': No such file or directory"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\";\n"
     "  certs = ( {\n"
     "    cert = \"site.pem\";\n"
     "    key = \"other.key\"; } ); } );\n",
     "@F@:4: certificate does not match key (cert '@D@/site.pem', key '@D@/other.key')"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\";\n"
     "  certs = ( {\n"
     "    cert = \"site.pem\";\n"
     "    key = \"site.pem\"; } ); } );\n",
     "@F@:4: '@D@/site.pem' contains no PEM private key (or it is encrypted)"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\";\n"
     "  certs = ( {\n"
     "    cert = \"site.pem\"; } ); } );\n",
     "@F@:3: '@D@/site.pem' contains no PEM private key (or it is encrypted)"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\";\n"
     "  certs = ( {\n"
     "    cert = \"garbage.txt\";\n"
     "    key = \"site.key\"; } ); } );\n",
     "@F@:3: '@D@/garbage.txt' contains no PEM certificate"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\";\n"
     "  certs = ( {\n"
     "    cert = \"site.key\";\n"
     "    key = \"site.key\"; } ); } );\n",
     "@F@:3: '@D@/site.key' contains no PEM certificate"},
    {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\";\n"
     "  certs = ( { cert = \"site.pem\"; key = \"@D@\"; } ); } );\n",
     "@F@:2: key file '@D@' is not a regular file"},

    /* pidfile: a file whose folder exists (relative to the configuration's). */
    {"pidfile = 5;\n" FE, "@F@:1: 'pidfile' must be a string"},
    {FE "pidfile = \"run/\";\n", "@F@:2: 'pidfile' = \"run/\" names a folder, not a file"},
    {FE "pidfile = \"@D@\";\n", "@F@:2: pidfile '@D@' exists and is not a regular file"},
    {FE "pidfile = \"nodir/t.pid\";\n",
     "@F@:2: pidfile '@D@/nodir/t.pid': folder '@D@/nodir': No such file or directory"},
    {FE "pidfile = \"site.pem/t.pid\";\n",
     "@F@:2: pidfile '@D@/site.pem/t.pid': '@D@/site.pem' is not a folder"},

    /* Cross checks of the keyring. */
    {FE "tickets = {\n  rotate = 3600;\n  keep = 2;\n};\n",
     "@F@:4: 'tickets.keep' * 'tickets.rotate' = 2 * 3600 = 7200 s is shorter than "
     "'sessions.lifetime' = 64800 s: tickets would outlive their keys"},
    {FE "sessions = { lifetime = 100000; };\ntickets = { rotate = 3600; };\n",
     "@F@:3: 'tickets.keep' * 'tickets.rotate' = 18 * 3600 = 64800 s is shorter than "
     "'sessions.lifetime' = 100000 s: tickets would outlive their keys"},
    {FE "sessions = {\n  lifetime = 100000;\n};\n",
     "@F@:3: 'tickets.keep' * 'tickets.rotate' = 18 * 3600 = 64800 s is shorter than "
     "'sessions.lifetime' = 100000 s: tickets would outlive their keys"},
    {FE "sessions = { lifetime = 600; };\ntickets = {\n  rotate = 100; keep = 6;\n"
        "  refresh = 26;\n};\n",
     "@F@:5: 'tickets.refresh' = 26 must be at most 'tickets.rotate' / 4 = 25"},
    {FE "sessions = { lifetime = 600; };\ntickets = {\n  rotate = 20; keep = 30; };\n",
     "@F@:3: 'tickets.refresh' = 10 must be at most 'tickets.rotate' / 4 = 5"},

    /* PROXY protocol. */
    {FE_WITH(CERTS "\n proxy_protocol = \"v3\";"),
     "@F@:2: 'frontends[0].proxy_protocol' must be \"off\", \"v1\" or \"v2\" (got \"v3\")"},
    {FE_WITH(CERTS "\n accept_proxy = true;"),
     "@F@:2: 'frontends[0].proxy_from' is required with accept_proxy = true: the balancers' "
     "addresses (CIDRs)"},
    {FE_WITH(CERTS " accept_proxy = true;\n proxy_from = [ \"10.0.0.0/33\" ];"),
     "@F@:2: 'frontends[0].proxy_from' entry \"10.0.0.0/33\": prefix length above 32"},
    {FE_WITH(CERTS "\n accept_proxy = 1;"),
     "@F@:2: 'frontends[0].accept_proxy' must be a boolean (true or false)"},
    {FE_WITH(CERTS "\n proxy_from = \"10.0.0.0/8\";"),
     "@F@:2: 'frontends[0].proxy_from' must be an array of strings: [ \"...\", ... ]"},

    /* Admin endpoint. */
    {FE "admin = {\n  listen = \"0.0.0.0:9090\";\n};\n",
     "@F@:3: admin.listen is not loopback: admin.allow is required"},
    {FE "admin = { listen = \"[::]:9090\"; allow = [ ]; };\n",
     "@F@:2: admin.listen is not loopback: admin.allow is required"},
    {FE "admin = {\n  allow = [ \"127.0.0.0/8\",\n    \"10.0.0.0/33\" ];\n};\n",
     "@F@:4: 'admin.allow' entry \"10.0.0.0/33\": prefix length above 32"},
    {FE "admin = { allow = [ \"localhost\" ]; };\n",
     "@F@:2: 'admin.allow' entry \"localhost\": not a numeric IPv4 address"},
    {FE "admin = { listen = \"127.0.0.1\"; };\n",
     "@F@:2: 'admin.listen' = \"127.0.0.1\": missing port"},

    /* memcached. */
    {FE "sessions = { store = \"memcached\"; };\n"
        "memcached = {\n  secret_file = \"cluster.key\";\n};\n",
     "@F@:3: 'memcached.servers' must list at least one server when 'sessions.store' is "
     "\"memcached\""},
    {FE "sessions = { store = \"memcached\"; };\n",
     "@F@:2: 'memcached.servers' must list at least one server when 'sessions.store' is "
     "\"memcached\""},
    {FE "sessions = { store = \"memcached\"; };\n"
        "memcached = {\n  servers = [ \"127.0.0.1:11211\" ];\n};\n",
     "@F@:3: 'memcached.secret_file' is required when 'sessions.store' is \"memcached\""},
    {FE "memcached = { servers = [\n  \"127.0.0.1:11211\",\n  \"127.0.0.1\" ]; };\n",
     "@F@:4: 'memcached.servers' entry \"127.0.0.1\": missing port (expected \"host:port\")"},
    {FE "memcached = { servers = [ \"mc:0\" ]; };\n",
     "@F@:2: 'memcached.servers' entry \"mc:0\": port must be a number from 1 to 65535"},
    {FE "memcached = { servers = [ \"mc:65536\" ]; };\n",
     "@F@:2: 'memcached.servers' entry \"mc:65536\": port must be a number from 1 to 65535"},
    {FE "memcached = { servers = [ \"m c:11211\" ]; };\n",
     "@F@:2: 'memcached.servers' entry \"m c:11211\": bad host (expected \"host:port\"; IPv6 "
     "needs \"[address]:port\")"},
    {FE "memcached = { prefix = \"a b\"; };\n",
     "@F@:2: 'memcached.prefix' must not contain spaces or control characters"},
    {FE "memcached = { prefix = \"" /* 129 characters */
        "0123456789012345678901234567890123456789012345678901234567890123"
        "01234567890123456789012345678901234567890123456789012345678901234"
        "\"; };\n",
     "@F@:2: 'memcached.prefix' is longer than 128 characters"},
    {FE "memcached = { secret_file = \"nope.key\"; };\n",
     "@F@:2: secret file '@D@/nope.key': No such file or directory"},
    {FE "memcached = {\n  old_secret_files = [ \"old.key\",\n    \"gone.key\" ];\n};\n",
     "@F@:4: old secret file '@D@/gone.key': No such file or directory"},
    {FE "memcached = { secret_file = \"shared.key\"; };\n",
     "@F@:2: secret file '@D@/shared.key' is readable by group or others (chmod 600)"},
    {FE "memcached = {\n  secret_file = \"short.key\"; };\n",
     "@F@:3: secret file '@D@/short.key' must hold 64 hex digits (tessera --gen-secret)"},
    {FE "memcached = { old_secret_files = [\n \"shared.key\" ]; };\n",
     "@F@:3: old secret file '@D@/shared.key' is readable by group or others (chmod 600)"},
    {FE "memcached = {\n  options = \"--SERVER=10.0.0.1:11211\"; };\n",
     "@F@:3: 'memcached.options' must not set --SERVER: tessera sets it from memcached.servers, "
     "prefix and timeout_ms"},
    {FE "memcached = {\n  options = \"--binary-protocol --namespace=x\"; };\n",
     "@F@:3: 'memcached.options' must not set --NAMESPACE: tessera sets it from "
     "memcached.servers, prefix and timeout_ms"},
    {FE "memcached = {\n  options = \"--no-such-option\"; };\n",
     "@F@:3: 'memcached.options' is not a valid libmemcached option string "
     "(libmemcached_configuration(3))"},
    {FE "memcached = {\n  options = \"--POLL-TIMEOUT=5000\"; };\n",
     "@F@:3: 'memcached.options' must not set --POLL-TIMEOUT: tessera sets it from "
     "memcached.servers, prefix and timeout_ms"},
    /* user and group: names that exist (checked when the file is read). */
    {FE "\nuser = \"no-such-user-tessera\";\n",
     "@F@:3: 'user' = \"no-such-user-tessera\": no such user"},
    {FE "user = \"root\";\ngroup = \"no-such-group-tessera\";\n",
     "@F@:3: 'group' = \"no-such-group-tessera\": no such group"},
    {FE "group = \"root\";\n", "@F@:2: 'group' needs 'user'"},
    {FE "user = \"\";\n", "@F@:2: 'user' must not be empty"},
    {FE "user = \"root\"; group = \"\";\n", "@F@:2: 'group' must not be empty"},
    {FE "user = 0;\n", "@F@:2: 'user' must be a string"},

    /* admin.token_file: read like the cluster secret; never its content in a message. */
    {FE "admin = {\n  token_file = \"nope.token\"; };\n",
     "@F@:3: token file '@D@/nope.token': No such file or directory"},
    {FE "admin = { token_file =\n  \"open.token\"; };\n",
     "@F@:2: token file '@D@/open.token' is readable by group or others (chmod 600)"},
    {FE "admin = { token_file = \"short.token\"; };\n",
     "@F@:2: token file '@D@/short.token' must hold at least 16 characters (tessera --gen-secret "
     "makes one)"},
    {FE "admin = { token_file = \"space.token\"; };\n",
     "@F@:2: token file '@D@/space.token' must hold one line of visible ASCII characters (no "
     "spaces)"},
    {FE "admin = { token_file = \"two.token\"; };\n",
     "@F@:2: token file '@D@/two.token' must hold one line of visible ASCII characters (no "
     "spaces)"},
    {FE "admin = { token_file = \"big.token\"; };\n",
     "@F@:2: token file '@D@/big.token' holds more than 256 characters"},
    {FE "admin = {\n\n token_file = \".\"; };\n",
     "@F@:4: token file '@D@/.' is not a regular file"},
    {FE "admin = { token_file = 1; };\n", "@F@:2: 'admin.token_file' must be a string"},
};

/* Load each case as bad.conf; every one must fail with exactly its message. */
static void
test_bad_table(const struct bad_case *cases, size_t n)
{
    struct config unused;
    struct config *sentinel = &unused;
    char *file = test_path("bad.conf");
    unsigned failures = 0;

    for (size_t i = 0; i < n; i++) {
        struct config *cfg = sentinel;
        struct err err = {{0}};
        char *text = test_expand(cases[i].text, file);
        char *want = test_expand(cases[i].want, file);
        int rc = test_load("bad.conf", text, &cfg, &err);

        if (rc != -1 || cfg != sentinel || strcmp(err.msg, want) != 0) {
            print_message("case %zu:\n%s  rc   %d\n  got  %s\n  want %s\n", i, text, rc, err.msg,
                          want);
            if (rc == 0) {
                config_free(cfg);
            }
            failures++;
        }
        free(text);
        free(want);
    }
    free(file);
    print_message("%zu broken configurations checked, %u failed\n", n, failures);
    assert_int_equal(failures, 0);
}

static void
test_bad_configs(void **state)
{
    (void)state;
    test_write("inc-bad.conf", "workers = 1;\nlog = ;\n");
    test_write("inc-range.conf", "workers = 2000;\n");
    test_bad_table(bad_cases, ARRAY_SIZE(bad_cases));
}

/* ---- client certificates ----------------------------------------------------------------- */

static const struct bad_case client_bad_cases[] = {
    {FE_WITH(CERTS " client_verify = \"maybe\";"),
     "@F@:1: 'frontends[0].client_verify' must be \"none\", \"optional\" or \"required\" (got "
     "\"maybe\")"},
    {FE_WITH(CERTS " client_verify = true;"),
     "@F@:1: 'frontends[0].client_verify' must be a string"},
    {FE_WITH(CERTS "\n client_verify = \"required\";"),
     "@F@:2: 'frontends[0].client_ca' is required when client_verify is not \"none\""},
    {FE_WITH(CERTS " client_verify = \"optional\";\n client_ca = \"\";"),
     "@F@:2: 'frontends[0].client_ca' is required when client_verify is not \"none\""},
    {FE_WITH(CERTS "\n client_ca = \"site.pem\";"),
     "@F@:2: 'frontends[0].client_ca' needs client_verify = \"optional\" or \"required\""},
    {FE_WITH(CERTS " client_verify = \"none\";\n client_ca = \"site.pem\";"),
     "@F@:2: 'frontends[0].client_ca' needs client_verify = \"optional\" or \"required\""},
    {FE_WITH(CERTS "\n client_crl = \"site.crl\";"),
     "@F@:2: 'frontends[0].client_crl' needs client_ca"},
    {FE_WITH(CERTS " client_verify = \"required\";\n client_ca = 1;"),
     "@F@:2: 'frontends[0].client_ca' must be a string"},
    {FE_WITH(CERTS " client_verify = \"required\";\n client_ca = \"absent.pem\";"),
     "@F@:2: client CA file '@D@/absent.pem': No such file or directory"},
    {FE_WITH(CERTS " client_verify = \"required\";\n client_ca = \"site.key\";"),
     "@F@:2: 'frontends[0].client_ca': '@D@/site.key' contains no PEM certificate"},
    {FE_WITH(CERTS " client_verify = \"required\";\n client_ca = \"garbage.txt\";"),
     "@F@:2: 'frontends[0].client_ca': '@D@/garbage.txt' contains no PEM certificate"},
    {FE_WITH(CERTS " client_verify = \"required\"; client_ca = \"site.pem\";\n"
                   " client_crl = \"absent.crl\";"),
     "@F@:2: client CRL file '@D@/absent.crl': No such file or directory"},
    {FE_WITH(CERTS " client_verify = \"required\"; client_ca = \"site.pem\";\n"
                   " client_crl = \"site.pem\";"),
     "@F@:2: 'frontends[0].client_crl': '@D@/site.pem' contains no PEM CRL"},
    {FE_WITH(CERTS " client_verify = \"required\"; client_ca = \"site.pem\";\n"
                   " client_crl = \"forged.crl\";"),
     "@F@:2: 'frontends[0].client_crl': a CRL in '@D@/forged.crl' (issuer /CN=localhost) is not "
     "signed by a certificate of client_ca"},
};

/* The three keys: defaults, values, resolved paths, lines, cfg->files; then
 * each broken combination with its FILE:LINE message. */
static void
test_client_certs(void **state)
{
    static const char text[] =
        "frontends = (\n"
        "  { name = \"a\"; listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\";\n"
        "    certs = ( { cert = \"combo.pem\"; } ); },\n"
        "  { name = \"b\"; listen = \"127.0.0.1:3\"; backend = \"127.0.0.1:2\";\n"
        "    certs = ( { cert = \"combo.pem\"; } );\n"
        "    client_verify = \"optional\";\n"
        "    client_ca = \"site.pem\"; },\n"
        "  { name = \"c\"; listen = \"127.0.0.1:4\"; backend = \"127.0.0.1:2\";\n"
        "    certs = ( { cert = \"combo.pem\"; } );\n"
        "    client_verify = \"required\"; client_ca = \"@D@/site.pem\";\n"
        "    client_crl = \"site.crl\"; }\n"
        ");\n";
    struct config *cfg = NULL;
    struct err err = {{0}};
    char *expanded = test_expand(text, "");
    char *ca = test_path("site.pem");
    char *crl = test_path("site.crl");

    (void)state;
    if (test_load("client.conf", expanded, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    free(expanded);
    assert_int_equal(cfg->frontends[0].client_verify, CONFIG_CLIENT_VERIFY_NONE);
    assert_null(cfg->frontends[0].client_ca);
    assert_null(cfg->frontends[0].client_crl);
    assert_int_equal(cfg->frontends[1].client_verify, CONFIG_CLIENT_VERIFY_OPTIONAL);
    assert_string_equal(cfg->frontends[1].client_ca, ca);
    assert_int_equal(cfg->frontends[1].client_ca_line, 7);
    assert_null(cfg->frontends[1].client_crl);
    assert_int_equal(cfg->frontends[2].client_verify, CONFIG_CLIENT_VERIFY_REQUIRED);
    assert_string_equal(cfg->frontends[2].client_ca, ca);
    assert_int_equal(cfg->frontends[2].client_ca_line, 10);
    assert_string_equal(cfg->frontends[2].client_crl, crl);
    assert_int_equal(cfg->frontends[2].client_crl_line, 11);
    /* combo.pem, then the CA file once (two frontends name it), the CRL. */
    assert_int_equal(cfg->nfiles, 3);
    assert_string_equal(cfg->files[1].path, ca);
    assert_string_equal(cfg->files[1].what, "client CA file");
    assert_string_equal(cfg->files[2].path, crl);
    assert_string_equal(cfg->files[2].what, "client CRL file");
    config_free(cfg);
    free(ca);
    free(crl);

    test_bad_table(client_bad_cases, ARRAY_SIZE(client_bad_cases));
}

/* 65 frontends is one too many; 64 load. */
static void
test_frontend_count(void **state)
{
    struct config *cfg = NULL;
    struct err err = {{0}};
    char *text = strdup("frontends = (\n");
    char *want;

    (void)state;
    for (int i = 0; i < 65; i++) {
        char *next;

        if (asprintf(&next,
                     "%s%s{ name = \"f%d\"; listen = \"127.0.0.1:%d\"; backend = \"127.0.0.1:1\"; "
                     "certs = ( { cert = \"combo.pem\"; } ); }\n",
                     text, i == 0 ? "" : ",", i, 10000 + i) < 0) {
            fail_msg("out of memory");
        }
        free(text);
        text = next;
        if (i == 63) {
            char *ok;

            assert_true(asprintf(&ok, "%s);\n", text) > 0);
            if (test_load("count.conf", ok, &cfg, &err) != 0) {
                fail_msg("%s", err.msg);
            }
            assert_int_equal(cfg->nfrontends, 64);
            config_free(cfg);
            free(ok);
        }
    }
    char *full;
    assert_true(asprintf(&full, "%s);\n", text) > 0);
    free(text);
    assert_int_equal(test_load("count.conf", full, &cfg, &err), -1);
    free(full);
    want = test_expand("@D@/count.conf:1: 'frontends' must have 1 to 64 entries (got 65)", "");
    assert_string_equal(err.msg, want);
    free(want);
}

/* user/group resolve to ids (group: the user's primary one by default),
 * and cfg->files lists each file read once, with the line naming it. */
static void
test_run_as_and_files(void **state)
{
    static const char text[] =
        "user = \"root\";\n"
        "frontends = ( { listen = \"127.0.0.1:1\"; backend = \"127.0.0.1:2\";\n"
        "  certs = ( { cert = \"site.pem\";\n"
        "              key = \"site.key\"; },\n"
        "            { cert = \"combo.pem\"; } ); } );\n";
    struct config *cfg = NULL;
    struct err err = {{0}};
    char *file = test_path("runas.conf");
    char place[8192];

    (void)state;
    if (test_load("runas.conf", text, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(cfg->run_as.user, "root");
    assert_int_equal(cfg->run_as.uid, 0);
    assert_int_equal(cfg->run_as.gid, 0);
    assert_string_equal(cfg->run_as.group, "root");
    assert_int_equal(cfg->nfiles, 3); /* combo.pem holds its key: listed once */
    snprintf(place, sizeof(place), "%s:3", file);
    assert_string_equal(cfg->files[0].place, place);
    assert_string_equal(cfg->files[0].what, "certificate file");
    snprintf(place, sizeof(place), "%s:4", file);
    assert_string_equal(cfg->files[1].place, place);
    assert_string_equal(cfg->files[1].what, "key file");
    snprintf(place, sizeof(place), "%s/combo.pem", test_dir);
    assert_string_equal(cfg->files[2].path, place);
    config_free(cfg);

    if (test_load("runas.conf", "user = \"root\"; group = \"root\";\n" FE_PLAIN, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(cfg->run_as.group, "root");
    config_free(cfg);

    /* Without user: nobody to become. */
    if (test_load("runas.conf", FE_PLAIN, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_null(cfg->run_as.user);
    config_free(cfg);
    free(file);
}

static void
test_err_set(void **state)
{
    struct err err;
    char big[2000];

    (void)state;
    err_set(&err, "%s:%d: %s", "f.conf", 7, "bad");
    assert_string_equal(err.msg, "f.conf:7: bad");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&err, "%s", big);
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
    err_set(NULL, "ignored %d", 1);
    config_free(NULL);
}

/* reload_restart_needed: what a reload cannot apply is named, the rest not. */
/* The token file gives a digest that matches the token (with or without
 * its newline) and nothing else, whatever the length presented. */
static void
test_token_file(void **state)
{
    static const char token[] = "s3cr3t-t0ken-0123456789abcdef";
    struct config *cfg = NULL;
    struct err err = {{0}};
    char *want = test_path("admin.token");

    (void)state;
    if (test_load("token.conf", FE_PLAIN "admin = { token_file = \"admin.token\"; };\n", &cfg,
                  &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_true(cfg->admin.has_token);
    assert_string_equal(cfg->admin.token_file, want);
    assert_true(token_matches(cfg->admin.token_digest, token, strlen(token)));
    assert_false(token_matches(cfg->admin.token_digest, token, strlen(token) - 1));
    assert_false(token_matches(cfg->admin.token_digest, "s3cr3t-t0ken-0123456789abcdeF", 29));
    assert_false(token_matches(cfg->admin.token_digest, "", 0));
    assert_false(token_matches(cfg->admin.token_digest, NULL, 0));
    /* The digest is not the token: no byte of it is kept. */
    assert_null(memmem(cfg->admin.token_digest, sizeof(cfg->admin.token_digest), "s3cr3t", 6));
    config_free(cfg);
    free(want);

    if (test_load("token.conf", FE_PLAIN "admin = { token_file = \"admin-nonl.token\"; };\n", &cfg,
                  &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_true(token_matches(cfg->admin.token_digest, token, strlen(token)));
    config_free(cfg);
}

static void
test_restart_needed(void **state)
{
    static const char base[] =
        "workers = 2;\n"
        "frontends = ( { listen = \"*:8443\"; backend = \"127.0.0.1:8080\";\n"
        "                certs = ( { cert = \"site.pem\"; key = \"site.key\"; } ); } );\n";
    static const struct {
        const char *extra; /* appended to base (a duplicate key replaces nothing: own files) */
        const char *want;
    } cases[] = {
        {"", ""},
        {"timeouts = { idle = 30; };\n", ""},
        {"tls = { min_version = \"TLSv1.3\"; };\n", ""},
        {"max_connections = 10;\n", "max_connections"},
        {"log = { level = \"debug\"; };\n", "log"},
        {"sessions = { tickets = false; };\n", "sessions.tickets"},
        {"tickets = { refresh = 5; };\n", "tickets"},
        {"admin = { listen = \"127.0.0.1:9091\"; };\n", "admin"},
        /* The token is applied by the reload itself (admin_set_token). */
        {"admin = { token_file = \"admin.token\"; };\n", ""},
        {"pidfile = \"tessera.pid\";\ntickets = { refresh = 5; };\n", "pidfile, tickets"},
    };
    struct config *a = NULL;
    struct err err = {{0}};
    char names[256];

    (void)state;
    if (test_load("running.conf", base, &a, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *b = NULL;
        char text[1024];
        snprintf(text, sizeof(text), "%s%s", base, cases[i].extra);
        if (test_load("next.conf", text, &b, &err) != 0) {
            fail_msg("case %zu: %s", i, err.msg);
        }
        size_t n = reload_restart_needed(a, b, names, sizeof(names));
        if (strcmp(names, cases[i].want) != 0) {
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, names, cases[i].want);
        }
        assert_int_equal(n, cases[i].want[0] == '\0' ? 0 : (strchr(cases[i].want, ',') ? 2 : 1));
        config_free(b);
    }
    /* workers differ (base has 2): named */
    struct config *b = NULL;
    if (test_load("next.conf", base, &b, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    b->workers = 3;
    assert_int_equal(reload_restart_needed(a, b, names, sizeof(names)), 1);
    assert_string_equal(names, "workers");
    config_free(b);
    config_free(a);
}

/* trim_due: memory is given back once a surge has ended, not on every dip. */
static void
test_trim_due(void **state)
{
    struct trim t = {0};

    (void)state;
    assert_false(trim_due(&t, 100));
    assert_false(trim_due(&t, 5000)); /* the surge */
    assert_false(trim_due(&t, 3000)); /* still above half */
    assert_true(trim_due(&t, 2000));  /* ended: 3000 fewer, at most half */
    assert_false(trim_due(&t, 1500)); /* the peak starts again from 2000: 500 below */
    assert_true(trim_due(&t, 900));   /* 1100 below it, and under half */
    assert_false(trim_due(&t, 400));  /* peak 900: 500 below */
    assert_false(trim_due(&t, 0));    /* 900 below: fewer than TRIM_MIN_DROP */
}

/* ---- OCSP ------------------------------------------------------------------------------- */

/* A certificate for `key` named `cn`: a CA when `ca` is NULL (self-signed),
 * else a leaf that `ca` signs, with an OCSP responder `aia` (may be NULL). */
static X509 *
ocsp_make_cert(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key, long serial,
               const char *aia, const char *eku)
{
    X509 *x = X509_new();
    X509V3_CTX v3;
    char uri[128];
    struct {
        int nid;
        const char *value;
    } ext[4];
    size_t n = 0;

    if (x == NULL || X509_set_version(x, 2) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL || X509_set_pubkey(x, key) != 1 ||
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(ca != NULL ? ca : x)) != 1) {
        fail_msg("cannot build certificate %s", cn);
    }
    if (ca == NULL) {
        ext[n++] = (typeof(ext[0])){NID_basic_constraints, "critical,CA:TRUE"};
        ext[n++] = (typeof(ext[0])){NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"};
    } else {
        ext[n++] = (typeof(ext[0])){NID_basic_constraints, "CA:FALSE"};
        if (aia != NULL) {
            snprintf(uri, sizeof(uri), "OCSP;URI:%s", aia);
            ext[n++] = (typeof(ext[0])){NID_info_access, uri};
        }
        if (eku != NULL) {
            ext[n++] = (typeof(ext[0])){NID_ext_key_usage, eku};
        }
    }
    X509V3_set_ctx(&v3, ca != NULL ? ca : x, x, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, ext[i].nid, ext[i].value);
        if (e == NULL || X509_add_ext(x, e, -1) != 1) {
            fail_msg("cannot add an extension to %s", cn);
        }
        X509_EXTENSION_free(e);
    }
    if (X509_sign(x, ca_key != NULL ? ca_key : key, EVP_sha256()) == 0) {
        fail_msg("cannot sign %s", cn);
    }
    return x;
}

/* Write a DER response about `leaf` (issued by `ca`) as `name`: `status`
 * (V_OCSP_CERTSTATUS_*), thisUpdate and nextUpdate `this_off` and
 * `next_off` seconds from now, signed by `signer` with `skey`. */
static void
ocsp_make_response(const char *name, X509 *leaf, X509 *ca, int status, long this_off, long next_off,
                   X509 *signer, EVP_PKEY *skey)
{
    time_t now = time(NULL);
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, ca);
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    ASN1_GENERALIZEDTIME *thisupd = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, this_off);
    ASN1_GENERALIZEDTIME *nextupd = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, next_off);
    ASN1_GENERALIZEDTIME *revtime = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, -3600);
    bool revoked = status == V_OCSP_CERTSTATUS_REVOKED;
    OCSP_RESPONSE *resp = NULL;
    unsigned char *der = NULL;
    char *path = test_path(name);
    FILE *f;
    int len = 0;

    if (id == NULL || bs == NULL || thisupd == NULL || nextupd == NULL || revtime == NULL ||
        OCSP_basic_add1_status(bs, id, status, revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
                               revoked ? revtime : NULL, thisupd, nextupd) == NULL ||
        OCSP_basic_sign(bs, signer, skey, EVP_sha256(), NULL, 0) != 1 ||
        (resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) == NULL ||
        (len = i2d_OCSP_RESPONSE(resp, &der)) <= 0) {
        fail_msg("cannot build the response %s", name);
    }
    f = fopen(path, "wb");
    if (f == NULL || fwrite(der, 1, (size_t)len, f) != (size_t)len || fclose(f) != 0) {
        fail_msg("cannot write %s", path);
    }
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
    ASN1_GENERALIZEDTIME_free(thisupd);
    ASN1_GENERALIZEDTIME_free(nextupd);
    ASN1_GENERALIZEDTIME_free(revtime);
    OCSP_BASICRESP_free(bs);
    OCSP_CERTID_free(id);
    free(path);
}

/* Fixtures: a CA; "ocsp.pem" (leaf with a responder URL, then the CA) and
 * "noaia.pem" (leaf without one, then the CA), both for "ocsp.key"; and
 * responses for the first leaf: good, expired, revoked, signed by a
 * stranger, and a good one for the other leaf. */
static void
ocsp_fixtures(void)
{
    EVP_PKEY *ca_key = test_gen_key();
    EVP_PKEY *key = test_gen_key();
    EVP_PKEY *evil_key = test_gen_key();
    EVP_PKEY *rkey = test_gen_key();
    X509 *ca = ocsp_make_cert(ca_key, "Test CA", NULL, NULL, 1, NULL, NULL);
    X509 *evil = ocsp_make_cert(evil_key, "Test CA", NULL, NULL, 1, NULL, NULL);
    X509 *leaf = ocsp_make_cert(key, "ocsp.test", ca, ca_key, 2, "http://127.0.0.1:1/", NULL);
    X509 *noaia = ocsp_make_cert(key, "noaia.test", ca, ca_key, 3, NULL, NULL);
    /* Responders the CA delegated to: with id-kp-OCSPSigning, and without. */
    X509 *responder = ocsp_make_cert(rkey, "responder", ca, ca_key, 4, NULL, "OCSPSigning");
    X509 *server = ocsp_make_cert(rkey, "not a responder", ca, ca_key, 5, NULL, "serverAuth");
    const int good = V_OCSP_CERTSTATUS_GOOD;
    char *path = test_path("ocsp.pem");
    BIO *bio = BIO_new_file(path, "w");

    if (bio == NULL || PEM_write_bio_X509(bio, leaf) != 1 || PEM_write_bio_X509(bio, ca) != 1) {
        fail_msg("cannot write ocsp.pem");
    }
    BIO_free(bio);
    free(path);
    path = test_path("noaia.pem");
    bio = BIO_new_file(path, "w");
    if (bio == NULL || PEM_write_bio_X509(bio, noaia) != 1 || PEM_write_bio_X509(bio, ca) != 1) {
        fail_msg("cannot write noaia.pem");
    }
    BIO_free(bio);
    free(path);
    test_write_pem("ocsp.key", NULL, key);
    path = test_path("cache");
    if (mkdir(path, 0700) != 0) {
        fail_msg("cannot make %s", path);
    }
    free(path);
    test_write_pem("ocsp-leaf.pem", leaf, NULL);
    ocsp_make_response("good.der", leaf, ca, good, -60, 86400, ca, ca_key);
    ocsp_make_response("expired.der", leaf, ca, good, -2 * 86400, -86400, ca, ca_key);
    ocsp_make_response("revoked.der", leaf, ca, V_OCSP_CERTSTATUS_REVOKED, -60, 86400, ca, ca_key);
    ocsp_make_response("stranger.der", leaf, ca, good, -60, 86400, evil, evil_key);
    ocsp_make_response("other.der", noaia, ca, good, -60, 86400, ca, ca_key);
    ocsp_make_response("delegated.der", leaf, ca, good, -60, 86400, responder, rkey);
    ocsp_make_response("undelegated.der", leaf, ca, good, -60, 86400, server, rkey);
    X509_free(responder);
    X509_free(server);
    EVP_PKEY_free(rkey);
    X509_free(ca);
    X509_free(evil);
    X509_free(leaf);
    X509_free(noaia);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    EVP_PKEY_free(evil_key);
}

#define OCSP_FE(ocsp)                                                                              \
    "frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\"; certs = ( "        \
    "{ cert = \"ocsp.pem\"; key = \"ocsp.key\"; ocsp = " ocsp "; } ); } );\n"

/* ocsp = FILE | "auto" and the ocsp group: what loads, and every refusal
 * with its FILE:LINE. */
static void
test_ocsp_config(void **state)
{
    static const struct bad_case cases[] = {
        {OCSP_FE("\"other.der\""), "@F@:1: 'frontends[0].certs[0].ocsp': '@D@/other.der' has no "
                                   "status for '@D@/ocsp.pem' (another certificate's?)"},
        {OCSP_FE("\"revoked.der\""), "@F@:1: 'frontends[0].certs[0].ocsp': '@D@/revoked.der' says "
                                     "'@D@/ocsp.pem' is revoked (or unknown to the responder)"},
        {OCSP_FE("\"stranger.der\""), "@F@:1: 'frontends[0].certs[0].ocsp': '@D@/stranger.der' is "
                                      "not signed by the issuer of '@D@/ocsp.pem'"},
        {OCSP_FE("\"ocsp.key\""),
         "@F@:1: 'frontends[0].certs[0].ocsp': '@D@/ocsp.key' is not a successful DER OCSP "
         "response"},
        {OCSP_FE("\"gone.der\""), "@F@:1: OCSP response file '@D@/gone.der': No such file or "
                                  "directory"},
        {OCSP_FE("\"\""), "@F@:1: 'frontends[0].certs[0].ocsp' must not be empty"},
        {OCSP_FE("\"auto\""), "@F@:1: 'frontends[0].certs[0].ocsp' = \"auto\" needs "
                              "'ocsp.cache' (a folder for the fetched responses)"},
        {OCSP_FE("5"), "@F@:1: 'frontends[0].certs[0].ocsp' must be a string"},
        {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\"; certs = ( "
         "{ cert = \"noaia.pem\"; key = \"ocsp.key\"; ocsp = \"auto\"; } ); } );\n"
         "ocsp = { cache = \"@D@\"; };\n",
         "@F@:1: 'frontends[0].certs[0].ocsp' = \"auto\": '@D@/noaia.pem' names no http(s) OCSP "
         "responder in its authorityInfoAccess"},
        {"frontends = ( { listen = \"127.0.0.1:8443\"; backend = \"127.0.0.1:8080\"; certs = ( "
         "{ cert = \"ocsp-leaf.pem\"; key = \"ocsp.key\"; ocsp = \"good.der\"; } ); } );\n",
         "@F@:1: 'frontends[0].certs[0].ocsp' needs the issuer's certificate after the leaf in "
         "'@D@/ocsp-leaf.pem' (a response is checked against it)"},
        {OCSP_FE("\"good.der\"") "ocsp = {\n  cache = \"site.pem\"; };\n",
         "@F@:3: 'ocsp.cache' = \"@D@/site.pem\" is not a folder"},
        {OCSP_FE("\"good.der\"") "ocsp = { cache = \"nowhere\"; };\n",
         "@F@:2: 'ocsp.cache' = \"@D@/nowhere\": No such file or directory"},
        {OCSP_FE("\"good.der\"") "ocsp = { cache = \"\"; };\n",
         "@F@:2: 'ocsp.cache' must not be empty"},
        {OCSP_FE("\"good.der\"") "ocsp = { timeout = 0; };\n",
         "@F@:2: 'ocsp.timeout' must be between 1 and 60 (got 0)"},
        {OCSP_FE("\"good.der\"") "ocsp = { refresh = 10; };\n",
         "@F@:2: unknown setting 'refresh' in 'ocsp'"},
    };
    char *file = test_path("ocsp.conf");
    struct config *cfg = NULL;
    struct err err = {{0}};

    (void)state;
    ocsp_fixtures();
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *text = test_expand(cases[i].text, file);
        char *want = test_expand(cases[i].want, file);
        struct config *sentinel = NULL;

        err.msg[0] = '\0';
        if (test_load("ocsp.conf", text, &sentinel, &err) == 0) {
            config_free(sentinel);
            fail_msg("case %zu loaded:\n%s", i, text);
        }
        if (strcmp(err.msg, want) != 0) {
            fail_msg("case %zu:\n got  %s\n want %s", i, err.msg, want);
        }
        free(text);
        free(want);
    }

    /* A good file; an expired one loads too (files age: start-up reports it). */
    char *text = test_expand(OCSP_FE("\"good.der\""), file);
    if (test_load("ocsp.conf", text, &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    free(text);
    char *want = test_path("good.der");
    assert_string_equal(cfg->frontends[0].certs[0].ocsp_file, want);
    assert_false(cfg->frontends[0].certs[0].ocsp_auto);
    assert_null(cfg->ocsp.cache);
    assert_int_equal(cfg->ocsp.timeout, 5);
    free(want);
    config_free(cfg);
    cfg = NULL;
    if (test_load("ocsp.conf", OCSP_FE("\"expired.der\""), &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    config_free(cfg);
    cfg = NULL;

    /* auto, with the cache folder relative to the file. */
    if (test_load("ocsp.conf", OCSP_FE("\"auto\"") "ocsp = { cache = \"cache\"; timeout = 2; };\n",
                  &cfg, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    assert_true(cfg->frontends[0].certs[0].ocsp_auto);
    assert_null(cfg->frontends[0].certs[0].ocsp_file);
    want = test_path("cache");
    assert_string_equal(cfg->ocsp.cache, want);
    free(want);
    assert_int_equal(cfg->ocsp.timeout, 2);
    config_free(cfg);
    free(file);
}

/* ocsp_check's verdicts at an injected time, and the refresh schedule. */
static void
test_ocsp_check_and_schedule(void **state)
{
    char *ppath = test_path("ocsp.pem");
    BIO *bio = BIO_new_file(ppath, "r");
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    char *dpath = test_path("good.der");
    unsigned char *der = NULL;
    size_t len = 0;
    struct ocsp_times t;
    time_t now = time(NULL);

    (void)state;
    BIO_free(bio);
    assert_non_null(leaf);
    assert_non_null(ca);
    assert_int_equal(ocsp_read_file(dpath, &der, &len), 0);
    assert_int_equal(ocsp_check(der, len, leaf, ca, now, &t), OCSP_RESP_OK);
    assert_true(t.this_update <= now && t.next_update > now + 86000);
    /* Expired once nextUpdate is reached; too early beyond the skew. */
    assert_int_equal(ocsp_check(der, len, leaf, ca, t.next_update, &t), OCSP_RESP_EXPIRED);
    assert_int_equal(ocsp_check(der, len, leaf, ca, t.next_update - 1, &t), OCSP_RESP_OK);
    assert_int_equal(ocsp_check(der, len, leaf, ca, t.this_update - OCSP_SKEW_S - 1, &t),
                     OCSP_RESP_EXPIRED);
    assert_int_equal(ocsp_check(der, len, leaf, ca, t.this_update - OCSP_SKEW_S, &t), OCSP_RESP_OK);
    /* Any byte cut off is malformed. */
    assert_int_equal(ocsp_check(der, len - 1, leaf, ca, now, &t), OCSP_RESP_MALFORMED);
    /* Checked against the leaf as its own issuer: not signed by it. */
    assert_int_equal(ocsp_check(der, len, leaf, leaf, now, &t), OCSP_RESP_UNVERIFIED);
    free(der);
    free(dpath);

    /* RFC 6960 4.2.2.2: a responder the issuer made for OCSP signing may
     * sign; one without id-kp-OCSPSigning may not. */
    dpath = test_path("delegated.der");
    assert_int_equal(ocsp_read_file(dpath, &der, &len), 0);
    assert_int_equal(ocsp_check(der, len, leaf, ca, now, &t), OCSP_RESP_OK);
    free(der);
    free(dpath);
    dpath = test_path("undelegated.der");
    assert_int_equal(ocsp_read_file(dpath, &der, &len), 0);
    assert_int_equal(ocsp_check(der, len, leaf, ca, now, &t), OCSP_RESP_UNVERIFIED);
    free(der);
    X509_free(leaf);
    X509_free(ca);
    free(ppath);
    free(dpath);

    /* Half of the validity left, bounded; retries double up to a bound, and
     * never wait past the success schedule while a staple is in use. */
    assert_int_equal(ocsp_next_fetch(1000, 1000 + 3600, 0), 1000 + 1800);
    assert_int_equal(ocsp_next_fetch(1000, 1000 + 7 * 86400, 0), 1000 + OCSP_REFRESH_MAX_S);
    assert_int_equal(ocsp_next_fetch(1000, 1000 + 4, 0), 1000 + OCSP_REFRESH_MIN_S);
    assert_int_equal(ocsp_next_fetch(1000, 0, 0), 1000 + OCSP_REFRESH_MIN_S);
    assert_int_equal(ocsp_next_fetch(1000, 0, 1), 1000 + OCSP_RETRY_MIN_S);
    assert_int_equal(ocsp_next_fetch(1000, 0, 2), 1000 + 2 * OCSP_RETRY_MIN_S);
    assert_int_equal(ocsp_next_fetch(1000, 0, 3), 1000 + 4 * OCSP_RETRY_MIN_S);
    assert_int_equal(ocsp_next_fetch(1000, 0, 40), 1000 + OCSP_RETRY_MAX_S);
    assert_int_equal(ocsp_next_fetch(1000, 1000 + 7 * 86400, 40), 1000 + OCSP_RETRY_MAX_S);
    assert_int_equal(ocsp_next_fetch(1000, 1000 + 100, 40), 1000 + 50);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_early_data),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_client_certs),
        cmocka_unit_test(test_frontend_count),
        cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_run_as_and_files),
        cmocka_unit_test(test_token_file),
        cmocka_unit_test(test_restart_needed),
        cmocka_unit_test(test_trim_due),
        cmocka_unit_test(test_ocsp_config),
        cmocka_unit_test(test_ocsp_check_and_schedule),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
