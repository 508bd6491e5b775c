/*
 * seal.c - AEAD sealing of memcached entries: HKDF-SHA256 key derivation from
 * the cluster secret, AES-256-GCM with the memcached key as associated data,
 * and reading the secret file.
 *
 * Responsibility: turn plaintext into an entry a memcached dump learns nothing
 * from, and reject any entry that was forged, corrupted, truncated, or copied
 * under another memcached key (design.md "Shape").  Pure: no I/O except
 * seal_read_secret_file, no logging (callers count and log failures).
 * Thread: seal_add_secret runs at start-up before the struct is shared; after
 * that the struct is read-only and seal_seal/seal_open may run on any number
 * of threads at once (each call has its own EVP_CIPHER_CTX).
 * Ownership: a struct seal owns its derived keys, kept in an mmap'd area that
 * core dumps leave out and that is wiped before munmap.  Raw secrets are never
 * kept: the caller owns them, and every temporary copy here is wiped.
 *
 * Entry, version 1 (all integers big-endian):
 *
 *     u8 version = 1 | u8 flags = 0 | u32 secret id | 12-byte nonce
 *     | ciphertext (as long as the plaintext) | 16-byte GCM tag
 *
 * AAD = the 18-byte header followed by the memcached key, so neither the
 * header nor the key an entry is stored under can change without the tag
 * check failing.  The secret id (HKDF of the secret with its own label) lets
 * seal_open pick the key without trial decryption and reveals nothing of the
 * secret.  Nonces are random: 96 random bits per entry keep the GCM collision
 * bound (NIST SP 800-38D, 8.3) far beyond the number of entries a cluster
 * writes under one secret.
 */
#include "seal.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "check.h"
#include "secretfile.h"

#define SEAL_KEY_LEN   32 /* AES-256 */
#define SEAL_NONCE_LEN 12 /* GCM's natural IV size */
#define SEAL_NONCE_OFF 6
#define SEAL_FILE_MAX  130 /* 64 hex digits and a newline, with room to spare */

/* The fixed HKDF salt (RFC 5869, 3.1): separates tessera's keys from any other
 * use of the same secret. */
static const char seal_salt[] = "tessera.memcached.seal";
static const char seal_info_key[] = "tessera seal v1 key";
static const char seal_info_id[] = "tessera seal v1 id";

struct seal_key {
    uint32_t id;
    unsigned char aes[SEAL_KEY_LEN];
};

/* The key material: lives in its own mmap'd area (see seal_keys_alloc). */
struct seal_keys {
    bool has_current;
    size_t n_old;
    struct seal_key current;
    struct seal_key old[SEAL_OLD_MAX];
};

struct seal {
    unsigned magic;
#define SEAL_MAGIC 0x5345414cu
    EVP_CIPHER *cipher; /* AES-256-GCM, fetched once */
    struct seal_keys *keys;
};

/* Zeroed memory for the keys that core dumps leave out. */
static struct seal_keys *
seal_keys_alloc(void)
{
    size_t len = sizeof(struct seal_keys);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
    /* Derived keys open every session in memcached: keep them out of cores. */
    (void)madvise(p, len, MADV_DONTDUMP);
    return p;
}

static void
seal_keys_free(struct seal_keys *k)
{
    if (k == NULL) {
        return;
    }
    OPENSSL_cleanse(k, sizeof(*k));
    munmap(k, sizeof(*k));
}

struct seal *
seal_new(void)
{
    struct seal *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->magic = SEAL_MAGIC;
    s->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (s->cipher == NULL) {
        goto fail;
    }
    s->keys = seal_keys_alloc();
    if (s->keys == NULL) {
        goto fail;
    }
    return s;

fail:
    ERR_clear_error();
    EVP_CIPHER_free(s->cipher);
    free(s);
    return NULL;
}

void
seal_free(struct seal *s)
{
    if (s == NULL) {
        return;
    }
    CHECK_OBJ(s, SEAL_MAGIC);
    seal_keys_free(s->keys);
    EVP_CIPHER_free(s->cipher);
    s->magic = 0;
    free(s);
}

size_t
seal_overhead(void)
{
    return SEAL_OVERHEAD;
}

/* HKDF-SHA256(salt = seal_salt, ikm = secret, info) into out[outlen]; 0 or -EIO. */
static int
seal_hkdf(const unsigned char secret[SEAL_SECRET_LEN], const char *info, unsigned char *out,
          size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = NULL;
    char digest[] = "SHA256";
    int rc = -EIO;

    if (kdf == NULL) {
        goto fail;
    }
    kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == NULL) {
        goto fail;
    }
    /* The params API takes non-const pointers; OpenSSL only reads them. */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)secret,
                                          SEAL_SECRET_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)seal_salt,
                                          sizeof(seal_salt) - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)(uintptr_t)info,
                                          strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_KDF_derive(kctx, out, outlen, params) != 1) {
        OPENSSL_cleanse(out, outlen);
        goto fail;
    }
    rc = 0;

