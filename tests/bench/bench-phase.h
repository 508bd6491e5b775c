/*
 * bench-phase.h - the run's phase clock (warmup, measure, done), the shared counters that end
 * a run early, and the CPU samples taken when the measured window opens and closes.
 *
 * Any load thread may advance the phase; the main thread reads the results after joining them.
 */
#ifndef TESSERA_BENCH_PHASE_H
#define TESSERA_BENCH_PHASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum bench_phase { PHASE_WARMUP = 0, PHASE_MEASURE, PHASE_DONE };

/* CPU and memory of a set of processes, and of this one, at one instant. */
struct cpu_sample {
    uint64_t wall_ns;
    uint64_t server_ticks;
    uint64_t self_us;
};

/* An enum bench_phase; changed only by bench_phase_advance(). */
extern _Atomic int phase;
/* Set when --timeout (or a signal) ended the run. */
extern _Atomic int timed_out;
/* Failed connections of all load threads, against --max-errors. */
extern _Atomic long total_errors;
/* Set when --max-errors ended the run. */
extern _Atomic int aborted;
/* Written by the main thread before the load threads start. */
extern uint64_t run_start_ns;
/* Taken as the measured window opens and closes. */
extern struct cpu_sample sample_start;
extern struct cpu_sample sample_end;

/*
 * Move the run to the next phase if it is still in `from`, taking the CPU sample that goes
 * with the change.  `timeout` marks an end forced by --timeout.
 */
void bench_phase_advance(int from, bool timeout);

/* Called by every load thread on every loop turn: time-driven phase changes. */
void bench_phase_tick(uint64_t now);

#endif
