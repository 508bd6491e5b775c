/*
 * admin.c - libmicrohttpd serving /metrics /stats /keyring /healthz.
 *
 * Runs on its own thread ("admin"), which drives libmicrohttpd (external
 * epoll mode: MHD_run after each wake-up) and enforces what libmicrohttpd
 * cannot: a request must arrive complete within ADMIN_REQUEST_MS of the
 * connection's start (or of its previous answer), and at the connection
 * limit the oldest incomplete request is closed to make room, so /healthz
 * answers a load balancer whatever other clients do (design.md).  The
 * connection list (struct admin_conn) is touched by that thread only: the
 * libmicrohttpd callbacks that fill it run inside MHD_run.  Each request
 * builds a snapshot by summing the per-worker counters and formats it with
 * metrics.c, so a slow or hostile admin client costs the workers nothing.
 * Methods other than GET get 405, unknown paths 404, clients outside
 * admin.allow are refused at accept.
 *
 * Key operations (admin.token_file set at start-up): POST /keyring/retire
 * and /keyring/rotate.  Clients outside admin.allow are then let in at
 * accept so that they can be told 403 (and logged) on every request, GET
 * included; inside it a request needs "Authorization: Bearer <token>"
 * (token.h: digests compared in constant time) or gets 401.  The
 * operation itself is handed to the main loop (keyops.h), which talks to
 * memcached; this thread waits for it at most keyops' bound, which the
 * supervisor derives from memcached.timeout_ms, and answers 202 if it is
 * not done by then.  The token's digest is the one thing a reload changes
 * here (admin_set_token, under token_lock).
 */
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "check.h"
#include "clock.h"
#include "gen.h"
#include "keyops.h"
#include "keyring_sync.h"
#include "log.h"
#include "mc.h"
#include "metrics.h"
#include "ocsp_store.h"
#include "reload.h"
#include "sessions.h"
#include "sessions_local.h"
#include "token.h"
#include "worker.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Connections served at once.  libmicrohttpd may hold ADMIN_CONNECTION_SPARE
 * more, so that a new connection is always accepted and pushes the oldest
 * incomplete request out instead of being refused: in one pass it accepts
 * up to 11 while the up to 11 pushed out after the previous pass are still
 * being closed (it counts a connection until the end of the pass that
 * closes it). */
#define ADMIN_CONNECTION_LIMIT 32
#define ADMIN_CONNECTION_SPARE 32
#define ADMIN_PER_IP_LIMIT     8
/* libmicrohttpd's inactivity timeout: what is left once a request is in (an
 * answer nobody reads). */
#define ADMIN_TIMEOUT_S 5
/* design.md: "a request must arrive complete within 2 s". */
#define ADMIN_REQUEST_MS   2000
#define ADMIN_MAX_WAIT_MS  1000  /* the thread wakes at least this often */
#define ADMIN_MEMORY_LIMIT 16384 /* request line + headers; longer gets 414/431 */

/* One open admin connection; admin thread only. */
struct admin_conn {
    unsigned magic;
#define ADMIN_CONN_MAGIC 0x41434f4eu
    struct admin_conn *prev;
    struct admin_conn *next;
    int fd;
    unsigned char addr[16]; /* the client's IPv4 or IPv6 address */
    size_t addrlen;
    uint64_t since_ms; /* monotonic: accepted, or its previous answer completed */
    bool answering;    /* its request arrived complete and is being answered */
    bool closing;      /* shut down here; libmicrohttpd closes it in its next pass */
};

