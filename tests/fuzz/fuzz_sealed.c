/*
 * fuzz_sealed.c - libFuzzer harness for what tessera reads back from
 * memcached: the sealed-entry opener (seal_open, src/seal.c) and the two
 * decoders behind it, session entries (sessions_entry_open, src/sessions.c:
 * entry header, expiry, d2i_SSL_SESSION, the session ID it is filed under)
 * and keyring entries (keyring_cluster_entry_open, src/keyring_cluster.c).
 *
 * Input: byte 0 is the mode:
 *   bit 0     0: a session entry, 1: a keyring entry
 *   bit 1     0: the rest is the entry as read from memcached (forged,
 *             corrupt, truncated...); 1: the rest is a plaintext that the
 *             harness seals with the real key first, so the fuzzer reaches
 *             the decoders behind the tag check
 *   bit 2     seal with the old secret (opened through the old key)
 *   bit 3     open under another memcached key than the one sealed under
 * then, for a session entry, a length byte (0..32) and that many bytes: the
 * session ID asked for (the memcached key is made from it as sessions.c
 * makes it); for a keyring entry 8 bytes, big-endian: the epoch asked for.
 * The rest is the entry or the plaintext.  The clock reads FUZZ_NOW.
 *
 * Checked, besides crashes, over-reads and leaks: what seal_seal sealed,
 * seal_open opens to the same bytes, and under another key it fails; a
 * session comes back only with the ID asked for, and *why is set exactly
 * when none does; a keyring entry opens exactly when the plaintext is an
 * 80-byte key of that epoch in format 1 (decided here independently).
 *
 * Thread: the fuzzer's only thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz_common.h"
#include "keyring_cluster.h"
#include "mc.h"
#include "seal.h"
#include "sessions.h"

#define ENTRY_HEADER_LEN (4 + 8 + 8 + SESSIONS_INSTANCE_LEN) /* sessions.c */
#define KEY_ENTRY_LEN    (4 + 8 + KEYRING_KEY_LEN)           /* keyring_cluster.c */
#define PREFIX           "tessera:"

static struct seal *seal_cur; /* seals with fuzz_secret, opens both */
static struct seal *seal_old; /* seals with fuzz_old_secret */
static const unsigned char instance[SESSIONS_INSTANCE_LEN] = "tessera-fuzz-ins";

static size_t
session_key(const unsigned char *id, size_t idlen, char *key, size_t cap)
{
    size_t n = (size_t)snprintf(key, cap, "%ssess:", PREFIX);

    for (size_t i = 0; i < idlen; i++) {
        n += (size_t)snprintf(key + n, cap - n, "%02x", id[i]);
    }
    return n;
}

static size_t
stek_key(uint64_t epoch, char *key, size_t cap)
{
    return (size_t)snprintf(key, cap, "%sstek:%llu", PREFIX, (unsigned long long)epoch);
}

/* Seal pt under key; the result is malloc'd.  Checks the round trip. */
static unsigned char *
seal_checked(bool old, const char *key, size_t klen, const unsigned char *pt, size_t ptlen,
             size_t *outlen)
{
    size_t cap = ptlen + seal_overhead();
    unsigned char *out = malloc(cap);
    unsigned char *back = malloc(ptlen > 0 ? ptlen : 1);
    size_t backlen = 0;

    CHECK(out != NULL && back != NULL);
    CHECK(seal_seal(old ? seal_old : seal_cur, key, klen, pt, ptlen, out, cap, outlen) == 0);
    CHECK(*outlen == cap);
    CHECK(seal_open(seal_cur, key, klen, out, *outlen, back, ptlen, &backlen) == 0);
    CHECK(backlen == ptlen && (ptlen == 0 || memcmp(back, pt, ptlen) == 0));
    /* The key is associated data: under any other key the entry is forged. */
    CHECK(seal_open(seal_cur, "x", 1, out, *outlen, back, ptlen, &backlen) == -EBADMSG);
    free(back);
    return out;
}

