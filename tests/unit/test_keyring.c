/*
 * test_keyring.c - unit tests for keyring.c: epoch arithmetic, add/replace,
 * the encrypt key, the renewal rule, roles, expiry at the window's edges,
 * wiping, copying and fingerprints.
 *
 * Single-threaded.  The clock is the `now` argument and the RNG is a
 * deterministic counter defined here, so every run sees the same keys.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keyring.h"

/*
 * The deterministic RNG: a byte counter run through the splitmix64 finaliser,
 * so that the 124 keys of a full ring all get distinct names and material.
 */
static uint64_t rng_counter; /* bytes produced so far */
static int rng_calls;
static int rng_fail_at; /* the call number (1-based) that fails; 0: never */

static unsigned char
rng_byte(uint64_t i)
{
    uint64_t z = i * 0x9e3779b97f4a7c15u;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (unsigned char)(z ^ (z >> 31));
}

static int
rng_counter_bytes(unsigned char *buf, int n)
{
    rng_calls++;
    if (rng_fail_at != 0 && rng_calls == rng_fail_at) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        buf[i] = rng_byte(++rng_counter);
    }
    return 1;
}

static int
setup_rng(void **state)
{
    (void)state;
    rng_counter = 0;
    rng_calls = 0;
    rng_fail_at = 0;
    return 0;
}

/* A key with every byte of its material distinct from other keys' (counter RNG). */
static struct keyring_key
make_key(uint64_t epoch, enum keyring_source source)
{
    struct keyring_key k;

    assert_int_equal(keyring_generate(&k, epoch, source, rng_counter_bytes), 0);
    return k;
}

static bool
is_zero(const void *p, size_t len)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < len; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

/* True if the AES key of `k` occurs anywhere in the ring's memory. */
static bool
ring_contains_secret(const struct keyring *r, const struct keyring_key *k)
{
    return memmem(r, sizeof(*r), k->aes, sizeof(k->aes)) != NULL ||
           memmem(r, sizeof(*r), k->hmac, sizeof(k->hmac)) != NULL;
}

static void
assert_tail_zero(const struct keyring *r)
{
    for (size_t i = r->n; i < KEYRING_MAX; i++) {
        assert_true(is_zero(&r->keys[i], sizeof(r->keys[i])));
    }
}

static void
test_epoch_boundaries(void **state)
{
    static const unsigned rotates[] = {4, 3600};
    static const uint64_t ks[] = {1, 2, 10, 472222};
    struct keyring r;

    (void)state;
    for (size_t i = 0; i < sizeof(rotates) / sizeof(rotates[0]); i++) {
        time_t rot = rotates[i];

        keyring_init(&r, rotates[i], 2);
        assert_int_equal(keyring_epoch(&r, 0), 0);
        assert_int_equal(keyring_epoch(&r, rot - 1), 0);
        for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
            time_t start = (time_t)ks[j] * rot;

            assert_int_equal(keyring_epoch(&r, start - 1), ks[j] - 1);
            assert_int_equal(keyring_epoch(&r, start), ks[j]);
            assert_int_equal(keyring_epoch(&r, start + 1), ks[j]);
            assert_int_equal(keyring_epoch(&r, start + rot - 1), ks[j]);
            assert_int_equal(keyring_epoch(&r, start + rot), ks[j] + 1);
            assert_int_equal(keyring_epoch_start(&r, ks[j]), start);
        }
        assert_int_equal(keyring_epoch_start(&r, 0), 0);
    }
}

static void
test_epoch_start_roundtrip(void **state)
{
    struct keyring r;
    time_t now = 1700000123;

    (void)state;
    keyring_init(&r, 3600, 18);
    uint64_t e = keyring_epoch(&r, now);
    assert_int_equal(e, 472222);
    assert_true(keyring_epoch_start(&r, e) <= now);
    assert_true(keyring_epoch_start(&r, e + 1) > now);
    assert_int_equal(keyring_epoch_start(&r, e + 1) - keyring_epoch_start(&r, e), 3600);
}