struct admin {
    unsigned magic;
#define ADMIN_MAGIC 0x41444d4eu
    const struct config *cfg;
    struct worker **workers;
    size_t nworkers;
    struct keyring_sync *ks;
    struct sessions *store;
    const struct gen_slots *slots;
    const struct reload_stats *reloads;
    struct keyops *keyops; /* NULL: no key operations */
    /* Key operations were configured at start-up: clients outside allow
     * are let in to be answered 403. */
    bool forbid_per_request;
    pthread_mutex_t token_lock; /* the token: admin_set_token (main) vs requests */
    bool has_token;
    unsigned char token_digest[TOKEN_DIGEST_LEN];
    struct ocsp_store *ocsp;
    struct MHD_Daemon *daemon;
    time_t start_time;
    _Atomic bool draining;
    /* The admin thread. */
    pthread_t thread;
    bool thread_started;
    int wake_fd;  /* eventfd: admin_stop wakes the thread */
    int epoll_fd; /* libmicrohttpd's, polled by the thread */
    _Atomic bool stopping;
    struct admin_conn *conns; /* every connection libmicrohttpd has open */
    size_t nopen;             /* of those, the ones not closing */
    _Atomic uint64_t closed_slow;
    _Atomic uint64_t closed_evicted;
};

static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    struct admin *a;

    (void)len;
    CAST_OBJ(a, cls, ADMIN_MAGIC);
    if (a->cfg->admin.nallow == 0 || a->forbid_per_request) {
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
    size_t nfe = gen_slots_count(a->slots);
    struct stats_totals *fe = calloc(nfe + 1, sizeof(*fe));
    struct stats_totals *wk = calloc(a->nworkers, sizeof(*wk));
    const char **names = calloc(nfe + 1, sizeof(*names));
    struct keyring_view *kv = malloc(sizeof(*kv));
    struct mc *mc = a->store->mc;
    size_t nservers = mc != NULL ? mc_nservers(mc) : 0;
    struct metrics_server *servers = calloc(nservers + 1, sizeof(*servers));
    size_t depth = 0;
    struct ocsp_view ocsp;
    char why[300];
    int rc = -1;

    ocsp_store_describe(a->ocsp, &ocsp);
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
        names[f] = a->slots->name[f];
    }
    keyring_sync_describe(a->ks, clock_wall_s(), kv);
    struct metrics_snapshot s = {
        .version = PACKAGE_VERSION,
        .openssl_version = OpenSSL_version(OPENSSL_VERSION),
        .start_time = a->start_time,
        .draining = atomic_load(&a->draining),
        .generation = a->reloads != NULL ? atomic_load(&a->reloads->generation) : 1,
        .reloads_ok = a->reloads != NULL ? atomic_load(&a->reloads->ok) : 0,
        .reloads_failed = a->reloads != NULL ? atomic_load(&a->reloads->failed) : 0,
        .last_reload_ok = a->reloads != NULL ? atomic_load(&a->reloads->last_ok_s) : 0,
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
        .admin_closed_slow = atomic_load_explicit(&a->closed_slow, memory_order_relaxed),
        .admin_closed_evicted = atomic_load_explicit(&a->closed_evicted, memory_order_relaxed),
        .ocsp = &ocsp,
    };
    for (size_t op = 0; op < KEYOPS__KINDS; op++) {
        for (size_t res = 0; res < KEYOPS__RESULTS; res++) {
            s.keyring_operations[op][res] =
                keyops_counter(a->keyops, (enum keyops_kind)op, (enum keyops_result)res);
        }
    }
    if (strcmp(url, "/metrics") == 0) {
        rc = metrics_write_prometheus(out, &s);
    } else if (strcmp(url, "/stats") == 0) {
        rc = metrics_write_stats_json(out, &s);
    } else {
        rc = metrics_write_keyring_json(out, kv);
    }
out:
    ocsp_view_release(&ocsp);
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
        keyring_sync_describe(a->ks, clock_wall_s(), &kv);
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

/* ---- key operations ---- */

/* Whether the client at `sa` may use the endpoint: in admin.allow, or
 * loopback when there is no allow list (the listener is loopback then). */
