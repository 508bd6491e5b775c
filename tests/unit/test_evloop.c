/*
 * test_evloop.c - unit tests for evloop.c: the deadline heap (arm, move,
 * disarm, fire in deadline order, exactly the due ones) and descriptor
 * events through a pipe (add, mod, del, EPOLLIN, EPOLLHUP, errors); deferred
 * work (once per pass however often queued, chains, cancel, after timers).
 *
 * Single-threaded, like every user of an evloop.  Deadlines are taken
 * relative to evloop_now() of the loop under test: "due" ones lie in the
 * past and "future" ones a minute ahead, so that the real clock moving on
 * while the test runs never changes which timers are due.  The random
 * deadlines come from a fixed-seed generator, so every run is the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "evloop.h"

#define NPROBES   1000
#define FUTURE_MS 60000u

/* xorshift64*: a small deterministic generator for deadlines and choices. */
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static unsigned
rng_below(unsigned n)
{
    return (unsigned)(rng_next() % n);
}

/* A timer under test and what the test expects of it. */
struct probe {
    struct evtimer t;
    size_t idx;
    uint64_t deadline; /* the last value armed (the test's own record) */
    bool armed;        /* the test's record of whether it is armed */
    int fired;
};

static struct probe probes[NPROBES];
static size_t fire_order[NPROBES];
static size_t nfired;
static bool fired_while_armed;

static void
on_probe(struct evtimer *t)
{
    struct probe *p = (struct probe *)((char *)t - offsetof(struct probe, t));

    /* The loop disarms a timer before calling it, so that it may re-arm. */
    if (evtimer_armed(t)) {
        fired_while_armed = true;
    }
    p->fired++;
    if (nfired < NPROBES) {
        fire_order[nfired] = p->idx;
    }
    nfired++;
}

static uint64_t
due_deadline(uint64_t now)
{
    uint64_t back = rng_below(5000);

    return now >= back ? now - back : 0;
}

static uint64_t
future_deadline(uint64_t now)
{
    return now + FUTURE_MS + rng_below(5000);
}

static void
probe_arm(struct evloop *l, struct probe *p, uint64_t when)
{
    p->deadline = when;
    p->armed = true;
    evtimer_arm(l, &p->t, when);
}

static void
probe_disarm(struct evloop *l, struct probe *p)
{
    p->armed = false;
    evtimer_disarm(l, &p->t);
}

static size_t
count_armed(void)
{
    size_t n = 0;

    for (size_t i = 0; i < NPROBES; i++) {
        n += probes[i].armed;
    }
    return n;
}

static int
setup_probes(void **state)
{
    (void)state;
    rng_state = 0x7e55e7a5eed5u;
    memset(probes, 0, sizeof(probes));
    for (size_t i = 0; i < NPROBES; i++) {
        probes[i].t.on_timer = on_probe;
        probes[i].idx = i;
    }
    nfired = 0;
    fired_while_armed = false;
    return 0;
}

static void
test_new_loop_is_empty(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();

    assert_non_null(l);
    assert_int_equal(evloop_timer_count(l), 0);
    assert_true(evloop_now(l) > 0);
    /* The wall clock is Unix seconds: after 2020 and close to time(). */
    assert_true(evloop_wall(l) > 1577836800);
    assert_true(llabs((long long)(evloop_wall(l) - (int64_t)time(NULL))) <= 2);
    /* Nothing registered and nothing armed: returns at once with nothing. */
    assert_int_equal(evloop_run_once(l, 0), 0);
    evloop_free(l);
    evloop_free(NULL);
}

/*
 * The main heap test: 1000 timers, half due and half a minute ahead; then
 * 300 moves (due to future, future to due, and within each side), then
 * disarming 200 picks (some of them twice, some never armed again).  One
 * iteration must fire exactly the armed, due ones, in nondecreasing order of
 * deadline, each once and disarmed when called, and leave the rest armed.
 */
