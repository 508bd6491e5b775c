/*
 * test_keyring_retired.c - unit tests for keyring_retired.c: membership,
 * merge, pruning at the window's edge, dropping from a ring (wiped), and
 * the sealed codec: a round trip (empty, one, a full list), and rejection
 * of every flipped byte, a truncated value, another key (AAD), another
 * secret, and a key entry's plaintext (kind 2) sealed under the list's key.
 *
 * Single-threaded; the secrets and names are fixed bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keyring.h"
#include "keyring_retired.h"
#include "seal.h"

static const char list_key[] = "t:stek-retired";

static struct seal *
make_seal(unsigned char fill)
{
    unsigned char secret[SEAL_SECRET_LEN];
    struct seal *s = seal_new();

    assert_non_null(s);
    memset(secret, fill, sizeof(secret));
    assert_int_equal(seal_add_secret(s, secret, true), 0);
    return s;
}

static struct keyring_retired
entry(uint64_t epoch, unsigned char tag)
{
    struct keyring_retired x = {.epoch = epoch};

    for (size_t i = 0; i < sizeof(x.name); i++) {
        x.name[i] = (unsigned char)(tag + i);
    }
    return x;
}

static void
test_add_has_prune(void **state)
{
    static struct keyring_retired_list l;
    struct keyring_retired a = entry(100, 1);
    struct keyring_retired b = entry(101, 2);
    struct keyring_retired c = entry(98, 3);

    (void)state;
    l.n = 0;
    assert_true(keyring_retired_add(&l, &a));
    assert_false(keyring_retired_add(&l, &a)); /* listed once */
    assert_true(keyring_retired_add(&l, &b));
    assert_true(keyring_retired_add(&l, &c));
    assert_int_equal(l.n, 3);
    assert_true(keyring_retired_has(&l, b.name));
    b.name[15] ^= 1;
    assert_false(keyring_retired_has(&l, b.name));

    /* Window from epoch 100: an entry two epochs below it stays, three go. */
    keyring_retired_prune(&l, 100);
    assert_int_equal(l.n, 3);
    keyring_retired_prune(&l, 101);
    assert_int_equal(l.n, 2);
    assert_false(keyring_retired_has(&l, c.name));
    assert_true(keyring_retired_has(&l, a.name));

    /* Full: the oldest entry makes room. */
    l.n = 0;
    for (unsigned i = 0; i < KEYRING_RETIRED_MAX; i++) {
        struct keyring_retired x = entry(1000 + i, (unsigned char)(i * 7));
        x.name[0] = (unsigned char)i;
        x.name[1] = (unsigned char)(i >> 8);
        assert_true(keyring_retired_add(&l, &x));
    }
    struct keyring_retired oldest = entry(1000, 0);
    oldest.name[0] = 0;
    oldest.name[1] = 0;
    assert_true(keyring_retired_has(&l, oldest.name));
    struct keyring_retired newer = entry(5000, 200);
    assert_true(keyring_retired_add(&l, &newer));
    assert_int_equal(l.n, KEYRING_RETIRED_MAX);
    assert_false(keyring_retired_has(&l, oldest.name));
    assert_true(keyring_retired_has(&l, newer.name));
}

static void
test_within_and_drop(void **state)
{
    static struct keyring_retired_list mine;
    static struct keyring_retired_list theirs;
    struct keyring r;
    struct keyring_key k1 = {.epoch = 10, .source = KEYRING_SOURCE_CLUSTER};
    struct keyring_key k2 = {.epoch = 11, .source = KEYRING_SOURCE_CLUSTER};
    struct keyring_retired x = {.epoch = 10};

    (void)state;
    mine.n = theirs.n = 0;
    memset(k1.name, 0x11, sizeof(k1.name));
    memset(k1.aes, 0xa1, sizeof(k1.aes));
    memset(k2.name, 0x22, sizeof(k2.name));
    memset(k2.aes, 0xa2, sizeof(k2.aes));
    memcpy(x.name, k1.name, sizeof(x.name));
    assert_true(keyring_retired_within(&mine, &theirs)); /* empty in empty */
    assert_true(keyring_retired_add(&mine, &x));
    assert_false(keyring_retired_within(&mine, &theirs)); /* memcached lacks one */
    assert_true(keyring_retired_add(&theirs, &x));
    assert_true(keyring_retired_within(&mine, &theirs));

    keyring_init(&r, 100, 2);
    assert_int_equal(keyring_add(&r, &k1), 0);
    assert_int_equal(keyring_add(&r, &k2), 0);
    assert_int_equal(keyring_retired_drop(&mine, &r), 1);
    assert_int_equal(r.n, 1);
    assert_null(keyring_find(&r, k1.name));
    assert_non_null(keyring_find(&r, k2.name));
    assert_null(memmem(&r, sizeof(r), k1.aes, sizeof(k1.aes))); /* wiped */
    assert_int_equal(keyring_retired_drop(&mine, &r), 0);
    keyring_wipe(&r);
}