static bool
admin_client_allowed(const struct admin *a, const struct sockaddr *sa)
{
    if (sa == NULL) {
        return false;
    }
    if (a->cfg->admin.nallow > 0) {
        for (size_t i = 0; i < a->cfg->admin.nallow; i++) {
            if (cidr_match(&a->cfg->admin.allow[i], sa)) {
                return true;
            }
        }
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127);
    }
    return false;
}

static const struct sockaddr *
admin_client_addr(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    return info != NULL ? info->client_addr : NULL;
}

/* The client's address as text, for the log. */
static const char *
admin_client_text(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *src = NULL;

    if (sa != NULL && sa->sa_family == AF_INET) {
        src = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        src = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    }
    if (src == NULL || inet_ntop(sa->sa_family, src, buf, (socklen_t)len) == NULL) {
        snprintf(buf, len, "?");
    }
    return buf;
}

/* "Authorization: Bearer <token>" holds the token (RFC 6750, 2.1).  No
 * header, another scheme or a wrong token are all the same to the caller;
 * the compare runs in every case so that they take the same time. */
static bool
admin_bearer_ok(struct admin *a, struct MHD_Connection *conn)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tok = "";
    unsigned char digest[TOKEN_DIGEST_LEN];
    bool has;
    bool ok;

    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        tok = h + 7;
        while (*tok == ' ') {
            tok++;
        }
    }
    pthread_mutex_lock(&a->token_lock);
    has = a->has_token;
    memcpy(digest, a->token_digest, sizeof(digest));
    pthread_mutex_unlock(&a->token_lock);
    size_t n = strlen(tok);
    while (n > 0 && tok[n - 1] == ' ') {
        n--;
    }
    ok = token_matches(digest, tok, n) && has && h != NULL;
    OPENSSL_cleanse(digest, sizeof(digest));
    return ok;
}

/* The fingerprint argument: exactly 8 hex digits. */
static bool
admin_parse_fingerprint(const char *text, uint32_t *fp)
{
    uint32_t v = 0;

    if (text == NULL || strlen(text) != 8) {
        return false;
    }
    for (const char *p = text; *p != '\0'; p++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (d < 0) {
            return false;
        }
        v = v << 4 | (uint32_t)d;
    }
    *fp = v;
    return true;
}

static void
admin_reply_keyop(struct admin_reply *r, enum keyops_kind kind, const char *fp_text,
                  const char *result, bool has_epoch, uint64_t epoch)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"op\": \"%s\"", keyops_kind_name(kind));

    if (fp_text != NULL) {
        n += snprintf(body + n, sizeof(body) - (size_t)n, ", \"fingerprint\": \"%s\"", fp_text);
    }
    n += snprintf(body + n, sizeof(body) - (size_t)n, ", \"result\": \"%s\"", result);
    if (has_epoch) {
        n += snprintf(body + n, sizeof(body) - (size_t)n, ", \"epoch\": %llu",
                      (unsigned long long)epoch);
    }
    snprintf(body + n, sizeof(body) - (size_t)n, "}\n");
    r->type = "application/json";
    r->body = strdup(body);
    r->len = r->body != NULL ? strlen(r->body) : 0;
}

/*
 * POST /keyring/retire?fingerprint=XXXXXXXX and POST /keyring/rotate, with
 * key operations on.  Source (403), then token (401), then the operation on
 * the main loop.  Every request is logged at info with its source and
 * outcome, never with the token.
 */
static void
admin_keyop(struct admin *a, struct MHD_Connection *conn, enum keyops_kind kind,
            struct admin_reply *r)
{
    const struct sockaddr *sa = admin_client_addr(conn);
    char who[INET6_ADDRSTRLEN + 1];
    char fp_text[9] = "";
    const char *fp_arg = NULL;
    uint32_t fp = 0;
    enum keyops_result result;
    uint64_t epoch = 0;