static void
test_timer_heap_fires_exactly_the_due(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();

    assert_non_null(l);
    uint64_t now = evloop_now(l);

    for (size_t i = 0; i < NPROBES; i++) {
        probe_arm(l, &probes[i], rng_below(2) ? due_deadline(now) : future_deadline(now));
        assert_true(evtimer_armed(&probes[i].t));
    }
    assert_int_equal(evloop_timer_count(l), NPROBES);

    /* Re-arm: move earlier and later, across "now" and not. */
    for (int k = 0; k < 300; k++) {
        struct probe *p = &probes[rng_below(NPROBES)];
        switch (k % 3) {
        case 0:
            probe_arm(l, p, p->deadline <= now ? future_deadline(now) : due_deadline(now));
            break;
        case 1:
            probe_arm(l, p, p->deadline <= now ? due_deadline(now) : future_deadline(now));
            break;
        case 2:
            /* Same deadline again: must keep its place and stay armed once. */
            probe_arm(l, p, p->deadline);
            break;
        }
    }
    assert_int_equal(evloop_timer_count(l), NPROBES);

    /* Disarm some; disarming an unarmed timer does nothing. */
    for (int k = 0; k < 200; k++) {
        struct probe *p = &probes[rng_below(NPROBES)];
        probe_disarm(l, p);
        assert_false(evtimer_armed(&p->t));
        evtimer_disarm(l, &p->t);
    }
    size_t armed = count_armed();
    assert_int_equal(evloop_timer_count(l), armed);

    size_t want_due = 0;
    for (size_t i = 0; i < NPROBES; i++) {
        if (probes[i].armed && probes[i].deadline <= now) {
            want_due++;
        }
    }
    /* With this seed both sides are well populated; guard against a dull draw. */
    assert_true(want_due > 200);
    assert_true(armed - want_due > 200);

    int n = evloop_run_once(l, 0);
    assert_int_equal(n, 0); /* no descriptor events */
    assert_false(fired_while_armed);
    assert_int_equal(nfired, want_due);
    for (size_t k = 1; k < nfired; k++) {
        assert_true(probes[fire_order[k - 1]].deadline <= probes[fire_order[k]].deadline);
    }
    for (size_t i = 0; i < NPROBES; i++) {
        struct probe *p = &probes[i];
        bool due = p->armed && p->deadline <= now;
        assert_int_equal(p->fired, due ? 1 : 0);
        assert_int_equal(evtimer_armed(&p->t), p->armed && !due);
        if (due) {
            p->armed = false;
        }
    }
    assert_int_equal(evloop_timer_count(l), armed - want_due);

    /* A second iteration fires nothing more. */
    nfired = 0;
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(nfired, 0);

    /* Bring the remaining ones forward, in reverse index order: all fire, sorted. */
    size_t left = count_armed();
    for (size_t i = NPROBES; i-- > 0;) {
        if (probes[i].armed) {
            probe_arm(l, &probes[i], due_deadline(now));
        }
    }
    assert_int_equal(evloop_timer_count(l), left);
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(nfired, left);
    for (size_t k = 1; k < nfired; k++) {
        assert_true(probes[fire_order[k - 1]].deadline <= probes[fire_order[k]].deadline);
    }
    assert_int_equal(evloop_timer_count(l), 0);
    evloop_free(l);
}

