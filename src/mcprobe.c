/*
 * mcprobe.c - the memcached prober on the main loop (see mcprobe.h).
 *
 * Per server: one connection, kept open between probes, and one timer that
 * is either the next round (idle) or the probe's deadline (connecting,
 * waiting).  A round sends "version\r\n" and expects one "VERSION ...\r\n"
 * line.  What a probe tells mc.c's health model:
 *   - an answer: the server is up (mc_health_success);
 *   - refused: down at once (a hard failure);
 *   - no answer by the deadline, a wrong answer, a failed connect: one
 *     failure (three in a row mark the server down);
 *   - the connection closed or reset under a probe after it had answered
 *     before (a stale connection: memcached restarted, an idle timeout): not
 *     counted; the probe is sent again at once on a fresh connection.
 */
#include "mcprobe.h"

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
#include "evloop.h"
#include "log.h"
#include "mc.h"

#define PROBE_EVERY_MS 1000
#define PROBE_LINE_MAX 128

enum probe_state {
    PROBE_IDLE = 0,
    PROBE_CONNECTING,
    PROBE_WAITING,
};

struct probe {
    unsigned magic;
#define PROBE_MAGIC 0x4d435052u
    struct mcprobe *p;
    size_t si;
    int fd;
    bool answered; /* this connection has answered a probe before */
    size_t next_addr;
    enum probe_state state;
    uint64_t started; /* the loop's ms when this round began */
    struct evhandler h;
    struct evtimer timer;
    char in[PROBE_LINE_MAX];
    size_t inlen;
};

struct mcprobe {
    unsigned magic;
#define MCPROBE_MAGIC 0x4d435042u
    struct mc *mc;
    struct evloop *loop;
    unsigned deadline_ms;
    size_t n;
    struct probe *probes;
};

unsigned
mcprobe_deadline_ms(unsigned timeout_ms)
{
    unsigned ms = timeout_ms <= 900 / 4 ? timeout_ms * 4 : 900;

    return ms < 200 ? 200 : ms;
}

static void
probe_close(struct probe *pr)
{
    if (pr->fd >= 0) {
        evloop_del(pr->p->loop, pr->fd);
        close(pr->fd);
        pr->fd = -1;
    }
    pr->answered = false;
    pr->inlen = 0;
}

/* The round is over: wait for the next one. */
static void
probe_idle(struct probe *pr)
{
    pr->state = PROBE_IDLE;
    evtimer_arm(pr->p->loop, &pr->timer, pr->started + PROBE_EVERY_MS);
}

static void
probe_failed(struct probe *pr, bool hard, const char *why, int err)
{
    char text[160];

    snprintf(text, sizeof(text), "probe: %s%s%s", why, err ? ": " : "", err ? strerror(err) : "");
    log_debug_limited("memcached %s: %s", mc_server_name(pr->p->mc, pr->si), text);
    probe_close(pr);
    pr->next_addr++; /* a name with several addresses: try the next one next time */
    mc_health_failure(pr->p->mc, pr->si, hard, text);
    probe_idle(pr);
}

static void
probe_send(struct probe *pr)
{
    static const char cmd[] = "version\r\n";
    ssize_t n = send(pr->fd, cmd, sizeof(cmd) - 1, MSG_NOSIGNAL);

    if (n != (ssize_t)sizeof(cmd) - 1) {
        probe_failed(pr, false, "cannot send", n < 0 ? errno : 0);
        return;
    }
    pr->state = PROBE_WAITING;
    pr->inlen = 0;
    evtimer_arm(pr->p->loop, &pr->timer, evloop_now(pr->p->loop) + pr->p->deadline_ms);
}

/* Open a connection and probe once it is up.  false: it failed (reported). */
static bool
probe_open(struct probe *pr)
{
    socklen_t alen = 0;
    const struct sockaddr *sa = mc_server_addr(pr->p->mc, pr->si, pr->next_addr, &alen);

    if (sa == NULL && pr->next_addr > 0) {
        pr->next_addr = 0;
        sa = mc_server_addr(pr->p->mc, pr->si, 0, &alen);
    }
    CHECK(sa != NULL); /* mcprobe_new skips servers without an address */
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        probe_failed(pr, false, "socket", errno);
        return false;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, alen) < 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        probe_failed(pr, err == ECONNREFUSED, "connect", err);
        return false;
    }
    int rc = evloop_add(pr->p->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &pr->h);
    if (rc < 0) {
        close(fd);
        probe_failed(pr, false, "epoll", -rc);
        return false;
    }
    pr->fd = fd;
    pr->state = PROBE_CONNECTING;
    evtimer_arm(pr->p->loop, &pr->timer, evloop_now(pr->p->loop) + pr->p->deadline_ms);
    return true;
}

