/*
 * tclient.c - the integration tests' own TLS client, for what
 * `openssl s_client` cannot do well.
 *
 *   tclient resume-chain --port P [--tls 1.2|1.3] --mode id|ticket --count N
 *                        [--alt-port P2]   with P2, every other connection
 *                                          goes to P2 (two instances)
 *   tclient early --port P [--alt-port P2] --data TEXT
 *                                            a TLS 1.3 full handshake on P for a
 *                                            ticket, then TEXT as early data on
 *                                            P2 (or P) with it; passes iff the
 *                                            early data was accepted and resumed
 *   tclient echo --port P --bytes N          N random bytes out, the same N back
 *   tclient sink --port P --bytes N          N bytes to a sink backend, then
 *                                            close_notify; expects "received N"
 *   tclient halfclose --port P [--bytes N]   data, close_notify, then read the
 *                                            echo until the server's close_notify
 *   tclient concurrent --port P --conns N [--parallel K]
 *                                            N connections open at once
 *   tclient hold --port P --ready-file F --go-file G
 *                                            one echoing connection kept open
 *                                            until G exists (drain tests)
 *   tclient raw --port P (--data TEXT | --random N | --hello PERCENT | --nothing)
 *               [--then wait|shutwr|reset]   bytes that are not a handshake;
 *                                            reports when the server closes
 *
 * Common options: --host H (127.0.0.1), --servername S, --tls 1.2|1.3,
 * --verify CAFILE (otherwise any certificate is accepted; with --servername
 * the name is verified too), --timeout S.
 * Exit status 0 means the check passed, 1 that it failed, 2 a usage error.
 *
 * Single-threaded.  Every subcommand but `concurrent` uses one socket with
 * poll() and a deadline, so nothing can hang past --timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

struct opts {
    const char *host;
    const char *port;
    const char *alt_port; /* resume-chain: odd connections go here */
    const char *servername;
    const char *verify;
    const char *mode;
    const char *then;
    const char *data;
    const char *ready_file;
    const char *go_file;
    int tls; /* 0: any, else TLS1_2_VERSION / TLS1_3_VERSION */
    long count;
    long bytes;
    long conns;
    long parallel;
    long random;
    long hello;
    bool nothing;
    double timeout;
};

static struct opts opt = {
    .host = "127.0.0.1",
    .count = 10,
    .bytes = -1,
    .conns = 100,
    .parallel = 200,
    .random = -1,
    .hello = -1,
    .timeout = 30,
};

/* ---- small utilities ---- */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
ms_left(double deadline)
{
    double left = deadline - now_s();

    if (left <= 0) {
        return 0;
    }
    return (int)(left * 1000) + 1;
}

static void
print_ssl_errors(const char *what)
{
    unsigned long e;
    char buf[256];

    fprintf(stderr, "tclient: %s failed\n", what);
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "  %s\n", buf);
    }
}

static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/*
 * Open a TCP connection to --host:--port.  Blocking connects are bounded by
 * the deadline through poll().  Returns a non-blocking socket or -1.
 */
static int
tcp_connect(double deadline, bool wait_connected)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    int fd = -1;
    int one = 1;

    if (getaddrinfo(opt.host, opt.port, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "tclient: bad address %s:%s\n", opt.host, opt.port);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("tclient: socket");
        goto fail;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        perror("tclient: connect");
        goto fail;
    }
    if (wait_connected) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t elen = sizeof(err);
        if (poll(&pfd, 1, ms_left(deadline)) != 1) {
            fprintf(stderr, "tclient: connect timed out\n");
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
            fprintf(stderr, "tclient: connect: %s\n", strerror(err));
            goto fail;
        }
    }
    freeaddrinfo(ai);
    return fd;
fail:
    if (fd >= 0) {
        close(fd);
    }
    freeaddrinfo(ai);
    return -1;
}

/* The newest session the server handed us (new_session_cb); owned here. */
static SSL_SESSION *latest_session;
static int sessions_received;

static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    SSL_SESSION_free(latest_session);
    latest_session = sess;
    sessions_received++;
    return 1; /* we keep the reference */
}

static SSL_CTX *
client_ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        print_ssl_errors("SSL_CTX_new");
        exit(1);
    }
    if (opt.tls != 0) {
        SSL_CTX_set_min_proto_version(ctx, opt.tls);
        SSL_CTX_set_max_proto_version(ctx, opt.tls);
    }
    if (opt.verify != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, opt.verify, NULL) != 1) {
            print_ssl_errors("loading --verify");
            exit(1);
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    return ctx;
}

