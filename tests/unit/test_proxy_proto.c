/*
 * test_proxy_proto.c - unit tests for proxy_proto.c: golden bytes of the v1
 * line and the v2 header (every TLV) for an IPv4, an IPv6 and a mixed pair,
 * written by hand from HAProxy's doc/proxy-protocol.txt (sections 2.1 and
 * 2.2), never produced by the encoder; round trips; a refusal for every
 * error reason; "need more" for every prefix of a valid header; a cap too
 * small; the 255-byte cut of string TLVs.
 *
 * Thread: the cmocka runner's only thread.  Ownership: every value lives on
 * the stack of its test, except the exact-size heap copies the parser reads
 * (so that ASan sees a read past `len`).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "proxy_proto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the fixed connections and their golden headers ---- */

static const char golden_v1_tcp4[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
static const char golden_v1_tcp6[] = "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n";
static const char golden_v1_mixed[] = "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 56324 443\r\n";
static const char golden_v1_unknown[] = "PROXY UNKNOWN\r\n";

/* clang-format off */

/* v2, 192.0.2.1:56324 -> 198.51.100.2:443: the 16-byte prefix and the
 * address block; golden_tlvs follow. */
static const unsigned char golden_v2_tcp4[] = {
    /* signature */
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    /* version 2 (high nibble), command PROXY (low nibble) */
    0x21,
    /* AF_INET (high nibble), STREAM (low nibble) */
    0x11,
    /* length, big-endian: 12 address bytes + 94 TLV bytes = 106 */
    0x00, 0x6a,
    /* source address 192.0.2.1 */
    0xc0, 0x00, 0x02, 0x01,
    /* destination address 198.51.100.2 */
    0xc6, 0x33, 0x64, 0x02,
    /* source port 56324 = 0xdc04 */
    0xdc, 0x04,
    /* destination port 443 = 0x01bb */
    0x01, 0xbb,
};

/* v2, [2001:db8::1]:56324 -> [2001:db8::2]:443. */
static const unsigned char golden_v2_tcp6[] = {
    /* signature */
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    /* version 2, command PROXY */
    0x21,
    /* AF_INET6, STREAM */
    0x21,
    /* length: 36 address bytes + 94 TLV bytes = 130 */
    0x00, 0x82,
    /* source address 2001:db8::1 */
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    /* destination address 2001:db8::2 */
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    /* source port 56324 */
    0xdc, 0x04,
    /* destination port 443 */
    0x01, 0xbb,
};

/* v2, 192.0.2.1:56324 -> [2001:db8::2]:443: the IPv4 end is sent as the
 * IPv4-mapped IPv6 address ::ffff:192.0.2.1 (RFC 4291 section 2.5.5.2). */
static const unsigned char golden_v2_mixed[] = {
    /* signature */
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    /* version 2, command PROXY */
    0x21,
    /* AF_INET6, STREAM */
    0x21,
    /* length: 36 + 94 = 130 */
    0x00, 0x82,
    /* source address ::ffff:192.0.2.1 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xff, 0xc0, 0x00, 0x02, 0x01,
    /* destination address 2001:db8::2 */
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    /* source port 56324 */
    0xdc, 0x04,
    /* destination port 443 */
    0x01, 0xbb,
};

/* The TLVs of golden_tls, in the order tessera sends them. */
static const unsigned char golden_tlvs[] = {
    /* PP2_TYPE_ALPN, length 2: "h2" */
    0x01, 0x00, 0x02,
    'h', '2',
    /* PP2_TYPE_AUTHORITY, length 15: "www.example.com" */
    0x02, 0x00, 0x0f,
    'w', 'w', 'w', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
    /* PP2_TYPE_SSL, length 68 = 1 + 4 + 10 + 9 + 25 + 9 + 10 */
    0x20, 0x00, 0x44,
    /*   client: PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS */
    0x07,
    /*   verify: 0, 32 bits big-endian */
    0x00, 0x00, 0x00, 0x00,
    /*   PP2_SUBTYPE_SSL_VERSION, length 7: "TLSv1.3" */
    0x21, 0x00, 0x07,
    'T', 'L', 'S', 'v', '1', '.', '3',
    /*   PP2_SUBTYPE_SSL_CN, length 6: "client" */
    0x22, 0x00, 0x06,
    'c', 'l', 'i', 'e', 'n', 't',
    /*   PP2_SUBTYPE_SSL_CIPHER, length 22: "TLS_AES_128_GCM_SHA256" */
    0x23, 0x00, 0x16,
    'T', 'L', 'S', '_', 'A', 'E', 'S', '_', '1', '2', '8', '_',
    'G', 'C', 'M', '_', 'S', 'H', 'A', '2', '5', '6',
    /*   PP2_SUBTYPE_SSL_SIG_ALG, length 6: "SHA256" */
    0x24, 0x00, 0x06,
    'S', 'H', 'A', '2', '5', '6',
    /*   PP2_SUBTYPE_SSL_KEY_ALG, length 7: "RSA2048" */
    0x25, 0x00, 0x07,
    'R', 'S', 'A', '2', '0', '4', '8',
};

/* v2 for an AF_UNIX pair, no TLVs: UNSPEC, no address bytes. */
static const unsigned char golden_v2_unspec[] = {
    /* signature */
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    /* version 2, command PROXY */
    0x21,
    /* AF_UNSPEC, UNSPEC */
    0x00,
    /* length 0 */
    0x00, 0x00,
};

/* clang-format on */

_Static_assert(sizeof(golden_v2_tcp4) == 16 + 12, "16-byte prefix, 12 address bytes");
_Static_assert(sizeof(golden_v2_tcp6) == 16 + 36, "16-byte prefix, 36 address bytes");
_Static_assert(sizeof(golden_v2_mixed) == 16 + 36, "16-byte prefix, 36 address bytes");
_Static_assert(sizeof(golden_tlvs) == 5 + 18 + 3 + 68, "ALPN, AUTHORITY, SSL");

static const unsigned char golden_alpn[] = {'h', '2'};
static const struct proxy_proto_tls golden_tls = {
    .alpn = golden_alpn,
    .alpn_len = sizeof(golden_alpn),
    .authority = "www.example.com",
    .client = PROXY_PROTO_CLIENT_SSL | PROXY_PROTO_CLIENT_CERT_CONN | PROXY_PROTO_CLIENT_CERT_SESS,
    .verify = 0,
    .version = "TLSv1.3",
    .cn = "client",
    .cipher = "TLS_AES_128_GCM_SHA256",
    .sig_alg = "SHA256",
    .key_alg = "RSA2048",
};

/* Fill `ss` with a numeric address (IPv6 if it holds a ':') and port. */
static void
set_end(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    }
}

