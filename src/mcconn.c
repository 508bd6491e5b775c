/*
 * mcconn.c - the session cache's memcached operations on a worker's own
 * event loop (see mcconn.h).
 *
 * One connection per server, opened on first use, registered once
 * (edge-triggered, both directions).  Requests are written in order and
 * queued in order; memcached answers a connection's requests in order, so
 * each reply belongs to the queue's head.  The connection's timer sits at
 * the head's deadline.
 *
 * Failures, and who decides what:
 * - no answer by the head's deadline: the connection is closed, every
 *   request on it ends as MC_RES_TIMEOUT, and mc.c's breaker hears of one
 *   timeout (three in a row open it: the server is skipped until the prober
 *   sees it answer).  A fresh connection is opened by the next lookup.
 * - refused, reset, closed, or anything that is not the text protocol: the
 *   requests end as MC_RES_ERROR and the connection stands aside for 50 ms,
 *   doubling with each failure in a row up to 1 s; meanwhile operations for
 *   its server are dropped (counted by the caller).  Whether the server is
 *   down is the prober's call (one authority on that, not two): once it
 *   says so, the breaker skips the server.  The helpers do not take over:
 *   libmemcached aborts the process on some malformed replies (an assert in
 *   its storage path), so replies from a server that speaks out of turn
 *   never reach it from here.
 *
 * Sending: mcconn_submit only appends to the connection's buffer (its caller
 * is inside a handshake); the loop's deferred work (evdefer) sends each
 * connection's buffer once at the end of the pass, so the lookups of one
 * pass share one send, and a write error is handled from a clean stack.
 */
#include "mcconn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "evloop.h"
#include "log.h"

#define MCCONN_PIPELINE     64   /* requests in flight per connection */
#define MCCONN_LINE_MAX     512  /* longest line accepted, and longest command line sent */
#define MCCONN_RETRY_MIN_MS 50   /* stand aside this long after a failed connection, */
#define MCCONN_RETRY_MAX_MS 1000 /* doubling with each failure in a row up to this */
#define MCCONN_CONNECT_MS   1000 /* a connect opened ahead of need gives up after this */
#define MCCONN_BUF_MIN      4096
#define MCCONN_OUT_MAX      (256 * 1024) /* unsent bytes; beyond, the helpers */
#define MCCONN_IN_MAX       (MCCONN_VALUE_MAX + 2 * MCCONN_LINE_MAX)
#define MCCONN_TTL_MAX      (30u * 24 * 3600) /* memcached reads longer ones as a date */

struct mcconn_conn {
    unsigned magic;
#define MCCONN_CONN_MAGIC 0x4d434743u
    struct mcconn *g;
    size_t si; /* server index in mc */
    int fd;
    bool connecting;
    bool answered;        /* this connection has answered before (so it may be stale) */
    bool dirty;           /* c->out holds commands to send at the end of this loop pass */
    uint64_t connect_due; /* connecting without a request: give up then */
    size_t next_addr;     /* the resolved address to try next */
    unsigned failures;    /* in a row, since the last reply */
    uint64_t retry_at_ms; /* after a failure: stand aside until then */
    struct evhandler h;
    struct evtimer timer;
    struct mc_req *head, *tail; /* in flight, oldest first, chained through msg.next */
    size_t npending;
    char *out; /* written but not yet sent */
    size_t outlen, outcap;
    char *in; /* received but not yet parsed */
    size_t inlen, incap;
};

struct mcconn {
    unsigned magic;
#define MCCONN_MAGIC 0x4d434754u
    struct mc *mc;
    struct evloop *loop;
    struct mc_router *router;
    mcconn_done_fn *done;
    void *arg;
    size_t nconns;
    struct mcconn_conn *conns;
    /* Sends what this pass of the loop queued, one send per connection. */
    struct evdefer flush;
};

/* ---- the parser ---- */

/* The line at buf[0..len) without its "\r\n", or NULL if incomplete
 * (*bad when it can never become a line). */