static SSL *
client_ssl_new(SSL_CTX *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        print_ssl_errors("SSL_new");
        exit(1);
    }
    if (opt.servername != NULL) {
        SSL_set_tlsext_host_name(ssl, opt.servername);
        /* With --verify, the certificate must also match the name asked for. */
        if (opt.verify != NULL && SSL_set1_host(ssl, opt.servername) != 1) {
            print_ssl_errors("SSL_set1_host");
            exit(1);
        }
    }
    return ssl;
}

/* Wait until fd is readable or writable as OpenSSL asked; -1 on timeout. */
static int
wait_for_ssl(SSL *ssl, int ret, int fd, double deadline)
{
    int err = SSL_get_error(ssl, ret);
    struct pollfd pfd = {.fd = fd};

    if (err == SSL_ERROR_WANT_READ) {
        pfd.events = POLLIN;
    } else if (err == SSL_ERROR_WANT_WRITE) {
        pfd.events = POLLOUT;
    } else {
        return -2;
    }
    if (poll(&pfd, 1, ms_left(deadline)) != 1) {
        fprintf(stderr, "tclient: timed out\n");
        return -1;
    }
    return 0;
}

/* Complete the handshake on a non-blocking SSL; 0 on success. */
static int
handshake(SSL *ssl, int fd, double deadline)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(ssl);
        if (r == 1) {
            return 0;
        }
        int w = wait_for_ssl(ssl, r, fd, deadline);
        if (w == -2) {
            print_ssl_errors("handshake");
            return -1;
        }
        if (w < 0) {
            return -1;
        }
    }
}

enum close_kind {
    CLOSED_NOT = 0, /* still open */
    CLOSED_NOTIFY,  /* close_notify received */
    CLOSED_EOF,     /* TCP EOF without close_notify */
};

/*
 * Move data both ways until done.  Writes all of `out` (then sends
 * close_notify when `notify_after` is set) while reading into `in`
 * (capacity `incap`).  Stops when `expect` bytes have been read (if expect
 * >= 0 and everything is written), or when the peer closes.  Returns 0 and
 * fills *got and *closed, or -1 on an error or the deadline.
 */
static int
transfer(SSL *ssl, int fd, const unsigned char *out, size_t outlen, bool notify_after,
         unsigned char *in, size_t incap, long expect, size_t *got, enum close_kind *closed,
         double deadline)
{
    size_t woff = 0;
    bool notified = false;

    *got = 0;
    *closed = CLOSED_NOT;
    for (;;) {
        bool progress = false;
        bool want_out = false;

        if (woff < outlen) {
            size_t chunk = outlen - woff > 16384 ? 16384 : outlen - woff;
            ERR_clear_error();
            int n = SSL_write(ssl, out + woff, (int)chunk);
            if (n > 0) {
                woff += (size_t)n;
                progress = true;
            } else {
                int e = SSL_get_error(ssl, n);
                if (e == SSL_ERROR_WANT_WRITE) {
                    want_out = true;
                } else if (e != SSL_ERROR_WANT_READ) {
                    print_ssl_errors("SSL_write");
                    return -1;
                }
            }
        } else if (notify_after && !notified) {
            ERR_clear_error();
            int r = SSL_shutdown(ssl);
            if (r >= 0) {
                notified = true;
                progress = true;
            } else {
                int e = SSL_get_error(ssl, r);
                if (e == SSL_ERROR_WANT_WRITE) {
                    want_out = true;
                } else if (e != SSL_ERROR_WANT_READ) {
                    print_ssl_errors("SSL_shutdown");
                    return -1;
                }
            }
        }
        bool write_done = woff == outlen && (!notify_after || notified);

        if (*closed == CLOSED_NOT && (expect < 0 || *got < (size_t)expect)) {
            unsigned char scratch[16384];
            unsigned char *dst = scratch;
            size_t room = sizeof(scratch);
            if (*got < incap) {
                dst = in + *got;
                room = incap - *got;
                if (room > sizeof(scratch)) {
                    room = sizeof(scratch);
                }
            }
            ERR_clear_error();
            errno = 0;
            int n = SSL_read(ssl, dst, (int)room);
            if (n > 0) {
                if (dst != scratch) {
                    *got += (size_t)n;
                } else {
                    fprintf(stderr, "tclient: %d unexpected bytes beyond %zu\n", n, incap);
                    return -1;
                }
                progress = true;
            } else {
                int e = SSL_get_error(ssl, n);
                if (e == SSL_ERROR_ZERO_RETURN) {
                    *closed = CLOSED_NOTIFY;
                } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) {
                    *closed = CLOSED_EOF;
                } else if (e == SSL_ERROR_SSL &&
                           ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                    ERR_clear_error();
                    *closed = CLOSED_EOF;
                } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    print_ssl_errors("SSL_read");
                    return -1;
                }
            }
        }
        if (write_done && *closed != CLOSED_NOT) {
            return 0;
        }
        if (write_done && expect >= 0 && *got >= (size_t)expect) {
            return 0;
        }
        if (*closed != CLOSED_NOT && !write_done && woff < outlen) {
            fprintf(stderr, "tclient: peer closed after %zu of %zu bytes written\n", woff, outlen);
            return -1;
        }
        if (progress) {
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = 0};
        if (*closed == CLOSED_NOT) {
            pfd.events |= POLLIN;
        }
        if (want_out) {
            pfd.events |= POLLOUT;
        }
        int pr = poll(&pfd, 1, ms_left(deadline));
        if (pr == 0) {
            fprintf(stderr, "tclient: timed out: wrote %zu/%zu, read %zu\n", woff, outlen, *got);
            return -1;
        }
    }
}

