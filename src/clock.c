/*
 * clock.c - see clock.h.
 */
#include "clock.h"

static struct timespec
clock_read(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return ts;
}

uint64_t
clock_mono_ms(void)
{
    struct timespec ts = clock_read(CLOCK_MONOTONIC);

    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
clock_mono_us(void)
{
    struct timespec ts = clock_read(CLOCK_MONOTONIC);

    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t
clock_wall_ms(void)
{
    struct timespec ts = clock_read(CLOCK_REALTIME);

    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

time_t
clock_wall_s(void)
{
    return clock_read(CLOCK_REALTIME).tv_sec;
}

struct timespec
clock_timespec(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};

    return ts;
}
