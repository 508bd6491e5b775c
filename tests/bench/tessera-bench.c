/*
 * tessera-bench.c - closed-loop TLS load generator for tessera's benchmarks.
 *
 * Responsibility: keep a fixed number of TLS connections in flight against a server on a
 * loopback address (a closed loop: a connection that ends is replaced at once), time each
 * handshake from connect() to handshake completion, count resumptions, move bulk data or hold
 * idle connections, and print one line of key=value results.  Optionally it samples the CPU
 * time and RSS of the server's processes from /proc over the measured window.  It also carries
 * small plaintext backends (HTTP responder, echo, sink) so that a benchmark needs nothing but
 * this program and the servers under test.
 *
 * Threads: the main thread parses options and starts -j load threads.  Each load thread owns
 * an epoll instance, its slots, their sockets and SSL objects, and its counters; it shares
 * only the SSL_CTX (read-only after set-up) and the phase clock (atomics plus a mutex taken
 * at the two phase changes) with the others.  The main thread merges the counters after
 * joining the load threads.  The idle mode and the backends run on the main thread alone.
 *
 * Ownership: a slot owns its socket, its SSL and the SSL_SESSION it offers next.  With
 * --prime-port, a load thread owns a pool of sessions made on the priming server before the
 * run; a slot takes its own reference to the pool entry it offers.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>

#define SLOT_MAGIC   0x534c4f54u
#define THREAD_MAGIC 0x54485244u
#define BCONN_MAGIC  0x42434f4eu
#define MAX_PIDS     32
#define IO_CHUNK     16384

/* Bugs in this program abort with the failed condition, as tessera's check.h does. */
#define BENCH_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            fprintf(stderr, "tessera-bench: %s:%d: check failed: %s\n", __FILE__, __LINE__,        \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

enum bench_mode { MODE_FULL = 0, MODE_RESUME, MODE_BULK, MODE_IDLE };

enum bench_resume { RESUME_NONE = 0, RESUME_ID, RESUME_TICKET };

enum bench_phase { PHASE_WARMUP = 0, PHASE_MEASURE, PHASE_DONE };

enum slot_state {
    SLOT_FREE = 0,
    SLOT_CONNECT,
    SLOT_HANDSHAKE,
    SLOT_REQUEST,
    SLOT_RESPONSE,
    SLOT_BULK,
    SLOT_HOLD,
};

/* What the command line asked for; written by the main thread before any load thread starts. */
struct bench_opts {
    enum bench_mode mode;
    enum bench_resume resume;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int tls_version;
    const char *groups;
    const char *sigalgs;
    const char *cipher;
    const char *ciphersuites;
    const char *sni;
    int conc;
    int threads;
    double duration;
    double warmup;
    long count;
    long bulk_bytes;
    double timeout;
    double conn_timeout;
    double hold;
    double settle;
    long max_errors;
    pid_t pids[MAX_PIDS];
    int npids;
    /* --prime-port: sessions are made there first, and each connection to --port offers one. */
    bool prime;
    struct sockaddr_storage prime_addr;
    socklen_t prime_addrlen;
    long prime_count;
};

/* One connection's worth of state; reused for the next connection once released. */
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

/* Everything one load thread owns. */
struct load_thread {
    unsigned magic;
    int index;
    int epfd;
    struct slot *slots;
    int nslots;
    int conc;
    struct slot *free_list;
    int in_flight;
    long launched;
    long limit;
    long held;
    long dropped;
    long done;
    long resumed;
    long errors;
    uint64_t bytes;
    uint32_t *lat_us;
    size_t nlat;
    size_t caplat;
    char params[160];
    pthread_t tid;
    /* --prime-port: the pool of sessions made on the priming server, and how it was used. */
    bool priming;
    SSL_SESSION **pool;
    long npool;
    long cappool;
    long pool_target;
    long pool_next;
    long pool_reused;
    long prime_errors;
};

/* CPU and memory of a set of processes, and of this one, at one instant. */
struct cpu_sample {
    uint64_t wall_ns;
    uint64_t server_ticks;
    uint64_t self_us;
};

static struct bench_opts opt;
static SSL_CTX *bench_ctx;
static const char bench_request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
static char bench_payload[IO_CHUNK];

static pthread_mutex_t phase_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int phase = PHASE_WARMUP;
static _Atomic long measured_done;
static _Atomic int timed_out;
static _Atomic long total_errors;
static _Atomic int aborted;
static uint64_t run_start_ns;
static struct cpu_sample sample_start;
static struct cpu_sample sample_end;
static volatile sig_atomic_t stop_signal;

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
secs_to_ns(double s)
{
    return (uint64_t)(s * 1e9);
}

