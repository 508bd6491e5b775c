/*
 * conn.c - a client connection's life: TLS handshake, backend connect,
 * relay, close.
 *
 * Runs on the worker that accepted the connection; nothing here is shared
 * with other threads.  Both sockets are registered once, edge-triggered,
 * for input and output; the conn remembers which side may be read or
 * written (cleared only on EAGAIN / WANT_*), so the relay never calls
 * epoll_ctl after set-up.  The deadline (handshake, connect or idle) is a
 * plain field; the heap timer is only re-armed when it fires early, so
 * ordinary I/O never touches the heap.
 *
 *   accept -> HANDSHAKE -> CONNECT -> RELAY -> (closed)
 *                 |            |         |
 *                 +--- error / timeout --+--> close (close_notify when we can)
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "backend.h"
#include "check.h"
#include "config.h"
#include "log.h"
#include "relay.h"
#include "sessions.h"
#include "stats.h"
#include "tlsctx.h"
#include "worker.h"

enum conn_state {
    CONN_HANDSHAKE = 0,
    CONN_SESSION_WAIT, /* handshake paused for a memcached lookup */
    CONN_CONNECT,
    CONN_RELAY,
    CONN_CLOSED,
};

enum conn_next {
    NEXT_WAIT = 0, /* wait for an event or the deadline */
    NEXT_AGAIN,    /* the state changed: run the new step */
    NEXT_CLOSE,    /* done or failed: close */
};

struct conn {
    unsigned magic;
#define CONN_MAGIC 0x434f4e4eu
    enum conn_state state;
    struct worker *w;
    unsigned fe;
    struct relay r;      /* sockets, SSL, buffers, readiness */
    struct evhandler ch; /* client socket events */
    struct evhandler bh; /* backend socket events */
    struct evtimer timer;
    uint64_t deadline;    /* loop ms */
    uint64_t hs_deadline; /* the handshake's own, kept while a lookup waits */
    struct sessions_lookup lookup;
    struct timespec accepted;
    struct conn *prev, *next;
    unsigned from_cache : 1;     /* the session cache answered a lookup */
    unsigned ticket_remote : 1;  /* the ticket was issued by another instance */
    unsigned backend_failed : 1; /* EPOLLERR/EPOLLHUP on the backend socket */
};

static int conn_ex_index = -1;

int
conn_global_init(void)
{
    conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return conn_ex_index < 0 ? -1 : 0;
}

struct conn *
conn_from_ssl(const SSL *ssl)
{
    struct conn *c;

    CAST_OBJ(c, SSL_get_ex_data(ssl, conn_ex_index), CONN_MAGIC);
    return c;
}

struct worker *
conn_worker(const struct conn *c)
{
    return c->w;
}

struct stats *
conn_stats(const struct conn *c)
{
    return c->r.stats;
}

void
conn_note_cache_lookup(struct conn *c)
{
    c->from_cache = 1;
}

void
conn_note_ticket_remote(struct conn *c)
{
    c->ticket_remote = 1;
}

struct sessions_lookup *
conn_lookup(struct conn *c)
{
    return &c->lookup;
}

unsigned
conn_frontend_index(const struct conn *c)
{
    return c->fe;
}

static const struct config_frontend *
conn_frontend(const struct conn *c)
{
    return &c->w->cfg->frontends[c->fe];
}

static void
conn_set_deadline_at(struct conn *c, uint64_t when)
{
    c->deadline = when;
    if (!evtimer_armed(&c->timer) || c->timer.when > c->deadline) {
        evtimer_arm(c->w->loop, &c->timer, c->deadline);
    }
}

static void
conn_set_deadline(struct conn *c, unsigned seconds)
{
    conn_set_deadline_at(c, evloop_now(c->w->loop) + (uint64_t)seconds * 1000u);
}

/* ---- OpenSSL error classification ---- */

