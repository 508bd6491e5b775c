/*
 * conn.h - one client connection: TLS handshake, backend connect, relay.
 *
 * A conn belongs to the conn_set of the thread that accepted it; every
 * function here runs on that thread.  The connection is a state machine
 * (conn.c's step table); all transitions go through conn_set_state().  A
 * closed conn is not freed at once: it goes to its set's graveyard, freed by
 * conn_reap() at the end of the loop iteration, so events for it later in
 * the same batch are harmless.
 *
 * conn.c knows nothing of session caches, tickets or memcached: the TLS
 * callbacks reach the handshake through struct handshake (handshake.h), and
 * a callback that waits parks the handshake there.
 */
#ifndef TESSERA_CONN_H
#define TESSERA_CONN_H

#include <stddef.h>

#include "handshake.h"
#include "relay.h"

struct addr;
struct conn;
struct gen;

/* The connections of one thread, and what they need of it.  The owner
 * (worker.c) fills the first block; the rest is conn.c's. */
struct conn_set {
    struct gen *gen;           /* new connections start under it (and hold a reference) */
    struct handshake_env *env; /* loop, counters per frontend slot, what the callbacks use */
    struct relay_pool pool;    /* empty relay buffers kept for reuse */
    void (*on_closed)(struct conn_set *set); /* a connection closed */

    struct conn *open;      /* doubly linked */
    struct conn *graveyard; /* closed, freed by conn_reap */
    size_t n;               /* open */
};

/* Start serving the accepted socket `fd`, from `peer`, on frontend `fe` of
 * set->gen.  Takes ownership of fd (closed on failure).  Returns 0 or -errno. */
int conn_start(struct conn_set *set, int fd, unsigned fe, const struct addr *peer);

/* Close every open connection now (worker stop). */
void conn_abort_all(struct conn_set *set);

/* Free closed connections (the graveyard). */
void conn_reap(struct conn_set *set);

#endif
