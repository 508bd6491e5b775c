/*
 * mcconn.h - memcached operations on a thread's own event loop: one
 * non-blocking connection per loop and server, text-protocol get, gets, set,
 * add, cas and delete pipelined on it, answers matched in order.  Workers use
 * it for the session cache, the main thread for the cluster keyring.
 *
 * Why: an operation through mc.c's helper threads costs two thread switches
 * (worker -> helper -> worker), which on a busy core is a third of a TLS 1.2
 * resumption's CPU.  Here the worker writes "get <key>\r\n" itself and reads
 * the answer when epoll says so; nothing blocks.  The server is the one
 * libmemcached's ketama (mc_route) picks, so what any instance stores,
 * through this path or the helpers, and what is looked up here meet; the
 * breaker is mc.c's, fed with this path's timeouts.  The keyring's
 * operations are placed by a group key (mc_route_placed) like libmemcached's
 * *_by_key calls, so both paths agree on where an epoch's entry lives.  No
 * reply, however malformed, can reach libmemcached from here: its parser
 * asserts (aborts the process) on some out-of-turn answers.
 *
 * Everything runs on the owning loop's thread (for a worker, mcconn_new and
 * mcconn_free run on the main thread before it starts / after it is joined).  A request taken by
 * mcconn_submit comes back through the `done` callback, always from the
 * loop (never from inside mcconn_submit), with req->result set, req->value
 * malloc'd on a hit, and req->latency_us.
 */
#ifndef TESSERA_MCCONN_H
#define TESSERA_MCCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mc.h"

struct evloop;
struct mcconn;

typedef void mcconn_done_fn(void *arg, struct mc_req *req);

/* NULL on out of memory. */
struct mcconn *mcconn_new(struct mc *mc, struct evloop *loop, mcconn_done_fn *done, void *arg);
/* Close the connections and free the requests still waiting (their owners
 * must be gone). */
void mcconn_free(struct mcconn *g);
/* On the owning loop's thread: open the connection to every server now,
 * ahead of need, so that no request's deadline pays a connect.  A
 * connection that fails or closes is opened again the same way (after 50 ms,
 * doubling with each failure in a row up to 1 s). */
void mcconn_start(struct mcconn *g);
/* A connection mcconn_start opened is still connecting. */
bool mcconn_connecting(const struct mcconn *g);

/*
 * Send any request (placed by its key, or by req->group when set).  0:
 * taken, the answer comes through `done`.  -ENOTSUP: not for this path,
 * nothing counted (a session set with a TTL memcached would read as a date,
 * a server name that did not resolve at start-up): use the helpers.  -EAGAIN: not sent now,
 * req->result = MC_RES_DROPPED for the caller to count: the server (and its reroute) is skipped by
 * the breaker, its connection stands aside after a failure, or 64 requests wait on it already.  A
 * server that leaves the oldest request on a connection unanswered for memcached.timeout_ms loses
 * the connection: all its requests end as MC_RES_TIMEOUT.
 */
int mcconn_submit(struct mcconn *g, struct mc_req *req);

/* ---- the reply parser (pure; exposed for unit tests) ---- */

enum mcconn_parsed {
    MCCONN_MORE = 0, /* incomplete: read more */
    MCCONN_REPLY,    /* one whole reply */
    MCCONN_BAD,      /* not memcached's text protocol: drop the connection */
};

/* The largest value accepted (a sealed session is far smaller). */
#define MCCONN_VALUE_MAX 65536

/*
 * Parse the reply to `op` on `key` at the start of buf[0..len).  On
 * MCCONN_REPLY, *used bytes make the reply and *result is:
 *   get, gets     MC_RES_HIT (the value is buf[*voff .. *voff + *vlen); after
 *                 a gets, *cas is its CAS unique), MC_RES_MISS
 *   set, add, cas MC_RES_STORED, MC_RES_EXISTS (NOT_STORED, EXISTS),
 *                 cas only: MC_RES_MISS (NOT_FOUND)
 *   delete        MC_RES_HIT (DELETED), MC_RES_MISS (NOT_FOUND)
 *   any           MC_RES_ERROR for an ERROR, CLIENT_ERROR or SERVER_ERROR line.
 */
enum mcconn_parsed mcconn_parse(const char *buf, size_t len, enum mc_op op, const char *key,
                                size_t keylen, size_t *used, enum mc_result *result, size_t *voff,
                                size_t *vlen, uint64_t *cas);

#endif