static void
set_unix(struct sockaddr_storage *ss, const char *path)
{
    struct sockaddr_un *un = (struct sockaddr_un *)(void *)ss;

    memset(ss, 0, sizeof(*ss));
    un->sun_family = AF_UNIX;
    snprintf(un->sun_path, sizeof(un->sun_path), "%s", path);
}

static void
addrs_of(struct proxy_proto_addrs *a, const char *src, const char *dst)
{
    set_end(&a->src, src, 56324);
    set_end(&a->dst, dst, 443);
}

/* The golden v2 header: prefix and address block, then golden_tlvs. */
static size_t
golden_v2(const unsigned char *prefix, size_t n, unsigned char *out)
{
    memcpy(out, prefix, n);
    memcpy(out + n, golden_tlvs, sizeof(golden_tlvs));
    return n + sizeof(golden_tlvs);
}

/*
 * Parse buf[0..len) from a heap copy of exactly len bytes, so that a read
 * past len is an ASan report in the sanitizer pass.
 */
static ssize_t
parse_exact(const void *buf, size_t len, struct proxy_proto_header *h, enum proxy_proto_error *err)
{
    unsigned char *copy = malloc(len > 0 ? len : 1);
    ssize_t r;

    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, buf, len);
    }
    r = proxy_proto_parse(copy, len, h, err);
    free(copy);
    return r;
}

/* ---- golden bytes ---- */

struct golden_case {
    const char *name;
    const char *src, *dst;
    const char *v1;
    const unsigned char *v2;
    size_t v2_len;
};

static const struct golden_case golden_cases[] = {
    {"tcp4", "192.0.2.1", "198.51.100.2", golden_v1_tcp4, golden_v2_tcp4, sizeof(golden_v2_tcp4)},
    {"tcp6", "2001:db8::1", "2001:db8::2", golden_v1_tcp6, golden_v2_tcp6, sizeof(golden_v2_tcp6)},
    {"mixed", "192.0.2.1", "2001:db8::2", golden_v1_mixed, golden_v2_mixed,
     sizeof(golden_v2_mixed)},
};

static void
test_golden_v1(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(golden_cases); i++) {
        const struct golden_case *c = &golden_cases[i];
        struct proxy_proto_addrs a;
        char buf[PROXY_PROTO_V1_MAX];
        ssize_t n;

        addrs_of(&a, c->src, c->dst);
        n = proxy_proto_encode_v1(&a, buf, sizeof(buf));
        assert_int_equal(n, strlen(c->v1));
        if (memcmp(buf, c->v1, (size_t)n) != 0) {
            fail_msg("%s: %.*s", c->name, (int)n, buf);
        }
    }
}

/* Early data adds tessera's TLV (0xE0, one byte 0x01) after the others. */
static void
test_golden_v2_early_data(void **state)
{
    struct proxy_proto_addrs a;
    struct proxy_proto_tls tls = golden_tls;
    unsigned char want[PROXY_PROTO_OUT_MAX], buf[PROXY_PROTO_OUT_MAX];
    size_t want_len = golden_v2(golden_v2_tcp4, sizeof(golden_v2_tcp4), want);
    static const unsigned char tlv[] = {0xe0, 0x00, 0x01, 0x01};
    ssize_t n;

    (void)state;
    memcpy(want + want_len, tlv, sizeof(tlv));
    want_len += sizeof(tlv);
    want[15] = (unsigned char)(want[15] + sizeof(tlv)); /* length 106 + 4 */
    addrs_of(&a, "192.0.2.1", "198.51.100.2");
    tls.early_data = true;
    n = proxy_proto_encode_v2(&a, &tls, buf, sizeof(buf));
    assert_int_equal(n, want_len);
    assert_memory_equal(buf, want, want_len);
}

