/*
 * metrics.c - Prometheus text exposition and JSON of a metrics snapshot.
 *
 * Pure formatting on the admin thread.  The counter table comes from the
 * STATS_COUNTERS X-macro, so /metrics and /stats can never disagree about
 * which counters exist.  Frontend names are restricted by config.c to
 * [A-Za-z0-9_.-], so they need no escaping in either format; other strings
 * go through json_string().
 */
#include "metrics.h"

#include <inttypes.h>
#include <string.h>

static void
family_header(FILE *out, const char *family, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", family, help, family, type);
}

static void
write_counters(FILE *out, const struct metrics_snapshot *s)
{
    const char *family = NULL;

    for (size_t id = 0; id < STAT__COUNT; id++) {
        const struct stats_meta *m = &stats_meta[id];
        if (family == NULL || strcmp(family, m->family) != 0) {
            family = m->family;
            family_header(out, family, "counter", m->help);
        }
        for (size_t f = 0; f < s->nfrontends; f++) {
            fprintf(out, "%s{frontend=\"%s\"%s%s} %" PRIu64 "\n", family, s->frontend_names[f],
                    m->labels[0] ? "," : "", m->labels, s->frontend[f].counter[id]);
        }
    }
}

/* One histogram family, per frontend: cumulative buckets, +Inf, sum, count. */
struct histogram_def {
    const char *name;
    const char *help;
    const uint64_t *bounds_us;
    size_t nbounds;
    /* The frontend's buckets (nbounds + 1, the last is +Inf) and sum. */
    const uint64_t *(*buckets)(const struct stats_totals *t, uint64_t *sum_us);
};

static const uint64_t *
handshake_buckets(const struct stats_totals *t, uint64_t *sum_us)
{
    *sum_us = t->hs_sum_us;
    return t->hs_bucket;
}

static const uint64_t *
memcached_buckets(const struct stats_totals *t, uint64_t *sum_us)
{
    *sum_us = t->mc_sum_us;
    return t->mc_bucket;
}

static const struct histogram_def histograms[] = {
    {"tessera_handshake_duration_seconds",
     "Time from accept to a completed handshake (completed handshakes only).", stats_hs_bounds_us,
     STATS_HS_BUCKETS, handshake_buckets},
    {"tessera_memcached_duration_seconds",
     "memcached round trips of the session cache, from queueing to the answer or the give-up.",
     stats_mc_bounds_us, STATS_MC_BUCKETS, memcached_buckets},
};

static void
write_histogram(FILE *out, const struct metrics_snapshot *s, const struct histogram_def *h)
{
    family_header(out, h->name, "histogram", h->help);
    for (size_t f = 0; f < s->nfrontends; f++) {
        const char *fe = s->frontend_names[f];
        uint64_t sum_us;
        const uint64_t *bucket = h->buckets(&s->frontend[f], &sum_us);
        uint64_t cum = 0;
        for (size_t b = 0; b < h->nbounds; b++) {
            cum += bucket[b];
            fprintf(out, "%s_bucket{frontend=\"%s\",le=\"%g\"} %" PRIu64 "\n", h->name, fe,
                    (double)h->bounds_us[b] / 1e6, cum);
        }
        cum += bucket[h->nbounds];
        fprintf(out, "%s_bucket{frontend=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", h->name, fe, cum);
        fprintf(out, "%s_sum{frontend=\"%s\"} %.6f\n", h->name, fe, (double)sum_us / 1e6);
        fprintf(out, "%s_count{frontend=\"%s\"} %" PRIu64 "\n", h->name, fe, cum);
    }
}

/* The cluster keyring's memcached operations: the results each can have. */
static void
write_keyring_ops(FILE *out, const struct keyring_view *k)
{
    static const struct {
        const char *op;
        enum keyring_op id;
        enum mc_result results[6];
        size_t n;
    } ops[] = {
        {"gets",
         KEYRING_OP_GETS,
         {MC_RES_HIT, MC_RES_MISS, MC_RES_ERROR, MC_RES_TIMEOUT, MC_RES_DROPPED},
         5},
        {"add",
         KEYRING_OP_ADD,
         {MC_RES_STORED, MC_RES_EXISTS, MC_RES_ERROR, MC_RES_TIMEOUT, MC_RES_DROPPED},
         5},
        {"cas",
         KEYRING_OP_CAS,
         {MC_RES_STORED, MC_RES_EXISTS, MC_RES_MISS, MC_RES_ERROR, MC_RES_TIMEOUT, MC_RES_DROPPED},
         6},
    };
    static const char *const names[MC_RES__COUNT] = {
        [MC_RES_HIT] = "hit",         [MC_RES_MISS] = "miss",   [MC_RES_STORED] = "stored",
        [MC_RES_EXISTS] = "exists",   [MC_RES_ERROR] = "error", [MC_RES_TIMEOUT] = "timeout",
        [MC_RES_DROPPED] = "dropped",
    };

    family_header(out, "tessera_keyring_ops_total", "counter",
                  "memcached operations of the cluster keyring, by operation and result.");
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        for (size_t j = 0; j < ops[i].n; j++) {
            enum mc_result r = ops[i].results[j];
            fprintf(out, "tessera_keyring_ops_total{op=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                    ops[i].op, names[r], k != NULL ? k->ops[ops[i].id][r] : 0);
        }
    }
}

