/*
 * relay.c - byte pump TLS <-> backend with bounded buffers, back-pressure
 * and half-close.
 *
 * Runs on the worker that owns the connection.  Each direction has at most
 * one 16 KiB buffer; a full buffer stops reading from that side, which is
 * what makes a slow reader push back on a fast writer instead of making
 * tessera buffer without limit.  Half-close is carried both ways: the
 * client's close_notify (or FIN) becomes a FIN to the backend, and the
 * backend's FIN becomes close_notify plus FIN to the client.
 */
#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "log.h"
#include "stats.h"

#define BUF_SIZE       16384
#define FREE_BUFS_KEEP 64

/* A linear buffer: bytes live in [head, tail); reset to 0 when drained. */
struct relay_buf {
    struct relay_buf *next; /* free list */
    size_t head, tail;
    unsigned char data[BUF_SIZE];
};

static struct relay_buf *
buf_get(struct relay_pool *p)
{
    struct relay_buf *b = p->free;

    if (b != NULL) {
        p->free = b->next;
        p->nfree--;
    } else {
        b = malloc(sizeof(*b));
        if (b == NULL) {
            return NULL;
        }
    }
    b->head = b->tail = 0;
    b->next = NULL;
    return b;
}

static void
buf_put(struct relay_pool *p, struct relay_buf **bp)
{
    struct relay_buf *b = *bp;

    if (b == NULL) {
        return;
    }
    *bp = NULL;
    if (p->nfree >= FREE_BUFS_KEEP) {
        free(b);
        return;
    }
    b->next = p->free;
    p->free = b;
    p->nfree++;
}

void
relay_pool_drain(struct relay_pool *p)
{
    while (p->free != NULL) {
        struct relay_buf *b = p->free;
        p->free = b->next;
        free(b);
    }
    p->nfree = 0;
}

void
relay_release(struct relay *r)
{
    buf_put(r->pool, &r->c2b);
    buf_put(r->pool, &r->b2c);
}

void
relay_ssl_failed(struct relay *r, const char *what, int sslerr)
{
    r->ssl_failed = 1;
    if (log_enabled(LOG_LVL_DEBUG)) {
        char buf[256] = "";
        unsigned long e = ERR_peek_last_error();
        if (e != 0) {
            ERR_error_string_n(e, buf, sizeof(buf));
        } else if (sslerr == SSL_ERROR_SYSCALL && errno != 0) {
            snprintf(buf, sizeof(buf), "%s", strerror(errno));
        } else {
            snprintf(buf, sizeof(buf), "connection closed by peer");
        }
        log_debug_limited("conn fd=%d: %s: %s", r->cfd, what, buf);
    }
    ERR_clear_error();
}

int
relay_queue_backend(struct relay *r, const void *p, size_t n)
{
    if (r->c2b == NULL && (r->c2b = buf_get(r->pool)) == NULL) {
        return -1;
    }
    if (n > BUF_SIZE - r->c2b->tail) {
        return -1;
    }
    memcpy(r->c2b->data + r->c2b->tail, p, n);
    r->c2b->tail += n;
    return 0;
}

int
relay_prepend_backend(struct relay *r, const void *p, size_t n)
{
    struct relay_buf *b;

    if (r->c2b == NULL) {
        return relay_queue_backend(r, p, n);
    }
    b = r->c2b;
    if (n > BUF_SIZE - (b->tail - b->head)) {
        return -1;
    }
    memmove(b->data + n, b->data + b->head, b->tail - b->head);
    memcpy(b->data, p, n);
    b->tail = n + (b->tail - b->head);
    b->head = 0;
    return 0;
}

int
relay_read_early(struct relay *r, size_t reserve, int *sslerr)
{
    size_t got = 0;
    int rc;

    *sslerr = SSL_ERROR_NONE;
    if (r->c2b == NULL && (r->c2b = buf_get(r->pool)) == NULL) {
        return SSL_READ_EARLY_DATA_ERROR;
    }
    if (r->c2b->tail + reserve >= BUF_SIZE) {
        return SSL_READ_EARLY_DATA_ERROR; /* back-pressure: the backend is slow */
    }
    ERR_clear_error();
    rc = SSL_read_early_data(r->ssl, r->c2b->data + r->c2b->tail, BUF_SIZE - r->c2b->tail - reserve,
                             &got);
    switch (rc) {
    case SSL_READ_EARLY_DATA_SUCCESS:
        r->c2b->tail += got;
        stats_add(r->stats, STAT_BYTES_IN, (uint64_t)got);
        return rc;
    case SSL_READ_EARLY_DATA_FINISH:
        return rc;
    default:
        *sslerr = SSL_get_error(r->ssl, -1);
        if (*sslerr == SSL_ERROR_WANT_READ) {
            r->client_rd = 0;
        } else if (*sslerr == SSL_ERROR_WANT_WRITE) {
            r->client_wr = 0;
        }
        return SSL_READ_EARLY_DATA_ERROR;
    }
}

/* client -> c2b.  Each pump_* returns 1 on progress, 0 if nothing could
 * move, -1 on an error that ends the connection. */
static int
pump_client_read(struct relay *r)
{
    int n, e;

    if (!r->client_rd || r->client_eof) {
        return 0;
    }
    if (r->c2b == NULL && (r->c2b = buf_get(r->pool)) == NULL) {
        return 0;
    }
    if (r->c2b->tail == BUF_SIZE) {
        return 0; /* back-pressure: the backend is slow */
    }
    ERR_clear_error();
    n = SSL_read(r->ssl, r->c2b->data + r->c2b->tail, (int)(BUF_SIZE - r->c2b->tail));
    if (n > 0) {
        r->c2b->tail += (size_t)n;
        stats_add(r->stats, STAT_BYTES_IN, (uint64_t)n);
        return 1;
    }
    e = SSL_get_error(r->ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        r->client_rd = 0;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        r->client_wr = 0;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        r->client_eof = 1; /* close_notify, or a bare FIN (SSL_OP_IGNORE_UNEXPECTED_EOF) */
        return 1;
    default:
        relay_ssl_failed(r, "read from client", e);
        return -1;
    }
}

