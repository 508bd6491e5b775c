/*
 * sessions.c - session-cache callbacks over the in-process store and, with
 * the memcached store, sealed entries in memcached.
 *
 * Runs on worker threads inside OpenSSL's handshake and in the worker's
 * loop for memcached answers; never blocks (the in-process store's shard
 * locks are held for a few hundred nanoseconds, memcached is only reached
 * through the worker's own non-blocking connections (mcconn.c) or, when
 * those cannot take an operation, mc.c's queues).
 *
 * The lookup path (memcached store): the client-hello callback decides
 * whether the ClientHello can resume from the cache at all (design.md: a TLS
 * 1.3 ClientHello's random legacy session ID, or a ClientHello that carries
 * a stateless ticket, never costs a round trip), tries the in-process store,
 * and otherwise sends a GET, parks the handshake (handshake.h) and returns
 * SSL_CLIENT_HELLO_RETRY.  The lookup (struct lookup) hangs on the SSL and
 * is this module's alone: its timer gives up after memcached.timeout_ms
 * (the handshake then goes on as a full one), its answer is opened (seal.c)
 * and decoded on the worker, and either one resumes the handshake; OpenSSL
 * then calls the client-hello callback again (it is idempotent) and
 * get_session_cb, which hands over what was found.  If the connection
 * closes first, SSL_free frees the lookup and the late answer is dropped.
 *
 * Single use of TLS 1.3 stateful tickets (RFC 8446 8.1): OpenSSL does not
 * enforce it with an external cache (measured, shared/notes), so a lookup
 * removes the entry: from the in-process store at once, from memcached with
 * a DELETE right after the GET (memcached has no atomic get-and-delete, so
 * two instances racing on one ticket within a round trip can both accept
 * it).  With memcached, TLS 1.3 sessions are kept only there, so that no
 * instance holds a copy the others cannot delete.
 *
 * Entry (inside the seal): u8 version | u8 kind | u16 0 | u64 created |
 * u64 expires | 16-byte instance id | DER of the SSL_SESSION.
 */
#include "sessions.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "check.h"
#include "clock.h"
#include "earlydata.h"
#include "evloop.h"
#include "handshake.h"
#include "log.h"
#include "mc.h"
#include "mcconn.h"
#include "seal.h"
#include "sessions_local.h"
#include "stats.h"

#define ENTRY_VERSION    1
#define ENTRY_KIND_SESS  1
#define ENTRY_HEADER_LEN (4 + 8 + 8 + SESSIONS_INSTANCE_LEN)
#define ENTRY_MAX        16384 /* DER of a session with a client chain stays well below */
#define SET_BUDGET_MS    1000  /* a store older than this in the queue is not worth sending */

/* Marks, in SSL_SESSION ex_data, a session another instance made, so that a
 * later hit in the in-process store still counts as origin="remote".  The
 * index is made once, on the main thread, before any worker runs. */
static int remote_index = -1;
static char remote_mark;

/* One handshake's lookup, hung on its SSL (lookup_index) by the first
 * client-hello callback that has an ID to look up; freed with the SSL. */
struct lookup {
    unsigned magic;
#define LOOKUP_MAGIC 0x4c4f4f4bu
    struct handshake *hs;
    struct evtimer timer; /* gives up on memcached (memcached.timeout_ms) */
    struct mc_req *req;   /* while memcached is asked */
    SSL_SESSION *found;   /* the answer, one reference */
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    size_t idlen;
    bool tls13;
    bool remote; /* `found` was made by another instance */
};

static int lookup_index = -1;

static void lookup_give_up(struct lookup *l);

/* SSL_free: the connection is gone; a late answer will find no lookup. */
static void
lookup_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct lookup *l = ptr;

    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (l == NULL) {
        return;
    }
    CHECK_OBJ(l, LOOKUP_MAGIC);
    if (l->req != NULL) {
        lookup_give_up(l); /* closed while waiting (handshake deadline, stop) */
    }
    evtimer_disarm(l->hs->env->loop, &l->timer);
    SSL_SESSION_free(l->found);
    l->magic = 0;
    free(l);
}

