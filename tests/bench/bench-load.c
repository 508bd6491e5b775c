/*
 * bench-load.c - one load thread's closed loop: a slot connects, handshakes, makes one HTTP
 * exchange (bulk: echoes --bytes; idle: then holds the connection) and starts again at once.
 * A load thread owns its epoll instance, slots, sockets, SSL objects and counters; it shares
 * only the SSL_CTX (read-only after set-up) and the phase clock (bench-phase.c) with the others.
 */
#include "bench-load.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>

#include "bench-phase.h"
#include "bench.h"

#define SLOT_MAGIC   0x534c4f54u
#define THREAD_MAGIC 0x54485244u
#define IO_CHUNK     16384

enum slot_state {
    SLOT_FREE = 0,
    SLOT_CONNECT,
    SLOT_HANDSHAKE,
    SLOT_REQUEST,
    SLOT_RESPONSE,
    SLOT_BULK,
    SLOT_HOLD,
};

/*
 * One connection's worth of state; reused for the next connection once released.  A slot owns
 * its socket, its SSL and the SSL_SESSION it offers next; with --prime-port it takes its own
 * reference to the pool entry it offers.
 */
struct slot {
    unsigned magic;
    enum slot_state state;
    struct load_thread *thread;
    struct slot *next_free;
    int fd;
    uint32_t events;
    SSL *ssl;
    SSL_SESSION *session;
    uint64_t start_ns;
    uint64_t deadline_ns;
    uint64_t hs_ns;
    bool measured;
    bool reused;
    /* The response head, kept until the blank line that ends it is seen. */
    char head[2048];
    size_t head_len;
    bool head_done;
    bool has_length;
    long body_left;
    /* Bulk transfer progress. */
    long sent;
    long received;
};

static SSL_CTX *bench_ctx;
static const char bench_request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
static char bench_payload[IO_CHUNK];
/* Exchanges measured so far by all load threads, against --count. */
static _Atomic long measured_done;

