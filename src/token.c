/*
 * token.c - the admin bearer token file and its constant-time check.
 *
 * Any thread; no state.  The file is read as every secret is
 * (secretfile.c: O_NONBLOCK, fstat on the open descriptor, private to its
 * owner, bounded size), with one optional trailing newline.  Only SHA-256(token) is
 * kept: comparing two digests of equal length with CRYPTO_memcmp takes the
 * same time wherever they differ and whatever the presented token's length
 * (a plain memcmp or a length check first would tell an attacker how much
 * of a guess is right, or how long the token is).
 */
#include "token.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "check.h"
#include "secretfile.h"

/* 0, or -1 when OpenSSL could not hash (out of memory). */
static int
token_digest(const char *text, size_t len, unsigned char digest[TOKEN_DIGEST_LEN])
{
    unsigned int n = 0;

    if (EVP_Digest(text, len, digest, &n, EVP_sha256(), NULL) != 1 || n != TOKEN_DIGEST_LEN) {
        OPENSSL_cleanse(digest, TOKEN_DIGEST_LEN);
        return -1;
    }
    return 0;
}

int
token_read_file(const char *path, unsigned char digest[TOKEN_DIGEST_LEN], char *why, size_t whylen)
{
    char buf[TOKEN_MAX_LEN + 3]; /* the token, "\r\n", and one byte to see "too long" */
    size_t len = 0;
    int rc;

    CHECK(digest != NULL);
    rc = secretfile_read(path, buf, sizeof(buf), &len, why, whylen);
    if (rc == -EFBIG) {
        rc = secretfile_why(rc, why, whylen, "holds more than %d characters", TOKEN_MAX_LEN);
    }
    if (rc != 0) {
        goto out;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }
    if (len > TOKEN_MAX_LEN) {
        rc = secretfile_why(-EFBIG, why, whylen, "holds more than %d characters", TOKEN_MAX_LEN);
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c < 0x21 || c > 0x7e) {
            rc = secretfile_why(-EINVAL, why, whylen,
                                "must hold one line of visible ASCII characters (no spaces)");
            goto out;
        }
    }
    if (len < TOKEN_MIN_LEN) {
        rc = secretfile_why(-EINVAL, why, whylen,
                            "must hold at least %d characters (tessera --gen-secret makes one)",
                            TOKEN_MIN_LEN);
        goto out;
    }
    if (token_digest(buf, len, digest) < 0) {
        rc = secretfile_why(-ENOMEM, why, whylen, "cannot be hashed (out of memory)");
    }
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

bool
token_matches(const unsigned char digest[TOKEN_DIGEST_LEN], const char *presented, size_t len)
{
    unsigned char mine[TOKEN_DIGEST_LEN];
    bool same;

    CHECK(digest != NULL && (presented != NULL || len == 0));
    same = token_digest(presented != NULL ? presented : "", len, mine) == 0 &&
           CRYPTO_memcmp(mine, digest, TOKEN_DIGEST_LEN) == 0;
    OPENSSL_cleanse(mine, sizeof(mine));
    return same;
}
