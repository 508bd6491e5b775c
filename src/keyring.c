/*
 * keyring.c - the session-ticket key ring: epoch arithmetic, the key set of
 * one instance, roles, the renewal rule, expiry and wiping.
 *
 * Responsibility: pure bookkeeping over a struct keyring; no clock, no RNG,
 * no I/O of its own (time and randomness are the caller's arguments), so
 * design.md's "Coordination of the ticket keyring" can be unit-tested.
 * Thread: whichever thread owns the struct keyring at the time (keyring_sync
 * under its lock, or one worker on its private copy); nothing here is shared.
 * Ownership: keys are stored by value in the ring.  Every key that leaves the
 * ring, or is overwritten, is wiped with OPENSSL_cleanse, and slots past
 * r->n are always zero.
 */
#include "keyring.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "check.h"

/* Zero one slot in a way the compiler cannot drop as a dead store. */
static void
keyring_slot_wipe(struct keyring_key *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

static void
keyring_check(const struct keyring *r)
{
    CHECK(r != NULL);
    CHECK(r->rotate >= 1);
    CHECK(r->keep <= KEYRING_KEEP_MAX);
    CHECK(r->n <= KEYRING_MAX);
}

/* An empty ring; `rotate` >= 1 second, `keep` <= KEYRING_KEEP_MAX (config.c enforces both). */
void
keyring_init(struct keyring *r, unsigned rotate, unsigned keep)
{
    CHECK(r != NULL);
    CHECK(rotate >= 1);
    CHECK(keep <= KEYRING_KEEP_MAX);
    OPENSSL_cleanse(r, sizeof(*r));
    r->rotate = rotate;
    r->keep = keep;
    r->n = 0;
}

/* `now` is Unix time and must not be negative. */
uint64_t
keyring_epoch(const struct keyring *r, time_t now)
{
    CHECK(r != NULL && r->rotate >= 1);
    CHECK(now >= 0);
    return (uint64_t)now / r->rotate;
}

time_t
keyring_epoch_start(const struct keyring *r, uint64_t epoch)
{
    CHECK(r != NULL && r->rotate >= 1);
    CHECK(epoch <= (uint64_t)INT64_MAX / r->rotate);
    return (time_t)(epoch * r->rotate);
}

int64_t
keyring_next_refresh_ms(unsigned rotate, int64_t now_ms, unsigned refresh_s, unsigned retry_ms)
{
    CHECK(rotate >= 1);
    CHECK(now_ms >= 0);
    int64_t period = (int64_t)rotate * 1000;
    int64_t boundary = (now_ms / period + 1) * period;
    int64_t due = now_ms + (int64_t)refresh_s * 1000;

    if (boundary < due) {
        due = boundary;
    }
    if (retry_ms > 0 && now_ms + (int64_t)retry_ms < due) {
        due = now_ms + (int64_t)retry_ms;
    }
    return due > now_ms ? due : now_ms + 1;
}

/*
 * `rand_fn` is called three times (name, AES key, HMAC key) and must return 1
 * on success, like RAND_priv_bytes.  On failure `k` is wiped.
 */
int
keyring_generate(struct keyring_key *k, uint64_t epoch, enum keyring_source source,
                 keyring_rand_fn rand_fn)
{
    CHECK(k != NULL);
    CHECK(rand_fn != NULL);
    CHECK(source == KEYRING_SOURCE_CLUSTER || source == KEYRING_SOURCE_LOCAL ||
          source == KEYRING_SOURCE_ROTATED);
    keyring_slot_wipe(k);
    if (rand_fn(k->name, KEYRING_NAME_LEN) != 1 || rand_fn(k->aes, KEYRING_AES_LEN) != 1 ||
        rand_fn(k->hmac, KEYRING_HMAC_LEN) != 1) {
        keyring_slot_wipe(k);
        return -1;
    }
    k->epoch = epoch;
    k->source = source;
    return 0;
}

/* The index of the key of `epoch` from `source`, or r->n if none is held. */
static size_t
keyring_index(const struct keyring *r, uint64_t epoch, enum keyring_source source)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        if (r->keys[i].epoch == epoch && r->keys[i].source == source) {
            break;
        }
    }
    return i;
}

int
keyring_add(struct keyring *r, const struct keyring_key *k)
{
    keyring_check(r);
    CHECK(k != NULL);
    if (keyring_find(r, k->name) != NULL) {
        return -EEXIST;
    }
    if (keyring_index(r, k->epoch, k->source) != r->n) {
        return -EBUSY;
    }
    if (r->n == KEYRING_MAX) {
        return -ENOSPC;
    }
    r->keys[r->n++] = *k;
    return 0;
}