static void
test_generate_uses_rng(void **state)
{
    struct keyring_key a;
    struct keyring_key b;

    (void)state;
    assert_int_equal(keyring_generate(&a, 7, KEYRING_SOURCE_LOCAL, rng_counter_bytes), 0);
    assert_true(rng_calls >= 1);
    assert_int_equal(rng_counter, KEYRING_KEY_LEN);
    assert_int_equal(a.epoch, 7);
    assert_int_equal(a.source, KEYRING_SOURCE_LOCAL);
    /* The RNG's first 80 bytes, in the order name, aes, hmac. */
    unsigned char want[KEYRING_KEY_LEN];
    for (size_t i = 0; i < sizeof(want); i++) {
        want[i] = rng_byte(i + 1);
    }
    assert_memory_equal(a.name, want, KEYRING_NAME_LEN);
    assert_memory_equal(a.aes, want + KEYRING_NAME_LEN, KEYRING_AES_LEN);
    assert_memory_equal(a.hmac, want + KEYRING_NAME_LEN + KEYRING_AES_LEN, KEYRING_HMAC_LEN);

    assert_int_equal(keyring_generate(&b, 8, KEYRING_SOURCE_CLUSTER, rng_counter_bytes), 0);
    assert_int_equal(b.source, KEYRING_SOURCE_CLUSTER);
    assert_memory_not_equal(a.name, b.name, KEYRING_NAME_LEN);
    assert_memory_not_equal(a.aes, b.aes, KEYRING_AES_LEN);
    assert_memory_not_equal(a.hmac, b.hmac, KEYRING_HMAC_LEN);
}

static void
test_generate_rng_failure(void **state)
{
    struct keyring_key k;

    (void)state;
    for (int fail = 1; fail <= 3; fail++) {
        setup_rng(NULL);
        rng_fail_at = fail;
        memset(&k, 0xa5, sizeof(k));
        if (keyring_generate(&k, 3, KEYRING_SOURCE_LOCAL, rng_counter_bytes) == 0) {
            /* A single 80-byte call is allowed: then only the first call can fail. */
            assert_true(fail > 1);
            assert_int_equal(rng_calls, 1);
            continue;
        }
        /* Nothing half-made is left behind. */
        assert_true(is_zero(&k, sizeof(k)));
    }
}

static void
test_add_and_find(void **state)
{
    struct keyring r;
    struct keyring_key a = make_key(5, KEYRING_SOURCE_CLUSTER);
    struct keyring_key b = make_key(5, KEYRING_SOURCE_LOCAL);
    struct keyring_key c = make_key(6, KEYRING_SOURCE_CLUSTER);
    unsigned char unknown[KEYRING_NAME_LEN] = {0};

    (void)state;
    keyring_init(&r, 4, 2);
    assert_null(keyring_find(&r, a.name));
    assert_int_equal(keyring_add(&r, &a), 0);
    assert_int_equal(keyring_add(&r, &b), 0);
    assert_int_equal(keyring_add(&r, &c), 0);
    assert_int_equal(r.n, 3);

    const struct keyring_key *f = keyring_find(&r, b.name);
    assert_non_null(f);
    assert_memory_equal(f, &b, sizeof(b));
    assert_ptr_equal(keyring_find(&r, c.name), keyring_get(&r, 6, KEYRING_SOURCE_CLUSTER));
    assert_ptr_equal(keyring_find(&r, a.name), keyring_get(&r, 5, KEYRING_SOURCE_CLUSTER));
    assert_ptr_equal(keyring_find(&r, b.name), keyring_get(&r, 5, KEYRING_SOURCE_LOCAL));
    assert_null(keyring_get(&r, 6, KEYRING_SOURCE_LOCAL));
    assert_null(keyring_get(&r, 4, KEYRING_SOURCE_CLUSTER));
    assert_null(keyring_find(&r, unknown));
}

static void
test_add_errors(void **state)
{
    struct keyring r;
    struct keyring_key a = make_key(5, KEYRING_SOURCE_CLUSTER);
    struct keyring_key same_name = make_key(9, KEYRING_SOURCE_LOCAL);
    struct keyring_key same_slot = make_key(5, KEYRING_SOURCE_CLUSTER);

    (void)state;
    keyring_init(&r, 4, 2);
    assert_int_equal(keyring_add(&r, &a), 0);

    /* Same name, whatever its epoch and source. */
    memcpy(same_name.name, a.name, KEYRING_NAME_LEN);
    assert_int_equal(keyring_add(&r, &same_name), -EEXIST);
    assert_int_equal(keyring_add(&r, &a), -EEXIST);
    /* Another key for an epoch and source already held. */
    assert_int_equal(keyring_add(&r, &same_slot), -EBUSY);
    assert_int_equal(r.n, 1);
    assert_memory_equal(keyring_get(&r, 5, KEYRING_SOURCE_CLUSTER), &a, sizeof(a));
}