/* Send one line and read one line back (the echo, or the backend's banner). */
static int
exchange_line(SSL *ssl, int fd, const char *line, double deadline)
{
    unsigned char in[512];
    size_t got = 0;
    enum close_kind closed;
    size_t len = strlen(line);

    /* transfer() reads until `expect` bytes; read a byte at a time to stop at '\n'. */
    if (transfer(ssl, fd, (const unsigned char *)line, len, false, in, sizeof(in), 1, &got, &closed,
                 deadline) != 0) {
        return -1;
    }
    while (memchr(in, '\n', got) == NULL) {
        size_t more = 0;
        if (closed != CLOSED_NOT || got >= sizeof(in)) {
            fprintf(stderr, "tclient: connection closed before a full line\n");
            return -1;
        }
        if (transfer(ssl, fd, NULL, 0, false, in + got, sizeof(in) - got, 1, &more, &closed,
                     deadline) != 0) {
            return -1;
        }
        got += more;
    }
    return 0;
}

/* Send close_notify (best effort) and close the socket. */
static void
close_conn(SSL *ssl, int fd)
{
    if (ssl != NULL) {
        ERR_clear_error();
        (void)SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    if (fd >= 0) {
        close(fd);
    }
}

static void
random_bytes(unsigned char *buf, size_t len)
{
    if (RAND_bytes(buf, (int)len) != 1) {
        print_ssl_errors("RAND_bytes");
        exit(1);
    }
}

/* ---- resume-chain ---- */

static int
cmd_resume_chain(void)
{
    bool id_mode;
    SSL_CTX *ctx;
    SSL_SESSION *offer = NULL;
    int resumed = 0;
    int failures = 0;

    if (opt.mode == NULL || (strcmp(opt.mode, "id") != 0 && strcmp(opt.mode, "ticket") != 0)) {
        fprintf(stderr, "tclient: resume-chain needs --mode id|ticket\n");
        return 2;
    }
    id_mode = strcmp(opt.mode, "id") == 0;
    ctx = client_ctx_new();
    if (id_mode) {
        /* TLS 1.2 session-ID resumption: offer no ticket extension. */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    const char *first_port = opt.port;
    for (long i = 0; i <= opt.count; i++) {
        double deadline = now_s() + opt.timeout;
        /* With --alt-port each resumption crosses to the other instance. */
        opt.port = opt.alt_port != NULL && i % 2 == 1 ? opt.alt_port : first_port;
        int fd = tcp_connect(deadline, true);
        if (fd < 0) {
            failures++;
            break;
        }
        SSL *ssl = client_ssl_new(ctx, fd);
        if (offer != NULL) {
            SSL_set_session(ssl, offer);
        }
        int before = sessions_received;
        char line[64];
        snprintf(line, sizeof(line), "ping %ld\n", i);
        if (handshake(ssl, fd, deadline) != 0 || exchange_line(ssl, fd, line, deadline) != 0) {
            printf("conn %ld failed\n", i);
            close_conn(ssl, fd);
            failures++;
            break;
        }
        int reused = SSL_session_reused(ssl);
        int version = SSL_version(ssl);
        SSL_SESSION *cur = SSL_get_session(ssl);
        printf("conn %ld reused=%d version=%s ticket=%d new_sessions=%d\n", i, reused,
               SSL_get_version(ssl), cur != NULL && SSL_SESSION_has_ticket(cur),
               sessions_received - before);
        fflush(stdout);
        if (i > 0) {
            if (reused) {
                resumed++;
            } else {
                failures++;
            }
        }
        if (id_mode && cur != NULL && SSL_SESSION_has_ticket(cur)) {
            fprintf(stderr, "tclient: --mode id but the session carries a ticket\n");
            failures++;
        }
        if (!id_mode && version == TLS1_2_VERSION && cur != NULL && !SSL_SESSION_has_ticket(cur)) {
            fprintf(stderr, "tclient: --mode ticket but the server sent no ticket\n");
            failures++;
        }
        /* Offer the newest session next; TLS 1.3 tickets are single-use. */
        SSL_SESSION *next = NULL;
        if (sessions_received > before && latest_session != NULL) {
            next = latest_session;
            latest_session = NULL;
        } else if (version == TLS1_3_VERSION) {
            fprintf(stderr, "tclient: conn %ld: no new TLS 1.3 ticket\n", i);
            failures++;
        } else {
            next = SSL_get1_session(ssl);
        }
        close_conn(ssl, fd);
        SSL_SESSION_free(offer);
        offer = next;
        if (offer == NULL) {
            break;
        }
    }
    SSL_SESSION_free(offer);
    SSL_SESSION_free(latest_session);
    latest_session = NULL;
    SSL_CTX_free(ctx);
    opt.port = first_port;
    printf("resumed %d of %ld\n", resumed, opt.count);
    return failures == 0 && resumed == opt.count ? 0 : 1;
}

/* ---- early ---- */

/* One connection offering `offer` (NULL: none) with `data` as early data
 * (NULL: none), then the handshake and one line exchanged.  0 on success;
 * *status is SSL_get_early_data_status and *reused SSL_session_reused. */
static int
early_one(SSL_CTX *ctx, const char *port, SSL_SESSION *offer, const char *data, int *status,
          int *reused)
{
    double deadline = now_s() + opt.timeout;
    const char *saved = opt.port;
    int fd, rc = -1;
    SSL *ssl;

    opt.port = port;
    fd = tcp_connect(deadline, true);
    opt.port = saved;
    if (fd < 0) {
        return -1;
    }
    ssl = client_ssl_new(ctx, fd);
    if (offer != NULL && SSL_set_session(ssl, offer) != 1) {
        goto out;
    }
    if (data != NULL) {
        size_t written = 0;
        for (;;) {
            ERR_clear_error();
            int r = SSL_write_early_data(ssl, data, strlen(data), &written);
            if (r == 1) {
                break;
            }
            if (wait_for_ssl(ssl, r, fd, deadline) != 0) {
                print_ssl_errors("SSL_write_early_data");
                goto out;
            }
        }
    }
    if (handshake(ssl, fd, deadline) != 0 || exchange_line(ssl, fd, "after\n", deadline) != 0) {
        goto out;
    }
    *status = SSL_get_early_data_status(ssl);
    *reused = SSL_session_reused(ssl);
    rc = 0;
out:
    close_conn(ssl, fd);
    return rc;
}

static int
cmd_early(void)
{
    SSL_CTX *ctx;
    SSL_SESSION *ticket;
    int status = 0, reused = 0, rc = 1;
    static const char *const names[] = {
        [SSL_EARLY_DATA_NOT_SENT] = "not sent",
        [SSL_EARLY_DATA_REJECTED] = "rejected",
        [SSL_EARLY_DATA_ACCEPTED] = "accepted",
    };

    if (opt.data == NULL) {
        fprintf(stderr, "tclient: early needs --data TEXT\n");
        return 2;
    }
    opt.tls = TLS1_3_VERSION;
    ctx = client_ctx_new();
    if (early_one(ctx, opt.port, NULL, NULL, &status, &reused) != 0 || latest_session == NULL) {
        fprintf(stderr, "tclient: no ticket from the full handshake\n");
        goto out;
    }
    ticket = latest_session;
    latest_session = NULL;
    if (SSL_SESSION_get_max_early_data(ticket) == 0) {
        fprintf(stderr, "tclient: the ticket allows no early data\n");
        SSL_SESSION_free(ticket);
        goto out;
    }
    if (early_one(ctx, opt.alt_port != NULL ? opt.alt_port : opt.port, ticket, opt.data, &status,
                  &reused) != 0) {
        SSL_SESSION_free(ticket);
        goto out;
    }
    SSL_SESSION_free(ticket);
    printf("early data %s, reused=%d\n", status >= 0 && status <= 2 ? names[status] : "?", reused);
    rc = status == SSL_EARLY_DATA_ACCEPTED && reused ? 0 : 1;
out:
    SSL_SESSION_free(latest_session);
    latest_session = NULL;
    SSL_CTX_free(ctx);
    return rc;
}

/* ---- echo, sink, halfclose ---- */

/* Connect and handshake one connection; exits the program on failure. */
static SSL *
open_one(SSL_CTX *ctx, int *fdp, double deadline)
{
    int fd = tcp_connect(deadline, true);

    if (fd < 0) {
        exit(1);
    }
    SSL *ssl = client_ssl_new(ctx, fd);
    if (handshake(ssl, fd, deadline) != 0) {
        exit(1);
    }
    *fdp = fd;
    return ssl;
}

static int
cmd_echo(void)
{
    double deadline = now_s() + opt.timeout;
    size_t n = opt.bytes < 0 ? 1048576 : (size_t)opt.bytes;
    unsigned char *out = malloc(n + 1);
    unsigned char *in = malloc(n + 1);
    SSL_CTX *ctx = client_ctx_new();
    size_t got;
    enum close_kind closed;
    int fd;
    int rc = 1;

    if (out == NULL || in == NULL) {
        exit(1);
    }
    random_bytes(out, n);
    SSL *ssl = open_one(ctx, &fd, deadline);
    if (transfer(ssl, fd, out, n, false, in, n, (long)n, &got, &closed, deadline) != 0) {
        goto done;
    }
    if (got != n) {
        printf("echo: got %zu of %zu bytes (peer closed)\n", got, n);
        goto done;
    }
    if (memcmp(in, out, n) != 0) {
        printf("echo: %zu bytes back but they differ\n", n);
        goto done;
    }
    printf("echo %zu bytes ok\n", n);
    rc = 0;
done:
    close_conn(ssl, fd);
    SSL_CTX_free(ctx);
    free(out);
    free(in);
    return rc;
}

static int
cmd_sink(void)
{
    double deadline = now_s() + opt.timeout;
    size_t n = opt.bytes < 0 ? 1048576 : (size_t)opt.bytes;
    unsigned char *out = malloc(n + 1);
    unsigned char in[256];
    char want[64];
    SSL_CTX *ctx = client_ctx_new();
    size_t got;
    enum close_kind closed;
    int fd;
    int rc = 1;

    if (out == NULL) {
        exit(1);
    }
    random_bytes(out, n);
    snprintf(want, sizeof(want), "received %zu\n", n);
    SSL *ssl = open_one(ctx, &fd, deadline);
    if (transfer(ssl, fd, out, n, true, in, sizeof(in) - 1, -1, &got, &closed, deadline) != 0) {
        goto done;
    }
    in[got] = '\0';
    printf("sink answered: %s", got > 0 ? (char *)in : "(nothing)\n");
    if (strcmp((char *)in, want) != 0) {
        printf("sink: expected %s", want);
        goto done;
    }
    rc = 0;
done:
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    free(out);
    return rc;
}

static int
cmd_halfclose(void)
{
    double deadline = now_s() + opt.timeout;
    size_t n = opt.bytes < 0 ? 65536 : (size_t)opt.bytes;
    unsigned char *out = malloc(n + 1);
    unsigned char *in = malloc(n + 1);
    SSL_CTX *ctx = client_ctx_new();
    size_t got;
    enum close_kind closed;
    int fd;
    int rc = 1;

    if (out == NULL || in == NULL) {
        exit(1);
    }
    random_bytes(out, n);
    SSL *ssl = open_one(ctx, &fd, deadline);
    /* Write everything, send close_notify, read until the peer closes. */
    if (transfer(ssl, fd, out, n, true, in, n, -1, &got, &closed, deadline) != 0) {
        goto done;
    }
    printf("halfclose: sent %zu + close_notify, got %zu back, then %s\n", n, got,
           closed == CLOSED_NOTIFY ? "close_notify" : "EOF without close_notify");
    if (got != n || memcmp(in, out, n) != 0) {
        printf("halfclose: echo incomplete or different\n");
        goto done;
    }
    if (closed != CLOSED_NOTIFY) {
        goto done;
    }
    rc = 0;
done:
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    free(out);
    free(in);
    return rc;
}

/* ---- hold ---- */

static int
cmd_hold(void)
{
    double deadline = now_s() + opt.timeout;
    SSL_CTX *ctx = client_ctx_new();
    int fd;
    int rc = 1;

    if (opt.ready_file == NULL || opt.go_file == NULL) {
        fprintf(stderr, "tclient: hold needs --ready-file and --go-file\n");
        return 2;
    }
    SSL *ssl = open_one(ctx, &fd, deadline);
    if (exchange_line(ssl, fd, "ping before\n", deadline) != 0) {
        goto done;
    }
    printf("hold: first echo ok\n");
    fflush(stdout);
    FILE *f = fopen(opt.ready_file, "w");
    if (f == NULL) {
        perror("tclient: ready file");
        goto done;
    }
    fclose(f);
    struct stat st;
    while (stat(opt.go_file, &st) != 0) {
        if (now_s() > deadline) {
            printf("hold: no go file before the deadline\n");
            goto done;
        }
        poll(NULL, 0, 20);
    }
    if (exchange_line(ssl, fd, "ping after\n", now_s() + 10) != 0) {
        printf("hold: second echo failed\n");
        goto done;
    }
    printf("hold: second echo ok\n");
    rc = 0;
done:
    close_conn(ssl, fd);
    SSL_CTX_free(ctx);
    return rc;
}

/* ---- raw ---- */

/* Decode \r \n \t \\ \xHH in TEXT; returns the length written into out. */
static size_t
unescape(const char *text, unsigned char *out)
{
    size_t n = 0;

    for (const char *p = text; *p != '\0'; p++) {
        if (*p != '\\' || p[1] == '\0') {
            out[n++] = (unsigned char)*p;
            continue;
        }
        p++;
        switch (*p) {
        case 'r':
            out[n++] = '\r';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'x': {
            char hex[3] = {p[1], p[1] != '\0' ? p[2] : '\0', '\0'};
            out[n++] = (unsigned char)strtoul(hex, NULL, 16);
            p += strlen(hex);
            break;
        }
        default:
            out[n++] = (unsigned char)*p;
            break;
        }
    }
    return n;
}

/* Produce a real ClientHello through memory BIOs; returns its length. */
static size_t
make_client_hello(unsigned char *out, size_t cap)
{
    SSL_CTX *ctx = client_ctx_new();
    SSL *ssl = SSL_new(ctx);
    BIO *rb = BIO_new(BIO_s_mem());
    BIO *wb = BIO_new(BIO_s_mem());
    int n;

    if (ssl == NULL || rb == NULL || wb == NULL) {
        print_ssl_errors("make_client_hello");
        exit(1);
    }
    SSL_set_bio(ssl, rb, wb);
    if (opt.servername != NULL) {
        SSL_set_tlsext_host_name(ssl, opt.servername);
    }
    (void)SSL_connect(ssl);
    n = BIO_read(wb, out, (int)cap);
    if (n <= 0) {
        print_ssl_errors("ClientHello");
        exit(1);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return (size_t)n;
}

static int
cmd_raw(void)
{
    static unsigned char buf[65536];
    double start = now_s();
    double deadline = start + opt.timeout;
    const char *then = opt.then != NULL ? opt.then : "wait";
    size_t len = 0;
    int fd;

    if (opt.data != NULL) {
        if (strlen(opt.data) >= sizeof(buf)) {
            return 2;
        }
        len = unescape(opt.data, buf);
    } else if (opt.random >= 0) {
        len = opt.random > (long)sizeof(buf) ? sizeof(buf) : (size_t)opt.random;
        random_bytes(buf, len);
    } else if (opt.hello >= 0) {
        size_t full = make_client_hello(buf, sizeof(buf));
        len = full * (size_t)opt.hello / 100;
        printf("raw: ClientHello is %zu bytes, sending %zu\n", full, len);
    } else if (!opt.nothing) {
        fprintf(stderr, "tclient: raw needs --data, --random, --hello or --nothing\n");
        return 2;
    }
    fd = tcp_connect(deadline, true);
    if (fd < 0) {
        return 1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, ms_left(deadline)) != 1) {
                printf("raw: send timed out\n");
                return 1;
            }
            continue;
        }
        if (n < 0) {
            /* The server may close before reading everything: that counts as a close. */
            printf("raw: send failed (%s) after %zu bytes: closed after %d ms\n", strerror(errno),
                   off, (int)((now_s() - start) * 1000));
            close(fd);
            return 0;
        }
        off += (size_t)n;
    }
    if (strcmp(then, "reset") == 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
        printf("raw: sent %zu bytes, reset\n", len);
        return 0;
    }
    if (strcmp(then, "shutwr") == 0) {
        shutdown(fd, SHUT_WR);
    } else if (strcmp(then, "wait") != 0) {
        fprintf(stderr, "tclient: --then wait|shutwr|reset\n");
        return 2;
    }
    size_t answered = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, ms_left(deadline));
        if (pr == 0) {
            printf("raw: sent %zu bytes; still open after %.1f s (%zu bytes answered)\n", len,
                   opt.timeout, answered);
            close(fd);
            return 1;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            answered += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        printf("raw: sent %zu bytes; closed (%s) after %d ms, %zu bytes answered\n", len,
               n == 0 ? "EOF" : strerror(errno), (int)((now_s() - start) * 1000), answered);
        close(fd);
        return 0;
    }
}

