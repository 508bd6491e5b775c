/*
 * test_mcconn.c - unit tests for mcconn_parse, the reader of memcached's text
 * protocol replies on a loop's own connection: every reply kind for get,
 * gets, set, add, cas and delete; every reply cut short at every byte (incomplete, never
 * misread); several replies back to back; and input that must drop the
 * connection (wrong key, bad numbers, oversized values, missing CRLF, lines
 * that never end, replies that belong to another command).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mcconn.h"

#define KEY "tessera:sess:00ff"

struct parsed {
    enum mcconn_parsed p;
    size_t used, voff, vlen;
    enum mc_result r;
    uint64_t cas;
};

static struct parsed
parse_op(enum mc_op op, const char *buf, size_t len)
{
    struct parsed x = {.r = (enum mc_result) - 1};

    x.p = mcconn_parse(buf, len, op, KEY, strlen(KEY), &x.used, &x.r, &x.voff, &x.vlen, &x.cas);
    return x;
}

static struct parsed
parse(const char *buf)
{
    return parse_op(MC_GET, buf, strlen(buf));
}

/* Every proper prefix of `reply` is incomplete; the whole is `want`. */
static void
assert_whole_only(enum mc_op op, const char *reply, size_t len, enum mc_result want)
{
    for (size_t n = 0; n < len; n++) {
        struct parsed x = parse_op(op, reply, n);
        if (x.p != MCCONN_MORE) {
            fail_msg("a prefix of %zu of %zu bytes parsed as %d", n, len, x.p);
        }
    }
    struct parsed x = parse_op(op, reply, len);
    assert_int_equal(x.p, MCCONN_REPLY);
    assert_int_equal(x.r, want);
    assert_int_equal(x.used, len);
}

static void
test_get_miss(void **state)
{
    (void)state;
    assert_whole_only(MC_GET, "END\r\n", 5, MC_RES_MISS);
}

static void
test_get_hit(void **state)
{
    (void)state;
    const char *r = "VALUE " KEY " 0 5\r\nab\r\nc\r\nEND\r\n"; /* CRLF inside the value */
    assert_whole_only(MC_GET, r, strlen(r), MC_RES_HIT);
    struct parsed x = parse(r);
    assert_int_equal(x.vlen, 5);
    assert_memory_equal(r + x.voff, "ab\r\nc", 5);

    /* with a CAS unique (gets-style), and an empty value */
    x = parse("VALUE " KEY " 7 3 12345\r\nxyz\r\nEND\r\n");
    assert_int_equal(x.p, MCCONN_REPLY);
    assert_int_equal(x.r, MC_RES_HIT);
    assert_int_equal(x.vlen, 3);
    x = parse("VALUE " KEY " 0 0\r\n\r\nEND\r\n");
    assert_int_equal(x.p, MCCONN_REPLY);
    assert_int_equal(x.r, MC_RES_HIT);
    assert_int_equal(x.vlen, 0);
}

static void
test_errors(void **state)
{
    static const char *const lines[] = {"ERROR\r\n", "CLIENT_ERROR bad command line format\r\n",
                                        "SERVER_ERROR out of memory storing object\r\n"};
    static const enum mc_op ops[] = {MC_GET, MC_GETS, MC_SET, MC_ADD, MC_CAS, MC_DELETE};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < sizeof(ops) / sizeof(ops[0]); j++) {
            assert_whole_only(ops[j], lines[i], strlen(lines[i]), MC_RES_ERROR);
        }
    }
}

static void
test_set_delete(void **state)
{
    (void)state;
    assert_whole_only(MC_SET, "STORED\r\n", 8, MC_RES_STORED);
    assert_whole_only(MC_SET, "NOT_STORED\r\n", 12, MC_RES_EXISTS);
    assert_whole_only(MC_SET, "EXISTS\r\n", 8, MC_RES_EXISTS);
    assert_whole_only(MC_DELETE, "DELETED\r\n", 9, MC_RES_HIT);
    assert_whole_only(MC_DELETE, "NOT_FOUND\r\n", 11, MC_RES_MISS);
    /* another command's reply: the stream is out of step */
    assert_int_equal(parse_op(MC_SET, "DELETED\r\n", 9).p, MCCONN_BAD);
    assert_int_equal(parse_op(MC_DELETE, "STORED\r\n", 8).p, MCCONN_BAD);
    assert_int_equal(parse_op(MC_SET, "END\r\n", 5).p, MCCONN_BAD);
    assert_int_equal(parse_op(MC_GET, "STORED\r\n", 8).p, MCCONN_BAD);
    /* NOT_FOUND is a set's or an add's reply to nothing */
    assert_int_equal(parse_op(MC_SET, "NOT_FOUND\r\n", 11).p, MCCONN_BAD);
    assert_int_equal(parse_op(MC_ADD, "NOT_FOUND\r\n", 11).p, MCCONN_BAD);
}

