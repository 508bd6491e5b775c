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
 *   accept -> [PROXY] -> HELLO -> HANDSHAKE <-> PARKED
 *                                   |    ^
 *                                   |    +-- EARLY (0-RTT accepted: backend
 *                                   |          connect, early data relayed)
 *                                   +-> CONNECT -> RELAY -> (closed)
 *                                   |      |         |
 *                                   +--- error / timeout --> close (close_notify when we can)
 *
 * PROXY (frontends with accept_proxy): the balancer's PROXY header is read
 * off the socket, and not a byte further, before TLS starts; its client
 * address replaces the balancer's.  It must be whole within the handshake
 * deadline, which runs from the accept.
 * HELLO: nothing has arrived yet, and nothing is allocated for TLS: the SSL
 * is made when the first bytes do, so a scanner or a slow opener costs the
 * struct conn and no more.
 * PARKED: a TLS callback asked to wait (handshake.h).  The client's events
 * are remembered but do not drive the handshake; whoever parked it resumes
 * it.  Only the handshake deadline runs meanwhile.
 * EARLY: on a frontend that offers TLS 1.3 early data the handshake is
 * driven by SSL_read_early_data until it says FINISH (else OpenSSL skips
 * the early data).  Once early data is accepted the backend connect starts
 * at once, the PROXY header (with the early-data TLV) goes in front of the
 * early bytes, and they are sent as they arrive, while the client's
 * Finished is still on its way; then HANDSHAKE completes the handshake and
 * CONNECT finds the backend connected already.  Bytes from the backend wait
 * in the kernel until RELAY.  The handshake deadline bounds it all.
 */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "addr.h"
#include "backend.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "earlydata.h"
#include "evloop.h"
#include "gen.h"
#include "log.h"
#include "proxy_proto.h"
#include "stats.h"
#include "tlsctx.h"
#include "tlsinfo.h"

enum conn_state {
    CONN_PROXY = 0, /* waiting for the balancer's PROXY header */
    CONN_HELLO,     /* accepted, nothing received yet: no SSL */
    CONN_HANDSHAKE,
    CONN_PARKED, /* a TLS callback waits for something; it resumes us */
    CONN_EARLY,  /* early data accepted: relayed while the handshake finishes */
    CONN_CONNECT,
    CONN_RELAY,
    CONN_CLOSED,
};

enum conn_next {
    NEXT_WAIT = 0, /* wait for an event or the deadline */
    NEXT_AGAIN,    /* the state changed: run the new step */
    NEXT_CLOSE,    /* done or failed: close */
};

struct conn_proxied {
    struct addr client, reached;
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
    /* The addresses a balancer's PROXY header named (client, and the one it
     * reached), or NULL: the socket's own (kept out of struct conn so that a
     * connection costs no more than it did without a balancer). */
    struct conn_proxied *proxied;
    struct conn *prev, *next;
    unsigned backend_failed : 1; /* EPOLLERR/EPOLLHUP on the backend socket */
    unsigned client_hup : 1;     /* EPOLLRDHUP/EPOLLHUP: the client sends no more */
    unsigned early : 1;          /* SSL_read_early_data drives the handshake until FINISH */
    unsigned backend_up : 1;     /* the backend connect completed */
    unsigned proxy_queued : 1;   /* the PROXY header is in the buffer (or none is sent) */
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

/* The client's address: the one a balancer named, else the socket's peer. */
static void
conn_client(const struct conn *c, struct addr *out)
{
    if (c->proxied != NULL) {
        *out = c->proxied->client;
        return;
    }
    out->len = sizeof(out->ss);
    if (getpeername(c->r.cfd, (struct sockaddr *)&out->ss, &out->len) < 0) {
        memset(out, 0, sizeof(*out));
    }
}

static const char *
conn_client_text(const struct conn *c, char *buf, size_t len)
{
    struct addr a;

    conn_client(c, &a);
    return addr_format(&a, buf, len);
}

/* "conn 192.0.2.1:5678 fd=12: ..." (debug only, so the address is looked up
 * only when the line is written). */
#define CONN_LOG(c, fmt, ...)                                                                      \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_DEBUG)) {                                                          \
            char conn_log_addr_[64];                                                               \
            log_debug_limited("conn %s fd=%d: " fmt,                                               \
                              conn_client_text((c), conn_log_addr_, sizeof(conn_log_addr_)),       \
                              (c)->r.cfd, ##__VA_ARGS__);                                          \
        }                                                                                          \
    } while (0)

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

