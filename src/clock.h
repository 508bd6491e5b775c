/*
 * clock.h - the two clocks tessera reads, and nothing else reads them.
 *
 * Monotonic time (CLOCK_MONOTONIC) for every deadline, timeout and
 * duration: it never jumps.  Wall time (CLOCK_REALTIME) only where the
 * meaning is calendar time shared with other machines: ticket-key epochs,
 * session expiry, log time stamps, /stats start time.  Any thread.
 *
 * An event loop caches both once per pass (evloop_now, evloop_wall, which
 * read them here); code on a loop uses those, code elsewhere these.
 */
#ifndef TESSERA_CLOCK_H
#define TESSERA_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic time in milliseconds and microseconds. */
uint64_t clock_mono_ms(void);
uint64_t clock_mono_us(void);

/* Wall time in milliseconds and seconds since the epoch. */
int64_t clock_wall_ms(void);
time_t clock_wall_s(void);

/* `ms` (on either clock) as a struct timespec, for APIs that take one
 * (pthread_cond_timedwait, pthread_timedjoin_np). */
struct timespec clock_timespec(int64_t ms);

#endif
