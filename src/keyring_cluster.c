/*
 * keyring_cluster.c - the cluster keyring protocol over memcached.
 *
 * Main thread, stepped by its event loop.  A refresh at wall time `now`
 * works on the epochs e-keep .. e+1 in three phases, each a batch of
 * requests sent at once and ended by the last answer or by the phase's
 * deadline (whatever has not answered by then counts as a timeout):
 *
 *   READ    GETS every epoch's entry <prefix>stek:<epoch>.
 *   WRITE   Found and opens: adopt it as the cluster's key for that epoch
 *           (a different cluster key we held stays for decryption, as the
 *           epoch's superseded local key: design.md "Hold").
 *           Found but does not open (forged, corrupt): count it and replace
 *           it by compare-and-swap with our copy, or, for e and e+1 when we
 *           hold none, with a new key; only one replacement can win.
 *           Missing: write our copy back with ADD (healing after an
 *           eviction, flush or restart), or for e and e+1 create a new
 *           random key with ADD.  What was stored is adopted.
 *   REREAD  GETS the epochs whose ADD or CAS lost, and adopt the winner's.
 *
 * Then: local keys for e and e+1 where no key is held (memcached did not
 * answer), expiry, and publication to the workers (keyring_sync).  When
 * memcached answers again, WRITE writes local keys back (ADD) where the
 * cluster has none, and adopts the cluster's where it has.
 *
 * Placement: every entry is stored under one placement key (like
 * libmemcached's *_by_key calls), so all instances find an epoch on the
 * same server; if that server is down, a fallback placement key that maps
 * to another server (the same on every instance) is used, so instances can
 * disagree only while they disagree about the server being down.
 *
 * Requests go out on the loop's own connection (mcconn.c): no libmemcached
 * parser ever sees a reply to them (it aborts the process on some).  Only a
 * server whose name did not resolve at start-up is left to the helpers
 * (mc.c), whose answers come back through this module's mailbox.  A
 * request's `fe` carries its slot and the round it belongs to (TAG): an
 * answer from an earlier phase or refresh is dropped.
 *
 * Entry (inside the seal, AAD = the memcached key): u8 version | u8 kind=2 |
 * u16 0 | u64 epoch | 16-byte name | 32-byte AES key | 32-byte HMAC key.
 *
 * Key operations.  Retired keys are listed (name and epoch, never key
 * bytes) in one more sealed entry, <prefix>stek-retired (kind 3), read by
 * READ with the epochs and written in WRITE (cas, or add when missing)
 * whenever memcached's list lacks one this instance knows; instances
 * merge lists, so no retirement is lost to a race.  A listed key is
 * dropped from the ring at every step, never adopted and never healed
 * back (held() cannot return it), and a listed cluster key of e or e+1 is
 * replaced by a new random key through cas: one replacement wins, the
 * others re-read and adopt it.  Entries leave the list once their epoch is
 * two epochs below the window.  A rotation replaces the epoch's cluster
 * key by cas in WRITE and keeps the old one (keyring_rotate).
 */
#include "keyring_cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "check.h"
#include "clock.h"
#include "evloop.h"
#include "keyring.h"
#include "keyring_retired.h"
#include "keyring_sync.h"
#include "log.h"
#include "mailbox.h"
#include "mc.h"
#include "mcconn.h"
#include "seal.h"

#define ENTRY_VERSION 1
#define ENTRY_KIND    2
#define ENTRY_LEN     (4 + 8 + KEYRING_KEY_LEN)
#define EPOCHS_MAX    (KEYRING_KEEP_MAX + 2)
/* The retirement list's request slot, after the epochs'. */
#define SLOT_LIST                  EPOCHS_MAX
#define SLOTS                      (EPOCHS_MAX + 1)
#define SLOT_NONE                  SLOTS
#define OP_TRIES                   3 /* refreshes an operation may take (lost races) */
#define MEMCACHED_RELATIVE_TTL_MAX (30u * 24 * 3600) /* beyond: an absolute time */
/* A phase waits for its answers this long beyond timeout_ms: a request on
 * the helpers may queue behind another one. */
#define PHASE_SLACK_MS 100
/* A request's fe: its slot in the low 8 bits, the round above. */
#define TAG(round, slot) ((unsigned)((round) << 8) | (unsigned)(slot))
#define TAG_SLOT(fe)     ((size_t)((fe)&0xffu))
_Static_assert(SLOTS <= 0x100, "a slot fits in 8 bits");

