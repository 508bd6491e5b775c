/*
 * admin.c - libmicrohttpd serving /metrics /stats /keyring /healthz.
 *
 * Runs on libmicrohttpd's internal polling thread (one thread, epoll), with
 * its own connection limits and timeouts, so a slow or hostile admin client
 * costs the workers nothing.  Each request builds a snapshot by summing the
 * per-worker counters and formats it with metrics.c.  Methods other than GET
 * get 405, unknown paths 404, clients outside admin.allow are refused at
 * accept.
 */
#include "admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "check.h"
#include "keyring_sync.h"
#include "log.h"
#include "mc.h"
#include "metrics.h"
#include "sessions.h"
#include "sessions_local.h"
#include "worker.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define ADMIN_CONNECTION_LIMIT 32
#define ADMIN_PER_IP_LIMIT     8
#define ADMIN_TIMEOUT_S        5
#define ADMIN_MEMORY_LIMIT     16384 /* request line + headers; longer gets 414/431 */

struct admin {
    unsigned magic;
#define ADMIN_MAGIC 0x41444d4eu
    const struct config *cfg;
    struct worker **workers;
    size_t nworkers;
    struct keyring_sync *ks;
    struct sessions *store;
    struct MHD_Daemon *daemon;
    time_t start_time;
    _Atomic bool draining;
};

static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    struct admin *a;

    (void)len;
    CAST_OBJ(a, cls, ADMIN_MAGIC);
    if (a->cfg->admin.nallow == 0) {
        return MHD_YES; /* loopback listener: config.c requires allow otherwise */
    }
    for (size_t i = 0; i < a->cfg->admin.nallow; i++) {
        if (cidr_match(&a->cfg->admin.allow[i], addr)) {
            return MHD_YES;
        }
    }
    return MHD_NO;
}

/* Why the instance is degraded (written into buf), or NULL.  Local mode
 * has no shared parts. */
static const char *
admin_degraded(const struct admin *a, const struct keyring_view *k, char *buf, size_t len)
{
    struct mc *mc = a->store->mc;

    for (size_t i = 0; mc != NULL && i < mc_nservers(mc); i++) {
        if (!mc_server_up(mc, i)) {
            snprintf(buf, len, "memcached %s unreachable", mc_server_name(mc, i));
            return buf;
        }
    }
    if (k->degraded) {
        return "keyring local";
    }
    return NULL;
}

/* Sum the workers' counters into per-frontend and per-worker totals and
 * write the requested document. */
static int
admin_render(struct admin *a, const char *url, FILE *out)
{
    const struct config *cfg = a->cfg;
    size_t nfe = cfg->nfrontends;
    struct stats_totals *fe = calloc(nfe, sizeof(*fe));
    struct stats_totals *wk = calloc(a->nworkers, sizeof(*wk));
    const char **names = calloc(nfe, sizeof(*names));
    struct keyring_view *kv = malloc(sizeof(*kv));
    struct mc *mc = a->store->mc;
    size_t nservers = mc != NULL ? mc_nservers(mc) : 0;
    struct metrics_server *servers = calloc(nservers + 1, sizeof(*servers));
    size_t depth = 0;
    char why[300];
    int rc = -1;

    if (fe == NULL || wk == NULL || names == NULL || kv == NULL || servers == NULL) {
        goto out;
    }
    for (size_t i = 0; i < nservers; i++) {
        servers[i].name = mc_server_name(mc, i);
        servers[i].up = mc_server_up(mc, i);
    }
    for (size_t q = 0; mc != NULL && q <= a->nworkers; q++) {
        depth += mc_queue_depth(mc, q);
    }
    for (size_t w = 0; w < a->nworkers; w++) {
        for (size_t f = 0; f < nfe; f++) {
            stats_sum(&fe[f], &a->workers[w]->stats[f]);
            stats_sum(&wk[w], &a->workers[w]->stats[f]);
        }
    }
    for (size_t f = 0; f < nfe; f++) {
        names[f] = cfg->frontends[f].name;
    }
    keyring_sync_describe(a->ks, time(NULL), kv);
    struct metrics_snapshot s = {
        .version = PACKAGE_VERSION,
        .openssl_version = OpenSSL_version(OPENSSL_VERSION),
        .start_time = a->start_time,
        .draining = atomic_load(&a->draining),
        .degraded = admin_degraded(a, kv, why, sizeof(why)),
        .nfrontends = nfe,
        .frontend_names = names,
        .frontend = fe,
        .nworkers = a->nworkers,
        .worker = wk,
        .session_entries = sessions_local_count(a->store->local),
        .memcached_configured = cfg->sessions.store == CONFIG_STORE_MEMCACHED,
        .nservers = nservers,
        .servers = servers,
        .memcached_queue_depth = depth,
        .tickets = cfg->sessions.tickets,
        .keyring = kv,
    };
    if (strcmp(url, "/metrics") == 0) {
        rc = metrics_write_prometheus(out, &s);
    } else if (strcmp(url, "/stats") == 0) {
        rc = metrics_write_stats_json(out, &s);
    } else {
        rc = metrics_write_keyring_json(out, kv);
    }
out:
    free(fe);
    free(wk);
    free(names);
    free(kv);
    free(servers);
    return rc;
}