    admin_client_text(sa, who, sizeof(who));
    if (kind == KEYOPS_RETIRE) {
        fp_arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "fingerprint");
    }
    if (!admin_client_allowed(a, sa)) {
        keyops_count(a->keyops, kind, KEYOPS_FORBIDDEN);
        log_info_limited("admin: POST /keyring/%s from %s: forbidden (not in admin.allow)",
                         keyops_kind_name(kind), who);
        admin_reply_text(r, MHD_HTTP_FORBIDDEN, "forbidden\n");
        return;
    }
    if (!admin_bearer_ok(a, conn)) {
        keyops_count(a->keyops, kind, KEYOPS_UNAUTHORIZED);
        log_info_limited("admin: POST /keyring/%s from %s: unauthorized (no or wrong bearer token)",
                         keyops_kind_name(kind), who);
        admin_reply_text(r, MHD_HTTP_UNAUTHORIZED, "unauthorized\n");
        return;
    }
    if (kind == KEYOPS_RETIRE) {
        if (!admin_parse_fingerprint(fp_arg, &fp)) {
            keyops_count(a->keyops, kind, KEYOPS_NOT_FOUND);
            log_info("admin: POST /keyring/retire from %s: not_found (fingerprint must be 8 hex "
                     "digits)",
                     who);
            admin_reply_keyop(r, kind, NULL, "not_found", false, 0);
            r->status = MHD_HTTP_NOT_FOUND;
            return;
        }
        snprintf(fp_text, sizeof(fp_text), "%08x", (unsigned)fp);
    }
    struct keyops_req *req = keyops_submit(a->keyops, kind, fp);
    if (req == NULL) {
        admin_reply_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return;
    }
    bool done = keyops_wait(a->keyops, req, &result, &epoch);
    keyops_release(a->keyops, req);
    if (!done) {
        /* Still running on the main loop, which counts and logs its end. */
        log_info("admin: POST /keyring/%s%s%s from %s: accepted, still running",
                 keyops_kind_name(kind), kind == KEYOPS_RETIRE ? " " : "", fp_text, who);
        admin_reply_keyop(r, kind, kind == KEYOPS_RETIRE ? fp_text : NULL, "pending", false, 0);
        r->status = MHD_HTTP_ACCEPTED;
        return;
    }
    log_info("admin: POST /keyring/%s%s%s from %s: %s", keyops_kind_name(kind),
             kind == KEYOPS_RETIRE ? " " : "", fp_text, who, keyops_result_name(result));
    admin_reply_keyop(r, kind, kind == KEYOPS_RETIRE ? fp_text : NULL, keyops_result_name(result),
                      result != KEYOPS_NOT_FOUND, epoch);
    r->status = result == KEYOPS_OK          ? MHD_HTTP_OK
                : result == KEYOPS_NOT_FOUND ? MHD_HTTP_NOT_FOUND
                                             : MHD_HTTP_SERVICE_UNAVAILABLE;
}

/* The key operation `method` `url` names, if key operations are on. */
static bool
admin_is_keyop(struct admin *a, const char *method, const char *url, enum keyops_kind *kind)
{
    bool has;

    if (a->keyops == NULL || strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        return false;
    }
    if (strcmp(url, "/keyring/retire") == 0) {
        *kind = KEYOPS_RETIRE;
    } else if (strcmp(url, "/keyring/rotate") == 0) {
        *kind = KEYOPS_ROTATE;
    } else {
        return false;
    }
    pthread_mutex_lock(&a->token_lock);
    has = a->has_token;
    pthread_mutex_unlock(&a->token_lock);
    return has;
}