fail:
    if (rc != 0) {
        ERR_clear_error();
    }
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

static bool
seal_id_held(const struct seal_keys *k, uint32_t id)
{
    if (k->has_current && k->current.id == id) {
        return true;
    }
    for (size_t i = 0; i < k->n_old; i++) {
        if (k->old[i].id == id) {
            return true;
        }
    }
    return false;
}

int
seal_add_secret(struct seal *s, const unsigned char secret[SEAL_SECRET_LEN], bool current)
{
    struct seal_key nk;
    unsigned char idb[4];
    int rc;

    CHECK_OBJ(s, SEAL_MAGIC);
    CHECK(secret != NULL);
    if (current && s->keys->has_current) {
        return -EEXIST;
    }
    if (!current && s->keys->n_old >= SEAL_OLD_MAX) {
        return -ENOSPC;
    }
    rc = seal_hkdf(secret, seal_info_id, idb, sizeof(idb));
    if (rc == 0) {
        rc = seal_hkdf(secret, seal_info_key, nk.aes, sizeof(nk.aes));
    }
    if (rc != 0) {
        goto out;
    }
    nk.id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
    /* The same secret twice (or a 2^-32 id collision) would make the id ambiguous. */
    if (seal_id_held(s->keys, nk.id)) {
        rc = -EEXIST;
        goto out;
    }
    if (current) {
        s->keys->current = nk;
        s->keys->has_current = true;
    } else {
        s->keys->old[s->keys->n_old++] = nk;
    }

out:
    OPENSSL_cleanse(&nk, sizeof(nk));
    OPENSSL_cleanse(idb, sizeof(idb));
    return rc;
}

static const struct seal_key *
seal_find_key(const struct seal_keys *k, uint32_t id)
{
    if (k->has_current && k->current.id == id) {
        return &k->current;
    }
    for (size_t i = 0; i < k->n_old; i++) {
        if (k->old[i].id == id) {
            return &k->old[i];
        }
    }
    return NULL;
}

/*
 * Feed `len` bytes at `in` to the cipher (encrypt or decrypt), writing to
 * `out`, or feed them as AAD when `out` is NULL.  EVP takes int lengths, so a
 * long buffer goes in slices.  Returns 1 or 0 as EVP does.
 */
static int
seal_cipher_update(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, size_t len)
{
    const size_t slice = (size_t)1 << 30;
    int outl;

    while (len > 0) {
        int n = (int)(len < slice ? len : slice);

        if (EVP_CipherUpdate(ctx, out, &outl, in, n) != 1) {
            return 0;
        }
        /* GCM is a stream mode: it returns exactly what it was given. */
        if (out != NULL) {
            CHECK(outl == n);
            out += n;
        }
        in += n;
        len -= (size_t)n;
    }
    return 1;
}

int
seal_seal(const struct seal *s, const void *key, size_t keylen, const void *pt, size_t ptlen,
          unsigned char *out, size_t outcap, size_t *outlen)
{
    const struct seal_key *k;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *nonce;
    int outl;
    int rc = -EIO;

    CHECK_OBJ(s, SEAL_MAGIC);
    CHECK(key != NULL || keylen == 0);
    CHECK(pt != NULL || ptlen == 0);
    CHECK(out != NULL && outlen != NULL);
    *outlen = 0;
    if (ptlen > SIZE_MAX - SEAL_OVERHEAD || outcap < ptlen + SEAL_OVERHEAD) {
        return -ENOSPC;
    }
    if (!s->keys->has_current) {
        return -ENOKEY;
    }
    k = &s->keys->current;
    nonce = out + SEAL_NONCE_OFF;

    out[0] = SEAL_VERSION;
    out[1] = 0; /* flags: none defined in version 1 */
    out[SEAL_ID_OFFSET + 0] = (unsigned char)(k->id >> 24);
    out[SEAL_ID_OFFSET + 1] = (unsigned char)(k->id >> 16);
    out[SEAL_ID_OFFSET + 2] = (unsigned char)(k->id >> 8);
    out[SEAL_ID_OFFSET + 3] = (unsigned char)k->id;
    if (RAND_bytes(nonce, SEAL_NONCE_LEN) != 1) {
        goto fail;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        goto fail;
    }
    /* GCM's default IV length is 12 bytes, which SEAL_NONCE_LEN is. */
    if (EVP_EncryptInit_ex2(ctx, s->cipher, k->aes, nonce, NULL) != 1) {
        goto fail;
    }
    if (seal_cipher_update(ctx, NULL, out, SEAL_HEADER_LEN) != 1 ||
        seal_cipher_update(ctx, NULL, key, keylen) != 1) {
        goto fail;
    }
    if (seal_cipher_update(ctx, out + SEAL_HEADER_LEN, pt, ptlen) != 1) {
        goto fail;
    }
    if (EVP_EncryptFinal_ex(ctx, out + SEAL_HEADER_LEN + ptlen, &outl) != 1) {
        goto fail;
    }
    CHECK(outl == 0);
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SEAL_TAG_LEN,
                            out + SEAL_HEADER_LEN + ptlen) != 1) {
        goto fail;
    }
    *outlen = ptlen + SEAL_OVERHEAD;
    rc = 0;