/* SSL_do_handshake or SSL_read_early_data stopped short with `e`: wait for
 * what it wants, or count the failure and close. */
static enum conn_next
handshake_stopped(struct conn *c, int e)
{
    struct stats *st = c->r.stats;

    switch (e) {
    case SSL_ERROR_NONE: /* early data: the buffer is full, the backend's EPOLLOUT wakes us */
        return NEXT_WAIT;
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
        earlydata_count_too_large(c->r.ssl); /* reads the error queue */
        stats_add(st, handshake_error_reason(e), 1);
        tlsctx_count_client_cert(c->r.ssl, st, false); /* reads the error queue */
        relay_ssl_failed(&c->r, "handshake failed", e);
        return NEXT_CLOSE;
    }
}

static int conn_backend_start(struct conn *c);
static int conn_queue_proxy(struct conn *c, bool in_front);

/*
 * The handshake on a frontend that offers early data: SSL_read_early_data
 * until it says FINISH (SSL_read_early_data(3): SSL_do_handshake first
 * would skip the early data).  Once OpenSSL has accepted early data the
 * backend connect starts and the connection moves to EARLY; bytes already
 * read sit behind room kept for the PROXY header.
 */
static enum conn_next
handshake_early(struct conn *c)
{
    size_t reserve = conn_frontend(c)->proxy_protocol != CONFIG_PROXY_OFF ? PROXY_PROTO_OUT_MAX : 0;
    int e;
    int rc = relay_read_early(&c->r, reserve, &e);

    if (rc == SSL_READ_EARLY_DATA_ERROR && e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ &&
        e != SSL_ERROR_WANT_WRITE) {
        return handshake_stopped(c, e); /* parked, or failed */
    }
    if (rc == SSL_READ_EARLY_DATA_FINISH) {
        c->early = 0; /* the next turn completes the handshake */
    }
    if (SSL_get_early_data_status(c->r.ssl) == SSL_EARLY_DATA_ACCEPTED && c->r.bfd < 0) {
        if (conn_backend_start(c) < 0 || conn_queue_proxy(c, true) < 0) {
            return NEXT_CLOSE;
        }
        conn_set_state(c, CONN_EARLY);
        return NEXT_AGAIN;
    }
    return rc == SSL_READ_EARLY_DATA_ERROR ? handshake_stopped(c, e) : NEXT_AGAIN;
}

static enum conn_next
step_handshake(struct conn *c)
{
    struct stats *st = c->r.stats;
    int r;

    if (c->early) {
        return handshake_early(c);
    }
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
    return handshake_stopped(c, SSL_get_error(c->r.ssl, r));
}

static const enum stats_id conn_proxy_errors[PROXY_PROTO_ERR_COUNT] = {
    [PROXY_PROTO_ERR_NONE] = STAT_PROXY_ERR_MALFORMED,
    [PROXY_PROTO_ERR_SIGNATURE] = STAT_PROXY_ERR_SIGNATURE,
    [PROXY_PROTO_ERR_VERSION] = STAT_PROXY_ERR_VERSION,
    [PROXY_PROTO_ERR_COMMAND] = STAT_PROXY_ERR_COMMAND,
    [PROXY_PROTO_ERR_FAMILY] = STAT_PROXY_ERR_FAMILY,
    [PROXY_PROTO_ERR_OVERSIZED] = STAT_PROXY_ERR_OVERSIZED,
    [PROXY_PROTO_ERR_MALFORMED] = STAT_PROXY_ERR_MALFORMED,
};