static void
session_entry(unsigned mode, const unsigned char *id, size_t idlen, const unsigned char *rest,
              size_t len)
{
    char key[MC_KEY_MAX + 1];
    size_t klen = session_key(id, idlen, key, sizeof(key));
    const unsigned char *value = rest;
    size_t vlen = len;
    unsigned char *sealed = NULL;
    const char *why = NULL;
    bool remote = false;

    if (mode & 2) {
        sealed = seal_checked(mode & 4, key, klen, rest, len, &vlen);
        value = sealed;
    }
    if (mode & 8) {
        key[klen - 1] ^= 1;
    }
    SSL_SESSION *sess = sessions_entry_open(seal_cur, key, klen, value, vlen, FUZZ_NOW, id, idlen,
                                            instance, &remote, &why);
    if (sess != NULL) {
        unsigned int sidlen = 0;
        const unsigned char *sid = SSL_SESSION_get_id(sess, &sidlen);

        CHECK(why == NULL && !(mode & 8));
        CHECK(sidlen == idlen && memcmp(sid, id, idlen) == 0);
        CHECK(!(mode & 2) || remote == (memcmp(rest + 20, instance, sizeof(instance)) != 0));
        /* What a resumption would do with it next. */
        unsigned char *der = NULL;
        int n = i2d_SSL_SESSION(sess, &der);
        CHECK(n > 0);
        OPENSSL_free(der);
        SSL_SESSION_free(sess);
    } else {
        CHECK(why != NULL);
        if ((mode & 2) && !(mode & 8) && (len < ENTRY_HEADER_LEN || rest[0] != 1 || rest[1] != 1)) {
            CHECK(strcmp(why, "has an unknown format") == 0);
        }
    }
    free(sealed);
}

static void
keyring_entry(unsigned mode, uint64_t epoch, const unsigned char *rest, size_t len)
{
    char key[MC_KEY_MAX + 1];
    size_t klen = stek_key(epoch, key, sizeof(key));
    const unsigned char *value = rest;
    size_t vlen = len;
    unsigned char *sealed = NULL;
    struct keyring_key k;

    if (mode & 2) {
        sealed = seal_checked(mode & 4, key, klen, rest, len, &vlen);
        value = sealed;
    }
    if (mode & 8) {
        key[klen - 1] ^= 1;
    }
    memset(&k, 0, sizeof(k));
    int rc = keyring_cluster_entry_open(seal_cur, key, klen, value, vlen, epoch, &k);
    if (mode & 2) {
        bool want = !(mode & 8) && len == KEY_ENTRY_LEN && rest[0] == 1 && rest[1] == 2;
        for (int i = 0; want && i < 8; i++) {
            want = rest[4 + i] == (unsigned char)(epoch >> (56 - 8 * i));
        }
        CHECK((rc == 0) == want);
        if (rc == 0) {
            CHECK(memcmp(k.name, rest + 12, KEYRING_NAME_LEN) == 0);
            CHECK(memcmp(k.aes, rest + 12 + KEYRING_NAME_LEN, KEYRING_AES_LEN) == 0);
            CHECK(memcmp(k.hmac, rest + 12 + KEYRING_NAME_LEN + KEYRING_AES_LEN,
                         KEYRING_HMAC_LEN) == 0);
        }
    }
    if (rc == 0) {
        CHECK(k.epoch == epoch && k.source == KEYRING_SOURCE_CLUSTER && !(mode & 8));
    }
    free(sealed);
}

/* ---- seeds ---- */

static void
put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

/* A real session (a TLS 1.2 handshake with a world): its DER and ID. */
static SSL_SESSION *
real_session(int version)
{
    struct fuzz_world *fw = fuzz_world_new("seed.conf", fuzz_world_config("local", false));
    SSL_CTX *cctx = fuzz_client_ctx(version);
    SSL *client = fuzz_client_new(cctx);
    SSL *server = fuzz_server_new(fw);

    if (!fuzz_handshake(client, server, NULL, 0, NULL)) {
        abort();
    }
    SSL_SESSION *sess = SSL_get1_session(server);
    SSL_free(client);
    fuzz_server_free(server);
    SSL_CTX_free(cctx);
    return sess;
}

