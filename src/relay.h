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

/* The same bytes put in front of what the buffer holds already (the PROXY
 * header, when early data arrived first).  Room for it was kept by
 * relay_read_early's `reserve`.  0, or -1 when it does not fit. */
int relay_prepend_backend(struct relay *r, const void *p, size_t n);

/*
 * Before the handshake completes: TLS 1.3 early data (SSL_read_early_data)
 * into the client-to-backend buffer, leaving `reserve` bytes free.  The
 * first call also runs the handshake up to the server's Finished.  Returns
 *   SSL_READ_EARLY_DATA_SUCCESS  bytes were queued (counted as "in");
 *   SSL_READ_EARLY_DATA_FINISH   no (more) early data: go on with
 *                                SSL_do_handshake;
 *   SSL_READ_EARLY_DATA_ERROR    with *sslerr: SSL_ERROR_NONE when the
 *                                buffer is full (wait for the backend),
 *                                WANT_READ/WANT_WRITE (the readiness bit is
 *                                cleared), WANT_CLIENT_HELLO_CB, or a
 *                                failure (the error queue is kept for the
 *                                caller to classify).
 */
int relay_read_early(struct relay *r, size_t reserve, int *sslerr);

/* Before the relay starts: send what the client-to-backend buffer holds
 * (early data) to the connected backend.  1 on progress, 0 when nothing
 * could move, -1 when the backend failed. */
int relay_flush_backend(struct relay *r);

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
