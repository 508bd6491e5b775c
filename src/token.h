/*
 * token.h - the admin endpoint's bearer token: read from admin.token_file,
 * kept only as its SHA-256 digest, compared in constant time.
 *
 * Any thread (pure functions over caller-owned memory).  The token itself
 * is never kept nor logged: token_read_file wipes every copy it makes.
 */
#ifndef TESSERA_TOKEN_H
#define TESSERA_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_DIGEST_LEN 32
#define TOKEN_MIN_LEN    16  /* tessera --gen-secret gives 64 */
#define TOKEN_MAX_LEN    256 /* it travels in one HTTP header */

/*
 * Read the token in `path` (a regular file private to its owner, at most
 * TOKEN_MAX_LEN visible ASCII characters and an optional trailing newline,
 * at least TOKEN_MIN_LEN) and store its digest in `digest`.  Returns 0, or
 * a negative errno with a reason (never the file's content) in `why`:
 * -EINVAL (not a token), -EPERM (group/other may read it), -EFBIG,
 * -EISDIR, or the open/read error.  O_NONBLOCK: a FIFO cannot hang it.
 */
int token_read_file(const char *path, unsigned char digest[TOKEN_DIGEST_LEN], char *why,
                    size_t whylen);

/* Whether `presented` (len bytes, any length) is the token of `digest`.
 * The time taken does not depend on where the two differ nor on the
 * token's length: both sides are hashed and the digests compared with
 * CRYPTO_memcmp. */
bool token_matches(const unsigned char digest[TOKEN_DIGEST_LEN], const char *presented, size_t len);

#endif