static void
test_golden_v1_unknown(void **state)
{
    struct proxy_proto_addrs a;
    char buf[PROXY_PROTO_V1_MAX];

    (void)state;
    /* Both ends AF_UNIX, and one end AF_UNIX with the other IPv4. */
    set_unix(&a.src, "/run/a");
    set_unix(&a.dst, "/run/b");
    assert_int_equal(proxy_proto_encode_v1(&a, buf, sizeof(buf)), strlen(golden_v1_unknown));
    assert_memory_equal(buf, golden_v1_unknown, strlen(golden_v1_unknown));
    set_end(&a.src, "192.0.2.1", 1);
    assert_int_equal(proxy_proto_encode_v1(&a, buf, sizeof(buf)), strlen(golden_v1_unknown));
    assert_memory_equal(buf, golden_v1_unknown, strlen(golden_v1_unknown));
}

static void
test_golden_v2(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(golden_cases); i++) {
        const struct golden_case *c = &golden_cases[i];
        struct proxy_proto_addrs a;
        unsigned char want[PROXY_PROTO_OUT_MAX], buf[PROXY_PROTO_OUT_MAX];
        size_t want_len = golden_v2(c->v2, c->v2_len, want);
        ssize_t n;

        addrs_of(&a, c->src, c->dst);
        n = proxy_proto_encode_v2(&a, &golden_tls, buf, sizeof(buf));
        assert_int_equal(n, want_len);
        for (size_t j = 0; j < want_len; j++) {
            if (buf[j] != want[j]) {
                fail_msg("%s: byte %zu is 0x%02x, not 0x%02x", c->name, j, buf[j], want[j]);
            }
        }
        /* Without TLS: the prefix and addresses only, the length without
         * the TLVs. */
        n = proxy_proto_encode_v2(&a, NULL, buf, sizeof(buf));
        assert_int_equal(n, c->v2_len);
        assert_memory_equal(buf, c->v2, 14);
        assert_int_equal(buf[14] << 8 | buf[15], c->v2_len - 16);
        assert_memory_equal(buf + 16, c->v2 + 16, c->v2_len - 16);
    }
}

static void
test_golden_v2_unspec(void **state)
{
    struct proxy_proto_addrs a;
    unsigned char buf[PROXY_PROTO_OUT_MAX];

    (void)state;
    set_unix(&a.src, "/run/a");
    set_unix(&a.dst, "/run/b");
    assert_int_equal(proxy_proto_encode_v2(&a, NULL, buf, sizeof(buf)), sizeof(golden_v2_unspec));
    assert_memory_equal(buf, golden_v2_unspec, sizeof(golden_v2_unspec));
}

/* Only the TLVs whose fields are set, in order; SSL without sub-TLVs. */
static void
test_v2_optional_tlvs(void **state)
{
    /* clang-format off */
    static const unsigned char want_tlvs[] = {
        /* PP2_TYPE_AUTHORITY, length 0 (an empty name is still sent) */
        0x02, 0x00, 0x00,
        /* PP2_TYPE_SSL, length 5: client 0x01, verify 0x01020304 */
        0x20, 0x00, 0x05,
        0x01,
        0x01, 0x02, 0x03, 0x04,
    };
    /* clang-format on */
    struct proxy_proto_tls tls = {.authority = "", .client = 0x01, .verify = 0x01020304};
    struct proxy_proto_addrs a;
    unsigned char buf[PROXY_PROTO_OUT_MAX];
    ssize_t n;

    (void)state;
    addrs_of(&a, "192.0.2.1", "198.51.100.2");
    n = proxy_proto_encode_v2(&a, &tls, buf, sizeof(buf));
    assert_int_equal(n, sizeof(golden_v2_tcp4) + sizeof(want_tlvs));
    assert_int_equal(buf[14] << 8 | buf[15], 12 + sizeof(want_tlvs));
    assert_memory_equal(buf + sizeof(golden_v2_tcp4), want_tlvs, sizeof(want_tlvs));
}

/* ---- round trips ---- */

static void
assert_same_end(const struct sockaddr_storage *got, const struct sockaddr_storage *want)
{
    assert_int_equal(got->ss_family, want->ss_family);
    if (want->ss_family == AF_INET) {
        assert_memory_equal(got, want, sizeof(struct sockaddr_in));
    } else {
        assert_memory_equal(got, want, sizeof(struct sockaddr_in6));
    }
}

static void
test_round_trip(void **state)
{
    static const struct {
        const char *src, *dst, *src_as; /* src_as: what src comes back as */
        unsigned sport, dport;
    } cases[] = {
        {"192.0.2.1", "198.51.100.2", "192.0.2.1", 56324, 443},
        {"0.0.0.0", "255.255.255.255", "0.0.0.0", 0, 65535},
        {"2001:db8::1", "2001:db8::2", "2001:db8::1", 56324, 443},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
         65535, 0},
        {"::1", "fe80::1:2:3:4", "::1", 1, 2},
        {"192.0.2.1", "2001:db8::2", "::ffff:192.0.2.1", 56324, 443},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct proxy_proto_addrs a;
        struct sockaddr_storage want_src, want_dst;
        struct proxy_proto_header h;
        enum proxy_proto_error err;
        char v1[PROXY_PROTO_V1_MAX];
        unsigned char v2[PROXY_PROTO_OUT_MAX];
        ssize_t n;

        set_end(&a.src, cases[i].src, cases[i].sport);
        set_end(&a.dst, cases[i].dst, cases[i].dport);
        set_end(&want_src, cases[i].src_as, cases[i].sport);
        set_end(&want_dst, cases[i].dst, cases[i].dport);
        if (want_src.ss_family != want_dst.ss_family) {
            fail_msg("case %zu: a mixed pair must come back as IPv6", i);
        }

        n = proxy_proto_encode_v1(&a, v1, sizeof(v1));
        assert_true(n > 0);
        memset(&h, 0xa5, sizeof(h));
        assert_int_equal(parse_exact(v1, (size_t)n, &h, &err), n);
        assert_int_equal(err, PROXY_PROTO_ERR_NONE);
        assert_int_equal(h.version, 1);
        assert_false(h.local);
        assert_same_end(&h.src, &want_src);
        assert_same_end(&h.dst, &want_dst);

        for (int tls = 0; tls < 2; tls++) {
            n = proxy_proto_encode_v2(&a, tls ? &golden_tls : NULL, v2, sizeof(v2));
            assert_true(n > 0);
            memset(&h, 0xa5, sizeof(h));
            assert_int_equal(parse_exact(v2, (size_t)n, &h, &err), n);
            assert_int_equal(err, PROXY_PROTO_ERR_NONE);
            assert_int_equal(h.version, 2);
            assert_false(h.local);
            assert_same_end(&h.src, &want_src);
            assert_same_end(&h.dst, &want_dst);
        }
    }
}