/* ---- concurrent ---- */

enum cc_state {
    CC_IDLE = 0,
    CC_CONNECTING,
    CC_HANDSHAKE,
    CC_SEND,
    CC_RECV,
    CC_HELD,
    CC_FAILED,
};

struct cc_conn {
    enum cc_state state;
    int fd;
    SSL *ssl;
    char line[32];
    size_t line_len;
    size_t sent;
    char echo[32];
    size_t got;
    const char *why;
};

static int cc_epfd;

static void
cc_interest(struct cc_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};

    if (epoll_ctl(cc_epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        perror("tclient: epoll_ctl");
        exit(1);
    }
}

static void
cc_fail(struct cc_conn *c, const char *why)
{
    c->state = CC_FAILED;
    c->why = why;
    if (c->fd >= 0) {
        epoll_ctl(cc_epfd, EPOLL_CTL_DEL, c->fd, NULL);
    }
}

/* Map an SSL result to the next interest set; false when the connection failed. */
static bool
cc_want(struct cc_conn *c, int ret)
{
    int e = SSL_get_error(c->ssl, ret);

    if (e == SSL_ERROR_WANT_READ) {
        cc_interest(c, EPOLLIN);
        return true;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        cc_interest(c, EPOLLOUT);
        return true;
    }
    return false;
}