static enum stats_id
handshake_error_reason(int sslerr)
{
    unsigned long e = ERR_peek_last_error();

    if (sslerr == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL) {
        if (ERR_GET_REASON(e) == SSL_R_NO_SHARED_CIPHER) {
            return STAT_HS_ERR_NO_SHARED_CIPHER;
        }
        return STAT_HS_ERR_PROTOCOL;
    }
    return STAT_HS_ERR_OTHER;
}

/* ---- steps ---- */

static uint64_t
elapsed_us(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us = (int64_t)(now.tv_sec - since->tv_sec) * 1000000 +
                 (int64_t)(now.tv_nsec - since->tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0u;
}

static void conn_set_state(struct conn *c, enum conn_state next);

static enum conn_next
step_handshake(struct conn *c)
{
    struct stats *st = c->r.stats;
    int r, e;

    ERR_clear_error();
    r = SSL_do_handshake(c->r.ssl);
    if (r == 1) {
        if (!SSL_session_reused(c->r.ssl)) {
            stats_add(st, STAT_HANDSHAKES_FULL, 1);
        } else if (c->from_cache) {
            stats_add(st, STAT_HANDSHAKES_RESUMED_SESSION, 1);
            stats_add(st,
                      sessions_lookup_remote(&c->lookup) ? STAT_RESUMED_SESSION_REMOTE
                                                         : STAT_RESUMED_SESSION_LOCAL,
                      1);
        } else {
            stats_add(st, STAT_HANDSHAKES_RESUMED_TICKET, 1);
            stats_add(st, c->ticket_remote ? STAT_RESUMED_TICKET_REMOTE : STAT_RESUMED_TICKET_LOCAL,
                      1);
        }
        stats_observe_handshake(st, elapsed_us(&c->accepted));
        conn_set_state(c, CONN_CONNECT);
        return NEXT_AGAIN;
    }
    e = SSL_get_error(c->r.ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->r.client_rd = 0;
        return NEXT_WAIT;
    case SSL_ERROR_WANT_WRITE:
        c->r.client_wr = 0;
        return NEXT_WAIT;
    case SSL_ERROR_WANT_CLIENT_HELLO_CB:
        conn_set_state(c, CONN_SESSION_WAIT); /* sessions.c asked memcached */
        return NEXT_WAIT;
    default:
        stats_add(st, handshake_error_reason(e), 1);
        relay_ssl_failed(&c->r, "handshake failed", e);
        return NEXT_CLOSE;
    }
}

/* Waiting for memcached: the client's events change nothing until the
 * answer (conn_session_ready) or the deadline (on_conn_timer). */
static enum conn_next
step_session_wait(struct conn *c)
{
    if (c->lookup.state == SESSIONS_LOOKUP_PENDING) {
        return NEXT_WAIT;
    }
    conn_set_state(c, CONN_HANDSHAKE);
    return NEXT_AGAIN;
}

static enum conn_next
step_connect(struct conn *c)
{
    int r;

    if (c->r.bfd < 0) {
        c->r.bfd = backend_connect_start(&conn_frontend(c)->backend);
        if (c->r.bfd < 0) {
            log_debug_limited("conn fd=%d: backend %s: %s", c->r.cfd,
                              conn_frontend(c)->backend_text, strerror(-c->r.bfd));
            stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
            return NEXT_CLOSE;
        }
        if (evloop_add(c->w->loop, c->r.bfd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->bh) <
            0) {
            stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
            return NEXT_CLOSE;
        }
        conn_set_deadline(c, c->w->cfg->timeouts.connect);
        return NEXT_WAIT;
    }
    /* A connecting socket reports EPOLLOUT once connected and EPOLLERR or
     * EPOLLHUP once failed (connect(2)); only a failure needs SO_ERROR. */
    if (c->backend_failed) {
        r = backend_connect_result(c->r.bfd);
        if (r < 0 || !c->r.backend_wr) {
            log_debug_limited("conn fd=%d: backend %s: %s", c->r.cfd,
                              conn_frontend(c)->backend_text, strerror(r < 0 ? -r : ECONNREFUSED));
            stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
            return NEXT_CLOSE;
        }
    }
    if (!c->r.backend_wr) {
        return NEXT_WAIT;
    }
    conn_set_state(c, CONN_RELAY);
    return NEXT_AGAIN;
}

static enum conn_next
step_relay(struct conn *c)
{
    switch (relay_pump(&c->r)) {
    case RELAY_IDLE:
        return NEXT_WAIT;
    case RELAY_MOVED:
        c->deadline = evloop_now(c->w->loop) + (uint64_t)c->w->cfg->timeouts.idle * 1000u;
        return NEXT_WAIT;
    case RELAY_DONE:
    case RELAY_ERROR:
        return NEXT_CLOSE;
    }
    return NEXT_CLOSE;
}

static const struct conn_step {
    const char *name;
    enum conn_next (*run)(struct conn *);
} conn_steps[] = {
    [CONN_HANDSHAKE] = {"handshake", step_handshake},
    [CONN_SESSION_WAIT] = {"session-wait", step_session_wait},
    [CONN_CONNECT] = {"connect", step_connect},
    [CONN_RELAY] = {"relay", step_relay},
    [CONN_CLOSED] = {"closed", NULL},
};

static void
conn_set_state(struct conn *c, enum conn_state next)
{
    switch (next) {
    case CONN_HANDSHAKE:
        if (c->state == CONN_SESSION_WAIT) {
            conn_set_deadline_at(c, c->hs_deadline); /* back from a lookup */
        } else {
            conn_set_deadline(c, c->w->cfg->timeouts.handshake);
            c->hs_deadline = c->deadline;
        }
        break;
    case CONN_SESSION_WAIT: {
        uint64_t until = evloop_now(c->w->loop) + c->w->cfg->memcached.timeout_ms;
        conn_set_deadline_at(c, until < c->hs_deadline ? until : c->hs_deadline);
        break;
    }
    case CONN_CONNECT:
        break; /* the deadline is set when the connect starts */
    case CONN_RELAY:
        conn_set_deadline(c, c->w->cfg->timeouts.idle);
        break;
    case CONN_CLOSED:
        break;
    }
    c->state = next;
}

/* ---- close and free ---- */

static void
conn_close(struct conn *c)
{
    struct worker *w = c->w;

    CHECK(c->state != CONN_CLOSED);
    if (c->state != CONN_HANDSHAKE) {
        relay_close_client(&c->r); /* a clean TLS close, best effort */
    }
    /* Unread input would turn our close into a reset; read it away first
     * (not needed once the client has finished sending). */
    if (!c->r.client_eof) {
        char sink[4096];
        for (int i = 0; i < 16 && recv(c->r.cfd, sink, sizeof(sink), 0) > 0; i++) {
        }
    }
    evtimer_disarm(w->loop, &c->timer);
    sessions_lookup_release(&c->lookup);
    SSL_free(c->r.ssl);
    c->r.ssl = NULL;
    close(c->r.cfd);
    c->r.cfd = -1;
    if (c->r.bfd >= 0) {
        close(c->r.bfd);
        c->r.bfd = -1;
    }
    relay_release(&c->r);
    c->state = CONN_CLOSED;

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = NULL;
    c->next = w->graveyard;
    w->graveyard = c;
    w->nconns--;
    stats_active_add(c->r.stats, -1);
    worker_conn_closed(w);
}

void
conn_abort(struct conn *c)
{
    CHECK_OBJ(c, CONN_MAGIC);
    if (c->state != CONN_CLOSED) {
        conn_close(c);
    }
}

void
conn_reap(struct worker *w)
{
    while (w->graveyard != NULL) {
        struct conn *c = w->graveyard;
        w->graveyard = c->next;
        c->magic = 0;
        free(c);
    }
}

/* Run steps until one waits or the connection closes (Varnish's CNT_Request shape). */
static void
conn_run(struct conn *c)
{
    for (;;) {
        CHECK_OBJ(c, CONN_MAGIC);
        CHECK_OBJ(c->w, WORKER_MAGIC);
        if (c->state == CONN_CLOSED) {
            return;
        }
        switch (conn_steps[c->state].run(c)) {
        case NEXT_AGAIN:
            continue;
        case NEXT_WAIT:
            return;
        case NEXT_CLOSE:
            conn_close(c);
            return;
        }
    }
}

void
conn_session_ready(struct conn *c)
{
    CHECK_OBJ(c, CONN_MAGIC);
    if (c->state == CONN_SESSION_WAIT) {
        conn_run(c);
    }
}

/* ---- events ---- */

static void
on_client_event(struct evhandler *h, uint32_t events)
{
    struct conn *c = CONTAINER_OF(h, struct conn, ch);

    CHECK_OBJ(c, CONN_MAGIC);
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        c->r.client_rd = 1;
    }
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        c->r.client_wr = 1;
    }
    conn_run(c);
}

