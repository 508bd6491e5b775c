/*
 * bench-phase.c - the run's phase clock (warmup, measure, done) and the CPU samples taken at
 * its two changes: the servers' from /proc, this process's from getrusage().  Any load thread
 * may call in; the mutex is taken only at a change.
 */
#include "bench-phase.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

static pthread_mutex_t phase_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic int phase = PHASE_WARMUP;
_Atomic int timed_out;
_Atomic long total_errors;
_Atomic int aborted;
uint64_t run_start_ns;
struct cpu_sample sample_start;
struct cpu_sample sample_end;

/*
 * Sum utime+stime (clock ticks) of the server processes.  /proc/PID/stat counts every thread
 * of the process, living or exited.  A process that has gone is skipped.
 */
static uint64_t
server_cpu_ticks(void)
{
    uint64_t total = 0;

    for (int i = 0; i < opt.npids; i++) {
        char path[64];
        char buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* The command name may hold spaces; fields are counted from after its ')'. */
        char *p = strrchr(buf, ')');
        if (p == NULL) {
            continue;
        }
        unsigned long long utime = 0;
        unsigned long long stime = 0;
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                   &stime) == 2) {
            total += utime + stime;
        }
    }
    return total;
}

static uint64_t
self_cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
           (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
}

static void
cpu_sample_take(struct cpu_sample *s)
{
    s->wall_ns = now_ns();
    s->server_ticks = server_cpu_ticks();
    s->self_us = self_cpu_us();
}

/*
 * Move the run to the next phase if it is still in `from`.  Any load thread may call this;
 * the mutex makes the sample and the phase change one step, so that exactly one caller takes
 * each sample.  `timeout` marks an end forced by --timeout.
 */
void
bench_phase_advance(int from, bool timeout)
{
    pthread_mutex_lock(&phase_lock);
    if (atomic_load(&phase) == from) {
        if (from == PHASE_WARMUP) {
            cpu_sample_take(&sample_start);
            atomic_store(&phase, PHASE_MEASURE);
        } else if (from == PHASE_MEASURE) {
            cpu_sample_take(&sample_end);
            if (timeout) {
                atomic_store(&timed_out, 1);
            }
            atomic_store(&phase, PHASE_DONE);
        }
    }
    pthread_mutex_unlock(&phase_lock);
}

/* Called by every load thread on every loop turn: time-driven phase changes. */
void
bench_phase_tick(uint64_t now)
{
    int p = atomic_load(&phase);

    if (p == PHASE_WARMUP && now >= run_start_ns + secs_to_ns(opt.warmup)) {
        bench_phase_advance(PHASE_WARMUP, false);
        p = atomic_load(&phase);
    }
    if (p != PHASE_DONE && now >= run_start_ns + secs_to_ns(opt.timeout)) {
        bench_phase_advance(PHASE_WARMUP, false);
        bench_phase_advance(PHASE_MEASURE, true);
        return;
    }
    if (p == PHASE_MEASURE && opt.count <= 0 &&
        now >= sample_start.wall_ns + secs_to_ns(opt.duration)) {
        bench_phase_advance(PHASE_MEASURE, false);
    }
    if (stop_signal) {
        bench_phase_advance(PHASE_WARMUP, false);
        bench_phase_advance(PHASE_MEASURE, true);
    }
    /* A server that fails every connection would otherwise keep the loop spinning until --timeout.
     */
    if (opt.max_errors > 0 &&
        atomic_load_explicit(&total_errors, memory_order_relaxed) >= opt.max_errors) {
        atomic_store(&aborted, 1);
        bench_phase_advance(PHASE_WARMUP, false);
        bench_phase_advance(PHASE_MEASURE, false);
    }
}
