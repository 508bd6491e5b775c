/*
 * relay.h - the byte pump between a TLS client and a plain TCP backend:
 * bounded buffers, back-pressure, half-close carried both ways.
 *
 * A struct relay is embedded in its conn and runs on the conn's worker.
 * conn.c sets the readiness bits from epoll events (edge-triggered); the
 * relay clears them when a call would block.  Every other field is private
 * to relay.c.  Buffers come from a per-thread pool (struct relay_pool) and
 * are given back whenever they are empty, so an idle connection holds none.
 */
#ifndef TESSERA_RELAY_H
#define TESSERA_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct stats;
struct relay_buf;

/* Empty buffers kept for reuse by one thread's relays (fields private). */
struct relay_pool {
    struct relay_buf *free;
    size_t nfree;
};

struct relay {
    SSL *ssl;
    int cfd, bfd;
    struct relay_pool *pool;
    struct stats *stats;
    struct relay_buf *c2b, *b2c;
    /* Readiness, set by conn.c on events: may read / write without EAGAIN. */
    unsigned client_rd : 1, client_wr : 1, backend_rd : 1, backend_wr : 1;
    unsigned client_eof : 1;   /* client's close_notify (or FIN) seen */
    unsigned backend_eof : 1;  /* backend's FIN seen */
    unsigned backend_shut : 1; /* FIN sent to the backend */
    unsigned client_shut : 1;  /* close_notify and FIN sent to the client */
    unsigned ssl_failed : 1;   /* fatal TLS error: no close_notify may follow */
};

enum relay_result {
    RELAY_IDLE = 0, /* nothing moved; wait for an event */
    RELAY_MOVED,    /* bytes moved; the idle deadline should move too */
    RELAY_DONE,     /* both directions finished: close */
    RELAY_ERROR,    /* a side failed: close */
};

/* Queue `n` bytes for the backend ahead of anything the client sends (the
 * PROXY header): they leave with the first write, together with whatever
 * the client has sent by then.  Before the first relay_pump only.  0, or -1
 * when no buffer can be had. */
int relay_queue_backend(struct relay *r, const void *p, size_t n);

/* Move everything that can move now. */
enum relay_result relay_pump(struct relay *r);

/* Send close_notify and FIN to the client, best effort (on close). */
void relay_close_client(struct relay *r);

/* Give back both buffers (on close). */
void relay_release(struct relay *r);

/* A fatal TLS error happened on the client side: log it at debug with
 * `what`, remember that no close_notify may follow, clear the error queue. */
void relay_ssl_failed(struct relay *r, const char *what, int sslerr);

/* Free the buffers kept in `p` (its thread's teardown). */
void relay_pool_drain(struct relay_pool *p);

#endif
