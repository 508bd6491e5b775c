/*
 * keyring_sync.c - keyring upkeep (main thread) and publication to workers.
 *
 * Owns { lock, generation, ring }.  Writers: the main thread, under the
 * lock, bumping the generation (release) after each change.  Readers:
 * workers, which compare the generation (acquire) on their refresh timer and
 * copy under the lock only when it moved.  The ticket callback never sees
 * this object; it reads the worker's private copy.
 */
#include "keyring_sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "check.h"
#include "log.h"

struct keyring_sync {
    pthread_mutex_t lock;
    _Atomic uint64_t generation;
    struct keyring *ring;
    bool cluster;                                   /* set before any refresh, then read-only */
    uint64_t rejected;                              /* guarded by lock */
    uint64_t ops[KEYRING_OP__COUNT][MC_RES__COUNT]; /* guarded by lock */
    void (*notify)(void *arg);
    void *notify_arg;
};

static void
keyring_sync_moved(struct keyring_sync *ks)
{
    if (ks->notify != NULL) {
        ks->notify(ks->notify_arg);
    }
}

void
keyring_sync_count_op(struct keyring_sync *ks, enum keyring_op op, enum mc_result result)
{
    CHECK(op < KEYRING_OP__COUNT && result < MC_RES__COUNT);
    pthread_mutex_lock(&ks->lock);
    ks->ops[op][result]++;
    pthread_mutex_unlock(&ks->lock);
}

void
keyring_sync_set_cluster(struct keyring_sync *ks)
{
    ks->cluster = true;
}

void
keyring_sync_set_notify(struct keyring_sync *ks, void (*fn)(void *arg), void *arg)
{
    ks->notify = fn;
    ks->notify_arg = arg;
}

/* The lock is held. */
static bool
degraded_locked(const struct keyring_sync *ks, time_t now)
{
    const struct keyring_key *k;

    if (!ks->cluster) {
        return false;
    }
    k = keyring_encrypt_key(ks->ring, now);
    return k == NULL || k->source != KEYRING_SOURCE_CLUSTER;
}

bool
keyring_sync_degraded(struct keyring_sync *ks, time_t now)
{
    pthread_mutex_lock(&ks->lock);
    bool d = degraded_locked(ks, now);
    pthread_mutex_unlock(&ks->lock);
    return d;
}

struct keyring *
keyring_sync_alloc_ring(void)
{
    size_t len = sizeof(struct keyring);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
    /* Ticket keys must not end up in a core dump. */
    (void)madvise(p, len, MADV_DONTDUMP);
    return p;
}

void
keyring_sync_free_ring(struct keyring *r)
{
    if (r == NULL) {
        return;
    }
    keyring_wipe(r);
    munmap(r, sizeof(*r));
}

struct keyring_sync *
keyring_sync_new(unsigned rotate, unsigned keep)
{
    struct keyring_sync *ks = calloc(1, sizeof(*ks));

    if (ks == NULL) {
        return NULL;
    }
    ks->ring = keyring_sync_alloc_ring();
    if (ks->ring == NULL) {
        free(ks);
        return NULL;
    }
    keyring_init(ks->ring, rotate, keep);
    pthread_mutex_init(&ks->lock, NULL);
    atomic_init(&ks->generation, 1);
    return ks;
}