/* The keyring's operations: gets (with its CAS unique), add, cas. */
static void
test_keyring_ops(void **state)
{
    (void)state;
    const char *r = "VALUE " KEY " 0 3 18446744073709551615\r\nxyz\r\nEND\r\n";
    assert_whole_only(MC_GETS, r, strlen(r), MC_RES_HIT);
    struct parsed x = parse_op(MC_GETS, r, strlen(r));
    assert_true(x.cas == UINT64_MAX);
    assert_int_equal(x.vlen, 3);
    const char *r2 = "VALUE " KEY " 0 1 42\r\nq\r\nEND\r\n";
    x = parse_op(MC_GETS, r2, strlen(r2));
    assert_int_equal(x.p, MCCONN_REPLY);
    assert_true(x.cas == 42);
    assert_whole_only(MC_GETS, "END\r\n", 5, MC_RES_MISS);
    /* a gets reply without its CAS unique, or with a bad one */
    static const char *const bad[] = {
        "VALUE " KEY " 0 3\r\nxyz\r\nEND\r\n",
        "VALUE " KEY " 0 3 \r\nxyz\r\nEND\r\n",
        "VALUE " KEY " 0 3 18446744073709551616\r\nxyz\r\nEND\r\n",
        "VALUE " KEY " 0 3 123456789012345678901\r\nxyz\r\nEND\r\n",
        "VALUE " KEY " 0 3 12x\r\nxyz\r\nEND\r\n",
        "VALUE " KEY " 0 3 1 2\r\nxyz\r\nEND\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        x = parse_op(MC_GETS, bad[i], strlen(bad[i]));
        if (x.p != MCCONN_BAD) {
            fail_msg("gets case %zu (%s) parsed as %d", i, bad[i], x.p);
        }
    }
    assert_whole_only(MC_ADD, "STORED\r\n", 8, MC_RES_STORED);
    assert_whole_only(MC_ADD, "NOT_STORED\r\n", 12, MC_RES_EXISTS);
    assert_whole_only(MC_CAS, "STORED\r\n", 8, MC_RES_STORED);
    assert_whole_only(MC_CAS, "EXISTS\r\n", 8, MC_RES_EXISTS);
    assert_whole_only(MC_CAS, "NOT_FOUND\r\n", 11, MC_RES_MISS);
    /* replies that belong to another command */
    assert_int_equal(parse_op(MC_CAS, "DELETED\r\n", 9).p, MCCONN_BAD);
    assert_int_equal(parse_op(MC_ADD, "END\r\n", 5).p, MCCONN_BAD);
    assert_int_equal(parse_op(MC_GETS, "STORED\r\n", 8).p, MCCONN_BAD);
}

static void
test_back_to_back(void **state)
{
    (void)state;
    const char *s = "END\r\nVALUE " KEY " 0 2\r\nhi\r\nEND\r\nSTORED\r\n";
    size_t len = strlen(s);
    struct parsed x = parse_op(MC_GET, s, len);
    assert_int_equal(x.p, MCCONN_REPLY);
    assert_int_equal(x.r, MC_RES_MISS);
    assert_int_equal(x.used, 5);
    size_t off = x.used;
    x = parse_op(MC_GET, s + off, len - off);
    assert_int_equal(x.r, MC_RES_HIT);
    assert_memory_equal(s + off + x.voff, "hi", 2);
    off += x.used;
    x = parse_op(MC_SET, s + off, len - off);
    assert_int_equal(x.r, MC_RES_STORED);
    assert_int_equal(off + x.used, len);
}

static void
test_bad(void **state)
{
    static const char *const bad[] = {
        "VALUE tessera:sess:00fe 0 2\r\nhi\r\nEND\r\n", /* another key */
        "VALUE " KEY "x 0 2\r\nhi\r\nEND\r\n",          /* a longer key */
        "VALUE " KEY " 0 -2\r\nhi\r\nEND\r\n",
        "VALUE " KEY " 0 2x\r\nhi\r\nEND\r\n",
        "VALUE " KEY " 0\r\n",
        "VALUE " KEY "\r\n",
        "VALUE " KEY " 0 99999999999\r\n",
        "VALUE " KEY " 0 65537\r\n",           /* larger than MCCONN_VALUE_MAX */
        "VALUE " KEY " 0 2\r\nhi\r\nEND!\r\n", /* no END after the value */
        "VALUE " KEY " 0 2\r\nhiX\nEND\r\n",   /* the value is not followed by CRLF */
        "VALUE " KEY " 0 2\r\nhi\r\nVALUE " KEY " 0 2\r\nhi\r\nEND\r\n",
        "END\n",
        "\r\n",
        "HTTP/1.1 400 Bad Request\r\n",
        "ENDS\r\n",
        "VALUES\r\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct parsed x = parse(bad[i]);
        if (x.p != MCCONN_BAD) {
            fail_msg("case %zu (%s) parsed as %d", i, bad[i], x.p);
        }
    }
}

static void
test_line_limits(void **state)
{
    char buf[2048];

    (void)state;
    /* a line without its end: incomplete while short, bad once too long */
    memset(buf, 'A', sizeof(buf));
    assert_int_equal(parse_op(MC_GET, buf, 100).p, MCCONN_MORE);
    assert_int_equal(parse_op(MC_GET, buf, sizeof(buf)).p, MCCONN_BAD);
    /* a value of exactly MCCONN_VALUE_MAX bytes is accepted */
    size_t hlen = (size_t)snprintf(buf, sizeof(buf), "VALUE %s 0 %d\r\n", KEY, MCCONN_VALUE_MAX);
    size_t len = hlen + MCCONN_VALUE_MAX + 7;
    char *big = malloc(len);
    assert_non_null(big);
    memcpy(big, buf, hlen);
    memset(big + hlen, 0x5a, MCCONN_VALUE_MAX);
    memcpy(big + hlen + MCCONN_VALUE_MAX, "\r\nEND\r\n", 7);
    assert_int_equal(parse_op(MC_GET, big, len - 1).p, MCCONN_MORE);
    struct parsed x = parse_op(MC_GET, big, len);
    assert_int_equal(x.p, MCCONN_REPLY);
    assert_int_equal(x.vlen, MCCONN_VALUE_MAX);
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_miss),     cmocka_unit_test(test_get_hit),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_set_delete),
        cmocka_unit_test(test_back_to_back), cmocka_unit_test(test_bad),
        cmocka_unit_test(test_line_limits),  cmocka_unit_test(test_keyring_ops),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
