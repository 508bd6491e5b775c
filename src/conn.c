/*
 * conn.c - a client connection's life: TLS handshake, backend connect,
 * relay, close.
 *
 * Runs on the thread that accepted the connection; nothing here is shared
 * with other threads.  Both sockets are registered once, edge-triggered,
 * for input and output; the conn remembers which side may be read or
 * written (cleared only on EAGAIN / WANT_*), so the relay never calls
 * epoll_ctl after set-up.  The deadline (handshake, connect or idle) is a
 * plain field; the heap timer is only re-armed when it fires early, so
 * ordinary I/O never touches the heap.
 *
 *   accept -> HELLO -> HANDSHAKE <-> PARKED
 *                 |
 *                 +-> CONNECT -> RELAY -> (closed)
 *                 |      |         |
 *                 +--- error / timeout --> close (close_notify when we can)
 *
 * HELLO: nothing has arrived yet, and nothing is allocated for TLS: the SSL
 * is made when the first bytes do, so a scanner or a slow opener costs the
 * struct conn and no more.
 * PARKED: a TLS callback asked to wait (handshake.h).  The client's events
 * are remembered but do not drive the handshake; whoever parked it resumes
 * it.  Only the handshake deadline runs meanwhile.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "backend.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "evloop.h"
#include "gen.h"
#include "log.h"
#include "stats.h"
#include "tlsctx.h"

enum conn_state {
    CONN_HELLO = 0, /* accepted, nothing received yet: no SSL */
    CONN_HANDSHAKE,
    CONN_PARKED, /* a TLS callback waits for something; it resumes us */
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
    struct conn_set *set;
    struct gen *gen; /* the generation it started under (one reference) */
    unsigned fe;     /* its frontend in gen */
    struct evloop *loop;
    struct handshake hs; /* what the TLS callbacks see */
    struct relay r;      /* sockets, SSL, buffers, readiness */
    struct evhandler ch; /* client socket events */
    struct evhandler bh; /* backend socket events */
    struct evtimer timer;
    uint64_t deadline;    /* loop ms */
    uint64_t accepted_us; /* monotonic */
    struct conn *prev, *next;
    unsigned backend_failed : 1; /* EPOLLERR/EPOLLHUP on the backend socket */
};

static const struct config *
conn_cfg(const struct conn *c)
{
    return c->gen->cfg;
}

static const struct config_frontend *
conn_frontend(const struct conn *c)
{
    return &conn_cfg(c)->frontends[c->fe];
}

static void
conn_set_deadline(struct conn *c, unsigned seconds)
{
    c->deadline = evloop_now(c->loop) + (uint64_t)seconds * 1000u;
    if (!evtimer_armed(&c->timer) || c->timer.when > c->deadline) {
        evtimer_arm(c->loop, &c->timer, c->deadline);
    }
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
        } else if (c->hs.from_cache) {
            stats_add(st, STAT_HANDSHAKES_RESUMED_SESSION, 1);
            stats_add(st,
                      c->hs.cache_remote ? STAT_RESUMED_SESSION_REMOTE : STAT_RESUMED_SESSION_LOCAL,
                      1);
        } else {
            stats_add(st, STAT_HANDSHAKES_RESUMED_TICKET, 1);
            stats_add(st,
                      c->hs.ticket_remote ? STAT_RESUMED_TICKET_REMOTE : STAT_RESUMED_TICKET_LOCAL,
                      1);
        }
        tlsctx_count_client_cert(c->r.ssl, st, true);
        stats_observe_handshake(st, clock_mono_us() - c->accepted_us);
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
        if (c->hs.parked) {
            conn_set_state(c, CONN_PARKED);
            return NEXT_WAIT;
        }
        /* A callback asked to retry without parking: nothing will wake us. */
        stats_add(st, STAT_HS_ERR_OTHER, 1);
        relay_ssl_failed(&c->r, "handshake paused by nobody", e);
        return NEXT_CLOSE;
    default:
        stats_add(st, handshake_error_reason(e), 1);
        tlsctx_count_client_cert(c->r.ssl, st, false); /* reads the error queue */
        relay_ssl_failed(&c->r, "handshake failed", e);
        return NEXT_CLOSE;
    }
}

