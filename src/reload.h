/*
 * reload.h - SIGHUP: read and check the configuration aside, build the next
 * generation (gen.h), open the listeners it adds, and hand it to every
 * worker; or, on any error, change nothing.
 *
 * Main thread only, except struct reload_stats, which the admin endpoint
 * reads from its own thread.
 *
 * What a reload applies: frontends (added, removed, changed: certificates,
 * keys, backend, ALPN, listen address), the tls settings, the timeouts.
 * What needs a restart (reload_restart_needed names it, the log says it,
 * and the running value stays): workers, max_connections, user, group, pidfile, log,
 * sessions, tickets, memcached (and its secret files), admin.
 */
#ifndef TESSERA_RELOAD_H
#define TESSERA_RELOAD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct gen;
struct gen_slots;
struct ocsp_store;
struct worker;

/* What the admin endpoint shows (any thread reads). */
struct reload_stats {
    _Atomic uint64_t ok;
    _Atomic uint64_t failed;
    _Atomic unsigned generation;
    _Atomic int64_t last_ok_s; /* wall time of the last successful load (start-up counts) */
};

struct reload {
    const struct config *boot; /* the start-up configuration */
    struct gen *gen;           /* the current generation (one reference) */
    struct gen_slots *slots;
    struct ocsp_store *ocsp; /* staples carry over to the new generation */
    struct worker **workers;
    size_t nworkers;
    /* The workers' listening sockets for the current generation: worker w's
     * socket for frontend f is fds[w * nfrontends + f].  The workers own
     * them; this is the supervisor's view, to know what a reload keeps. */
    int *fds;
    struct reload_stats stats;
};

enum reload_result {
    RELOAD_OK = 0,
    RELOAD_FAILED, /* logged and counted; the running generation serves on */
    RELOAD_BUSY,   /* a worker has not switched to the last one yet: try again soon */
};

/* Re-read r->boot->path and switch to it. */
enum reload_result reload_run(struct reload *r);

/* One log line per frontend of `g`: listen address, backend, certificates. */
void reload_log_generation(const struct gen *g);

/* The settings that differ between `running` and `next` but need a
 * restart, as "workers, tickets.rotate" in buf (empty when none).
 * Returns how many. */
size_t reload_restart_needed(const struct config *running, const struct config *next, char *buf,
                             size_t len);

#endif