/* Run one connection as far as it can go without blocking. */
static void
cc_step(struct cc_conn *c)
{
    for (;;) {
        switch (c->state) {
        case CC_IDLE:
        case CC_HELD:
        case CC_FAILED:
            return;
        case CC_CONNECTING: {
            int err = 0;
            socklen_t elen = sizeof(err);
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
                cc_fail(c, "connect failed");
                return;
            }
            c->state = CC_HANDSHAKE;
            break;
        }
        case CC_HANDSHAKE: {
            ERR_clear_error();
            int r = SSL_connect(c->ssl);
            if (r == 1) {
                c->state = CC_SEND;
                break;
            }
            if (!cc_want(c, r)) {
                cc_fail(c, "handshake failed");
            }
            return;
        }
        case CC_SEND: {
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->line + c->sent, (int)(c->line_len - c->sent));
            if (r > 0) {
                c->sent += (size_t)r;
                if (c->sent == c->line_len) {
                    c->state = CC_RECV;
                }
                break;
            }
            if (!cc_want(c, r)) {
                cc_fail(c, "write failed");
            }
            return;
        }
        case CC_RECV: {
            ERR_clear_error();
            int r = SSL_read(c->ssl, c->echo + c->got, (int)(sizeof(c->echo) - c->got));
            if (r > 0) {
                c->got += (size_t)r;
                if (c->got >= c->line_len) {
                    if (memcmp(c->echo, c->line, c->line_len) != 0) {
                        cc_fail(c, "echo differs");
                        return;
                    }
                    c->state = CC_HELD;
                    /* Keep it open and quiet: no more events wanted. */
                    cc_interest(c, 0);
                    return;
                }
                break;
            }
            if (!cc_want(c, r)) {
                cc_fail(c, "read failed or closed");
            }
            return;
        }
        }
    }
}