static void
test_add_full(void **state)
{
    struct keyring r;
    struct keyring_key k;

    (void)state;
    keyring_init(&r, 4, KEYRING_KEEP_MAX);
    for (size_t i = 0; i < KEYRING_MAX; i++) {
        k = make_key(i / 2, i % 2 ? KEYRING_SOURCE_LOCAL : KEYRING_SOURCE_CLUSTER);
        assert_int_equal(keyring_add(&r, &k), 0);
    }
    assert_int_equal(r.n, KEYRING_MAX);
    k = make_key(1000, KEYRING_SOURCE_CLUSTER);
    assert_int_equal(keyring_add(&r, &k), -ENOSPC);
    assert_int_equal(keyring_replace(&r, &k), -ENOSPC);
    assert_int_equal(r.n, KEYRING_MAX);
    /* Replacing a held epoch needs no room. */
    k = make_key(3, KEYRING_SOURCE_LOCAL);
    assert_int_equal(keyring_replace(&r, &k), 0);
    assert_int_equal(r.n, KEYRING_MAX);
    assert_memory_equal(keyring_get(&r, 3, KEYRING_SOURCE_LOCAL), &k, sizeof(k));
}

static void
test_replace(void **state)
{
    struct keyring r;
    struct keyring_key old = make_key(5, KEYRING_SOURCE_CLUSTER);
    struct keyring_key other = make_key(5, KEYRING_SOURCE_LOCAL);
    struct keyring_key fresh = make_key(5, KEYRING_SOURCE_CLUSTER);
    struct keyring_key added = make_key(6, KEYRING_SOURCE_CLUSTER);

    (void)state;
    keyring_init(&r, 4, 2);
    assert_int_equal(keyring_add(&r, &old), 0);
    assert_int_equal(keyring_add(&r, &other), 0);

    assert_int_equal(keyring_replace(&r, &fresh), 0);
    assert_int_equal(r.n, 2);
    assert_null(keyring_find(&r, old.name));
    assert_false(ring_contains_secret(&r, &old));
    assert_memory_equal(keyring_get(&r, 5, KEYRING_SOURCE_CLUSTER), &fresh, sizeof(fresh));
    assert_memory_equal(keyring_get(&r, 5, KEYRING_SOURCE_LOCAL), &other, sizeof(other));

    /* No key of that epoch and source yet: replace adds. */
    assert_int_equal(keyring_replace(&r, &added), 0);
    assert_int_equal(r.n, 3);
    assert_non_null(keyring_find(&r, added.name));
    assert_tail_zero(&r);
}

static void
test_encrypt_key(void **state)
{
    struct keyring r;
    struct keyring_key l10 = make_key(10, KEYRING_SOURCE_LOCAL);
    struct keyring_key c10 = make_key(10, KEYRING_SOURCE_CLUSTER);
    struct keyring_key c11 = make_key(11, KEYRING_SOURCE_CLUSTER);
    struct keyring_key c9 = make_key(9, KEYRING_SOURCE_CLUSTER);

    (void)state;
    keyring_init(&r, 4, 2);
    assert_null(keyring_encrypt_key(&r, 41));
    /* Keys of other epochs never encrypt now. */
    assert_int_equal(keyring_add(&r, &c9), 0);
    assert_int_equal(keyring_add(&r, &c11), 0);
    assert_null(keyring_encrypt_key(&r, 41));
    /* Local only while the cluster's is unknown. */
    assert_int_equal(keyring_add(&r, &l10), 0);
    assert_ptr_equal(keyring_encrypt_key(&r, 40), keyring_find(&r, l10.name));
    assert_ptr_equal(keyring_encrypt_key(&r, 43), keyring_find(&r, l10.name));
    /* The cluster's wins, even though it was added after the local one. */
    assert_int_equal(keyring_add(&r, &c10), 0);
    assert_ptr_equal(keyring_encrypt_key(&r, 41), keyring_find(&r, c10.name));
    /* At the boundaries. */
    assert_ptr_equal(keyring_encrypt_key(&r, 39), keyring_find(&r, c9.name));
    assert_ptr_equal(keyring_encrypt_key(&r, 44), keyring_find(&r, c11.name));
    assert_null(keyring_encrypt_key(&r, 48));
}