static void
test_round_trip_unknown(void **state)
{
    struct proxy_proto_addrs a;
    struct proxy_proto_header h;
    enum proxy_proto_error err;
    unsigned char buf[PROXY_PROTO_OUT_MAX];
    ssize_t n;

    (void)state;
    set_unix(&a.src, "/run/a");
    set_unix(&a.dst, "/run/b");
    n = proxy_proto_encode_v1(&a, (char *)buf, sizeof(buf));
    assert_int_equal(parse_exact(buf, (size_t)n, &h, &err), n);
    assert_true(h.local);
    assert_int_equal(h.version, 1);
    n = proxy_proto_encode_v2(&a, &golden_tls, buf, sizeof(buf));
    assert_int_equal(parse_exact(buf, (size_t)n, &h, &err), n);
    assert_true(h.local);
    assert_int_equal(h.version, 2);
    assert_int_equal(h.src.ss_family, AF_UNSPEC);
}

/* ---- accepted inputs beyond tessera's own ---- */

struct accept_case {
    const char *name;
    const void *bytes;
    size_t len;
    bool local;
};

/* clang-format off */
/* v2 LOCAL (a health check) with an IPv4 address block that must be
 * skipped, then the client's first byte. */
static const unsigned char v2_local[] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    0x20, 0x11, 0x00, 0x0c,
    1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2,
};
/* v2 PROXY, AF_UNIX stream: 216 address bytes, ignored. */
static unsigned char v2_unix[16 + 216] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    0x21, 0x31, 0x00, 0xd8,
};
/* v2 PROXY, AF_INET with an UNSPEC transport: addresses are ignored. */
static const unsigned char v2_inet_unspec[] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    0x21, 0x10, 0x00, 0x00,
};
/* v2 LOCAL with a DGRAM family byte: LOCAL's family is ignored. */
static const unsigned char v2_local_dgram[] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    0x20, 0x12, 0x00, 0x00,
};
/* v2 PROXY, AF_INET, a NOOP TLV (0x04) of length 0 and a custom one
 * (0xe0) of length 1. */
static const unsigned char v2_other_tlvs[] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    0x21, 0x11, 0x00, 0x13,
    192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb,
    0x04, 0x00, 0x00,
    0xe0, 0x00, 0x01, 0x2a,
};
/* clang-format on */

static const char v1_unknown_long[] =
    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    "65535 65535\r\n";
static const char v1_tcp6_longest[] =
    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    "65535 65535\r\n";

#define ACCEPT(name, s, local)                                                                     \
    {                                                                                              \
        name, s, sizeof(s) - 1, local                                                              \
    }

static const struct accept_case accept_cases[] = {
    {"v1 tcp4", golden_v1_tcp4, sizeof(golden_v1_tcp4) - 1, false},
    {"v1 tcp6", golden_v1_tcp6, sizeof(golden_v1_tcp6) - 1, false},
    {"v1 mixed", golden_v1_mixed, sizeof(golden_v1_mixed) - 1, false},
    {"v1 unknown", golden_v1_unknown, sizeof(golden_v1_unknown) - 1, true},
    {"v1 unknown, 107 bytes", v1_unknown_long, sizeof(v1_unknown_long) - 1, true},
    ACCEPT("v1 unknown, anything", "PROXY UNKNOWN  \x01garbage\r\r\n", true),
    {"v1 tcp6 longest", v1_tcp6_longest, sizeof(v1_tcp6_longest) - 1, false},
    ACCEPT("v1 upper-case hex", "PROXY TCP6 2001:DB8::A ::1 0 0\r\n", false),
    {"v2 local", v2_local, sizeof(v2_local), true},
    {"v2 unix", v2_unix, sizeof(v2_unix), true},
    {"v2 inet, unspec transport", v2_inet_unspec, sizeof(v2_inet_unspec), true},
    {"v2 local, dgram", v2_local_dgram, sizeof(v2_local_dgram), true},
    {"v2 other tlvs", v2_other_tlvs, sizeof(v2_other_tlvs), false},
    {"v2 unspec", golden_v2_unspec, sizeof(golden_v2_unspec), true},
};

_Static_assert(sizeof(v1_unknown_long) - 1 == PROXY_PROTO_V1_MAX, "the spec's worst case");