struct sessions *
sessions_new(const struct config *cfg, struct mc *mc, struct seal *seal)
{
    struct sessions *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    if (remote_index < 0) {
        remote_index = SSL_SESSION_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    if (lookup_index < 0) {
        lookup_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, lookup_free);
    }
    s->magic = SESSIONS_MAGIC;
    s->cfg = cfg;
    s->mc = mc;
    s->seal = seal;
    s->local = sessions_local_new(SESSIONS_LOCAL_CAPACITY);
    if (s->local == NULL || RAND_bytes(s->instance, sizeof(s->instance)) != 1) {
        sessions_free(s);
        return NULL;
    }
    return s;
}

void
sessions_free(struct sessions *s)
{
    if (s == NULL) {
        return;
    }
    sessions_local_free(s->local);
    s->magic = 0;
    free(s);
}

static struct sessions *
sessions_of(const struct handshake_env *env)
{
    struct sessions *s = env->sessions;

    CHECK_OBJ(s, SESSIONS_MAGIC);
    return s;
}

/* "<prefix>sess:<hex id>" into key (MC_KEY_MAX + 1 bytes); returns its length. */
static size_t
entry_key(const struct sessions *s, const unsigned char *id, size_t idlen, char *key)
{
    size_t n = (size_t)snprintf(key, MC_KEY_MAX + 1, "%ssess:", s->cfg->memcached.prefix);

    for (size_t i = 0; i < idlen && n + 2 <= MC_KEY_MAX; i++) {
        n += (size_t)snprintf(key + n, 3, "%02x", id[i]);
    }
    return n;
}

static void
put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint64_t
get_u64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void
count_result(struct stats *st, enum mc_op op, enum mc_result r)
{
    static const enum stats_id get[] = {
        [MC_RES_HIT] = STAT_SESS_GET_HIT,         [MC_RES_MISS] = STAT_SESS_GET_MISS,
        [MC_RES_STORED] = STAT_SESS_GET_ERROR,    [MC_RES_EXISTS] = STAT_SESS_GET_ERROR,
        [MC_RES_ERROR] = STAT_SESS_GET_ERROR,     [MC_RES_TIMEOUT] = STAT_SESS_GET_TIMEOUT,
        [MC_RES_DROPPED] = STAT_SESS_GET_DROPPED,
    };
    static const enum stats_id set[] = {
        [MC_RES_HIT] = STAT_SESS_SET_STORED,      [MC_RES_MISS] = STAT_SESS_SET_ERROR,
        [MC_RES_STORED] = STAT_SESS_SET_STORED,   [MC_RES_EXISTS] = STAT_SESS_SET_ERROR,
        [MC_RES_ERROR] = STAT_SESS_SET_ERROR,     [MC_RES_TIMEOUT] = STAT_SESS_SET_TIMEOUT,
        [MC_RES_DROPPED] = STAT_SESS_SET_DROPPED,
    };
    static const enum stats_id del[] = {
        [MC_RES_HIT] = STAT_SESS_DELETE_HIT,         [MC_RES_MISS] = STAT_SESS_DELETE_MISS,
        [MC_RES_STORED] = STAT_SESS_DELETE_ERROR,    [MC_RES_EXISTS] = STAT_SESS_DELETE_ERROR,
        [MC_RES_ERROR] = STAT_SESS_DELETE_ERROR,     [MC_RES_TIMEOUT] = STAT_SESS_DELETE_TIMEOUT,
        [MC_RES_DROPPED] = STAT_SESS_DELETE_DROPPED,
    };

    switch (op) {
    case MC_GET:
    case MC_GETS:
        stats_add(st, get[r], 1);
        return;
    case MC_SET:
    case MC_ADD:
    case MC_CAS:
        stats_add(st, set[r], 1);
        return;
    case MC_DELETE:
        stats_add(st, del[r], 1);
        return;
    }
}

/* Send `req` (its fe and owner set) on the thread's own memcached
 * connection, or through the helpers when that path is not for it
 * (mcconn.h).  0: the answer comes to sessions_on_reply.  -1: not sent,
 * counted, freed. */
