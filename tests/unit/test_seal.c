/*
 * test_seal.c - unit tests for seal.c: round trips, and the negative cases
 * that matter for memcached (every flipped bit, every truncation, an entry
 * copied under another key, an unknown secret), secret rollover, the
 * derivation's stability, and the secret file's parser and permission checks.
 *
 * Single-threaded.  Files are made in a mkdtemp() folder removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "seal.h"

/* Three fixed secrets: "current", "old" and one nobody adds. */
static unsigned char secret_a[SEAL_SECRET_LEN];
static unsigned char secret_b[SEAL_SECRET_LEN];
static unsigned char secret_c[SEAL_SECRET_LEN];

static const char mc_key[] = "tessera:sess:0123456789abcdef";
static const char mc_other_key[] = "tessera:sess:0123456789abcdee";

static void
fill_secrets(void)
{
    for (size_t i = 0; i < SEAL_SECRET_LEN; i++) {
        secret_a[i] = (unsigned char)i;
        secret_b[i] = (unsigned char)(0xa5 ^ i);
        secret_c[i] = (unsigned char)(0xff - i);
    }
}

static void
fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
    }
}

static uint32_t
entry_id(const unsigned char *entry)
{
    return (uint32_t)entry[SEAL_ID_OFFSET] << 24 | (uint32_t)entry[SEAL_ID_OFFSET + 1] << 16 |
           (uint32_t)entry[SEAL_ID_OFFSET + 2] << 8 | entry[SEAL_ID_OFFSET + 3];
}

/* A seal with `cur` as the current secret and `old` (may be NULL) as an old one. */
static struct seal *
make_seal(const unsigned char *cur, const unsigned char *old)
{
    struct seal *s = seal_new();

    assert_non_null(s);
    if (cur != NULL) {
        assert_int_equal(seal_add_secret(s, cur, true), 0);
    }
    if (old != NULL) {
        assert_int_equal(seal_add_secret(s, old, false), 0);
    }
    return s;
}

/* Seal `ptlen` pattern bytes under mc_key into a fresh buffer; returns it. */
static unsigned char *
seal_pattern(const struct seal *s, size_t ptlen, unsigned seed, size_t *outlen)
{
    unsigned char *pt = malloc(ptlen + 1);
    unsigned char *out = malloc(ptlen + SEAL_OVERHEAD);

    assert_non_null(pt);
    assert_non_null(out);
    fill_pattern(pt, ptlen, seed);
    assert_int_equal(
        seal_seal(s, mc_key, strlen(mc_key), pt, ptlen, out, ptlen + SEAL_OVERHEAD, outlen), 0);
    assert_int_equal(*outlen, ptlen + SEAL_OVERHEAD);
    free(pt);
    return out;
}

static void
test_overhead(void **state)
{
    (void)state;
    assert_int_equal(seal_overhead(), 34);
    assert_int_equal(SEAL_OVERHEAD, 34);
}

static void
test_round_trip(void **state)
{
    static const size_t sizes[] = {0, 1, 131, 4096};
    struct seal *s = make_seal(secret_a, NULL);

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        size_t outlen;
        size_t ptlen = 12345;
        unsigned char *entry = seal_pattern(s, n, (unsigned)i, &outlen);
        unsigned char *want = malloc(n + 1);
        unsigned char *got = malloc(n + 1);

        assert_non_null(want);
        assert_non_null(got);
        fill_pattern(want, n, (unsigned)i);
        assert_int_equal(entry[0], SEAL_VERSION);
        assert_int_equal(entry[1], 0);
        /* The plaintext does not appear in clear (a memcached dump reveals nothing). */
        if (n >= 16) {
            assert_null(memmem(entry, outlen, want, 16));
        }
        assert_int_equal(seal_open(s, mc_key, strlen(mc_key), entry, outlen, got, n, &ptlen), 0);
        assert_int_equal(ptlen, n);
        assert_memory_equal(got, want, n);
        free(entry);
        free(want);
        free(got);
    }
    seal_free(s);
}

