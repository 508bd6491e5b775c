/*
 * mc.h - the memcached client's shared parts: the server list and map
 * (libmemcached's ketama, which every instance must agree on), the health
 * model of each server that every path feeds and obeys, and the helper
 * threads that run libmemcached for what the loops' own connections
 * (mcconn.h) do not do.
 *
 * mc_new/mc_free run on the main thread.  mc_submit may be called from any
 * thread and never blocks: each queue (one per worker, plus one for the main
 * thread) is bounded and served by its own helper threads, so two workers
 * never share a lock.  A request is owned by mc from a successful submit
 * until it is posted back to its mailbox (or freed, without one).
 * Every operation is bounded by memcached.timeout_ms (libmemcached's poll and
 * connect timeouts) and skipped once past its own deadline; a server the
 * health model holds down is skipped until it answers a probe again.
 */
#ifndef TESSERA_MC_H
#define TESSERA_MC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "mailbox.h"

#define MC_KEY_MAX 250 /* memcached's limit */

enum mc_op {
    MC_GET = 0,
    MC_SET,
    MC_ADD,
    MC_DELETE,
    MC_GETS, /* get with the CAS unique (req->cas) */
    MC_CAS,  /* store if req->cas still matches; else MC_RES_EXISTS */
};

enum mc_result {
    MC_RES_HIT = 0, /* get: found; delete: deleted */
    MC_RES_MISS,    /* get/delete: not found */
    MC_RES_STORED,  /* set/add: stored */
    MC_RES_EXISTS,  /* add: the key exists */
    MC_RES_ERROR,   /* the server failed or is unreachable */
    MC_RES_TIMEOUT, /* no answer within timeout_ms */
    MC_RES_DROPPED, /* not attempted: past its deadline, or the server's breaker is open */
    MC_RES__COUNT,
};

struct mc_req {
    struct mailbox_msg msg; /* first: posted back through the owner's mailbox */
    unsigned magic;
#define MC_REQ_MAGIC 0x4d435251u
    enum mc_op op;
    enum mc_result result;
    char key[MC_KEY_MAX + 1];
    size_t keylen;
    /* Optional placement key (libmemcached's *_by_key): the server is chosen
     * by `group` instead of `key`.  Empty: by `key`. */
    char group[MC_KEY_MAX + 1];
    size_t grouplen;
    uint64_t cas;
    unsigned char *value; /* set/add: the caller's malloc'd bytes; get: malloc'd answer */
    size_t vlen;
    uint32_t ttl;             /* seconds */
    uint64_t deadline_ms;     /* CLOCK_MONOTONIC ms; skipped when past */
    uint64_t submitted_us;    /* CLOCK_MONOTONIC us, set by mc_submit */
    uint64_t latency_us;      /* submit to completion */
    struct mailbox *reply_to; /* NULL: fire and forget (freed by mc) */
    bool retried;             /* mcconn.c: sent again once after a stale connection */
    /* The submitter's own fields, untouched by mc. */
    void *owner;
    unsigned fe; /* sessions.c: the frontend's counter slot (gen.h) */
};

struct mc;

/* Build the client for cfg->memcached with `nqueues` queues.  Returns NULL
 * with err set (a bad options string, out of memory, no thread). */
struct mc *mc_new(const struct config *cfg, size_t nqueues, struct err *err);
/* Stop the helpers (requests still queued are freed or posted back as
 * DROPPED) and free everything. */
void mc_free(struct mc *mc);

/* A new zeroed request for `op` on `key` (prefix added by the caller).  NULL
 * if the key is too long or memory is short. */
struct mc_req *mc_req_new(enum mc_op op, const char *key, size_t keylen);
void mc_req_free(struct mc_req *req);

/* Queue `req` on queue `q`.  0, or -EAGAIN when the queue is full (the
 * caller keeps the request and counts a drop). */
int mc_submit(struct mc *mc, size_t q, struct mc_req *req);

/* Main thread: a placement key that maps to another server than `group`
 * does (the same on every instance: ketama over the same server list), or
 * an empty string with a single server.  Writes at most MC_KEY_MAX + 1. */
void mc_fallback_group(struct mc *mc, const char *group, char *out);

/*
 * A thread's own copy of the server map (libmemcached's ketama), for
 * mcconn.c's lookups on a worker's loop.  mc_route gives the server a
 * session key is on now: its own, or while that one is skipped (breaker
 * open, unreachable) the reroute every instance agrees on; else
 * MC_ROUTE_SKIPPED, or MC_ROUTE_UNKNOWN when the map names no configured
 * server.  Pure computation: never blocks, never connects.
 */
#define MC_ROUTE_UNKNOWN (-1)
#define MC_ROUTE_SKIPPED (-2)
struct mc_router;
struct mc_router *mc_router_new(struct mc *mc);
void mc_router_free(struct mc_router *r);
int mc_route(struct mc_router *r, const char *key, size_t keylen);
/* The same for a request placed by `group` (grouplen > 0; 0: by `key`): the
 * group's server, or MC_ROUTE_SKIPPED while it is skipped (no reroute: the
 * placement is the caller's, see keyring_cluster.c). */
int mc_route_placed(struct mc_router *r, const char *key, size_t keylen, const char *group,
                    size_t grouplen);

/* Address `which` (0, 1...) server i resolved to at start-up, or NULL. */
const struct sockaddr *mc_server_addr(const struct mc *mc, size_t i, size_t which, socklen_t *len);
unsigned mc_timeout_ms(const struct mc *mc);
/* The memcached.options setting that rules out workers' own connections
 * (the binary protocol, UDP, replicas: libmemcached features mcconn.c does
 * not reproduce), or NULL when they may be used. */
const char *mc_workers_excluded(const struct mc *mc);
/*
 * Any thread: the health model of server i (see mc.c).  An answer ends a
 * run of failures and brings a down server up; a failure (a timeout, a
 * failed probe) marks it down when it is the third in a row, or at once
 * when `hard` (a refused connection).  `why` is logged with the change.
 */
void mc_health_success(struct mc *mc, size_t i);
void mc_health_failure(struct mc *mc, size_t i, bool hard, const char *why);

/* Main thread: the index of the server `key` maps to, or -1. */
int mc_server_index(struct mc *mc, const char *key);

/* Any thread: what /metrics shows. */
size_t mc_nservers(const struct mc *mc);
const char *mc_server_name(const struct mc *mc, size_t i);
bool mc_server_up(const struct mc *mc, size_t i);
size_t mc_queue_depth(struct mc *mc, size_t q);

#endif