static void
admin_reply_text(struct admin_reply *r, unsigned status, const char *text)
{
    r->status = status;
    r->type = "text/plain; charset=utf-8";
    r->body = strdup(text);
    r->len = r->body != NULL ? strlen(r->body) : 0;
}

static void
admin_route(struct admin *a, const char *url, struct admin_reply *r)
{
    if (strcmp(url, "/healthz") == 0) {
        struct keyring_view kv;
        const char *why;
        char text[128];
        if (atomic_load(&a->draining)) {
            admin_reply_text(r, MHD_HTTP_SERVICE_UNAVAILABLE, "draining\n");
            return;
        }
        keyring_sync_describe(a->ks, time(NULL), &kv);
        why = admin_degraded(a, &kv, text, sizeof(text));
        if (why == NULL) {
            admin_reply_text(r, MHD_HTTP_OK, "ok\n");
        } else {
            char body[160];
            snprintf(body, sizeof(body), "degraded: %s\n", why);
            admin_reply_text(r, MHD_HTTP_OK, body);
        }
        return;
    }
    if (strcmp(url, "/metrics") != 0 && strcmp(url, "/stats") != 0 &&
        strcmp(url, "/keyring") != 0) {
        admin_reply_text(r, MHD_HTTP_NOT_FOUND, "not found\n");
        return;
    }
    FILE *out = open_memstream(&r->body, &r->len);
    if (out == NULL) {
        admin_reply_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return;
    }
    int rc = admin_render(a, url, out);
    if (fclose(out) != 0 || rc < 0) {
        free(r->body);
        admin_reply_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
        return;
    }
    r->status = MHD_HTTP_OK;
    r->type = strcmp(url, "/metrics") == 0 ? "text/plain; version=0.0.4; charset=utf-8"
                                           : "application/json";
}

void
admin_respond(struct admin *a, const char *method, const char *url, struct admin_reply *r)
{
    CHECK_OBJ(a, ADMIN_MAGIC);
    *r = (struct admin_reply){0};
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        admin_reply_text(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    } else {
        admin_route(a, url, r);
    }
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    struct admin *a;
    struct admin_reply r;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    (void)version;
    (void)upload_data;
    (void)req_cls;
    CAST_OBJ(a, cls, ADMIN_MAGIC);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        *upload_data_size = 0; /* ignore any body: the answer is the same */
    }
    admin_respond(a, method, url, &r);
    if (r.body == NULL) {
        return MHD_NO; /* out of memory: drop the connection */
    }
    resp = MHD_create_response_from_buffer(r.len, r.body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(r.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r.status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
    }
    ret = MHD_queue_response(conn, r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char text[512];

    (void)cls;
    vsnprintf(text, sizeof(text), fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    log_debug_limited("admin: %s", text);
}

struct admin *
admin_new(const struct config *cfg, struct worker **workers, size_t nworkers,
          struct keyring_sync *ks, struct sessions *store)
{
    struct admin *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        return NULL;
    }
    a->magic = ADMIN_MAGIC;
    a->cfg = cfg;
    a->workers = workers;
    a->nworkers = nworkers;
    a->ks = ks;
    a->store = store;
    a->start_time = time(NULL);
    atomic_init(&a->draining, false);
    return a;
}

struct admin *
admin_start(const struct config *cfg, struct worker **workers, size_t nworkers,
            struct keyring_sync *ks, struct sessions *store, struct err *err)
{
    struct admin *a = admin_new(cfg, workers, nworkers, ks, store);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

    if (a == NULL) {
        err_set(err, "admin: out of memory");
        return NULL;
    }
    if (cfg->admin.listen.ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    /* The logger option first, so that MHD's own messages reach our log. */
    a->daemon = MHD_start_daemon(
        flags, 0, on_accept, a, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, &cfg->admin.listen.ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)ADMIN_CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)ADMIN_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADMIN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADMIN_MEMORY_LIMIT, MHD_OPTION_END);
    if (a->daemon == NULL) {
        err_set(err, "%s: admin.listen %s: cannot listen (address in use or not local?)", cfg->path,
                cfg->admin.listen_text);
        free(a);
        return NULL;
    }
    log_info("admin endpoint on http://%s/ (/metrics /stats /keyring /healthz)",
             cfg->admin.listen_text);
    return a;
}

void
admin_set_draining(struct admin *a)
{
    if (a != NULL) {
        atomic_store(&a->draining, true);
    }
}

void
admin_stop(struct admin *a)
{
    if (a == NULL) {
        return;
    }
    if (a->daemon != NULL) {
        MHD_stop_daemon(a->daemon);
    }
    a->magic = 0;
    free(a);
}