void
bench_load_lat_record(struct load_thread *t, uint64_t ns)
{
    if (t->nlat == t->caplat) {
        size_t cap = t->caplat ? t->caplat * 2 : 4096;
        uint32_t *p = realloc(t->lat_us, cap * sizeof(*p));
        BENCH_CHECK(p != NULL);
        t->lat_us = p;
        t->caplat = cap;
    }
    uint64_t us = ns / 1000u;
    t->lat_us[t->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Change the slot's epoll interest to `events` (0: none) with as few epoll_ctl calls as can. */
static void
slot_want(struct slot *s, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = s};

    if (events == s->events) {
        return;
    }
    if (s->events == 0) {
        BENCH_CHECK(epoll_ctl(s->thread->epfd, EPOLL_CTL_ADD, s->fd, &ev) == 0);
    } else if (events == 0) {
        BENCH_CHECK(epoll_ctl(s->thread->epfd, EPOLL_CTL_DEL, s->fd, &ev) == 0);
    } else {
        BENCH_CHECK(epoll_ctl(s->thread->epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0);
    }
    s->events = events;
}

/*
 * Close the slot's connection and return the slot to the free list.  `clean` sends a
 * close_notify first (the peer's is not awaited: the server sees our FIN right after it).
 */
static void
slot_release(struct slot *s, bool clean)
{
    struct load_thread *t = s->thread;

    if (s->ssl != NULL) {
        if (clean) {
            ERR_clear_error();
            (void)SSL_shutdown(s->ssl);
        }
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        /* close() also drops the descriptor from the epoll set. */
        close(s->fd);
        s->fd = -1;
    }
    s->events = 0;
    if (s->state != SLOT_HOLD && s->state != SLOT_FREE) {
        t->in_flight--;
    }
    s->state = SLOT_FREE;
    s->next_free = t->free_list;
    t->free_list = s;
}

static void
slot_fail(struct slot *s)
{
    struct load_thread *t = s->thread;

    t->errors++;
    switch (s->state) {
    case SLOT_CONNECT:
        t->err_connect++;
        break;
    case SLOT_HANDSHAKE:
        t->err_handshake++;
        break;
    case SLOT_REQUEST:
    case SLOT_RESPONSE:
    case SLOT_BULK:
    case SLOT_FREE:
    case SLOT_HOLD:
        t->err_exchange++;
        break;
    }
    atomic_fetch_add_explicit(&total_errors, 1, memory_order_relaxed);
    ERR_clear_error();
    slot_release(s, false);
}

/* Add a session (its reference passes to the pool) to the thread's pool. */
static void
pool_push(struct load_thread *t, SSL_SESSION *sess)
{
    if (t->npool == t->cappool) {
        long cap = t->cappool ? t->cappool * 2 : 1024;
        SSL_SESSION **p = realloc(t->pool, (size_t)cap * sizeof(*p));
        BENCH_CHECK(p != NULL);
        t->pool = p;
        t->cappool = cap;
    }
    t->pool[t->npool++] = sess;
}

/*
 * The next session of the pool for a new connection, with a reference for the caller.  The
 * pool is used in order; once every entry has been offered it starts over, and each such
 * repeat is counted in pool_reused (a repeated TLS 1.2 session is in the resuming server's
 * own first-level cache by then, so a run that repeats does not measure first sight).
 */
static SSL_SESSION *
pool_take(struct load_thread *t)
{
    if (t->npool == 0) {
        return NULL;
    }
    if (t->pool_next >= t->npool) {
        t->pool_reused++;
    }
    SSL_SESSION *sess = t->pool[t->pool_next % t->npool];
    t->pool_next++;
    SSL_SESSION_up_ref(sess);
    return sess;
}

static void
pool_free(struct load_thread *t)
{
    for (long i = 0; i < t->npool; i++) {
        SSL_SESSION_free(t->pool[i]);
    }
    free(t->pool);
    t->pool = NULL;
    t->npool = 0;
    t->cappool = 0;
}

/*
 * Keep the session that the next connection of this slot offers.  For TLS 1.3 the new-session
 * callback does this as tickets arrive; for TLS 1.2 the session at the end of the connection
 * is the one to keep (a renewed ticket replaces the offered one inside it).
 */
static void
slot_keep_session(struct slot *s)
{
    if (opt.resume == RESUME_NONE || SSL_version(s->ssl) == TLS1_3_VERSION) {
        return;
    }
    SSL_SESSION *sess = SSL_get1_session(s->ssl);
    if (sess == NULL) {
        return;
    }
    if (!SSL_SESSION_is_resumable(sess)) {
        SSL_SESSION_free(sess);
        return;
    }
    if (s->thread->priming) {
        pool_push(s->thread, sess);
        return;
    }
    if (s->session != NULL) {
        SSL_SESSION_free(s->session);
    }
    s->session = sess;
}

/* A connection ran its course: count it and close it. */
static void
slot_finish(struct slot *s)
{
    slot_keep_session(s);
    slot_release(s, true);
}

static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct slot *s = SSL_get_app_data(ssl);

    BENCH_CHECK(s != NULL && s->magic == SLOT_MAGIC);
    if (opt.resume == RESUME_NONE || SSL_version(ssl) != TLS1_3_VERSION) {
        return 0;
    }
    /* While priming every ticket counts: each is a session of its own on the server. */
    if (s->thread->priming) {
        pool_push(s->thread, sess);
        return 1;
    }
    /* Keep only the newest ticket: TLS 1.3 clients use a ticket once (RFC 8446 C.4). */
    if (s->session != NULL) {
        SSL_SESSION_free(s->session);
    }
    s->session = sess;
    return 1;
}

static void
slot_start(struct load_thread *t)
{
    struct slot *s = t->free_list;

    BENCH_CHECK(s != NULL && s->state == SLOT_FREE);
    t->free_list = s->next_free;
    s->next_free = NULL;
    s->start_ns = now_ns();
    s->deadline_ns = s->start_ns + secs_to_ns(opt.conn_timeout);
    s->head_len = 0;
    s->head_done = false;
    s->has_length = false;
    s->body_left = 0;
    s->sent = 0;
    s->received = 0;
    s->events = 0;
    s->state = SLOT_CONNECT;
    t->in_flight++;
    t->launched++;

    const struct sockaddr_storage *addr = t->priming ? &opt.prime_addr : &opt.addr;
    socklen_t addrlen = t->priming ? opt.prime_addrlen : opt.addrlen;
    if (opt.prime && !t->priming) {
        /* Every connection offers a session made on the priming server. */
        if (s->session != NULL) {
            SSL_SESSION_free(s->session);
        }
        s->session = pool_take(t);
    }
    s->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        slot_fail(s);
        return;
    }
    int one = 1;
    (void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(s->fd, (const struct sockaddr *)addr, addrlen) < 0 && errno != EINPROGRESS) {
        slot_fail(s);
        return;
    }
    slot_want(s, EPOLLOUT);
}