static void
probe_round(struct probe *pr)
{
    pr->started = evloop_now(pr->p->loop);
    if (pr->fd < 0) {
        (void)probe_open(pr);
        return;
    }
    probe_send(pr);
}

/* The connection went away under a probe. */
static void
probe_lost(struct probe *pr, int err)
{
    if (pr->answered) {
        /* Stale (memcached restarted, or closed an idle connection): not
         * the server's answer to this probe; ask again on a fresh one. */
        probe_close(pr);
        (void)probe_open(pr);
        return;
    }
    probe_failed(pr, err == ECONNREFUSED || err == ECONNRESET,
                 err ? "connection failed" : "connection closed", err);
}

static void
probe_read(struct probe *pr)
{
    for (;;) {
        ssize_t n = recv(pr->fd, pr->in + pr->inlen, sizeof(pr->in) - pr->inlen, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            if (pr->state == PROBE_IDLE) {
                probe_close(pr); /* an idle connection closed: reopened next round */
                return;
            }
            probe_lost(pr, n < 0 ? errno : 0);
            return;
        }
        if (pr->state != PROBE_WAITING) {
            probe_failed(pr, false, "an answer to nothing", 0);
            return;
        }
        pr->inlen += (size_t)n;
        char *nl = memchr(pr->in, '\n', pr->inlen);
        if (nl == NULL) {
            if (pr->inlen == sizeof(pr->in)) {
                probe_failed(pr, false, "an answer too long", 0);
            }
            continue;
        }
        if (nl != pr->in + pr->inlen - 1 || nl - pr->in < 9 || nl[-1] != '\r' ||
            memcmp(pr->in, "VERSION ", 8) != 0) {
            probe_failed(pr, false, "not an answer to version", 0);
            return;
        }
        pr->answered = true;
        pr->inlen = 0;
        mc_health_success(pr->p->mc, pr->si);
        probe_idle(pr);
    }
}

static void
on_probe_event(struct evhandler *h, uint32_t events)
{
    struct probe *pr = CONTAINER_OF(h, struct probe, h);

    CHECK_OBJ(pr, PROBE_MAGIC);
    if (pr->fd < 0) {
        return;
    }
    if (pr->state == PROBE_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err != 0) {
            probe_failed(pr, err == ECONNREFUSED, "connect", err);
            return;
        }
        probe_send(pr);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        probe_read(pr);
    }
}

static void
on_probe_timer(struct evtimer *t)
{
    struct probe *pr = CONTAINER_OF(t, struct probe, timer);

    CHECK_OBJ(pr, PROBE_MAGIC);
    switch (pr->state) {
    case PROBE_IDLE:
        probe_round(pr);
        break;
    case PROBE_CONNECTING:
        probe_failed(pr, false, "connect timed out", 0);
        break;
    case PROBE_WAITING:
        probe_failed(pr, false, "no answer in time", 0);
        break;
    }
}

struct mcprobe *
mcprobe_new(struct mc *mc, struct evloop *loop)
{
    struct mcprobe *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    p->magic = MCPROBE_MAGIC;
    p->mc = mc;
    p->loop = loop;
    p->deadline_ms = mcprobe_deadline_ms(mc_timeout_ms(mc));
    p->n = mc_nservers(mc);
    p->probes = calloc(p->n, sizeof(*p->probes));
    if (p->probes == NULL) {
        free(p);
        return NULL;
    }
    for (size_t i = 0; i < p->n; i++) {
        struct probe *pr = &p->probes[i];
        socklen_t len;
        pr->magic = PROBE_MAGIC;
        pr->p = p;
        pr->si = i;
        pr->fd = -1;
        pr->h.on_event = on_probe_event;
        pr->timer.on_timer = on_probe_timer;
        if (mc_server_addr(mc, i, 0, &len) != NULL) {
            probe_round(pr);
        }
    }
    return p;
}

void
mcprobe_free(struct mcprobe *p)
{
    if (p == NULL) {
        return;
    }
    CHECK_OBJ(p, MCPROBE_MAGIC);
    for (size_t i = 0; i < p->n; i++) {
        struct probe *pr = &p->probes[i];
        probe_close(pr);
        evtimer_disarm(p->loop, &pr->timer);
        pr->magic = 0;
    }
    free(p->probes);
    p->magic = 0;
    free(p);
}
