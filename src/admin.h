/*
 * admin.h - the admin HTTP endpoint: /metrics, /stats, /keyring, /healthz.
 *
 * admin_start/admin_set_draining/admin_stop run on the main thread.  The
 * requests are served by libmicrohttpd's own thread, which only reads:
 * workers' counters (relaxed atomic loads) and a description of the keyring
 * (never key bytes).  Workers never wait for it.
 */
#ifndef TESSERA_ADMIN_H
#define TESSERA_ADMIN_H

#include <stddef.h>

#include "config.h"

struct admin;
struct keyring_sync;
struct sessions;
struct worker;

/* Start serving on cfg->admin.listen.  Returns NULL with err set if the
 * endpoint cannot start; the caller checks cfg->admin.enabled first. */
struct admin *admin_start(const struct config *cfg, struct worker **workers, size_t nworkers,
                          struct keyring_sync *ks, struct sessions *store, struct err *err);
/* From now on /healthz answers 503 "draining". */
void admin_set_draining(struct admin *a);
/* Stop the endpoint and free it (NULL is fine). */
void admin_stop(struct admin *a);

#endif