static int
cc_start(struct cc_conn *c, SSL_CTX *ctx, long i)
{
    c->fd = tcp_connect(now_s() + opt.timeout, false);
    if (c->fd < 0) {
        c->state = CC_FAILED;
        c->why = "socket/connect failed";
        return -1;
    }
    c->ssl = client_ssl_new(ctx, c->fd);
    c->line_len = (size_t)snprintf(c->line, sizeof(c->line), "conn %ld\n", i);
    c->state = CC_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(cc_epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        perror("tclient: epoll_ctl add");
        exit(1);
    }
    return 0;
}

static int
cmd_concurrent(void)
{
    long n = opt.conns;
    struct cc_conn *conns = calloc((size_t)n, sizeof(*conns));
    SSL_CTX *ctx = client_ctx_new();
    double start = now_s();
    double deadline = start + opt.timeout;
    long next = 0;
    long held = 0;
    long failed = 0;
    long max_held = 0;

    if (conns == NULL) {
        exit(1);
    }
    raise_nofile();
    cc_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (cc_epfd < 0) {
        perror("tclient: epoll_create1");
        exit(1);
    }
    for (long i = 0; i < n; i++) {
        conns[i].fd = -1;
    }
    while (held + failed < n) {
        /* Keep at most --parallel connections in progress at a time. */
        while (next < n && next - held - failed < opt.parallel) {
            cc_start(&conns[next], ctx, next);
            if (conns[next].state == CC_FAILED) {
                failed++;
            }
            next++;
        }
        struct epoll_event evs[256];
        int k = epoll_wait(cc_epfd, evs, 256, ms_left(deadline));
        if (k < 0 && errno != EINTR) {
            perror("tclient: epoll_wait");
            exit(1);
        }
        if (k == 0 && now_s() >= deadline) {
            break;
        }
        for (int j = 0; j < k; j++) {
            struct cc_conn *c = evs[j].data.ptr;
            enum cc_state before = c->state;
            cc_step(c);
            if (before != CC_HELD && c->state == CC_HELD) {
                held++;
            } else if (before != CC_FAILED && c->state == CC_FAILED) {
                failed++;
            }
        }
        if (held > max_held) {
            max_held = held;
        }
    }
    /* Verify that the held connections are all still open right now. */
    long still_open = 0;
    for (long i = 0; i < n; i++) {
        struct cc_conn *c = &conns[i];
        if (c->state != CC_HELD) {
            continue;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) == 0) {
            still_open++;
        } else {
            c->state = CC_FAILED;
            c->why = "closed while held";
        }
    }
    const char *first_why = NULL;
    long why_count = 0;
    for (long i = 0; i < n; i++) {
        if (conns[i].state != CC_HELD) {
            why_count++;
            if (first_why == NULL) {
                first_why = conns[i].why != NULL ? conns[i].why : "did not finish in time";
            }
        }
    }
    printf("concurrent: %ld of %ld connections succeeded and were open at once "
           "(%ld failed) in %.2f s\n",
           still_open, n, why_count, now_s() - start);
    if (first_why != NULL) {
        printf("concurrent: first failure: %s\n", first_why);
    }
    for (long i = 0; i < n; i++) {
        struct cc_conn *c = &conns[i];
        if (c->ssl != NULL) {
            if (c->state == CC_HELD) {
                ERR_clear_error();
                (void)SSL_shutdown(c->ssl);
            }
            SSL_free(c->ssl);
        }
        if (c->fd >= 0) {
            close(c->fd);
        }
    }
    close(cc_epfd);
    SSL_CTX_free(ctx);
    free(conns);
    return still_open == n ? 0 : 1;
}