static void
test_renewal(void **state)
{
    struct keyring r;
    struct keyring_key c8 = make_key(8, KEYRING_SOURCE_CLUSTER);
    struct keyring_key l9 = make_key(9, KEYRING_SOURCE_LOCAL);
    struct keyring_key l10 = make_key(10, KEYRING_SOURCE_LOCAL);
    struct keyring_key c10 = make_key(10, KEYRING_SOURCE_CLUSTER);
    struct keyring_key l11 = make_key(11, KEYRING_SOURCE_LOCAL);
    struct keyring_key c11 = make_key(11, KEYRING_SOURCE_CLUSTER);
    time_t now = 41; /* epoch 10 */
    const struct keyring_key *k;

    (void)state;
    keyring_init(&r, 4, 2);
    assert_int_equal(keyring_add(&r, &c8), 0);
    assert_int_equal(keyring_add(&r, &l9), 0);
    assert_int_equal(keyring_add(&r, &l10), 0);
    assert_int_equal(keyring_add(&r, &l11), 0);

    /* Degraded: this epoch's local key is the encrypt key and is not renewed. */
    k = keyring_find(&r, l10.name);
    assert_ptr_equal(keyring_encrypt_key(&r, now), k);
    assert_false(keyring_needs_renewal(&r, k, now));

    assert_int_equal(keyring_add(&r, &c10), 0);
    assert_int_equal(keyring_add(&r, &c11), 0);

    /* Older epochs, whatever their source. */
    assert_true(keyring_needs_renewal(&r, keyring_find(&r, c8.name), now));
    assert_true(keyring_needs_renewal(&r, keyring_find(&r, l9.name), now));
    /* This epoch's local key once the cluster's is known: superseded. */
    assert_true(keyring_needs_renewal(&r, keyring_find(&r, l10.name), now));
    /* The encrypt key itself, and an equal copy of it from another ring. */
    k = keyring_encrypt_key(&r, now);
    assert_non_null(k);
    assert_memory_equal(k, &c10, sizeof(c10));
    assert_false(keyring_needs_renewal(&r, k, now));
    assert_false(keyring_needs_renewal(&r, &c10, now));
    /* Next epoch (a peer whose clock runs ahead): never, cluster or local. */
    assert_false(keyring_needs_renewal(&r, keyring_find(&r, c11.name), now));
    assert_false(keyring_needs_renewal(&r, keyring_find(&r, l11.name), now));
    /* One second later it is the current epoch and the previous ones renew. */
    assert_false(keyring_needs_renewal(&r, keyring_find(&r, c11.name), 44));
    assert_true(keyring_needs_renewal(&r, keyring_find(&r, l11.name), 44));
    assert_true(keyring_needs_renewal(&r, keyring_find(&r, c10.name), 44));
}

static void
test_roles(void **state)
{
    struct keyring r;
    struct keyring_key k;
    time_t now = 40; /* first second of epoch 10 */

    (void)state;
    keyring_init(&r, 4, 2);
    k = make_key(10, KEYRING_SOURCE_CLUSTER);
    assert_int_equal(keyring_role(&r, &k, now), KEYRING_ROLE_CURRENT);
    assert_int_equal(keyring_role(&r, &k, 43), KEYRING_ROLE_CURRENT);
    assert_int_equal(keyring_role(&r, &k, 39), KEYRING_ROLE_NEXT);
    assert_int_equal(keyring_role(&r, &k, 44), KEYRING_ROLE_DECRYPT_ONLY);
    k.epoch = 11;
    assert_int_equal(keyring_role(&r, &k, now), KEYRING_ROLE_NEXT);
    k.epoch = 9;
    assert_int_equal(keyring_role(&r, &k, now), KEYRING_ROLE_DECRYPT_ONLY);
    k.epoch = 8;
    assert_int_equal(keyring_role(&r, &k, now), KEYRING_ROLE_DECRYPT_ONLY);
    k.epoch = 12;
    assert_int_equal(keyring_role(&r, &k, now), KEYRING_ROLE_DECRYPT_ONLY);

    assert_string_equal(keyring_role_name(KEYRING_ROLE_CURRENT), "current");
    assert_string_equal(keyring_role_name(KEYRING_ROLE_NEXT), "next");
    assert_string_equal(keyring_role_name(KEYRING_ROLE_DECRYPT_ONLY), "decrypt-only");
    assert_string_equal(keyring_source_name(KEYRING_SOURCE_CLUSTER), "cluster");
    assert_string_equal(keyring_source_name(KEYRING_SOURCE_LOCAL), "local");
}

