/*
 * handshake.h - what OpenSSL's callbacks (sessions.c, tickets.c) know of
 * the handshake they run in, and what they may do to it: count into its
 * frontend's figures, note how it resumed, and park it.
 *
 * The connection that drives a handshake (conn.c) embeds a struct handshake
 * and links it to its SSL; a callback finds it with handshake_of(ssl).  The
 * callbacks never see the connection, its sockets or its worker: what they
 * need of the thread they run on is in the shared struct handshake_env.
 *
 * Parking.  A client-hello callback that must wait for an answer (a
 * memcached lookup) calls handshake_park() and returns
 * SSL_CLIENT_HELLO_RETRY.  From then on the connection does not drive the
 * handshake and keeps only its own handshake deadline; the module that
 * parked it owns the wait (its state, its timer, its completion) and ends
 * it with handshake_resume(), from its answer or from its timer.  If the
 * connection closes first (handshake deadline, shutdown), SSL_free releases
 * what the module hung on the SSL (ex_data with a free callback), so a late
 * answer finds no handshake.
 *
 * Everything here runs on the thread that owns the connection.
 */
#ifndef TESSERA_HANDSHAKE_H
#define TESSERA_HANDSHAKE_H

#include <openssl/ssl.h>

struct evloop;
struct keyring;
struct mailbox;
struct mcconn;
struct sessions;
struct stats;

/* What the callbacks may use of the worker thread they run on. */
struct handshake_env {
    struct evloop *loop;
    struct stats *stats;       /* per frontend counter slot (gen.h) */
    struct sessions *sessions; /* process-wide, locks itself */
    struct keyring *ring;      /* the thread's private copy of the ticket keyring */
    struct mcconn *mcconn;     /* the loop's own memcached connections, or NULL */
    struct mailbox *mbox;      /* where memcached answers from helper threads arrive */
    unsigned queue;            /* this thread's queue id for mc_submit */
};

struct handshake {
    unsigned magic;
#define HANDSHAKE_MAGIC 0x48534b45u
    const struct handshake_env *env;
    struct stats *stats; /* env->stats[slot] */
    unsigned slot;       /* the frontend's counter slot (gen.h) */
    /* Set by the connection: handshake_resume() calls it. */
    void (*on_resume)(struct handshake *h);
    unsigned parked : 1;
    unsigned from_cache : 1;    /* the session cache gave the session resumed */
    unsigned cache_remote : 1;  /* ... and another instance made it */
    unsigned ticket_remote : 1; /* the ticket resumed was issued by another instance */
};

/* Main thread, once, before any handshake. */
int handshake_global_init(void);

/* Link `h` to `ssl` (h outlives ssl).  0 or -1. */
int handshake_attach(struct handshake *h, SSL *ssl);

/* The handshake `ssl` belongs to (magic-checked). */
struct handshake *handshake_of(const SSL *ssl);

/* The calling callback returns SSL_CLIENT_HELLO_RETRY and will resume `h`. */
void handshake_park(struct handshake *h);

/* The wait is over: the connection goes on with the handshake (now, from
 * the caller's stack).  Nothing when `h` is not parked. */
void handshake_resume(struct handshake *h);

#endif