/* Is `sa` one of the frontend's balancers (proxy_from)? */
static bool
conn_from_balancer(const struct config_frontend *fe, const struct sockaddr *sa)
{
    for (size_t i = 0; i < fe->nproxy_from; i++) {
        if (cidr_match(&fe->proxy_from[i], sa)) {
            return true;
        }
    }
    return false;
}

/*
 * The balancer's PROXY header.  It is peeked at, not read, until it is
 * whole; then exactly its bytes are taken off the socket, so the TLS bytes
 * behind it stay for the handshake.  A header that cannot become valid is
 * refused as soon as the parser can tell (a signature on its first byte, a
 * v1 line at its end); one that stops short waits for the handshake
 * deadline at most (on_conn_timer counts it).
 */
static enum conn_next
step_proxy(struct conn *c)
{
    unsigned char buf[PROXY_PROTO_IN_MAX];
    struct proxy_proto_header h;
    enum proxy_proto_error err = PROXY_PROTO_ERR_NONE;
    ssize_t n, len;

    if (!c->r.client_rd) {
        return NEXT_WAIT;
    }
    n = recv(c->r.cfd, buf, sizeof(buf), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        c->r.client_rd = 0;
        return NEXT_WAIT;
    }
    len = n > 0 ? proxy_proto_parse(buf, (size_t)n, &h, &err) : 0;
    if (len == 0 && (size_t)n == sizeof(buf)) {
        len = -1;
        err = PROXY_PROTO_ERR_OVERSIZED;
    }
    if (len == 0 && (n <= 0 || c->client_hup)) {
        /* A peek sees the bytes, never the FIN behind them: epoll said it. */
        stats_add(c->r.stats, STAT_PROXY_ERR_TRUNCATED, 1);
        CONN_LOG(c, "PROXY header: closed before it was whole");
        c->r.client_eof = 1;
        return NEXT_CLOSE;
    }
    if (len < 0) {
        stats_add(c->r.stats, conn_proxy_errors[err], 1);
        CONN_LOG(c, "PROXY header refused: %s", proxy_proto_error_name(err));
        return NEXT_CLOSE;
    }
    if (len == 0) {
        /* A valid beginning: the next bytes bring the next edge. */
        c->r.client_rd = 0;
        return NEXT_WAIT;
    }
    if (recv(c->r.cfd, buf, (size_t)len, 0) != len) { /* what was peeked is there */
        stats_add(c->r.stats, STAT_PROXY_ERR_TRUNCATED, 1);
        return NEXT_CLOSE;
    }
    stats_add(c->r.stats, STAT_PROXY_HEADERS, 1);
    if (!h.local) {
        char was[64] = "";
        socklen_t alen =
            h.src.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

        if (log_enabled(LOG_LVL_DEBUG)) {
            conn_client_text(c, was, sizeof(was));
        }
        if ((c->proxied = malloc(sizeof(*c->proxied))) == NULL) {
            return NEXT_CLOSE;
        }
        c->proxied->client.ss = h.src;
        c->proxied->client.len = alen;
        c->proxied->reached.ss = h.dst;
        c->proxied->reached.len = alen;
        CONN_LOG(c, "PROXY v%d header from %s", h.version, was);
    }
    conn_set_state(c, CONN_HELLO);
    return NEXT_AGAIN;
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
        CONN_LOG(c, "closed before sending anything%s%s", n < 0 ? ": " : "",
                 n < 0 ? strerror(errno) : "");
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
    c->early = SSL_get_max_early_data(c->r.ssl) > 0; /* the frontend offers early data */
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

/*
 * The PROXY header for the backend (proxy_protocol v1 or v2), queued ahead
 * of the client's bytes so that it leaves in the first write: the client's
 * address (or the one its balancer named) and the address it reached, and
 * for v2 what TLS negotiated.
 */
static int
conn_queue_proxy(struct conn *c, bool in_front)
{
    int version = conn_frontend(c)->proxy_protocol;
    struct proxy_proto_addrs a;
    struct addr local;
    unsigned char buf[PROXY_PROTO_OUT_MAX];
    struct tlsinfo info;
    ssize_t n;

    c->proxy_queued = 1;
    if (version == CONFIG_PROXY_OFF) {
        return 0;
    }
    memset(&a, 0, sizeof(a));
    if (c->proxied != NULL) {
        a.src = c->proxied->client.ss;
        a.dst = c->proxied->reached.ss;
    } else {
        conn_client(c, &local);
        a.src = local.ss;
        local.len = sizeof(local.ss);
        /* The address reached is the listener's, unless it listens on all
         * of them: only then ask the socket. */
        if (!addr_is_any(&conn_frontend(c)->listen)) {
            a.dst = conn_frontend(c)->listen.ss;
        } else if (getsockname(c->r.cfd, (struct sockaddr *)&local.ss, &local.len) == 0) {
            a.dst = local.ss;
        }
    }
    if (version == CONFIG_PROXY_V1) {
        n = proxy_proto_encode_v1(&a, (char *)buf, sizeof(buf));
    } else {
        tlsinfo_describe(c->r.ssl, &info);
        n = proxy_proto_encode_v2(&a, &info.tls, buf, sizeof(buf));
    }
    if (n < 0 || (in_front ? relay_prepend_backend(&c->r, buf, (size_t)n)
                           : relay_queue_backend(&c->r, buf, (size_t)n)) < 0) {
        CONN_LOG(c, "PROXY header for the backend: no room");
        return -1;
    }
    return 0;
}

/* Start the backend connect.  0, or -1 (counted). */
static int
conn_backend_start(struct conn *c)
{
    c->r.bfd = backend_connect_start(&conn_frontend(c)->backend);
    if (c->r.bfd < 0) {
        CONN_LOG(c, "backend %s: %s", conn_frontend(c)->backend_text, strerror(-c->r.bfd));
        stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
        return -1;
    }
    if (evloop_add(c->loop, c->r.bfd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->bh) < 0) {
        stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
        return -1;
    }
    return 0;
}

/* Has the backend connect completed?  1 yes, 0 not yet, -1 failed (counted).
 * A connecting socket reports EPOLLOUT once connected and EPOLLERR or
 * EPOLLHUP once failed (connect(2)); only a failure needs SO_ERROR. */
static int
conn_backend_check(struct conn *c)
{
    int r;

    if (c->backend_up) {
        return 1;
    }
    if (c->backend_failed) {
        r = backend_connect_result(c->r.bfd);
        if (r < 0 || !c->r.backend_wr) {
            CONN_LOG(c, "backend %s: %s", conn_frontend(c)->backend_text,
                     strerror(r < 0 ? -r : ECONNREFUSED));
            stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
            return -1;
        }
    }
    if (!c->r.backend_wr) {
        return 0;
    }
    c->backend_up = 1;
    return 1;
}

/*
 * Early data accepted, handshake not complete: the backend connects, the
 * early bytes go to it as they arrive, until SSL_read_early_data says
 * FINISH (the client's EndOfEarlyData); then HANDSHAKE reads its Finished.
 */
static enum conn_next
step_early(struct conn *c)
{
    int progress, up, rc, e;

    do {
        progress = 0;
        if ((up = conn_backend_check(c)) < 0) {
            return NEXT_CLOSE;
        }
        if (up > 0 && (progress = relay_flush_backend(&c->r)) < 0) {
            return NEXT_CLOSE;
        }
        if (!c->early) {
            conn_set_state(c, CONN_HANDSHAKE);
            return NEXT_AGAIN;
        }
        rc = relay_read_early(&c->r, 0, &e);
        if (rc == SSL_READ_EARLY_DATA_FINISH) {
            c->early = 0;
            progress = 1;
        } else if (rc == SSL_READ_EARLY_DATA_SUCCESS) {
            progress = 1;
        } else if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            return handshake_stopped(c, e);
        }
    } while (progress);
    return NEXT_WAIT;
}