static void
write_session_seeds(const char *name, SSL_SESSION *sess, const unsigned char *maker)
{
    unsigned int idlen = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &idlen);
    int derlen = i2d_SSL_SESSION(sess, NULL);
    size_t ptlen = ENTRY_HEADER_LEN + (size_t)derlen;
    unsigned char *pt = malloc(ptlen);
    unsigned char head[2 + SSL_MAX_SSL_SESSION_ID_LENGTH];
    char key[MC_KEY_MAX + 1];
    char seed[64];
    size_t vlen = 0;

    CHECK(pt != NULL && idlen <= SSL_MAX_SSL_SESSION_ID_LENGTH);
    pt[0] = 1;
    pt[1] = 1;
    pt[2] = pt[3] = 0;
    put_u64(pt + 4, FUZZ_NOW - 60);
    put_u64(pt + 12, FUZZ_NOW + 3600);
    memcpy(pt + 20, maker, SESSIONS_INSTANCE_LEN);
    unsigned char *der = pt + ENTRY_HEADER_LEN;
    i2d_SSL_SESSION(sess, &der);

    head[1] = (unsigned char)idlen;
    memcpy(head + 2, id, idlen);
    /* The plaintext, for the harness to seal (current and old secret). */
    head[0] = 2;
    snprintf(seed, sizeof(seed), "session-%s-plain", name);
    fuzz_seed(seed, head, 2 + idlen, pt, ptlen);
    head[0] = 2 | 4;
    snprintf(seed, sizeof(seed), "session-%s-plain-old", name);
    fuzz_seed(seed, head, 2 + idlen, pt, ptlen);
    /* The entry as memcached holds it. */
    size_t klen = session_key(id, idlen, key, sizeof(key));
    unsigned char *sealed = seal_checked(false, key, klen, pt, ptlen, &vlen);
    head[0] = 0;
    snprintf(seed, sizeof(seed), "session-%s-entry", name);
    fuzz_seed(seed, head, 2 + idlen, sealed, vlen);
    free(sealed);
    free(pt);
}

static void
write_seeds(void)
{
    static const unsigned char other[SESSIONS_INSTANCE_LEN] = "another-instance";
    unsigned char head[9];
    unsigned char pt[KEY_ENTRY_LEN];
    char key[MC_KEY_MAX + 1];
    size_t vlen = 0;
    SSL_SESSION *s12 = real_session(TLS1_2_VERSION);
    SSL_SESSION *s13 = real_session(TLS1_3_VERSION);

    write_session_seeds("tls12", s12, instance);
    write_session_seeds("tls12-remote", s12, other);
    write_session_seeds("tls13", s13, instance);
    SSL_SESSION_free(s12);
    SSL_SESSION_free(s13);

    /* A keyring entry of epoch 472222 (FUZZ_NOW / 3600). */
    uint64_t epoch = FUZZ_NOW / 3600;
    pt[0] = 1;
    pt[1] = 2;
    pt[2] = pt[3] = 0;
    put_u64(pt + 4, epoch);
    for (size_t i = 0; i < KEYRING_KEY_LEN; i++) {
        pt[12 + i] = (unsigned char)(0x30 + i);
    }
    put_u64(head + 1, epoch);
    head[0] = 1 | 2;
    fuzz_seed("keyring-plain", head, sizeof(head), pt, sizeof(pt));
    head[0] = 1 | 2 | 4;
    fuzz_seed("keyring-plain-old", head, sizeof(head), pt, sizeof(pt));
    size_t klen = stek_key(epoch, key, sizeof(key));
    unsigned char *sealed = seal_checked(false, key, klen, pt, sizeof(pt), &vlen);
    head[0] = 1;
    fuzz_seed("keyring-entry", head, sizeof(head), sealed, vlen);
    free(sealed);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    seal_cur = fuzz_seal_new(false);
    seal_old = fuzz_seal_new(true);
    fuzz_seeds_or_go_on(write_seeds);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    unsigned mode = data[0];
    data++;
    size--;
    if (mode & 1) {
        uint64_t epoch = 0;
        if (size < 8) {
            return 0;
        }
        for (int i = 0; i < 8; i++) {
            epoch = (epoch << 8) | data[i];
        }
        keyring_entry(mode, epoch, data + 8, size - 8);
        return 0;
    }
    if (size < 1 || data[0] > SSL_MAX_SSL_SESSION_ID_LENGTH || size < 1u + data[0]) {
        return 0;
    }
    size_t idlen = data[0];
    session_entry(mode, data + 1, idlen, data + 1 + idlen, size - 1 - idlen);
    return 0;
}