static int
submit(const struct handshake_env *env, struct mc_req *req)
{
    int rc;

    req->reply_to = env->mbox;
    rc = env->mcconn != NULL ? mcconn_submit(env->mcconn, req) : -ENOTSUP;
    if (rc == -ENOTSUP) {
        rc = mc_submit(sessions_of(env)->mc, env->queue, req);
        if (rc < 0) {
            req->result = MC_RES_DROPPED; /* the queue is full */
        }
    }
    if (rc < 0) {
        count_result(&env->stats[req->fe], req->op, req->result);
        mc_req_free(req);
        return -1;
    }
    return 0;
}

/* ---- memcached: store ---- */

static void
store_remote(const struct handshake_env *env, unsigned slot, SSL_SESSION *sess)
{
    struct sessions *s = sessions_of(env);
    unsigned int idlen;
    const unsigned char *id = SSL_SESSION_get_id(sess, &idlen);
    int derlen = i2d_SSL_SESSION(sess, NULL);
    time_t created = (time_t)SSL_SESSION_get_time(sess);
    long ttl = SSL_SESSION_get_timeout(sess);
    struct stats *st = &env->stats[slot];
    char key[MC_KEY_MAX + 1];
    size_t klen = entry_key(s, id, idlen, key);

    if (derlen <= 0 || (size_t)derlen > ENTRY_MAX - ENTRY_HEADER_LEN || ttl <= 0) {
        stats_add(st, STAT_SESS_SET_ERROR, 1);
        return;
    }
    size_t ptlen = ENTRY_HEADER_LEN + (size_t)derlen;
    unsigned char *pt = malloc(ptlen);
    size_t cap = ptlen + seal_overhead();
    unsigned char *sealed = malloc(cap);
    struct mc_req *req = mc_req_new(MC_SET, key, klen);
    size_t slen = 0;
    if (pt == NULL || sealed == NULL || req == NULL) {
        goto fail;
    }
    pt[0] = ENTRY_VERSION;
    pt[1] = ENTRY_KIND_SESS;
    pt[2] = pt[3] = 0;
    put_u64(pt + 4, (uint64_t)created);
    put_u64(pt + 12, (uint64_t)(created + ttl));
    memcpy(pt + 20, s->instance, SESSIONS_INSTANCE_LEN);
    unsigned char *der = pt + ENTRY_HEADER_LEN;
    i2d_SSL_SESSION(sess, &der);
    if (seal_seal(s->seal, key, klen, pt, ptlen, sealed, cap, &slen) < 0) {
        goto fail;
    }
    /* The DER holds the master secret: it leaves this function sealed only. */
    OPENSSL_cleanse(pt, ptlen);
    free(pt);
    req->value = sealed;
    req->vlen = slen;
    req->ttl = (uint32_t)ttl;
    req->deadline_ms = clock_mono_ms() + SET_BUDGET_MS;
    req->fe = slot;
    submit(env, req);
    return;
fail:
    if (pt != NULL) {
        OPENSSL_cleanse(pt, ptlen);
    }
    free(pt);
    free(sealed);
    mc_req_free(req);
    stats_add(st, STAT_SESS_SET_ERROR, 1);
}

static void
delete_remote(const struct handshake_env *env, unsigned slot, const unsigned char *id, size_t idlen)
{
    struct sessions *s = sessions_of(env);
    char key[MC_KEY_MAX + 1];
    size_t klen = entry_key(s, id, idlen, key);
    struct mc_req *req = mc_req_new(MC_DELETE, key, klen);

    if (req == NULL) {
        stats_add(&env->stats[slot], STAT_SESS_DELETE_ERROR, 1);
        return;
    }
    req->deadline_ms = clock_mono_ms() + SET_BUDGET_MS;
    req->fe = slot;
    submit(env, req);
}

/* ---- memcached: open an answer ---- */

