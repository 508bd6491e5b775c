/*
 * test_addr.c - golden cases for addr_parse, addr_format, addr_is_loopback,
 * cidr_parse and cidr_match.
 *
 * Thread: the cmocka runner's only thread.  Ownership: every value lives on
 * the stack of its test.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct parse_ok {
    const char *text;
    bool allow_port0;
    const char *formatted;
    int family;
};

struct parse_bad {
    const char *text;
    bool allow_port0;
    const char *why; /* NULL: any reason */
};

static const struct parse_ok parse_ok_cases[] = {
    {"1.2.3.4:443", false, "1.2.3.4:443", AF_INET},
    {"127.0.0.1:8443", false, "127.0.0.1:8443", AF_INET},
    {"*:443", false, "0.0.0.0:443", AF_INET},
    {"0.0.0.0:1", false, "0.0.0.0:1", AF_INET},
    {"255.255.255.255:65535", false, "255.255.255.255:65535", AF_INET},
    {"10.0.0.1:0080", false, "10.0.0.1:80", AF_INET},
    {"127.0.0.1:0", true, "127.0.0.1:0", AF_INET},
    {"[::1]:443", false, "[::1]:443", AF_INET6},
    {"[::]:8443", false, "[::]:8443", AF_INET6},
    {"[2001:DB8::1]:80", false, "[2001:db8::1]:80", AF_INET6},
    {"[::ffff:127.0.0.1]:80", false, "[::ffff:127.0.0.1]:80", AF_INET6},
    {"[::1]:0", true, "[::1]:0", AF_INET6},
};

static const struct parse_bad parse_bad_cases[] = {
    {"", false, "empty address"},
    {"1.2.3.4", false, "missing port"},
    {"1.2.3.4:", false, "missing port"},
    {"1.2.3.4:65536", false, "port out of range (0-65535)"},
    {"1.2.3.4:100000", false, "port out of range (0-65535)"},
    {"1.2.3.4:0", false, "port 0 is not allowed here"},
    {"*:0", false, "port 0 is not allowed here"},
    {"1.2.3.4:80x", false, "port is not a decimal number"},
    {"1.2.3.4:+80", false, "port is not a decimal number"},
    {"1.2.3.4:-1", false, "port is not a decimal number"},
    {"1.2.3.4: 80", false, "port is not a decimal number"},
    {"1.2.3.4:80 ", false, "port is not a decimal number"},
    {"localhost:80", false, "not a numeric IPv4 address (host names are not accepted)"},
    {"example.com:443", false, "not a numeric IPv4 address (host names are not accepted)"},
    {"1.2.3:80", false, "not a numeric IPv4 address (host names are not accepted)"},
    {"256.1.1.1:80", false, "not a numeric IPv4 address (host names are not accepted)"},
    {" 1.2.3.4:80", false, "not a numeric IPv4 address (host names are not accepted)"},
    {":80", false, "missing host (use \"*\" for any IPv4 address)"},
    {"::1:80", false, "IPv6 addresses need brackets: \"[addr]:port\""},
    {"[::1]", false, "missing port"},
    {"[::1]80", false, "expected ':' after ']'"},
    {"[::1:80", false, "missing ']' after IPv6 address"},
    {"[]:80", false, "not an IPv6 address"},
    {"[1.2.3.4]:80", false, "not a numeric IPv6 address"},
    {"[::1]:", false, "missing port"},
    {"[::1]:65536", false, "port out of range (0-65535)"},
    {"[fe80::1%lo]:80", false, "not a numeric IPv6 address"},
    {"*", false, "missing port"},
};

static void
test_parse_ok(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(parse_ok_cases); i++) {
        const struct parse_ok *c = &parse_ok_cases[i];
        struct addr a;
        const char *why = NULL;
        char buf[64];

        assert_int_equal(addr_parse(c->text, c->allow_port0, &a, &why), 0);
        assert_int_equal(a.ss.ss_family, c->family);
        assert_int_equal(a.len, c->family == AF_INET ? sizeof(struct sockaddr_in)
                                                     : sizeof(struct sockaddr_in6));
        assert_string_equal(addr_format(&a, buf, sizeof(buf)), c->formatted);
    }
}