static void
test_accept(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(accept_cases); i++) {
        const struct accept_case *c = &accept_cases[i];
        unsigned char buf[PROXY_PROTO_IN_MAX + 8];
        struct proxy_proto_header h;
        enum proxy_proto_error err;
        ssize_t n;

        n = parse_exact(c->bytes, c->len, &h, &err);
        if (n != (ssize_t)c->len || err != PROXY_PROTO_ERR_NONE || h.local != c->local) {
            fail_msg("%s: %zd (%s), local %d", c->name, n, proxy_proto_error_name(err), h.local);
        }
        /* With the client's bytes behind it, the header ends where it ended. */
        memcpy(buf, c->bytes, c->len);
        memcpy(buf + c->len, "\x16\x03\x01\x00\x00\r\n\n", 8);
        assert_int_equal(parse_exact(buf, c->len + 8, &h, &err), c->len);
    }
}

/* The longest v2 header accepted: 2048 bytes, one TLV filling it. */
static void
test_v2_largest(void **state)
{
    unsigned char buf[PROXY_PROTO_IN_MAX];
    struct proxy_proto_header h;
    enum proxy_proto_error err;

    (void)state;
    memset(buf, 0x5a, sizeof(buf));
    memcpy(buf, golden_v2_tcp4, 14);
    buf[14] = 0x07; /* length 2048 - 16 = 2032 */
    buf[15] = 0xf0;
    memcpy(buf + 16, golden_v2_tcp4 + 16, 12);
    buf[28] = 0xe0; /* a custom TLV of 2032 - 12 - 3 = 2017 bytes */
    buf[29] = 0x07;
    buf[30] = 0xe1;
    assert_int_equal(parse_exact(buf, sizeof(buf), &h, &err), PROXY_PROTO_IN_MAX);
    assert_false(h.local);
}

/* ---- every prefix of a valid header waits ---- */

static void
assert_prefixes_wait(const char *name, const void *bytes, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        struct proxy_proto_header h;
        enum proxy_proto_error err = PROXY_PROTO_ERR_COUNT;
        ssize_t n = parse_exact(bytes, k, &h, &err);

        if (n != 0 || err != PROXY_PROTO_ERR_NONE) {
            fail_msg("%s: the %zu-byte prefix gives %zd (%s)", name, k, n,
                     proxy_proto_error_name(err));
        }
    }
}

static void
test_need_more(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(accept_cases); i++) {
        assert_prefixes_wait(accept_cases[i].name, accept_cases[i].bytes, accept_cases[i].len);
    }
    for (size_t i = 0; i < ARRAY_SIZE(golden_cases); i++) {
        unsigned char v2[PROXY_PROTO_OUT_MAX];
        size_t n = golden_v2(golden_cases[i].v2, golden_cases[i].v2_len, v2);

        assert_prefixes_wait(golden_cases[i].name, v2, n);
    }
}

/* ---- refusals ---- */

struct refuse_case {
    const char *name;
    const void *bytes;
    size_t len;
    enum proxy_proto_error err;
};

#define V2_SIG   "\r\n\r\n\0\r\nQUIT\n"
#define V2(rest) V2_SIG rest
#define REFUSE(name, s, e)                                                                         \
    {                                                                                              \
        name, s, sizeof(s) - 1, PROXY_PROTO_ERR_##e                                                \
    }

