/*
 * keyring.h - the session-ticket key ring: epochs, roles, lookup by name,
 * renewal rule and wiping (pure: the clock and the RNG are injected).
 *
 * A struct keyring is plain memory owned by one thread at a time: the
 * keyring_sync copy (under its lock) or one worker's private copy.  Time is
 * cut into epochs of `rotate` seconds; epoch e starts at e * rotate.  The
 * ring holds keys for epochs e-keep .. e+1, at most two per epoch (the
 * cluster's and this instance's own local one).  See design.md, "Coordination
 * of the ticket keyring".
 */
#ifndef TESSERA_KEYRING_H
#define TESSERA_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KEYRING_NAME_LEN 16
#define KEYRING_AES_LEN  32
#define KEYRING_HMAC_LEN 32
#define KEYRING_KEY_LEN  (KEYRING_NAME_LEN + KEYRING_AES_LEN + KEYRING_HMAC_LEN) /* 80 */
#define KEYRING_KEEP_MAX 60
#define KEYRING_MAX      (2 * (KEYRING_KEEP_MAX + 2))

enum keyring_source {
    KEYRING_SOURCE_CLUSTER = 0,
    KEYRING_SOURCE_LOCAL,
    /* A key a rotation (POST /keyring/rotate) replaced on this instance:
     * decrypt-only until its epoch leaves the window, never encrypted
     * with; shown as "local" with role "decrypt-only". */
    KEYRING_SOURCE_ROTATED,
};

enum keyring_role {
    KEYRING_ROLE_CURRENT = 0,
    KEYRING_ROLE_NEXT,
    KEYRING_ROLE_DECRYPT_ONLY,
};

struct keyring_key {
    uint64_t epoch;
    enum keyring_source source;
    unsigned char name[KEYRING_NAME_LEN];
    unsigned char aes[KEYRING_AES_LEN];
    unsigned char hmac[KEYRING_HMAC_LEN];
};

struct keyring {
    unsigned rotate; /* seconds per epoch, >= 1 */
    unsigned keep;   /* past epochs still decrypted, <= KEYRING_KEEP_MAX */
    size_t n;
    struct keyring_key keys[KEYRING_MAX];
};

/* Fill `n` bytes at `buf` with secret random bytes; 1 on success (RAND_priv_bytes). */
typedef int (*keyring_rand_fn)(unsigned char *buf, int n);

void keyring_init(struct keyring *r, unsigned rotate, unsigned keep);
/* The epoch that contains `now`. */
uint64_t keyring_epoch(const struct keyring *r, time_t now);
/* The first second of `epoch` (for scheduling the boundary timer). */
time_t keyring_epoch_start(const struct keyring *r, uint64_t epoch);

/*
 * When the next refresh is due, in wall-clock ms, for a refresh every
 * `refresh_s` seconds from `now_ms` and one at each epoch boundary of
 * `rotate` seconds; with `retry_ms` > 0 (degraded: retrying) no later than
 * that either.  Never earlier than `now_ms` + 1.
 */
int64_t keyring_next_refresh_ms(unsigned rotate, int64_t now_ms, unsigned refresh_s,
                                unsigned retry_ms);

/* Make a new random key for `epoch` with `rand`; returns 0 or -1 if rand failed. */
int keyring_generate(struct keyring_key *k, uint64_t epoch, enum keyring_source source,
                     keyring_rand_fn rand);

/*
 * Add a copy of `k`.  Returns 0, -EEXIST if a key with that name is held,
 * -EBUSY if a key of the same epoch and source is held (replace it with
 * keyring_replace), -ENOSPC if the ring is full.
 */
int keyring_add(struct keyring *r, const struct keyring_key *k);
/* Put `k` in place of the key of the same epoch and source (wiping the old
 * one), or add it if there is none.  Returns 0 or -ENOSPC. */
int keyring_replace(struct keyring *r, const struct keyring_key *k);

/* Give the current and next epochs at `now` a new local key where the ring
 * holds no key at all for them.  Returns how many keys were made, or -1 if
 * `rand` failed (keys made before the failure stay). */
int keyring_fill_local(struct keyring *r, time_t now, keyring_rand_fn rand);

/* Drop (and wipe) the key of `epoch` from `source`.  Returns 1 if there was one. */
int keyring_remove(struct keyring *r, uint64_t epoch, enum keyring_source source);

/* Drop (and wipe, OPENSSL_cleanse) the key whose name is `name`, wherever
 * it sits in the ring: its slot and the one the shift leaves behind are
 * zero afterwards.  Returns 1 if there was one, else 0. */
int keyring_remove_name(struct keyring *r, const unsigned char name[KEYRING_NAME_LEN]);

/* Rotate epoch `epoch`'s encrypt key (local mode, or the cluster key on
 * the instance that rotated it): the key tickets of that epoch were
 * encrypted with becomes KEYRING_SOURCE_ROTATED (a rotated key held before
 * is dropped and wiped) and `fresh` (which must not be held) takes its
 * source.  Returns 0, -ENOENT if the epoch has no encrypt key (fresh is
 * then simply added), or -ENOSPC. */
int keyring_rotate(struct keyring *r, uint64_t epoch, const struct keyring_key *fresh);

/* The key of `epoch` from `source`, or NULL. */
const struct keyring_key *keyring_get(const struct keyring *r, uint64_t epoch,
                                      enum keyring_source source);
/* The key whose name is `name`, or NULL. */
const struct keyring_key *keyring_find(const struct keyring *r,
                                       const unsigned char name[KEYRING_NAME_LEN]);

/*
 * The key to encrypt new tickets with at `now`: the cluster's key for the
 * current epoch, else the local one, else NULL (no key: issue no ticket).
 */
const struct keyring_key *keyring_encrypt_key(const struct keyring *r, time_t now);

/*
 * design.md "Renew": true when a ticket decrypted with `k` should be
 * replaced by a fresh one, i.e. `k` is older than the key the instance
 * encrypts with now (an older epoch, or the same epoch's superseded local
 * key).  A key of the current or the next epoch that is the encrypt key's
 * equal or newer is never renewed, so tickets do not flap between peers.
 */
bool keyring_needs_renewal(const struct keyring *r, const struct keyring_key *k, time_t now);

enum keyring_role keyring_role(const struct keyring *r, const struct keyring_key *k, time_t now);
const char *keyring_role_name(enum keyring_role role);
const char *keyring_source_name(enum keyring_source source);

/* Drop (and wipe) keys older than epoch e-keep, and keys for epochs after
 * e+1.  Returns how many were dropped. */
size_t keyring_expire(struct keyring *r, time_t now);

/* Copy `src` over `dst`, wiping what `dst` held first. */
void keyring_copy(struct keyring *dst, const struct keyring *src);
/* Wipe every key (OPENSSL_cleanse) and empty the ring. */
void keyring_wipe(struct keyring *r);

/* 32-bit fingerprint of a key's name (first 4 bytes of SHA-256(name)):
 * safe to show; reveals nothing about the key. */
uint32_t keyring_fingerprint(const struct keyring_key *k);

#endif