static const char *
line_end(const char *buf, size_t len, bool *bad)
{
    const char *nl = memchr(buf, '\n', len < MCCONN_LINE_MAX ? len : MCCONN_LINE_MAX);

    *bad = false;
    if (nl == NULL) {
        *bad = len >= MCCONN_LINE_MAX;
        return NULL;
    }
    if (nl == buf || nl[-1] != '\r') {
        *bad = true;
        return NULL;
    }
    return nl - 1;
}

static bool
starts(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);

    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0;
}

/* A decimal number of at most `digits` digits (<= 19: no overflow) at *p,
 * followed by a space or the end. */
static bool
number(const char **p, const char *end, int digits, uint64_t *out)
{
    const char *q = *p;
    uint64_t v = 0;

    while (q < end && *q >= '0' && *q <= '9' && q - *p < digits) {
        v = v * 10 + (uint64_t)(*q - '0');
        q++;
    }
    if (q == *p || (q < end && *q != ' ')) {
        return false;
    }
    *p = q;
    *out = v;
    return true;
}

/* A CAS unique: a decimal 64-bit number (up to 20 digits), then the end. */
static bool
cas_number(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;

    if (p == end || end - p > 20) {
        return false;
    }
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

static bool
is(const char *p, const char *end, const char *word)
{
    return (size_t)(end - p) == strlen(word) && memcmp(p, word, (size_t)(end - p)) == 0;
}

enum mcconn_parsed
mcconn_parse(const char *buf, size_t len, enum mc_op op, const char *key, size_t keylen,
             size_t *used, enum mc_result *result, size_t *voff, size_t *vlen, uint64_t *cas)
{
    bool bad;
    const char *end = line_end(buf, len, &bad);

    if (end == NULL) {
        return bad ? MCCONN_BAD : MCCONN_MORE;
    }
    size_t hlen = (size_t)(end - buf) + 2;
    *used = hlen;
    if (is(buf, end, "ERROR") || starts(buf, end, "CLIENT_ERROR ") ||
        starts(buf, end, "SERVER_ERROR ")) {
        *result = MC_RES_ERROR;
        return MCCONN_REPLY;
    }
    switch (op) {
    case MC_SET:
    case MC_ADD:
    case MC_CAS:
        if (is(buf, end, "STORED")) {
            *result = MC_RES_STORED;
        } else if (is(buf, end, "NOT_STORED") || is(buf, end, "EXISTS")) {
            *result = MC_RES_EXISTS;
        } else if (op == MC_CAS && is(buf, end, "NOT_FOUND")) {
            *result = MC_RES_MISS; /* gone since the gets */
        } else {
            return MCCONN_BAD;
        }
        return MCCONN_REPLY;
    case MC_DELETE:
        if (is(buf, end, "DELETED")) {
            *result = MC_RES_HIT;
        } else if (is(buf, end, "NOT_FOUND")) {
            *result = MC_RES_MISS;
        } else {
            return MCCONN_BAD;
        }
        return MCCONN_REPLY;
    case MC_GET:
    case MC_GETS:
        break;
    default:
        return MCCONN_BAD;
    }
    if (is(buf, end, "END")) {
        *result = MC_RES_MISS;
        return MCCONN_REPLY;
    }
    /* VALUE <key> <flags> <bytes>[ <cas>]: the CAS unique is required after
     * a gets and ignored after a get. */
    const char *p = buf;
    uint64_t flags, bytes;
    if (!starts(p, end, "VALUE ")) {
        return MCCONN_BAD;
    }
    p += 6;
    if ((size_t)(end - p) < keylen + 1 || memcmp(p, key, keylen) != 0 || p[keylen] != ' ') {
        return MCCONN_BAD; /* not the key asked for: the stream is out of step */
    }
    p += keylen + 1;
    if (!number(&p, end, 10, &flags) || p == end) {
        return MCCONN_BAD;
    }
    p++;
    if (!number(&p, end, 10, &bytes) || bytes > MCCONN_VALUE_MAX) {
        return MCCONN_BAD;
    }
    (void)flags;
    *cas = 0;
    if (op == MC_GETS && (p == end || !cas_number(p + 1, end, cas))) {
        return MCCONN_BAD;
    }
    /* the value, its "\r\n", then "END\r\n" */
    if (len < hlen + bytes + 7) {
        return MCCONN_MORE;
    }
    const char *v = buf + hlen;
    if (memcmp(v + bytes, "\r\nEND\r\n", 7) != 0) {
        return MCCONN_BAD;
    }
    *used = hlen + bytes + 7;
    *result = MC_RES_HIT;
    *voff = hlen;
    *vlen = bytes;
    return MCCONN_REPLY;
}

/* ---- connections ---- */

/* When the oldest request on c must have had its answer. */
static uint64_t
answer_due(const struct mcconn_conn *c)
{
    return c->head->submitted_us / 1000u + mc_timeout_ms(c->g->mc);
}

static void
finish(struct mcconn *g, struct mc_req *req, enum mc_result r)
{
    req->msg.next = NULL;
    req->result = r;
    req->latency_us = clock_mono_us() - req->submitted_us;
    g->done(g->arg, req);
}

/* How long to stand aside after one more failure in a row. */
static uint64_t
retry_delay(struct mcconn_conn *c)
{
    uint64_t ms = MCCONN_RETRY_MIN_MS;

    if (c->failures < 16) {
        c->failures++;
    }
    for (unsigned i = 1; i < c->failures && ms < MCCONN_RETRY_MAX_MS; i++) {
        ms *= 2;
    }
    return ms < MCCONN_RETRY_MAX_MS ? ms : MCCONN_RETRY_MAX_MS;
}

/* Close the socket and forget what was on it; returns the requests that
 * were in flight (chained through msg.next), now the caller's. */
static struct mc_req *
conn_close(struct mcconn_conn *c)
{
    struct mcconn *g = c->g;
    struct mc_req *list = c->head;

    if (c->fd >= 0) {
        evloop_del(g->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    evtimer_disarm(g->loop, &c->timer);
    c->head = c->tail = NULL;
    c->npending = 0;
    c->outlen = 0;
    c->inlen = 0;
    c->connecting = false;
    c->dirty = false;
    c->answered = false;
    return list;
}

/* Close the connection and end every request on it with `r`. */
static void
conn_fail(struct mcconn_conn *c, enum mc_result r, uint64_t retry_in_ms)
{
    struct mcconn *g = c->g;
    struct mc_req *list = conn_close(c);

    c->retry_at_ms = retry_in_ms > 0 ? clock_mono_ms() + retry_in_ms : 0;
    /* Opened again ahead of need: no request's deadline pays a connect. */
    evtimer_arm(g->loop, &c->timer,
                clock_mono_ms() + (retry_in_ms > 0 ? retry_in_ms : MCCONN_RETRY_MIN_MS));
    /* Detached first: a callback may submit again (a fresh connection). */
    while (list != NULL) {
        struct mc_req *next = (struct mc_req *)list->msg.next;
        finish(g, list, r);
        list = next;
    }
}

static int conn_open(struct mcconn_conn *c);
static int conn_open_or_wait(struct mcconn_conn *c);
static bool put_command(struct mcconn_conn *c, const struct mc_req *req);

/* Append `req` (its command already in c->out) to the requests in flight. */
static void
queue_req(struct mcconn_conn *c, struct mc_req *req)
{
    req->msg.next = NULL;
    if (c->tail != NULL) {
        c->tail->msg.next = &req->msg;
    } else {
        c->head = req;
        evtimer_arm(c->g->loop, &c->timer, answer_due(c));
    }
    c->tail = req;
    c->npending++;
}

/*
 * The connection failed under requests after it had answered before: it may
 * just be stale (memcached restarted, a peer closed it), which says nothing
 * about the server.  Send each request once more on a fresh connection
 * (within its own deadline: the answer is still due timeout_ms after it was
 * first submitted); only what fails again counts.
 */
static void
conn_retry(struct mcconn_conn *c)
{
    struct mcconn *g = c->g;
    struct mc_req *list = conn_close(c);
    int rc = conn_open(c);
    while (list != NULL) {
        struct mc_req *req = (struct mc_req *)list->msg.next;
        struct mc_req *cur = list;
        list = req;
        if (rc == 0 && !cur->retried && c->fd >= 0 && put_command(c, cur)) {
            cur->retried = true;
            queue_req(c, cur);
        } else {
            finish(g, cur, MC_RES_ERROR);
        }
    }
    if (rc < 0) {
        c->retry_at_ms = clock_mono_ms() + retry_delay(c);
        evtimer_arm(g->loop, &c->timer, c->retry_at_ms);
    }
}

/* `stale`: a failure a stale connection would show (closed, reset). */
static void
conn_error(struct mcconn_conn *c, const char *what, int err, bool stale)
{
    log_debug_limited("memcached %s (own connection): %s%s%s", mc_server_name(c->g->mc, c->si),
                      what, err ? ": " : "", err ? strerror(err) : "");
    if (stale && c->answered && c->head != NULL) {
        conn_retry(c);
        return;
    }
    if (err == ECONNREFUSED) {
        mc_health_failure(c->g->mc, c->si, true, "connection refused");
    }
    c->next_addr++; /* a name with several addresses: try the next one next time */
    conn_fail(c, MC_RES_ERROR, retry_delay(c));
}

/* Send what is buffered.  0 (all sent, or the rest waits for EPOLLOUT) or -errno. */
static int
conn_flush(struct mcconn_conn *c)
{
    size_t off = 0;

    while (off < c->outlen) {
        ssize_t n = send(c->fd, c->out + off, c->outlen - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else {
            return n < 0 ? -errno : -EPIPE;
        }
    }
    if (off > 0) {
        memmove(c->out, c->out + off, c->outlen - off);
        c->outlen -= off;
    }
    return 0;
}

/* Hand the replies in c->in to their requests, oldest first. */
static void
conn_parse(struct mcconn_conn *c)
{
    struct mcconn *g = c->g;
    size_t off = 0;

    while (c->head != NULL && off < c->inlen) {
        struct mc_req *req = c->head;
        size_t used = 0, voff = 0, vlen = 0;
        uint64_t cas = 0;
        enum mc_result r = MC_RES_ERROR;
        enum mcconn_parsed p = mcconn_parse(c->in + off, c->inlen - off, req->op, req->key,
                                            req->keylen, &used, &r, &voff, &vlen, &cas);
        if (p == MCCONN_MORE) {
            break;
        }
        if (p == MCCONN_BAD) {
            conn_error(c, "unexpected reply", 0, false);
            return;
        }
        if (r == MC_RES_HIT) {
            req->value = malloc(vlen > 0 ? vlen : 1);
            if (req->value == NULL) {
                r = MC_RES_ERROR;
            } else {
                memcpy(req->value, c->in + off + voff, vlen);
                req->vlen = vlen;
                req->cas = cas;
            }
        }
        off += used;
        c->failures = 0;
        c->answered = true;
        c->head = (struct mc_req *)req->msg.next;
        if (c->head == NULL) {
            c->tail = NULL;
        }
        c->npending--;
        mc_health_success(g->mc, c->si);
        finish(g, req, r);
        if (c->fd < 0) {
            return; /* failed meanwhile (cannot happen today; cheap to be sure) */
        }
    }
    if (c->head == NULL && off < c->inlen) {
        conn_error(c, "a reply nobody asked for", 0, false);
        return;
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
    if (c->head != NULL) {
        evtimer_arm(g->loop, &c->timer, answer_due(c));
    } else {
        evtimer_disarm(g->loop, &c->timer);
    }
}

/* Read everything the socket has (edge-triggered). */
static void
conn_read(struct mcconn_conn *c)
{
    for (;;) {
        if (c->inlen == MCCONN_IN_MAX) {
            conn_error(c, "reply too long", 0, false); /* the parser bounds a reply below this */
            return;
        }
        if (c->incap - c->inlen < MCCONN_BUF_MIN / 2 && c->incap < MCCONN_IN_MAX) {
            size_t cap = c->incap * 2;
            if (cap > MCCONN_IN_MAX) {
                cap = MCCONN_IN_MAX;
            }
            char *in = realloc(c->in, cap);
            if (in == NULL) {
                conn_error(c, "out of memory", 0, false);
                return;
            }
            c->in = in;
            c->incap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
        if (n > 0) {
            c->inlen += (size_t)n;
            conn_parse(c);
            if (c->fd < 0) {
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n == 0 && c->head == NULL && c->inlen == 0) {
            /* An idle connection closed (memcached's idle_timeout, a
             * restart): nothing lost, the next operation reconnects. */
            conn_fail(c, MC_RES_ERROR, 0);
            return;
        }
        conn_error(c, n == 0 ? "closed by the server" : "read failed", n == 0 ? 0 : errno, true);
        return;
    }
}

static void
on_conn_event(struct evhandler *h, uint32_t events)
{
    struct mcconn_conn *c = CONTAINER_OF(h, struct mcconn_conn, h);

    CHECK_OBJ(c, MCCONN_CONN_MAGIC);
    if (c->fd < 0) {
        return;
    }
    if (c->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err != 0) {
            conn_error(c, "connect failed", err, false);
            return;
        }
        c->connecting = false;
        events |= EPOLLOUT;
    }
    if (events & EPOLLOUT) {
        c->dirty = false;
        int rc = conn_flush(c);
        if (rc < 0) {
            conn_error(c, "write failed", -rc, true);
            return;
        }
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        conn_read(c);
    }
}

static void
on_conn_timer(struct evtimer *t)
{
    struct mcconn_conn *c = CONTAINER_OF(t, struct mcconn_conn, timer);

    CHECK_OBJ(c, MCCONN_CONN_MAGIC);
    if (c->head == NULL) {
        if (c->fd < 0 && c->retry_at_ms <= clock_mono_ms()) {
            (void)conn_open_or_wait(c); /* ahead of need */
        } else if (c->fd < 0) {
            evtimer_arm(c->g->loop, &c->timer, c->retry_at_ms);
        } else if (c->connecting && c->connect_due <= clock_mono_ms()) {
            conn_error(c, "connect timed out", 0, false);
        }
        return;
    }
    if (answer_due(c) > clock_mono_ms()) {
        evtimer_arm(c->g->loop, &c->timer, answer_due(c));
        return;
    }
    /* No answer in time: the connection is out of step for good (the late
     * answers would still come); start over, and tell the health model. */
    log_debug_limited("memcached %s (own connection): no answer within %u ms",
                      mc_server_name(c->g->mc, c->si), mc_timeout_ms(c->g->mc));
    mc_health_failure(c->g->mc, c->si, false, "no answer in time");
    conn_fail(c, MC_RES_TIMEOUT, 0);
}

static void
on_flush(struct evdefer *d)
{
    struct mcconn *g = CONTAINER_OF(d, struct mcconn, flush);

    CHECK_OBJ(g, MCCONN_MAGIC);
    for (size_t i = 0; i < g->nconns; i++) {
        struct mcconn_conn *c = &g->conns[i];
        if (!c->dirty) {
            continue;
        }
        c->dirty = false;
        int rc = c->fd >= 0 && !c->connecting ? conn_flush(c) : 0;
        if (rc < 0) {
            conn_error(c, "write failed", -rc, true);
        }
    }
}

/* Open the connection (non-blocking).  0, or -errno. */
static int
conn_open(struct mcconn_conn *c)
{
    struct mcconn *g = c->g;
    socklen_t alen = 0;
    const struct sockaddr *sa = mc_server_addr(g->mc, c->si, c->next_addr, &alen);

    if (sa == NULL && c->next_addr > 0) {
        c->next_addr = 0;
        sa = mc_server_addr(g->mc, c->si, 0, &alen);
    }
    if (sa == NULL) {
        return -EDESTADDRREQ; /* not resolved: the helpers only */
    }
    if (c->in == NULL) {
        if ((c->in = malloc(MCCONN_BUF_MIN)) == NULL) {
            return -ENOMEM;
        }
        c->incap = MCCONN_BUF_MIN;
    }
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, alen) < 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        c->next_addr++;
        return -err;
    }
    int rc = evloop_add(g->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->h);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    c->fd = fd;
    c->connecting = true; /* EPOLLOUT says how it went, even if it is done already */
    c->connect_due = clock_mono_ms() + MCCONN_CONNECT_MS;
    if (c->head == NULL) {
        evtimer_arm(g->loop, &c->timer, c->connect_due);
    }
    return 0;
}

/* Open the connection, or after a failure stand aside (and try again from
 * the timer).  0, or -errno (-EDESTADDRREQ: the name did not resolve). */
static int
conn_open_or_wait(struct mcconn_conn *c)
{
    int rc = conn_open(c);

    if (rc < 0 && rc != -EDESTADDRREQ) {
        log_debug_limited("memcached %s (own connection): cannot connect: %s",
                          mc_server_name(c->g->mc, c->si), strerror(-rc));
        if (rc == -ECONNREFUSED) {
            mc_health_failure(c->g->mc, c->si, true, "connection refused");
        }
        c->retry_at_ms = clock_mono_ms() + retry_delay(c);
        evtimer_arm(c->g->loop, &c->timer, c->retry_at_ms);
    }
    return rc;
}

/* Room for `n` more bytes in c->out (at most MCCONN_OUT_MAX unsent). */
static bool
out_reserve(struct mcconn_conn *c, size_t n)
{
    if (c->outcap - c->outlen >= n) {
        return true;
    }
    if (c->outlen + n > MCCONN_OUT_MAX) {
        return false;
    }
    size_t cap = c->outcap > 0 ? c->outcap : MCCONN_BUF_MIN;
    while (cap < c->outlen + n) {
        cap *= 2;
    }
    char *out = realloc(c->out, cap);
    if (out == NULL) {
        return false;
    }
    c->out = out;
    c->outcap = cap;
    return true;
}

/* The command for `req` at the end of c->out; false if it does not fit. */
static bool
put_command(struct mcconn_conn *c, const struct mc_req *req)
{
    char line[MCCONN_LINE_MAX];
    int n;

    bool store = false;

    switch (req->op) {
    case MC_GET:
    case MC_GETS:
        n = snprintf(line, sizeof(line), "%s %s\r\n", req->op == MC_GET ? "get" : "gets", req->key);
        break;
    case MC_DELETE:
        n = snprintf(line, sizeof(line), "delete %s\r\n", req->key);
        break;
    case MC_SET:
    case MC_ADD:
        /* The caller's TTL as is: over 30 days memcached reads a unix time. */
        n = snprintf(line, sizeof(line), "%s %s 0 %u %zu\r\n", req->op == MC_SET ? "set" : "add",
                     req->key, req->ttl, req->vlen);
        store = true;
        break;
    case MC_CAS:
        n = snprintf(line, sizeof(line), "cas %s 0 %u %zu %llu\r\n", req->key, req->ttl, req->vlen,
                     (unsigned long long)req->cas);
        store = true;
        break;
    default:
        return false;
    }
    if (n <= 0 || (size_t)n >= sizeof(line)) {
        return false;
    }
    size_t body = store ? req->vlen + 2 : 0;
    if (!out_reserve(c, (size_t)n + body)) {
        return false;
    }
    memcpy(c->out + c->outlen, line, (size_t)n);
    c->outlen += (size_t)n;
    if (body > 0) {
        memcpy(c->out + c->outlen, req->value, req->vlen);
        memcpy(c->out + c->outlen + req->vlen, "\r\n", 2);
        c->outlen += body;
    }
    return true;
}

int
mcconn_submit(struct mcconn *g, struct mc_req *req)
{
    CHECK_OBJ(g, MCCONN_MAGIC);
    CHECK_OBJ(req, MC_REQ_MAGIC);
    if (req->op == MC_SET && req->ttl > MCCONN_TTL_MAX) {
        return -ENOTSUP;
    }
    int si = mc_route_placed(g->router, req->key, req->keylen, req->group, req->grouplen);
    if (si == MC_ROUTE_UNKNOWN || (si >= 0 && (size_t)si >= g->nconns)) {
        return -ENOTSUP;
    }
    req->result = MC_RES_DROPPED; /* unless sent below */
    if (si == MC_ROUTE_SKIPPED) {
        return -EAGAIN;
    }
    struct mcconn_conn *c = &g->conns[si];
    if (c->npending >= MCCONN_PIPELINE || (c->fd < 0 && c->retry_at_ms > clock_mono_ms())) {
        return -EAGAIN;
    }
    if (c->fd < 0) {
        int rc = conn_open_or_wait(c);
        if (rc == -EDESTADDRREQ) {
            return -ENOTSUP; /* the name did not resolve at start-up */
        }
        if (rc < 0) {
            return -EAGAIN;
        }
    }
    if (!put_command(c, req)) {
        return -EAGAIN; /* MCCONN_OUT_MAX unsent bytes, or out of memory */
    }
    req->submitted_us = clock_mono_us();
    queue_req(c, req);
    if (!c->connecting && !c->dirty) {
        c->dirty = true; /* sent from the loop, never from inside a handshake */
        evdefer_queue(g->loop, &g->flush);
    }
    return 0;
}

void
mcconn_start(struct mcconn *g)
{
    CHECK_OBJ(g, MCCONN_MAGIC);
    for (size_t i = 0; i < g->nconns; i++) {
        if (g->conns[i].fd < 0) {
            (void)conn_open_or_wait(&g->conns[i]);
        }
    }
}

bool
mcconn_connecting(const struct mcconn *g)
{
    for (size_t i = 0; i < g->nconns; i++) {
        if (g->conns[i].fd >= 0 && g->conns[i].connecting) {
            return true;
        }
    }
    return false;
}

struct mcconn *
mcconn_new(struct mc *mc, struct evloop *loop, mcconn_done_fn *done, void *arg)
{
    struct mcconn *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        return NULL;
    }
    g->magic = MCCONN_MAGIC;
    g->mc = mc;
    g->loop = loop;
    g->done = done;
    g->arg = arg;
    g->nconns = mc_nservers(mc);
    g->conns = calloc(g->nconns, sizeof(*g->conns));
    for (size_t i = 0; g->conns != NULL && i < g->nconns; i++) {
        struct mcconn_conn *c = &g->conns[i];
        c->magic = MCCONN_CONN_MAGIC;
        c->g = g;
        c->si = i;
        c->fd = -1;
        c->h.on_event = on_conn_event;
        c->timer.on_timer = on_conn_timer;
    }
    g->flush.on_defer = on_flush;
    g->router = mc_router_new(mc);
    if (g->conns == NULL || g->router == NULL) {
        mcconn_free(g);
        return NULL;
    }
    return g;
}

void
mcconn_free(struct mcconn *g)
{
    if (g == NULL) {
        return;
    }
    CHECK_OBJ(g, MCCONN_MAGIC);
    for (size_t i = 0; g->conns != NULL && i < g->nconns; i++) {
        struct mcconn_conn *c = &g->conns[i];
        struct mc_req *req = c->head;
        while (req != NULL) {
            struct mc_req *next = (struct mc_req *)req->msg.next;
            CHECK(req->owner == NULL);
            mc_req_free(req);
            req = next;
        }
        if (c->fd >= 0) {
            evloop_del(g->loop, c->fd);
            close(c->fd);
        }
        evtimer_disarm(g->loop, &c->timer);
        free(c->out);
        free(c->in);
        c->magic = 0;
    }
    evdefer_cancel(g->loop, &g->flush);
    mc_router_free(g->router);
    free(g->conns);
    g->magic = 0;
    free(g);
}