/* The first bytes are there (or the client left): make the SSL now. */
static enum conn_next
step_hello(struct conn *c)
{
    char b;
    ssize_t n;

    if (!c->r.client_rd) {
        return NEXT_WAIT;
    }
    n = recv(c->r.cfd, &b, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) { /* EWOULDBLOCK is EAGAIN */
        c->r.client_rd = 0;
        return NEXT_WAIT;
    }
    if (n <= 0) {
        /* Gone before saying anything: a failed handshake, as it always was. */
        stats_add(c->r.stats, STAT_HS_ERR_OTHER, 1);
        log_debug_limited("conn fd=%d: closed before sending anything%s%s", c->r.cfd,
                          n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
        c->r.client_eof = 1;
        return NEXT_CLOSE;
    }
    c->r.ssl = tlsctx_new_ssl(c->gen->tls[c->fe]);
    if (c->r.ssl == NULL || SSL_set_fd(c->r.ssl, c->r.cfd) != 1 ||
        handshake_attach(&c->hs, c->r.ssl) < 0) {
        log_openssl_limited_at(LOG_LVL_WARN, "new TLS connection");
        stats_add(c->r.stats, STAT_HS_ERR_OTHER, 1);
        return NEXT_CLOSE;
    }
    SSL_set_accept_state(c->r.ssl);
    conn_set_state(c, CONN_HANDSHAKE);
    return NEXT_AGAIN;
}

/* Parked: the client's events change nothing until the callback's owner
 * resumes the handshake (on_resume) or the handshake deadline passes. */
static enum conn_next
step_parked(struct conn *c)
{
    if (c->hs.parked) {
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
        if (evloop_add(c->loop, c->r.bfd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->bh) < 0) {
            stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
            return NEXT_CLOSE;
        }
        conn_set_deadline(c, conn_cfg(c)->timeouts.connect);
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
        c->deadline = evloop_now(c->loop) + (uint64_t)conn_cfg(c)->timeouts.idle * 1000u;
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
    [CONN_HELLO] = {"hello", step_hello},    [CONN_HANDSHAKE] = {"handshake", step_handshake},
    [CONN_PARKED] = {"parked", step_parked}, [CONN_CONNECT] = {"connect", step_connect},
    [CONN_RELAY] = {"relay", step_relay},    [CONN_CLOSED] = {"closed", NULL},
};

static void
conn_set_state(struct conn *c, enum conn_state next)
{
    switch (next) {
    case CONN_HELLO: /* the handshake deadline runs from the accept */
        conn_set_deadline(c, conn_cfg(c)->timeouts.handshake);
        break;
    case CONN_HANDSHAKE: /* from HELLO or PARKED: the same deadline */
        break;
    case CONN_PARKED:
        break;
    case CONN_CONNECT:
        break; /* the deadline is set when the connect starts */
    case CONN_RELAY:
        conn_set_deadline(c, conn_cfg(c)->timeouts.idle);
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
    struct conn_set *set = c->set;

    CHECK(c->state != CONN_CLOSED);
    if (c->state != CONN_HELLO && c->state != CONN_HANDSHAKE && c->state != CONN_PARKED) {
        relay_close_client(&c->r); /* a clean TLS close, best effort */
    }
    /* Unread input would turn our close into a reset; read it away first
     * (not needed once the client has finished sending). */
    if (!c->r.client_eof) {
        char sink[4096];
        for (int i = 0; i < 16 && recv(c->r.cfd, sink, sizeof(sink), 0) > 0; i++) {
        }
    }
    evtimer_disarm(c->loop, &c->timer);
    SSL_free(c->r.ssl); /* releases what a callback hung on it (a pending lookup) */
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
        set->open = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = NULL;
    c->next = set->graveyard;
    set->graveyard = c;
    set->n--;
    stats_active_add(c->r.stats, -1);
    if (set->on_closed != NULL) {
        set->on_closed(set);
    }
}

void
conn_abort_all(struct conn_set *set)
{
    while (set->open != NULL) {
        CHECK_OBJ(set->open, CONN_MAGIC);
        conn_close(set->open);
    }
}

void
conn_reap(struct conn_set *set)
{
    while (set->graveyard != NULL) {
        struct conn *c = set->graveyard;
        set->graveyard = c->next;
        gen_unref(c->gen);
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

/* handshake_resume(): whoever parked the handshake is done waiting. */
static void
on_resume(struct handshake *h)
{
    struct conn *c = CONTAINER_OF(h, struct conn, hs);

    CHECK_OBJ(c, CONN_MAGIC);
    if (c->state == CONN_PARKED) {
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
    if (evloop_now(c->loop) < c->deadline) {
        evtimer_arm(c->loop, &c->timer, c->deadline); /* moved by activity */
        return;
    }
    switch (c->state) {
    case CONN_HELLO:
    case CONN_HANDSHAKE:
    case CONN_PARKED:
        stats_add(c->r.stats, STAT_HS_ERR_TIMEOUT, 1);
        log_debug_limited("conn fd=%d: handshake timeout", c->r.cfd);
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
conn_start(struct conn_set *set, int fd, unsigned fe)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->magic = CONN_MAGIC;
    c->set = set;
    c->gen = gen_ref(set->gen);
    c->fe = fe;
    c->loop = set->env->loop;
    c->hs.magic = HANDSHAKE_MAGIC;
    c->hs.env = set->env;
    c->hs.slot = c->gen->slot[fe];
    c->hs.stats = &set->env->stats[c->hs.slot];
    c->hs.on_resume = on_resume;
    c->r.cfd = fd;
    c->r.bfd = -1;
    c->r.pool = &set->pool;
    c->r.stats = c->hs.stats;
    c->ch.on_event = on_client_event;
    c->bh.on_event = on_backend_event;
    c->timer.on_timer = on_conn_timer;
    c->accepted_us = clock_mono_us();
    if (evloop_add(c->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->ch) < 0) {
        goto fail;
    }
    c->next = set->open;
    if (set->open != NULL) {
        set->open->prev = c;
    }
    set->open = c;
    set->n++;
    stats_add(c->r.stats, STAT_CONNECTIONS_TOTAL, 1);
    stats_active_add(c->r.stats, 1);
    c->state = CONN_HELLO;
    conn_set_state(c, CONN_HELLO);
    return 0;
fail:
    close(fd);
    gen_unref(c->gen);
    c->magic = 0;
    free(c);
    return -ENOMEM;
}
