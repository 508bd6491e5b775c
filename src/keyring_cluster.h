/*
 * keyring_cluster.h - the cluster ticket keyring: epoch keys shared through
 * memcached (design.md, "Coordination of the ticket keyring").
 *
 * Main thread only.  A refresh is a state machine stepped by the main
 * thread's event loop: its memcached operations go out on the loop's own
 * non-blocking connection (mcconn.c; the helpers only for a server whose
 * name did not resolve at start-up), each bounded by timeout_ms, and every
 * phase by its own deadline, so nothing ever blocks the loop that also takes
 * the signals.  The result is published to the workers through keyring_sync.
 * Workers never wait for it: they keep encrypting with the keys they hold.
 */
#ifndef TESSERA_KEYRING_CLUSTER_H
#define TESSERA_KEYRING_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

struct evloop;
struct keyring_cluster;
struct keyring_sync;
struct mc;
struct seal;

/* Called on the loop when a refresh has published its result. */
typedef void keyring_cluster_done_fn(void *arg);

/* `queue` is the mc queue reserved for the main thread (helpers only). */
struct keyring_cluster *keyring_cluster_new(const struct config *cfg, struct mc *mc,
                                            struct evloop *loop, size_t queue, struct seal *seal,
                                            struct keyring_sync *ks, keyring_cluster_done_fn *done,
                                            void *arg, struct err *err);
/* The requests still in flight are abandoned; their answers are dropped. */
void keyring_cluster_free(struct keyring_cluster *kc);

/*
 * Start a refresh for the wall time `now`: create, read, heal and expire the
 * keys of epochs e-keep .. e+1, make local keys for e and e+1 where memcached
 * gave none, and publish.  If one is running, another follows it at once
 * (for the later time).  Returns at once; `done` says when it ended.
 */
void keyring_cluster_refresh(struct keyring_cluster *kc, time_t now);
/* Start-up, when the first refresh is late: give the epochs e and e+1 at
 * `now` local keys where none is held, and publish them at once (the
 * refresh under way goes on, and adopts the cluster's keys when it ends). */
void keyring_cluster_fill_local(struct keyring_cluster *kc, time_t now);
/* A refresh is running (or queued behind the running one). */
bool keyring_cluster_busy(const struct keyring_cluster *kc);
/* The last finished refresh reached memcached for epochs e and e+1. */
bool keyring_cluster_reachable(const struct keyring_cluster *kc);

/* ---- entries (pure; exposed for tests and fuzzing) ---- */

struct keyring_key;

/* Open the sealed entry `value` stored under memcached key `key` into *k
 * (source cluster).  0, or -1 if it is not a valid key entry for `epoch`. */
int keyring_cluster_entry_open(const struct seal *seal, const char *key, size_t keylen,
                               const unsigned char *value, size_t vlen, uint64_t epoch,
                               struct keyring_key *k);

#endif
