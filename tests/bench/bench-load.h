/*
 * bench-load.h - one load thread: its slots (one TLS connection each) driven in a closed loop
 * from its own epoll instance, its session pool, and its counters.
 *
 * A struct load_thread is used by one thread at a time; the main thread reads its counters
 * only after joining it.  The SSL_CTX is shared by all, read-only after bench_load_setup().
 */
#ifndef TESSERA_BENCH_LOAD_H
#define TESSERA_BENCH_LOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct slot;

/* Everything one load thread owns.  The slots are private to bench-load.c. */
struct load_thread {
    unsigned magic;
    int index;
    int epfd;
    struct slot *slots;
    int nslots;
    int conc;
    struct slot *free_list;
    int in_flight;
    long launched;
    long limit;
    long held;
    long dropped;
    long done;
    long resumed;
    long errors;
    /* The failed connections by the stage they failed in (they add up to `errors`); a
     * connection that passed --conn-timeout also counts in err_timeout. */
    long err_connect;
    long err_handshake;
    long err_exchange;
    long err_timeout;
    uint64_t bytes;
    uint32_t *lat_us;
    size_t nlat;
    size_t caplat;
    char params[160];
    pthread_t tid;
    /* --prime-port: the pool of sessions made on the priming server, and how it was used. */
    bool priming;
    SSL_SESSION **pool;
    long npool;
    long cappool;
    long pool_target;
    long pool_next;
    long pool_reused;
    long prime_errors;
};

/* Make the client SSL_CTX from `opt` and the bulk payload; returns -1 (errors printed). */
int bench_load_setup(void);
void bench_load_teardown(void);

/* `t` gets `nslots` free slots, at most `conc` of them connecting or exchanging at once. */
void bench_load_init(struct load_thread *t, int index, int nslots, int conc);
/* Close every connection and free the slots and the pool; lat_us is left to the caller. */
void bench_load_cleanup(struct load_thread *t);

/* Add one handshake time to the thread's latency samples. */
void bench_load_lat_record(struct load_thread *t, uint64_t ns);

/* Start connections on free slots up to the thread's concurrency (and --count limit). */
void bench_load_fill(struct load_thread *t);
/* Fail connections that passed their deadline. */
void bench_load_expire(struct load_thread *t, uint64_t now);
/* One loop turn: wait up to `timeout_ms` for events and run the ready slots. */
void bench_load_poll(struct load_thread *t, int timeout_ms);
/* Idle mode: keep the held connections until stdin closes, a signal, or --hold seconds. */
void bench_load_hold(struct load_thread *t);

/* pthread bodies: the measured closed loop, and the --prime-port pass that fills the pool. */
void *bench_load_main(void *arg);
void *bench_load_prime_main(void *arg);

#endif