static void
on_stop_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

/*
 * Sum utime+stime (clock ticks) of the server processes.  /proc/PID/stat counts every thread
 * of the process, living or exited.  A process that has gone is skipped.
 */
static uint64_t
server_cpu_ticks(void)
{
    uint64_t total = 0;

    for (int i = 0; i < opt.npids; i++) {
        char path[64];
        char buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* The command name may hold spaces; fields are counted from after its ')'. */
        char *p = strrchr(buf, ')');
        if (p == NULL) {
            continue;
        }
        unsigned long long utime = 0;
        unsigned long long stime = 0;
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                   &stime) == 2) {
            total += utime + stime;
        }
    }
    return total;
}

/* Sum VmRSS (kB) of the server processes. */
static long
server_rss_kb(void)
{
    long total = 0;

    for (int i = 0; i < opt.npids; i++) {
        char path[64];
        char line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            long kb;
            if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
                total += kb;
                break;
            }
        }
        fclose(f);
    }
    return total;
}

static uint64_t
self_cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
           (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
}

static void
cpu_sample_take(struct cpu_sample *s)
{
    s->wall_ns = now_ns();
    s->server_ticks = server_cpu_ticks();
    s->self_us = self_cpu_us();
}

/*
 * Move the run to the next phase if it is still in `from`.  Any load thread may call this;
 * the mutex makes the sample and the phase change one step, so that exactly one caller takes
 * each sample.  `timeout` marks an end forced by --timeout.
 */
static void
phase_advance(int from, bool timeout)
{
    pthread_mutex_lock(&phase_lock);
    if (atomic_load(&phase) == from) {
        if (from == PHASE_WARMUP) {
            cpu_sample_take(&sample_start);
            atomic_store(&phase, PHASE_MEASURE);
        } else if (from == PHASE_MEASURE) {
            cpu_sample_take(&sample_end);
            if (timeout) {
                atomic_store(&timed_out, 1);
            }
            atomic_store(&phase, PHASE_DONE);
        }
    }
    pthread_mutex_unlock(&phase_lock);
}

/* Called by every load thread on every loop turn: time-driven phase changes. */
static void
phase_tick(uint64_t now)
{
    int p = atomic_load(&phase);

    if (p == PHASE_WARMUP && now >= run_start_ns + secs_to_ns(opt.warmup)) {
        phase_advance(PHASE_WARMUP, false);
        p = atomic_load(&phase);
    }
    if (p != PHASE_DONE && now >= run_start_ns + secs_to_ns(opt.timeout)) {
        phase_advance(PHASE_WARMUP, false);
        phase_advance(PHASE_MEASURE, true);
        return;
    }
    if (p == PHASE_MEASURE && opt.count <= 0 &&
        now >= sample_start.wall_ns + secs_to_ns(opt.duration)) {
        phase_advance(PHASE_MEASURE, false);
    }
    if (stop_signal) {
        phase_advance(PHASE_WARMUP, false);
        phase_advance(PHASE_MEASURE, true);
    }
    /* A server that fails every connection would otherwise keep the loop spinning until --timeout.
     */
    if (opt.max_errors > 0 &&
        atomic_load_explicit(&total_errors, memory_order_relaxed) >= opt.max_errors) {
        atomic_store(&aborted, 1);
        phase_advance(PHASE_WARMUP, false);
        phase_advance(PHASE_MEASURE, false);
    }
}