fail:
    if (rc != 0) {
        /* Leave no partial ciphertext the caller might store by mistake. */
        OPENSSL_cleanse(out, ptlen + SEAL_OVERHEAD);
        ERR_clear_error();
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int
seal_open(const struct seal *s, const void *key, size_t keylen, const unsigned char *in,
          size_t inlen, unsigned char *pt, size_t ptcap, size_t *ptlen)
{
    const struct seal_key *k;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t n = 0;
    uint32_t id;
    unsigned char tag[SEAL_TAG_LEN];
    int outl;
    int rc = -EBADMSG;

    CHECK_OBJ(s, SEAL_MAGIC);
    CHECK(key != NULL || keylen == 0);
    CHECK(in != NULL || inlen == 0);
    CHECK(pt != NULL || ptcap == 0);
    CHECK(ptlen != NULL);
    *ptlen = 0;
    /* Everything checked before the tag is public (length, version, id). */
    if (inlen < SEAL_OVERHEAD || in[0] != SEAL_VERSION || in[1] != 0) {
        return -EBADMSG;
    }
    id = (uint32_t)in[SEAL_ID_OFFSET] << 24 | (uint32_t)in[SEAL_ID_OFFSET + 1] << 16 |
         (uint32_t)in[SEAL_ID_OFFSET + 2] << 8 | in[SEAL_ID_OFFSET + 3];
    k = seal_find_key(s->keys, id);
    if (k == NULL) {
        return -ENOKEY;
    }
    n = inlen - SEAL_OVERHEAD;
    if (ptcap < n) {
        return -ENOSPC;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        /* Cannot tell a good entry from a bad one; treat it as unusable. */
        goto fail;
    }
    if (EVP_DecryptInit_ex2(ctx, s->cipher, k->aes, in + SEAL_NONCE_OFF, NULL) != 1) {
        goto fail;
    }
    if (seal_cipher_update(ctx, NULL, in, SEAL_HEADER_LEN) != 1 ||
        seal_cipher_update(ctx, NULL, key, keylen) != 1) {
        goto fail;
    }
    if (seal_cipher_update(ctx, pt, in + SEAL_HEADER_LEN, n) != 1) {
        goto fail;
    }
    /* The ctrl wants a writable buffer; hand it a copy of the tag. */
    memcpy(tag, in + SEAL_HEADER_LEN + n, SEAL_TAG_LEN);
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SEAL_TAG_LEN, tag) != 1) {
        goto fail;
    }
    /* OpenSSL compares the tag in constant time (CRYPTO_memcmp). */
    if (EVP_DecryptFinal_ex(ctx, pt + n, &outl) != 1) {
        goto fail;
    }
    *ptlen = n;
    rc = 0;

fail:
    if (rc != 0) {
        /* Unauthenticated plaintext must not reach the caller. */
        if (n > 0) {
            OPENSSL_cleanse(pt, n);
        }
        ERR_clear_error();
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* The value of one hex digit, or -1. */
static int
seal_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int
seal_parse_secret(const char *text, size_t len, unsigned char out[SEAL_SECRET_LEN])
{
    const size_t digits = 2 * SEAL_SECRET_LEN;

    CHECK(text != NULL || len == 0);
    CHECK(out != NULL);
    /* Exactly the digits, then nothing, "\n" or "\r\n". */
    if (len == digits + 1) {
        if (text[digits] != '\n') {
            return -EINVAL;
        }
    } else if (len == digits + 2) {
        if (text[digits] != '\r' || text[digits + 1] != '\n') {
            return -EINVAL;
        }
    } else if (len != digits) {
        return -EINVAL;
    }
    for (size_t i = 0; i < SEAL_SECRET_LEN; i++) {
        int hi = seal_hex_value((unsigned char)text[2 * i]);
        int lo = seal_hex_value((unsigned char)text[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(out, SEAL_SECRET_LEN);
            return -EINVAL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int
seal_read_secret_file(const char *path, unsigned char out[SEAL_SECRET_LEN], char *why,
                      size_t whylen)
{
    char buf[SEAL_FILE_MAX + 1];
    size_t len = 0;
    int rc;

    CHECK(out != NULL);
    rc = secretfile_read(path, buf, sizeof(buf), &len, why, whylen);
    if (rc == 0) {
        rc = seal_parse_secret(buf, len, out);
        if (rc != 0) {
            secretfile_why(rc, why, whylen, "must hold 64 hex digits and an optional newline");
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}