enum kc_op_kind {
    KC_OP_RETIRE = 0,
    KC_OP_ROTATE,
};

struct kc_op {
    enum kc_op_kind kind;
    keyring_cluster_op_fn *fn;
    void *arg;
    unsigned tries;
};

enum kc_phase {
    KC_IDLE = 0,
    KC_READ,
    KC_WRITE,
    KC_REREAD,
};

struct keyring_cluster {
    unsigned magic;
#define KEYRING_CLUSTER_MAGIC 0x4b434c53u
    const struct config *cfg;
    struct mc *mc;
    struct evloop *loop;
    struct mcconn *conn;
    size_t queue;
    struct seal *seal;
    struct keyring_sync *ks;
    keyring_cluster_done_fn *done;
    void *done_arg;
    struct mailbox mbox; /* answers from the helpers */
    struct evhandler mbox_h;
    struct evtimer phase_timer;
    struct keyring *work; /* the copy a refresh works on (no-dump memory) */
    char group[MC_KEY_MAX + 1];
    char fallback[MC_KEY_MAX + 1];
    int group_server; /* the server the placement key maps to */

    /* The refresh in progress. */
    enum kc_phase phase;
    unsigned round; /* tags this phase's requests; late answers are dropped */
    time_t now;
    uint64_t e, lo, n;
    size_t pending;              /* requests of this phase not answered yet */
    struct mc_req *reply[SLOTS]; /* this phase's answers, by slot */
    bool sent[SLOTS];            /* a request of this phase went out for the slot */
    enum mc_op sent_op[SLOTS];
    struct keyring_key wrote[EPOCHS_MAX];
    bool writing[EPOCHS_MAX];
    bool healing[EPOCHS_MAX]; /* writing back a key memcached lost */
    bool reread[EPOCHS_MAX];
    size_t healed; /* keys written back by this refresh */
    bool reachable;
    uint64_t rejected;
    /* Key operations: waiting for the next refresh, and carried by this one. */
    struct kc_op waiting[KEYRING_CLUSTER_OPS_MAX];
    size_t nwaiting;
    struct kc_op running[KEYRING_CLUSTER_OPS_MAX];
    size_t nrunning;
    bool rotate;        /* this refresh rotates the epoch e */
    size_t rotate_slot; /* the slot whose cas carries it, or SLOT_NONE */
    bool rotate_ok;     /* the epoch's key changed in memcached */
    bool list_writing;  /* WRITE sent the retirement list */
    bool list_ok;       /* memcached holds every retirement this instance knows */
    /* Every retirement this instance knows (memcached's and its own). */
    struct keyring_retired_list retired;
    /* A refresh asked for while one runs: runs next, for this time. */
    bool again;
    time_t again_now;
    bool last_reachable;
};

/* ---- entries ---- */

static size_t
entry_key(const struct keyring_cluster *kc, uint64_t epoch, char *key)
{
    int n = snprintf(key, MC_KEY_MAX + 1, "%sstek:%llu", kc->cfg->memcached.prefix,
                     (unsigned long long)epoch);
    return n > 0 ? (size_t)n : 0;
}

