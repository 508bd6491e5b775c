/*
 * testbackend.c - the plaintext TCP backend used by the integration tests.
 *
 * Usage: testbackend MODE HOST:PORT   (PORT may be 0: the kernel picks one)
 *
 * Once listening it prints "PORT <n>" on stdout and flushes, so a test can
 * read the port it got.  Modes:
 *   echo    every byte is sent back; on the client's EOF the pending bytes
 *           are flushed and then shutdown(SHUT_WR) is called, so a test can
 *           observe half-close travelling through the proxy.
 *   http    every request (read up to its blank line) gets a small
 *           keep-alive "200 OK" with the body "hello from backend\n".
 *   sink    bytes are read and counted; on EOF "received <n>\n" is sent and
 *           the connection closed.
 *   banner  "220 backend ready\r\n" is sent on accept, then like echo.
 *   close   the connection is closed as soon as it is accepted.
 *   record  like echo, and every byte received (from every connection) is
 *           also written to stdout after the PORT line, so a test can count
 *           what reached the backend in total (early data, replays).
 *
 * One thread, one epoll instance; every connection owns a fixed output
 * buffer.  Reading stops while the buffer is full (back-pressure), so a
 * client that sends fast and reads slowly is never dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum backend_mode {
    MODE_ECHO = 0,
    MODE_HTTP,
    MODE_SINK,
    MODE_BANNER,
    MODE_CLOSE,
    MODE_RECORD,
};

#define CONN_BUF_SIZE 16384

/*
 * HTTP mode reads at most HTTP_READ bytes at a time, and only while the
 * output buffer has HTTP_ROOM free: the smallest request ("\r\n\r\n", 4
 * bytes) yields a reply of about 110, so one read can never produce more
 * replies than fit.
 */
#define HTTP_READ 256
#define HTTP_ROOM (HTTP_READ / 4 * 120)

static const char http_body[] = "hello from backend\n";
static const char banner_text[] = "220 backend ready\r\n";

struct bconn {
    int fd;
    bool read_eof;   /* the client sent FIN */
    bool write_shut; /* we called shutdown(SHUT_WR) */
    bool want_out;   /* EPOLLOUT is part of the interest set */
    bool want_in;    /* EPOLLIN is part of the interest set */
    uint64_t received;
    unsigned http_match; /* how many bytes of "\r\n\r\n" were seen last */
    size_t out_start;
    size_t out_end;
    char out[CONN_BUF_SIZE];
};

static enum backend_mode mode;
static int epfd;
static int listen_fd;

static void
die(const char *what)
{
    perror(what);
    exit(2);
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

static int
parse_mode(const char *name, enum backend_mode *out)
{
    static const struct {
        const char *name;
        enum backend_mode mode;
    } modes[] = {
        {"echo", MODE_ECHO},     {"http", MODE_HTTP},   {"sink", MODE_SINK},
        {"banner", MODE_BANNER}, {"close", MODE_CLOSE}, {"record", MODE_RECORD},
    };

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(name, modes[i].name) == 0) {
            *out = modes[i].mode;
            return 0;
        }
    }
    return -1;
}

/* Parse "HOST:PORT" or "[V6]:PORT" into a socket address; returns -1 if malformed. */
static int
parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hlen;
    char *end;
    long port;

    if (colon == NULL) {
        return -1;
    }
    hlen = (size_t)(colon - text);
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
        h = text + 1;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*sin6);
        return 0;
    }
    return -1;
}

static void
conn_close(struct bconn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c);
}

static size_t
conn_room(const struct bconn *c)
{
    return CONN_BUF_SIZE - (c->out_end - c->out_start);
}

static void
conn_update_interest(struct bconn *c)
{
    size_t need = mode == MODE_HTTP ? HTTP_ROOM : 1;
    bool in = !c->read_eof && conn_room(c) >= need;
    bool out = c->out_end > c->out_start;
    struct epoll_event ev = {.events = 0, .data.ptr = c};

    if (in == c->want_in && out == c->want_out) {
        return;
    }
    c->want_in = in;
    c->want_out = out;
    /* EPOLLRDHUP only while reading: it is level-triggered and would spin. */
    ev.events = (in ? EPOLLIN | EPOLLRDHUP : 0) | (out ? EPOLLOUT : 0);
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        die("epoll_ctl mod");
    }
}

/* Append bytes to the output buffer; the caller made sure they fit. */
static void
conn_queue(struct bconn *c, const void *data, size_t len)
{
    if (CONN_BUF_SIZE - c->out_end < len && c->out_start > 0) {
        memmove(c->out, c->out + c->out_start, c->out_end - c->out_start);
        c->out_end -= c->out_start;
        c->out_start = 0;
    }
    memcpy(c->out + c->out_end, data, len);
    c->out_end += len;
}

/* Write what is queued; returns -1 when the connection failed. */
static int
conn_flush(struct bconn *c)
{
    while (c->out_end > c->out_start) {
        ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }
            return -1;
        }
        c->out_start += (size_t)n;
    }
    c->out_start = 0;
    c->out_end = 0;
    return 0;
}