static const struct refuse_case refuse_cases[] = {
    /* signature */
    REFUSE("http", "GET / HTTP/1.1\r\n", SIGNATURE),
    REFUSE("tls", "\x16\x03\x01\x02\x00", SIGNATURE),
    REFUSE("nul", "\0", SIGNATURE),
    REFUSE("lower-case proxy", "proxy TCP4", SIGNATURE),
    REFUSE("PROXX", "PROXX", SIGNATURE),
    REFUSE("PROXY without a space", "PROXY\t", SIGNATURE),
    REFUSE("PROXY, two spaces", "PROXYY ", SIGNATURE),
    REFUSE("v2 signature, last byte", "\r\n\r\n\0\r\nQUIT\r", SIGNATURE),
    REFUSE("v2 signature, 5th byte", "\r\n\r\n\x01", SIGNATURE),
    REFUSE("CRLF CRLF then text", "\r\n\r\nGET", SIGNATURE),
    /* version */
    REFUSE("v2 version 1", V2("\x11"), VERSION),
    REFUSE("v2 version 3", V2("\x31"), VERSION),
    REFUSE("v2 version 0", V2("\x01\x11\x00\x0c"), VERSION),
    REFUSE("v2 version f", V2("\xf1"), VERSION),
    /* command */
    REFUSE("v2 command 2", V2("\x22"), COMMAND),
    REFUSE("v2 command f", V2("\x2f\x11\x00\x0c"), COMMAND),
    /* family */
    REFUSE("v2 family 4", V2("\x21\x41"), FAMILY),
    REFUSE("v2 family f, local", V2("\x20\xf0"), FAMILY),
    REFUSE("v2 transport 3", V2("\x21\x13"), FAMILY),
    REFUSE("v2 transport 3, local", V2("\x20\x03"), FAMILY),
    REFUSE("v2 udp4", V2("\x21\x12\x00\x0c"), FAMILY),
    REFUSE("v2 udp6", V2("\x21\x22"), FAMILY),
    REFUSE("v2 unix dgram", V2("\x21\x32"), FAMILY),
    REFUSE("v2 unspec dgram", V2("\x21\x02"), FAMILY),
    REFUSE("v1 TCP5", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", FAMILY),
    REFUSE("v1 UDP4, early", "PROXY UD", FAMILY),
    REFUSE("v1 tcp4", "PROXY tcp4", FAMILY),
    REFUSE("v1 TCP", "PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n", FAMILY),
    REFUSE("v1 TCP44", "PROXY TCP44", FAMILY),
    REFUSE("v1 UNKNOWNX", "PROXY UNKNOWNX\r\n", FAMILY),
    REFUSE("v1 UNKNOWN, short", "PROXY UNKNOW\r\n", FAMILY),
    REFUSE("v1 family, tab", "PROXY TCP4\t1.2.3.4", FAMILY),
    /* oversized */
    REFUSE("v2 length 2033", V2("\x21\x11\x07\xf1"), OVERSIZED),
    REFUSE("v2 length 65535, local", V2("\x20\x00\xff\xff"), OVERSIZED),
    /* malformed: v1 */
    REFUSE("v1 empty family", "PROXY \r\n", MALFORMED),
    REFUSE("v1 two spaces", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 bare LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", MALFORMED),
    REFUSE("v1 bare LF, unknown", "PROXY UNKNOWN\n", MALFORMED),
    REFUSE("v1 unknown, CR inside", "PROXY UNKNOWN\rx\r\n", MALFORMED),
    REFUSE("v1 no fields", "PROXY TCP4\r\n", MALFORMED),
    REFUSE("v1 three fields", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", MALFORMED),
    REFUSE("v1 five fields", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", MALFORMED),
    REFUSE("v1 trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", MALFORMED),
    REFUSE("v1 double space", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 tab", "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 IPv6 in TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n", MALFORMED),
    REFUSE("v1 IPv4 in TCP6", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 octet 256", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 leading zero octet", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 host name", "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 NUL in address", "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", MALFORMED),
    REFUSE("v1 IPv6 scope", "PROXY TCP6 fe80::1%lo ::1 1 2\r\n", MALFORMED),
    REFUSE("v1 IPv6 two ::", "PROXY TCP6 1::2::3 ::1 1 2\r\n", MALFORMED),
    REFUSE("v1 IPv6 brackets", "PROXY TCP6 [::1] ::1 1 2\r\n", MALFORMED),
    REFUSE("v1 address of 47 bytes",
           "PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000:00 ::1 1 2\r\n", MALFORMED),
    REFUSE("v1 port 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", MALFORMED),
    REFUSE("v1 port 100000", "PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n", MALFORMED),
    REFUSE("v1 port +1", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", MALFORMED),
    REFUSE("v1 port -1", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", MALFORMED),
    REFUSE("v1 port 080", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", MALFORMED),
    REFUSE("v1 port 00", "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", MALFORMED),
    REFUSE("v1 port 0x50", "PROXY TCP4 1.2.3.4 5.6.7.8 0x50 2\r\n", MALFORMED),
    REFUSE("v1 port 8a", "PROXY TCP4 1.2.3.4 5.6.7.8 8a 2\r\n", MALFORMED),
    REFUSE("v1 CR in port", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", MALFORMED),
    /* malformed: v2 */
    REFUSE("v2 inet, 11 address bytes", V2("\x21\x11\x00\x0b"), MALFORMED),
    REFUSE("v2 inet6, 35 address bytes", V2("\x21\x21\x00\x23"), MALFORMED),
    REFUSE("v2 unix, 215 address bytes", V2("\x21\x31\x00\xd7"), MALFORMED),
    REFUSE("v2 inet, no addresses", V2("\x21\x11\x00\x00"), MALFORMED),
    REFUSE("v2 TLV past the end",
           V2("\x21\x11\x00\x10"
              "12345678abcd"
              "\x01\x00\x02"
              "h"),
           MALFORMED),
    REFUSE("v2 TLV length 65535",
           V2("\x21\x11\x00\x0f"
              "12345678abcd"
              "\x20\xff\xff"),
           MALFORMED),
    REFUSE("v2 one byte after the addresses",
           V2("\x21\x11\x00\x0d"
              "12345678abcd"
              "\x04"),
           MALFORMED),
    REFUSE("v2 two bytes after the addresses",
           V2("\x21\x11\x00\x0e"
              "12345678abcd"
              "\x04\x00"),
           MALFORMED),
};

static void
test_refuse(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(refuse_cases); i++) {
        const struct refuse_case *c = &refuse_cases[i];
        struct proxy_proto_header h;
        enum proxy_proto_error err = PROXY_PROTO_ERR_NONE;
        ssize_t n = parse_exact(c->bytes, c->len, &h, &err);

        if (n != -1 || err != c->err) {
            fail_msg("%s: %zd (%s), not -1 (%s)", c->name, n, proxy_proto_error_name(err),
                     proxy_proto_error_name(c->err));
        }
        /* More bytes never rescue a refused header, nor change its reason. */
        unsigned char more[256];
        memset(more, '\n', sizeof(more));
        memcpy(more, c->bytes, c->len < sizeof(more) ? c->len : sizeof(more));
        if (c->len < sizeof(more)) {
            n = parse_exact(more, sizeof(more), &h, &err);
            if (n != -1 || err != c->err) {
                fail_msg("%s, with more bytes: %zd (%s)", c->name, n, proxy_proto_error_name(err));
            }
        }
    }
}

/* Refusals come as early as the bytes allow: at the first wrong byte of a
 * signature, and at byte 16 for a v2 length too long. */
static void
test_refuse_early(void **state)
{
    struct proxy_proto_header h;
    enum proxy_proto_error err;

    (void)state;
    assert_int_equal(parse_exact("X", 1, &h, &err), -1);
    assert_int_equal(err, PROXY_PROTO_ERR_SIGNATURE);
    assert_int_equal(parse_exact("PROXY", 5, &h, &err), 0);
    assert_int_equal(parse_exact("PROXZ", 5, &h, &err), -1);
    assert_int_equal(parse_exact(V2_SIG "\x21\x11\x07", 15, &h, &err), 0);
    assert_int_equal(parse_exact(V2_SIG "\x21\x11\x07\xf1", 16, &h, &err), -1);
    assert_int_equal(err, PROXY_PROTO_ERR_OVERSIZED);
    assert_int_equal(parse_exact(V2_SIG "\x21\x11\x07\xf0", 16, &h, &err), 0);
}

/* Section 2.1: no CRLF in the first 107 bytes is an invalid line. */
static void
test_refuse_v1_oversized(void **state)
{
    static const char *const starts[] = {"PROXY UNKNOWN ", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
                                         "PROXY TCP6 ::1 ::1 1 2"};
    char line[PROXY_PROTO_V1_MAX + 2];
    struct proxy_proto_header h;
    enum proxy_proto_error err;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(starts); i++) {
        memset(line, i == 0 ? 'x' : ' ', sizeof(line));
        memcpy(line, starts[i], strlen(starts[i]));
        /* A CR as the 107th byte: its LF would be the 108th. */
        line[PROXY_PROTO_V1_MAX - 1] = '\r';
        line[PROXY_PROTO_V1_MAX] = '\n';
        assert_int_equal(parse_exact(line, PROXY_PROTO_V1_MAX - 1, &h, &err), 0);
        assert_int_equal(parse_exact(line, PROXY_PROTO_V1_MAX, &h, &err), -1);
        assert_int_equal(err, PROXY_PROTO_ERR_OVERSIZED);
        assert_int_equal(parse_exact(line, PROXY_PROTO_V1_MAX + 1, &h, &err), -1);
        assert_int_equal(err, PROXY_PROTO_ERR_OVERSIZED);
    }
}

/* ---- encoders: the cap ---- */

static void
assert_cap_respected(const char *name,
                     ssize_t (*encode)(const struct proxy_proto_addrs *,
                                       const struct proxy_proto_tls *, unsigned char *, size_t),
                     const struct proxy_proto_addrs *a, const struct proxy_proto_tls *tls)
{
    unsigned char full[PROXY_PROTO_OUT_MAX], buf[PROXY_PROTO_OUT_MAX + 16];
    ssize_t n = encode(a, tls, full, sizeof(full));

    assert_true(n > 0);
    for (size_t cap = 0; cap <= (size_t)n; cap++) {
        memset(buf, 0xa5, sizeof(buf));
        ssize_t m = encode(a, tls, cap == 0 ? NULL : buf, cap);
        if (cap < (size_t)n && m != -1) {
            fail_msg("%s: cap %zu gives %zd, not -1", name, cap, m);
        }
        if (cap == (size_t)n && (m != n || memcmp(buf, full, (size_t)n) != 0)) {
            fail_msg("%s: cap %zu (exact) gives %zd", name, cap, m);
        }
        for (size_t j = cap; j < sizeof(buf); j++) {
            if (buf[j] != 0xa5) {
                fail_msg("%s: cap %zu, byte %zu written", name, cap, j);
            }
        }
    }
}

static ssize_t
encode_v1(const struct proxy_proto_addrs *a, const struct proxy_proto_tls *tls, unsigned char *buf,
          size_t cap)
{
    (void)tls;
    return proxy_proto_encode_v1(a, (char *)buf, cap);
}

static void
test_cap_too_small(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(golden_cases); i++) {
        struct proxy_proto_addrs a;

        addrs_of(&a, golden_cases[i].src, golden_cases[i].dst);
        assert_cap_respected("v1", encode_v1, &a, NULL);
        assert_cap_respected("v2", proxy_proto_encode_v2, &a, NULL);
        assert_cap_respected("v2 tls", proxy_proto_encode_v2, &a, &golden_tls);
    }
    struct proxy_proto_addrs u;
    set_unix(&u.src, "/a");
    set_unix(&u.dst, "/b");
    assert_cap_respected("v1 unknown", encode_v1, &u, NULL);
    assert_cap_respected("v2 unspec", proxy_proto_encode_v2, &u, &golden_tls);
}

/* ---- the 255-byte cut ---- */

/* The value of TLV `type` in buf[0..n) (top level, or inside PP2_TYPE_SSL
 * when `sub`); returns its length, or -1. */
static long
find_tlv(const unsigned char *buf, size_t n, unsigned type, bool sub, const unsigned char **value)
{
    size_t off = 16 + (buf[13] >> 4 == 1 ? 12 : buf[13] >> 4 == 2 ? 36 : 0), end = n;

    if (sub) {
        long l = find_tlv(buf, n, PROXY_PROTO_TLV_SSL, false, value);
        assert_true(l >= 5);
        off = (size_t)(*value - buf) + 5;
        end = (size_t)(*value - buf) + (size_t)l;
    }
    while (off + 3 <= end) {
        size_t l = (size_t)buf[off + 1] << 8 | buf[off + 2];
        assert_true(off + 3 + l <= end);
        if (buf[off] == type) {
            *value = buf + off + 3;
            return (long)l;
        }
        off += 3 + l;
    }
    return -1;
}

static void
test_cut_255(void **state)
{
    char long_text[400], two_byte[300], three_byte[300], exact[300];
    unsigned char long_alpn[300], buf[PROXY_PROTO_OUT_MAX];
    struct proxy_proto_addrs a;
    struct proxy_proto_header h;
    enum proxy_proto_error err;
    const unsigned char *v;
    ssize_t n;

    (void)state;
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    for (size_t i = 0; i < sizeof(long_alpn); i++) {
        long_alpn[i] = (unsigned char)i;
    }
    /* 254 ASCII bytes, then "é" (c3 a9): the cut at 255 would split it. */
    memset(two_byte, 'b', 254);
    memcpy(two_byte + 254, "\xc3\xa9", 3);
    /* 253 ASCII bytes, then "€" (e2 82 ac). */
    memset(three_byte, 'c', 253);
    memcpy(three_byte + 253, "\xe2\x82\xac", 4);
    /* Exactly 255 bytes ending in a whole "é". */
    memset(exact, 'd', 253);
    memcpy(exact + 253, "\xc3\xa9", 3);

    struct proxy_proto_tls tls = {
        .alpn = long_alpn,
        .alpn_len = sizeof(long_alpn),
        .authority = long_text,
        .version = long_text,
        .cn = two_byte,
        .cipher = three_byte,
        .sig_alg = exact,
        .key_alg = long_text + sizeof(long_text) - 1 - 255,
    };
    addrs_of(&a, "2001:db8::1", "2001:db8::2");
    n = proxy_proto_encode_v2(&a, &tls, buf, sizeof(buf));
    assert_true(n > 0 && n <= PROXY_PROTO_OUT_MAX);
    assert_int_equal(buf[14] << 8 | buf[15], n - 16);

    assert_int_equal(find_tlv(buf, (size_t)n, PROXY_PROTO_TLV_ALPN, false, &v), 255);
    assert_memory_equal(v, long_alpn, 255);
    assert_int_equal(find_tlv(buf, (size_t)n, PROXY_PROTO_TLV_AUTHORITY, false, &v), 255);
    assert_memory_equal(v, long_text, 255);
    assert_int_equal(find_tlv(buf, (size_t)n, PROXY_PROTO_SUBTLV_SSL_VERSION, true, &v), 255);
    assert_int_equal(find_tlv(buf, (size_t)n, PROXY_PROTO_SUBTLV_SSL_CN, true, &v), 254);
    assert_memory_equal(v, two_byte, 254);
    assert_int_equal(find_tlv(buf, (size_t)n, PROXY_PROTO_SUBTLV_SSL_CIPHER, true, &v), 253);
    assert_memory_equal(v, three_byte, 253);
    assert_int_equal(find_tlv(buf, (size_t)n, PROXY_PROTO_SUBTLV_SSL_SIG_ALG, true, &v), 255);
    assert_memory_equal(v, exact, 255);
    assert_int_equal(find_tlv(buf, (size_t)n, PROXY_PROTO_SUBTLV_SSL_KEY_ALG, true, &v), 255);

    /* The largest header tessera sends fits PROXY_PROTO_OUT_MAX, and a
     * tessera behind a tessera accepts it (PROXY_PROTO_IN_MAX). */
    tls.cn = tls.cipher = tls.sig_alg = long_text;
    n = proxy_proto_encode_v2(&a, &tls, buf, sizeof(buf));
    assert_int_equal(n, 16 + 36 + 2 * (3 + 255) + 3 + 5 + 5 * (3 + 255));
    assert_true(n <= PROXY_PROTO_OUT_MAX);
    assert_int_equal(parse_exact(buf, (size_t)n, &h, &err), n);
}

static void
test_error_names(void **state)
{
    static const char *const names[] = {
        [PROXY_PROTO_ERR_NONE] = "none",           [PROXY_PROTO_ERR_SIGNATURE] = "signature",
        [PROXY_PROTO_ERR_VERSION] = "version",     [PROXY_PROTO_ERR_COMMAND] = "command",
        [PROXY_PROTO_ERR_FAMILY] = "family",       [PROXY_PROTO_ERR_OVERSIZED] = "oversized",
        [PROXY_PROTO_ERR_MALFORMED] = "malformed",
    };

    (void)state;
    assert_int_equal(ARRAY_SIZE(names), PROXY_PROTO_ERR_COUNT);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        assert_string_equal(proxy_proto_error_name((enum proxy_proto_error)i), names[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_v1),        cmocka_unit_test(test_golden_v1_unknown),
        cmocka_unit_test(test_golden_v2),        cmocka_unit_test(test_golden_v2_early_data),
        cmocka_unit_test(test_golden_v2_unspec), cmocka_unit_test(test_v2_optional_tlvs),
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_round_trip_unknown),
        cmocka_unit_test(test_accept),           cmocka_unit_test(test_v2_largest),
        cmocka_unit_test(test_need_more),        cmocka_unit_test(test_refuse),
        cmocka_unit_test(test_refuse_early),     cmocka_unit_test(test_refuse_v1_oversized),
        cmocka_unit_test(test_cap_too_small),    cmocka_unit_test(test_cut_255),
        cmocka_unit_test(test_error_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
