/*
 * mc.c - memcached helper threads, the server map and the health model.
 *
 * Threads: mc_new/mc_free on the main thread; MC_HELPERS_PER_QUEUE helper
 * threads per queue, each with its own memcached_st (a memcached_st is not
 * thread-safe), used only for what the loops' own connections (mcconn.c)
 * cannot do (the binary protocol, UDP, replicas, a server name that did not
 * resolve at start-up).  Measured on this platform (shared/notes):
 * libmemcached has no non-blocking call and a hung server costs the full
 * poll timeout on every call, so (1) poll and connect timeouts are set to
 * memcached.timeout_ms, (2) a request already past its deadline is not
 * sent, (3) a server the health model holds down is skipped.  Results go
 * back through the submitter's mailbox.  The health model (below) is fed by
 * every path and by the prober (mcprobe.c on the main loop; a thread here
 * only for names that did not resolve at start-up).
 */
#include "mc.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmemcached/memcached.h>

#include "check.h"
#include "clock.h"
#include "log.h"

#define MC_QUEUE_CAP         1024
#define MC_HELPERS_PER_QUEUE 2
#define MC_HEALTH_FAILURES   3 /* failures in a row that mark a server down */
#define MC_PROBE_EVERY_MS    1000
#define MC_REROUTE_TRIES     8
#define MC_ADDRS_MAX         4

struct mc_server {
    char *name; /* "host:port" as configured */
    char *host;
    unsigned port;
    struct sockaddr_storage addrs[MC_ADDRS_MAX]; /* resolved once, for mcconn.c */
    socklen_t addrlens[MC_ADDRS_MAX];
    size_t naddrs;
    memcached_st *probe; /* the prober thread's handle (unresolved names only) */
    _Atomic bool up;
    _Atomic unsigned failures; /* consecutive failed operations and probes */
};

struct mc_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct mc_req *head, *tail; /* chained through msg.next */
    size_t len;
};

struct mc_helper {
    struct mc *mc;
    struct mc_queue *q;
    memcached_st *memc;
    pthread_t thread;
    bool started;
};

struct mc_router {
    struct mc *mc;
    memcached_st *memc; /* a clone used only for hashing: never connects */
};

struct mc {
    char *probe_key;
    unsigned timeout_ms;
    size_t nservers;
    struct mc_server *servers;
    size_t nqueues;
    struct mc_queue *queues;
    size_t nhelpers;
    struct mc_helper *helpers;
    memcached_st *proto;
    pthread_t prober;
    bool prober_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    _Atomic bool stopping;
};

struct mc_req *
mc_req_new(enum mc_op op, const char *key, size_t keylen)
{
    struct mc_req *req;

    if (keylen == 0 || keylen > MC_KEY_MAX) {
        return NULL;
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        return NULL;
    }
    req->magic = MC_REQ_MAGIC;
    req->op = op;
    memcpy(req->key, key, keylen);
    req->key[keylen] = '\0';
    req->keylen = keylen;
    return req;
}

void
mc_req_free(struct mc_req *req)
{
    if (req == NULL) {
        return;
    }
    CHECK_OBJ(req, MC_REQ_MAGIC);
    free(req->value);
    req->magic = 0;
    free(req);
}

