/*
 * reload.c - see reload.h.
 *
 * A reload is all or nothing up to the moment it is handed to the workers:
 * the configuration is read and checked (config_load: syntax, values,
 * readable key and secret files), every frontend's TLS contexts are built
 * (certificates and keys loaded and matched), and the listeners it adds
 * are opened.  Any error there frees what was built, logs FILE:LINE and
 * leaves the running generation untouched.  Then each worker gets its
 * update; the last step cannot fail.
 *
 * A frontend whose listen address the running generation has keeps the
 * very sockets the workers listen on (matched by address), so nothing in
 * their accept queues is lost and no connection is refused.
 */
#include "reload.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "gen.h"
#include "listener.h"
#include "log.h"
#include "tlsctx.h"
#include "worker.h"

/* ---- what needs a restart ---- */

static bool
str_same(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static bool
strv_same(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (!str_same(a[i], b[i])) {
            return false;
        }
    }
    return true;
}

static bool
addr_same(const struct addr *a, const struct addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static void
name_add(char *buf, size_t len, size_t *n, const char *name)
{
    size_t used = strlen(buf);

    if (used < len) {
        snprintf(buf + used, len - used, "%s%s", *n > 0 ? ", " : "", name);
    }
    (*n)++;
}

size_t
reload_restart_needed(const struct config *running, const struct config *next, char *buf,
                      size_t len)
{
    const struct config *a = running, *b = next;
    size_t n = 0;

    if (len > 0) {
        buf[0] = '\0';
    }
#define DIFFERS(cond, name)                                                                        \
    do {                                                                                           \
        if (cond) {                                                                                \
            name_add(buf, len, &n, name);                                                          \
        }                                                                                          \
    } while (0)
    DIFFERS(a->workers != b->workers, "workers");
    DIFFERS(a->max_connections != b->max_connections, "max_connections");
    DIFFERS(!str_same(a->pidfile, b->pidfile), "pidfile");
    DIFFERS(!str_same(a->run_as.user, b->run_as.user) ||
                !str_same(a->run_as.group, b->run_as.group),
            "user/group");
    DIFFERS(a->log.level != b->log.level || a->log.syslog != b->log.syslog, "log");
    DIFFERS(a->sessions.store != b->sessions.store, "sessions.store");
    DIFFERS(a->sessions.lifetime != b->sessions.lifetime, "sessions.lifetime");
    DIFFERS(a->sessions.tickets != b->sessions.tickets, "sessions.tickets");
    DIFFERS(a->tickets.rotate != b->tickets.rotate || a->tickets.keep != b->tickets.keep ||
                a->tickets.refresh != b->tickets.refresh,
            "tickets");
    DIFFERS(!strv_same(a->memcached.servers, a->memcached.nservers, b->memcached.servers,
                       b->memcached.nservers) ||
                !str_same(a->memcached.options, b->memcached.options) ||
                !str_same(a->memcached.prefix, b->memcached.prefix) ||
                a->memcached.timeout_ms != b->memcached.timeout_ms,
            "memcached");
    DIFFERS(!str_same(a->memcached.secret_file, b->memcached.secret_file) ||
                !strv_same(a->memcached.old_secret_files, a->memcached.nold_secret_files,
                           b->memcached.old_secret_files, b->memcached.nold_secret_files),
            "memcached secret files");
    DIFFERS(!str_same(a->admin.listen_text, b->admin.listen_text) ||
                a->admin.nallow != b->admin.nallow ||
                (a->admin.nallow > 0 && memcmp(a->admin.allow, b->admin.allow,
                                               a->admin.nallow * sizeof(*a->admin.allow)) != 0),
            "admin");
#undef DIFFERS
    return n;
}

/* ---- listeners ---- */

/* Close the n sockets of `fds` that are not the running generation's:
 * what listeners_for opened (-1 is skipped). */
static void
close_new(const struct reload *r, const int *fds, size_t n)
{
    size_t nrun = r->nworkers * r->gen->cfg->nfrontends;

    for (size_t i = 0; i < n; i++) {
        bool running = fds[i] < 0;
        for (size_t j = 0; j < nrun && !running; j++) {
            running = r->fds[j] == fds[i];
        }
        if (!running) {
            close(fds[i]);
        }
    }
}

/* Every worker's socket for every frontend of `cfg`: the running one for a
 * listen address the current generation has, else a new one.  NULL with err
 * set, nothing new left open. */
static int *
listeners_for(struct reload *r, const struct config *cfg, struct err *err)
{
    const struct config *cur = r->gen->cfg;
    size_t nw = r->nworkers, nfe = cfg->nfrontends, ncur = cur->nfrontends;
    int *fds = malloc(nw * nfe * sizeof(*fds));
    bool *claimed = calloc(ncur + 1, sizeof(*claimed));

    if (fds == NULL || claimed == NULL) {
        err_set(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nw * nfe; i++) {
        fds[i] = -1;
    }
    for (size_t f = 0; f < nfe; f++) {
        size_t o = 0;
        while (o < ncur &&
               (claimed[o] || !addr_same(&cur->frontends[o].listen, &cfg->frontends[f].listen))) {
            o++;
        }
        if (o < ncur) {
            claimed[o] = true;
            for (size_t w = 0; w < nw; w++) {
                fds[w * nfe + f] = r->fds[w * ncur + o];
            }
            continue;
        }
        for (size_t w = 0; w < nw; w++) {
            fds[w * nfe + f] = listener_open(&cfg->frontends[f].listen, err);
            if (fds[w * nfe + f] < 0) {
                goto fail;
            }
        }
    }
    free(claimed);
    return fds;
fail:
    if (fds != NULL) {
        close_new(r, fds, nw * nfe);
    }
    free(fds);
    free(claimed);
    return NULL;
}

/* ---- the reload ---- */

static enum reload_result
reload_failed(struct reload *r, const char *why)
{
    atomic_fetch_add(&r->stats.failed, 1);
    log_error("reload failed, generation %u serves on: %s", r->gen->number, why);
    return RELOAD_FAILED;
}

void
reload_log_generation(const struct gen *g)
{
    for (size_t i = 0; i < g->cfg->nfrontends; i++) {
        const struct config_frontend *fe = &g->cfg->frontends[i];
        log_info("generation %u: frontend %s: listening on %s, backend %s, %zu certificate(s) in "
                 "%zu context(s)",
                 g->number, fe->name, fe->listen_text, fe->backend_text, fe->ncerts,
                 g->tls[i]->nctxs);
    }
}

enum reload_result
reload_run(struct reload *r)
{
    struct config *cfg = NULL;
    struct err err = {{0}};
    char names[256];

    for (size_t i = 0; i < r->nworkers; i++) {
        if (atomic_load(&r->workers[i]->gen_number) != r->gen->number) {
            return RELOAD_BUSY;
        }
    }
    if (config_load(r->boot->path, &cfg, &err) < 0) {
        return reload_failed(r, err.msg);
    }
    if (reload_restart_needed(r->boot, cfg, names, sizeof(names)) > 0) {
        log_warn("reload: %s changed in %s; that needs a restart (the running values stay)", names,
                 cfg->path);
    }
    /* The contexts must match what runs: the session store, tickets, keyring. */
    cfg->workers = r->boot->workers;
    cfg->sessions = r->boot->sessions;
    cfg->tickets = r->boot->tickets;

    struct gen *g = gen_new(cfg, cfg, r->gen->number + 1, r->slots, r->ocsp, &err);
    if (g == NULL) {
        config_free(cfg);
        return reload_failed(r, err.msg);
    }
    int *fds = listeners_for(r, cfg, &err);
    if (fds == NULL) {
        gen_unref(g);
        return reload_failed(r, err.msg);
    }
    struct worker_update **up = calloc(r->nworkers, sizeof(*up));
    bool ok = up != NULL;
    for (size_t i = 0; ok && i < r->nworkers; i++) {
        up[i] = worker_update_new(r->workers[i], g, &fds[i * cfg->nfrontends]);
        ok = up[i] != NULL;
    }
    if (!ok) {
        for (size_t i = 0; up != NULL && i < r->nworkers; i++) {
            worker_update_free(up[i]);
        }
        free(up);
        close_new(r, fds, r->nworkers * cfg->nfrontends);
        free(fds);
        gen_unref(g);
        return reload_failed(r, "out of memory");
    }
    /* Past this point nothing fails. */
    for (size_t i = 0; i < r->nworkers; i++) {
        gen_ref(g); /* the worker's; gen_new's is the supervisor's */
        worker_update_post(r->workers[i], up[i]);
    }
    free(up);
    free(r->fds);
    r->fds = fds;
    gen_unref(r->gen);
    r->gen = g;
    atomic_fetch_add(&r->stats.ok, 1);
    atomic_store(&r->stats.generation, g->number);
    atomic_store(&r->stats.last_ok_s, (int64_t)clock_wall_s());
    reload_log_generation(g);
    log_info("reload: generation %u serves new connections (%zu frontends); open connections "
             "keep theirs",
             g->number, cfg->nfrontends);
    return RELOAD_OK;
}