/* Scan the response head once it is complete; returns -1 on a head that is not HTTP. */
static int
slot_parse_head(struct slot *s, size_t head_end)
{
    if (s->head_len < 5 || memcmp(s->head, "HTTP/", 5) != 0) {
        return -1;
    }
    s->has_length = false;
    for (size_t i = 0; i + 15 < head_end; i++) {
        if ((i == 0 || s->head[i - 1] == '\n') &&
            strncasecmp(s->head + i, "content-length:", 15) == 0) {
            s->body_left = strtol(s->head + i + 15, NULL, 10);
            s->has_length = true;
            break;
        }
    }
    if (s->has_length) {
        s->body_left -= (long)(s->head_len - head_end);
    }
    s->head_done = true;
    return 0;
}

/*
 * Feed response bytes.  Returns 1 when the response is complete, 0 when more is to come (a
 * response without Content-Length ends with the connection), -1 on a malformed response.
 */
static int
slot_take_response(struct slot *s, const char *data, size_t len)
{
    size_t take = 0;

    if (!s->head_done) {
        size_t room = sizeof(s->head) - 1 - s->head_len;
        take = len < room ? len : room;
        memcpy(s->head + s->head_len, data, take);
        s->head_len += take;
        s->head[s->head_len] = '\0';
        char *end = strstr(s->head, "\r\n\r\n");
        if (end == NULL) {
            return take < len || s->head_len == sizeof(s->head) - 1 ? -1 : 0;
        }
        if (slot_parse_head(s, (size_t)(end - s->head) + 4) < 0) {
            return -1;
        }
    }
    if (!s->has_length) {
        return 0;
    }
    /* Bytes past `take` belong to the body. */
    s->body_left -= (long)(len - take);
    return s->body_left == 0 ? 1 : (s->body_left < 0 ? -1 : 0);
}

/* Map an SSL_* failure to an epoll interest; returns false when the connection failed. */
static bool
slot_wait_ssl(struct slot *s, int ret)
{
    switch (SSL_get_error(s->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        slot_want(s, EPOLLIN);
        return true;
    case SSL_ERROR_WANT_WRITE:
        slot_want(s, EPOLLOUT);
        return true;
    default:
        return false;
    }
}

static bool
slot_counts(void)
{
    return atomic_load(&phase) == PHASE_MEASURE;
}

/* The handshake just completed: note its time and whether it resumed. */
static void
slot_handshake_done(struct slot *s)
{
    struct load_thread *t = s->thread;

    s->measured = slot_counts();
    s->hs_ns = now_ns() - s->start_ns;
    s->reused = SSL_session_reused(s->ssl) == 1;
    if (t->params[0] == '\0') {
        /* What was negotiated, once, so that a run shows the cell it really measured. */
        int group = SSL_get_negotiated_group(s->ssl);
        int sig = NID_undef;
        const char *group_name = group > 0 ? SSL_group_to_name(s->ssl, group) : NULL;
        (void)SSL_get_peer_signature_type_nid(s->ssl, &sig);
        snprintf(t->params, sizeof(t->params), "proto=%s cipher=%s group=%s peer_sig=%s",
                 SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl),
                 group_name != NULL ? group_name : "none",
                 sig != NID_undef ? OBJ_nid2sn(sig) : "none");
    }
}

/*
 * The whole exchange of one connection is over.  It counts when both its handshake and its
 * end fall in the measured window; the --count'th such exchange ends the window.
 */