void
keyring_sync_free(struct keyring_sync *ks)
{
    if (ks == NULL) {
        return;
    }
    keyring_sync_free_ring(ks->ring);
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

int
keyring_sync_refresh(struct keyring_sync *ks, time_t now)
{
    pthread_mutex_lock(&ks->lock);
    bool changed = keyring_expire(ks->ring, now) > 0;
    int rc = keyring_fill_local(ks->ring, now, RAND_priv_bytes);
    changed = changed || rc != 0;
    if (changed) {
        atomic_fetch_add_explicit(&ks->generation, 1, memory_order_release);
    }
    pthread_mutex_unlock(&ks->lock);
    if (changed) {
        keyring_sync_moved(ks);
    }
    if (rc < 0) {
        log_error("keyring: the random generator failed; no new ticket key");
    }
    return rc < 0 ? -1 : 0;
}

/* The lock is held: bump the generation. */
static void
moved_locked(struct keyring_sync *ks)
{
    atomic_fetch_add_explicit(&ks->generation, 1, memory_order_release);
}

int
keyring_sync_retire(struct keyring_sync *ks, uint32_t fp, unsigned char name[KEYRING_NAME_LEN],
                    uint64_t *epoch)
{
    int found = 0;

    pthread_mutex_lock(&ks->lock);
    for (size_t i = 0; i < ks->ring->n;) {
        const struct keyring_key *k = &ks->ring->keys[i];
        if (keyring_fingerprint(k) != fp) {
            i++;
            continue;
        }
        memcpy(name, k->name, KEYRING_NAME_LEN);
        *epoch = k->epoch;
        found++;
        CHECK(keyring_remove_name(ks->ring, name) == 1);
    }
    if (found > 0) {
        moved_locked(ks);
    }
    pthread_mutex_unlock(&ks->lock);
    if (found > 0) {
        keyring_sync_moved(ks);
    }
    return found > 0 ? 0 : -ENOENT;
}

int
keyring_sync_rotate(struct keyring_sync *ks, time_t now, uint64_t *epoch)
{
    struct keyring_key k;
    int rc;

    pthread_mutex_lock(&ks->lock);
    *epoch = keyring_epoch(ks->ring, now);
    rc = keyring_generate(&k, *epoch, KEYRING_SOURCE_LOCAL, RAND_priv_bytes);
    if (rc == 0) {
        rc = keyring_rotate(ks->ring, *epoch, &k) == -ENOSPC ? -1 : 0;
        moved_locked(ks);
    }
    OPENSSL_cleanse(&k, sizeof(k));
    pthread_mutex_unlock(&ks->lock);
    if (rc == 0) {
        keyring_sync_moved(ks);
    }
    return rc;
}

bool
keyring_sync_fetch(struct keyring_sync *ks, struct keyring *dst, uint64_t *generation)
{
    if (atomic_load_explicit(&ks->generation, memory_order_acquire) == *generation) {
        return false;
    }
    pthread_mutex_lock(&ks->lock);
    keyring_copy(dst, ks->ring);
    *generation = atomic_load_explicit(&ks->generation, memory_order_relaxed);
    pthread_mutex_unlock(&ks->lock);
    return true;
}

void
keyring_sync_describe(struct keyring_sync *ks, time_t now, struct keyring_view *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&ks->lock);
    out->epoch = keyring_epoch(ks->ring, now);
    out->degraded = degraded_locked(ks, now);
    out->rejected = ks->rejected;
    memcpy(out->ops, ks->ops, sizeof(out->ops));
    for (size_t i = 0; i < ks->ring->n; i++) {
        const struct keyring_key *k = &ks->ring->keys[i];
        struct keyring_view_key *v = &out->keys[out->n++];
        v->epoch = k->epoch;
        v->role = keyring_role(ks->ring, k, now);
        v->source = k->source;
        v->fingerprint = keyring_fingerprint(k);
    }
    pthread_mutex_unlock(&ks->lock);
    /* Newest first; the ring is small (at most KEYRING_MAX entries). */
    for (size_t i = 1; i < out->n; i++) {
        struct keyring_view_key v = out->keys[i];
        size_t j = i;
        while (j > 0 && out->keys[j - 1].epoch < v.epoch) {
            out->keys[j] = out->keys[j - 1];
            j--;
        }
        out->keys[j] = v;
    }
}

void
keyring_sync_snapshot(struct keyring_sync *ks, struct keyring *dst)
{
    pthread_mutex_lock(&ks->lock);
    keyring_copy(dst, ks->ring);
    pthread_mutex_unlock(&ks->lock);
}

static bool
keyring_same(const struct keyring *a, const struct keyring *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct keyring_key *x = &a->keys[i];
        const struct keyring_key *y = &b->keys[i];
        if (x->epoch != y->epoch || x->source != y->source ||
            CRYPTO_memcmp(x->name, y->name, sizeof(x->name)) != 0) {
            return false;
        }
    }
    return true;
}

void
keyring_sync_publish(struct keyring_sync *ks, const struct keyring *src, uint64_t rejected)
{
    bool changed;

    pthread_mutex_lock(&ks->lock);
    ks->rejected += rejected;
    changed = !keyring_same(ks->ring, src);
    if (changed) {
        keyring_copy(ks->ring, src);
        atomic_fetch_add_explicit(&ks->generation, 1, memory_order_release);
    }
    pthread_mutex_unlock(&ks->lock);
    if (changed) {
        keyring_sync_moved(ks);
    }
}