/* Feed received bytes to the HTTP request splitter: one answer per blank line. */
static void
http_consume(struct bconn *c, const char *data, size_t len)
{
    static const char end_marker[] = "\r\n\r\n";
    char head[160];

    for (size_t i = 0; i < len; i++) {
        if (data[i] == end_marker[c->http_match]) {
            c->http_match++;
        } else {
            c->http_match = data[i] == '\r' ? 1 : 0;
        }
        if (c->http_match == 4) {
            int hl = snprintf(head, sizeof(head),
                              "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                              "Connection: keep-alive\r\n\r\n",
                              sizeof(http_body) - 1);
            c->http_match = 0;
            if (conn_room(c) >= (size_t)hl + sizeof(http_body)) {
                conn_queue(c, head, (size_t)hl);
                conn_queue(c, http_body, sizeof(http_body) - 1);
            }
        }
    }
}

/* Read what fits; returns -1 when the connection should be closed. */
static int
conn_read(struct bconn *c)
{
    char tmp[CONN_BUF_SIZE];

    while (!c->read_eof) {
        size_t want = sizeof(tmp);
        if (mode == MODE_ECHO || mode == MODE_BANNER || mode == MODE_RECORD) {
            want = conn_room(c);
            if (want == 0) {
                return 0;
            }
        } else if (mode == MODE_HTTP) {
            if (conn_room(c) < HTTP_ROOM) {
                return 0;
            }
            want = HTTP_READ;
        }
        ssize_t n = recv(c->fd, tmp, want, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }
            return -1;
        }
        if (n == 0) {
            c->read_eof = true;
            break;
        }
        c->received += (uint64_t)n;
        switch (mode) {
        case MODE_RECORD:
            for (ssize_t off = 0, w; off < n; off += w) {
                if ((w = write(STDOUT_FILENO, tmp + off, (size_t)(n - off))) <= 0) {
                    return -1;
                }
            }
            conn_queue(c, tmp, (size_t)n);
            break;
        case MODE_ECHO:
        case MODE_BANNER:
            conn_queue(c, tmp, (size_t)n);
            break;
        case MODE_HTTP:
            http_consume(c, tmp, (size_t)n);
            break;
        case MODE_SINK:
        case MODE_CLOSE:
            break;
        }
    }
    if (c->read_eof && mode == MODE_SINK) {
        char line[64];
        int ll = snprintf(line, sizeof(line), "received %llu\n", (unsigned long long)c->received);
        conn_queue(c, line, (size_t)ll);
    }
    return 0;
}

/* One readiness event for a connection; frees it when it is finished. */
static void
conn_event(struct bconn *c, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (conn_read(c) < 0) {
            conn_close(c);
            return;
        }
    }
    if (conn_flush(c) < 0) {
        conn_close(c);
        return;
    }
    if (c->read_eof && c->out_end == c->out_start) {
        /* Everything echoed: pass the EOF on, then we are done. */
        if (!c->write_shut) {
            shutdown(c->fd, SHUT_WR);
            c->write_shut = true;
        }
        conn_close(c);
        return;
    }
    if (events & EPOLLERR) {
        conn_close(c);
        return;
    }
    conn_update_interest(c);
}

static void
accept_all(void)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
                return;
            }
            if (errno == EMFILE || errno == ENFILE) {
                fprintf(stderr, "testbackend: accept: %s\n", strerror(errno));
                return;
            }
            die("accept4");
        }
        if (mode == MODE_CLOSE) {
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct bconn *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            die("calloc");
        }
        c->fd = fd;
        c->want_in = true;
        if (mode == MODE_BANNER) {
            conn_queue(c, banner_text, sizeof(banner_text) - 1);
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            die("epoll_ctl add");
        }
        if (mode == MODE_BANNER) {
            conn_event(c, 0);
        }
    }
}

int
main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int one = 1;

    if (argc != 3 || parse_mode(argv[1], &mode) != 0 || parse_addr(argv[2], &ss, &sslen) != 0) {
        fprintf(stderr, "usage: testbackend echo|http|sink|banner|close HOST:PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        die("socket");
    }
    (void)setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listen_fd, (struct sockaddr *)&ss, sslen) != 0) {
        die("bind");
    }
    if (listen(listen_fd, 4096) != 0) {
        die("listen");
    }
    sslen = sizeof(ss);
    if (getsockname(listen_fd, (struct sockaddr *)&ss, &sslen) != 0) {
        die("getsockname");
    }
    unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        die("epoll_create1");
    }
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &lev) != 0) {
        die("epoll_ctl listen");
    }

    printf("PORT %u\n", port);
    fflush(stdout);

    for (;;) {
        struct epoll_event evs[256];
        int n = epoll_wait(epfd, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                accept_all();
            } else {
                conn_event(evs[i].data.ptr, evs[i].events);
            }
        }
    }
}
