/*
 * test_certs.c - unit tests for certs.c: exact and wildcard SNI lookup,
 * normalisation, first-wins, name validation, and names taken from
 * certificates made here with OpenSSL.
 *
 * Single-threaded.  Each test builds its own table and frees it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"

static int
setup_table(void **state)
{
    struct certs *c = certs_new();

    if (c == NULL) {
        return -1;
    }
    *state = c;
    return 0;
}

static int
teardown_table(void **state)
{
    certs_free(*state);
    return 0;
}

static void
test_exact(void **state)
{
    struct certs *c = *state;

    assert_int_equal(certs_add_name(c, "www.example.com", 0), 0);
    assert_int_equal(certs_add_name(c, "api.example.com", 1), 0);
    assert_int_equal(certs_add_name(c, "localhost", 2), 0);
    assert_int_equal(certs_count(c), 3);
    assert_int_equal(certs_lookup(c, "www.example.com"), 0);
    assert_int_equal(certs_lookup(c, "api.example.com"), 1);
    assert_int_equal(certs_lookup(c, "localhost"), 2);
    /* Unknown names, and names that only share a suffix or a prefix. */
    assert_int_equal(certs_lookup(c, "mail.example.com"), -1);
    assert_int_equal(certs_lookup(c, "example.com"), -1);
    assert_int_equal(certs_lookup(c, "www.example.co"), -1);
    assert_int_equal(certs_lookup(c, "www.example.com.au"), -1);
    assert_int_equal(certs_lookup(c, "xwww.example.com"), -1);
}

static void
test_many_names_sorted(void **state)
{
    struct certs *c = *state;
    char name[64];

    /* Inserted in an order that is neither sorted nor reversed. */
    for (int i = 0; i < 200; i++) {
        int k = (i * 37) % 200;

        snprintf(name, sizeof(name), "host%d.example.com", k);
        assert_int_equal(certs_add_name(c, name, k), 0);
    }
    assert_int_equal(certs_count(c), 200);
    for (int k = 0; k < 200; k++) {
        snprintf(name, sizeof(name), "HOST%d.example.com.", k);
        assert_int_equal(certs_lookup(c, name), k);
    }
    assert_int_equal(certs_lookup(c, "host200.example.com"), -1);
}

static void
test_no_sni(void **state)
{
    struct certs *c = *state;

    assert_int_equal(certs_lookup(c, NULL), -1);
    assert_int_equal(certs_lookup(c, ""), -1);
    assert_int_equal(certs_add_name(c, "example.com", 0), 0);
    assert_int_equal(certs_add_name(c, "*.example.com", 1), 0);
    assert_int_equal(certs_lookup(c, NULL), -1);
    assert_int_equal(certs_lookup(c, ""), -1);
    assert_int_equal(certs_lookup(c, "."), -1);
}

static void
test_wildcard(void **state)
{
    struct certs *c = *state;

    assert_int_equal(certs_add_name(c, "*.example.com", 3), 0);
    assert_int_equal(certs_lookup(c, "a.example.com"), 3);
    assert_int_equal(certs_lookup(c, "www.example.com"), 3);
    assert_int_equal(certs_lookup(c, "x-1_y.example.com"), 3);
    /* One label only: not the bare domain, not two labels. */
    assert_int_equal(certs_lookup(c, "example.com"), -1);
    assert_int_equal(certs_lookup(c, "a.b.example.com"), -1);
    assert_int_equal(certs_lookup(c, ".example.com"), -1);
    assert_int_equal(certs_lookup(c, "a.example.org"), -1);
    assert_int_equal(certs_lookup(c, "aexample.com"), -1);
    /* A client cannot ask for the wildcard itself. */
    assert_int_equal(certs_lookup(c, "*.example.com"), -1);
}

static void
test_exact_beats_wildcard(void **state)
{
    struct certs *c = *state;

    assert_int_equal(certs_add_name(c, "*.example.com", 1), 0);
    assert_int_equal(certs_add_name(c, "www.example.com", 2), 0);
    assert_int_equal(certs_add_name(c, "*.b.example.com", 4), 0);
    assert_int_equal(certs_lookup(c, "www.example.com"), 2);
    assert_int_equal(certs_lookup(c, "mail.example.com"), 1);
    assert_int_equal(certs_lookup(c, "a.b.example.com"), 4);
    assert_int_equal(certs_lookup(c, "b.example.com"), 1);
    assert_int_equal(certs_lookup(c, "a.a.b.example.com"), -1);
}