static void
write_gauges(FILE *out, const struct metrics_snapshot *s)
{
    const struct keyring_view *k = s->keyring;
    uint64_t rejected = k != NULL ? k->rejected : 0;

    family_header(out, "tessera_memcached_queue_depth", "gauge",
                  "memcached requests queued for the helper threads now.");
    fprintf(out, "tessera_memcached_queue_depth %zu\n", s->memcached_queue_depth);
    family_header(out, "tessera_connections_active", "gauge", "Client connections open now.");
    for (size_t f = 0; f < s->nfrontends; f++) {
        fprintf(out, "tessera_connections_active{frontend=\"%s\"} %" PRId64 "\n",
                s->frontend_names[f], s->frontend[f].connections_active);
    }
    family_header(out, "tessera_session_cache_entries", "gauge",
                  "Sessions held in the in-process store.");
    fprintf(out, "tessera_session_cache_entries %zu\n", s->session_entries);
    family_header(out, "tessera_memcached_up", "gauge",
                  "1 if the memcached server answers, else 0 (0 without memcached).");
    if (!s->memcached_configured || s->nservers == 0) {
        fprintf(out, "tessera_memcached_up 0\n");
    }
    for (size_t i = 0; s->memcached_configured && i < s->nservers; i++) {
        fprintf(out, "tessera_memcached_up{server=\"%s\"} %d\n", s->servers[i].name,
                s->servers[i].up ? 1 : 0);
    }
    family_header(out, "tessera_keyring_keys", "gauge", "Ticket keys held (all roles).");
    fprintf(out, "tessera_keyring_keys %zu\n", k != NULL ? k->n : 0);
    family_header(out, "tessera_keyring_epoch", "gauge",
                  "Current ticket-key epoch (unix time / tickets.rotate).");
    fprintf(out, "tessera_keyring_epoch %" PRIu64 "\n", k != NULL ? k->epoch : 0);
    family_header(out, "tessera_keyring_degraded", "gauge",
                  "1 while tickets are encrypted with a local key although memcached is "
                  "configured (it gave no cluster key for the current epoch).");
    fprintf(out, "tessera_keyring_degraded %d\n", k != NULL && k->degraded ? 1 : 0);
    family_header(out, "tessera_keyring_rejected_total", "counter",
                  "Shared keyring entries that failed to open (forged or corrupt).");
    fprintf(out, "tessera_keyring_rejected_total %" PRIu64 "\n", rejected);
    write_keyring_ops(out, k);
    family_header(out, "tessera_keyring_operations_total", "counter",
                  "Key operations asked of the admin endpoint (POST /keyring/retire, "
                  "/keyring/rotate), by operation and result.");
    for (size_t op = 0; op < KEYOPS__KINDS; op++) {
        for (size_t r = 0; r < KEYOPS__RESULTS; r++) {
            fprintf(out, "tessera_keyring_operations_total{op=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                    keyops_kind_name((enum keyops_kind)op),
                    keyops_result_name((enum keyops_result)r), s->keyring_operations[op][r]);
        }
    }
    family_header(out, "tessera_admin_connections_closed_total", "counter",
                  "Admin connections the endpoint closed: no complete request within 2 s "
                  "(slow), or the oldest incomplete one, to make room at the connection limit "
                  "(evicted).");
    fprintf(out, "tessera_admin_connections_closed_total{reason=\"slow\"} %" PRIu64 "\n",
            s->admin_closed_slow);
    fprintf(out, "tessera_admin_connections_closed_total{reason=\"evicted\"} %" PRIu64 "\n",
            s->admin_closed_evicted);
    family_header(out, "tessera_draining", "gauge", "1 after SIGTERM/SIGINT, while draining.");
    fprintf(out, "tessera_draining %d\n", s->draining ? 1 : 0);
    family_header(out, "tessera_workers", "gauge", "Worker threads.");
    fprintf(out, "tessera_workers %zu\n", s->nworkers);
    family_header(out, "tessera_start_time_seconds", "gauge", "Start time, unix seconds.");
    fprintf(out, "tessera_start_time_seconds %lld\n", (long long)s->start_time);
    family_header(out, "tessera_reloads_total", "counter",
                  "Configuration reloads (SIGHUP) by result.");
    fprintf(out, "tessera_reloads_total{result=\"ok\"} %" PRIu64 "\n", s->reloads_ok);
    fprintf(out, "tessera_reloads_total{result=\"failed\"} %" PRIu64 "\n", s->reloads_failed);
    family_header(out, "tessera_config_generation", "gauge",
                  "Configuration generation new connections start under (1 at start-up).");
    fprintf(out, "tessera_config_generation %u\n", s->generation);
    family_header(out, "tessera_config_last_reload_success_timestamp_seconds", "gauge",
                  "When the configuration in force was loaded (start-up or reload), unix seconds.");
    fprintf(out, "tessera_config_last_reload_success_timestamp_seconds %lld\n",
            (long long)s->last_reload_ok);
    family_header(out, "tessera_build_info", "gauge", "Version of tessera and of OpenSSL.");
    fprintf(out, "tessera_build_info{version=\"%s\",openssl=\"%s\"} 1\n", s->version,
            s->openssl_version);
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void
label_value(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"') {
            fprintf(out, "\\%c", *p);
        } else if (*p == '\n') {
            fputs("\\n", out);
        } else {
            fputc(*p, out);
        }
    }
}