static void
slot_exchange_done(struct slot *s)
{
    struct load_thread *t = s->thread;

    if (opt.mode == MODE_IDLE) {
        bench_load_lat_record(t, s->hs_ns);
        t->resumed += s->reused ? 1 : 0;
        return;
    }
    if (!s->measured || !slot_counts()) {
        return;
    }
    long n = atomic_fetch_add(&measured_done, 1) + 1;
    if (opt.count > 0 && n > opt.count) {
        return;
    }
    t->done++;
    t->resumed += s->reused ? 1 : 0;
    bench_load_lat_record(t, s->hs_ns);
    if (opt.count > 0 && n == opt.count) {
        bench_phase_advance(PHASE_MEASURE, false);
    }
}

static void
slot_do_bulk(struct slot *s)
{
    struct load_thread *t = s->thread;
    char buf[IO_CHUNK];
    uint32_t want = 0;

    while (s->sent < opt.bulk_bytes) {
        long left = opt.bulk_bytes - s->sent;
        int len = left < IO_CHUNK ? (int)left : IO_CHUNK;
        ERR_clear_error();
        int n = SSL_write(s->ssl, bench_payload, len);
        if (n <= 0) {
            int err = SSL_get_error(s->ssl, n);
            if (err == SSL_ERROR_WANT_WRITE) {
                want |= EPOLLOUT;
                break;
            }
            if (err == SSL_ERROR_WANT_READ) {
                break;
            }
            slot_fail(s);
            return;
        }
        s->sent += n;
    }
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(s->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int err = SSL_get_error(s->ssl, n);
            if (err == SSL_ERROR_WANT_READ) {
                break;
            }
            if (err == SSL_ERROR_WANT_WRITE) {
                want |= EPOLLOUT;
                break;
            }
            slot_fail(s);
            return;
        }
        s->received += n;
        if (slot_counts()) {
            t->bytes += (uint64_t)n;
        }
        if (s->received >= opt.bulk_bytes) {
            slot_exchange_done(s);
            slot_finish(s);
            return;
        }
    }
    slot_want(s, want | EPOLLIN);
}

/* Run the slot's state machine until it must wait for the socket. */
static void
slot_run(struct slot *s)
{
    char buf[IO_CHUNK];

    for (;;) {
        switch (s->state) {
        case SLOT_FREE:
            return;
        case SLOT_CONNECT: {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                slot_fail(s);
                return;
            }
            if (opt.mode == MODE_IDLE && opt.silent) {
                /* Connected, and that is all: what a scanner or a slow opener costs. */
                s->state = SLOT_HOLD;
                s->thread->in_flight--;
                s->thread->held++;
                slot_want(s, EPOLLIN);
                return;
            }
            s->ssl = SSL_new(bench_ctx);
            if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
                slot_fail(s);
                return;
            }
            SSL_set_app_data(s->ssl, s);
            if (opt.sni != NULL) {
                SSL_set_tlsext_host_name(s->ssl, opt.sni);
            }
            if (s->session != NULL) {
                SSL_set_session(s->ssl, s->session);
            }
            SSL_set_connect_state(s->ssl);
            s->state = SLOT_HANDSHAKE;
            break;
        }
        case SLOT_HANDSHAKE: {
            ERR_clear_error();
            int r = SSL_do_handshake(s->ssl);
            if (r != 1) {
                if (!slot_wait_ssl(s, r)) {
                    slot_fail(s);
                }
                return;
            }
            slot_handshake_done(s);
            s->state = opt.mode == MODE_BULK ? SLOT_BULK : SLOT_REQUEST;
            break;
        }
        case SLOT_REQUEST: {
            ERR_clear_error();
            int r = SSL_write(s->ssl, bench_request, (int)sizeof(bench_request) - 1);
            if (r <= 0) {
                if (!slot_wait_ssl(s, r)) {
                    slot_fail(s);
                }
                return;
            }
            s->state = SLOT_RESPONSE;
            break;
        }
        case SLOT_RESPONSE: {
            ERR_clear_error();
            int r = SSL_read(s->ssl, buf, sizeof(buf));
            if (r <= 0) {
                int err = SSL_get_error(s->ssl, r);
                if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) {
                    /* A reply without a length ends with the connection. */
                    if (s->head_done && !s->has_length) {
                        slot_exchange_done(s);
                        slot_finish(s);
                    } else {
                        slot_fail(s);
                    }
                    return;
                }
                if (!slot_wait_ssl(s, r)) {
                    slot_fail(s);
                }
                return;
            }
            int st = slot_take_response(s, buf, (size_t)r);
            if (st < 0) {
                slot_fail(s);
                return;
            }
            if (st == 0) {
                break;
            }
            if (opt.mode == MODE_IDLE) {
                slot_exchange_done(s);
                slot_keep_session(s);
                s->state = SLOT_HOLD;
                s->thread->in_flight--;
                s->thread->held++;
                /* Still watch for the server closing an idle connection. */
                slot_want(s, EPOLLIN);
                return;
            }
            slot_exchange_done(s);
            slot_finish(s);
            return;
        }
        case SLOT_BULK:
            slot_do_bulk(s);
            return;
        case SLOT_HOLD: {
            if (s->ssl == NULL) { /* --silent */
                ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
                if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
                    return;
                }
                s->thread->held--;
                s->thread->dropped++;
                slot_release(s, false);
                return;
            }
            ERR_clear_error();
            int r = SSL_read(s->ssl, buf, sizeof(buf));
            if (r > 0 || SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_READ) {
                return;
            }
            s->thread->held--;
            s->thread->dropped++;
            slot_release(s, false);
            return;
        }
        }
    }
}