static void
test_case_and_trailing_dot(void **state)
{
    struct certs *c = *state;

    assert_int_equal(certs_add_name(c, "WWW.Example.COM", 0), 0);
    assert_int_equal(certs_add_name(c, "*.Wild.Example.org.", 1), 0);
    assert_int_equal(certs_lookup(c, "www.example.com"), 0);
    assert_int_equal(certs_lookup(c, "www.EXAMPLE.com"), 0);
    assert_int_equal(certs_lookup(c, "www.example.com."), 0);
    assert_int_equal(certs_lookup(c, "A.WILD.example.ORG"), 1);
    assert_int_equal(certs_lookup(c, "a.wild.example.org."), 1);
    /* Only one trailing dot is stripped. */
    assert_int_equal(certs_lookup(c, "www.example.com.."), -1);
    /* A trailing-dot registration of a held name is the same name. */
    assert_int_equal(certs_add_name(c, "www.example.com.", 5), 0);
    assert_int_equal(certs_count(c), 2);
    assert_int_equal(certs_lookup(c, "www.example.com"), 0);
}

static void
test_first_wins(void **state)
{
    struct certs *c = *state;

    assert_int_equal(certs_add_name(c, "www.example.com", 0), 0);
    assert_int_equal(certs_add_name(c, "*.example.com", 0), 0);
    assert_int_equal(certs_add_name(c, "www.example.com", 1), 0);
    assert_int_equal(certs_add_name(c, "WWW.EXAMPLE.COM", 2), 0);
    assert_int_equal(certs_add_name(c, "*.example.com", 1), 0);
    assert_int_equal(certs_count(c), 2);
    assert_int_equal(certs_lookup(c, "www.example.com"), 0);
    assert_int_equal(certs_lookup(c, "a.example.com"), 0);
}

static void
test_invalid_names(void **state)
{
    static const char *const bad[] = {
        "",
        ".",
        "..",
        ".example.com",
        "a..example.com",
        "www.example.com..",
        "*",
        "*.",
        "*.com",
        "*.com.",
        "a.*.com",
        "a.*.example.com",
        "*x.example.com",
        "x*.example.com",
        "w*w.example.com",
        "**.example.com",
        "*.*.example.com",
        "www.example.com*",
        "www example.com",
        "www.exam!ple.com",
        "www/example.com",
        "www.example.com:443",
        "caf\xc3\xa9.example.com",
        "tab\t.example.com",
    };
    struct certs *c = *state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (certs_add_name(c, bad[i], 0) != -1) {
            fail_msg("accepted invalid name \"%s\"", bad[i]);
        }
    }
    assert_int_equal(certs_add_name(c, NULL, 0), -1);
    assert_int_equal(certs_count(c), 0);
    assert_int_equal(certs_lookup(c, "a.com"), -1);
}

static void
test_length_limits(void **state)
{
    struct certs *c = *state;
    char label[70];
    char name[300];

    /* A 63-character label is the longest allowed. */
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(name, sizeof(name), "%s.example.com", label);
    assert_int_equal(certs_add_name(c, name, 0), 0);
    assert_int_equal(certs_lookup(c, name), 0);
    memset(label, 'b', 64);
    label[64] = '\0';
    snprintf(name, sizeof(name), "%s.example.com", label);
    assert_int_equal(certs_add_name(c, name, 1), -1);
    assert_int_equal(certs_lookup(c, name), -1);

    /* 253 characters in all (63 + 1 + 63 + 1 + 63 + 1 + 61), with or without the root's dot. */
    memset(name, 'c', 253);
    name[63] = name[127] = name[191] = '.';
    name[253] = '\0';
    assert_int_equal(strlen(name), 253);
    assert_int_equal(certs_add_name(c, name, 2), 0);
    assert_int_equal(certs_lookup(c, name), 2);
    name[253] = '.';
    name[254] = '\0';
    assert_int_equal(certs_lookup(c, name), 2);
    /* 254 characters without the dot is too long. */
    name[253] = 'c';
    assert_int_equal(certs_add_name(c, name, 3), -1);
    assert_int_equal(certs_lookup(c, name), -1);
    /* A very long SNI is refused, not truncated into a match. */
    memset(name, 'c', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(certs_lookup(c, name), -1);
    assert_int_equal(certs_count(c), 2);
}

/* DNS SAN that an attacker could get signed for evil.com: "evil.com\0.example.com". */
static const char nul_name[] = "evil.com\0.example.com";

/* Append a DNS SAN of `len` bytes (-1: up to the NUL). */
static void
push_dns(GENERAL_NAMES *sans, const char *name, int len)
{
    GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

    assert_non_null(gen);
    assert_non_null(ia5);
    assert_int_equal(ASN1_STRING_set(ia5, name, len), 1);
    GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
    assert_true(sk_GENERAL_NAME_push(sans, gen) > 0);
}

/*
 * A minimal self-signed certificate with the given subject CNs and DNS SANs
 * (NULL-ended lists, either may be NULL), plus an IP SAN when `ip` is not
 * NULL and the NUL-embedding DNS SAN above when `with_nul_name`.
 */
static X509 *
make_cert(const char *const *cns, const char *const *dns, const char *ip, bool with_nul_name)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *subject;

    assert_non_null(pkey);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, pkey), 1);
    subject = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                                (const unsigned char *)"tessera tests", -1, -1, 0),
                     1);
    for (; cns != NULL && *cns != NULL; cns++) {
        assert_int_equal(X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                                    (const unsigned char *)*cns, -1, -1, 0),
                         1);
    }
    assert_int_equal(X509_set_issuer_name(x, subject), 1);

    if ((dns != NULL && *dns != NULL) || ip != NULL || with_nul_name) {
        GENERAL_NAMES *sans = GENERAL_NAMES_new();

        assert_non_null(sans);
        for (; dns != NULL && *dns != NULL; dns++) {
            push_dns(sans, *dns, -1);
        }
        if (with_nul_name) {
            push_dns(sans, nul_name, (int)sizeof(nul_name) - 1);
        }
        if (ip != NULL) {
            GENERAL_NAME *gen = a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD, ip, 0);

            assert_non_null(gen);
            assert_true(sk_GENERAL_NAME_push(sans, gen) > 0);
        }
        assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT),
                         1);
        GENERAL_NAMES_free(sans);
    }
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    EVP_PKEY_free(pkey);
    return x;
}