static void
lat_record(struct load_thread *t, uint64_t ns)
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
    s->thread->errors++;
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
        lat_record(t, s->hs_ns);
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
    lat_record(t, s->hs_ns);
    if (opt.count > 0 && n == opt.count) {
        phase_advance(PHASE_MEASURE, false);
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

static void
thread_fill(struct load_thread *t)
{
    while (t->free_list != NULL && t->in_flight < t->conc && atomic_load(&phase) != PHASE_DONE) {
        if (t->limit > 0 && t->launched >= t->limit) {
            return;
        }
        slot_start(t);
    }
}

/* Fail connections that passed their deadline (a server that stalls must not hang the run). */
static void
thread_expire(struct load_thread *t, uint64_t now)
{
    for (int i = 0; i < t->nslots; i++) {
        struct slot *s = &t->slots[i];
        if (s->state != SLOT_FREE && s->state != SLOT_HOLD && now > s->deadline_ns) {
            slot_fail(s);
        }
    }
}

/* One loop turn: wait up to `timeout_ms` for events and run the ready slots. */
static void
thread_poll(struct load_thread *t, int timeout_ms)
{
    struct epoll_event evs[256];

    int n = epoll_wait(t->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout_ms);
    for (int i = 0; i < n; i++) {
        struct slot *s = evs[i].data.ptr;
        BENCH_CHECK(s != NULL && s->magic == SLOT_MAGIC && s->thread == t);
        slot_run(s);
    }
}

static void
thread_init(struct load_thread *t, int index, int nslots, int conc)
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

static void
thread_cleanup(struct load_thread *t)
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

static void *
thread_main(void *arg)
{
    struct load_thread *t = arg;

    BENCH_CHECK(t != NULL && t->magic == THREAD_MAGIC);
    while (atomic_load(&phase) != PHASE_DONE) {
        thread_fill(t);
        thread_poll(t, 20);
        uint64_t now = now_ns();
        phase_tick(now);
        thread_expire(t, now);
    }
    return NULL;
}

/*
 * The priming pass of one load thread: full handshakes against --prime-port until the
 * thread's pool holds pool_target sessions (or too many fail, or 120 s pass).  The
 * connections still open then are dropped, and the error counters start again from zero.
 */
static void *
thread_prime_main(void *arg)
{
    struct load_thread *t = arg;
    uint64_t limit = now_ns() + secs_to_ns(120);

    BENCH_CHECK(t != NULL && t->magic == THREAD_MAGIC);
    t->priming = true;
    while (t->npool < t->pool_target && now_ns() < limit && !stop_signal &&
           (opt.max_errors <= 0 || t->errors < opt.max_errors)) {
        thread_fill(t);
        thread_poll(t, 20);
        thread_expire(t, now_ns());
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
    t->launched = 0;
    return NULL;
}

/*
 * --prime-port: fill every load thread's pool before the run.  Returns -1 when a thread got
 * no session at all.
 */
static int
bench_prime(struct load_thread *threads, double *secs, long *made)
{
    uint64_t start = now_ns();
    int rc = 0;

    for (int i = 0; i < opt.threads; i++) {
        threads[i].pool_target =
            opt.prime_count / opt.threads + (i < opt.prime_count % opt.threads);
        BENCH_CHECK(pthread_create(&threads[i].tid, NULL, thread_prime_main, &threads[i]) == 0);
    }
    *made = 0;
    for (int i = 0; i < opt.threads; i++) {
        pthread_join(threads[i].tid, NULL);
        *made += threads[i].npool;
        if (threads[i].npool == 0) {
            rc = -1;
        }
    }
    *secs = (double)(now_ns() - start) / 1e9;
    atomic_store(&total_errors, 0);
    /* compare.sh waits for this line before it changes the conditions of the run. */
    fprintf(stderr, "tessera-bench: primed %ld sessions in %.3f s\n", *made, *secs);
    return rc;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in milliseconds. */
static double
percentile_ms(const uint32_t *v, size_t n, double p)
{
    if (n == 0) {
        return 0.0;
    }
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return v[rank - 1] / 1000.0;
}

/* Sum the threads' counters into threads[0]; the latency samples are concatenated and sorted. */
static void
threads_merge(struct load_thread *threads, int n)
{
    struct load_thread *a = &threads[0];

    for (int i = 1; i < n; i++) {
        struct load_thread *b = &threads[i];
        a->done += b->done;
        a->resumed += b->resumed;
        a->errors += b->errors;
        a->bytes += b->bytes;
        a->held += b->held;
        a->dropped += b->dropped;
        a->pool_reused += b->pool_reused;
        a->prime_errors += b->prime_errors;
        if (a->params[0] == '\0') {
            memcpy(a->params, b->params, sizeof(a->params));
        }
        for (size_t k = 0; k < b->nlat; k++) {
            lat_record(a, (uint64_t)b->lat_us[k] * 1000u);
        }
        free(b->lat_us);
        b->lat_us = NULL;
    }
    if (a->nlat > 0) {
        qsort(a->lat_us, a->nlat, sizeof(a->lat_us[0]), cmp_u32);
    }
}

static const char *
mode_name(enum bench_mode m)
{
    switch (m) {
    case MODE_FULL:
        return "full";
    case MODE_RESUME:
        return "resume";
    case MODE_BULK:
        return "bulk";
    case MODE_IDLE:
        return "idle";
    }
    return "?";
}

static const char *
resume_name(enum bench_resume r)
{
    switch (r) {
    case RESUME_NONE:
        return "none";
    case RESUME_ID:
        return "id";
    case RESUME_TICKET:
        return "ticket";
    }
    return "?";
}

/* The full/resume/bulk run: -j threads in a closed loop, then one result line. */
static int
bench_run_load(void)
{
    struct load_thread *threads = calloc((size_t)opt.threads, sizeof(*threads));

    BENCH_CHECK(threads != NULL);
    for (int i = 0; i < opt.threads; i++) {
        int c = opt.conc / opt.threads + (i < opt.conc % opt.threads ? 1 : 0);
        thread_init(&threads[i], i, c, c);
    }
    double prime_secs = 0;
    long primed = 0;
    if (opt.prime && bench_prime(threads, &prime_secs, &primed) < 0) {
        fprintf(stderr, "tessera-bench: priming made no session\n");
        for (int i = 0; i < opt.threads; i++) {
            thread_cleanup(&threads[i]);
            free(threads[i].lat_us);
        }
        free(threads);
        return 1;
    }
    run_start_ns = now_ns();
    if (opt.warmup <= 0) {
        phase_advance(PHASE_WARMUP, false);
    }
    for (int i = 0; i < opt.threads; i++) {
        BENCH_CHECK(pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]) == 0);
    }
    for (int i = 0; i < opt.threads; i++) {
        pthread_join(threads[i].tid, NULL);
    }
    for (int i = 0; i < opt.threads; i++) {
        thread_cleanup(&threads[i]);
    }
    threads_merge(threads, opt.threads);

    struct load_thread *t = &threads[0];
    double secs = (double)(sample_end.wall_ns - sample_start.wall_ns) / 1e9;
    double ticks = (double)(sample_end.server_ticks - sample_start.server_ticks);
    double server_us = ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
    double self_us = (double)(sample_end.self_us - sample_start.self_us);
    long hs = t->done;

    printf("mode=%s tls=%s resume=%s conc=%d threads=%d handshakes=%ld seconds=%.3f "
           "hs_per_s=%.1f resumed=%ld resumed_ratio=%.4f errors=%ld p50_ms=%.3f p99_ms=%.3f",
           mode_name(opt.mode), opt.tls_version == TLS1_3_VERSION ? "1.3" : "1.2",
           resume_name(opt.resume), opt.conc, opt.threads, hs, secs,
           secs > 0 ? (double)hs / secs : 0.0, t->resumed,
           hs > 0 ? (double)t->resumed / (double)hs : 0.0, t->errors,
           percentile_ms(t->lat_us, t->nlat, 50), percentile_ms(t->lat_us, t->nlat, 99));
    if (opt.mode == MODE_BULK) {
        printf(" bytes=%" PRIu64 " mb_per_s=%.1f", t->bytes,
               secs > 0 ? (double)t->bytes / 1e6 / secs : 0.0);
    }
    if (opt.npids > 0) {
        printf(" server_cpu_us=%.0f server_us_per_hs=%.1f server_cpu_pct=%.1f", server_us,
               hs > 0 ? server_us / (double)hs : 0.0, secs > 0 ? server_us / 1e4 / secs : 0.0);
    }
    if (opt.prime) {
        printf(" primed=%ld prime_seconds=%.3f prime_errors=%ld pool_reused=%ld", primed,
               prime_secs, t->prime_errors, t->pool_reused);
    }
    printf(" client_cpu_pct=%.1f timeout=%d aborted=%d %s\n", secs > 0 ? self_us / 1e4 / secs : 0.0,
           atomic_load(&timed_out), atomic_load(&aborted),
           t->params[0] != '\0' ? t->params : "proto=none");
    fflush(stdout);
    free(t->lat_us);
    free(threads);
    if (atomic_load(&timed_out) && !stop_signal) {
        return 2;
    }
    return hs > 0 && !atomic_load(&aborted) ? 0 : 1;
}

/*
 * The idle run: open --count connections, --conc handshakes at a time, each doing one
 * request; hold them; report the servers' RSS delta; print READY and wait for SIGTERM, stdin
 * closing, or --hold seconds.
 */
static int
bench_run_idle(void)
{
    struct load_thread t;
    long rss_before = server_rss_kb();
    long n = opt.count > 0 ? opt.count : 1000;

    thread_init(&t, 0, (int)n, opt.conc);
    t.limit = n;
    run_start_ns = now_ns();
    phase_advance(PHASE_WARMUP, false);
    uint64_t start = now_ns();
    while (!stop_signal && (t.launched < t.limit || t.in_flight > 0)) {
        thread_fill(&t);
        thread_poll(&t, 20);
        uint64_t now = now_ns();
        thread_expire(&t, now);
        if (now > run_start_ns + secs_to_ns(opt.timeout)) {
            atomic_store(&timed_out, 1);
            break;
        }
        if (opt.max_errors > 0 && t.errors >= opt.max_errors) {
            atomic_store(&aborted, 1);
            break;
        }
    }
    double secs = (double)(now_ns() - start) / 1e9;
    /* Let the server finish whatever it does after the last reply before sampling. */
    uint64_t settle_end = now_ns() + secs_to_ns(opt.settle);
    while (!stop_signal && now_ns() < settle_end) {
        thread_poll(&t, 20);
    }
    long rss_after = server_rss_kb();
    if (t.nlat > 0) {
        qsort(t.lat_us, t.nlat, sizeof(t.lat_us[0]), cmp_u32);
    }
    printf("mode=idle tls=%s conns=%ld held=%ld errors=%ld dropped=%ld seconds=%.3f p50_ms=%.3f "
           "p99_ms=%.3f",
           opt.tls_version == TLS1_3_VERSION ? "1.3" : "1.2", n, t.held, t.errors, t.dropped, secs,
           percentile_ms(t.lat_us, t.nlat, 50), percentile_ms(t.lat_us, t.nlat, 99));
    if (opt.npids > 0) {
        printf(" rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%.0f", rss_before, rss_after,
               t.held > 0 ? (double)(rss_after - rss_before) * 1024.0 / (double)t.held : 0.0);
    }
    printf(" timeout=%d aborted=%d %s\nREADY\n", atomic_load(&timed_out), atomic_load(&aborted),
           t.params[0] != '\0' ? t.params : "proto=none");
    fflush(stdout);

    /* Hold: stdin closing (a pipe or terminal) or a signal ends the wait. */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    bool watch_stdin = opt.hold < 0 && epoll_ctl(t.epfd, EPOLL_CTL_ADD, 0, &ev) == 0;
    uint64_t hold_end = opt.hold < 0 ? UINT64_MAX : now_ns() + secs_to_ns(opt.hold);
    if (opt.hold < 0 && !watch_stdin) {
        hold_end = now_ns();
    }
    while (!stop_signal && now_ns() < hold_end) {
        struct epoll_event evs[64];
        int k = epoll_wait(t.epfd, evs, 64, 100);
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
    long errors = t.errors;
    thread_cleanup(&t);
    free(t.lat_us);
    return errors == 0 && !atomic_load(&timed_out) ? 0 : 1;
}

/* ---- backends ------------------------------------------------------------------------- */

enum backend_kind { BACKEND_HTTP = 0, BACKEND_ECHO, BACKEND_SINK };

/* One backend connection: pending output, and how far into "\r\n\r\n" the input has got. */
struct bconn {
    unsigned magic;
    int fd;
    uint32_t events;
    size_t off;
    size_t len;
    int match;
    bool eof;
    char buf[65536];
};

static const char backend_reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                    "Content-Type: text/plain\r\n\r\nok";

static void
bconn_close(int epfd, struct bconn *c)
{
    (void)epfd;
    close(c->fd);
    c->magic = 0;
    free(c);
}

static void
bconn_want(int epfd, struct bconn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (events != c->events) {
        BENCH_CHECK(epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0);
        c->events = events;
    }
}

/* Write pending output; returns -1 when the connection is to be closed. */
static int
bconn_flush(struct bconn *c)
{
    while (c->off < c->len) {
        ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);
        if (n < 0) {
            return errno == EAGAIN ? 0 : -1;
        }
        c->off += (size_t)n;
    }
    c->off = 0;
    c->len = 0;
    return 0;
}

static void
bconn_run(int epfd, struct bconn *c, enum backend_kind kind)
{
    char in[65536];

    for (;;) {
        if (bconn_flush(c) < 0) {
            bconn_close(epfd, c);
            return;
        }
        if (c->len > 0) {
            /* Back-pressure: read no more until the peer takes what is pending. */
            bconn_want(epfd, c, EPOLLOUT);
            return;
        }
        if (c->eof) {
            bconn_close(epfd, c);
            return;
        }
        char *dst = kind == BACKEND_ECHO ? c->buf : in;
        ssize_t n = read(c->fd, dst, sizeof(in));
        if (n < 0 && errno == EAGAIN) {
            bconn_want(epfd, c, EPOLLIN);
            return;
        }
        if (n <= 0) {
            c->eof = true;
            continue;
        }
        if (kind == BACKEND_ECHO) {
            c->len = (size_t)n;
        } else if (kind == BACKEND_HTTP) {
            static const char blank[] = "\r\n\r\n";
            for (ssize_t i = 0; i < n; i++) {
                c->match = in[i] == blank[c->match] ? c->match + 1 : (in[i] == '\r' ? 1 : 0);
                if (c->match == 4) {
                    c->match = 0;
                    if (c->len + sizeof(backend_reply) < sizeof(c->buf)) {
                        memcpy(c->buf + c->len, backend_reply, sizeof(backend_reply) - 1);
                        c->len += sizeof(backend_reply) - 1;
                    }
                }
            }
        }
    }
}

/* `tessera-bench backend http|echo|sink [--listen ADDR:PORT]`: print "PORT n", serve forever. */
static int
bench_backend(int argc, char **argv)
{
    enum backend_kind kind;
    const char *listen_on = "127.0.0.1:0";

    if (argc < 3) {
        fprintf(stderr, "usage: tessera-bench backend http|echo|sink [--listen 127.0.0.1:0]\n");
        return 64;
    }
    if (strcmp(argv[2], "http") == 0) {
        kind = BACKEND_HTTP;
    } else if (strcmp(argv[2], "echo") == 0) {
        kind = BACKEND_ECHO;
    } else if (strcmp(argv[2], "sink") == 0) {
        kind = BACKEND_SINK;
    } else {
        fprintf(stderr, "tessera-bench: unknown backend '%s'\n", argv[2]);
        return 64;
    }
    if (argc >= 5 && strcmp(argv[3], "--listen") == 0) {
        listen_on = argv[4];
    }
    char host[64];
    const char *colon = strrchr(listen_on, ':');
    if (colon == NULL || (size_t)(colon - listen_on) >= sizeof(host)) {
        fprintf(stderr, "tessera-bench: bad --listen '%s'\n", listen_on);
        return 64;
    }
    memcpy(host, listen_on, (size_t)(colon - listen_on));
    host[colon - listen_on] = '\0';
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 || (ntohl(sin.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "tessera-bench: backend listens on 127.0.0.0/8 only\n");
        return 64;
    }
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 4096) < 0) {
        perror("tessera-bench: backend listen");
        return 1;
    }
    socklen_t sl = sizeof(sin);
    getsockname(lfd, (struct sockaddr *)&sin, &sl);
    printf("PORT %d\n", ntohs(sin.sin_port));
    fflush(stdout);

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    BENCH_CHECK(epfd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) == 0);
    while (!stop_signal) {
        struct epoll_event evs[256];
        int n = epoll_wait(epfd, evs, 256, 500);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct bconn *c = calloc(1, sizeof(*c));
                    BENCH_CHECK(c != NULL);
                    c->magic = BCONN_MAGIC;
                    c->fd = fd;
                    c->events = EPOLLIN;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    BENCH_CHECK(epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0);
                }
                continue;
            }
            struct bconn *c = evs[i].data.ptr;
            BENCH_CHECK(c->magic == BCONN_MAGIC);
            bconn_run(epfd, c, kind);
        }
    }
    return 0;
}