static void
test_expire_window_edges(void **state)
{
    struct keyring r;
    struct keyring_key keys[12];
    size_t n = 0;

    (void)state;
    keyring_init(&r, 4, 2);
    /* Epochs 7..12, each with a cluster and a local key, interleaved so survivors move. */
    for (uint64_t e = 7; e <= 12; e++) {
        keys[n] = make_key(e, KEYRING_SOURCE_CLUSTER);
        assert_int_equal(keyring_add(&r, &keys[n]), 0);
        n++;
        keys[n] = make_key(e, KEYRING_SOURCE_LOCAL);
        assert_int_equal(keyring_add(&r, &keys[n]), 0);
        n++;
    }
    assert_int_equal(r.n, 12);

    /* Last second of epoch 9: 7 = 9 - keep still stays; 11 and 12, beyond the next epoch, go. */
    struct keyring early;
    keyring_init(&early, 4, 2);
    keyring_copy(&early, &r);
    assert_int_equal(keyring_expire(&early, 39), 4);
    for (size_t i = 0; i < n; i++) {
        bool stays = keys[i].epoch >= 7 && keys[i].epoch <= 10;
        assert_int_equal(keyring_find(&early, keys[i].name) != NULL, stays);
    }

    /* Any second of epoch 10: 8..11 stay, 7 and 12 go. */
    for (time_t now = 40; now < 44; now++) {
        struct keyring w;

        keyring_init(&w, 4, 2);
        keyring_copy(&w, &r);
        assert_int_equal(keyring_expire(&w, now), 4);
        assert_int_equal(w.n, 8);
        for (size_t i = 0; i < n; i++) {
            bool stays = keys[i].epoch >= 8 && keys[i].epoch <= 11;

            assert_int_equal(keyring_find(&w, keys[i].name) != NULL, stays);
            if (!stays) {
                /* Dropped keys leave no trace in the ring's memory. */
                assert_false(ring_contains_secret(&w, &keys[i]));
            }
        }
        assert_tail_zero(&w);
        /* Survivors are intact and still in their original order. */
        for (size_t i = 0; i + 1 < w.n; i++) {
            assert_true(w.keys[i].epoch <= w.keys[i + 1].epoch);
        }
        assert_memory_equal(keyring_get(&w, 8, KEYRING_SOURCE_CLUSTER), &keys[2], sizeof(keys[2]));
        /* Expiring again at the same time drops nothing. */
        assert_int_equal(keyring_expire(&w, now), 0);
        assert_int_equal(w.n, 8);
    }

    /* First second of epoch 11: 7 and 8 go, 12 is now the next epoch and stays. */
    assert_int_equal(keyring_expire(&r, 44), 4);
    assert_null(keyring_get(&r, 8, KEYRING_SOURCE_CLUSTER));
    assert_non_null(keyring_get(&r, 9, KEYRING_SOURCE_LOCAL));
    assert_non_null(keyring_get(&r, 12, KEYRING_SOURCE_CLUSTER));
    assert_int_equal(r.n, 8);
    assert_tail_zero(&r);
}

static void
test_expire_early_epochs(void **state)
{
    struct keyring r;
    struct keyring_key k0 = make_key(0, KEYRING_SOURCE_CLUSTER);
    struct keyring_key k1 = make_key(1, KEYRING_SOURCE_CLUSTER);
    struct keyring_key k2 = make_key(2, KEYRING_SOURCE_CLUSTER);
    struct keyring_key k3 = make_key(3, KEYRING_SOURCE_CLUSTER);

    (void)state;
    /* e < keep: e - keep would underflow; epoch 0 must stay. */
    keyring_init(&r, 4, 2);
    assert_int_equal(keyring_add(&r, &k0), 0);
    assert_int_equal(keyring_add(&r, &k1), 0);
    assert_int_equal(keyring_add(&r, &k2), 0);
    assert_int_equal(keyring_add(&r, &k3), 0);
    assert_int_equal(keyring_expire(&r, 5), 1); /* epoch 1: 0..2 stay, 3 goes */
    assert_non_null(keyring_find(&r, k0.name));
    assert_null(keyring_find(&r, k3.name));
    assert_int_equal(keyring_expire(&r, 0), 1); /* epoch 0: 2 goes */
    assert_int_equal(r.n, 2);

    /* keep = 0: only the current and next epochs. */
    keyring_init(&r, 4, 0);
    assert_int_equal(keyring_add(&r, &k1), 0);
    assert_int_equal(keyring_add(&r, &k2), 0);
    assert_int_equal(keyring_add(&r, &k3), 0);
    assert_int_equal(keyring_expire(&r, 8), 1);
    assert_null(keyring_find(&r, k1.name));
    assert_int_equal(r.n, 2);
    assert_tail_zero(&r);
}

static void
test_wipe(void **state)
{
    struct keyring r;
    struct keyring_key a = make_key(1, KEYRING_SOURCE_CLUSTER);
    struct keyring_key b = make_key(2, KEYRING_SOURCE_LOCAL);

    (void)state;
    keyring_init(&r, 4, 2);
    assert_int_equal(keyring_add(&r, &a), 0);
    assert_int_equal(keyring_add(&r, &b), 0);
    assert_true(ring_contains_secret(&r, &a));
    keyring_wipe(&r);
    assert_int_equal(r.n, 0);
    assert_true(is_zero(r.keys, sizeof(r.keys)));
    assert_false(ring_contains_secret(&r, &a));
    assert_false(ring_contains_secret(&r, &b));
    assert_null(keyring_find(&r, a.name));
    /* Still usable with its settings. */
    assert_int_equal(r.rotate, 4);
    assert_int_equal(r.keep, 2);
    assert_int_equal(keyring_add(&r, &a), 0);
}

