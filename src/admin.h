/*
 * admin.h - the admin HTTP endpoint: /metrics, /stats, /keyring, /healthz,
 * and with admin.token_file the key operations (POST /keyring/retire and
 * /keyring/rotate, carried out on the main loop through keyops.h).
 *
 * admin_start/admin_set_draining/admin_stop run on the main thread.  The
 * requests are served by the endpoint's own thread ("admin", which drives
 * libmicrohttpd), which only reads: workers' counters (relaxed atomic
 * loads) and a description of the keyring (never key bytes).  Workers never
 * wait for it.
 */
#ifndef TESSERA_ADMIN_H
#define TESSERA_ADMIN_H

#include <stddef.h>

#include "config.h"

struct admin;
struct gen_slots;
struct keyops;
struct keyring_sync;
struct ocsp_store;
struct reload_stats;
struct sessions;
struct worker;

/* What the endpoint reads; all of it outlives the endpoint. */
struct admin_sources {
    struct worker **workers;
    size_t nworkers;
    struct keyring_sync *ks;
    struct sessions *store;
    const struct gen_slots *slots;      /* the frontend name of each counter slot */
    const struct reload_stats *reloads; /* NULL: no generation figures */
    struct keyops *keyops;              /* NULL: no key operations */
    struct ocsp_store *ocsp;            /* NULL: no staples */
};

/* Start serving on cfg->admin.listen.  Returns NULL with err set if the
 * endpoint cannot start; the caller checks cfg->admin.enabled first. */
struct admin *admin_start(const struct config *cfg, const struct admin_sources *src,
                          struct err *err);
/* Main thread, after a reload: the bearer token is now cfg's (or none).
 * The key operations' token is the one setting a reload changes here: an
 * operator who fears the token leaked replaces the file and sends SIGHUP. */
void admin_set_token(struct admin *a, const struct config *cfg);
/* From now on /healthz answers 503 "draining". */
void admin_set_draining(struct admin *a);
/* Stop the endpoint and free it (NULL is fine). */
void admin_stop(struct admin *a);

/*
 * Exposed for tests and fuzzing: the endpoint without its daemon
 * (admin_start is admin_new plus libmicrohttpd; admin_stop frees either),
 * and the answer to one request, `method` on `url` as libmicrohttpd hands
 * them over (the path, unescaped).  r->body is malloc'd (the caller frees
 * it), or NULL when memory ran out.
 */
struct admin_reply {
    unsigned status; /* an HTTP status code */
    const char *type;
    char *body;
    size_t len;
};
struct admin *admin_new(const struct config *cfg, const struct admin_sources *src);
void admin_respond(struct admin *a, const char *method, const char *url, struct admin_reply *r);

#endif