SSL_SESSION *
sessions_entry_open(const struct seal *seal, const char *key, size_t keylen,
                    const unsigned char *value, size_t vlen, int64_t now, const unsigned char *id,
                    size_t idlen, const unsigned char instance[SESSIONS_INSTANCE_LEN], bool *remote,
                    const char **why)
{
    unsigned char *pt = malloc(vlen);
    size_t ptlen = 0;
    SSL_SESSION *sess = NULL;

    *why = NULL;
    if (pt == NULL) {
        return NULL;
    }
    if (seal_open(seal, key, keylen, value, vlen, pt, vlen, &ptlen) < 0) {
        *why = "does not open (forged, corrupt, or sealed with an unknown secret)";
    } else if (ptlen < ENTRY_HEADER_LEN || pt[0] != ENTRY_VERSION || pt[1] != ENTRY_KIND_SESS) {
        *why = "has an unknown format";
    } else if (get_u64(pt + 12) <= (uint64_t)now) {
        *why = "has expired";
    } else {
        const unsigned char *der = pt + ENTRY_HEADER_LEN;
        sess = d2i_SSL_SESSION(NULL, &der, (long)(ptlen - ENTRY_HEADER_LEN));
        unsigned int sidlen = 0;
        const unsigned char *sid = sess != NULL ? SSL_SESSION_get_id(sess, &sidlen) : NULL;
        if (sess == NULL || sidlen != idlen || memcmp(sid, id, sidlen) != 0) {
            *why = "does not hold the session it is filed under";
            SSL_SESSION_free(sess);
            sess = NULL;
        } else {
            *remote = memcmp(pt + 20, instance, SESSIONS_INSTANCE_LEN) != 0;
        }
    }
    OPENSSL_cleanse(pt, vlen);
    free(pt);
    return sess;
}

/* The session in a sealed entry for `l`, or NULL (counted as rejected). */
static SSL_SESSION *
open_entry(const struct handshake_env *env, unsigned slot, struct mc_req *req, struct lookup *l)
{
    struct sessions *s = sessions_of(env);
    const char *why = NULL;
    SSL_SESSION *sess =
        sessions_entry_open(s->seal, req->key, req->keylen, req->value, req->vlen,
                            evloop_wall(env->loop), l->id, l->idlen, s->instance, &l->remote, &why);

    if (sess == NULL && why != NULL) {
        stats_add(&env->stats[slot], STAT_SESSION_ENTRIES_REJECTED, 1);
        log_debug_limited("memcached entry %s %s", req->key, why);
    }
    if (sess != NULL && l->remote && remote_index >= 0) {
        SSL_SESSION_set_ex_data(sess, remote_index, &remote_mark);
    }
    return sess;
}

/* Stop waiting for memcached: count it, forget the request (its late
 * answer is discarded).  The wait is observed like an answer, so that the
 * histogram holds every pause a handshake took for memcached. */
static void
lookup_give_up(struct lookup *l)
{
    struct stats *st = l->hs->stats;

    stats_observe_memcached(st, clock_mono_us() - l->req->submitted_us);
    stats_add(st, STAT_SESS_GET_TIMEOUT, 1);
    l->req->owner = NULL;
    l->req = NULL;
}

/* memcached.timeout_ms passed without an answer: go on with what we have
 * (a full handshake). */
static void
on_lookup_timer(struct evtimer *t)
{
    struct lookup *l = CONTAINER_OF(t, struct lookup, timer);

    CHECK_OBJ(l, LOOKUP_MAGIC);
    if (l->req != NULL) {
        lookup_give_up(l);
    }
    handshake_resume(l->hs); /* last: the connection may close and free l */
}

void
sessions_on_reply(const struct handshake_env *env, struct mc_req *req)
{
    struct stats *st = &env->stats[req->fe];
    struct lookup *l = req->owner;

    CHECK_OBJ(req, MC_REQ_MAGIC);
    if (req->op == MC_ADD) {
        /* The one ADD a worker sends: early data's single-use record. */
        earlydata_on_reply(env, req);
        return;
    }
    if (req->op != MC_GET || l != NULL) {
        /* A GET whose handshake gave up waiting was counted as a timeout then. */
        count_result(st, req->op, req->result);
        stats_observe_memcached(st, req->latency_us);
    }
    if (req->op == MC_GET && l != NULL) {
        CHECK_OBJ(l, LOOKUP_MAGIC);
        CHECK(l->req == req);
        l->req = NULL;
        evtimer_disarm(env->loop, &l->timer);
        if (req->result == MC_RES_HIT) {
            l->found = open_entry(env, req->fe, req, l);
            if (l->found != NULL) {
                if (l->tls13) {
                    delete_remote(env, req->fe, l->id, l->idlen);
                } else {
                    /* First level from now on, on this instance. */
                    sessions_local_put(sessions_of(env)->local, l->found);
                }
            }
        }
        mc_req_free(req);
        handshake_resume(l->hs); /* last: the connection may close and free l */
        return;
    }
    mc_req_free(req);
}

