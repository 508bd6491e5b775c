/*
 * bench.h - what the parts of tessera-bench share: the options, the stop flag, the check
 * macro, the monotonic clock, and the entry points of bench-opts.c and bench-backend.c.
 *
 * The main thread fills `opt` before any load thread starts; after that it is read-only.
 */
#ifndef TESSERA_BENCH_H
#define TESSERA_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#define MAX_PIDS 32

/* Bugs in this program abort with the failed condition, as tessera's check.h does. */
#define BENCH_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            fprintf(stderr, "tessera-bench: %s:%d: check failed: %s\n", __FILE__, __LINE__,        \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

enum bench_mode { MODE_FULL = 0, MODE_RESUME, MODE_BULK, MODE_IDLE };

enum bench_resume { RESUME_NONE = 0, RESUME_ID, RESUME_TICKET };

/* What the command line asked for; written by the main thread before any load thread starts. */
struct bench_opts {
    enum bench_mode mode;
    enum bench_resume resume;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int tls_version;
    const char *groups;
    const char *sigalgs;
    const char *cipher;
    const char *ciphersuites;
    const char *sni;
    int conc;
    int threads;
    double duration;
    double warmup;
    long count;
    long bulk_bytes;
    double timeout;
    double conn_timeout;
    double hold;
    double settle;
    bool silent; /* idle: connect and send nothing (no TLS at all) */
    long max_errors;
    pid_t pids[MAX_PIDS];
    int npids;
    /* --prime-port: sessions are made there first, and each connection to --port offers one. */
    bool prime;
    struct sockaddr_storage prime_addr;
    socklen_t prime_addrlen;
    long prime_count;
};

/* Defined in bench-opts.c. */
extern struct bench_opts opt;

/* Set by SIGTERM or SIGINT (tessera-bench.c); every loop polls it. */
extern volatile sig_atomic_t stop_signal;

static inline uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
secs_to_ns(double s)
{
    return (uint64_t)(s * 1e9);
}

/*
 * Fill `opt` from `tessera-bench MODE [options]`.  Returns -1 after printing why on a bad
 * command line; --help prints the usage and exits.
 */
int bench_opts_parse(int argc, char **argv);

/* `tessera-bench backend http|echo|sink [--listen ADDR:PORT]`; serves until stop_signal. */
int bench_backend(int argc, char **argv);

#endif