static void
on_backend_event(struct evhandler *h, uint32_t events)
{
    struct conn *c = CONTAINER_OF(h, struct conn, bh);

    CHECK_OBJ(c, CONN_MAGIC);
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        c->r.backend_rd = 1;
    }
    if (events & (EPOLLHUP | EPOLLERR)) {
        c->backend_failed = 1;
    }
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        c->r.backend_wr = 1;
    }
    conn_run(c);
}

static void
on_conn_timer(struct evtimer *t)
{
    struct conn *c = CONTAINER_OF(t, struct conn, timer);

    CHECK_OBJ(c, CONN_MAGIC);
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (evloop_now(c->w->loop) < c->deadline) {
        evtimer_arm(c->w->loop, &c->timer, c->deadline); /* moved by activity */
        return;
    }
    switch (c->state) {
    case CONN_HANDSHAKE:
        stats_add(c->r.stats, STAT_HS_ERR_TIMEOUT, 1);
        log_debug_limited("conn fd=%d: handshake timeout", c->r.cfd);
        break;
    case CONN_SESSION_WAIT:
        if (c->deadline < c->hs_deadline) {
            /* memcached did not answer in time: go on with what we have
             * (a full handshake); the late answer will be discarded. */
            sessions_lookup_timeout(c->w, c->fe, &c->lookup);
            conn_run(c);
            return;
        }
        sessions_lookup_timeout(c->w, c->fe, &c->lookup);
        stats_add(c->r.stats, STAT_HS_ERR_TIMEOUT, 1);
        break;
    case CONN_CONNECT:
        stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
        log_debug_limited("conn fd=%d: backend connect timeout", c->r.cfd);
        break;
    case CONN_RELAY:
        log_debug_limited("conn fd=%d: idle timeout", c->r.cfd);
        break;
    case CONN_CLOSED:
        return;
    }
    conn_close(c);
}