/* ---- OpenSSL callbacks ---- */

/* Does the ClientHello offer TLS 1.3 (supported_versions lists 0x0304)? */
static bool
offers_tls13(SSL *ssl)
{
    const unsigned char *p;
    size_t len;

    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &p, &len) || len < 1) {
        return false;
    }
    size_t n = p[0];
    if (n + 1 > len) {
        return false;
    }
    for (size_t i = 1; i + 1 < n + 1; i += 2) {
        if (p[i] == 0x03 && p[i + 1] == 0x04) {
            return true;
        }
    }
    return false;
}

/* The first PSK identity of a TLS 1.3 ClientHello if it can be a stateful
 * ticket (a session ID of at most 32 bytes; stateless tickets are longer). */
static bool
psk_identity(SSL *ssl, const unsigned char **id, size_t *idlen)
{
    const unsigned char *p;
    size_t len;

    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &p, &len) || len < 4) {
        return false;
    }
    size_t ids = ((size_t)p[0] << 8) | p[1];
    size_t first = ((size_t)p[2] << 8) | p[3];
    if (ids + 2 > len || first + 4 > ids + 2 || first == 0 ||
        first > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return false;
    }
    *id = p + 4;
    *idlen = first;
    return true;
}

size_t
sessions_hello_lookup_id(SSL *ssl, bool tickets, bool *tls13, const unsigned char **id)
{
    size_t idlen = 0;

    *id = NULL;
    *tls13 = offers_tls13(ssl);
    if (*tls13) {
        /* With tickets on, a TLS 1.3 PSK is a stateless ticket (the keyring's
         * business); the legacy session ID is random and never looked up. */
        if (tickets || !psk_identity(ssl, id, &idlen)) {
            return 0;
        }
    } else {
        const unsigned char *t;
        size_t tlen;
        if (tickets && SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_session_ticket, &t, &tlen) &&
            tlen > 0) {
            return 0; /* the ticket wins; the ID is not looked up */
        }
        idlen = SSL_client_hello_get0_session_id(ssl, id);
    }
    return idlen <= SSL_MAX_SSL_SESSION_ID_LENGTH ? idlen : 0;
}

/* The lookup hung on `ssl`, or NULL before the first one. */
static struct lookup *
lookup_of(const SSL *ssl)
{
    struct lookup *l = SSL_get_ex_data(ssl, lookup_index);

    if (l != NULL) {
        CHECK_OBJ(l, LOOKUP_MAGIC);
    }
    return l;
}