static void
test_copy(void **state)
{
    static struct keyring src;
    static struct keyring dst;
    struct keyring_key s1 = make_key(10, KEYRING_SOURCE_CLUSTER);
    struct keyring_key s2 = make_key(11, KEYRING_SOURCE_CLUSTER);
    struct keyring_key d[4];

    (void)state;
    keyring_init(&src, 4, 2);
    assert_int_equal(keyring_add(&src, &s1), 0);
    assert_int_equal(keyring_add(&src, &s2), 0);
    keyring_init(&dst, 60, 5);
    for (size_t i = 0; i < 4; i++) {
        d[i] = make_key(i, KEYRING_SOURCE_LOCAL);
        assert_int_equal(keyring_add(&dst, &d[i]), 0);
    }

    keyring_copy(&dst, &src);
    assert_int_equal(dst.rotate, 4);
    assert_int_equal(dst.keep, 2);
    assert_int_equal(dst.n, 2);
    assert_memory_equal(dst.keys, src.keys, 2 * sizeof(src.keys[0]));
    assert_ptr_equal(keyring_find(&dst, s2.name), &dst.keys[1]);
    for (size_t i = 0; i < 4; i++) {
        assert_null(keyring_find(&dst, d[i].name));
        assert_false(ring_contains_secret(&dst, &d[i]));
    }
    assert_tail_zero(&dst);
    /* The source is untouched. */
    assert_int_equal(src.n, 2);
    assert_memory_equal(&src.keys[0], &s1, sizeof(s1));

    /* Copying onto itself keeps everything. */
    keyring_copy(&dst, &dst);
    assert_int_equal(dst.n, 2);
    assert_memory_equal(&dst.keys[1], &s2, sizeof(s2));

    /* A zero-initialised ring is a valid destination. */
    static struct keyring zero;
    keyring_copy(&zero, &src);
    assert_int_equal(zero.n, 2);
    assert_int_equal(zero.rotate, 4);
}

static void
test_fingerprint(void **state)
{
    struct keyring_key a;
    struct keyring_key b;

    (void)state;
    memset(&a, 0, sizeof(a));
    /* SHA-256 of 16 zero bytes starts 374708ff. */
    assert_int_equal(keyring_fingerprint(&a), 0x374708ffu);
    memcpy(a.name, "tessera-name-001", KEYRING_NAME_LEN);
    /* SHA-256("tessera-name-001") starts bf4b4456. */
    assert_int_equal(keyring_fingerprint(&a), 0xbf4b4456u);
    assert_int_equal(keyring_fingerprint(&a), keyring_fingerprint(&a));

    /* Only the name counts: key material does not change it. */
    b = a;
    memset(b.aes, 0x11, sizeof(b.aes));
    memset(b.hmac, 0x22, sizeof(b.hmac));
    b.epoch = 99;
    assert_int_equal(keyring_fingerprint(&b), keyring_fingerprint(&a));
    /* A different name: a different fingerprint. */
    b.name[KEYRING_NAME_LEN - 1] ^= 1;
    assert_int_not_equal(keyring_fingerprint(&b), keyring_fingerprint(&a));

    struct keyring_key c = make_key(1, KEYRING_SOURCE_LOCAL);
    struct keyring_key d = make_key(1, KEYRING_SOURCE_LOCAL);
    assert_int_not_equal(keyring_fingerprint(&c), keyring_fingerprint(&d));
}

/* keyring_remove drops exactly one key, keeps the others in order, wipes the freed slot. */
static void
test_remove(void **state)
{
    (void)state;
    struct keyring r;
    struct keyring_key a = make_key(5, KEYRING_SOURCE_CLUSTER);
    struct keyring_key b = make_key(5, KEYRING_SOURCE_LOCAL);
    struct keyring_key c = make_key(6, KEYRING_SOURCE_CLUSTER);

    keyring_init(&r, 4, 2);
    assert_int_equal(keyring_add(&r, &a), 0);
    assert_int_equal(keyring_add(&r, &b), 0);
    assert_int_equal(keyring_add(&r, &c), 0);
    assert_int_equal(keyring_remove(&r, 5, KEYRING_SOURCE_LOCAL), 1);
    assert_int_equal(r.n, 2);
    assert_null(keyring_get(&r, 5, KEYRING_SOURCE_LOCAL));
    assert_null(keyring_find(&r, b.name));
    assert_non_null(keyring_find(&r, a.name));
    assert_non_null(keyring_find(&r, c.name));
    assert_true(is_zero(&r.keys[2], sizeof(r.keys[2])));
    assert_int_equal(keyring_remove(&r, 5, KEYRING_SOURCE_LOCAL), 0);
    assert_int_equal(keyring_remove(&r, 7, KEYRING_SOURCE_CLUSTER), 0);
    assert_int_equal(r.n, 2);
    keyring_wipe(&r);
}

