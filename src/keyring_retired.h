/*
 * keyring_retired.h - the cluster's list of retired ticket keys (POST
 * /keyring/retire): names and epochs, never key bytes, and its sealed form
 * in memcached (<prefix>stek-retired).  Pure: no clock, no I/O.
 *
 * A struct keyring_retired_list is plain memory owned by one thread (the
 * main thread's keyring_cluster).  See keyring_cluster.c for how refreshes
 * read, merge and write it.
 */
#ifndef TESSERA_KEYRING_RETIRED_H
#define TESSERA_KEYRING_RETIRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

struct seal;

/* A list never outgrows a full ring's worth of keys. */
#define KEYRING_RETIRED_MAX KEYRING_MAX

struct keyring_retired {
    uint64_t epoch;
    unsigned char name[KEYRING_NAME_LEN];
};

struct keyring_retired_list {
    size_t n;
    struct keyring_retired e[KEYRING_RETIRED_MAX];
};

bool keyring_retired_has(const struct keyring_retired_list *l,
                         const unsigned char name[KEYRING_NAME_LEN]);
/* Add `x`; false if its name was listed.  A full list forgets its oldest
 * entry first (a key that old has left every ring long ago). */
bool keyring_retired_add(struct keyring_retired_list *l, const struct keyring_retired *x);
/* Forget entries whose epoch is more than two below `lo` (the window's
 * first epoch): no instance holds or reads such a key any more, with a
 * margin for clocks that differ. */
void keyring_retired_prune(struct keyring_retired_list *l, uint64_t lo);
/* Whether every entry of `l` is in `other`. */
bool keyring_retired_within(const struct keyring_retired_list *l,
                            const struct keyring_retired_list *other);
/* Drop (and wipe) every listed key from `r`; returns how many went. */
size_t keyring_retired_drop(const struct keyring_retired_list *l, struct keyring *r);

/*
 * Seal `l` for memcached key `key` into a new malloc'd value (NULL on
 * failure).  Inside the seal (seal.c: AES-256-GCM, AAD = the key):
 *     u8 version=1 | u8 kind=3 | u16 count | count x (u64 epoch | 16-byte name)
 * all big-endian.
 */
unsigned char *keyring_retired_seal(const struct seal *seal, const char *key, size_t keylen,
                                    const struct keyring_retired_list *l, size_t *len);
/* Open a sealed list into *out.  0, or -1 if it is not a valid list sealed
 * for `key` (forged, corrupt, another key's entry): the caller counts it. */
int keyring_retired_open(const struct seal *seal, const char *key, size_t keylen,
                         const unsigned char *value, size_t vlen, struct keyring_retired_list *out);

#endif
