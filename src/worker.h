/*
 * worker.h - one worker thread's world: its loop, listeners, connections,
 * timers, counters, keyring copy and mailbox.
 *
 * The supervisor (main thread) creates workers, hands them their listening
 * sockets and then talks to them only through worker_notify() (an atomic
 * flag word and an eventfd).  Everything else in struct worker is touched
 * only by the worker's own thread, except `stats`, which any thread may read.
 */
#ifndef TESSERA_WORKER_H
#define TESSERA_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "evloop.h"
#include "handshake.h"
#include "mailbox.h"
#include "stats.h"

struct config;
struct gen;
struct keyring;
struct keyring_sync;
struct mcconn;
struct sessions;
struct worker_update;

/* Messages from the supervisor (bits of worker.mbox_flags). */
#define WORKER_MSG_DRAIN   1u /* stop accepting, finish open connections */
#define WORKER_MSG_STOP    2u /* close everything and return */
#define WORKER_MSG_KEYRING 4u /* a new keyring was published: copy it now */
#define WORKER_MSG_RELOAD  8u /* a new generation waits in `update` */

struct worker_listener {
    unsigned magic;
#define WORKER_LISTENER_MAGIC 0x4c53544eu
    struct evhandler h;
    struct worker *w;
    int fd;
    unsigned fe; /* frontend index in the current generation */
    bool registered;
};

struct worker {
    unsigned magic;
#define WORKER_MAGIC 0x574f524bu
    unsigned id;
    pthread_t thread;
    const struct config *cfg;  /* the start-up one: what a reload cannot change */
    struct sessions *sessions; /* process-wide; the store is internally sharded */
    struct keyring_sync *keyring_sync;

    struct evloop *loop;
    struct stats *stats; /* GEN_SLOTS: one per frontend name (gen.h) */

    /* Private ticket keyring copy and the generation it was copied at. */
    struct keyring *ring;
    uint64_t ring_generation;
    struct evtimer ring_timer;

    struct worker_listener *listeners;
    size_t nlisteners;
    struct worker_listener *retired_listeners; /* by a reload this pass; freed after it */
    bool accept_paused;
    struct evtimer accept_timer;
    uint64_t pause_logged_ms; /* when "accept paused" was last logged */
    uint64_t pauses_unlogged; /* pauses since then */

    /* Session lookups on this loop's own memcached connections (NULL
     * without the memcached store); other operations go through mc.c. */
    struct mcconn *mcconn;

    /* Mailbox: supervisor messages and memcached answers (queue = id). */
    struct evhandler mbox_h;
    struct mailbox mbox;
    bool draining;
    bool stopping;
    /* A reload: posted by the supervisor, taken by the worker; then the
     * number of the generation the worker serves (any thread reads it). */
    _Atomic(struct worker_update *) update;
    _Atomic unsigned gen_number;

    /* What the TLS callbacks of this thread's handshakes use (handshake.h). */
    struct handshake_env env;
    /* The connections (conn.h), at most max_conns open; conns.gen is the
     * generation new ones start under (the worker holds a reference). */
    struct conn_set conns;
    size_t max_conns;
};

/* Main thread: build a worker serving generation `g` (the reference passes
 * to the worker) with its listening sockets, one per frontend of g
 * (ownership of the descriptors passes to the worker).  Returns NULL on
 * failure, when the caller still owns the reference and the descriptors. */
struct worker *worker_new(unsigned id, const struct config *cfg, struct gen *g,
                          struct sessions *sessions, struct keyring_sync *ks, const int *listen_fds,
                          size_t max_conns);
int worker_start(struct worker *w);
/* Any thread: post a message (WORKER_MSG_*). */
void worker_notify(struct worker *w, unsigned msg);
/* Main thread: a switch to generation `g` listening on `fds`, one per
 * frontend of g, prepared (NULL when out of memory) and then posted: the
 * worker takes over the reference to g, keeps the descriptors it has
 * already, takes the others and closes those it has that are not in
 * `fds`.  Post only once the worker has taken the previous update
 * (gen_number); an update not posted is freed with worker_update_free
 * (which leaves g and the descriptors alone). */
struct worker_update *worker_update_new(struct worker *w, struct gen *g, const int *fds);
void worker_update_post(struct worker *w, struct worker_update *u);
void worker_update_free(struct worker_update *u);
/* Main thread, after the thread has been joined. */
void worker_free(struct worker *w);

#endif
