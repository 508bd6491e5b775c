/*
 * evloop.c - epoll plus a deadline heap; the only caller of epoll_*.
 *
 * Runs on the thread that owns the loop (each worker has one).  The heap
 * holds pointers to caller-owned struct evtimer; each timer remembers its
 * slot so that moving or removing it is O(log n), which keeps tens of
 * thousands of per-connection deadlines cheap.  Connections re-arm lazily
 * (see conn.c), so most I/O never touches the heap.
 */
#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"

#define EVLOOP_BATCH 256

struct evloop {
    int epfd;
    uint64_t now_ms;
    int64_t wall_s;
    struct evtimer **heap;
    size_t nheap;
    uint64_t timer_pass; /* counts evloop_run_timers calls */
    size_t capheap;
    struct evdefer *deferred; /* queued for the end of this pass, newest first */
    struct epoll_event events[EVLOOP_BATCH];
};

void
evloop_update_time(struct evloop *l)
{
    l->now_ms = clock_mono_ms();
    l->wall_s = clock_wall_s();
}

struct evloop *
evloop_new(void)
{
    struct evloop *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return NULL;
    }
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    evloop_update_time(l);
    return l;
}

void
evloop_free(struct evloop *l)
{
    if (l == NULL) {
        return;
    }
    close(l->epfd);
    free(l->heap);
    free(l);
}

static int
evloop_ctl(struct evloop *l, int op, int fd, uint32_t events, struct evhandler *h)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};

    if (epoll_ctl(l->epfd, op, fd, &ev) < 0) {
        return -errno;
    }
    return 0;
}

int
evloop_add(struct evloop *l, int fd, uint32_t events, struct evhandler *h)
{
    return evloop_ctl(l, EPOLL_CTL_ADD, fd, events, h);
}

int
evloop_mod(struct evloop *l, int fd, uint32_t events, struct evhandler *h)
{
    return evloop_ctl(l, EPOLL_CTL_MOD, fd, events, h);
}

int
evloop_del(struct evloop *l, int fd)
{
    return evloop_ctl(l, EPOLL_CTL_DEL, fd, 0, NULL);
}

uint64_t
evloop_now(const struct evloop *l)
{
    return l->now_ms;
}

int64_t
evloop_wall(const struct evloop *l)
{
    return l->wall_s;
}

size_t
evloop_timer_count(const struct evloop *l)
{
    return l->nheap;
}

/* Heap helpers: slot i (0-based) has children 2i+1, 2i+2. */
static void
heap_place(struct evloop *l, size_t i, struct evtimer *t)
{
    l->heap[i] = t;
    t->slot = i + 1;
}

static void
heap_up(struct evloop *l, size_t i)
{
    struct evtimer *t = l->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->when <= t->when) {
            break;
        }
        heap_place(l, i, l->heap[parent]);
        i = parent;
    }
    heap_place(l, i, t);
}

static void
heap_down(struct evloop *l, size_t i)
{
    struct evtimer *t = l->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= l->nheap) {
            break;
        }
        if (child + 1 < l->nheap && l->heap[child + 1]->when < l->heap[child]->when) {
            child++;
        }
        if (t->when <= l->heap[child]->when) {
            break;
        }
        heap_place(l, i, l->heap[child]);
        i = child;
    }
    heap_place(l, i, t);
}

void
evtimer_arm(struct evloop *l, struct evtimer *t, uint64_t when)
{
    CHECK(t->on_timer != NULL);
    t->armed = l->timer_pass;
    if (t->slot != 0) {
        size_t i = t->slot - 1;
        CHECK(l->heap[i] == t);
        uint64_t old = t->when;
        t->when = when;
        if (when < old) {
            heap_up(l, i);
        } else {
            heap_down(l, i);
        }
        return;
    }
    if (l->nheap == l->capheap) {
        size_t cap = l->capheap ? l->capheap * 2 : 64;
        struct evtimer **heap = realloc(l->heap, cap * sizeof(*heap));
        /* Out of memory for a timer is not survivable without losing a deadline. */
        CHECK(heap != NULL);
        l->heap = heap;
        l->capheap = cap;
    }
    t->when = when;
    l->heap[l->nheap] = t;
    t->slot = ++l->nheap;
    heap_up(l, l->nheap - 1);
}

void
evtimer_disarm(struct evloop *l, struct evtimer *t)
{
    if (t->slot == 0) {
        return;
    }
    size_t i = t->slot - 1;
    CHECK(i < l->nheap && l->heap[i] == t);
    t->slot = 0;
    l->nheap--;
    if (i == l->nheap) {
        return;
    }
    struct evtimer *last = l->heap[l->nheap];
    heap_place(l, i, last);
    if (i > 0 && last->when < l->heap[(i - 1) / 2]->when) {
        heap_up(l, i);
    } else {
        heap_down(l, i);
    }
}

void
evdefer_queue(struct evloop *l, struct evdefer *d)
{
    CHECK(d->on_defer != NULL);
    if (d->queued) {
        return;
    }
    d->queued = 1;
    d->next = l->deferred;
    l->deferred = d;
}

void
evdefer_cancel(struct evloop *l, struct evdefer *d)
{
    if (!d->queued) {
        return;
    }
    for (struct evdefer **p = &l->deferred; *p != NULL; p = &(*p)->next) {
        if (*p == d) {
            *p = d->next;
            d->queued = 0;
            return;
        }
    }
    CHECK(!"a queued evdefer is on the queue");
}

/* Run the deferred work, including what it queues itself. */
static void
evloop_run_deferred(struct evloop *l)
{
    while (l->deferred != NULL) {
        struct evdefer *d = l->deferred;
        l->deferred = d->next;
        d->queued = 0;
        d->on_defer(d);
    }
}

static int
evloop_wait_ms(const struct evloop *l, int max_wait_ms)
{
    if (l->deferred != NULL) {
        return 0;
    }
    if (l->nheap == 0) {
        return max_wait_ms;
    }
    uint64_t first = l->heap[0]->when;
    if (first <= l->now_ms) {
        return 0;
    }
    uint64_t delta = first - l->now_ms;
    if (max_wait_ms >= 0 && delta > (uint64_t)max_wait_ms) {
        return max_wait_ms;
    }
    return (int)delta;
}

static void
evloop_run_timers(struct evloop *l)
{
    /* A timer armed by a callback of this pass (even for "now") waits for
     * the next iteration, which bounds the work done here; the loop then
     * does not sleep, because that timer is already due. */
    uint64_t now = l->now_ms;
    uint64_t pass = ++l->timer_pass;

    while (l->nheap > 0 && l->heap[0]->when <= now && l->heap[0]->armed != pass) {
        struct evtimer *t = l->heap[0];
        evtimer_disarm(l, t);
        t->on_timer(t);
    }
}

int
evloop_run_once(struct evloop *l, int max_wait_ms)
{
    int n = epoll_wait(l->epfd, l->events, EVLOOP_BATCH, evloop_wait_ms(l, max_wait_ms));

    if (n < 0 && errno != EINTR) {
        return -errno;
    }
    evloop_update_time(l);
    for (int i = 0; i < n; i++) {
        struct evhandler *h = l->events[i].data.ptr;
        h->on_event(h, l->events[i].events);
    }
    evloop_run_deferred(l);
    evloop_run_timers(l);
    evloop_run_deferred(l);
    return n < 0 ? 0 : n;
}