static enum conn_next
step_connect(struct conn *c)
{
    int up;

    if (c->r.bfd < 0) {
        if (conn_backend_start(c) < 0) {
            return NEXT_CLOSE;
        }
        conn_set_deadline(c, conn_cfg(c)->timeouts.connect);
        return NEXT_WAIT;
    }
    if ((up = conn_backend_check(c)) <= 0) {
        return up < 0 ? NEXT_CLOSE : NEXT_WAIT;
    }
    if (!c->proxy_queued && conn_queue_proxy(c, false) < 0) {
        return NEXT_CLOSE;
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
    [CONN_PROXY] = {"proxy", step_proxy},
    [CONN_HELLO] = {"hello", step_hello},
    [CONN_HANDSHAKE] = {"handshake", step_handshake},
    [CONN_PARKED] = {"parked", step_parked},
    [CONN_EARLY] = {"early", step_early},
    [CONN_CONNECT] = {"connect", step_connect},
    [CONN_RELAY] = {"relay", step_relay},
    [CONN_CLOSED] = {"closed", NULL},
};

static void
conn_set_state(struct conn *c, enum conn_state next)
{
    switch (next) {
    case CONN_PROXY:
    case CONN_HELLO: /* the handshake deadline runs from the accept (conn_start) */
        break;
    case CONN_HANDSHAKE: /* from HELLO or PARKED: the same deadline */
        break;
    case CONN_PARKED:
    case CONN_EARLY: /* the handshake deadline bounds the early connect too */
        break;
    case CONN_CONNECT:
        if (c->r.bfd >= 0) { /* started for early data: its own timeout from now */
            conn_set_deadline(c, conn_cfg(c)->timeouts.connect);
        }
        break; /* otherwise the deadline is set when the connect starts */
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
    if (c->state == CONN_CONNECT || c->state == CONN_RELAY) {
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
        free(c->proxied);
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
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        c->client_hup = 1;
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
    case CONN_PROXY:
        stats_add(c->r.stats, STAT_PROXY_ERR_TIMEOUT, 1);
        CONN_LOG(c, "PROXY header timeout");
        break;
    case CONN_HELLO:
    case CONN_HANDSHAKE:
    case CONN_PARKED:
    case CONN_EARLY:
        stats_add(c->r.stats, STAT_HS_ERR_TIMEOUT, 1);
        CONN_LOG(c, "handshake timeout");
        break;
    case CONN_CONNECT:
        stats_add(c->r.stats, STAT_BACKEND_CONNECT_ERRORS, 1);
        CONN_LOG(c, "backend connect timeout");
        break;
    case CONN_RELAY:
        CONN_LOG(c, "idle timeout");
        break;
    case CONN_CLOSED:
        return;
    }
    conn_close(c);
}

int
conn_start(struct conn_set *set, int fd, unsigned fe, const struct addr *peer)
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
    conn_set_deadline(c, conn_cfg(c)->timeouts.handshake);
    if (!conn_frontend(c)->accept_proxy) {
        c->state = CONN_HELLO;
    } else if (conn_from_balancer(conn_frontend(c), (const struct sockaddr *)&peer->ss)) {
        c->state = CONN_PROXY;
    } else {
        /* Only the balancers named may speak for a client. */
        stats_add(c->r.stats, STAT_PROXY_ERR_SOURCE, 1);
        CONN_LOG(c, "PROXY header expected, but not from a proxy_from address");
        c->state = CONN_PROXY;
        conn_close(c);
    }
    return 0;
fail:
    close(fd);
    gen_unref(c->gen);
    c->magic = 0;
    free(c);
    return -ENOMEM;
}