/* c2b -> backend, then FIN to the backend once the client is done. */
static int
pump_backend_write(struct relay *r)
{
    struct relay_buf *b = r->c2b;
    int progress = 0;

    if (b != NULL && b->tail > b->head && r->backend_wr) {
        ssize_t n = send(r->bfd, b->data + b->head, b->tail - b->head, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) { /* == EWOULDBLOCK on Linux */
                r->backend_wr = 0;
                return 0;
            }
            log_debug_limited("conn fd=%d: write to backend: %s", r->cfd, strerror(errno));
            return -1;
        }
        b->head += (size_t)n;
        progress = 1;
    }
    if (b != NULL && b->head == b->tail) {
        b->head = b->tail = 0;
    }
    if (r->client_eof && (b == NULL || b->tail == 0) && !r->backend_shut) {
        shutdown(r->bfd, SHUT_WR);
        r->backend_shut = 1;
        progress = 1;
    }
    return progress;
}

int
relay_flush_backend(struct relay *r)
{
    struct relay_buf *b = r->c2b;
    int progress = 0;

    while (b != NULL && b->tail > b->head && r->backend_wr) {
        ssize_t n = send(r->bfd, b->data + b->head, b->tail - b->head, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                r->backend_wr = 0;
                break;
            }
            log_debug_limited("conn fd=%d: early data to backend: %s", r->cfd, strerror(errno));
            return -1;
        }
        b->head += (size_t)n;
        progress = 1;
    }
    if (b != NULL && b->head == b->tail) {
        b->head = b->tail = 0;
    }
    return progress;
}

/* backend -> b2c. */
static int
pump_backend_read(struct relay *r)
{
    ssize_t n;

    if (!r->backend_rd || r->backend_eof) {
        return 0;
    }
    if (r->b2c == NULL && (r->b2c = buf_get(r->pool)) == NULL) {
        return 0;
    }
    if (r->b2c->tail == BUF_SIZE) {
        return 0; /* back-pressure: the client is slow */
    }
    n = recv(r->bfd, r->b2c->data + r->b2c->tail, BUF_SIZE - r->b2c->tail, 0);
    if (n > 0) {
        r->b2c->tail += (size_t)n;
        return 1;
    }
    if (n == 0) {
        r->backend_eof = 1;
        return 1;
    }
    if (errno == EAGAIN) {
        r->backend_rd = 0;
        return 0;
    }
    log_debug_limited("conn fd=%d: read from backend: %s", r->cfd, strerror(errno));
    return -1;
}

/* Send close_notify and FIN to the client.  0 when done, 1 to retry when writable. */
static int
relay_shutdown_client(struct relay *r)
{
    int rc;

    ERR_clear_error();
    rc = SSL_shutdown(r->ssl);
    if (rc < 0) {
        if (SSL_get_error(r->ssl, rc) == SSL_ERROR_WANT_WRITE) {
            r->client_wr = 0;
            return 1;
        }
        ERR_clear_error();
    }
    shutdown(r->cfd, SHUT_WR);
    r->client_shut = 1;
    return 0;
}

void
relay_close_client(struct relay *r)
{
    if (!r->client_shut && !r->ssl_failed) {
        (void)relay_shutdown_client(r);
    }
}

/* b2c -> client, then close_notify once the backend is done. */
static int
pump_client_write(struct relay *r)
{
    struct relay_buf *b = r->b2c;
    int progress = 0;

    if (b != NULL && b->tail > b->head && r->client_wr) {
        ERR_clear_error();
        int n = SSL_write(r->ssl, b->data + b->head, (int)(b->tail - b->head));
        if (n > 0) {
            b->head += (size_t)n;
            stats_add(r->stats, STAT_BYTES_OUT, (uint64_t)n);
            progress = 1;
        } else {
            int e = SSL_get_error(r->ssl, n);
            if (e == SSL_ERROR_WANT_WRITE) {
                r->client_wr = 0;
                return 0;
            }
            if (e == SSL_ERROR_WANT_READ) {
                r->client_rd = 0;
                return 0;
            }
            relay_ssl_failed(r, "write to client", e);
            return -1;
        }
    }
    if (b != NULL && b->head == b->tail) {
        b->head = b->tail = 0;
    }
    if (r->backend_eof && (b == NULL || b->tail == 0) && !r->client_shut && r->client_wr) {
        relay_shutdown_client(r);
        progress = 1;
    }
    return progress;
}

enum relay_result
relay_pump(struct relay *r)
{
    int progress, moved = 0;

    do {
        int r1 = pump_client_read(r);
        int r2 = pump_backend_write(r);
        int r3 = pump_backend_read(r);
        int r4 = pump_client_write(r);
        if (r1 < 0 || r2 < 0 || r3 < 0 || r4 < 0) {
            return RELAY_ERROR;
        }
        progress = r1 | r2 | r3 | r4;
        moved |= progress;
    } while (progress);

    /* Idle connections hold no buffer. */
    if (r->c2b != NULL && r->c2b->tail == 0) {
        buf_put(r->pool, &r->c2b);
    }
    if (r->b2c != NULL && r->b2c->tail == 0) {
        buf_put(r->pool, &r->b2c);
    }
    if (r->client_shut && r->backend_shut) {
        return RELAY_DONE;
    }
    return moved ? RELAY_MOVED : RELAY_IDLE;
}
