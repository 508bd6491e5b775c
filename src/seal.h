/*
 * seal.h - seal and open what tessera stores in memcached: AES-256-GCM under
 * keys derived (HKDF-SHA256) from the cluster secret, the memcached key as AAD.
 *
 * Any thread: a struct seal is filled once at start-up (seal_add_secret) and
 * then only read, so seal_seal/seal_open may run on many threads at once.  The
 * struct owns its derived keys (never the raw secrets) and wipes them on free.
 */
#ifndef TESSERA_SEAL_H
#define TESSERA_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#define SEAL_SECRET_LEN 32 /* bytes of a cluster secret (64 hex digits in its file) */
#define SEAL_OLD_MAX    8  /* old secrets still accepted when opening */
#define SEAL_VERSION    1
#define SEAL_HEADER_LEN 18 /* version, flags, secret id, nonce */
#define SEAL_TAG_LEN    16
#define SEAL_OVERHEAD   (SEAL_HEADER_LEN + SEAL_TAG_LEN) /* 34 */
#define SEAL_ID_OFFSET  2 /* the big-endian u32 secret id sits at this offset */

struct seal;

/* An empty seal (no secret yet), or NULL if memory or the cipher is unavailable. */
struct seal *seal_new(void);
/* Wipe every derived key and free `s`; NULL is fine. */
void seal_free(struct seal *s);

/*
 * Derive the keys of `secret` and keep them; the caller still owns (and
 * should wipe) `secret`.  `current`: seal with it (exactly one current
 * secret); otherwise it only opens entries (at most SEAL_OLD_MAX).  Returns 0,
 * -EEXIST (a second current, or a secret whose id is already held), -ENOSPC
 * (too many old secrets) or -EIO (the KDF failed).
 */
int seal_add_secret(struct seal *s, const unsigned char secret[SEAL_SECRET_LEN], bool current);

/* Bytes an entry adds to its plaintext (SEAL_OVERHEAD). */
size_t seal_overhead(void);

/*
 * Seal `ptlen` bytes at `pt` for memcached key `key` into `out`, which holds
 * `outcap` bytes; *outlen gets ptlen + seal_overhead().  `out` must not
 * overlap `pt`.  Returns 0, -ENOSPC (outcap too small), -ENOKEY (no current
 * secret) or -EIO (RNG or cipher failed; nothing is left in `out`).
 */
int seal_seal(const struct seal *s, const void *key, size_t keylen, const void *pt, size_t ptlen,
              unsigned char *out, size_t outcap, size_t *outlen);

/*
 * Open the entry `in` (`inlen` bytes) that was read under memcached key
 * `key`, into `pt` (`ptcap` bytes); *ptlen gets the plaintext length.
 * Returns 0, -EBADMSG (forged, corrupted, truncated, copied under another
 * key, or an unknown version), -ENOKEY (sealed under a secret not held) or
 * -ENOSPC (ptcap too small).  `pt` must not overlap `in`.  On failure
 * nothing is left in `pt`.
 */
int seal_open(const struct seal *s, const void *key, size_t keylen, const unsigned char *in,
              size_t inlen, unsigned char *pt, size_t ptcap, size_t *ptlen);

/*
 * Parse a secret file's text: exactly 64 hex digits (either case), then
 * optionally "\n" or "\r\n", nothing else.  Returns 0 or -EINVAL.
 */
int seal_parse_secret(const char *text, size_t len, unsigned char out[SEAL_SECRET_LEN]);

/*
 * Read and parse the secret file `path`.  It must be a regular file of at
 * most 130 bytes that group and others can neither read nor write (mode &
 * 077 == 0).  Returns 0, or -errno with a short reason (no path) in `why`:
 * -EPERM for the mode, -EINVAL for the content, -EISDIR/-EFBIG/-ENOENT...
 */
int seal_read_secret_file(const char *path, unsigned char out[SEAL_SECRET_LEN], char *why,
                          size_t whylen);

#endif
