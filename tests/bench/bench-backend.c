/*
 * bench-backend.c - the plaintext backends of `tessera-bench backend http|echo|sink`: an HTTP
 * responder, an echo and a sink on a loopback port, so that a benchmark needs nothing but this
 * program and the servers under test.  Runs on the main thread alone, until a signal.
 *
 * With `--proxy required`, every connection must start with a PROXY protocol header (v1 or v2,
 * parsed and skipped by tessera's own parser, src/proxy_proto.c) before its bytes are served;
 * with `--proxy absent`, none may.  The counts are printed on exit (one "PROXY key=value ..."
 * line), so that a benchmark can prove what the server in front sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "proxy_proto.h"

#define BCONN_MAGIC 0x42434f4eu

enum backend_kind { BACKEND_HTTP = 0, BACKEND_ECHO, BACKEND_SINK };

/* --proxy: not looked at (the default), required on every connection, or refused. */
enum backend_proxy { PROXY_IGNORE = 0, PROXY_REQUIRED, PROXY_ABSENT };

static enum backend_proxy proxy_mode;

/* What the connections started with (--proxy required or absent); printed on exit. */
static struct {
    unsigned long conns;      /* accepted */
    unsigned long headers;    /* a complete, valid header (required) */
    unsigned long v1, v2;     /* ... by version */
    unsigned long hdr_bytes;  /* ... their total length */
    unsigned long missing;    /* required: the first bytes were not a PROXY header */
    unsigned long bad;        /* required: a header refused (other than its signature), or cut */
    unsigned long unexpected; /* absent: the first bytes were (the start of) a PROXY header */
    unsigned long empty;      /* closed before its first byte (a server's probe, an abort) */
    unsigned long closed;
} pstats;

/* One backend connection: pending output, and how far into "\r\n\r\n" the input has got. */
struct bconn {
    unsigned magic;
    int fd;
    uint32_t events;
    size_t off;
    size_t len;
    int match;
    bool eof;
    bool pending; /* --proxy: the first bytes are still to be checked */
    size_t hlen;  /* the header's bytes so far (required) */
    unsigned char hdr[PROXY_PROTO_IN_MAX];
    char buf[65536];
};

static const char backend_reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                    "Content-Type: text/plain\r\n\r\nok";

static void
bconn_close(int epfd, struct bconn *c)
{
    (void)epfd;
    if (c->pending) {
        /* Closed before the header was complete: nothing at all, or a part of one. */
        if (c->hlen == 0) {
            pstats.empty++;
        } else {
            pstats.bad++;
        }
    }
    pstats.closed++;
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

/*
 * The first bytes of a connection, under --proxy: dst[0..n) was just read.  Returns how many
 * bytes of the connection's data (the header taken away) are now at dst[0..), 0 while a header
 * is still incomplete, or -1 when the connection is to be closed (counted).
 */
static ssize_t
bconn_proxy(struct bconn *c, char *dst, size_t n)
{
    struct proxy_proto_header h;
    enum proxy_proto_error err = PROXY_PROTO_ERR_NONE;
    ssize_t r;

    if (proxy_mode == PROXY_ABSENT) {
        /* A request refuses on its first byte; a prefix of either signature is a header. */
        c->pending = false;
        r = proxy_proto_parse((const unsigned char *)dst, n, &h, &err);
        if (r < 0 && err == PROXY_PROTO_ERR_SIGNATURE) {
            return (ssize_t)n;
        }
        pstats.unexpected++;
        return -1;
    }
    size_t take = sizeof(c->hdr) - c->hlen < n ? sizeof(c->hdr) - c->hlen : n;
    memcpy(c->hdr + c->hlen, dst, take);
    c->hlen += take;
    r = proxy_proto_parse(c->hdr, c->hlen, &h, &err);
    if (r == 0 && c->hlen < sizeof(c->hdr)) {
        return 0;
    }
    c->pending = false;
    if (r <= 0) {
        if (err == PROXY_PROTO_ERR_SIGNATURE) {
            pstats.missing++;
        } else {
            pstats.bad++;
        }
        return -1;
    }
    pstats.headers++;
    pstats.hdr_bytes += (unsigned long)r;
    if (h.version == 1) {
        pstats.v1++;
    } else {
        pstats.v2++;
    }
    /* What followed the header: hdr[r..hlen), then the bytes of dst not copied.  The header
     * was incomplete before this read, so hlen - r < take and the move goes left. */
    size_t left = c->hlen - (size_t)r;
    memmove(dst + left, dst + take, n - take);
    memcpy(dst, c->hdr + r, left);
    return (ssize_t)(left + n - take);
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
        if (c->pending) {
            n = bconn_proxy(c, dst, (size_t)n);
            if (n < 0) {
                bconn_close(epfd, c);
                return;
            }
            if (n == 0) {
                continue;
            }
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

/* `tessera-bench backend http|echo|sink [--listen ADDR:PORT] [--proxy required|absent]`: print
 * "PORT n", serve until a signal; then, with --proxy, print the "PROXY ..." counts. */
int
bench_backend(int argc, char **argv)
{
    enum backend_kind kind;
    const char *listen_on = "127.0.0.1:0";

    if (argc < 3) {
        fprintf(stderr, "usage: tessera-bench backend http|echo|sink [--listen 127.0.0.1:0] "
                        "[--proxy required|absent]\n");
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
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "tessera-bench: backend option %s needs a value\n", argv[i]);
            return 64;
        }
        if (strcmp(argv[i], "--listen") == 0) {
            listen_on = argv[i + 1];
        } else if (strcmp(argv[i], "--proxy") == 0 && strcmp(argv[i + 1], "required") == 0) {
            proxy_mode = PROXY_REQUIRED;
        } else if (strcmp(argv[i], "--proxy") == 0 && strcmp(argv[i + 1], "absent") == 0) {
            proxy_mode = PROXY_ABSENT;
        } else {
            fprintf(stderr, "tessera-bench: bad backend option %s %s\n", argv[i], argv[i + 1]);
            return 64;
        }
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
                    c->pending = proxy_mode != PROXY_IGNORE;
                    pstats.conns++;
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
    if (proxy_mode != PROXY_IGNORE) {
        printf("PROXY mode=%s conns=%lu headers=%lu v1=%lu v2=%lu header_bytes=%lu missing=%lu "
               "bad=%lu unexpected=%lu empty=%lu open=%lu\n",
               proxy_mode == PROXY_REQUIRED ? "required" : "absent", pstats.conns, pstats.headers,
               pstats.v1, pstats.v2, pstats.hdr_bytes, pstats.missing, pstats.bad,
               pstats.unexpected, pstats.empty, pstats.conns - pstats.closed);
        fflush(stdout);
    }
    return 0;
}
