/*
 * tessera-bench.c - closed-loop TLS load generator for tessera's benchmarks, main thread:
 * main, the full/resume/bulk run on -j load threads (bench-load.c), the --prime-port pass and
 * the idle run, each ending in one line of key=value results.  The command line is in
 * bench-opts.c, the phase clock in bench-phase.c, the plaintext backends in bench-backend.c.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "bench-load.h"
#include "bench-phase.h"
#include "bench.h"

volatile sig_atomic_t stop_signal;

static void
on_stop_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

/* Sum VmRSS (kB) of the server processes. */
static long
server_rss_kb(void)
{
    long total = 0;

    for (int i = 0; i < opt.npids; i++) {
        char path[64];
        char line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            long kb;
            if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
                total += kb;
                break;
            }
        }
        fclose(f);
    }
    return total;
}

/*
 * --prime-port: fill every load thread's pool before the run.  Returns -1 when a thread got
 * no session at all.
 */
static int
bench_prime(struct load_thread *threads, double *secs, long *made)
{
    uint64_t start = now_ns();
    int rc = 0;

    for (int i = 0; i < opt.threads; i++) {
        threads[i].pool_target =
            opt.prime_count / opt.threads + (i < opt.prime_count % opt.threads);
        BENCH_CHECK(pthread_create(&threads[i].tid, NULL, bench_load_prime_main, &threads[i]) == 0);
    }
    *made = 0;
    for (int i = 0; i < opt.threads; i++) {
        pthread_join(threads[i].tid, NULL);
        *made += threads[i].npool;
        if (threads[i].npool == 0) {
            rc = -1;
        }
    }
    *secs = (double)(now_ns() - start) / 1e9;
    atomic_store(&total_errors, 0);
    /* compare.sh waits for this line before it changes the conditions of the run. */
    fprintf(stderr, "tessera-bench: primed %ld sessions in %.3f s\n", *made, *secs);
    return rc;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in milliseconds. */
static double
percentile_ms(const uint32_t *v, size_t n, double p)
{
    if (n == 0) {
        return 0.0;
    }
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return v[rank - 1] / 1000.0;
}

/* Sum the threads' counters into threads[0]; the latency samples are concatenated and sorted. */
static void
threads_merge(struct load_thread *threads, int n)
{
    struct load_thread *a = &threads[0];

    for (int i = 1; i < n; i++) {
        struct load_thread *b = &threads[i];
        a->done += b->done;
        a->resumed += b->resumed;
        a->errors += b->errors;
        a->err_connect += b->err_connect;
        a->err_handshake += b->err_handshake;
        a->err_exchange += b->err_exchange;
        a->err_timeout += b->err_timeout;
        a->bytes += b->bytes;
        a->held += b->held;
        a->dropped += b->dropped;
        a->pool_reused += b->pool_reused;
        a->prime_errors += b->prime_errors;
        if (a->params[0] == '\0') {
            memcpy(a->params, b->params, sizeof(a->params));
        }
        for (size_t k = 0; k < b->nlat; k++) {
            bench_load_lat_record(a, (uint64_t)b->lat_us[k] * 1000u);
        }
        free(b->lat_us);
        b->lat_us = NULL;
    }
    if (a->nlat > 0) {
        qsort(a->lat_us, a->nlat, sizeof(a->lat_us[0]), cmp_u32);
    }
}

static const char *
mode_name(enum bench_mode m)
{
    switch (m) {
    case MODE_FULL:
        return "full";
    case MODE_RESUME:
        return "resume";
    case MODE_BULK:
        return "bulk";
    case MODE_IDLE:
        return "idle";
    }
    return "?";
}

static const char *
resume_name(enum bench_resume r)
{
    switch (r) {
    case RESUME_NONE:
        return "none";
    case RESUME_ID:
        return "id";
    case RESUME_TICKET:
        return "ticket";
    }
    return "?";
}

/* The full/resume/bulk run: -j threads in a closed loop, then one result line. */
static int
bench_run_load(void)
{
    struct load_thread *threads = calloc((size_t)opt.threads, sizeof(*threads));

    BENCH_CHECK(threads != NULL);
    for (int i = 0; i < opt.threads; i++) {
        int c = opt.conc / opt.threads + (i < opt.conc % opt.threads ? 1 : 0);
        bench_load_init(&threads[i], i, c, c);
    }
    double prime_secs = 0;
    long primed = 0;
    if (opt.prime && bench_prime(threads, &prime_secs, &primed) < 0) {
        fprintf(stderr, "tessera-bench: priming made no session\n");
        for (int i = 0; i < opt.threads; i++) {
            bench_load_cleanup(&threads[i]);
            free(threads[i].lat_us);
        }
        free(threads);
        return 1;
    }
    run_start_ns = now_ns();
    if (opt.warmup <= 0) {
        bench_phase_advance(PHASE_WARMUP, false);
    }
    for (int i = 0; i < opt.threads; i++) {
        BENCH_CHECK(pthread_create(&threads[i].tid, NULL, bench_load_main, &threads[i]) == 0);
    }
    for (int i = 0; i < opt.threads; i++) {
        pthread_join(threads[i].tid, NULL);
    }
    for (int i = 0; i < opt.threads; i++) {
        bench_load_cleanup(&threads[i]);
    }
    threads_merge(threads, opt.threads);

    struct load_thread *t = &threads[0];
    double secs = (double)(sample_end.wall_ns - sample_start.wall_ns) / 1e9;
    double ticks = (double)(sample_end.server_ticks - sample_start.server_ticks);
    double server_us = ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
    double self_us = (double)(sample_end.self_us - sample_start.self_us);
    long hs = t->done;

    printf("mode=%s tls=%s resume=%s conc=%d threads=%d handshakes=%ld seconds=%.3f "
           "hs_per_s=%.1f resumed=%ld resumed_ratio=%.4f errors=%ld p50_ms=%.3f p99_ms=%.3f",
           mode_name(opt.mode), opt.tls_version == TLS1_3_VERSION ? "1.3" : "1.2",
           resume_name(opt.resume), opt.conc, opt.threads, hs, secs,
           secs > 0 ? (double)hs / secs : 0.0, t->resumed,
           hs > 0 ? (double)t->resumed / (double)hs : 0.0, t->errors,
           percentile_ms(t->lat_us, t->nlat, 50), percentile_ms(t->lat_us, t->nlat, 99));
    printf(" p999_ms=%.3f max_ms=%.3f err_connect=%ld err_handshake=%ld err_exchange=%ld "
           "err_timeout=%ld",
           percentile_ms(t->lat_us, t->nlat, 99.9), percentile_ms(t->lat_us, t->nlat, 100),
           t->err_connect, t->err_handshake, t->err_exchange, t->err_timeout);
    if (opt.mode == MODE_BULK) {
        printf(" bytes=%" PRIu64 " mb_per_s=%.1f", t->bytes,
               secs > 0 ? (double)t->bytes / 1e6 / secs : 0.0);
    }
    if (opt.npids > 0) {
        printf(" server_cpu_us=%.0f server_us_per_hs=%.1f server_cpu_pct=%.1f", server_us,
               hs > 0 ? server_us / (double)hs : 0.0, secs > 0 ? server_us / 1e4 / secs : 0.0);
    }
    if (opt.prime) {
        printf(" primed=%ld prime_seconds=%.3f prime_errors=%ld pool_reused=%ld", primed,
               prime_secs, t->prime_errors, t->pool_reused);
    }
    printf(" client_cpu_pct=%.1f timeout=%d aborted=%d %s\n", secs > 0 ? self_us / 1e4 / secs : 0.0,
           atomic_load(&timed_out), atomic_load(&aborted),
           t->params[0] != '\0' ? t->params : "proto=none");
    fflush(stdout);
    free(t->lat_us);
    free(threads);
    if (atomic_load(&timed_out) && !stop_signal) {
        return 2;
    }
    return hs > 0 && !atomic_load(&aborted) ? 0 : 1;
}

/*
 * The idle run: open --count connections, --conc handshakes at a time, each doing one
 * request; hold them; report the servers' RSS delta; print READY and wait for SIGTERM, stdin
 * closing, or --hold seconds.
 */
static int
bench_run_idle(void)
{
    struct load_thread t;
    long rss_before = server_rss_kb();
    long n = opt.count > 0 ? opt.count : 1000;

    bench_load_init(&t, 0, (int)n, opt.conc);
    t.limit = n;
    run_start_ns = now_ns();
    bench_phase_advance(PHASE_WARMUP, false);
    uint64_t start = now_ns();
    while (!stop_signal && (t.launched < t.limit || t.in_flight > 0)) {
        bench_load_fill(&t);
        bench_load_poll(&t, 20);
        uint64_t now = now_ns();
        bench_load_expire(&t, now);
        if (now > run_start_ns + secs_to_ns(opt.timeout)) {
            atomic_store(&timed_out, 1);
            break;
        }
        if (opt.max_errors > 0 && t.errors >= opt.max_errors) {
            atomic_store(&aborted, 1);
            break;
        }
    }
    double secs = (double)(now_ns() - start) / 1e9;
    /* Let the server finish whatever it does after the last reply before sampling. */
    uint64_t settle_end = now_ns() + secs_to_ns(opt.settle);
    while (!stop_signal && now_ns() < settle_end) {
        bench_load_poll(&t, 20);
    }
    long rss_after = server_rss_kb();
    if (t.nlat > 0) {
        qsort(t.lat_us, t.nlat, sizeof(t.lat_us[0]), cmp_u32);
    }
    printf("mode=idle tls=%s conns=%ld held=%ld errors=%ld dropped=%ld seconds=%.3f p50_ms=%.3f "
           "p99_ms=%.3f",
           opt.tls_version == TLS1_3_VERSION ? "1.3" : "1.2", n, t.held, t.errors, t.dropped, secs,
           percentile_ms(t.lat_us, t.nlat, 50), percentile_ms(t.lat_us, t.nlat, 99));
    if (opt.npids > 0) {
        printf(" rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%.0f", rss_before, rss_after,
               t.held > 0 ? (double)(rss_after - rss_before) * 1024.0 / (double)t.held : 0.0);
    }
    printf(" timeout=%d aborted=%d %s\nREADY\n", atomic_load(&timed_out), atomic_load(&aborted),
           t.params[0] != '\0' ? t.params : "proto=none");
    fflush(stdout);

    bench_load_hold(&t);
    long errors = t.errors;
    bench_load_cleanup(&t);
    free(t.lat_us);
    return errors == 0 && !atomic_load(&timed_out) ? 0 : 1;
}

int
main(int argc, char **argv)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (argc >= 2 && strcmp(argv[1], "backend") == 0) {
        return bench_backend(argc, argv);
    }
    if (bench_opts_parse(argc, argv) < 0) {
        return 64;
    }
    if (bench_load_setup() < 0) {
        return 1;
    }
    int rc = opt.mode == MODE_IDLE ? bench_run_idle() : bench_run_load();
    bench_load_teardown();
    return rc;
}