/* OCSP stapling: each certificate's staple expiry, fetches, refusals. */
static void
write_ocsp(FILE *out, const struct ocsp_view *v)
{
    static const char *const fetches[OCSP_FETCHES__COUNT] = {
        [OCSP_FETCHES_OK] = "ok",
        [OCSP_FETCHES_ERROR] = "error",
        [OCSP_FETCHES_INVALID] = "invalid",
        [OCSP_FETCHES_TIMEOUT] = "timeout",
    };

    family_header(out, "tessera_ocsp_staple_expiry_timestamp_seconds", "gauge",
                  "nextUpdate of the OCSP response stapled for the certificate, unix seconds "
                  "(0: none is stapled).");
    for (size_t i = 0; v != NULL && i < v->n; i++) {
        fputs("tessera_ocsp_staple_expiry_timestamp_seconds{cert=\"", out);
        label_value(out, v->certs[i].label);
        fprintf(out, "\"} %" PRId64 "\n", v->certs[i].expiry);
    }
    family_header(out, "tessera_ocsp_fetches_total", "counter",
                  "OCSP responses fetched for ocsp = \"auto\", by result (invalid: an answer "
                  "that is no good staple).");
    for (size_t r = 0; r < OCSP_FETCHES__COUNT; r++) {
        fprintf(out, "tessera_ocsp_fetches_total{result=\"%s\"} %" PRIu64 "\n", fetches[r],
                v != NULL ? v->fetches[r] : 0);
    }
    family_header(out, "tessera_ocsp_responses_rejected_total", "counter",
                  "OCSP responses (fetched, cached, from a file, or a staple that expired in "
                  "use) not stapled, by reason.");
    for (size_t r = OCSP_RESP_OK + 1; r < OCSP_RESP__COUNT; r++) {
        fprintf(out, "tessera_ocsp_responses_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
                ocsp_verdict_name((enum ocsp_verdict)r), v != NULL ? v->rejected[r] : 0);
    }
}

int
metrics_write_prometheus(FILE *out, const struct metrics_snapshot *s)
{
    write_counters(out, s);
    for (size_t i = 0; i < sizeof(histograms) / sizeof(histograms[0]); i++) {
        write_histogram(out, s, &histograms[i]);
    }
    write_gauges(out, s);
    write_ocsp(out, s->ocsp);
    return ferror(out) ? -1 : 0;
}

/* A JSON string literal (quotes included). */
static void
json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(out, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(out, "\\u%04x", *p);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* The label values of "k=\"v\",k2=\"v2\"" joined with '.', e.g. "get.hit". */
static void
label_values(const char *labels, char *out, size_t len)
{
    size_t n = 0;
    const char *p = labels;

    out[0] = '\0';
    while ((p = strchr(p, '"')) != NULL) {
        const char *end = strchr(p + 1, '"');
        if (end == NULL) {
            break;
        }
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%.*s", n ? "." : "",
                              (int)(end - p - 1), p + 1);
        p = end + 1;
    }
}

/*
 * The counters of one totals object as JSON members, one per family with
 * the "tessera_" prefix dropped: a number for a family without labels, else
 * an object keyed by the label values ("handshakes_total": {"full": 3, ...}).
 */