static void
test_empty_key(void **state)
{
    struct seal *s = make_seal(secret_a, NULL);
    unsigned char out[64];
    unsigned char pt[8];
    size_t outlen;
    size_t ptlen;

    (void)state;
    assert_int_equal(seal_seal(s, NULL, 0, "abcd", 4, out, sizeof(out), &outlen), 0);
    assert_int_equal(seal_open(s, NULL, 0, out, outlen, pt, sizeof(pt), &ptlen), 0);
    assert_int_equal(ptlen, 4);
    assert_memory_equal(pt, "abcd", 4);
    assert_int_equal(seal_open(s, "k", 1, out, outlen, pt, sizeof(pt), &ptlen), -EBADMSG);
    seal_free(s);
}

static void
test_every_bit_flipped(void **state)
{
    struct seal *s = make_seal(secret_a, NULL);
    size_t outlen;
    unsigned char *entry = seal_pattern(s, 131, 3, &outlen);
    unsigned char pt[131];
    size_t ptlen;
    unsigned rejected = 0;

    (void)state;
    /* Every bit of header, nonce, ciphertext and tag. */
    for (size_t i = 0; i < outlen; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            entry[i] ^= (unsigned char)(1u << bit);
            memset(pt, 0x5a, sizeof(pt));
            int rc = seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen);
            if (i >= SEAL_ID_OFFSET && i < SEAL_ID_OFFSET + 4) {
                assert_int_equal(rc, -ENOKEY);
            } else {
                assert_int_equal(rc, -EBADMSG);
            }
            assert_int_equal(ptlen, 0);
            entry[i] ^= (unsigned char)(1u << bit);
            rejected++;
        }
    }
    assert_int_equal(rejected, 8 * (131 + SEAL_OVERHEAD));
    /* Unflipped it still opens. */
    assert_int_equal(seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen),
                     0);
    free(entry);
    seal_free(s);
}

static void
test_every_byte_replaced(void **state)
{
    struct seal *s = make_seal(secret_a, secret_b);
    size_t outlen;
    unsigned char *entry = seal_pattern(s, 64, 4, &outlen);
    unsigned char pt[64];
    size_t ptlen;

    (void)state;
    for (size_t i = 0; i < outlen; i++) {
        unsigned char saved = entry[i];

        entry[i] = (unsigned char)~saved;
        int rc = seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen);
        assert_true(rc == -EBADMSG || rc == -ENOKEY);
        entry[i] = saved;
    }
    free(entry);
    seal_free(s);
}

static void
test_truncation(void **state)
{
    struct seal *s = make_seal(secret_a, NULL);
    size_t outlen;
    unsigned char *entry = seal_pattern(s, 200, 5, &outlen);
    unsigned char pt[200];
    size_t ptlen;

    (void)state;
    for (size_t len = 0; len < outlen; len++) {
        /* A copy of exactly `len` bytes, so ASan catches any read past it. */
        unsigned char *cut = malloc(len == 0 ? 1 : len);

        assert_non_null(cut);
        memcpy(cut, entry, len);
        int rc = seal_open(s, mc_key, strlen(mc_key), cut, len, pt, sizeof(pt), &ptlen);
        assert_int_equal(rc, -EBADMSG);
        assert_int_equal(ptlen, 0);
        free(cut);
    }
    /* Appended bytes are rejected too. */
    unsigned char *longer = malloc(outlen + 1);
    assert_non_null(longer);
    memcpy(longer, entry, outlen);
    longer[outlen] = 0;
    assert_int_equal(
        seal_open(s, mc_key, strlen(mc_key), longer, outlen + 1, pt, sizeof(pt), &ptlen), -ENOSPC);
    unsigned char big[256];
    assert_int_equal(
        seal_open(s, mc_key, strlen(mc_key), longer, outlen + 1, big, sizeof(big), &ptlen),
        -EBADMSG);
    free(longer);
    free(entry);
    seal_free(s);
}