void
admin_set_token(struct admin *a, const struct config *cfg)
{
    if (a == NULL) {
        return;
    }
    CHECK_OBJ(a, ADMIN_MAGIC);
    pthread_mutex_lock(&a->token_lock);
    if (a->has_token != cfg->admin.has_token ||
        CRYPTO_memcmp(a->token_digest, cfg->admin.token_digest, TOKEN_DIGEST_LEN) != 0) {
        log_info("admin: key operations %s", !cfg->admin.has_token ? "off (no admin.token_file)"
                                             : a->has_token        ? "use the new token"
                                                                   : "on");
    }
    a->has_token = cfg->admin.has_token;
    memcpy(a->token_digest, cfg->admin.token_digest, TOKEN_DIGEST_LEN);
    pthread_mutex_unlock(&a->token_lock);
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

/* ---- the connection list: deadline and eviction (admin thread) ---- */

/* Our record of `conn`, or NULL when none could be made (out of memory). */
static struct admin_conn *
admin_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct admin_conn *ac;

    if (info == NULL || info->socket_context == NULL) {
        return NULL;
    }
    CAST_OBJ(ac, info->socket_context, ADMIN_CONN_MAGIC);
    return ac;
}

/* A request arrived complete (answering), or its answer completed: the
 * connection waits for its next request from now on. */
static void
admin_conn_set_answering(struct MHD_Connection *conn, bool answering)
{
    struct admin_conn *ac = admin_conn_of(conn);

    if (ac == NULL) {
        return;
    }
    ac->answering = answering;
    if (!answering) {
        ac->since_ms = clock_mono_ms();
    }
}

static void
admin_conn_set_client(struct admin_conn *ac, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info != NULL ? info->client_addr : NULL;

    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(ac->addr, &in->sin_addr, sizeof(in->sin_addr));
        ac->addrlen = sizeof(in->sin_addr);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(ac->addr, &in6->sin6_addr, sizeof(in6->sin6_addr));
        ac->addrlen = sizeof(in6->sin6_addr);
    }
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode toe)
{
    struct admin *a;
    struct admin_conn *ac;

    CAST_OBJ(a, cls, ADMIN_MAGIC);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        ac = calloc(1, sizeof(*ac));
        if (ac == NULL || info == NULL) {
            free(ac); /* untracked: libmicrohttpd's own timeout still applies */
            return;
        }
        ac->magic = ADMIN_CONN_MAGIC;
        ac->fd = info->connect_fd;
        admin_conn_set_client(ac, conn);
        ac->since_ms = clock_mono_ms();
        ac->next = a->conns;
        if (a->conns != NULL) {
            a->conns->prev = ac;
        }
        a->conns = ac;
        a->nopen++;
        *socket_context = ac;
        return;
    }
    if (*socket_context == NULL) {
        return;
    }
    CAST_OBJ(ac, *socket_context, ADMIN_CONN_MAGIC);
    if (ac->prev != NULL) {
        ac->prev->next = ac->next;
    } else {
        a->conns = ac->next;
    }
    if (ac->next != NULL) {
        ac->next->prev = ac->prev;
    }
    if (!ac->closing) {
        a->nopen--;
    }
    ac->magic = 0;
    free(ac);
    *socket_context = NULL;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)req_cls;
    (void)toe;
    admin_conn_set_answering(conn, false);
}

/* Close `ac` from our side.  shutdown(2), not close(2): the descriptor stays
 * libmicrohttpd's, which sees the end of the stream in its next pass and
 * closes the connection itself (calling on_connection). */
