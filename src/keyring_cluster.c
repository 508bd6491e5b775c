/*
 * keyring_cluster.c - the cluster keyring protocol over memcached.
 *
 * Main thread.  Every refresh (tickets.refresh seconds and each epoch
 * boundary), for the epochs e-keep .. e+1 at `now`:
 *
 *   1. GETS every epoch's entry <prefix>stek:<epoch>.
 *   2. Found and opens: adopt it as the cluster's key for that epoch (it
 *      replaces a different cluster key we held: whatever memcached holds is
 *      the key everyone encrypts with from the next refresh on).
 *      Found but does not open (forged, corrupt): count it and replace it by
 *      compare-and-swap with our copy, or, for e and e+1 when we hold none,
 *      with a new key; only one replacement can win.
 *      Missing: write our copy back with ADD (healing after an eviction,
 *      flush or restart), or for e and e+1 create a new random key with ADD;
 *      whoever loses the race reads the winner's (step 3).
 *   3. GETS again the epochs whose ADD or CAS lost, and adopt.
 *   4. memcached unreachable (e or e+1 not answered): degraded; make local
 *      keys for the epochs without any key, keep serving.  When it answers
 *      again, step 2 writes local keys back (ADD) where the cluster has none,
 *      and adopts the cluster's where it has.
 *   5. Publish to the workers (keyring_sync); expired keys are wiped.
 *
 * Placement: every entry is stored with libmemcached's *_by_key calls under
 * one placement key, so all instances find an epoch on the same server; if
 * that server is down, a fallback placement key that maps to another server
 * (the same on every instance) is used, so instances can disagree only while
 * they disagree about the server being down, at most one refresh.
 *
 * Entry (inside the seal, AAD = the memcached key): u8 version | u8 kind=2 |
 * u16 0 | u64 epoch | 16-byte name | 32-byte AES key | 32-byte HMAC key.
 */
#include "keyring_cluster.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "check.h"
#include "keyring.h"
#include "keyring_sync.h"
#include "log.h"
#include "mailbox.h"
#include "mc.h"
#include "seal.h"

#define ENTRY_VERSION              1
#define ENTRY_KIND                 2
#define ENTRY_LEN                  (4 + 8 + KEYRING_KEY_LEN)
#define EPOCHS_MAX                 (KEYRING_KEEP_MAX + 2)
#define MEMCACHED_RELATIVE_TTL_MAX (30u * 24 * 3600) /* beyond: an absolute time */

struct keyring_cluster {
    unsigned magic;
#define KEYRING_CLUSTER_MAGIC 0x4b434c53u
    const struct config *cfg;
    struct mc *mc;
    size_t queue;
    struct seal *seal;
    struct mailbox mbox;
    struct keyring *work; /* the copy a refresh works on (no-dump memory) */
    char group[MC_KEY_MAX + 1];
    char fallback[MC_KEY_MAX + 1];
    int group_server; /* the server the placement key maps to */
    uintptr_t round;  /* tags this refresh's requests; late answers are dropped */
    struct mc_req *reply[EPOCHS_MAX];
    bool was_degraded;
    unsigned failures; /* refreshes in a row that could not reach memcached */
};

struct keyring_cluster *
keyring_cluster_new(const struct config *cfg, struct mc *mc, size_t queue, struct seal *seal,
                    struct err *err)
{
    struct keyring_cluster *kc = calloc(1, sizeof(*kc));

    if (kc == NULL || mailbox_init(&kc->mbox) < 0) {
        free(kc);
        err_set(err, "keyring: out of resources");
        return NULL;
    }
    kc->magic = KEYRING_CLUSTER_MAGIC;
    kc->cfg = cfg;
    kc->mc = mc;
    kc->queue = queue;
    kc->seal = seal;
    kc->work = keyring_sync_alloc_ring();
    if (kc->work == NULL) {
        keyring_cluster_free(kc);
        err_set(err, "keyring: out of memory");
        return NULL;
    }
    keyring_init(kc->work, cfg->tickets.rotate, cfg->tickets.keep);
    snprintf(kc->group, sizeof(kc->group), "%sstek", cfg->memcached.prefix);
    mc_fallback_group(mc, kc->group, kc->fallback);
    kc->group_server = mc_server_index(mc, kc->group);
    return kc;
}