/* The libmemcached configuration string for `servers` plus our timeouts. */
static char *
mc_config_string(const struct config *cfg, const char *const *servers, size_t n)
{
    char *s = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&s, &len);

    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "--SERVER=%s ", servers[i]);
    }
    /* libmemcached's parser rejects a trailing space. */
    fprintf(out, "--POLL-TIMEOUT=%u --CONNECT-TIMEOUT=%u --RETRY-TIMEOUT=1 --TCP-NODELAY%s%s",
            cfg->memcached.timeout_ms, cfg->memcached.timeout_ms,
            cfg->memcached.options[0] ? " " : "", cfg->memcached.options);
    if (fclose(out) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static memcached_st *
mc_handle_new(const struct config *cfg, const char *const *servers, size_t n, struct err *err)
{
    char *conf = mc_config_string(cfg, servers, n);
    char why[256] = "";
    memcached_st *m = NULL;

    if (conf == NULL) {
        err_set(err, "memcached: out of memory");
        return NULL;
    }
    if (libmemcached_check_configuration(conf, strlen(conf), why, sizeof(why)) !=
        MEMCACHED_SUCCESS) {
        err_set(err, "%s: memcached configuration rejected: %s", cfg->path, why);
        free(conf);
        return NULL;
    }
    m = memcached(conf, strlen(conf));
    free(conf);
    if (m == NULL) {
        err_set(err, "%s: memcached: cannot create a client", cfg->path);
        return NULL;
    }
    /* Ketama: every instance maps a key to the same server, and a server
     * that leaves moves only its own keys. */
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_DISTRIBUTION,
                           MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
    return m;
}

/* Which configured server `key` maps to, or -1. */
static int
mc_server_of(struct mc *mc, memcached_st *memc, const char *key, size_t keylen)
{
    memcached_return_t rc;
    const memcached_instance_st *inst = memcached_server_by_key(memc, key, keylen, &rc);

    if (inst == NULL) {
        return -1;
    }
    const char *host = memcached_server_name(inst);
    in_port_t port = memcached_server_port(inst);
    for (size_t i = 0; i < mc->nservers; i++) {
        if (mc->servers[i].port == port && strcmp(mc->servers[i].host, host) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * The health model, one per server (doc/architecture.md):
 *
 *   up ──(MC_HEALTH_FAILURES failures in a row: timeouts, failed probes)──▶ down
 *   up ──(a refused connection: a hard failure)──────────────────────────▶ down
 *   down ──(any answer: a probe, once a second, or a late operation)─────▶ up
 *
 * A down server is skipped (its operations are dropped at once).  An
 * operation that failed on a stale connection is retried on a fresh one by
 * its path before it is reported here, so one stale connection never counts.
 * Any thread may report; the transitions are logged once each.
 */
void
mc_health_success(struct mc *mc, size_t i)
{
    struct mc_server *s = &mc->servers[i];

    /* Loads first: every worker's every answer passes here, and stores
     * would bounce the line between their cores. */
    if (atomic_load(&s->failures) != 0) {
        atomic_store(&s->failures, 0);
    }
    if (!atomic_load(&s->up) && !atomic_exchange(&s->up, true)) {
        log_info_limited("memcached %s is up", s->name);
    }
}

void
mc_health_failure(struct mc *mc, size_t i, bool hard, const char *why)
{
    struct mc_server *s = &mc->servers[i];
    unsigned n = atomic_fetch_add(&s->failures, 1) + 1;

    if ((hard || n >= MC_HEALTH_FAILURES) && atomic_exchange(&s->up, false)) {
        log_warn_limited("memcached %s is down: %s%s", s->name, why,
                         hard ? "" : " (the third failure in a row)");
    }
}

static void
mc_note_result(struct mc *mc, int si, memcached_return_t rc)
{
    if (si < 0) {
        return;
    }
    switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_NOTFOUND:
    case MEMCACHED_NOTSTORED:
    case MEMCACHED_DATA_EXISTS:
    case MEMCACHED_END:
        mc_health_success(mc, (size_t)si);
        break;
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE:
    case MEMCACHED_HOST_LOOKUP_FAILURE:
        mc_health_failure(mc, (size_t)si, true, memcached_strerror(NULL, rc));
        break;
    case MEMCACHED_TIMEOUT:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_ERRNO:
        mc_health_failure(mc, (size_t)si, false, memcached_strerror(NULL, rc));
        break;
    default:
        /* SERVER_TEMPORARILY_DISABLED, MARKED_DEAD: libmemcached's own
         * back-off, not an observation; anything else is an answer about
         * the item, so the server is there. */
        break;
    }
}

/* A get that also returns the CAS unique (libmemcached has no gets call:
 * mget + fetch_result). */
static memcached_return_t
mc_gets(memcached_st *memc, const char *group, size_t glen, struct mc_req *req)
{
    const char *keys[1] = {req->key};
    size_t lens[1] = {req->keylen};
    memcached_return_t rc = memcached_mget_by_key(memc, group, glen, keys, lens, 1);
    memcached_return_t frc = MEMCACHED_NOTFOUND;
    memcached_result_st *res;

    if (rc != MEMCACHED_SUCCESS) {
        return rc;
    }
    /* Read to the end so the connection is left clean. */
    while ((res = memcached_fetch_result(memc, NULL, &rc)) != NULL) {
        if (frc != MEMCACHED_SUCCESS && memcached_result_length(res) > 0) {
            size_t n = memcached_result_length(res);
            req->value = malloc(n);
            if (req->value != NULL) {
                memcpy(req->value, memcached_result_value(res), n);
                req->vlen = n;
                req->cas = memcached_result_cas(res);
                frc = MEMCACHED_SUCCESS;
            }
        }
        memcached_result_free(res);
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
        free(req->value);
        req->value = NULL;
        req->vlen = 0;
        return rc;
    }
    return frc;
}

/* Is server `si` to be skipped now (down in the health model)? */
static bool
mc_skipped(struct mc *mc, int si)
{
    return !atomic_load(&mc->servers[si].up);
}

/*
 * The server for an operation on `key` placed by `group` (or by `key` when
 * `group` is empty), or MC_ROUTE_SKIPPED / MC_ROUTE_UNKNOWN.  Breaker: a
 * server that keeps timing out, or that the last operation or probe found
 * unreachable, is skipped until the prober sees it answer (at most
 * MC_PROBE_EVERY_MS later), so a dead or hung server costs handshakes
 * nothing.  A request without its own placement (a session) moves meanwhile
 * to the first of "key#1", "key#2"... that maps to a server still up: every
 * instance that sees the same server down picks the same one, so sessions
 * keep being shared.  *group and *glen are updated to the placement used.
 */
static int
mc_route_memc(struct mc *mc, memcached_st *memc, const char *key, size_t keylen, const char **group,
              size_t *glen, char *alt)
{
    bool placed = *glen > 0;
    int si;

    if (!placed) {
        *group = key;
        *glen = keylen;
    }
    si = mc_server_of(mc, memc, *group, *glen);
    if (si < 0) {
        return MC_ROUTE_UNKNOWN;
    }
    if (!mc_skipped(mc, si)) {
        return si;
    }
    for (unsigned i = 1; !placed && i <= MC_REROUTE_TRIES && mc->nservers > 1; i++) {
        int n = snprintf(alt, MC_KEY_MAX + 1, "%.*s#%u", (int)keylen, key, i);
        if (n <= 0 || (size_t)n > MC_KEY_MAX) {
            break;
        }
        int sj = mc_server_of(mc, memc, alt, (size_t)n);
        if (sj >= 0 && !mc_skipped(mc, sj)) {
            *group = alt;
            *glen = (size_t)n;
            return sj;
        }
    }
    return MC_ROUTE_SKIPPED;
}

static void
mc_run(struct mc_helper *h, struct mc_req *req)
{
    struct mc *mc = h->mc;
    memcached_return_t rc = MEMCACHED_FAILURE;
    uint32_t flags = 0;
    char alt[MC_KEY_MAX + 1];
    const char *group = req->group;
    size_t glen = req->grouplen;
    int si;

    if (atomic_load(&mc->stopping) || clock_mono_ms() >= req->deadline_ms) {
        req->result = MC_RES_DROPPED;
        return;
    }
    si = mc_route_memc(mc, h->memc, req->key, req->keylen, &group, &glen, alt);
    if (si == MC_ROUTE_SKIPPED) {
        req->result = MC_RES_DROPPED;
        return;
    }
    switch (req->op) {
    case MC_GET: {
        size_t vlen = 0;
        char *v =
            memcached_get_by_key(h->memc, group, glen, req->key, req->keylen, &vlen, &flags, &rc);
        if (v != NULL && rc == MEMCACHED_SUCCESS) {
            req->value = (unsigned char *)v;
            req->vlen = vlen;
        } else {
            free(v);
        }
        break;
    }
    case MC_GETS:
        rc = mc_gets(h->memc, group, glen, req);
        break;
    case MC_SET:
        rc = memcached_set_by_key(h->memc, group, glen, req->key, req->keylen,
                                  (const char *)req->value, req->vlen, (time_t)req->ttl, 0);
        break;
    case MC_ADD:
        rc = memcached_add_by_key(h->memc, group, glen, req->key, req->keylen,
                                  (const char *)req->value, req->vlen, (time_t)req->ttl, 0);
        break;
    case MC_CAS:
        rc = memcached_cas_by_key(h->memc, group, glen, req->key, req->keylen,
                                  (const char *)req->value, req->vlen, (time_t)req->ttl, 0,
                                  req->cas);
        break;
    case MC_DELETE:
        rc = memcached_delete_by_key(h->memc, group, glen, req->key, req->keylen, 0);
        break;
    }
    mc_note_result(mc, si, rc);
    switch (rc) {
    case MEMCACHED_SUCCESS:
        req->result = (req->op == MC_GET || req->op == MC_GETS || req->op == MC_DELETE)
                          ? MC_RES_HIT
                          : MC_RES_STORED;
        break;
    case MEMCACHED_NOTFOUND:
        req->result = MC_RES_MISS;
        break;
    case MEMCACHED_NOTSTORED:
    case MEMCACHED_DATA_EXISTS:
        req->result = MC_RES_EXISTS;
        break;
    case MEMCACHED_TIMEOUT:
        req->result = MC_RES_TIMEOUT;
        break;
    default:
        req->result = MC_RES_ERROR;
        break;
    }
}

static void *
mc_helper_main(void *arg)
{
    struct mc_helper *h = arg;
    struct mc_queue *q = h->q;

    pthread_setname_np(pthread_self(), "memcached");
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (q->head == NULL && !atomic_load(&h->mc->stopping)) {
            pthread_cond_wait(&q->cond, &q->lock);
        }
        struct mc_req *req = q->head;
        if (req == NULL) {
            pthread_mutex_unlock(&q->lock);
            return NULL; /* stopping and drained */
        }
        q->head = (struct mc_req *)req->msg.next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->len--;
        pthread_mutex_unlock(&q->lock);

        mc_run(h, req);
        req->latency_us = clock_mono_us() - req->submitted_us;
        if (req->reply_to != NULL) {
            mailbox_post(req->reply_to, &req->msg);
        } else {
            mc_req_free(req);
        }
    }
}

/* The servers whose name did not resolve at start-up (mcprobe.c probes
 * the others from the main loop): libmemcached resolves names itself. */
static void
mc_probe_all(struct mc *mc)
{
    for (size_t i = 0; i < mc->nservers && !atomic_load(&mc->stopping); i++) {
        struct mc_server *s = &mc->servers[i];
        memcached_return_t rc;
        size_t vlen;
        uint32_t flags;

        if (s->naddrs > 0) {
            continue;
        }
        char *v = memcached_get(s->probe, mc->probe_key, strlen(mc->probe_key), &vlen, &flags, &rc);
        free(v);
        if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND) {
            mc_health_success(mc, i);
        } else {
            mc_health_failure(mc, i, false, memcached_strerror(s->probe, rc));
        }
    }
}

static void *
mc_prober_main(void *arg)
{
    struct mc *mc = arg;

    pthread_setname_np(pthread_self(), "memcached-probe");
    for (;;) {
        mc_probe_all(mc);
        struct timespec ts = clock_timespec((int64_t)(clock_mono_ms() + MC_PROBE_EVERY_MS));
        pthread_mutex_lock(&mc->stop_lock);
        if (!atomic_load(&mc->stopping)) {
            pthread_cond_timedwait(&mc->stop_cond, &mc->stop_lock, &ts);
        }
        pthread_mutex_unlock(&mc->stop_lock);
        if (atomic_load(&mc->stopping)) {
            return NULL;
        }
    }
}

static int
mc_parse_server(struct mc_server *s, const char *text)
{
    const char *colon = strrchr(text, ':');

    if (colon == NULL || colon == text) {
        return -1;
    }
    s->name = strdup(text);
    s->host = strndup(text, (size_t)(colon - text));
    s->port = (unsigned)strtoul(colon + 1, NULL, 10);
    if (s->name == NULL || s->host == NULL) {
        return -1;
    }
    /* For mcconn.c's own connections.  A name that does not resolve now
     * leaves the server to the helpers (libmemcached resolves lazily). */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%u", s->port);
    if (getaddrinfo(s->host, port, &hints, &res) == 0) {
        for (struct addrinfo *ai = res; ai != NULL && s->naddrs < MC_ADDRS_MAX; ai = ai->ai_next) {
            if (ai->ai_addrlen <= sizeof(s->addrs[0])) {
                memcpy(&s->addrs[s->naddrs], ai->ai_addr, ai->ai_addrlen);
                s->addrlens[s->naddrs++] = ai->ai_addrlen;
            }
        }
        freeaddrinfo(res);
    }
    return 0;
}

struct mc *
mc_new(const struct config *cfg, size_t nqueues, struct err *err)
{
    struct mc *mc = calloc(1, sizeof(*mc));
    const char *const *servers = (const char *const *)cfg->memcached.servers;

    if (mc == NULL) {
        err_set(err, "memcached: out of memory");
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    /* The prober's sleep must not stretch when the wall clock steps back. */
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&mc->stop_lock, NULL);
    pthread_cond_init(&mc->stop_cond, &ca);
    pthread_condattr_destroy(&ca);
    mc->timeout_ms = cfg->memcached.timeout_ms;
    mc->nservers = cfg->memcached.nservers;
    mc->servers = calloc(mc->nservers, sizeof(*mc->servers));
    mc->nqueues = nqueues;
    mc->queues = calloc(nqueues, sizeof(*mc->queues));
    mc->nhelpers = nqueues * MC_HELPERS_PER_QUEUE;
    mc->helpers = calloc(mc->nhelpers, sizeof(*mc->helpers));
    if (asprintf(&mc->probe_key, "%sprobe", cfg->memcached.prefix) < 0) {
        mc->probe_key = NULL;
    }
    if (mc->servers == NULL || mc->queues == NULL || mc->helpers == NULL || mc->probe_key == NULL) {
        err_set(err, "memcached: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < mc->nservers; i++) {
        struct mc_server *s = &mc->servers[i];
        if (mc_parse_server(s, servers[i]) < 0) {
            err_set(err, "%s: memcached server '%s' is not HOST:PORT", cfg->path, servers[i]);
            goto fail;
        }
        /* Presumed up until the first probe (right away) says otherwise. */
        atomic_init(&s->up, true);
        s->probe = mc_handle_new(cfg, &servers[i], 1, err);
        if (s->probe == NULL) {
            goto fail;
        }
    }
    mc->proto = mc_handle_new(cfg, servers, mc->nservers, err);
    if (mc->proto == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < nqueues; i++) {
        pthread_mutex_init(&mc->queues[i].lock, NULL);
        pthread_cond_init(&mc->queues[i].cond, NULL);
    }
    for (size_t i = 0; i < mc->nhelpers; i++) {
        struct mc_helper *h = &mc->helpers[i];
        h->mc = mc;
        h->q = &mc->queues[i / MC_HELPERS_PER_QUEUE];
        h->memc = memcached_clone(NULL, mc->proto);
        if (h->memc == NULL || pthread_create(&h->thread, NULL, mc_helper_main, h) != 0) {
            err_set(err, "memcached: cannot start a helper thread");
            goto fail;
        }
        h->started = true;
    }
    bool unresolved = false;
    for (size_t i = 0; i < mc->nservers; i++) {
        unresolved = unresolved || mc->servers[i].naddrs == 0;
    }
    if (unresolved) {
        if (pthread_create(&mc->prober, NULL, mc_prober_main, mc) != 0) {
            err_set(err, "memcached: cannot start the prober thread");
            goto fail;
        }
        mc->prober_started = true;
    }
    return mc;
fail:
    mc_free(mc);
    return NULL;
}

int
mc_submit(struct mc *mc, size_t qi, struct mc_req *req)
{
    struct mc_queue *q;

    CHECK_OBJ(req, MC_REQ_MAGIC);
    CHECK(qi < mc->nqueues);
    q = &mc->queues[qi];
    req->submitted_us = clock_mono_us();
    req->msg.next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->len >= MC_QUEUE_CAP || atomic_load(&mc->stopping)) {
        pthread_mutex_unlock(&q->lock);
        return -EAGAIN;
    }
    if (q->tail != NULL) {
        q->tail->msg.next = &req->msg;
    } else {
        q->head = req;
    }
    q->tail = req;
    q->len++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

struct mc_router *
mc_router_new(struct mc *mc)
{
    struct mc_router *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    r->mc = mc;
    r->memc = memcached_clone(NULL, mc->proto);
    if (r->memc == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

void
mc_router_free(struct mc_router *r)
{
    if (r != NULL) {
        memcached_free(r->memc);
        free(r);
    }
}

int
mc_route_placed(struct mc_router *r, const char *key, size_t keylen, const char *group,
                size_t grouplen)
{
    char alt[MC_KEY_MAX + 1];

    return mc_route_memc(r->mc, r->memc, key, keylen, &group, &grouplen, alt);
}

int
mc_route(struct mc_router *r, const char *key, size_t keylen)
{
    return mc_route_placed(r, key, keylen, NULL, 0);
}

const struct sockaddr *
mc_server_addr(const struct mc *mc, size_t i, size_t which, socklen_t *len)
{
    const struct mc_server *s = &mc->servers[i];

    if (which >= s->naddrs) {
        return NULL;
    }
    *len = s->addrlens[which];
    return (const struct sockaddr *)&s->addrs[which];
}

const char *
mc_workers_excluded(const struct mc *mc)
{
    /* libmemcached features a worker's text-protocol connection to one
     * server does not reproduce. */
    if (memcached_behavior_get(mc->proto, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL)) {
        return "--BINARY-PROTOCOL";
    }
    if (memcached_behavior_get(mc->proto, MEMCACHED_BEHAVIOR_USE_UDP)) {
        return "--USE-UDP";
    }
    if (memcached_behavior_get(mc->proto, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS) > 0) {
        return "--NUMBER-OF-REPLICAS";
    }
    return NULL;
}

unsigned
mc_timeout_ms(const struct mc *mc)
{
    return mc->timeout_ms;
}

int
mc_server_index(struct mc *mc, const char *key)
{
    return mc_server_of(mc, mc->proto, key, strlen(key));
}

void
mc_fallback_group(struct mc *mc, const char *group, char *out)
{
    int primary = mc_server_of(mc, mc->proto, group, strlen(group));

    out[0] = '\0';
    for (unsigned i = 1; i < 1000 && mc->nservers > 1; i++) {
        char cand[MC_KEY_MAX + 1];
        int n = snprintf(cand, sizeof(cand), "%s#%u", group, i);
        if (n > 0 && (size_t)n <= MC_KEY_MAX &&
            mc_server_of(mc, mc->proto, cand, (size_t)n) != primary) {
            memcpy(out, cand, (size_t)n + 1);
            return;
        }
    }
}

size_t
mc_nservers(const struct mc *mc)
{
    return mc->nservers;
}

const char *
mc_server_name(const struct mc *mc, size_t i)
{
    return mc->servers[i].name;
}

bool
mc_server_up(const struct mc *mc, size_t i)
{
    return atomic_load(&mc->servers[i].up);
}

size_t
mc_queue_depth(struct mc *mc, size_t qi)
{
    size_t n;

    pthread_mutex_lock(&mc->queues[qi].lock);
    n = mc->queues[qi].len;
    pthread_mutex_unlock(&mc->queues[qi].lock);
    return n;
}

void
mc_free(struct mc *mc)
{
    if (mc == NULL) {
        return;
    }
    pthread_mutex_lock(&mc->stop_lock);
    atomic_store(&mc->stopping, true);
    pthread_cond_broadcast(&mc->stop_cond);
    pthread_mutex_unlock(&mc->stop_lock);
    for (size_t i = 0; mc->queues != NULL && i < mc->nqueues; i++) {
        pthread_mutex_lock(&mc->queues[i].lock);
        pthread_cond_broadcast(&mc->queues[i].cond);
        pthread_mutex_unlock(&mc->queues[i].lock);
    }
    for (size_t i = 0; mc->helpers != NULL && i < mc->nhelpers; i++) {
        if (mc->helpers[i].started) {
            pthread_join(mc->helpers[i].thread, NULL);
        }
        if (mc->helpers[i].memc != NULL) {
            memcached_free(mc->helpers[i].memc);
        }
    }
    if (mc->prober_started) {
        pthread_join(mc->prober, NULL);
    }
    for (size_t i = 0; mc->queues != NULL && i < mc->nqueues; i++) {
        pthread_mutex_destroy(&mc->queues[i].lock);
        pthread_cond_destroy(&mc->queues[i].cond);
    }
    for (size_t i = 0; mc->servers != NULL && i < mc->nservers; i++) {
        if (mc->servers[i].probe != NULL) {
            memcached_free(mc->servers[i].probe);
        }
        free(mc->servers[i].name);
        free(mc->servers[i].host);
    }
    if (mc->proto != NULL) {
        memcached_free(mc->proto);
    }
    pthread_mutex_destroy(&mc->stop_lock);
    pthread_cond_destroy(&mc->stop_cond);
    free(mc->probe_key);
    free(mc->servers);
    free(mc->queues);
    free(mc->helpers);
    free(mc);
}
