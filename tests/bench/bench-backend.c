/*
 * bench-backend.c - the plaintext backends of `tessera-bench backend http|echo|sink`: an HTTP
 * responder, an echo and a sink on a loopback port, so that a benchmark needs nothing but this
 * program and the servers under test.  Runs on the main thread alone, until a signal.
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

#define BCONN_MAGIC 0x42434f4eu

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
int
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