/* The swap attack: a valid entry copied under another session's key. */
static void
test_wrong_aad(void **state)
{
    struct seal *s = make_seal(secret_a, NULL);
    size_t outlen;
    unsigned char *entry = seal_pattern(s, 48, 6, &outlen);
    unsigned char pt[48];
    size_t ptlen;

    (void)state;
    assert_int_equal(
        seal_open(s, mc_other_key, strlen(mc_other_key), entry, outlen, pt, sizeof(pt), &ptlen),
        -EBADMSG);
    /* A prefix or an extension of the right key is another key. */
    assert_int_equal(
        seal_open(s, mc_key, strlen(mc_key) - 1, entry, outlen, pt, sizeof(pt), &ptlen), -EBADMSG);
    assert_int_equal(seal_open(s, mc_key, sizeof(mc_key), entry, outlen, pt, sizeof(pt), &ptlen),
                     -EBADMSG);
    assert_int_equal(seal_open(s, NULL, 0, entry, outlen, pt, sizeof(pt), &ptlen), -EBADMSG);
    assert_int_equal(seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen),
                     0);
    free(entry);
    seal_free(s);
}

static void
test_rollover(void **state)
{
    struct seal *before = make_seal(secret_b, NULL);    /* b was the current secret */
    struct seal *after = make_seal(secret_a, secret_b); /* now a is, b is old */
    struct seal *a_only = make_seal(secret_a, NULL);
    size_t outlen_old;
    size_t outlen_new;
    size_t outlen_a;
    unsigned char *a_entry = seal_pattern(a_only, 0, 0, &outlen_a);
    unsigned char *old_entry = seal_pattern(before, 100, 7, &outlen_old);
    unsigned char *new_entry = seal_pattern(after, 100, 8, &outlen_new);
    unsigned char pt[100];
    unsigned char want[100];
    size_t ptlen;

    (void)state;
    /* An entry under the old secret still opens. */
    fill_pattern(want, sizeof(want), 7);
    assert_int_equal(
        seal_open(after, mc_key, strlen(mc_key), old_entry, outlen_old, pt, sizeof(pt), &ptlen), 0);
    assert_memory_equal(pt, want, sizeof(want));
    /* New entries are sealed under the current secret, never the old one. */
    assert_int_equal(entry_id(new_entry), entry_id(a_entry));
    assert_int_not_equal(entry_id(new_entry), entry_id(old_entry));
    /* Once the old secret is dropped, its entries are unknown. */
    assert_int_equal(
        seal_open(a_only, mc_key, strlen(mc_key), old_entry, outlen_old, pt, sizeof(pt), &ptlen),
        -ENOKEY);
    /* And the instance that has not rolled over yet cannot read new entries. */
    assert_int_equal(
        seal_open(before, mc_key, strlen(mc_key), new_entry, outlen_new, pt, sizeof(pt), &ptlen),
        -ENOKEY);
    free(a_entry);
    free(old_entry);
    free(new_entry);
    seal_free(before);
    seal_free(after);
    seal_free(a_only);
}

static void
test_unknown_secret(void **state)
{
    struct seal *s = make_seal(secret_a, secret_b);
    struct seal *other = make_seal(secret_c, NULL);
    size_t outlen;
    unsigned char *entry = seal_pattern(other, 32, 9, &outlen);
    unsigned char pt[32];
    size_t ptlen = 99;

    (void)state;
    assert_int_equal(seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen),
                     -ENOKEY);
    assert_int_equal(ptlen, 0);
    free(entry);
    seal_free(s);
    seal_free(other);
}

/* Same id under forged bytes: an entry under secret c relabelled with a's id. */
static void
test_relabelled_id(void **state)
{
    struct seal *s = make_seal(secret_a, NULL);
    struct seal *other = make_seal(secret_c, NULL);
    size_t outlen;
    size_t mylen;
    unsigned char *entry = seal_pattern(other, 32, 10, &outlen);
    unsigned char *mine = seal_pattern(s, 0, 0, &mylen);
    unsigned char pt[32];
    size_t ptlen;

    (void)state;
    memcpy(entry + SEAL_ID_OFFSET, mine + SEAL_ID_OFFSET, 4);
    assert_int_equal(seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen),
                     -EBADMSG);
    free(entry);
    free(mine);
    seal_free(s);
    seal_free(other);
}

