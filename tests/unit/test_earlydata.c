/*
 * test_earlydata.c - unit tests for earlydata.c's pure parts: the first PSK
 * identity of a pre_shared_key extension (well-formed, and every way it can
 * be malformed), and the single-use record's memcached key (a SHA-256 of
 * the identity, never the identity; too long a prefix refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "earlydata.h"
#include "mc.h"

/* identities: u16 len 12 | u16 id len 6 | "ticket" | u32 age; binders: u16 len 2 | 0x01 0x00 */
static const unsigned char psk_ok[] = {
    0x00, 0x0c, 0x00, 0x06, 't',  'i',  'c',  'k',  'e',
    't',  0x00, 0x00, 0x00, 0x2a, 0x00, 0x02, 0x01, 0x00,
};

static void
test_first_identity(void **state)
{
    const unsigned char *id = NULL;
    size_t idlen = 0;

    (void)state;
    assert_true(earlydata_first_identity(psk_ok, sizeof(psk_ok), &id, &idlen));
    assert_int_equal(idlen, 6);
    assert_memory_equal(id, "ticket", 6);
}

static void
test_first_identity_malformed(void **state)
{
    unsigned char b[sizeof(psk_ok)];
    const unsigned char *id;
    size_t idlen;

    (void)state;
    /* Too short for the two lengths, at every length below them. */
    for (size_t n = 0; n < 4; n++) {
        assert_false(earlydata_first_identity(psk_ok, n, &id, &idlen));
    }
    /* The identities run past the extension. */
    assert_false(earlydata_first_identity(psk_ok, 13, &id, &idlen));
    /* An empty identity. */
    memcpy(b, psk_ok, sizeof(b));
    b[3] = 0;
    assert_false(earlydata_first_identity(b, sizeof(b), &id, &idlen));
    /* The identity (and its age) longer than the identities list. */
    memcpy(b, psk_ok, sizeof(b));
    b[3] = 7;
    assert_false(earlydata_first_identity(b, sizeof(b), &id, &idlen));
    /* The list longer than the extension. */
    memcpy(b, psk_ok, sizeof(b));
    b[1] = 0xff;
    assert_false(earlydata_first_identity(b, sizeof(b), &id, &idlen));
}

static void
test_record_key(void **state)
{
    char key[MC_KEY_MAX + 1];
    char longp[MC_KEY_MAX];
    /* SHA-256("ticket") */
    static const char want[] =
        "t:0rtt:14069429150abcbf244c4c2fb2c4c46a49c93ca9457263ecd9ebb176de3a58bb";
    size_t n = earlydata_record_key("t:", (const unsigned char *)"ticket", 6, key);

    (void)state;
    assert_int_equal(n, strlen(want));
    assert_string_equal(key, want);
    assert_null(strstr(key, "ticket")); /* never the identity itself */
    /* Another identity, another key; the same identity, the same key. */
    char other[MC_KEY_MAX + 1];
    assert_int_equal(earlydata_record_key("t:", (const unsigned char *)"tickeu", 6, other), n);
    assert_string_not_equal(key, other);
    assert_int_equal(earlydata_record_key("t:", (const unsigned char *)"ticket", 6, other), n);
    assert_string_equal(key, other);
    /* A prefix that leaves no room for the hash. */
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(earlydata_record_key(longp, (const unsigned char *)"ticket", 6, key), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_identity),
        cmocka_unit_test(test_first_identity_malformed),
        cmocka_unit_test(test_record_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
