/*
 * keyring_sync.h - the instance's authoritative ticket keyring and its
 * upkeep; workers copy it.
 *
 * The main thread writes it: keyring_sync_refresh (local keys only, without
 * memcached) or keyring_cluster.c's publish (the memcached-shared ring,
 * design.md "Coordination").  keyring_sync_fetch runs on a worker: an
 * acquire load of the generation, and only when it changed a lock, a copy
 * into the worker's private ring and an unlock — once per publication, never
 * per ticket.  The notify hook tells the workers at once.
 */
#ifndef TESSERA_KEYRING_SYNC_H
#define TESSERA_KEYRING_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "keyring.h"
#include "mc.h"

struct keyring_sync;

/* The cluster keyring's memcached operations, as counted. */
enum keyring_op {
    KEYRING_OP_GETS = 0,
    KEYRING_OP_ADD,
    KEYRING_OP_CAS,
    KEYRING_OP__COUNT,
};

struct keyring_sync *keyring_sync_new(unsigned rotate, unsigned keep);
void keyring_sync_free(struct keyring_sync *ks);

/* Main thread.  Make sure epochs e and e+1 have keys and drop the ones that
 * left the window (wiping them).  Returns 0, or -1 if no key could be made
 * (the RNG failed: tickets are then not issued until it works again). */
int keyring_sync_refresh(struct keyring_sync *ks, time_t now);

/* Main thread: drop the key whose fingerprint is `fp` from the shared ring
 * (wiped; the workers copy the new ring at once and wipe theirs), giving
 * its name and epoch.  Every key with that fingerprint goes.  Returns 0,
 * or -ENOENT if none is held. */
int keyring_sync_retire(struct keyring_sync *ks, uint32_t fp, unsigned char name[KEYRING_NAME_LEN],
                        uint64_t *epoch);
/* Main thread, local keys only: a new random key encrypts from now on for
 * the epoch at `now`; the one it replaces stays decrypt-only
 * (keyring_rotate).  Returns 0, or -1 (RNG or ring full). */
int keyring_sync_rotate(struct keyring_sync *ks, time_t now, uint64_t *epoch);

/* Main thread (the cluster refresh): a copy of the ring to work on, and
 * publishing the result.  publish bumps the generation only if a key
 * changed; `rejected` entries are added to the counter. */
void keyring_sync_snapshot(struct keyring_sync *ks, struct keyring *dst);
void keyring_sync_publish(struct keyring_sync *ks, const struct keyring *src, uint64_t rejected);

/* Main thread: count one memcached operation of the cluster keyring. */
void keyring_sync_count_op(struct keyring_sync *ks, enum keyring_op op, enum mc_result result);

/* Main thread, before any refresh: the ring is the cluster's (memcached is
 * configured), so encrypting with a local key is degraded. */
void keyring_sync_set_cluster(struct keyring_sync *ks);
/* Main thread, before the workers start: `fn(arg)` runs (on the publishing
 * thread, outside the lock) whenever the generation moved, so that workers
 * copy a new ring at once rather than on their next timer. */
void keyring_sync_set_notify(struct keyring_sync *ks, void (*fn)(void *arg), void *arg);
/* Any thread: with the cluster's ring, the key tickets are encrypted with
 * at `now` is a local one (or there is none). */
bool keyring_sync_degraded(struct keyring_sync *ks, time_t now);

/* Worker.  If the shared ring changed since *generation, copy it into dst
 * (wiping dst first) and update *generation; returns true if it copied. */
bool keyring_sync_fetch(struct keyring_sync *ks, struct keyring *dst, uint64_t *generation);

/* What /keyring and /metrics may show of the ring: never key material. */
struct keyring_view_key {
    uint64_t epoch;
    enum keyring_role role;
    enum keyring_source source;
    uint32_t fingerprint;
};

struct keyring_view {
    bool degraded;     /* cluster ring, but encrypting with a local key at `now` */
    uint64_t epoch;    /* the current epoch at `now` */
    uint64_t rejected; /* cluster entries that failed to open */
    uint64_t ops[KEYRING_OP__COUNT][MC_RES__COUNT]; /* by operation and result */
    size_t n;
    struct keyring_view_key keys[KEYRING_MAX]; /* newest epoch first */
};

/* Any thread: describe the shared ring at `now` (takes the lock briefly). */
void keyring_sync_describe(struct keyring_sync *ks, time_t now, struct keyring_view *out);

/* A keyring in memory that is kept out of core dumps (MADV_DONTDUMP) and
 * wiped when freed. */
struct keyring *keyring_sync_alloc_ring(void);
void keyring_sync_free_ring(struct keyring *r);

#endif