/* keyring_fill_local makes local keys for e and e+1 only where no key is held. */
static void
test_fill_local(void **state)
{
    (void)state;
    struct keyring r;
    struct keyring_key c = make_key(10, KEYRING_SOURCE_CLUSTER);
    time_t now = 10 * 4 + 1; /* epoch 10 with rotate 4 */

    keyring_init(&r, 4, 2);
    assert_int_equal(keyring_add(&r, &c), 0);
    assert_int_equal(keyring_fill_local(&r, now, rng_counter_bytes), 1);
    assert_null(keyring_get(&r, 10, KEYRING_SOURCE_LOCAL));
    assert_non_null(keyring_get(&r, 11, KEYRING_SOURCE_LOCAL));
    assert_int_equal(keyring_fill_local(&r, now, rng_counter_bytes), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(keyring_fill_local(&r, now + 4, rng_counter_bytes), 1); /* epoch 12 */
    assert_non_null(keyring_get(&r, 12, KEYRING_SOURCE_LOCAL));
    rng_fail_at = rng_calls + 1;
    assert_int_equal(keyring_fill_local(&r, now + 8, rng_counter_bytes), -1); /* 13 fails */
    assert_null(keyring_get(&r, 13, KEYRING_SOURCE_LOCAL));
    keyring_wipe(&r);
}

/* The refresh schedule: every refresh_s, at each boundary, and while
 * retrying no later than retry_ms; the boundary refresh is due exactly on
 * the boundary's millisecond, whatever the fraction of the second now. */
static void
test_next_refresh(void **state)
{
    (void)state;
    /* rotate 3600, refresh 10: mid-epoch, the interval wins */
    assert_int_equal(keyring_next_refresh_ms(3600, 7200500, 10, 0), 7210500);
    /* 3 s before a boundary: the boundary wins, to the millisecond */
    assert_int_equal(keyring_next_refresh_ms(3600, 10797250, 10, 0), 10800000);
    /* 1 ms before it */
    assert_int_equal(keyring_next_refresh_ms(3600, 10799999, 10, 0), 10800000);
    /* exactly on it: the next one */
    assert_int_equal(keyring_next_refresh_ms(4, 8000, 10, 0), 12000);
    /* retrying every second (plus jitter) while degraded */
    assert_int_equal(keyring_next_refresh_ms(3600, 7200500, 10, 1100), 7201600);
    /* a boundary before the retry still comes first */
    assert_int_equal(keyring_next_refresh_ms(4, 7900, 10, 1000), 8000);
    /* never now itself */
    assert_int_equal(keyring_next_refresh_ms(1, 5000, 0, 0), 5001);
}

/* The ring holds no copy of `k`'s material anywhere in its memory. */
static bool
ring_holds_bytes(const struct keyring *r, const unsigned char *bytes, size_t len)
{
    return memmem(r, sizeof(*r), bytes, len) != NULL;
}

/*
 * Retiring a key (POST /keyring/retire) removes it by name from any place
 * in the ring: it is gone for lookups and the encrypt key, and none of its
 * bytes -- name, AES key or HMAC key -- is left anywhere in the ring's
 * memory, including the slot the shift vacated (OPENSSL_cleanse).  This is
 * how the "retired key's bytes are wiped" promise is shown: every copy
 * (keyring_sync's, a worker's, keyring_cluster's working copy) is a
 * struct keyring that either runs keyring_remove_name or is overwritten by
 * keyring_copy, whose wiping test_copy covers.
 */
static void
test_remove_name_wipes(void **state)
{
    struct keyring r;
    struct keyring_key a = make_key(9, KEYRING_SOURCE_CLUSTER);
    struct keyring_key b = make_key(10, KEYRING_SOURCE_CLUSTER);
    struct keyring_key c = make_key(10, KEYRING_SOURCE_LOCAL);
    struct keyring_key d = make_key(11, KEYRING_SOURCE_CLUSTER);
    const time_t now = 10 * 100 + 5;

    (void)state;
    keyring_init(&r, 100, 3);
    assert_int_equal(keyring_add(&r, &a), 0);
    assert_int_equal(keyring_add(&r, &b), 0);
    assert_int_equal(keyring_add(&r, &c), 0);
    assert_int_equal(keyring_add(&r, &d), 0);
    assert_ptr_equal(keyring_encrypt_key(&r, now), keyring_find(&r, b.name));

    /* The current cluster key, from the middle of the array. */
    assert_int_equal(keyring_remove_name(&r, b.name), 1);
    assert_int_equal(r.n, 3);
    assert_null(keyring_find(&r, b.name));
    assert_false(ring_holds_bytes(&r, b.name, sizeof(b.name)));
    assert_false(ring_holds_bytes(&r, b.aes, sizeof(b.aes)));
    assert_false(ring_holds_bytes(&r, b.hmac, sizeof(b.hmac)));
    assert_true(is_zero(&r.keys[r.n], sizeof(r.keys[r.n])));
    /* The epoch's local key takes over; the others are untouched. */
    assert_ptr_equal(keyring_encrypt_key(&r, now), keyring_find(&r, c.name));
    assert_non_null(keyring_find(&r, a.name));
    assert_non_null(keyring_find(&r, d.name));
    assert_int_equal(memcmp(keyring_find(&r, d.name)->aes, d.aes, sizeof(d.aes)), 0);

    /* An unknown name: nothing happens. */
    assert_int_equal(keyring_remove_name(&r, b.name), 0);
    assert_int_equal(r.n, 3);
    /* The last slot. */
    assert_int_equal(keyring_remove_name(&r, d.name), 1);
    assert_false(ring_holds_bytes(&r, d.aes, sizeof(d.aes)));
    assert_true(is_zero(&r.keys[r.n], sizeof(r.keys[r.n])));
    keyring_wipe(&r);
}

/* Rotation: the fresh key becomes the encrypt key with the old one's source;
 * the old one stays, decrypt-only (renewed, role decrypt-only), until its
 * epoch leaves the window; a second rotation drops the first rotated key. */
static void
test_rotate(void **state)
{
    struct keyring r;
    struct keyring_key old = make_key(10, KEYRING_SOURCE_LOCAL);
    struct keyring_key k1 = make_key(10, KEYRING_SOURCE_LOCAL);
    struct keyring_key k2 = make_key(10, KEYRING_SOURCE_LOCAL);
    const time_t now = 10 * 100 + 5;
    const struct keyring_key *h;

    (void)state;
    keyring_init(&r, 100, 3);
    assert_int_equal(keyring_rotate(&r, 10, &old), -ENOENT); /* none yet: just added */
    assert_ptr_equal(keyring_encrypt_key(&r, now), keyring_find(&r, old.name));
    assert_int_equal(keyring_rotate(&r, 10, &k1), 0);
    assert_int_equal(r.n, 2);
    h = keyring_encrypt_key(&r, now);
    assert_int_equal(memcmp(h->name, k1.name, sizeof(k1.name)), 0);
    assert_int_equal(h->source, KEYRING_SOURCE_LOCAL);
    h = keyring_find(&r, old.name);
    assert_non_null(h);
    assert_int_equal(h->source, KEYRING_SOURCE_ROTATED);
    assert_int_equal(keyring_role(&r, h, now), KEYRING_ROLE_DECRYPT_ONLY);
    assert_true(keyring_needs_renewal(&r, h, now));
    assert_false(keyring_needs_renewal(&r, keyring_find(&r, k1.name), now));

    assert_int_equal(keyring_rotate(&r, 10, &k2), 0);
    assert_int_equal(r.n, 2);
    assert_null(keyring_find(&r, old.name));
    assert_false(ring_holds_bytes(&r, old.aes, sizeof(old.aes)));
    assert_int_equal(keyring_find(&r, k1.name)->source, KEYRING_SOURCE_ROTATED);
    assert_ptr_equal(keyring_encrypt_key(&r, now), keyring_find(&r, k2.name));
    /* It expires with its epoch. */
    assert_int_equal(keyring_expire(&r, 14 * 100), 2);
    assert_int_equal(r.n, 0);
    keyring_wipe(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_epoch_boundaries, setup_rng),
        cmocka_unit_test_setup(test_epoch_start_roundtrip, setup_rng),
        cmocka_unit_test_setup(test_generate_uses_rng, setup_rng),
        cmocka_unit_test_setup(test_generate_rng_failure, setup_rng),
        cmocka_unit_test_setup(test_add_and_find, setup_rng),
        cmocka_unit_test_setup(test_remove, setup_rng),
        cmocka_unit_test_setup(test_fill_local, setup_rng),
        cmocka_unit_test_setup(test_add_errors, setup_rng),
        cmocka_unit_test_setup(test_add_full, setup_rng),
        cmocka_unit_test_setup(test_replace, setup_rng),
        cmocka_unit_test_setup(test_encrypt_key, setup_rng),
        cmocka_unit_test_setup(test_renewal, setup_rng),
        cmocka_unit_test_setup(test_roles, setup_rng),
        cmocka_unit_test_setup(test_expire_window_edges, setup_rng),
        cmocka_unit_test_setup(test_expire_early_epochs, setup_rng),
        cmocka_unit_test_setup(test_wipe, setup_rng),
        cmocka_unit_test_setup(test_copy, setup_rng),
        cmocka_unit_test_setup(test_fingerprint, setup_rng),
        cmocka_unit_test_setup(test_remove_name_wipes, setup_rng),
        cmocka_unit_test_setup(test_rotate, setup_rng),
        cmocka_unit_test(test_next_refresh),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