static void
test_parse_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(parse_bad_cases); i++) {
        const struct parse_bad *c = &parse_bad_cases[i];
        struct addr a;
        const char *why = NULL;

        if (addr_parse(c->text, c->allow_port0, &a, &why) != -1) {
            fail_msg("addr_parse accepted \"%s\"", c->text);
        }
        assert_non_null(why);
        if (c->why != NULL && strcmp(why, c->why) != 0) {
            fail_msg("\"%s\": got \"%s\", want \"%s\"", c->text, why, c->why);
        }
    }
    /* A NULL `why` is allowed. */
    struct addr a;
    assert_int_equal(addr_parse("nope", false, &a, NULL), -1);
}

static void
test_port_byte_order(void **state)
{
    struct addr a;
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.ss;

    (void)state;
    assert_int_equal(addr_parse("10.1.2.3:258", false, &a, NULL), 0);
    assert_int_equal(ntohs(sin->sin_port), 258);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x0a010203);
}

static void
test_format_small_buffer(void **state)
{
    struct addr a;
    char buf[6];

    (void)state;
    assert_int_equal(addr_parse("[2001:db8::1]:443", false, &a, NULL), 0);
    assert_string_equal(addr_format(&a, buf, sizeof(buf)), "[2001");
}

/* What addr_is_any and addr_is_loopback say of one address. */
static void
test_any_and_loopback(void **state)
{
    static const struct {
        const char *text;
        bool any;
        bool loopback;
    } cases[] = {
        {"0.0.0.0:1", true, false},
        {"*:1", true, false},
        {"127.0.0.1:1", false, true},
        {"127.255.0.9:1", false, true},
        {"126.255.255.255:1", false, false},
        {"128.0.0.1:1", false, false},
        {"[::]:1", true, false},
        {"[::1]:1", false, true},
        {"[::2]:1", false, false},
        {"[::ffff:0.0.0.0]:1", false, false},
        {"[::ffff:127.0.0.1]:1", false, true},
        {"[::ffff:10.0.0.1]:1", false, false},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct addr a;

        assert_int_equal(addr_parse(cases[i].text, false, &a, NULL), 0);
        if (addr_is_any(&a) != cases[i].any) {
            fail_msg("addr_is_any(%s) != %d", cases[i].text, cases[i].any);
        }
        if (addr_is_loopback(&a) != cases[i].loopback) {
            fail_msg("addr_is_loopback(%s) != %d", cases[i].text, cases[i].loopback);
        }
    }
}