static void
admin_conn_close(struct admin *a, struct admin_conn *ac, _Atomic uint64_t *counter)
{
    (void)shutdown(ac->fd, SHUT_RDWR);
    ac->closing = true;
    a->nopen--;
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* Whether two connections come from the same client address. */
static bool
admin_conn_same_client(const struct admin_conn *x, const struct admin_conn *y)
{
    return x->addrlen == y->addrlen && memcmp(x->addr, y->addr, x->addrlen) == 0;
}

/* Connections from ac's client address that are not closing, ac included. */
static size_t
admin_conn_client_count(const struct admin *a, const struct admin_conn *ac)
{
    size_t n = 0;

    for (const struct admin_conn *o = a->conns; o != NULL; o = o->next) {
        n += !o->closing && admin_conn_same_client(o, ac);
    }
    return n;
}

/*
 * The connection to push out at the limit: the oldest incomplete request
 * (else, when every connection is being answered to a client that does not
 * read, the oldest connection) of the client address that holds the most
 * connections.  Oldest alone is not enough: a client that reconnects as
 * soon as it is pushed out makes every connection young, and would push
 * out a load balancer's fresh connection before its request arrives; by
 * address, it only pushes out its own.
 */
static struct admin_conn *
admin_conn_victim(struct admin *a)
{
    struct admin_conn *best = NULL;
    size_t best_n = 0;

    for (int any = 0; any < 2 && best == NULL; any++) {
        for (struct admin_conn *ac = a->conns; ac != NULL; ac = ac->next) {
            if (ac->closing || (ac->answering && !any)) {
                continue;
            }
            size_t n = admin_conn_client_count(a, ac);
            /* The list runs newest first: "<=" keeps the oldest of a tie. */
            if (best == NULL || n > best_n || (n == best_n && ac->since_ms <= best->since_ms)) {
                best = ac;
                best_n = n;
            }
        }
    }
    return best;
}

/* Close what is past its deadline, then the oldest until at the limit.
 * Returns how long the thread may sleep before the next deadline. */
static int
admin_sweep(struct admin *a, uint64_t now)
{
    uint64_t wait = ADMIN_MAX_WAIT_MS;

    for (struct admin_conn *ac = a->conns; ac != NULL; ac = ac->next) {
        if (ac->closing || ac->answering) {
            continue;
        }
        if (now - ac->since_ms >= ADMIN_REQUEST_MS) {
            admin_conn_close(a, ac, &a->closed_slow);
        } else if (ac->since_ms + ADMIN_REQUEST_MS - now < wait) {
            wait = ac->since_ms + ADMIN_REQUEST_MS - now;
        }
    }
    while (a->nopen > ADMIN_CONNECTION_LIMIT) {
        struct admin_conn *victim = admin_conn_victim(a);
        CHECK(victim != NULL);
        admin_conn_close(a, victim, &a->closed_evicted);
    }
    return (int)wait;
}

/* The admin thread: poll libmicrohttpd's epoll descriptor (and the wake-up
 * eventfd) no longer than either deadline, run it, sweep. */
static void *
admin_main(void *arg)
{
    struct admin *a;

    CAST_OBJ(a, arg, ADMIN_MAGIC);
    int wait = admin_sweep(a, clock_mono_ms());
    while (!atomic_load(&a->stopping)) {
        struct pollfd p[2] = {
            {.fd = a->epoll_fd, .events = POLLIN},
            {.fd = a->wake_fd, .events = POLLIN},
        };
        MHD_UNSIGNED_LONG_LONG mhd_ms;

        if (MHD_get_timeout(a->daemon, &mhd_ms) == MHD_YES && mhd_ms < (unsigned)wait) {
            wait = (int)mhd_ms;
        }
        if (poll(p, 2, wait) < 0 && errno != EINTR) {
            log_error_limited("admin: poll: %s", strerror(errno));
        }
        MHD_run(a->daemon);
        wait = admin_sweep(a, clock_mono_ms());
    }
    return NULL;
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
    admin_conn_set_answering(conn, true);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        *upload_data_size = 0; /* ignore any body: the answer is the same */
    }
    enum keyops_kind kind;
    if (admin_is_keyop(a, method, url, &kind)) {
        r = (struct admin_reply){0};
        admin_keyop(a, conn, kind, &r);
    } else if (a->forbid_per_request && !admin_client_allowed(a, admin_client_addr(conn))) {
        char who[INET6_ADDRSTRLEN + 1];
        log_info_limited("admin: %s %s from %s: forbidden (not in admin.allow)", method, url,
                         admin_client_text(admin_client_addr(conn), who, sizeof(who)));
        r = (struct admin_reply){0};
        admin_reply_text(&r, MHD_HTTP_FORBIDDEN, "forbidden\n");
    } else {
        admin_respond(a, method, url, &r);
    }
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
    if (r.status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"tessera\"");
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
admin_new(const struct config *cfg, const struct admin_sources *src)
{
    struct admin *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        return NULL;
    }
    a->magic = ADMIN_MAGIC;
    a->cfg = cfg;
    a->workers = src->workers;
    a->nworkers = src->nworkers;
    a->ks = src->ks;
    a->store = src->store;
    a->slots = src->slots;
    a->reloads = src->reloads;
    a->keyops = src->keyops;
    a->forbid_per_request = src->keyops != NULL && cfg->admin.has_token;
    pthread_mutex_init(&a->token_lock, NULL);
    a->has_token = cfg->admin.has_token;
    memcpy(a->token_digest, cfg->admin.token_digest, TOKEN_DIGEST_LEN);
    a->ocsp = src->ocsp;
    a->start_time = clock_wall_s();
    a->wake_fd = -1;
    a->epoll_fd = -1;
    atomic_init(&a->draining, false);
    atomic_init(&a->stopping, false);
    atomic_init(&a->closed_slow, 0);
    atomic_init(&a->closed_evicted, 0);
    return a;
}

