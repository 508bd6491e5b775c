/*
 * stats.h - per-worker counters and the handshake-duration histogram.
 *
 * A struct stats belongs to one worker; only that worker's thread writes it
 * (stats_add: a relaxed load and store, no read-modify-write, no lock).  Any
 * thread may read it at any time (stats_sum) and gets a value that is at
 * most a few increments old.  The counter list is one X-macro, so the admin
 * endpoint and the logs are fed from the same table.
 */
#ifndef TESSERA_STATS_H
#define TESSERA_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * X(id, metric family, labels, help).  Entries of one family must be
 * adjacent: the exposition prints a family's # HELP and # TYPE once, then
 * all its samples.  Every counter is kept per (worker, frontend).
 */
#define STATS_COUNTERS(X)                                                                          \
    X(CONNECTIONS_TOTAL, "tessera_connections_total", "", "Client connections accepted.")          \
    X(HANDSHAKES_FULL, "tessera_handshakes_total", "type=\"full\"",                                \
      "Completed TLS handshakes, each counted once under its type.")                               \
    X(HANDSHAKES_RESUMED_SESSION, "tessera_handshakes_total", "type=\"resumed_session\"", "")      \
    X(HANDSHAKES_RESUMED_TICKET, "tessera_handshakes_total", "type=\"resumed_ticket\"", "")        \
    X(HS_ERR_TIMEOUT, "tessera_handshake_errors_total", "reason=\"timeout\"",                      \
      "Failed TLS handshakes by reason.")                                                          \
    X(HS_ERR_PROTOCOL, "tessera_handshake_errors_total", "reason=\"protocol\"", "")                \
    X(HS_ERR_NO_SHARED_CIPHER, "tessera_handshake_errors_total", "reason=\"no_shared_cipher\"",    \
      "")                                                                                          \
    X(HS_ERR_OTHER, "tessera_handshake_errors_total", "reason=\"other\"", "")                      \
    X(CLIENT_CERTS_OK, "tessera_client_certs_total", "result=\"ok\"",                              \
      "Handshakes on frontends with client_verify, by verdict: ok (the certificate verified, "     \
      "now or in the session resumed), none (no certificate), failed (handshake refused for a "    \
      "bad or missing certificate).")                                                              \
    X(CLIENT_CERTS_NONE, "tessera_client_certs_total", "result=\"none\"", "")                      \
    X(CLIENT_CERTS_FAILED, "tessera_client_certs_total", "result=\"failed\"", "")                  \
    X(BYTES_IN, "tessera_bytes_total", "direction=\"in\"",                                         \
      "Plaintext bytes relayed: in from clients, out to clients.")                                 \
    X(BYTES_OUT, "tessera_bytes_total", "direction=\"out\"", "")                                   \
    X(BACKEND_CONNECT_ERRORS, "tessera_backend_connect_errors_total", "",                          \
      "Backend connections that were refused, failed or timed out.")                               \
    X(SESS_GET_HIT, "tessera_session_cache_ops_total", "op=\"get\",result=\"hit\"",                \
      "Session cache operations by result.")                                                       \
    X(SESS_GET_MISS, "tessera_session_cache_ops_total", "op=\"get\",result=\"miss\"", "")          \
    X(SESS_GET_ERROR, "tessera_session_cache_ops_total", "op=\"get\",result=\"error\"", "")        \
    X(SESS_GET_TIMEOUT, "tessera_session_cache_ops_total", "op=\"get\",result=\"timeout\"", "")    \
    X(SESS_GET_DROPPED, "tessera_session_cache_ops_total", "op=\"get\",result=\"dropped\"", "")    \
    X(SESS_SET_STORED, "tessera_session_cache_ops_total", "op=\"set\",result=\"stored\"", "")      \
    X(SESS_SET_ERROR, "tessera_session_cache_ops_total", "op=\"set\",result=\"error\"", "")        \
    X(SESS_SET_TIMEOUT, "tessera_session_cache_ops_total", "op=\"set\",result=\"timeout\"", "")    \
    X(SESS_SET_DROPPED, "tessera_session_cache_ops_total", "op=\"set\",result=\"dropped\"", "")    \
    X(SESS_DELETE_HIT, "tessera_session_cache_ops_total", "op=\"delete\",result=\"hit\"", "")      \
    X(SESS_DELETE_MISS, "tessera_session_cache_ops_total", "op=\"delete\",result=\"miss\"", "")    \
    X(SESS_DELETE_ERROR, "tessera_session_cache_ops_total", "op=\"delete\",result=\"error\"", "")  \
    X(SESS_DELETE_TIMEOUT, "tessera_session_cache_ops_total", "op=\"delete\",result=\"timeout\"",  \
      "")                                                                                          \
    X(SESS_DELETE_DROPPED, "tessera_session_cache_ops_total", "op=\"delete\",result=\"dropped\"",  \
      "")                                                                                          \
    X(SESSION_ENTRIES_REJECTED, "tessera_session_entries_rejected_total", "",                      \
      "Shared session-cache entries that failed to open (forged, corrupt, wrong secret).")         \
    X(TICKETS_ISSUED, "tessera_tickets_total", "op=\"issued\"", "Session tickets by operation.")   \
    X(TICKETS_DECRYPTED, "tessera_tickets_total", "op=\"decrypted\"", "")                          \
    X(TICKETS_RENEWED, "tessera_tickets_total", "op=\"renewed\"", "")                              \
    X(TICKETS_UNKNOWN_KEY, "tessera_tickets_total", "op=\"unknown_key\"", "")                      \
    X(RESUMED_SESSION_LOCAL, "tessera_resumptions_total", "type=\"session\",origin=\"local\"",     \
      "Resumed handshakes by type and by the instance that made the session (local or remote).")   \
    X(RESUMED_SESSION_REMOTE, "tessera_resumptions_total", "type=\"session\",origin=\"remote\"",   \
      "")                                                                                          \
    X(RESUMED_TICKET_LOCAL, "tessera_resumptions_total", "type=\"ticket\",origin=\"local\"", "")   \
    X(RESUMED_TICKET_REMOTE, "tessera_resumptions_total", "type=\"ticket\",origin=\"remote\"", "") \
    X(EARLY_DATA_ACCEPTED, "tessera_early_data_total", "result=\"accepted\"",                      \
      "TLS 1.3 early data offered on resumption, by outcome: accepted (first use of the ticket "   \
      "cluster-wide), replayed (used before), stale (ticket older than the window), "              \
      "unavailable (memcached could not say: rejected), too_large (over max_early_data).")         \
    X(EARLY_DATA_REPLAYED, "tessera_early_data_total", "result=\"replayed\"", "")                  \
    X(EARLY_DATA_STALE, "tessera_early_data_total", "result=\"stale\"", "")                        \
    X(EARLY_DATA_UNAVAILABLE, "tessera_early_data_total", "result=\"unavailable\"", "")            \
    X(EARLY_DATA_TOO_LARGE, "tessera_early_data_total", "result=\"too_large\"", "")                \
    X(ACCEPT_PAUSES, "tessera_accept_pauses_total", "",                                            \
      "Times accepting paused for lack of descriptors or at the connection limit.")                \
    X(PROXY_HEADERS, "tessera_proxy_headers_total", "",                                            \
      "PROXY protocol headers accepted from a balancer in front.")                                 \
    X(PROXY_ERR_SOURCE, "tessera_proxy_header_errors_total", "reason=\"source\"",                  \
      "Connections closed for want of a valid PROXY header, by reason.")                           \
    X(PROXY_ERR_SIGNATURE, "tessera_proxy_header_errors_total", "reason=\"signature\"", "")        \
    X(PROXY_ERR_VERSION, "tessera_proxy_header_errors_total", "reason=\"version\"", "")            \
    X(PROXY_ERR_COMMAND, "tessera_proxy_header_errors_total", "reason=\"command\"", "")            \
    X(PROXY_ERR_FAMILY, "tessera_proxy_header_errors_total", "reason=\"family\"", "")              \
    X(PROXY_ERR_OVERSIZED, "tessera_proxy_header_errors_total", "reason=\"oversized\"", "")        \
    X(PROXY_ERR_MALFORMED, "tessera_proxy_header_errors_total", "reason=\"malformed\"", "")        \
    X(PROXY_ERR_TRUNCATED, "tessera_proxy_header_errors_total", "reason=\"truncated\"", "")        \
    X(PROXY_ERR_TIMEOUT, "tessera_proxy_header_errors_total", "reason=\"timeout\"", "")