int
keyring_replace(struct keyring *r, const struct keyring_key *k)
{
    struct keyring_key *slot;
    size_t i;

    keyring_check(r);
    CHECK(k != NULL);
    i = keyring_index(r, k->epoch, k->source);
    if (i == r->n) {
        if (r->n == KEYRING_MAX) {
            return -ENOSPC;
        }
        r->n++;
    }
    slot = &r->keys[i];
    if (slot != k) {
        keyring_slot_wipe(slot);
        *slot = *k;
    }
    return 0;
}

int
keyring_fill_local(struct keyring *r, time_t now, keyring_rand_fn rand)
{
    uint64_t e = keyring_epoch(r, now);
    int made = 0;

    for (uint64_t epoch = e; epoch <= e + 1; epoch++) {
        struct keyring_key k;
        if (keyring_get(r, epoch, KEYRING_SOURCE_CLUSTER) != NULL ||
            keyring_get(r, epoch, KEYRING_SOURCE_LOCAL) != NULL) {
            continue;
        }
        if (keyring_generate(&k, epoch, KEYRING_SOURCE_LOCAL, rand) < 0) {
            return -1;
        }
        CHECK(keyring_add(r, &k) == 0);
        OPENSSL_cleanse(&k, sizeof(k));
        made++;
    }
    return made;
}

/* Take slot i out: its bytes wiped, the later slots moved down, and the
 * slot left over at the end wiped too (it held a copy of the last key). */
static void
keyring_remove_at(struct keyring *r, size_t i)
{
    keyring_slot_wipe(&r->keys[i]);
    for (; i + 1 < r->n; i++) {
        r->keys[i] = r->keys[i + 1];
    }
    r->n--;
    keyring_slot_wipe(&r->keys[r->n]);
}

int
keyring_remove(struct keyring *r, uint64_t epoch, enum keyring_source source)
{
    size_t i;

    keyring_check(r);
    i = keyring_index(r, epoch, source);
    if (i == r->n) {
        return 0;
    }
    keyring_remove_at(r, i);
    return 1;
}

int
keyring_remove_name(struct keyring *r, const unsigned char name[KEYRING_NAME_LEN])
{
    size_t i;

    keyring_check(r);
    CHECK(name != NULL);
    for (i = 0; i < r->n; i++) {
        if (CRYPTO_memcmp(r->keys[i].name, name, KEYRING_NAME_LEN) == 0) {
            break;
        }
    }
    if (i == r->n) {
        return 0;
    }
    keyring_remove_at(r, i);
    return 1;
}

int
keyring_rotate(struct keyring *r, uint64_t epoch, const struct keyring_key *fresh)
{
    const struct keyring_key *enc = keyring_get(r, epoch, KEYRING_SOURCE_CLUSTER);
    struct keyring_key old;
    struct keyring_key k = *fresh;
    int rc = 0;

    keyring_check(r);
    CHECK(fresh->epoch == epoch && keyring_find(r, fresh->name) == NULL);
    if (enc == NULL) {
        enc = keyring_get(r, epoch, KEYRING_SOURCE_LOCAL);
    }
    if (enc == NULL) {
        k.source = fresh->source;
        rc = keyring_add(r, &k) < 0 ? -ENOSPC : -ENOENT;
        goto out;
    }
    old = *enc;
    k.source = old.source;
    keyring_remove(r, epoch, KEYRING_SOURCE_ROTATED);
    keyring_remove(r, epoch, old.source);
    old.source = KEYRING_SOURCE_ROTATED;
    if (keyring_add(r, &old) < 0 || keyring_add(r, &k) < 0) {
        rc = -ENOSPC;
    }
    keyring_slot_wipe(&old);
out:
    keyring_slot_wipe(&k);
    return rc;
}

const struct keyring_key *
keyring_get(const struct keyring *r, uint64_t epoch, enum keyring_source source)
{
    size_t i;

    keyring_check(r);
    i = keyring_index(r, epoch, source);
    return i < r->n ? &r->keys[i] : NULL;
}

/*
 * The TLS hot path: called for every ticket a client presents.  The name is
 * public (it travels in the ticket), so a plain memcmp is fine, and a ring
 * holds at most keep + 2 epochs' keys, so a linear scan beats any index.
 */
const struct keyring_key *
keyring_find(const struct keyring *r, const unsigned char name[KEYRING_NAME_LEN])
{
    const struct keyring_key *k;
    const struct keyring_key *end;

    CHECK(r != NULL && r->n <= KEYRING_MAX);
    k = r->keys;
    end = r->keys + r->n;
    for (; k < end; k++) {
        if (memcmp(k->name, name, KEYRING_NAME_LEN) == 0) {
            return k;
        }
    }
    return NULL;
}

const struct keyring_key *
keyring_encrypt_key(const struct keyring *r, time_t now)
{
    uint64_t e = keyring_epoch(r, now);
    const struct keyring_key *local = NULL;

    keyring_check(r);
    for (size_t i = 0; i < r->n; i++) {
        const struct keyring_key *k = &r->keys[i];

        if (k->epoch != e) {
            continue;
        }
        if (k->source == KEYRING_SOURCE_CLUSTER) {
            return k;
        }
        if (k->source == KEYRING_SOURCE_LOCAL) {
            local = k;
        }
    }
    return local;
}