static void
roundtrip(const struct seal *s, const struct keyring_retired_list *in)
{
    static struct keyring_retired_list out;
    size_t len = 0;
    unsigned char *v = keyring_retired_seal(s, list_key, strlen(list_key), in, &len);

    assert_non_null(v);
    assert_int_equal(keyring_retired_open(s, list_key, strlen(list_key), v, len, &out), 0);
    assert_int_equal(out.n, in->n);
    assert_memory_equal(out.e, in->e, in->n * sizeof(in->e[0]));
    free(v);
}

static void
test_codec_roundtrip(void **state)
{
    static struct keyring_retired_list l;
    struct seal *s = make_seal(0x5a);

    (void)state;
    l.n = 0;
    roundtrip(s, &l);
    l.e[l.n++] = entry(0xfedcba9876543210u, 9);
    roundtrip(s, &l);
    l.n = 0;
    for (unsigned i = 0; i < KEYRING_RETIRED_MAX; i++) {
        l.e[l.n] = entry(i, (unsigned char)i);
        l.e[l.n].name[0] = (unsigned char)i;
        l.n++;
    }
    roundtrip(s, &l);
    seal_free(s);
}

/* Forged, corrupt or misplaced lists do not open (the caller counts them). */
static void
test_codec_rejects(void **state)
{
    static struct keyring_retired_list l;
    static struct keyring_retired_list out;
    struct seal *s = make_seal(0x5a);
    struct seal *other = make_seal(0xa5);
    size_t len = 0;
    unsigned char *v;

    (void)state;
    l.n = 0;
    l.e[l.n++] = entry(7, 1);
    l.e[l.n++] = entry(8, 2);
    v = keyring_retired_seal(s, list_key, strlen(list_key), &l, &len);
    assert_non_null(v);
    for (size_t i = 0; i < len; i++) {
        v[i] ^= 0x01;
        assert_int_equal(keyring_retired_open(s, list_key, strlen(list_key), v, len, &out), -1);
        assert_int_equal(out.n, 0);
        v[i] ^= 0x01;
    }
    assert_int_equal(keyring_retired_open(s, list_key, strlen(list_key), v, len - 1, &out), -1);
    assert_int_equal(keyring_retired_open(s, "t:stek:5", 8, v, len, &out), -1);
    assert_int_equal(keyring_retired_open(other, list_key, strlen(list_key), v, len, &out), -1);
    assert_int_equal(keyring_retired_open(s, list_key, strlen(list_key), v, len, &out), 0);
    free(v);

    /* Well sealed, but not a list: a key entry's header (kind 2), and a
     * count that does not match the length. */
    unsigned char pt[4 + 24];
    unsigned char buf[sizeof(pt) + 64];
    memset(pt, 0, sizeof(pt));
    pt[0] = 1;
    pt[1] = 2;
    pt[3] = 1;
    assert_int_equal(
        seal_seal(s, list_key, strlen(list_key), pt, sizeof(pt), buf, sizeof(buf), &len), 0);
    assert_int_equal(keyring_retired_open(s, list_key, strlen(list_key), buf, len, &out), -1);
    pt[1] = 3;
    pt[3] = 2;
    assert_int_equal(
        seal_seal(s, list_key, strlen(list_key), pt, sizeof(pt), buf, sizeof(buf), &len), 0);
    assert_int_equal(keyring_retired_open(s, list_key, strlen(list_key), buf, len, &out), -1);
    pt[3] = 1;
    assert_int_equal(
        seal_seal(s, list_key, strlen(list_key), pt, sizeof(pt), buf, sizeof(buf), &len), 0);
    assert_int_equal(keyring_retired_open(s, list_key, strlen(list_key), buf, len, &out), 0);
    assert_int_equal(out.n, 1);
    seal_free(s);
    seal_free(other);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_has_prune),
        cmocka_unit_test(test_within_and_drop),
        cmocka_unit_test(test_codec_roundtrip),
        cmocka_unit_test(test_codec_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