/* ---- main ---- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: tclient resume-chain|early|echo|sink|halfclose|concurrent|hold|raw --port P "
            "[options]\n"
            "  --host H --servername S --tls 1.2|1.3 --verify CAFILE --timeout S\n"
            "  --mode id|ticket --count N --alt-port P2 --bytes N --conns N --parallel K\n"
            "  --ready-file F --go-file G\n"
            "  --data TEXT | --random N | --hello PERCENT | --nothing  --then wait|shutwr|reset\n");
    exit(2);
}

static long
num_arg(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*end != '\0' || v < 0) {
        usage();
    }
    return v;
}

int
main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } cmds[] = {
        {"resume-chain", cmd_resume_chain},
        {"early", cmd_early},
        {"echo", cmd_echo},
        {"sink", cmd_sink},
        {"halfclose", cmd_halfclose},
        {"concurrent", cmd_concurrent},
        {"hold", cmd_hold},
        {"raw", cmd_raw},
    };
    int (*run)(void) = NULL;

    if (argc < 2) {
        usage();
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[1], cmds[i].name) == 0) {
            run = cmds[i].run;
        }
    }
    if (run == NULL) {
        usage();
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--nothing") == 0) {
            opt.nothing = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
        }
        const char *v = argv[++i];
        if (strcmp(a, "--host") == 0) {
            opt.host = v;
        } else if (strcmp(a, "--port") == 0) {
            opt.port = v;
        } else if (strcmp(a, "--alt-port") == 0) {
            opt.alt_port = v;
        } else if (strcmp(a, "--servername") == 0) {
            opt.servername = v;
        } else if (strcmp(a, "--verify") == 0) {
            opt.verify = v;
        } else if (strcmp(a, "--tls") == 0) {
            if (strcmp(v, "1.2") == 0) {
                opt.tls = TLS1_2_VERSION;
            } else if (strcmp(v, "1.3") == 0) {
                opt.tls = TLS1_3_VERSION;
            } else {
                usage();
            }
        } else if (strcmp(a, "--mode") == 0) {
            opt.mode = v;
        } else if (strcmp(a, "--then") == 0) {
            opt.then = v;
        } else if (strcmp(a, "--data") == 0) {
            opt.data = v;
        } else if (strcmp(a, "--ready-file") == 0) {
            opt.ready_file = v;
        } else if (strcmp(a, "--go-file") == 0) {
            opt.go_file = v;
        } else if (strcmp(a, "--count") == 0) {
            opt.count = num_arg(v);
        } else if (strcmp(a, "--bytes") == 0) {
            opt.bytes = num_arg(v);
        } else if (strcmp(a, "--conns") == 0) {
            opt.conns = num_arg(v);
        } else if (strcmp(a, "--parallel") == 0) {
            opt.parallel = num_arg(v) > 0 ? num_arg(v) : 1;
        } else if (strcmp(a, "--random") == 0) {
            opt.random = num_arg(v);
        } else if (strcmp(a, "--hello") == 0) {
            opt.hello = num_arg(v) > 100 ? 100 : num_arg(v);
        } else if (strcmp(a, "--timeout") == 0) {
            opt.timeout = (double)num_arg(v);
        } else {
            usage();
        }
    }
    if (opt.port == NULL) {
        usage();
    }
    signal(SIGPIPE, SIG_IGN);
    return run();
}