static void
json_counters(FILE *out, const struct stats_totals *t)
{
    const char *family = NULL;

    for (size_t id = 0; id < STAT__COUNT; id++) {
        const struct stats_meta *m = &stats_meta[id];
        const char *key = strncmp(m->family, "tessera_", 8) == 0 ? m->family + 8 : m->family;
        bool first = family == NULL || strcmp(family, m->family) != 0;
        char values[96];

        if (first && family != NULL && stats_meta[id - 1].labels[0]) {
            fputc('}', out);
        }
        if (first) {
            fprintf(out, "%s\"%s\": ", family != NULL ? ", " : "", key);
        }
        family = m->family;
        if (!m->labels[0]) {
            fprintf(out, "%" PRIu64, t->counter[id]);
            continue;
        }
        label_values(m->labels, values, sizeof(values));
        fprintf(out, "%s\"%s\": %" PRIu64, first ? "{" : ", ", values, t->counter[id]);
    }
    if (STAT__COUNT > 0 && stats_meta[STAT__COUNT - 1].labels[0]) {
        fputc('}', out);
    }
    fprintf(out, ", \"connections_active\": %" PRId64, t->connections_active);
}

int
metrics_write_keyring_json(FILE *out, const struct keyring_view *k)
{
    fprintf(out, "{\"degraded\": %s, \"epoch\": %" PRIu64 ", \"keys\": [",
            k->degraded ? "true" : "false", k->epoch);
    for (size_t i = 0; i < k->n; i++) {
        const struct keyring_view_key *v = &k->keys[i];
        fprintf(out,
                "%s{\"epoch\": %" PRIu64 ", \"role\": \"%s\", \"source\": \"%s\", "
                "\"fingerprint\": \"%08" PRIx32 "\"}",
                i ? ", " : "", v->epoch, keyring_role_name(v->role), keyring_source_name(v->source),
                v->fingerprint);
    }
    fprintf(out, "]}\n");
    return ferror(out) ? -1 : 0;
}

int
metrics_write_stats_json(FILE *out, const struct metrics_snapshot *s)
{
    struct stats_totals all;

    memset(&all, 0, sizeof(all));
    for (size_t f = 0; f < s->nfrontends; f++) {
        for (size_t id = 0; id < STAT__COUNT; id++) {
            all.counter[id] += s->frontend[f].counter[id];
        }
        all.connections_active += s->frontend[f].connections_active;
    }
    fprintf(out, "{\"version\": ");
    json_string(out, s->version);
    fprintf(out, ", \"openssl\": ");
    json_string(out, s->openssl_version);
    fprintf(out,
            ", \"start_time\": %lld, \"generation\": %u, \"reloads\": {\"ok\": %" PRIu64
            ", \"failed\": %" PRIu64 "}, \"draining\": %s, \"healthy\": %s, \"degraded\": ",
            (long long)s->start_time, s->generation, s->reloads_ok, s->reloads_failed,
            s->draining ? "true" : "false", s->degraded == NULL ? "true" : "false");
    if (s->degraded != NULL) {
        json_string(out, s->degraded);
    } else {
        fprintf(out, "null");
    }
    fprintf(out,
            ", \"admin_connections_closed\": {\"slow\": %" PRIu64 ", \"evicted\": %" PRIu64 "}",
            s->admin_closed_slow, s->admin_closed_evicted);
    fprintf(out, ", \"keyring_operations\": {");
    for (size_t op = 0; op < KEYOPS__KINDS; op++) {
        fprintf(out, "%s\"%s\": {", op > 0 ? ", " : "", keyops_kind_name((enum keyops_kind)op));
        for (size_t r = 0; r < KEYOPS__RESULTS; r++) {
            fprintf(out, "%s\"%s\": %" PRIu64, r > 0 ? ", " : "",
                    keyops_result_name((enum keyops_result)r), s->keyring_operations[op][r]);
        }
        fprintf(out, "}");
    }
    fprintf(out, "}");
    fprintf(out, ", \"session_cache_entries\": %zu, \"totals\": {", s->session_entries);
    json_counters(out, &all);
    fprintf(out, "}, \"frontends\": {");
    for (size_t f = 0; f < s->nfrontends; f++) {
        const struct stats_totals *t = &s->frontend[f];
        uint64_t count = 0;
        for (size_t b = 0; b <= STATS_HS_BUCKETS; b++) {
            count += t->hs_bucket[b];
        }
        fprintf(out, "%s", f ? ", " : "");
        json_string(out, s->frontend_names[f]);
        fprintf(out, ": {");
        json_counters(out, t);
        fprintf(out, ", \"handshake_duration_seconds\": {\"count\": %" PRIu64 ", \"sum\": %.6f}}",
                count, (double)t->hs_sum_us / 1e6);
    }
    fprintf(out, "}, \"workers\": [");
    for (size_t w = 0; w < s->nworkers; w++) {
        fprintf(out, "%s{\"id\": %zu, ", w ? ", " : "", w);
        json_counters(out, &s->worker[w]);
        fprintf(out, "}");
    }
    fprintf(out, "], \"keyring\": ");
    if (s->keyring != NULL && s->tickets) {
        metrics_write_keyring_json(out, s->keyring);
    } else {
        fprintf(out, "null\n");
    }
    fprintf(out, "}\n");
    return ferror(out) ? -1 : 0;
}