static void
test_nonce_random(void **state)
{
    struct seal *s = make_seal(secret_a, NULL);
    size_t l1;
    size_t l2;
    unsigned char *e1 = seal_pattern(s, 64, 11, &l1);
    unsigned char *e2 = seal_pattern(s, 64, 11, &l2);

    (void)state;
    assert_int_equal(l1, l2);
    assert_memory_equal(e1, e2, 6);              /* same version, flags, id */
    assert_memory_not_equal(e1 + 6, e2 + 6, 12); /* different nonce */
    assert_memory_not_equal(e1 + 18, e2 + 18, l1 - 18);
    free(e1);
    free(e2);
    seal_free(s);
}

static void
test_bad_version_and_flags(void **state)
{
    struct seal *s = make_seal(secret_a, NULL);
    size_t outlen;
    unsigned char *entry = seal_pattern(s, 16, 12, &outlen);
    unsigned char pt[16];
    size_t ptlen;

    (void)state;
    entry[0] = 2;
    assert_int_equal(seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen),
                     -EBADMSG);
    entry[0] = 0;
    assert_int_equal(seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen),
                     -EBADMSG);
    entry[0] = SEAL_VERSION;
    entry[1] = 0x80;
    assert_int_equal(seal_open(s, mc_key, strlen(mc_key), entry, outlen, pt, sizeof(pt), &ptlen),
                     -EBADMSG);
    free(entry);
    seal_free(s);
}

static void
test_buffer_sizes(void **state)
{
    struct seal *s = make_seal(secret_a, NULL);
    struct seal *none = make_seal(NULL, secret_a);
    unsigned char pt[40];
    unsigned char out[40 + SEAL_OVERHEAD];
    unsigned char back[40];
    size_t outlen = 77;
    size_t ptlen = 77;

    (void)state;
    fill_pattern(pt, sizeof(pt), 13);
    assert_int_equal(
        seal_seal(s, mc_key, strlen(mc_key), pt, sizeof(pt), out, sizeof(out) - 1, &outlen),
        -ENOSPC);
    assert_int_equal(outlen, 0);
    /* Without a current secret nothing is sealed (old secrets only open). */
    assert_int_equal(
        seal_seal(none, mc_key, strlen(mc_key), pt, sizeof(pt), out, sizeof(out), &outlen),
        -ENOKEY);
    assert_int_equal(
        seal_seal(s, mc_key, strlen(mc_key), pt, sizeof(pt), out, sizeof(out), &outlen), 0);
    assert_int_equal(
        seal_open(s, mc_key, strlen(mc_key), out, outlen, back, sizeof(back) - 1, &ptlen), -ENOSPC);
    assert_int_equal(ptlen, 0);
    /* The secret-only-as-old instance opens what the current one sealed. */
    assert_int_equal(
        seal_open(none, mc_key, strlen(mc_key), out, outlen, back, sizeof(back), &ptlen), 0);
    assert_memory_equal(back, pt, sizeof(pt));
    seal_free(s);
    seal_free(none);
}

static void
test_add_secret_rules(void **state)
{
    struct seal *s = seal_new();
    unsigned char sec[SEAL_SECRET_LEN];

    (void)state;
    assert_non_null(s);
    assert_int_equal(seal_add_secret(s, secret_a, true), 0);
    assert_int_equal(seal_add_secret(s, secret_b, true), -EEXIST);
    assert_int_equal(seal_add_secret(s, secret_a, false), -EEXIST); /* same id as current */
    for (unsigned i = 0; i < SEAL_OLD_MAX; i++) {
        memset(sec, (int)(i + 1), sizeof(sec));
        assert_int_equal(seal_add_secret(s, sec, false), 0);
    }
    memset(sec, 0x77, sizeof(sec));
    assert_int_equal(seal_add_secret(s, sec, false), -ENOSPC);
    seal_free(s);
    seal_free(NULL);
}

