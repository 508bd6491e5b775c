/*
 * conn.h - one client connection: TLS handshake, backend connect, relay.
 *
 * A conn belongs to the worker that accepted it; every function here runs on
 * that worker's thread.  The connection is a state machine (conn.c's step
 * table); all transitions go through conn_set_state().  A closed conn is not
 * freed at once: it goes to the worker's graveyard, freed at the end of the
 * loop iteration, so events for it later in the same batch are harmless.
 */
#ifndef TESSERA_CONN_H
#define TESSERA_CONN_H

#include <openssl/ssl.h>

struct conn;
struct sessions_lookup;
struct stats;
struct worker;

/* Start serving the accepted socket `fd` on frontend `fe` of worker `w`.
 * Takes ownership of fd (closed on failure).  Returns 0 or -errno. */
int conn_start(struct worker *w, int fd, unsigned fe);

/* Close `c` now (drain timeout, worker stop). */
void conn_abort(struct conn *c);

/* Free closed connections (the graveyard) of `w`. */
void conn_reap(struct worker *w);

/* For OpenSSL callbacks: the conn behind `ssl` (magic-checked), its worker. */
struct conn *conn_from_ssl(const SSL *ssl);
struct worker *conn_worker(const struct conn *c);
/* The counters this connection's figures go to (its worker's, for its frontend). */
struct stats *conn_stats(const struct conn *c);
/* The session cache answered the lookup of this handshake (so a resumption
 * is "resumed_session", not "resumed_ticket"). */
void conn_note_cache_lookup(struct conn *c);
/* The ticket this handshake resumes was issued by another instance. */
void conn_note_ticket_remote(struct conn *c);

/* For sessions.c: the connection's lookup state, its frontend, and "the
 * memcached answer is in: go on with the handshake". */
struct sessions_lookup *conn_lookup(struct conn *c);
unsigned conn_frontend_index(const struct conn *c);
void conn_session_ready(struct conn *c);

/* Set up the ex_data index that links SSL objects to conns (main thread, once). */
int conn_global_init(void);

#endif