static void
test_cidr_parse(void **state)
{
    static const struct {
        const char *text;
        int family;
        unsigned prefix;
        const char *net; /* inet_ntop form of the stored network */
    } good[] = {
        {"10.0.0.0/8", AF_INET, 8, "10.0.0.0"},
        {"127.0.0.1/8", AF_INET, 8, "127.0.0.0"},
        {"192.168.1.77/25", AF_INET, 25, "192.168.1.0"},
        {"1.2.3.4", AF_INET, 32, "1.2.3.4"},
        {"0.0.0.0/0", AF_INET, 0, "0.0.0.0"},
        {"::1/128", AF_INET6, 128, "::1"},
        {"::1", AF_INET6, 128, "::1"},
        {"::/0", AF_INET6, 0, "::"},
        {"2001:db8:ffff::1/33", AF_INET6, 33, "2001:db8:8000::"},
        {"::ffff:0:0/96", AF_INET6, 96, "::ffff:0.0.0.0"},
    };
    static const struct {
        const char *text;
        const char *why;
    } bad[] = {
        {"", "empty CIDR"},
        {"/8", "not a numeric IP address"},
        {"10.0.0.0/", "missing prefix length after '/'"},
        {"10.0.0.0/33", "prefix length above 32"},
        {"::/129", "prefix length above 128"},
        {"10.0.0.0/8x", "bad prefix length"},
        {"10.0.0.0/-1", "bad prefix length"},
        {"10.0.0.0/ 8", "bad prefix length"},
        {"10.0.0.0/99999999999999", "bad prefix length"},
        {"host/8", "not a numeric IPv4 address"},
        {"10.0.0/8", "not a numeric IPv4 address"},
        {"[::1]/128", "not a numeric IPv6 address"},
        {"fe80::zz/64", "not a numeric IPv6 address"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct cidr c;
        char net[INET6_ADDRSTRLEN];
        const char *why = NULL;

        if (cidr_parse(good[i].text, &c, &why) != 0) {
            fail_msg("cidr_parse(%s) failed: %s", good[i].text, why);
        }
        assert_int_equal(c.family, good[i].family);
        assert_int_equal(c.prefix, good[i].prefix);
        assert_non_null(inet_ntop(c.family, c.net, net, sizeof(net)));
        assert_string_equal(net, good[i].net);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct cidr c;
        const char *why = NULL;

        if (cidr_parse(bad[i].text, &c, &why) != -1) {
            fail_msg("cidr_parse accepted \"%s\"", bad[i].text);
        }
        if (strcmp(why, bad[i].why) != 0) {
            fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].text, why, bad[i].why);
        }
    }
}

static void
test_cidr_match(void **state)
{
    static const struct {
        const char *cidr;
        const char *addr;
        bool match;
    } cases[] = {
        {"127.0.0.0/8", "127.0.0.1:1", true},
        {"127.0.0.0/8", "127.200.3.4:1", true},
        {"127.0.0.0/8", "128.0.0.1:1", false},
        {"192.168.1.0/25", "192.168.1.127:1", true},
        {"192.168.1.0/25", "192.168.1.128:1", false},
        {"10.1.2.3", "10.1.2.3:1", true},
        {"10.1.2.3", "10.1.2.4:1", false},
        {"0.0.0.0/0", "203.0.113.9:1", true},
        {"0.0.0.0/0", "[::1]:1", false},
        {"127.0.0.0/8", "[::ffff:127.0.0.1]:1", true},
        {"10.0.0.0/8", "[::ffff:127.0.0.1]:1", false},
        {"10.0.0.0/8", "[::10.0.0.1]:1", false},
        {"::1", "[::1]:1", true},
        {"::1", "127.0.0.1:1", false},
        {"::/0", "[2001:db8::1]:1", true},
        {"::/0", "10.0.0.1:1", true},
        {"::ffff:0:0/96", "1.2.3.4:1", true},
        {"2001:db8::/33", "[2001:db8:7fff::1]:1", true},
        {"2001:db8::/33", "[2001:db8:8000::1]:1", false},
        {"2001:db8::/32", "[2001:db9::1]:1", false},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cidr c;
        struct addr a;

        assert_int_equal(cidr_parse(cases[i].cidr, &c, NULL), 0);
        assert_int_equal(addr_parse(cases[i].addr, false, &a, NULL), 0);
        if (cidr_match(&c, (const struct sockaddr *)&a.ss) != cases[i].match) {
            fail_msg("cidr_match(%s, %s) != %d", cases[i].cidr, cases[i].addr, cases[i].match);
        }
    }

    struct cidr any;
    struct sockaddr_un_like {
        sa_family_t family;
        char path[14];
    } other = {AF_UNIX, "x"};
    assert_int_equal(cidr_parse("0.0.0.0/0", &any, NULL), 0);
    assert_false(cidr_match(&any, (const struct sockaddr *)(const void *)&other));
    assert_false(cidr_match(&any, NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),         cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_port_byte_order),  cmocka_unit_test(test_format_small_buffer),
        cmocka_unit_test(test_any_and_loopback), cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