/* The derivation is stable across instances and separates secrets. */
static void
test_derivation_stable(void **state)
{
    struct seal *a1 = make_seal(secret_a, NULL);
    struct seal *a2 = make_seal(secret_a, NULL);
    struct seal *b = make_seal(secret_b, NULL);
    size_t l1;
    size_t l2;
    size_t l3;
    unsigned char *e1 = seal_pattern(a1, 20, 14, &l1);
    unsigned char *e2 = seal_pattern(a2, 20, 14, &l2);
    unsigned char *e3 = seal_pattern(b, 20, 14, &l3);
    unsigned char pt[20];
    size_t ptlen;

    (void)state;
    assert_int_equal(entry_id(e1), entry_id(e2));
    assert_int_not_equal(entry_id(e1), entry_id(e3));
    /* Another instance with the same secret opens it (the cluster case). */
    assert_int_equal(seal_open(a2, mc_key, strlen(mc_key), e1, l1, pt, sizeof(pt), &ptlen), 0);
    /* The id is not a slice of the secret. */
    assert_null(memmem(secret_a, sizeof(secret_a), e1 + SEAL_ID_OFFSET, 4));
    free(e1);
    free(e2);
    free(e3);
    seal_free(a1);
    seal_free(a2);
    seal_free(b);
}

/*
 * Known answers: pin the KDF, salt, labels and entry layout, so that a change
 * cannot go unnoticed (it would split a cluster running mixed versions).  The
 * values were computed apart from OpenSSL, with Python's hmac module
 * following RFC 5869: HKDF-SHA256(salt "tessera.memcached.seal", info "tessera
 * seal v1 id" / "tessera seal v1 key").
 */
static const uint32_t kat_id_zero = 0xf3906d90u;  /* secret: 32 zero bytes */
static const uint32_t kat_id_count = 0x0d358ca4u; /* secret: bytes 0..31 */
static const unsigned char kat_key_count[32] = {
    0x8f, 0xcf, 0xff, 0x1b, 0xd5, 0xc2, 0x13, 0x72, 0xc8, 0xed, 0x92, 0xf5, 0x84, 0xf8, 0xc9, 0xa6,
    0x3a, 0x62, 0x6f, 0x0b, 0xee, 0x0e, 0xad, 0x14, 0xe5, 0xe7, 0x8e, 0x5e, 0x43, 0xb4, 0xb0, 0xd1,
};

static void
test_derivation_known_answer(void **state)
{
    unsigned char zero[SEAL_SECRET_LEN] = {0};
    struct seal *z = make_seal(zero, NULL);
    struct seal *a = make_seal(secret_a, NULL);
    size_t l;
    unsigned char *ez = seal_pattern(z, 0, 0, &l);
    unsigned char *ea = seal_pattern(a, 0, 0, &l);

    (void)state;
    assert_int_equal(entry_id(ez), kat_id_zero);
    assert_int_equal(entry_id(ea), kat_id_count);
    free(ez);
    free(ea);
    seal_free(z);
    seal_free(a);
}

/* A golden entry built here with plain EVP calls and the known key opens,
 * which pins the layout and the AAD as well as the key. */
static void
test_golden_entry(void **state)
{
    static const char msg[] = "a TLS session, serialised";
    struct seal *a = make_seal(secret_a, NULL);
    unsigned char entry[sizeof(msg) - 1 + SEAL_OVERHEAD];
    unsigned char pt[sizeof(msg)];
    size_t ptlen;
    int outl;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    (void)state;
    assert_non_null(ctx);
    entry[0] = 1;
    entry[1] = 0;
    entry[2] = (unsigned char)(kat_id_count >> 24);
    entry[3] = (unsigned char)(kat_id_count >> 16);
    entry[4] = (unsigned char)(kat_id_count >> 8);
    entry[5] = (unsigned char)kat_id_count;
    for (int i = 0; i < 12; i++) {
        entry[6 + i] = (unsigned char)(0xe0 + i);
    }
    assert_int_equal(EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), kat_key_count, entry + 6, NULL),
                     1);
    assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &outl, entry, 18), 1);
    assert_int_equal(
        EVP_EncryptUpdate(ctx, NULL, &outl, (const unsigned char *)mc_key, (int)strlen(mc_key)), 1);
    assert_int_equal(
        EVP_EncryptUpdate(ctx, entry + 18, &outl, (const unsigned char *)msg, (int)sizeof(msg) - 1),
        1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, entry + 18 + sizeof(msg) - 1, &outl), 1);
    assert_int_equal(
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, entry + 18 + sizeof(msg) - 1), 1);
    EVP_CIPHER_CTX_free(ctx);

    assert_int_equal(
        seal_open(a, mc_key, strlen(mc_key), entry, sizeof(entry), pt, sizeof(pt), &ptlen), 0);
    assert_int_equal(ptlen, sizeof(msg) - 1);
    assert_memory_equal(pt, msg, sizeof(msg) - 1);
    seal_free(a);
}