void
bench_load_fill(struct load_thread *t)
{
    while (t->free_list != NULL && t->in_flight < t->conc && atomic_load(&phase) != PHASE_DONE) {
        if (t->limit > 0 && t->launched >= t->limit) {
            return;
        }
        slot_start(t);
    }
}

/* Fail connections that passed their deadline (a server that stalls must not hang the run). */
void
bench_load_expire(struct load_thread *t, uint64_t now)
{
    for (int i = 0; i < t->nslots; i++) {
        struct slot *s = &t->slots[i];
        if (s->state != SLOT_FREE && s->state != SLOT_HOLD && now > s->deadline_ns) {
            t->err_timeout++;
            slot_fail(s);
        }
    }
}

/* One loop turn: wait up to `timeout_ms` for events and run the ready slots. */
void
bench_load_poll(struct load_thread *t, int timeout_ms)
{
    struct epoll_event evs[256];

    int n = epoll_wait(t->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout_ms);
    for (int i = 0; i < n; i++) {
        struct slot *s = evs[i].data.ptr;
        BENCH_CHECK(s != NULL && s->magic == SLOT_MAGIC && s->thread == t);
        slot_run(s);
    }
}

void
bench_load_init(struct load_thread *t, int index, int nslots, int conc)
{
    memset(t, 0, sizeof(*t));
    t->magic = THREAD_MAGIC;
    t->index = index;
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    BENCH_CHECK(t->epfd >= 0);
    t->nslots = nslots;
    t->conc = conc;
    t->slots = calloc((size_t)nslots, sizeof(*t->slots));
    BENCH_CHECK(t->slots != NULL);
    for (int i = nslots - 1; i >= 0; i--) {
        struct slot *s = &t->slots[i];
        s->magic = SLOT_MAGIC;
        s->thread = t;
        s->fd = -1;
        s->state = SLOT_FREE;
        s->next_free = t->free_list;
        t->free_list = s;
    }
}

void
bench_load_cleanup(struct load_thread *t)
{
    for (int i = 0; i < t->nslots; i++) {
        struct slot *s = &t->slots[i];
        if (s->state != SLOT_FREE) {
            slot_release(s, false);
        }
        if (s->session != NULL) {
            SSL_SESSION_free(s->session);
            s->session = NULL;
        }
    }
    free(t->slots);
    t->slots = NULL;
    close(t->epfd);
    pool_free(t);
}

void *
bench_load_main(void *arg)
{
    struct load_thread *t = arg;

    BENCH_CHECK(t != NULL && t->magic == THREAD_MAGIC);
    while (atomic_load(&phase) != PHASE_DONE) {
        bench_load_fill(t);
        bench_load_poll(t, 20);
        uint64_t now = now_ns();
        bench_phase_tick(now);
        bench_load_expire(t, now);
    }
    return NULL;
}