enum stats_id {
#define STATS_ENUM(id, family, labels, help) STAT_##id,
    STATS_COUNTERS(STATS_ENUM)
#undef STATS_ENUM
        STAT__COUNT
};

/* Handshake duration histogram: upper bounds in microseconds, 100 us .. 10 s. */
#define STATS_HS_BUCKETS 16
extern const uint64_t stats_hs_bounds_us[STATS_HS_BUCKETS];

/* memcached round trips (submit to answer): 25 us .. 1 s. */
#define STATS_MC_BUCKETS 14
extern const uint64_t stats_mc_bounds_us[STATS_MC_BUCKETS];

struct stats {
    _Atomic uint64_t counter[STAT__COUNT];
    _Atomic uint64_t mc_bucket[STATS_MC_BUCKETS + 1];
    _Atomic uint64_t mc_sum_us;
    _Atomic uint64_t hs_bucket[STATS_HS_BUCKETS + 1]; /* last one is +Inf */
    _Atomic uint64_t hs_sum_us;
    _Atomic int64_t connections_active;
};

struct stats_meta {
    const char *family;
    const char *labels;
    const char *help;
};
extern const struct stats_meta stats_meta[STAT__COUNT];

/* Owner thread only. */
static inline void
stats_add(struct stats *s, enum stats_id id, uint64_t n)
{
    uint64_t v = atomic_load_explicit(&s->counter[id], memory_order_relaxed);
    atomic_store_explicit(&s->counter[id], v + n, memory_order_relaxed);
}

static inline void
stats_active_add(struct stats *s, int64_t n)
{
    int64_t v = atomic_load_explicit(&s->connections_active, memory_order_relaxed);
    atomic_store_explicit(&s->connections_active, v + n, memory_order_relaxed);
}

/* Owner thread only: record one completed handshake / memcached round trip
 * that took `us` microseconds. */
void stats_observe_handshake(struct stats *s, uint64_t us);
void stats_observe_memcached(struct stats *s, uint64_t us);

/* Any thread: add the figures of `src` into the plain totals `dst` (summing workers). */
struct stats_totals {
    uint64_t counter[STAT__COUNT];
    uint64_t mc_bucket[STATS_MC_BUCKETS + 1];
    uint64_t mc_sum_us;
    uint64_t hs_bucket[STATS_HS_BUCKETS + 1];
    uint64_t hs_sum_us;
    int64_t connections_active;
};
void stats_sum(struct stats_totals *dst, const struct stats *src);

#endif
