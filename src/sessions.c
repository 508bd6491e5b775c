/*
 * sessions.c - session-cache callbacks: store new sessions, look them up.
 *
 * Runs on worker threads inside OpenSSL's handshake.  The callbacks never
 * block: the in-process store's shard locks are held for a few hundred
 * nanoseconds.  Single use of TLS 1.3 stateful tickets is enforced here,
 * because OpenSSL does not enforce it with an external cache (measured, see
 * shared/notes): a lookup of a TLS 1.3 session removes it.
 */
#include "sessions.h"

#include "conn.h"
#include "sessions_local.h"
#include "stats.h"
#include "worker.h"

static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct conn *c = conn_from_ssl(ssl);
    struct worker *w = conn_worker(c);

    /* With tickets on, TLS 1.3 sessions travel in stateless tickets and need
     * no server state; OpenSSL still calls us for each of them. */
    if (SSL_version(ssl) == TLS1_3_VERSION && !(SSL_get_options(ssl) & SSL_OP_NO_TICKET)) {
        return 0;
    }
    if (sessions_local_put(w->sessions, sess) == 0) {
        stats_add(conn_stats(c), STAT_SESS_SET_STORED, 1);
    }
    return 0; /* we took our own reference */
}

static SSL_SESSION *
on_get_session(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    struct conn *c = conn_from_ssl(ssl);
    struct worker *w = conn_worker(c);
    /* A TLS 1.3 stateful ticket is good for one resumption (RFC 8446 8.1). */
    int take = SSL_version(ssl) == TLS1_3_VERSION;
    SSL_SESSION *sess =
        sessions_local_get(w->sessions, id, (size_t)len, (time_t)evloop_wall(w->loop), take);

    *copy = 0; /* the reference we got from the store is handed to OpenSSL */
    if (sess == NULL) {
        stats_add(conn_stats(c), STAT_SESS_GET_MISS, 1);
        return NULL;
    }
    stats_add(conn_stats(c), STAT_SESS_GET_HIT, 1);
    if (take) {
        stats_add(conn_stats(c), STAT_SESS_DELETE_HIT, 1);
    }
    conn_note_cache_lookup(c);
    return sess;
}

void
sessions_setup_ctx(SSL_CTX *ctx)
{
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    SSL_CTX_sess_set_get_cb(ctx, on_get_session);
}
