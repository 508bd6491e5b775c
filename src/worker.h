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
struct keyring;
struct keyring_sync;
struct mcconn;
struct sessions;
struct tlsctx;

/* Messages from the supervisor (bits of worker.mbox_flags). */
#define WORKER_MSG_DRAIN   1u /* stop accepting, finish open connections */
#define WORKER_MSG_STOP    2u /* close everything and return */
#define WORKER_MSG_KEYRING 4u /* a new keyring was published: copy it now */

struct worker_listener {
    unsigned magic;
#define WORKER_LISTENER_MAGIC 0x4c53544eu
    struct evhandler h;
    struct worker *w;
    int fd;
    unsigned fe; /* frontend index */
    bool registered;
};

struct worker {
    unsigned magic;
#define WORKER_MAGIC 0x574f524bu
    unsigned id;
    pthread_t thread;
    const struct config *cfg;
    struct tlsctx **tls;       /* per frontend, shared read-only */
    struct sessions *sessions; /* process-wide; the store is internally sharded */
    struct keyring_sync *keyring_sync;

    struct evloop *loop;
    struct stats *stats; /* one per frontend */

    /* Private ticket keyring copy and the generation it was copied at. */
    struct keyring *ring;
    uint64_t ring_generation;
    struct evtimer ring_timer;

    struct worker_listener *listeners;
    size_t nlisteners;
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

    /* What the TLS callbacks of this thread's handshakes use (handshake.h). */
    struct handshake_env env;
    /* The connections (conn.h), at most max_conns open. */
    struct conn_set conns;
    size_t max_conns;
};

/* Main thread: build a worker with its listening sockets (ownership of the
 * descriptors passes to the worker).  Returns NULL on failure, when the
 * caller still owns them. */
struct worker *worker_new(unsigned id, const struct config *cfg, struct tlsctx **tls,
                          struct sessions *sessions, struct keyring_sync *ks, const int *listen_fds,
                          size_t max_conns);
int worker_start(struct worker *w);
/* Any thread: post a message (WORKER_MSG_*). */
void worker_notify(struct worker *w, unsigned msg);
/* Main thread, after the thread has been joined. */
void worker_free(struct worker *w);

#endif