static int
on_client_hello(SSL *ssl, int *alert, void *arg)
{
    struct handshake *hs = handshake_of(ssl);
    const struct handshake_env *env = hs->env;
    struct sessions *s = sessions_of(env);
    struct lookup *l = lookup_of(ssl);
    const unsigned char *id = NULL;
    bool tls13 = false;
    size_t idlen = 0;

    (void)alert;
    (void)arg;
    /* Early data's single-use record first (it may park): the session
     * lookup below waits for its verdict. */
    if (earlydata_on_hello(ssl, s->cfg, s->mc) == SSL_CLIENT_HELLO_RETRY) {
        return SSL_CLIENT_HELLO_RETRY;
    }
    if (l != NULL) {
        /* Called again: after the wait, or for the ClientHello that follows
         * a HelloRetryRequest.  One lookup per handshake. */
        return l->req != NULL ? SSL_CLIENT_HELLO_RETRY : SSL_CLIENT_HELLO_SUCCESS;
    }
    if (s->mc == NULL) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    idlen = sessions_hello_lookup_id(ssl, s->cfg->sessions.tickets, &tls13, &id);
    if (idlen == 0) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL || SSL_set_ex_data(ssl, lookup_index, l) != 1) {
        free(l);
        stats_add(hs->stats, STAT_SESS_GET_ERROR, 1);
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    l->magic = LOOKUP_MAGIC;
    l->hs = hs;
    l->timer.on_timer = on_lookup_timer;
    l->tls13 = tls13;
    memcpy(l->id, id, idlen);
    l->idlen = idlen;
    if (!tls13) {
        l->found = sessions_local_get(s->local, id, idlen, (time_t)evloop_wall(env->loop), 0);
        if (l->found != NULL) {
            l->remote = remote_index >= 0 &&
                        SSL_SESSION_get_ex_data(l->found, remote_index) == &remote_mark;
            stats_add(hs->stats, STAT_SESS_GET_HIT, 1);
            return SSL_CLIENT_HELLO_SUCCESS;
        }
    }
    char key[MC_KEY_MAX + 1];
    size_t klen = entry_key(s, id, idlen, key);
    struct mc_req *req = mc_req_new(MC_GET, key, klen);
    if (req == NULL) {
        stats_add(hs->stats, STAT_SESS_GET_ERROR, 1);
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    uint64_t timeout = s->cfg->memcached.timeout_ms;
    req->deadline_ms = clock_mono_ms() + timeout;
    req->owner = l;
    req->fe = hs->slot;
    if (submit(env, req) < 0) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    l->req = req;
    evtimer_arm(env->loop, &l->timer, evloop_now(env->loop) + timeout);
    handshake_park(hs);
    return SSL_CLIENT_HELLO_RETRY;
}

static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct handshake *hs = handshake_of(ssl);
    struct sessions *s = sessions_of(hs->env);
    bool tls13 = SSL_version(ssl) == TLS1_3_VERSION;

    /* With tickets on, TLS 1.3 sessions travel in stateless tickets and need
     * no server state; OpenSSL still calls us for each of them. */
    if (tls13 && !(SSL_get_options(ssl) & SSL_OP_NO_TICKET)) {
        return 0;
    }
    if (s->mc == NULL) {
        if (sessions_local_put(s->local, sess) == 0) {
            stats_add(hs->stats, STAT_SESS_SET_STORED, 1);
        }
        return 0;
    }
    if (!tls13) {
        sessions_local_put(s->local, sess);
    }
    store_remote(hs->env, hs->slot, sess);
    return 0; /* we took our own references */
}

static SSL_SESSION *
on_get_session(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    struct handshake *hs = handshake_of(ssl);
    const struct handshake_env *env = hs->env;
    struct sessions *s = sessions_of(env);

    *copy = 0; /* the reference we return is OpenSSL's */
    if (s->mc != NULL) {
        /* The client-hello callback looked everything up already.  After a
         * HelloRetryRequest OpenSSL asks again: hand out another reference. */
        struct lookup *l = lookup_of(ssl);
        if (l != NULL && l->found != NULL && (size_t)len == l->idlen &&
            memcmp(id, l->id, l->idlen) == 0) {
            SSL_SESSION_up_ref(l->found);
            hs->from_cache = 1;
            hs->cache_remote = l->remote;
            return l->found;
        }
        return NULL;
    }
    /* A TLS 1.3 stateful ticket is good for one resumption (RFC 8446 8.1). */
    int take = SSL_version(ssl) == TLS1_3_VERSION;
    SSL_SESSION *sess =
        sessions_local_get(s->local, id, (size_t)len, (time_t)evloop_wall(env->loop), take);
    if (sess == NULL) {
        stats_add(hs->stats, STAT_SESS_GET_MISS, 1);
        return NULL;
    }
    stats_add(hs->stats, STAT_SESS_GET_HIT, 1);
    if (take) {
        stats_add(hs->stats, STAT_SESS_DELETE_HIT, 1);
    }
    hs->from_cache = 1;
    return sess;
}

void
sessions_setup_ctx(SSL_CTX *ctx, const struct config *cfg)
{
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    SSL_CTX_sess_set_get_cb(ctx, on_get_session);
    if (cfg->sessions.store == CONFIG_STORE_MEMCACHED) {
        SSL_CTX_set_client_hello_cb(ctx, on_client_hello, NULL);
    }
}
