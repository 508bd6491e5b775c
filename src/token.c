/*
 * token.c - the admin bearer token file and its constant-time check.
 *
 * Any thread; no state.  The file is read the way seal.c reads the cluster
 * secret (O_NONBLOCK, fstat on the open descriptor, private to its owner,
 * bounded size, one optional trailing newline).  Only SHA-256(token) is
 * kept: comparing two digests of equal length with CRYPTO_memcmp takes the
 * same time wherever they differ and whatever the presented token's length
 * (a plain memcmp or a length check first would tell an attacker how much
 * of a guess is right, or how long the token is).
 */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "check.h"

static int
token_why(int rc, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

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
    char ebuf[128];
    struct stat st;
    size_t len = 0;
    int fd;
    int rc = 0;

    CHECK(path != NULL && digest != NULL);
    if (why != NULL && whylen > 0) {
        why[0] = '\0';
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = -errno;
        return token_why(rc, why, whylen, "cannot open: %s", strerror_r(-rc, ebuf, sizeof(ebuf)));
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        token_why(rc, why, whylen, "cannot stat: %s", strerror_r(-rc, ebuf, sizeof(ebuf)));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = token_why(-EISDIR, why, whylen, "is a directory");
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = token_why(-EINVAL, why, whylen, "is not a regular file");
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rc = token_why(-EPERM, why, whylen, "is readable by group or others (chmod 600)");
        goto out;
    }
    /* Read to EOF or one byte past the limit: the file may change under us. */
    while (len < sizeof(buf)) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - len);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = -errno;
            token_why(rc, why, whylen, "cannot read: %s", strerror_r(-rc, ebuf, sizeof(ebuf)));
            goto out;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }
    if (len > TOKEN_MAX_LEN) {
        rc = token_why(-EFBIG, why, whylen, "holds more than %d characters", TOKEN_MAX_LEN);
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c < 0x21 || c > 0x7e) {
            rc = token_why(-EINVAL, why, whylen,
                           "must hold one line of visible ASCII characters (no spaces)");
            goto out;
        }
    }
    if (len < TOKEN_MIN_LEN) {
        rc = token_why(-EINVAL, why, whylen,
                       "must hold at least %d characters (tessera --gen-secret makes one)",
                       TOKEN_MIN_LEN);
        goto out;
    }
    if (token_digest(buf, len, digest) < 0) {
        rc = token_why(-ENOMEM, why, whylen, "cannot be hashed (out of memory)");
    }
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
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