/* Several threads seal and open through one struct seal at once (run it under TSan). */
struct thread_arg {
    const struct seal *s;
    unsigned seed;
    int failures;
};

static void *
thread_round_trips(void *p)
{
    struct thread_arg *a = p;
    unsigned char pt[300];
    unsigned char out[300 + SEAL_OVERHEAD];
    unsigned char back[300];
    size_t outlen;
    size_t ptlen;

    for (unsigned i = 0; i < 500; i++) {
        size_t n = (a->seed * 37u + i) % sizeof(pt);

        fill_pattern(pt, n, a->seed + i);
        if (seal_seal(a->s, mc_key, strlen(mc_key), pt, n, out, sizeof(out), &outlen) != 0 ||
            seal_open(a->s, mc_key, strlen(mc_key), out, outlen, back, sizeof(back), &ptlen) != 0 ||
            ptlen != n || memcmp(back, pt, n) != 0) {
            a->failures++;
        }
        out[outlen - 1] ^= 1;
        if (seal_open(a->s, mc_key, strlen(mc_key), out, outlen, back, sizeof(back), &ptlen) !=
            -EBADMSG) {
            a->failures++;
        }
    }
    return NULL;
}

static void
test_threads(void **state)
{
    struct seal *s = make_seal(secret_a, secret_b);
    pthread_t t[4];
    struct thread_arg args[4];

    (void)state;
    for (unsigned i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.s = s, .seed = i + 1, .failures = 0};
        assert_int_equal(pthread_create(&t[i], NULL, thread_round_trips, &args[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    seal_free(s);
}

/* --- seal_parse_secret ------------------------------------------------------ */

static const char hex_lower[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char hex_upper[] = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";

static int
parse(const char *text, size_t len)
{
    unsigned char out[SEAL_SECRET_LEN];

    return seal_parse_secret(text, len, out);
}

static void
test_parse_secret_accepts(void **state)
{
    unsigned char out[SEAL_SECRET_LEN];
    char buf[80];

    (void)state;
    assert_int_equal(seal_parse_secret(hex_lower, 64, out), 0);
    assert_memory_equal(out, secret_a, SEAL_SECRET_LEN);
    memset(out, 0, sizeof(out));
    assert_int_equal(seal_parse_secret(hex_upper, 64, out), 0);
    assert_memory_equal(out, secret_a, SEAL_SECRET_LEN);
    snprintf(buf, sizeof(buf), "%s\n", hex_lower);
    assert_int_equal(parse(buf, 65), 0);
    snprintf(buf, sizeof(buf), "%s\r\n", hex_upper);
    assert_int_equal(parse(buf, 66), 0);
}

static void
test_parse_secret_rejects(void **state)
{
    char buf[80];

    (void)state;
    assert_int_equal(parse(hex_lower, 63), -EINVAL);
    snprintf(buf, sizeof(buf), "%s0", hex_lower);
    assert_int_equal(parse(buf, 65), -EINVAL);
    snprintf(buf, sizeof(buf), "%s0\n", hex_lower);
    assert_int_equal(parse(buf, 66), -EINVAL);
    assert_int_equal(parse("", 0), -EINVAL);
    /* Two newlines, a lone CR, trailing or leading space. */
    snprintf(buf, sizeof(buf), "%s\n\n", hex_lower);
    assert_int_equal(parse(buf, 66), -EINVAL);
    snprintf(buf, sizeof(buf), "%s\r", hex_lower);
    assert_int_equal(parse(buf, 65), -EINVAL);
    snprintf(buf, sizeof(buf), "%s ", hex_lower);
    assert_int_equal(parse(buf, 65), -EINVAL);
    snprintf(buf, sizeof(buf), " %s", hex_lower);
    assert_int_equal(parse(buf, 65), -EINVAL);
    /* Every position replaced by a non-hex character, a space and a NUL. */
    static const char bad[] = {'g', 'G', 'x', ' ', '\0', '\n', '-', ':', '/', '@', '`'};
    for (size_t i = 0; i < 64; i++) {
        for (size_t j = 0; j < sizeof(bad); j++) {
            memcpy(buf, hex_lower, 64);
            buf[i] = bad[j];
            assert_int_equal(parse(buf, 64), -EINVAL);
        }
    }
    /* A space in the middle makes 65 characters with 64 digits. */
    memcpy(buf, hex_lower, 32);
    buf[32] = ' ';
    memcpy(buf + 33, hex_lower + 32, 32);
    assert_int_equal(parse(buf, 65), -EINVAL);
}

/* --- seal_read_secret_file -------------------------------------------------- */

static char tmpdir[64];

static int
setup_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_seal.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_tmpdir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write `text` to tmpdir/name with `mode`; returns the path (static buffer). */
static const char *
write_file(const char *name, const char *text, mode_t mode)
{
    static char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    /* chmod, not the create mode: the umask must not weaken the test. */
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void
test_read_secret_modes(void **state)
{
    static const mode_t ok_modes[] = {0600, 0400};
    static const mode_t bad_modes[] = {0640, 0604, 0644, 0620, 0602, 0660, 0666, 0610};
    unsigned char out[SEAL_SECRET_LEN];
    char text[80];
    char why[128];

    (void)state;
    snprintf(text, sizeof(text), "%s\n", hex_lower);
    for (size_t i = 0; i < sizeof(ok_modes) / sizeof(ok_modes[0]); i++) {
        const char *p = write_file("ok.key", text, ok_modes[i]);

        memset(out, 0, sizeof(out));
        assert_int_equal(seal_read_secret_file(p, out, why, sizeof(why)), 0);
        assert_memory_equal(out, secret_a, SEAL_SECRET_LEN);
    }
    for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
        const char *p = write_file("bad.key", text, bad_modes[i]);

        assert_int_equal(seal_read_secret_file(p, out, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "is readable by group or others (chmod 600)");
    }
}

static void
test_read_secret_bad_files(void **state)
{
    unsigned char out[SEAL_SECRET_LEN];
    char path[128];
    char why[128];
    char big[200];

    (void)state;
    /* A missing file. */
    snprintf(path, sizeof(path), "%s/missing.key", tmpdir);
    assert_int_equal(seal_read_secret_file(path, out, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "cannot open"));
    /* A directory (mode 0700, so the mode is not what rejects it). */
    snprintf(path, sizeof(path), "%s/dir.key", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(seal_read_secret_file(path, out, why, sizeof(why)), -EISDIR);
    assert_string_equal(why, "is a directory");
    /* Bad content. */
    assert_int_equal(
        seal_read_secret_file(write_file("short.key", "abcd\n", 0600), out, why, sizeof(why)),
        -EINVAL);
    assert_non_null(strstr(why, "64 hex digits"));
    assert_int_equal(
        seal_read_secret_file(write_file("empty.key", "", 0600), out, why, sizeof(why)), -EINVAL);
    /* Too large. */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(seal_read_secret_file(write_file("big.key", big, 0600), out, why, sizeof(why)),
                     -EFBIG);
    /* why may be absent. */
    assert_int_equal(seal_read_secret_file(write_file("big.key", big, 0644), out, NULL, 0), -EPERM);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overhead),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_key),
        cmocka_unit_test(test_every_bit_flipped),
        cmocka_unit_test(test_every_byte_replaced),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_wrong_aad),
        cmocka_unit_test(test_rollover),
        cmocka_unit_test(test_unknown_secret),
        cmocka_unit_test(test_relabelled_id),
        cmocka_unit_test(test_nonce_random),
        cmocka_unit_test(test_bad_version_and_flags),
        cmocka_unit_test(test_buffer_sizes),
        cmocka_unit_test(test_add_secret_rules),
        cmocka_unit_test(test_derivation_stable),
        cmocka_unit_test(test_derivation_known_answer),
        cmocka_unit_test(test_golden_entry),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_parse_secret_accepts),
        cmocka_unit_test(test_parse_secret_rejects),
        cmocka_unit_test(test_read_secret_modes),
        cmocka_unit_test(test_read_secret_bad_files),
    };

    fill_secrets();
    return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