void
keyring_cluster_free(struct keyring_cluster *kc)
{
    if (kc == NULL) {
        return;
    }
    struct mailbox_msg *list;
    mailbox_take(&kc->mbox, &list);
    while (list != NULL) {
        struct mc_req *req = (struct mc_req *)list;
        list = list->next;
        mc_req_free(req);
    }
    mailbox_destroy(&kc->mbox);
    keyring_sync_free_ring(kc->work);
    kc->magic = 0;
    free(kc);
}

/* ---- entries ---- */

static size_t
entry_key(const struct keyring_cluster *kc, uint64_t epoch, char *key)
{
    int n = snprintf(key, MC_KEY_MAX + 1, "%sstek:%llu", kc->cfg->memcached.prefix,
                     (unsigned long long)epoch);
    return n > 0 ? (size_t)n : 0;
}

/* Seal `k` into a new malloc'd buffer; NULL on failure. */
static unsigned char *
entry_seal(const struct keyring_cluster *kc, const char *key, size_t klen,
           const struct keyring_key *k, size_t *len)
{
    unsigned char pt[ENTRY_LEN];
    size_t cap = ENTRY_LEN + seal_overhead();
    unsigned char *out = malloc(cap);
    uint64_t e = k->epoch;

    if (out == NULL) {
        return NULL;
    }
    pt[0] = ENTRY_VERSION;
    pt[1] = ENTRY_KIND;
    pt[2] = pt[3] = 0;
    for (int i = 11; i >= 4; i--) {
        pt[i] = (unsigned char)e;
        e >>= 8;
    }
    memcpy(pt + 12, k->name, KEYRING_NAME_LEN);
    memcpy(pt + 12 + KEYRING_NAME_LEN, k->aes, KEYRING_AES_LEN);
    memcpy(pt + 12 + KEYRING_NAME_LEN + KEYRING_AES_LEN, k->hmac, KEYRING_HMAC_LEN);
    int rc = seal_seal(kc->seal, key, klen, pt, sizeof(pt), out, cap, len);
    OPENSSL_cleanse(pt, sizeof(pt));
    if (rc < 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Open an entry of `epoch` into *k (source cluster).  0, or -1 if it is not
 * a valid key entry for that epoch. */
static int
entry_open(const struct keyring_cluster *kc, const struct mc_req *req, uint64_t epoch,
           struct keyring_key *k)
{
    unsigned char pt[ENTRY_LEN + 16];
    size_t ptlen = 0;
    uint64_t e = 0;
    int rc = -1;

    if (seal_open(kc->seal, req->key, req->keylen, req->value, req->vlen, pt, sizeof(pt), &ptlen) <
            0 ||
        ptlen != ENTRY_LEN || pt[0] != ENTRY_VERSION || pt[1] != ENTRY_KIND) {
        goto out;
    }
    for (int i = 4; i < 12; i++) {
        e = (e << 8) | pt[i];
    }
    if (e != epoch) {
        goto out;
    }
    k->epoch = epoch;
    k->source = KEYRING_SOURCE_CLUSTER;
    memcpy(k->name, pt + 12, KEYRING_NAME_LEN);
    memcpy(k->aes, pt + 12 + KEYRING_NAME_LEN, KEYRING_AES_LEN);
    memcpy(k->hmac, pt + 12 + KEYRING_NAME_LEN + KEYRING_AES_LEN, KEYRING_HMAC_LEN);
    rc = 0;
out:
    OPENSSL_cleanse(pt, sizeof(pt));
    return rc;
}

/* ---- round trips ---- */

static const char *
kc_group(const struct keyring_cluster *kc)
{
    /* design.md "Placement": the fallback only while the primary is down. */
    if (kc->fallback[0] != '\0' && kc->group_server >= 0 &&
        !mc_server_up(kc->mc, (size_t)kc->group_server)) {
        return kc->fallback;
    }
    return kc->group;
}

/* Queue one request for epoch slot `slot`.  The value (if any) passes to the request. */
static bool
kc_submit(struct keyring_cluster *kc, size_t slot, enum mc_op op, uint64_t epoch,
          unsigned char *value, size_t vlen, uint64_t cas)
{
    char key[MC_KEY_MAX + 1];
    size_t klen = entry_key(kc, epoch, key);
    struct mc_req *req = mc_req_new(op, key, klen);
    const char *group = kc_group(kc);
    uint64_t ttl = (uint64_t)(kc->cfg->tickets.keep + 2) * kc->cfg->tickets.rotate;

    if (req == NULL) {
        free(value);
        return false;
    }
    req->grouplen = strlen(group);
    memcpy(req->group, group, req->grouplen + 1);
    req->value = value;
    req->vlen = vlen;
    req->cas = cas;
    /* memcached reads a TTL over 30 days as an absolute unix time. */
    req->ttl = (uint32_t)(ttl > MEMCACHED_RELATIVE_TTL_MAX ? (uint64_t)time(NULL) + ttl : ttl);
    req->deadline_ms = mc_now_ms() + kc->cfg->memcached.timeout_ms;
    req->reply_to = &kc->mbox;
    req->owner = (void *)kc->round;
    req->fe = (unsigned)slot;
    if (mc_submit(kc->mc, kc->queue, req) < 0) {
        mc_req_free(req);
        return false;
    }
    return true;
}

/* Collect the answers of this round until `expected` came or the deadline
 * passed; answers of earlier rounds are dropped. */
static void
kc_collect(struct keyring_cluster *kc, size_t expected)
{
    /* Each request is bounded by timeout_ms in the helper; the queue adds
     * at most a few of those. */
    uint64_t deadline = mc_now_ms() + 4u * kc->cfg->memcached.timeout_ms + 100u;
    size_t got = 0;

    while (got < expected) {
        uint64_t now = mc_now_ms();
        if (now >= deadline) {
            break;
        }
        struct pollfd pfd = {.fd = kc->mbox.efd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(deadline - now)) <= 0) {
            continue;
        }
        struct mailbox_msg *list;
        mailbox_take(&kc->mbox, &list);
        while (list != NULL) {
            struct mc_req *req = (struct mc_req *)list;
            list = list->next;
            CHECK_OBJ(req, MC_REQ_MAGIC);
            if (req->owner != (void *)kc->round || req->fe >= EPOCHS_MAX ||
                kc->reply[req->fe] != NULL) {
                mc_req_free(req);
                continue;
            }
            kc->reply[req->fe] = req;
            got++;
        }
    }
}

static void
kc_clear(struct keyring_cluster *kc)
{
    for (size_t i = 0; i < EPOCHS_MAX; i++) {
        mc_req_free(kc->reply[i]);
        kc->reply[i] = NULL;
    }
    kc->round++;
}

/* The key we hold for `epoch`: the cluster's, else our local one. */
static const struct keyring_key *
held(const struct keyring *r, uint64_t epoch)
{
    const struct keyring_key *k = keyring_get(r, epoch, KEYRING_SOURCE_CLUSTER);

    return k != NULL ? k : keyring_get(r, epoch, KEYRING_SOURCE_LOCAL);
}

/* Make `k` (just read from, or written to, memcached) the cluster key of its
 * epoch; a local key with the same name is now the cluster's. */
static void
adopt(struct keyring *r, const struct keyring_key *k)
{
    const struct keyring_key *local = keyring_get(r, k->epoch, KEYRING_SOURCE_LOCAL);
    struct keyring_key c = *k;

    if (local != NULL && CRYPTO_memcmp(local->name, k->name, KEYRING_NAME_LEN) == 0) {
        keyring_remove(r, k->epoch, KEYRING_SOURCE_LOCAL);
    }
    c.source = KEYRING_SOURCE_CLUSTER;
    if (keyring_replace(r, &c) < 0) {
        log_error("keyring: full; cannot hold the key of epoch %llu", (unsigned long long)k->epoch);
    }
    OPENSSL_cleanse(&c, sizeof(c));
}

void
keyring_cluster_refresh(struct keyring_cluster *kc, struct keyring_sync *ks, time_t now)
{
    struct keyring *r = kc->work;
    uint64_t e, lo, n;
    uint64_t rejected = 0;
    bool reachable = true;
    /* Per slot: what step 2 wrote (to adopt on success), and whether step 3 must re-read. */
    struct keyring_key wrote[EPOCHS_MAX];
    bool wrote_ok[EPOCHS_MAX] = {false};
    bool reread[EPOCHS_MAX] = {false};
    size_t expected = 0;

    CHECK_OBJ(kc, KEYRING_CLUSTER_MAGIC);
    keyring_sync_snapshot(ks, r);
    keyring_expire(r, now);
    e = keyring_epoch(r, now);
    lo = e > r->keep ? e - r->keep : 0;
    n = e + 1 - lo + 1;
    CHECK(n <= EPOCHS_MAX);

    /* 1. Read every epoch of the window. */
    kc_clear(kc);
    for (uint64_t i = 0; i < n; i++) {
        expected += kc_submit(kc, i, MC_GETS, lo + i, NULL, 0, 0);
    }
    kc_collect(kc, expected);

    /* 2. Adopt, heal, create. */
    struct mc_req *first[EPOCHS_MAX] = {NULL};
    memcpy(first, kc->reply, sizeof(first));
    memset(kc->reply, 0, sizeof(kc->reply));
    kc->round++;
    expected = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t epoch = lo + i;
        struct mc_req *q = first[i];
        enum mc_result res = q != NULL ? q->result : MC_RES_TIMEOUT;
        const struct keyring_key *mine = held(r, epoch);
        struct keyring_key k;
        bool fresh = epoch >= e; /* only the current and next epochs get new keys */

        if (res == MC_RES_HIT && entry_open(kc, q, epoch, &k) == 0) {
            adopt(r, &k);
            OPENSSL_cleanse(&k, sizeof(k));
            continue;
        }
        if (res == MC_RES_HIT || res == MC_RES_MISS) {
            enum mc_op op = res == MC_RES_HIT ? MC_CAS : MC_ADD;
            if (res == MC_RES_HIT) {
                rejected++;
                log_warn("keyring: the entry of epoch %llu does not open (forged or corrupt); "
                         "replacing it",
                         (unsigned long long)epoch);
            }
            if (mine != NULL) {
                wrote[i] = *mine;
            } else if (!fresh || keyring_generate(&wrote[i], epoch, KEYRING_SOURCE_CLUSTER,
                                                  RAND_priv_bytes) < 0) {
                continue;
            }
            size_t vlen = 0;
            unsigned char *v = entry_seal(kc, q->key, q->keylen, &wrote[i], &vlen);
            if (v != NULL && kc_submit(kc, i, op, epoch, v, vlen, q->cas)) {
                wrote_ok[i] = true;
                expected++;
            } else {
                OPENSSL_cleanse(&wrote[i], sizeof(wrote[i]));
            }
            continue;
        }
        if (epoch >= e) {
            reachable = false; /* no answer for e or e+1: memcached is unreachable */
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        mc_req_free(first[i]);
    }
    kc_collect(kc, expected);
    for (uint64_t i = 0; i < n; i++) {
        if (!wrote_ok[i]) {
            continue;
        }
        struct mc_req *q = kc->reply[i];
        if (q != NULL && q->result == MC_RES_STORED) {
            adopt(r, &wrote[i]); /* ours is the cluster's key now */
        } else if (q != NULL && q->result == MC_RES_EXISTS) {
            reread[i] = true; /* someone else's won */
        } else if (lo + i >= e) {
            reachable = false;
        }
        OPENSSL_cleanse(&wrote[i], sizeof(wrote[i]));
    }

    /* 3. Read the winners of lost races. */
    kc_clear(kc);
    expected = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (reread[i]) {
            expected += kc_submit(kc, i, MC_GETS, lo + i, NULL, 0, 0);
        }
    }
    kc_collect(kc, expected);
    for (uint64_t i = 0; i < n; i++) {
        struct mc_req *q = kc->reply[i];
        struct keyring_key k;
        if (q != NULL && q->result == MC_RES_HIT && entry_open(kc, q, lo + i, &k) == 0) {
            adopt(r, &k);
            OPENSSL_cleanse(&k, sizeof(k));
        }
    }
    kc_clear(kc);

    /* 4. Degraded: local keys where we hold none, so tickets keep working here. */
    if (keyring_fill_local(r, now, RAND_priv_bytes) < 0) {
        log_error("keyring: the random generator failed; no new ticket key");
    }
    /* One slow refresh on a loaded machine is not an outage: report degraded
     * after two in a row (the local keys above are made at once anyway). */
    kc->failures = reachable ? 0 : kc->failures + 1;
    bool degraded = kc->failures >= 2;
    if (degraded != kc->was_degraded) {
        if (degraded) {
            log_warn("keyring: memcached unreachable; encrypting tickets with local keys");
        } else {
            log_info("keyring: memcached reachable again; using the cluster's keys");
        }
        kc->was_degraded = degraded;
    }

    /* 5. Publish. */
    keyring_sync_publish(ks, r, degraded, rejected);
}