/* ---- options -------------------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(f, "usage: tessera-bench full|resume|bulk|idle --port P [options]\n"
               "       tessera-bench backend http|echo|sink [--listen 127.0.0.1:0]\n"
               "  --host ADDR          server address, loopback only (127.0.0.1)\n"
               "  --port P             server port (required)\n"
               "  --tls 1.2|1.3        protocol version (1.3)\n"
               "  --groups LIST        key-exchange groups (X25519)\n"
               "  --sigalgs LIST       signature algorithms, e.g. ECDSA+SHA256 or RSA-PSS+SHA256\n"
               "  --cipher LIST        TLS 1.2 cipher list\n"
               "  --ciphersuites LIST  TLS 1.3 cipher suites\n"
               "  --sni NAME           server name to send (none)\n"
               "  --resume id|ticket   resume mode: session ID (TLS 1.2) or ticket\n"
               "  --prime-port A       resume: make sessions on port A first (full handshakes,\n"
               "                       before the run); every connection to --port offers one\n"
               "  --prime-count N      resume: sessions to make on A (count + 4 * conc)\n"
               "  --conc N             connections in flight (16)\n"
               "  -j N, --threads N    load threads (1)\n"
               "  --duration S         measure for S seconds (10) ...\n"
               "  --count N            ... or until N exchanges completed (idle: connections)\n"
               "  --warmup S           seconds before measuring (1; bulk and idle: 0)\n"
               "  --bytes N            bulk: bytes per connection, echoed back (4 MiB)\n"
               "  --server-pid P[,P]   processes whose CPU time and RSS to sample\n"
               "  --timeout S          bound on the whole run (warmup+duration+60 or +120)\n"
               "  --max-errors N       end the run after N failed connections (1000; 0: never)\n"
               "  --conn-timeout S     bound on one connection (10)\n"
               "  --hold S             idle: hold S seconds (default: until SIGTERM/stdin EOF)\n"
               "  --settle S           idle: wait before sampling RSS (0.5)\n"
               "Prints one line of key=value pairs; idle then prints READY.\n");
}

static bool
parse_host(const char *host, int port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&opt.addr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&opt.addr;

    memset(&opt.addr, 0, sizeof(opt.addr));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
            return false;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        opt.addrlen = sizeof(*sin);
        return true;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return false;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        opt.addrlen = sizeof(*sin6);
        return true;
    }
    return false;
}

static int
parse_opts(int argc, char **argv)
{
    enum {
        OPT_HOST = 256,
        OPT_PORT,
        OPT_TLS,
        OPT_GROUPS,
        OPT_SIGALGS,
        OPT_CIPHER,
        OPT_SUITES,
        OPT_SNI,
        OPT_RESUME,
        OPT_CONC,
        OPT_DURATION,
        OPT_COUNT,
        OPT_WARMUP,
        OPT_BYTES,
        OPT_PID,
        OPT_TIMEOUT,
        OPT_CONN_TIMEOUT,
        OPT_HOLD,
        OPT_SETTLE,
        OPT_MAX_ERRORS,
        OPT_PRIME_PORT,
        OPT_PRIME_COUNT,
    };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"tls", required_argument, NULL, OPT_TLS},
        {"groups", required_argument, NULL, OPT_GROUPS},
        {"sigalgs", required_argument, NULL, OPT_SIGALGS},
        {"cipher", required_argument, NULL, OPT_CIPHER},
        {"ciphersuites", required_argument, NULL, OPT_SUITES},
        {"sni", required_argument, NULL, OPT_SNI},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"conc", required_argument, NULL, OPT_CONC},
        {"threads", required_argument, NULL, 'j'},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"count", required_argument, NULL, OPT_COUNT},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"bytes", required_argument, NULL, OPT_BYTES},
        {"server-pid", required_argument, NULL, OPT_PID},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"conn-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
        {"hold", required_argument, NULL, OPT_HOLD},
        {"settle", required_argument, NULL, OPT_SETTLE},
        {"max-errors", required_argument, NULL, OPT_MAX_ERRORS},
        {"prime-port", required_argument, NULL, OPT_PRIME_PORT},
        {"prime-count", required_argument, NULL, OPT_PRIME_COUNT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *host = "127.0.0.1";
    int port = 0;
    int prime_port = 0;
    bool warmup_set = false;

    if (argc < 2) {
        usage(stderr);
        return -1;
    }
    if (strcmp(argv[1], "full") == 0) {
        opt.mode = MODE_FULL;
    } else if (strcmp(argv[1], "resume") == 0) {
        opt.mode = MODE_RESUME;
    } else if (strcmp(argv[1], "bulk") == 0) {
        opt.mode = MODE_BULK;
    } else if (strcmp(argv[1], "idle") == 0) {
        opt.mode = MODE_IDLE;
    } else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        exit(0);
    } else {
        fprintf(stderr, "tessera-bench: unknown mode '%s'\n", argv[1]);
        return -1;
    }
    opt.tls_version = TLS1_3_VERSION;
    opt.groups = "X25519";
    opt.conc = 16;
    opt.threads = 1;
    opt.duration = 10;
    opt.warmup = 1;
    opt.bulk_bytes = 4L << 20;
    opt.timeout = -1;
    opt.conn_timeout = 10;
    opt.hold = -1;
    opt.settle = 0.5;
    opt.max_errors = 1000;

    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "j:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_HOST:
            host = optarg;
            break;
        case OPT_PORT:
            port = atoi(optarg);
            break;
        case OPT_TLS:
            if (strcmp(optarg, "1.2") == 0) {
                opt.tls_version = TLS1_2_VERSION;
            } else if (strcmp(optarg, "1.3") == 0) {
                opt.tls_version = TLS1_3_VERSION;
            } else {
                fprintf(stderr, "tessera-bench: --tls 1.2 or 1.3\n");
                return -1;
            }
            break;
        case OPT_GROUPS:
            opt.groups = optarg;
            break;
        case OPT_SIGALGS:
            opt.sigalgs = optarg;
            break;
        case OPT_CIPHER:
            opt.cipher = optarg;
            break;
        case OPT_SUITES:
            opt.ciphersuites = optarg;
            break;
        case OPT_SNI:
            opt.sni = optarg;
            break;
        case OPT_RESUME:
            if (strcmp(optarg, "id") == 0) {
                opt.resume = RESUME_ID;
            } else if (strcmp(optarg, "ticket") == 0) {
                opt.resume = RESUME_TICKET;
            } else {
                fprintf(stderr, "tessera-bench: --resume id or ticket\n");
                return -1;
            }
            break;
        case OPT_CONC:
            opt.conc = atoi(optarg);
            break;
        case 'j':
            opt.threads = atoi(optarg);
            break;
        case OPT_DURATION:
            opt.duration = atof(optarg);
            break;
        case OPT_COUNT:
            opt.count = atol(optarg);
            break;
        case OPT_WARMUP:
            opt.warmup = atof(optarg);
            warmup_set = true;
            break;
        case OPT_BYTES:
            opt.bulk_bytes = atol(optarg);
            break;
        case OPT_PID: {
            char *save = NULL;
            char *list = strdup(optarg);
            BENCH_CHECK(list != NULL);
            for (char *p = strtok_r(list, ",", &save); p != NULL && opt.npids < MAX_PIDS;
                 p = strtok_r(NULL, ",", &save)) {
                opt.pids[opt.npids++] = (pid_t)atoi(p);
            }
            free(list);
            break;
        }
        case OPT_TIMEOUT:
            opt.timeout = atof(optarg);
            break;
        case OPT_CONN_TIMEOUT:
            opt.conn_timeout = atof(optarg);
            break;
        case OPT_HOLD:
            opt.hold = atof(optarg);
            break;
        case OPT_SETTLE:
            opt.settle = atof(optarg);
            break;
        case OPT_MAX_ERRORS:
            opt.max_errors = atol(optarg);
            break;
        case OPT_PRIME_PORT:
            prime_port = atoi(optarg);
            break;
        case OPT_PRIME_COUNT:
            opt.prime_count = atol(optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tessera-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (port <= 0 || port > 65535 || !parse_host(host, port)) {
        fprintf(stderr, "tessera-bench: need --port, and a loopback --host\n");
        return -1;
    }
    if (prime_port != 0) {
        /* The priming server lives on the same (loopback) host as the measured one. */
        if (opt.mode != MODE_RESUME || prime_port < 0 || prime_port > 65535) {
            fprintf(stderr, "tessera-bench: --prime-port needs resume mode and a port\n");
            return -1;
        }
        opt.prime_addr = opt.addr;
        opt.prime_addrlen = opt.addrlen;
        if (opt.addr.ss_family == AF_INET) {
            ((struct sockaddr_in *)&opt.prime_addr)->sin_port = htons((uint16_t)prime_port);
        } else {
            ((struct sockaddr_in6 *)&opt.prime_addr)->sin6_port = htons((uint16_t)prime_port);
        }
        opt.prime = true;
        if (opt.prime_count <= 0) {
            opt.prime_count = (opt.count > 0 ? opt.count : 10000) + 4L * opt.conc;
        }
    }
    if (opt.mode == MODE_RESUME && opt.resume == RESUME_NONE) {
        opt.resume = RESUME_TICKET;
    }
    if (opt.mode != MODE_RESUME) {
        opt.resume = RESUME_NONE;
    }
    if (opt.resume == RESUME_ID && opt.tls_version != TLS1_2_VERSION) {
        fprintf(stderr, "tessera-bench: --resume id needs --tls 1.2\n");
        return -1;
    }
    if ((opt.mode == MODE_BULK || opt.mode == MODE_IDLE) && !warmup_set) {
        opt.warmup = 0;
    }
    if (opt.mode == MODE_BULK && opt.count <= 0 && opt.duration <= 0) {
        opt.count = 64;
    }
    if (opt.conc < 1 || opt.threads < 1 || opt.threads > opt.conc || opt.bulk_bytes < 1) {
        fprintf(stderr, "tessera-bench: need --conc >= -j >= 1 and --bytes >= 1\n");
        return -1;
    }
    if (opt.timeout <= 0) {
        opt.timeout = opt.count > 0 ? opt.warmup + 120 : opt.warmup + opt.duration + 60;
    }
    return 0;
}

static SSL_CTX *
bench_ctx_new(void)
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
main(int argc, char **argv)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (argc >= 2 && strcmp(argv[1], "backend") == 0) {
        return bench_backend(argc, argv);
    }
    if (parse_opts(argc, argv) < 0) {
        return 64;
    }
    memset(bench_payload, 'x', sizeof(bench_payload));
    bench_ctx = bench_ctx_new();
    if (bench_ctx == NULL) {
        return 1;
    }
    int rc = opt.mode == MODE_IDLE ? bench_run_idle() : bench_run_load();
    SSL_CTX_free(bench_ctx);
    return rc;
}
