/*
 * keyring_cluster.h - the cluster ticket keyring: epoch keys shared through
 * memcached (design.md, "Coordination of the ticket keyring").
 *
 * Main thread only.  A refresh is a short sequence of memcached round trips
 * through mc.c's queue for the main thread, each bounded by timeout_ms; the
 * result is published to the workers through keyring_sync.  Workers never
 * wait for it: they keep encrypting with the keys they hold.
 */
#ifndef TESSERA_KEYRING_CLUSTER_H
#define TESSERA_KEYRING_CLUSTER_H

#include <stddef.h>
#include <time.h>

#include "config.h"

struct keyring_cluster;
struct keyring_sync;
struct mc;
struct seal;

/* `queue` is the mc queue reserved for the main thread. */
struct keyring_cluster *keyring_cluster_new(const struct config *cfg, struct mc *mc, size_t queue,
                                            struct seal *seal, struct err *err);
void keyring_cluster_free(struct keyring_cluster *kc);

/* Create, read, heal and expire the keys of epochs e-keep .. e+1 at `now`,
 * fall back to local keys while memcached is unreachable, and publish. */
void keyring_cluster_refresh(struct keyring_cluster *kc, struct keyring_sync *ks, time_t now);

#endif