static size_t
list_key(const struct keyring_cluster *kc, char *key)
{
    int n = snprintf(key, MC_KEY_MAX + 1, "%sstek-retired", kc->cfg->memcached.prefix);
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

int
keyring_cluster_entry_open(const struct seal *seal, const char *key, size_t keylen,
                           const unsigned char *value, size_t vlen, uint64_t epoch,
                           struct keyring_key *k)
{
    unsigned char pt[ENTRY_LEN + 16];
    size_t ptlen = 0;
    uint64_t e = 0;
    int rc = -1;

    if (seal_open(seal, key, keylen, value, vlen, pt, sizeof(pt), &ptlen) < 0 ||
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

/* Open the answer to a GETS for `epoch`. */
static int
reply_open(const struct keyring_cluster *kc, const struct mc_req *q, uint64_t epoch,
           struct keyring_key *k)
{
    return keyring_cluster_entry_open(kc->seal, q->key, q->keylen, q->value, q->vlen, epoch, k);
}

/* ---- the ring ---- */

/* The key we hold for `epoch`: the cluster's, else our local one. */
static const struct keyring_key *
held(const struct keyring *r, uint64_t epoch)
{
    const struct keyring_key *k = keyring_get(r, epoch, KEYRING_SOURCE_CLUSTER);

    return k != NULL ? k : keyring_get(r, epoch, KEYRING_SOURCE_LOCAL);
}

static bool
kc_is_retired(const struct keyring_cluster *kc, const unsigned char *name)
{
    return keyring_retired_has(&kc->retired, name);
}

/* Drop (and wipe) every retired key from `r`. */
static void
kc_drop_retired(const struct keyring_cluster *kc, struct keyring *r)
{
    size_t n = keyring_retired_drop(&kc->retired, r);

    if (n > 0) {
        log_info("keyring: dropped %zu retired key%s", n, n == 1 ? "" : "s");
    }
}

/*
 * Make `k` (just read from, or written to, memcached) the cluster key of its
 * epoch.  A local key with the same name is now the cluster's.  A different
 * cluster key we held for that epoch (memcached lost it and another
 * instance's won the race to replace it) is not thrown away: tickets made
 * with it are still out there, so it stays, for decryption, as the epoch's
 * superseded local key (design.md "Hold"; tickets under it are renewed).
 * Only if the epoch has a local key of its own already is it dropped.
 */
static void
adopt(struct keyring *r, const struct keyring_key *k)
{
    const struct keyring_key *local = keyring_get(r, k->epoch, KEYRING_SOURCE_LOCAL);
    const struct keyring_key *old = keyring_get(r, k->epoch, KEYRING_SOURCE_CLUSTER);
    struct keyring_key c = *k;
    struct keyring_key superseded;
    bool keep_old = false;

    if (local != NULL && CRYPTO_memcmp(local->name, k->name, KEYRING_NAME_LEN) == 0) {
        keyring_remove(r, k->epoch, KEYRING_SOURCE_LOCAL);
        local = NULL;
    }
    if (old != NULL && CRYPTO_memcmp(old->name, k->name, KEYRING_NAME_LEN) != 0) {
        if (local == NULL) {
            superseded = *old;
            superseded.source = KEYRING_SOURCE_LOCAL;
            keep_old = true;
        } else {
            log_warn("keyring: epoch %llu has a new cluster key and a local one; the cluster "
                     "key held before is dropped",
                     (unsigned long long)k->epoch);
        }
    }
    c.source = KEYRING_SOURCE_CLUSTER;
    if (keyring_replace(r, &c) < 0) {
        log_error("keyring: full; cannot hold the key of epoch %llu", (unsigned long long)k->epoch);
    } else if (keep_old) {
        if (keyring_add(r, &superseded) < 0) {
            log_error("keyring: full; cannot keep the superseded key of epoch %llu",
                      (unsigned long long)k->epoch);
        } else {
            log_info("keyring: epoch %llu: the cluster's key changed; the one held before stays "
                     "for decryption",
                     (unsigned long long)k->epoch);
        }
    }
    OPENSSL_cleanse(&c, sizeof(c));
    OPENSSL_cleanse(&superseded, sizeof(superseded));
}

/* ---- requests ---- */

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

/* An answer for slot `slot` of this phase (or a request that was never
 * sent: result set, nothing in flight). */
static enum keyring_op
kc_op(enum mc_op op)
{
    return op == MC_ADD ? KEYRING_OP_ADD : op == MC_CAS ? KEYRING_OP_CAS : KEYRING_OP_GETS;
}

static void
kc_answer(struct keyring_cluster *kc, struct mc_req *req)
{
    size_t slot = TAG_SLOT(req->fe);

    CHECK(slot < SLOTS && kc->reply[slot] == NULL);
    kc->reply[slot] = req;
    keyring_sync_count_op(kc->ks, kc_op(req->op), req->result);
}

/* Send one request for slot `slot`.  The value (if any) passes to the
 * request.  Counted in kc->pending while in flight. */
static void
kc_submit(struct keyring_cluster *kc, size_t slot, enum mc_op op, uint64_t epoch,
          unsigned char *value, size_t vlen, uint64_t cas)
{
    char key[MC_KEY_MAX + 1];
    size_t klen = slot == SLOT_LIST ? list_key(kc, key) : entry_key(kc, epoch, key);
    struct mc_req *req = mc_req_new(op, key, klen);
    const char *group = kc_group(kc);
    uint64_t ttl = (uint64_t)(kc->cfg->tickets.keep + 2) * kc->cfg->tickets.rotate;

    if (req == NULL) {
        free(value);
        return; /* no answer: read as a timeout */
    }
    req->grouplen = strlen(group);
    memcpy(req->group, group, req->grouplen + 1);
    req->value = value;
    req->vlen = vlen;
    req->cas = cas;
    /* memcached reads a TTL over 30 days as an absolute unix time. */
    req->ttl = (uint32_t)(ttl > MEMCACHED_RELATIVE_TTL_MAX ? (uint64_t)kc->now + ttl : ttl);
    req->deadline_ms = clock_mono_ms() + kc->cfg->memcached.timeout_ms;
    req->reply_to = &kc->mbox;
    req->fe = TAG(kc->round, slot);
    kc->sent[slot] = true;
    kc->sent_op[slot] = op;
    int rc = mcconn_submit(kc->conn, req);
    if (rc == -ENOTSUP) {
        rc = mc_submit(kc->mc, kc->queue, req) == 0 ? 0 : -EAGAIN;
    }
    if (rc == 0) {
        kc->pending++;
        return;
    }
    /* Not sent (the server is skipped, or its connection stands aside). */
    req->result = MC_RES_DROPPED;
    kc_answer(kc, req);
}

/* Forget this phase's answers; late ones will be dropped. */
static void
kc_clear(struct keyring_cluster *kc)
{
    for (size_t i = 0; i < SLOTS; i++) {
        mc_req_free(kc->reply[i]);
        kc->reply[i] = NULL;
        kc->sent[i] = false;
    }
    kc->pending = 0;
    kc->round++;
}

/* ---- the phases ---- */

static void kc_step(struct keyring_cluster *kc);

/* Wait for this phase's answers, at most its deadline. */
static void
kc_wait(struct keyring_cluster *kc)
{
    if (kc->pending == 0) {
        kc_step(kc);
        return;
    }
    evtimer_arm(kc->loop, &kc->phase_timer,
                evloop_now(kc->loop) + kc->cfg->memcached.timeout_ms + PHASE_SLACK_MS);
}

static void
kc_read(struct keyring_cluster *kc)
{
    kc->phase = KC_READ;
    kc_clear(kc);
    for (uint64_t i = 0; i < kc->n; i++) {
        kc_submit(kc, i, MC_GETS, kc->lo + i, NULL, 0, 0);
    }
    kc_submit(kc, SLOT_LIST, MC_GETS, 0, NULL, 0, 0);
    kc_wait(kc);
}

/*
 * After READ: merge memcached's retirement list into ours and write ours
 * back if memcached's lacks an entry (cas; add when there is none; a list
 * that does not open is counted and replaced).  No answer: list_ok stays
 * false and the next refresh tries again.
 */
static void
kc_write_list(struct keyring_cluster *kc, const struct mc_req *q)
{
    static struct keyring_retired_list theirs; /* main thread only */
    enum mc_result res = q != NULL ? q->result : MC_RES_TIMEOUT;
    bool replace = false;

    kc->list_writing = false;
    kc->list_ok = false;
    theirs.n = 0;
    if (res != MC_RES_HIT && res != MC_RES_MISS) {
        return;
    }
    if (res == MC_RES_HIT &&
        keyring_retired_open(kc->seal, q->key, q->keylen, q->value, q->vlen, &theirs) < 0) {
        kc->rejected++;
        log_warn_limited("keyring: the retirement list does not open (forged or corrupt); "
                         "replacing it");
        replace = true;
    }
    for (size_t i = 0; i < theirs.n; i++) {
        (void)keyring_retired_add(&kc->retired, &theirs.e[i]);
    }
    keyring_retired_prune(&kc->retired, kc->lo);
    if (!replace && keyring_retired_within(&kc->retired, &theirs)) {
        kc->list_ok = true; /* memcached knows all we know */
        return;
    }
    size_t vlen = 0;
    unsigned char *v = keyring_retired_seal(kc->seal, q->key, q->keylen, &kc->retired, &vlen);
    if (v == NULL) {
        return;
    }
    kc->list_writing = true;
    kc_submit(kc, SLOT_LIST, res == MC_RES_HIT ? MC_CAS : MC_ADD, 0, v, vlen, q->cas);
}

/* After READ: adopt, heal, create. */
static void
kc_write(struct keyring_cluster *kc)
{
    struct keyring *r = kc->work;
    struct mc_req *first[SLOTS];

    memcpy(first, kc->reply, sizeof(first));
    memset(kc->reply, 0, sizeof(kc->reply));
    kc_clear(kc);
    kc->phase = KC_WRITE;
    /* The list first: a key it names must never be adopted or healed. */
    kc_write_list(kc, first[SLOT_LIST]);
    kc_drop_retired(kc, r);
    for (uint64_t i = 0; i < kc->n; i++) {
        uint64_t epoch = kc->lo + i;
        struct mc_req *q = first[i];
        enum mc_result res = q != NULL ? q->result : MC_RES_TIMEOUT;
        const struct keyring_key *mine = held(r, epoch);
        struct keyring_key k;
        bool fresh = epoch >= kc->e; /* only the current and next epochs get new keys */
        bool new_key;                /* write a new random key, not the one held */
        enum mc_op op;

        kc->writing[i] = false;
        if (res == MC_RES_HIT && reply_open(kc, q, epoch, &k) == 0) {
            bool retired = kc_is_retired(kc, k.name);
            bool rotate = !retired && kc->rotate && epoch == kc->e;

            if (!retired) {
                adopt(r, &k);
            }
            OPENSSL_cleanse(&k, sizeof(k));
            if (!rotate && !(retired && fresh)) {
                continue; /* adopted, or a retired key of a past epoch: left to expire */
            }
            if (retired) {
                log_info("keyring: the cluster key of epoch %llu is retired; replacing it",
                         (unsigned long long)epoch);
            }
            op = MC_CAS;
            new_key = true;
            if (rotate) {
                kc->rotate_slot = i;
            }
        } else if (res != MC_RES_HIT && res != MC_RES_MISS) {
            if (fresh) {
                kc->reachable = false; /* no answer for e or e+1 */
            }
            continue;
        } else {
            op = res == MC_RES_HIT ? MC_CAS : MC_ADD;
            if (res == MC_RES_HIT) {
                kc->rejected++;
                log_warn_limited("keyring: the entry of epoch %llu does not open (forged or "
                                 "corrupt); replacing it",
                                 (unsigned long long)epoch);
            }
            /* A rotation of an epoch memcached lost writes a new key too. */
            new_key = mine == NULL || (kc->rotate && epoch == kc->e);
            if (new_key && kc->rotate && epoch == kc->e) {
                kc->rotate_slot = i;
            }
        }
        kc->healing[i] = !new_key && op == MC_ADD;
        if (!new_key) {
            kc->wrote[i] = *mine;
        } else if (!fresh || keyring_generate(&kc->wrote[i], epoch, KEYRING_SOURCE_CLUSTER,
                                              RAND_priv_bytes) < 0) {
            continue;
        }
        size_t vlen = 0;
        unsigned char *v = entry_seal(kc, q->key, q->keylen, &kc->wrote[i], &vlen);
        if (v == NULL) {
            OPENSSL_cleanse(&kc->wrote[i], sizeof(kc->wrote[i]));
            continue;
        }
        kc->writing[i] = true;
        kc_submit(kc, i, op, epoch, v, vlen, q->cas);
    }
    for (size_t i = 0; i < SLOTS; i++) {
        mc_req_free(first[i]);
    }
    kc_wait(kc);
}

/* After WRITE: adopt what was stored; re-read the winners of lost races. */
static void
kc_reread(struct keyring_cluster *kc)
{
    struct keyring *r = kc->work;
    bool any = false;

    if (kc->list_writing) {
        const struct mc_req *q = kc->reply[SLOT_LIST];
        kc->list_ok = q != NULL && q->result == MC_RES_STORED;
        kc->list_writing = false;
    }
    for (uint64_t i = 0; i < kc->n; i++) {
        kc->reread[i] = false;
        if (!kc->writing[i]) {
            continue;
        }
        struct mc_req *q = kc->reply[i];
        if (q != NULL && q->result == MC_RES_STORED) {
            uint64_t epoch = kc->lo + i;
            /* ours is the cluster's key now; a rotation keeps the old one */
            if (i == kc->rotate_slot && keyring_get(r, epoch, KEYRING_SOURCE_CLUSTER) != NULL) {
                if (keyring_rotate(r, epoch, &kc->wrote[i]) < 0) {
                    log_error("keyring: full; cannot keep the rotated key of epoch %llu",
                              (unsigned long long)epoch);
                }
            } else {
                adopt(r, &kc->wrote[i]);
            }
            kc->rotate_ok = kc->rotate_ok || i == kc->rotate_slot;
            kc->healed += kc->healing[i];
        } else if (q != NULL && (q->result == MC_RES_EXISTS || q->result == MC_RES_MISS)) {
            kc->reread[i] = any = true; /* someone else's won (or it went meanwhile) */
            /* A rotation that lost to another change: the key changed all the same. */
            kc->rotate_ok = kc->rotate_ok || (i == kc->rotate_slot && q->result == MC_RES_EXISTS);
        } else if (kc->lo + i >= kc->e) {
            kc->reachable = false;
        }
        OPENSSL_cleanse(&kc->wrote[i], sizeof(kc->wrote[i]));
        kc->writing[i] = false;
    }
    kc_clear(kc);
    kc->phase = KC_REREAD;
    if (!any) {
        kc_step(kc);
        return;
    }
    for (uint64_t i = 0; i < kc->n; i++) {
        if (kc->reread[i]) {
            kc_submit(kc, i, MC_GETS, kc->lo + i, NULL, 0, 0);
        }
    }
    kc_wait(kc);
}

static void kc_begin(struct keyring_cluster *kc, time_t now);

/* Queue `op` for the next refresh; false if the queue is full. */
static bool
kc_queue_op(struct keyring_cluster *kc, const struct kc_op *op)
{
    if (kc->nwaiting == KEYRING_CLUSTER_OPS_MAX) {
        return false;
    }
    kc->waiting[kc->nwaiting++] = *op;
    return true;
}

/* The operations this refresh carried: done, or (a lost race while
 * memcached answers) once more with the next refresh, which follows now. */
static void
kc_end_ops(struct keyring_cluster *kc)
{
    size_t n = kc->nrunning;
    struct kc_op ops[KEYRING_CLUSTER_OPS_MAX];

    memcpy(ops, kc->running, n * sizeof(ops[0]));
    kc->nrunning = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = ops[i].kind == KC_OP_RETIRE ? kc->list_ok : kc->rotate_ok;
        if (!ok && kc->reachable && ops[i].tries < OP_TRIES && kc_queue_op(kc, &ops[i])) {
            if (!kc->again) {
                kc->again = true;
                kc->again_now = clock_wall_s();
            }
            continue;
        }
        ops[i].fn(ops[i].arg, ok);
    }
}

/* After REREAD: adopt the winners, fill in local keys, publish. */
static void
kc_finish(struct keyring_cluster *kc)
{
    struct keyring *r = kc->work;

    for (uint64_t i = 0; i < kc->n; i++) {
        struct mc_req *q = kc->reply[i];
        struct keyring_key k;
        if (kc->reread[i] && q != NULL && q->result == MC_RES_HIT &&
            reply_open(kc, q, kc->lo + i, &k) == 0) {
            if (!kc_is_retired(kc, k.name)) {
                adopt(r, &k);
            }
            OPENSSL_cleanse(&k, sizeof(k));
        }
    }
    kc_clear(kc);
    kc->phase = KC_IDLE;
    /* A retirement asked for while this refresh ran is not in its READ. */
    kc_drop_retired(kc, r);

    /* Local keys where we hold none, so tickets keep working here. */
    if (keyring_fill_local(r, kc->now, RAND_priv_bytes) < 0) {
        log_error("keyring: the random generator failed; no new ticket key");
    }
    if (kc->healed > 0) {
        log_info("keyring: wrote %zu held keys to memcached, which had none for their epochs",
                 kc->healed);
    }
    if (kc->reachable != kc->last_reachable) {
        if (kc->reachable) {
            log_info("keyring: memcached answers the keyring again");
        } else {
            log_warn("keyring: memcached did not answer for epochs %llu and %llu",
                     (unsigned long long)kc->e, (unsigned long long)kc->e + 1);
        }
        kc->last_reachable = kc->reachable;
    }
    keyring_sync_publish(kc->ks, r, kc->rejected);
    kc_end_ops(kc);
    if (kc->again) {
        kc->again = false;
        kc_begin(kc, kc->again_now);
        return;
    }
    if (kc->done != NULL) {
        kc->done(kc->done_arg);
    }
}

static void
kc_step(struct keyring_cluster *kc)
{
    evtimer_disarm(kc->loop, &kc->phase_timer);
    switch (kc->phase) {
    case KC_READ:
        kc_write(kc);
        break;
    case KC_WRITE:
        kc_reread(kc);
        break;
    case KC_REREAD:
        kc_finish(kc);
        break;
    case KC_IDLE:
        break;
    }
}

static void
kc_begin(struct keyring_cluster *kc, time_t now)
{
    struct keyring *r = kc->work;

    kc->now = now;
    keyring_sync_snapshot(kc->ks, r);
    keyring_expire(r, now);
    kc->e = keyring_epoch(r, now);
    kc->lo = kc->e > r->keep ? kc->e - r->keep : 0;
    kc->n = kc->e + 1 - kc->lo + 1;
    CHECK(kc->n <= EPOCHS_MAX);
    kc->reachable = true;
    kc->rejected = 0;
    kc->healed = 0;
    /* The operations asked for so far ride on this refresh. */
    memcpy(kc->running, kc->waiting, kc->nwaiting * sizeof(kc->running[0]));
    kc->nrunning = kc->nwaiting;
    kc->nwaiting = 0;
    kc->rotate = false;
    kc->rotate_ok = false;
    kc->rotate_slot = SLOT_NONE;
    kc->list_ok = false;
    for (size_t i = 0; i < kc->nrunning; i++) {
        kc->running[i].tries++;
        kc->rotate = kc->rotate || kc->running[i].kind == KC_OP_ROTATE;
    }
    kc_drop_retired(kc, r);
    kc_read(kc);
}

void
keyring_cluster_refresh(struct keyring_cluster *kc, time_t now)
{
    CHECK_OBJ(kc, KEYRING_CLUSTER_MAGIC);
    if (kc->phase != KC_IDLE) {
        kc->again = true;
        kc->again_now = now;
        return;
    }
    kc_begin(kc, now);
}

void
keyring_cluster_fill_local(struct keyring_cluster *kc, time_t now)
{
    CHECK_OBJ(kc, KEYRING_CLUSTER_MAGIC);
    if (kc->phase == KC_IDLE) {
        keyring_sync_snapshot(kc->ks, kc->work);
    }
    if (keyring_fill_local(kc->work, now, RAND_priv_bytes) < 0) {
        log_error("keyring: the random generator failed; no new ticket key");
    }
    keyring_sync_publish(kc->ks, kc->work, 0);
}

int
keyring_cluster_retire(struct keyring_cluster *kc, const unsigned char *name, uint64_t epoch,
                       time_t now, keyring_cluster_op_fn *fn, void *arg)
{
    struct kc_op op = {.kind = KC_OP_RETIRE, .fn = fn, .arg = arg};
    struct keyring_retired x = {.epoch = epoch};

    CHECK_OBJ(kc, KEYRING_CLUSTER_MAGIC);
    if (!kc_queue_op(kc, &op)) {
        return -EBUSY;
    }
    memcpy(x.name, name, KEYRING_NAME_LEN);
    (void)keyring_retired_add(&kc->retired, &x);
    keyring_cluster_refresh(kc, now);
    return 0;
}

int
keyring_cluster_rotate(struct keyring_cluster *kc, time_t now, keyring_cluster_op_fn *fn, void *arg)
{
    struct kc_op op = {.kind = KC_OP_ROTATE, .fn = fn, .arg = arg};

    CHECK_OBJ(kc, KEYRING_CLUSTER_MAGIC);
    if (!kc_queue_op(kc, &op)) {
        return -EBUSY;
    }
    keyring_cluster_refresh(kc, now);
    return 0;
}

bool
keyring_cluster_busy(const struct keyring_cluster *kc)
{
    return kc->phase != KC_IDLE || kc->again;
}

bool
keyring_cluster_reachable(const struct keyring_cluster *kc)
{
    return kc->last_reachable;
}

/* ---- answers ---- */

static void
kc_on_reply(struct keyring_cluster *kc, struct mc_req *req)
{
    CHECK_OBJ(req, MC_REQ_MAGIC);
    if (kc->phase == KC_IDLE || req->fe != TAG(kc->round, TAG_SLOT(req->fe)) ||
        TAG_SLOT(req->fe) >= SLOTS || kc->reply[TAG_SLOT(req->fe)] != NULL || kc->pending == 0) {
        mc_req_free(req); /* an earlier phase's, given up on */
        return;
    }
    kc_answer(kc, req);
    if (--kc->pending == 0) {
        kc_step(kc);
    }
}

static void
on_conn_done(void *arg, struct mc_req *req)
{
    struct keyring_cluster *kc = arg;

    CHECK_OBJ(kc, KEYRING_CLUSTER_MAGIC);
    kc_on_reply(kc, req);
}

static void
on_mailbox(struct evhandler *h, uint32_t events)
{
    struct keyring_cluster *kc = CONTAINER_OF(h, struct keyring_cluster, mbox_h);
    struct mailbox_msg *list;

    (void)events;
    CHECK_OBJ(kc, KEYRING_CLUSTER_MAGIC);
    mailbox_take(&kc->mbox, &list);
    while (list != NULL) {
        struct mc_req *req = (struct mc_req *)list;
        list = list->next;
        kc_on_reply(kc, req);
    }
}

/* The phase's deadline: whatever has not answered is a timeout. */
static void
on_phase_timer(struct evtimer *t)
{
    struct keyring_cluster *kc = CONTAINER_OF(t, struct keyring_cluster, phase_timer);

    CHECK_OBJ(kc, KEYRING_CLUSTER_MAGIC);
    if (kc->phase == KC_IDLE || kc->pending == 0) {
        return;
    }
    log_debug("keyring: %zu memcached answers missing after %u ms", kc->pending,
              kc->cfg->memcached.timeout_ms + PHASE_SLACK_MS);
    for (size_t i = 0; i < SLOTS; i++) {
        if (kc->sent[i] && kc->reply[i] == NULL) {
            keyring_sync_count_op(kc->ks, kc_op(kc->sent_op[i]), MC_RES_TIMEOUT);
        }
    }
    kc->pending = 0;
    kc_step(kc);
}

/* ---- life ---- */

struct keyring_cluster *
keyring_cluster_new(const struct config *cfg, struct mc *mc, struct evloop *loop, size_t queue,
                    struct seal *seal, struct keyring_sync *ks, keyring_cluster_done_fn *done,
                    void *arg, struct err *err)
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
    kc->loop = loop;
    kc->queue = queue;
    kc->seal = seal;
    kc->ks = ks;
    kc->done = done;
    kc->done_arg = arg;
    kc->last_reachable = true;
    kc->mbox_h.on_event = on_mailbox;
    kc->phase_timer.on_timer = on_phase_timer;
    kc->work = keyring_sync_alloc_ring();
    kc->conn = mcconn_new(mc, loop, on_conn_done, kc);
    if (kc->work == NULL || kc->conn == NULL ||
        evloop_add(loop, kc->mbox.efd, EPOLLIN, &kc->mbox_h) < 0) {
        keyring_cluster_free(kc);
        err_set(err, "keyring: out of resources");
        return NULL;
    }
    keyring_init(kc->work, cfg->tickets.rotate, cfg->tickets.keep);
    mcconn_start(kc->conn);
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
    /* Operations not carried out: failed (their owner, keyops, outlives us). */
    for (size_t i = 0; i < kc->nrunning; i++) {
        kc->running[i].fn(kc->running[i].arg, false);
    }
    for (size_t i = 0; i < kc->nwaiting; i++) {
        kc->waiting[i].fn(kc->waiting[i].arg, false);
    }
    kc->nrunning = kc->nwaiting = 0;
    /* Requests still on the connection go with it (their owner is NULL). */
    kc_clear(kc);
    mcconn_free(kc->conn);
    for (size_t i = 0; i < EPOCHS_MAX; i++) {
        OPENSSL_cleanse(&kc->wrote[i], sizeof(kc->wrote[i]));
    }
    evtimer_disarm(kc->loop, &kc->phase_timer);
    if (kc->mbox.efd >= 0) {
        evloop_del(kc->loop, kc->mbox.efd);
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