static void
test_x509_san(void **state)
{
    static const char *const cns[] = {"ignored.example.net", NULL};
    static const char *const dns[] = {
        "www.example.com", "*.example.org", "Mixed.Case.example.com", "bad..name", "*.com", NULL,
    };
    struct certs *c = *state;
    X509 *x = make_cert(cns, dns, "127.0.0.1", true);

    assert_int_equal(certs_add_x509(c, x, 7), 3);
    assert_int_equal(certs_count(c), 3);
    assert_int_equal(certs_lookup(c, "www.example.com"), 7);
    assert_int_equal(certs_lookup(c, "mixed.case.example.com"), 7);
    assert_int_equal(certs_lookup(c, "shop.example.org"), 7);
    assert_int_equal(certs_lookup(c, "example.org"), -1);
    /* A name with an embedded NUL is refused whole (CVE-2009-2408 style). */
    assert_int_equal(certs_lookup(c, "evil.com"), -1);
    /* The CN is ignored when there is a DNS SAN (RFC 6125 6.4.4). */
    assert_int_equal(certs_lookup(c, "ignored.example.net"), -1);
    assert_int_equal(certs_lookup(c, "127.0.0.1"), -1);
    X509_free(x);
}

static void
test_x509_cn_only(void **state)
{
    static const char *const cns[] = {"cn-only.example.net", NULL};
    static const char *const two_cns[] = {"one.example.net", "Two.Example.Net", NULL};
    struct certs *c = *state;
    X509 *x = make_cert(cns, NULL, NULL, false);
    X509 *y = make_cert(two_cns, NULL, NULL, false);

    assert_int_equal(certs_add_x509(c, x, 1), 1);
    assert_int_equal(certs_lookup(c, "cn-only.example.net"), 1);
    assert_int_equal(certs_add_x509(c, y, 2), 2);
    assert_int_equal(certs_lookup(c, "one.example.net"), 2);
    assert_int_equal(certs_lookup(c, "two.example.net"), 2);
    /* The same certificate again (an RSA/ECDSA twin): names still count, contexts stay first. */
    assert_int_equal(certs_add_x509(c, x, 3), 1);
    assert_int_equal(certs_lookup(c, "cn-only.example.net"), 1);
    assert_int_equal(certs_count(c), 3);
    X509_free(x);
    X509_free(y);
}

static void
test_x509_ip_san_uses_cn(void **state)
{
    static const char *const cns[] = {"fallback.example.net", NULL};
    static const char *const bad_cn[] = {"not a host name", NULL};
    struct certs *c = *state;
    /* A SAN extension with no DNS entry: the CN still applies. */
    X509 *x = make_cert(cns, NULL, "::1", false);
    X509 *y = make_cert(bad_cn, NULL, NULL, false);
    X509 *z = make_cert(NULL, NULL, NULL, false);

    assert_int_equal(certs_add_x509(c, x, 4), 1);
    assert_int_equal(certs_lookup(c, "fallback.example.net"), 4);
    /* Invalid or missing names are skipped, not fatal. */
    assert_int_equal(certs_add_x509(c, y, 5), 0);
    assert_int_equal(certs_add_x509(c, z, 6), 0);
    assert_int_equal(certs_count(c), 1);
    X509_free(x);
    X509_free(y);
    X509_free(z);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exact, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_many_names_sorted, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_no_sni, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_wildcard, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_exact_beats_wildcard, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_case_and_trailing_dot, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_first_wins, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_invalid_names, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_length_limits, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_x509_san, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_x509_cn_only, setup_table, teardown_table),
        cmocka_unit_test_setup_teardown(test_x509_ip_san_uses_cn, setup_table, teardown_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