/* Disarming every timer one by one, in random order, keeps the count exact. */
static void
test_timer_disarm_all_random_order(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();
    size_t order[NPROBES];

    assert_non_null(l);
    uint64_t now = evloop_now(l);
    for (size_t i = 0; i < NPROBES; i++) {
        probe_arm(l, &probes[i], future_deadline(now));
        order[i] = i;
    }
    for (size_t i = NPROBES - 1; i > 0; i--) {
        size_t j = rng_below((unsigned)i + 1);
        size_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (size_t k = 0; k < NPROBES; k++) {
        probe_disarm(l, &probes[order[k]]);
        assert_int_equal(evloop_timer_count(l), NPROBES - k - 1);
    }
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(nfired, 0);
    evloop_free(l);
}

/* A timer a little ahead bounds the wait of an iteration that asks for more. */
static void
test_timer_bounds_the_wait(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();
    struct timespec t0, t1;

    assert_non_null(l);
    probe_arm(l, &probes[0], evloop_now(l) + 30);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Up to 5 s asked for; the timer ends the wait after about 30 ms. */
    for (int i = 0; i < 10 && probes[0].fired == 0; i++) {
        assert_true(evloop_run_once(l, 5000) >= 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_int_equal(probes[0].fired, 1);
    assert_true(ms >= 25);
    assert_true(ms < 2000);
    assert_true(evloop_now(l) >= probes[0].deadline);
    assert_int_equal(evloop_timer_count(l), 0);
    evloop_free(l);
}

/* A callback may re-arm its own timer for later; it fires again then. */
static struct evloop *rearm_loop;

static void
on_rearm(struct evtimer *t)
{
    struct probe *p = (struct probe *)((char *)t - offsetof(struct probe, t));

    p->fired++;
    if (p->fired < 3) {
        evtimer_arm(rearm_loop, t, evloop_now(rearm_loop) + 1);
    }
}

static void
test_timer_rearm_in_callback(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();
    struct probe *p = &probes[0];

    assert_non_null(l);
    rearm_loop = l;
    p->t.on_timer = on_rearm;
    evtimer_arm(l, &p->t, evloop_now(l));
    assert_true(evloop_run_once(l, 0) >= 0);
    assert_int_equal(p->fired, 1);
    assert_true(evtimer_armed(&p->t));
    for (int i = 0; i < 100 && p->fired < 3; i++) {
        assert_true(evloop_run_once(l, 1000) >= 0);
    }
    assert_int_equal(p->fired, 3);
    assert_false(evtimer_armed(&p->t));
    assert_int_equal(evloop_timer_count(l), 0);
    evloop_free(l);
}

/* A callback that re-arms its timer for "now" (or earlier) must not keep
 * evloop_run_once busy: it runs once per iteration. */
static void
on_rearm_now(struct evtimer *t)
{
    struct probe *p = (struct probe *)((char *)t - offsetof(struct probe, t));

    p->fired++;
    evtimer_arm(rearm_loop, t, evloop_now(rearm_loop) - 1);
}

static void
test_timer_rearm_now_runs_once_per_iteration(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();
    struct probe *p = &probes[0];

    assert_non_null(l);
    rearm_loop = l;
    p->t.on_timer = on_rearm_now;
    evtimer_arm(l, &p->t, evloop_now(l));
    for (int i = 1; i <= 5; i++) {
        assert_true(evloop_run_once(l, 1000) >= 0);
        assert_int_equal(p->fired, i);
    }
    assert_true(evtimer_armed(&p->t));
    evtimer_disarm(l, &p->t);
    evloop_free(l);
}

/* ---- deferred work ---- */

struct defer_probe {
    struct evdefer d;
    struct evloop *l;
    int ran;
    int requeue;               /* queue itself again this many times */
    struct defer_probe *chain; /* queue this one when run */
    const struct probe *timer; /* the timer's fire count when run */
    int timer_fired_seen;
};

static void
on_defer_probe(struct evdefer *d)
{
    struct defer_probe *dp = (struct defer_probe *)((char *)d - offsetof(struct defer_probe, d));

    dp->ran++;
    if (dp->timer != NULL) {
        dp->timer_fired_seen = dp->timer->fired;
    }
    if (dp->requeue > 0) {
        dp->requeue--;
        evdefer_queue(dp->l, &dp->d);
    }
    if (dp->chain != NULL) {
        evdefer_queue(dp->l, &dp->chain->d);
    }
}

static struct defer_probe *timer_queues; /* queued by on_probe_queue */

static void
on_probe_queue(struct evtimer *t)
{
    on_probe(t);
    evdefer_queue(timer_queues->l, &timer_queues->d);
}

static void
test_defer(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();
    struct defer_probe a = {.d.on_defer = on_defer_probe, .l = l};
    struct defer_probe b = {.d.on_defer = on_defer_probe, .l = l};
    struct defer_probe c = {.d.on_defer = on_defer_probe, .l = l};

    assert_non_null(l);
    /* Queued twice in a pass: runs once, and the loop does not sleep first. */
    evdefer_queue(l, &a.d);
    evdefer_queue(l, &a.d);
    assert_int_equal(evloop_run_once(l, 60000), 0);
    assert_int_equal(a.ran, 1);
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(a.ran, 1);

    /* Work queued by deferred work runs in the same pass (itself, another:
     * each of a's three runs queues b again once b has run). */
    a.requeue = 2;
    a.chain = &b;
    evdefer_queue(l, &a.d);
    assert_int_equal(evloop_run_once(l, 60000), 0);
    assert_int_equal(a.ran, 4);
    assert_int_equal(b.ran, 3);
    a.chain = NULL;

    /* Cancelled: never runs; cancelling what is not queued is harmless. */
    evdefer_queue(l, &b.d);
    evdefer_queue(l, &c.d);
    evdefer_queue(l, &a.d);
    evdefer_cancel(l, &c.d); /* in the middle of the queue */
    evdefer_cancel(l, &c.d);
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(c.ran, 0);
    assert_int_equal(b.ran, 4);
    assert_int_equal(a.ran, 5);

    /* Queued by a timer: runs after it, in the same pass. */
    probes[0].t.on_timer = on_probe_queue;
    timer_queues = &c;
    c.timer = &probes[0];
    probe_arm(l, &probes[0], evloop_now(l));
    assert_int_equal(evloop_run_once(l, 1000), 0);
    assert_int_equal(probes[0].fired, 1);
    assert_int_equal(c.ran, 1);
    assert_int_equal(c.timer_fired_seen, 1);
    evloop_free(l);
}

/* ---- descriptors ---- */

struct pipe_probe {
    struct evhandler h;
    int fd;
    int calls;
    uint32_t events;
    char last;
};

static void
on_pipe(struct evhandler *h, uint32_t events)
{
    struct pipe_probe *pp = (struct pipe_probe *)((char *)h - offsetof(struct pipe_probe, h));

    pp->calls++;
    pp->events = events;
    if (events & EPOLLIN) {
        /* Level-triggered: drain what is there so the next turn is quiet. */
        char c;
        while (read(pp->fd, &c, 1) == 1) {
            pp->last = c;
        }
    }
}

static void
test_fd_event_pipe(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();
    struct pipe_probe pp = {.h.on_event = on_pipe};
    int fds[2];

    assert_non_null(l);
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    pp.fd = fds[0];
    assert_int_equal(evloop_add(l, fds[0], EPOLLIN, &pp.h), 0);
    /* Adding the same descriptor twice is the caller's error, reported. */
    assert_int_equal(evloop_add(l, fds[0], EPOLLIN, &pp.h), -EEXIST);

    /* Nothing written yet: nothing happens. */
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(pp.calls, 0);

    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(evloop_run_once(l, 1000), 1);
    assert_int_equal(pp.calls, 1);
    assert_true(pp.events & EPOLLIN);
    assert_int_equal(pp.last, 'x');

    /* Drained: quiet again. */
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(pp.calls, 1);

    /* No interest: a byte waits unseen; interest again: it is reported. */
    assert_int_equal(evloop_mod(l, fds[0], 0, &pp.h), 0);
    assert_int_equal(write(fds[1], "y", 1), 1);
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(pp.calls, 1);
    assert_int_equal(evloop_mod(l, fds[0], EPOLLIN, &pp.h), 0);
    assert_int_equal(evloop_run_once(l, 1000), 1);
    assert_int_equal(pp.calls, 2);
    assert_int_equal(pp.last, 'y');

    /* A timer and an event in the same iteration: both run. */
    probes[0].t.on_timer = on_probe;
    probe_arm(l, &probes[0], evloop_now(l));
    assert_int_equal(write(fds[1], "z", 1), 1);
    assert_int_equal(evloop_run_once(l, 1000), 1);
    assert_int_equal(pp.calls, 3);
    assert_int_equal(probes[0].fired, 1);

    /* Removed: no more calls; removing twice or an unknown fd reports -ENOENT. */
    assert_int_equal(evloop_del(l, fds[0]), 0);
    assert_int_equal(write(fds[1], "w", 1), 1);
    assert_int_equal(evloop_run_once(l, 0), 0);
    assert_int_equal(pp.calls, 3);
    assert_int_equal(evloop_del(l, fds[0]), -ENOENT);
    assert_int_equal(evloop_mod(l, fds[0], EPOLLIN, &pp.h), -ENOENT);
    assert_int_equal(evloop_add(l, -1, EPOLLIN, &pp.h), -EBADF);

    /* The writer closes: the reader sees the last byte, then a hang-up. */
    assert_int_equal(evloop_add(l, fds[0], EPOLLIN, &pp.h), 0);
    close(fds[1]);
    assert_int_equal(evloop_run_once(l, 1000), 1);
    assert_int_equal(pp.calls, 4);
    assert_true(pp.events & EPOLLHUP);
    assert_int_equal(pp.last, 'w');
    assert_int_equal(evloop_del(l, fds[0]), 0);
    close(fds[0]);
    evloop_free(l);
}

/* The write end of an empty pipe is writable at once (EPOLLOUT). */
static void
test_fd_event_writable(void **state)
{
    (void)state;
    struct evloop *l = evloop_new();
    struct pipe_probe pp = {.h.on_event = on_pipe};
    int fds[2];

    assert_non_null(l);
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    pp.fd = fds[1];
    assert_int_equal(evloop_add(l, fds[1], EPOLLOUT, &pp.h), 0);
    assert_int_equal(evloop_run_once(l, 1000), 1);
    assert_int_equal(pp.calls, 1);
    assert_true(pp.events & EPOLLOUT);
    assert_false(pp.events & EPOLLIN);
    assert_int_equal(evloop_del(l, fds[1]), 0);
    close(fds[0]);
    close(fds[1]);
    evloop_free(l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_new_loop_is_empty, setup_probes),
        cmocka_unit_test_setup(test_timer_heap_fires_exactly_the_due, setup_probes),
        cmocka_unit_test_setup(test_timer_disarm_all_random_order, setup_probes),
        cmocka_unit_test_setup(test_timer_bounds_the_wait, setup_probes),
        cmocka_unit_test_setup(test_timer_rearm_in_callback, setup_probes),
        cmocka_unit_test_setup(test_timer_rearm_now_runs_once_per_iteration, setup_probes),
        cmocka_unit_test_setup(test_defer, setup_probes),
        cmocka_unit_test_setup(test_fd_event_pipe, setup_probes),
        cmocka_unit_test_setup(test_fd_event_writable, setup_probes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