/*
 * The priming pass of one load thread: full handshakes against --prime-port until the
 * thread's pool holds pool_target sessions (or too many fail, or 120 s pass).  The
 * connections still open then are dropped, and the error counters start again from zero.
 */
void *
bench_load_prime_main(void *arg)
{
    struct load_thread *t = arg;
    uint64_t limit = now_ns() + secs_to_ns(120);

    BENCH_CHECK(t != NULL && t->magic == THREAD_MAGIC);
    t->priming = true;
    while (t->npool < t->pool_target && now_ns() < limit && !stop_signal &&
           (opt.max_errors <= 0 || t->errors < opt.max_errors)) {
        bench_load_fill(t);
        bench_load_poll(t, 20);
        bench_load_expire(t, now_ns());
    }
    for (int i = 0; i < t->nslots; i++) {
        struct slot *s = &t->slots[i];
        if (s->state != SLOT_FREE) {
            slot_release(s, false);
        }
        if (s->session != NULL) {
            SSL_SESSION_free(s->session);
            s->session = NULL;
        }
    }
    t->priming = false;
    t->prime_errors = t->errors;
    t->errors = 0;
    t->err_connect = 0;
    t->err_handshake = 0;
    t->err_exchange = 0;
    t->err_timeout = 0;
    t->launched = 0;
    return NULL;
}

/*
 * Idle mode: keep the held connections, running any that the server closes, until stdin
 * closes (a pipe or terminal), a signal, or --hold seconds.
 */
void
bench_load_hold(struct load_thread *t)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    bool watch_stdin = opt.hold < 0 && epoll_ctl(t->epfd, EPOLL_CTL_ADD, 0, &ev) == 0;
    uint64_t hold_end = opt.hold < 0 ? UINT64_MAX : now_ns() + secs_to_ns(opt.hold);
    if (opt.hold < 0 && !watch_stdin) {
        hold_end = now_ns();
    }
    while (!stop_signal && now_ns() < hold_end) {
        struct epoll_event evs[64];
        int k = epoll_wait(t->epfd, evs, 64, 100);
        for (int i = 0; i < k; i++) {
            if (evs[i].data.ptr == NULL) {
                char c[256];
                if (read(0, c, sizeof(c)) <= 0) {
                    hold_end = 0;
                }
                continue;
            }
            struct slot *s = evs[i].data.ptr;
            BENCH_CHECK(s->magic == SLOT_MAGIC);
            slot_run(s);
        }
    }
}

static SSL_CTX *
ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (SSL_CTX_set_min_proto_version(ctx, opt.tls_version) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, opt.tls_version) != 1) {
        goto fail;
    }
    if (opt.groups != NULL && SSL_CTX_set1_groups_list(ctx, opt.groups) != 1) {
        fprintf(stderr, "tessera-bench: bad --groups '%s'\n", opt.groups);
        goto fail;
    }
    if (opt.sigalgs != NULL && SSL_CTX_set1_sigalgs_list(ctx, opt.sigalgs) != 1) {
        fprintf(stderr, "tessera-bench: bad --sigalgs '%s'\n", opt.sigalgs);
        goto fail;
    }
    if (opt.cipher != NULL && SSL_CTX_set_cipher_list(ctx, opt.cipher) != 1) {
        fprintf(stderr, "tessera-bench: bad --cipher '%s'\n", opt.cipher);
        goto fail;
    }
    if (opt.ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, opt.ciphersuites) != 1) {
        fprintf(stderr, "tessera-bench: bad --ciphersuites '%s'\n", opt.ciphersuites);
        goto fail;
    }
    /* Session-ID resumption must not be satisfied by a ticket instead. */
    if (opt.resume == RESUME_ID || opt.resume == RESUME_NONE) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    /* Sessions live in the slots; OpenSSL's own client cache would only cost time. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
fail:
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(ctx);
    return NULL;
}

int
bench_load_setup(void)
{
    memset(bench_payload, 'x', sizeof(bench_payload));
    bench_ctx = ctx_new();
    return bench_ctx != NULL ? 0 : -1;
}

void
bench_load_teardown(void)
{
    SSL_CTX_free(bench_ctx);
    bench_ctx = NULL;
}
