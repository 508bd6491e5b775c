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
/* The requests still in flight are abandoned; their answers are dropped.
 * Key operations not done yet end as failed (their fn is called). */
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

/*
 * Key operations (POST /keyring/retire, /keyring/rotate; keyops.c).  Each
 * starts a refresh now (or right after the running one) that carries it
 * out, and `fn(arg, ok)` is called on the loop when it has: ok = memcached
 * stored the outcome (a lost race is retried by up to two refreshes more).
 * Not ok: memcached did not answer; the operation has taken effect on this
 * instance and later refreshes keep writing it.  Both return 0, or -EBUSY
 * when KEYRING_CLUSTER_OPS_MAX operations wait already (fn is then not
 * called).
 *
 * retire: `name` of `epoch` (already dropped from keyring_sync) joins the
 * cluster's retirement list, <prefix>stek-retired; every refresh on every
 * instance drops the keys it lists, never adopts nor heals them back, and
 * replaces a listed cluster key of e or e+1 with a new random key (cas).
 * rotate: the cluster key of the epoch at `now` is replaced with a new
 * random key (gets + cas); this instance keeps the old one decrypt-only,
 * the others keep it as the epoch's superseded key.
 */
#define KEYRING_CLUSTER_OPS_MAX 16
typedef void keyring_cluster_op_fn(void *arg, bool ok);
int keyring_cluster_retire(struct keyring_cluster *kc, const unsigned char *name, uint64_t epoch,
                           time_t now, keyring_cluster_op_fn *fn, void *arg);
int keyring_cluster_rotate(struct keyring_cluster *kc, time_t now, keyring_cluster_op_fn *fn,
                           void *arg);

/* ---- entries (pure; exposed for tests and fuzzing) ---- */

struct keyring_key;

/* Open the sealed entry `value` stored under memcached key `key` into *k
 * (source cluster).  0, or -1 if it is not a valid key entry for `epoch`. */
int keyring_cluster_entry_open(const struct seal *seal, const char *key, size_t keylen,
                               const unsigned char *value, size_t vlen, uint64_t epoch,
                               struct keyring_key *k);

#endif
