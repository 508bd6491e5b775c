/*
 * evloop.h - one thread's event loop: epoll for file descriptors and a
 * binary min-heap of deadlines for timers.
 *
 * An evloop belongs to the thread that runs it; none of these functions may
 * be called from another thread.  The loop owns neither the descriptors nor
 * the handlers/timers registered with it: their owners unregister them
 * before freeing them.
 */
#ifndef TESSERA_EVLOOP_H
#define TESSERA_EVLOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct evloop;

/* Embedded in whatever owns a descriptor; `on_event` gets the epoll events. */
struct evhandler {
    void (*on_event)(struct evhandler *h, uint32_t events);
};

/*
 * Embedded in whatever owns a deadline.  `when` is in the loop's monotonic
 * milliseconds.  Fields other than on_timer are private to evloop.c.
 */
struct evtimer {
    void (*on_timer)(struct evtimer *t);
    uint64_t when;
    size_t slot;    /* position in the heap + 1; 0 when not armed */
    uint64_t armed; /* the timer pass during which it was last armed */
};

/*
 * Embedded in whatever wants work done once at the end of the current loop
 * pass (after its events, and again after its timers): e.g. one send for
 * everything the pass queued.  Fields other than on_defer are private.
 */
struct evdefer {
    void (*on_defer)(struct evdefer *d);
    struct evdefer *next;
    int queued;
};

struct evloop *evloop_new(void);
void evloop_free(struct evloop *l);

/* Register, change or remove `fd`.  Return 0 or -errno. */
int evloop_add(struct evloop *l, int fd, uint32_t events, struct evhandler *h);
int evloop_mod(struct evloop *l, int fd, uint32_t events, struct evhandler *h);
int evloop_del(struct evloop *l, int fd);

/* Arm (or move) `t` to fire at `when`; disarm it.  Both are O(log n). */
void evtimer_arm(struct evloop *l, struct evtimer *t, uint64_t when);
void evtimer_disarm(struct evloop *l, struct evtimer *t);

static inline int
evtimer_armed(const struct evtimer *t)
{
    return t->slot != 0;
}

/* Queue `d` for the end of this pass (nothing if it is queued already);
 * take it off the queue.  O(1) and O(queued). */
void evdefer_queue(struct evloop *l, struct evdefer *d);
void evdefer_cancel(struct evloop *l, struct evdefer *d);

/* The loop's clock, read once per iteration: monotonic ms and wall-clock s. */
uint64_t evloop_now(const struct evloop *l);
int64_t evloop_wall(const struct evloop *l);
/* Re-read the clocks now (after a long piece of work). */
void evloop_update_time(struct evloop *l);

/*
 * One iteration: wait for events for at most `max_wait_ms` (or until the
 * next timer), dispatch them, run the deferred work, then the timers that
 * are due, then the deferred work they queued.  Returns
 * the number of events dispatched, or -errno on an epoll failure.
 */
int evloop_run_once(struct evloop *l, int max_wait_ms);

/* Number of armed timers (for tests and stats). */
size_t evloop_timer_count(const struct evloop *l);

#endif
