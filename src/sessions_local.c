/*
 * sessions_local.c - sharded in-process LRU store of SSL_SESSIONs.
 *
 * Every worker thread calls in; each shard's mutex guards its table and
 * list.  Session IDs are 32 random bytes chosen by OpenSSL on this server,
 * so their first bytes are already a good hash; a client can only choose
 * the ID it looks up, which decides the bucket searched and nothing else.
 */
#include "sessions_local.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define SHARDS          64
#define BUCKETS_PER_MIN 64

struct entry {
    struct entry *hnext;               /* hash chain */
    struct entry *lru_prev, *lru_next; /* most recent at head */
    SSL_SESSION *sess;
    time_t expires;
    unsigned char len;
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
};

struct shard {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    size_t capacity;
    struct entry *lru_head, *lru_tail;
} __attribute__((aligned(64)));

struct sessions_local {
    struct shard shards[SHARDS];
};

static uint64_t
id_hash(const unsigned char *id, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ id[i]) * 0x100000001b3u;
    }
    return h;
}

struct sessions_local *
sessions_local_new(size_t capacity)
{
    struct sessions_local *s = calloc(1, sizeof(*s));
    size_t per = capacity / SHARDS + 1;
    size_t nb = BUCKETS_PER_MIN;

    if (s == NULL) {
        return NULL;
    }
    while (nb < per) {
        nb <<= 1;
    }
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        pthread_mutex_init(&sh->lock, NULL);
        sh->capacity = per;
        sh->nbuckets = nb;
        sh->buckets = calloc(nb, sizeof(*sh->buckets));
        if (sh->buckets == NULL) {
            sessions_local_free(s);
            return NULL;
        }
    }
    return s;
}

static void
entry_free(struct entry *e)
{
    SSL_SESSION_free(e->sess);
    free(e);
}

void
sessions_local_free(struct sessions_local *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        struct entry *e = sh->lru_head;
        while (e != NULL) {
            struct entry *next = e->lru_next;
            entry_free(e);
            e = next;
        }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->lock);
    }
    free(s);
}

static void
lru_unlink(struct shard *sh, struct entry *e)
{
    if (e->lru_prev != NULL) {
        e->lru_prev->lru_next = e->lru_next;
    } else {
        sh->lru_head = e->lru_next;
    }
    if (e->lru_next != NULL) {
        e->lru_next->lru_prev = e->lru_prev;
    } else {
        sh->lru_tail = e->lru_prev;
    }
    e->lru_prev = e->lru_next = NULL;
}

static void
lru_push_head(struct shard *sh, struct entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = sh->lru_head;
    if (sh->lru_head != NULL) {
        sh->lru_head->lru_prev = e;
    } else {
        sh->lru_tail = e;
    }
    sh->lru_head = e;
}

/* The link that points at the entry for id (or at the chain's NULL end). */
static struct entry **
shard_find(struct shard *sh, uint64_t h, const unsigned char *id, size_t len)
{
    struct entry **pp = &sh->buckets[(h >> 6) & (sh->nbuckets - 1)];

    while (*pp != NULL && ((*pp)->len != len || memcmp((*pp)->id, id, len) != 0)) {
        pp = &(*pp)->hnext;
    }
    return pp;
}

/* Unlink the entry *pp from both structures; the caller frees it. */
static struct entry *
shard_unlink(struct shard *sh, struct entry **pp)
{
    struct entry *e = *pp;

    CHECK(e != NULL);
    *pp = e->hnext;
    lru_unlink(sh, e);
    sh->count--;
    return e;
}

int
sessions_local_put(struct sessions_local *s, SSL_SESSION *sess)
{
    unsigned int len;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    struct entry *old = NULL;
    struct entry *evicted = NULL;

    if (len == 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return -EINVAL;
    }
    struct entry *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return -ENOMEM;
    }
    SSL_SESSION_up_ref(sess);
    e->sess = sess;
    e->len = (unsigned char)len;
    memcpy(e->id, id, len);
    e->expires = (time_t)SSL_SESSION_get_time(sess) + (time_t)SSL_SESSION_get_timeout(sess);

    uint64_t h = id_hash(id, len);
    struct shard *sh = &s->shards[h & (SHARDS - 1)];
    pthread_mutex_lock(&sh->lock);
    struct entry **pp = shard_find(sh, h, id, len);
    if (*pp != NULL) {
        old = shard_unlink(sh, pp);
    } else if (sh->count >= sh->capacity && sh->lru_tail != NULL) {
        struct entry *t = sh->lru_tail;
        struct entry **tp = shard_find(sh, id_hash(t->id, t->len), t->id, t->len);
        CHECK(*tp == t);
        evicted = shard_unlink(sh, tp);
    }
    pp = shard_find(sh, h, id, len);
    e->hnext = NULL;
    *pp = e;
    lru_push_head(sh, e);
    sh->count++;
    pthread_mutex_unlock(&sh->lock);

    /* Free outside the lock: SSL_SESSION_free may take OpenSSL's own locks. */
    if (old != NULL) {
        entry_free(old);
    }
    if (evicted != NULL) {
        entry_free(evicted);
    }
    return 0;
}

SSL_SESSION *
sessions_local_get(struct sessions_local *s, const unsigned char *id, size_t len, time_t now,
                   int take)
{
    SSL_SESSION *sess = NULL;
    struct entry *dead = NULL;

    if (len == 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return NULL;
    }
    uint64_t h = id_hash(id, len);
    struct shard *sh = &s->shards[h & (SHARDS - 1)];
    pthread_mutex_lock(&sh->lock);
    struct entry **pp = shard_find(sh, h, id, len);
    if (*pp != NULL) {
        if ((*pp)->expires <= now) {
            dead = shard_unlink(sh, pp);
        } else if (take) {
            dead = shard_unlink(sh, pp);
            sess = dead->sess;
            dead->sess = NULL;
        } else {
            sess = (*pp)->sess;
            /* Take our reference under the lock, before anyone can evict it. */
            SSL_SESSION_up_ref(sess);
            lru_unlink(sh, *pp);
            lru_push_head(sh, *pp);
        }
    }
    pthread_mutex_unlock(&sh->lock);
    if (dead != NULL) {
        entry_free(dead);
    }
    return sess;
}

int
sessions_local_remove(struct sessions_local *s, const unsigned char *id, size_t len)
{
    struct entry *dead = NULL;

    if (len == 0 || len > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return 0;
    }
    uint64_t h = id_hash(id, len);
    struct shard *sh = &s->shards[h & (SHARDS - 1)];
    pthread_mutex_lock(&sh->lock);
    struct entry **pp = shard_find(sh, h, id, len);
    if (*pp != NULL) {
        dead = shard_unlink(sh, pp);
    }
    pthread_mutex_unlock(&sh->lock);
    if (dead != NULL) {
        entry_free(dead);
        return 1;
    }
    return 0;
}

size_t
sessions_local_count(struct sessions_local *s)
{
    size_t n = 0;

    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&s->shards[i].lock);
        n += s->shards[i].count;
        pthread_mutex_unlock(&s->shards[i].lock);
    }
    return n;
}
