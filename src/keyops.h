/*
 * keyops.h - the key operations of the admin endpoint (POST /keyring/retire,
 * /keyring/rotate), handed from the admin thread to the main loop.
 *
 * The admin thread submits a request and waits for it at most a bounded
 * time (keyops_wait); the main loop takes requests from an eventfd it
 * watches and carries them out through keyring_cluster (memcached store)
 * or keyring_sync (local keys), so the admin thread never talks to
 * memcached.  A request is reference-counted by both sides: whichever lets
 * go last frees it, so the admin thread may stop waiting (202) and the
 * main loop still completes and counts it.  The counters of
 * tessera_keyring_operations_total live here (relaxed atomics, any thread).
 */
#ifndef TESSERA_KEYOPS_H
#define TESSERA_KEYOPS_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct keyops;
struct keyops_req;
struct keyring_cluster;
struct keyring_sync;

enum keyops_kind {
    KEYOPS_RETIRE = 0,
    KEYOPS_ROTATE,
    KEYOPS__KINDS,
};

enum keyops_result {
    KEYOPS_OK = 0,
    KEYOPS_UNAUTHORIZED,
    KEYOPS_FORBIDDEN,
    KEYOPS_NOT_FOUND,
    KEYOPS_FAILED,
    KEYOPS__RESULTS,
};

/* Main thread.  `kc` NULL: local keys only.  `rotate`: tickets.rotate.
 * The admin thread waits for a request at most `wait_ms`. */
struct keyops *keyops_new(struct evloop *loop, struct keyring_sync *ks, struct keyring_cluster *kc,
                          unsigned rotate, unsigned wait_ms);
/* Main thread, after the admin endpoint stopped and before kc is freed:
 * requests not done are completed as failed. */
void keyops_free(struct keyops *ko);

/* Admin thread: hand an operation to the main loop (`fp`: the fingerprint
 * to retire).  NULL when out of memory. */
struct keyops_req *keyops_submit(struct keyops *ko, enum keyops_kind kind, uint32_t fp);
/* Admin thread: wait for `req` at most the bound; true when it is done,
 * with its result and epoch.  Then keyops_release. */
bool keyops_wait(struct keyops *ko, struct keyops_req *req, enum keyops_result *result,
                 uint64_t *epoch);
void keyops_release(struct keyops *ko, struct keyops_req *req);

/* Any thread: count a request refused before it was submitted. */
void keyops_count(struct keyops *ko, enum keyops_kind kind, enum keyops_result result);
/* Any thread: the counters (0 for a NULL ko). */
uint64_t keyops_counter(const struct keyops *ko, enum keyops_kind kind, enum keyops_result result);

const char *keyops_kind_name(enum keyops_kind kind);
const char *keyops_result_name(enum keyops_result result);

#endif