int
conn_start(struct worker *w, int fd, unsigned fe)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->magic = CONN_MAGIC;
    c->w = w;
    c->fe = fe;
    c->r.cfd = fd;
    c->r.bfd = -1;
    c->r.w = w;
    c->r.stats = &w->stats[fe];
    c->ch.on_event = on_client_event;
    c->bh.on_event = on_backend_event;
    c->timer.on_timer = on_conn_timer;
    clock_gettime(CLOCK_MONOTONIC, &c->accepted);
    c->r.ssl = tlsctx_new_ssl(w->tls[fe]);
    if (c->r.ssl == NULL || SSL_set_fd(c->r.ssl, fd) != 1 ||
        SSL_set_ex_data(c->r.ssl, conn_ex_index, c) != 1) {
        log_openssl_limited_at(LOG_LVL_WARN, "new TLS connection");
        goto fail;
    }
    SSL_set_accept_state(c->r.ssl);
    if (evloop_add(w->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->ch) < 0) {
        goto fail;
    }
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    w->nconns++;
    stats_add(c->r.stats, STAT_CONNECTIONS_TOTAL, 1);
    stats_active_add(c->r.stats, 1);
    conn_set_state(c, CONN_HANDSHAKE);
    return 0;
fail:
    SSL_free(c->r.ssl);
    close(fd);
    c->magic = 0;
    free(c);
    return -ENOMEM;
}