/*
 * `k` is a key of this ring (or an equal copy) that just decrypted a
 * TLS 1.2 ticket.  Renew when it is older than the key we encrypt with: an
 * older epoch's, or this epoch's local key once the cluster's is known.  A
 * next-epoch key means a peer's clock is ahead: accept it as is, or the
 * ticket would flap between the two instances.
 */
bool
keyring_needs_renewal(const struct keyring *r, const struct keyring_key *k, time_t now)
{
    uint64_t e = keyring_epoch(r, now);
    const struct keyring_key *enc;

    CHECK(k != NULL);
    if (k->epoch < e) {
        return true;
    }
    if (k->epoch > e) {
        return false;
    }
    if (k->source == KEYRING_SOURCE_ROTATED) {
        return true; /* rotated away: decrypt-only */
    }
    enc = keyring_encrypt_key(r, now);
    return enc != NULL && enc != k && k->source == KEYRING_SOURCE_LOCAL &&
           enc->source == KEYRING_SOURCE_CLUSTER;
}

enum keyring_role
keyring_role(const struct keyring *r, const struct keyring_key *k, time_t now)
{
    uint64_t e = keyring_epoch(r, now);

    CHECK(k != NULL);
    if (k->source == KEYRING_SOURCE_ROTATED) {
        return KEYRING_ROLE_DECRYPT_ONLY;
    }
    if (k->epoch == e) {
        return KEYRING_ROLE_CURRENT;
    }
    if (k->epoch == e + 1) {
        return KEYRING_ROLE_NEXT;
    }
    return KEYRING_ROLE_DECRYPT_ONLY;
}

const char *
keyring_role_name(enum keyring_role role)
{
    switch (role) {
    case KEYRING_ROLE_CURRENT:
        return "current";
    case KEYRING_ROLE_NEXT:
        return "next";
    case KEYRING_ROLE_DECRYPT_ONLY:
        return "decrypt-only";
    }
    CHECK(!"unknown keyring role");
    return "?";
}

const char *
keyring_source_name(enum keyring_source source)
{
    switch (source) {
    case KEYRING_SOURCE_CLUSTER:
        return "cluster";
    case KEYRING_SOURCE_LOCAL:
    case KEYRING_SOURCE_ROTATED: /* this instance's own copy, decrypt-only */
        return "local";
    }
    CHECK(!"unknown keyring source");
    return "?";
}

/*
 * Keeps epochs e-keep .. e+1 (fewer below when e < keep), preserving the
 * order of the survivors.  Slots vacated at the end, which hold either a
 * dropped key or a stale copy of a moved one, are wiped.
 */
size_t
keyring_expire(struct keyring *r, time_t now)
{
    uint64_t e = keyring_epoch(r, now);
    uint64_t oldest = e > r->keep ? e - r->keep : 0;
    size_t kept = 0;
    size_t dropped;

    keyring_check(r);
    for (size_t i = 0; i < r->n; i++) {
        const struct keyring_key *k = &r->keys[i];

        if (k->epoch < oldest || k->epoch > e + 1) {
            continue;
        }
        if (kept != i) {
            r->keys[kept] = *k;
        }
        kept++;
    }
    dropped = r->n - kept;
    for (size_t i = kept; i < r->n; i++) {
        keyring_slot_wipe(&r->keys[i]);
    }
    r->n = kept;
    return dropped;
}

/*
 * `dst` must be a ring that keyring_init, keyring_copy or zero-initialisation
 * made.  Copies only the held keys (at most keep + 2 epochs' worth), not the
 * whole array.
 */
void
keyring_copy(struct keyring *dst, const struct keyring *src)
{
    CHECK(dst != NULL);
    keyring_check(src);
    CHECK(dst->n <= KEYRING_MAX);
    if (dst == src) {
        return;
    }
    for (size_t i = 0; i < dst->n; i++) {
        keyring_slot_wipe(&dst->keys[i]);
    }
    dst->rotate = src->rotate;
    dst->keep = src->keep;
    memcpy(dst->keys, src->keys, src->n * sizeof(src->keys[0]));
    dst->n = src->n;
}

/* Wipes the whole array (not just the first n slots), keeping rotate and keep. */
void
keyring_wipe(struct keyring *r)
{
    CHECK(r != NULL);
    OPENSSL_cleanse(r->keys, sizeof(r->keys));
    r->n = 0;
}

uint32_t
keyring_fingerprint(const struct keyring_key *k)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    CHECK(k != NULL);
    CHECK(EVP_Digest(k->name, KEYRING_NAME_LEN, md, &len, EVP_sha256(), NULL) == 1);
    CHECK(len >= 4);
    return (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | (uint32_t)md[3];
}