struct admin *
admin_start(const struct config *cfg, const struct admin_sources *src, struct err *err)
{
    struct admin *a = admin_new(cfg, src);
    /* No internal thread: admin_main drives the daemon, so that the
     * deadline and the eviction run between its passes, on its thread. */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;

    if (a == NULL) {
        err_set(err, "admin: out of memory");
        return NULL;
    }
    if (cfg->admin.listen.ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    /* The logger option first, so that MHD's own messages reach our log. */
    a->daemon = MHD_start_daemon(flags, 0, on_accept, a, on_request, a, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &cfg->admin.listen.ss,
                                 MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)(ADMIN_CONNECTION_LIMIT + ADMIN_CONNECTION_SPARE),
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)ADMIN_PER_IP_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADMIN_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADMIN_MEMORY_LIMIT,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_END);
    if (a->daemon == NULL) {
        err_set(err, "%s: admin.listen %s: cannot listen (address in use or not local?)", cfg->path,
                cfg->admin.listen_text);
        free(a);
        return NULL;
    }
    info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    a->epoll_fd = info != NULL ? info->epoll_fd : -1;
    a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (a->epoll_fd < 0 || a->wake_fd < 0 || pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        err_set(err, "admin: cannot start its thread");
        admin_stop(a);
        return NULL;
    }
    a->thread_started = true;
    pthread_setname_np(a->thread, "admin");
    log_info("admin endpoint on http://%s/ (/metrics /stats /keyring /healthz%s)",
             cfg->admin.listen_text,
             a->keyops != NULL && cfg->admin.has_token ? "; POST /keyring/retire /keyring/rotate"
                                                       : "");
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
    if (a->thread_started) {
        uint64_t one = 1;
        atomic_store(&a->stopping, true);
        if (write(a->wake_fd, &one, sizeof(one)) < 0) {
            log_warn("admin: cannot wake its thread: %s", strerror(errno));
        }
        pthread_join(a->thread, NULL);
    }
    if (a->daemon != NULL) {
        MHD_stop_daemon(a->daemon); /* closes the rest, through on_connection */
    }
    if (a->wake_fd >= 0) {
        close(a->wake_fd);
    }
    /* libmicrohttpd reports every connection closed when it stops; this
     * frees what it would not have. */
    while (a->conns != NULL) {
        struct admin_conn *ac = a->conns;
        a->conns = ac->next;
        free(ac);
    }
    pthread_mutex_destroy(&a->token_lock);
    OPENSSL_cleanse(a->token_digest, sizeof(a->token_digest));
    a->magic = 0;
    free(a);
}
