/*
 * metrics.h - render a snapshot of tessera's figures as Prometheus text
 * (format 0.0.4) and as JSON (/stats, /keyring).
 *
 * Pure: the admin thread fills a struct metrics_snapshot (summing the
 * workers' counters) and these functions only format it.  Nothing here can
 * see key material: the keyring arrives as a struct keyring_view.
 */
#ifndef TESSERA_METRICS_H
#define TESSERA_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "keyops.h"
#include "keyring_sync.h"
#include "ocsp_store.h"
#include "stats.h"

struct metrics_server {
    const char *name; /* "host:port" */
    bool up;
};

struct metrics_snapshot {
    const char *version;
    const char *openssl_version;
    time_t start_time;
    bool draining;
    /* Configuration generations (reload.h). */
    unsigned generation;
    uint64_t reloads_ok, reloads_failed;
    int64_t last_reload_ok; /* unix s of the last successful load, start-up included */
    const char *degraded;   /* NULL when healthy, else the reason */

    size_t nfrontends;
    const char *const *frontend_names;
    const struct stats_totals *frontend; /* per frontend, summed over workers */

    size_t nworkers;
    const struct stats_totals *worker; /* per worker, summed over frontends */

    size_t session_entries; /* in the in-process store */
    bool memcached_configured;
    size_t nservers;
    const struct metrics_server *servers;
    size_t memcached_queue_depth;

    bool tickets;
    const struct keyring_view *keyring;

    /* Admin connections the endpoint closed: no complete request within
     * its deadline ("slow"), or the oldest incomplete one at the limit
     * ("evicted"). */
    uint64_t admin_closed_slow;
    uint64_t admin_closed_evicted;

    /* tessera_keyring_operations_total, by operation and result. */
    uint64_t keyring_operations[KEYOPS__KINDS][KEYOPS__RESULTS];
    /* OCSP stapling (NULL: none configured). */
    const struct ocsp_view *ocsp;
};

/* Each returns 0, or -1 if writing to `out` failed. */
int metrics_write_prometheus(FILE *out, const struct metrics_snapshot *s);
int metrics_write_stats_json(FILE *out, const struct metrics_snapshot *s);
int metrics_write_keyring_json(FILE *out, const struct keyring_view *k);

#endif
