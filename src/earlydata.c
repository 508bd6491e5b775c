/*
 * earlydata.c - TLS 1.3 early data accepted at most once across the
 * cluster (RFC 8446 8.1, single-use tickets, with memcached as the shared
 * record).
 *
 * Runs on worker threads inside OpenSSL's handshake and in the worker's
 * loop for memcached answers (setup on the main thread).  Owns one struct
 * record per handshake that offers early data, hung on its SSL (freed with
 * it), and the wait for the record's `add`.
 *
 * Why a record per ticket and a freshness window.  Early data is not
 * protected against replay by TLS: anyone who saw the ClientHello can send
 * it again, to any instance that can decrypt the ticket.  The record,
 * `add <prefix>0rtt:<SHA-256 of the PSK identity>`, succeeds on exactly one
 * instance of the cluster; every other attempt finds it and is refused.  The
 * record lives tls.early_data_window seconds (plus 2 for memcached's
 * whole-second clock), and early data is accepted only from a ticket younger
 * than the window, so a replay after the record expired meets a ticket too
 * old (stale).  The ticket itself is never stored, only the hash of its
 * identity.
 *
 * Order of events in one handshake: the client-hello callback (sessions.c)
 * calls earlydata_on_hello, which sends the `add` and parks the handshake;
 * the answer (or memcached.timeout_ms) sets the verdict and resumes it;
 * OpenSSL decrypts the ticket, checks the client's view of the ticket age
 * against its own (TICKET_AGE_ALLOWANCE, 10 s; when they disagree it
 * rejects early data without asking us) and then calls on_allow_early_data,
 * which checks the ticket's age against the window and returns the verdict.
 * OpenSSL's own anti-replay (a per-process session cache, and stateful
 * tickets) is turned off with SSL_OP_NO_ANTI_REPLAY: it could not see the
 * other instances, and it would stop tickets from resuming elsewhere.
 *
 * Counting (tessera_early_data_total{result}): accepted, replayed (the
 * record existed), unavailable (no answer in time, breaker open, send
 * failed), stale (older than the window, or OpenSSL's age check failed on
 * a resumed handshake), too_large (more early data than tls.max_early_data:
 * OpenSSL ends the connection, RFC 8446 4.2.10).
 */
#include "earlydata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "check.h"
#include "clock.h"
#include "evloop.h"
#include "handshake.h"
#include "log.h"
#include "mc.h"
#include "mcconn.h"
#include "stats.h"

/* memcached's clock counts whole seconds: the record outlives the window. */
#define RECORD_TTL_MARGIN 2

enum verdict {
    VERDICT_PENDING = 0, /* the add is out */
    VERDICT_FIRST,       /* STORED: this handshake is the first to use the ticket */
    VERDICT_REPLAYED,    /* NOT_STORED: some instance used it already */
    VERDICT_UNAVAILABLE, /* no answer that can be trusted */
};

struct record {
    unsigned magic;
#define RECORD_MAGIC 0x30525454u
    struct handshake *hs;
    struct evtimer timer; /* gives up after memcached.timeout_ms */
    struct mc_req *req;   /* while the add is out */
    enum verdict verdict;
    unsigned window;      /* tls.early_data_window */
    unsigned decided : 1; /* on_allow_early_data ran (and counted) */
    unsigned retried : 1; /* a second ClientHello (after HelloRetryRequest) */
};

static int record_index = -1;

static void
record_give_up(struct record *r)
{
    stats_observe_memcached(r->hs->stats, clock_mono_us() - r->req->submitted_us);
    r->req->owner = NULL; /* the late answer is dropped */
    r->req = NULL;
    r->verdict = VERDICT_UNAVAILABLE;
}

/* SSL_free: count what OpenSSL rejected without asking, then free. */
static void
record_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct record *r = ptr;
    SSL *ssl = parent;

    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (r == NULL) {
        return;
    }
    CHECK_OBJ(r, RECORD_MAGIC);
    if (r->req != NULL) {
        record_give_up(r); /* closed while waiting */
    }
    /* A resumption whose early data OpenSSL refused before asking us: the
     * client's ticket age and ours disagree (a replayed ClientHello ages). */
    if (!r->decided && !r->retried && ssl != NULL && SSL_session_reused(ssl)) {
        stats_add(r->hs->stats, STAT_EARLY_DATA_STALE, 1);
    }
    evtimer_disarm(r->hs->env->loop, &r->timer);
    r->magic = 0;
    free(r);
}

int
earlydata_global_init(void)
{
    if (record_index < 0) {
        record_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, record_free);
    }
    return record_index < 0 ? -1 : 0;
}

bool
earlydata_enabled(const struct config *cfg, const struct config_frontend *fe)
{
    return cfg->tls.early_data && (fe->proxy_protocol == CONFIG_PROXY_V2 || fe->backend_idempotent);
}

static struct record *
record_of(const SSL *ssl)
{
    struct record *r = SSL_get_ex_data(ssl, record_index);

    if (r != NULL) {
        CHECK_OBJ(r, RECORD_MAGIC);
    }
    return r;
}

/* OpenSSL asks, during the ClientHello, after the ticket decrypted and its
 * age passed OpenSSL's own check.  1 accepts the early data. */
static int
on_allow_early_data(SSL *ssl, void *arg)
{
    struct handshake *hs = handshake_of(ssl);
    struct record *r = record_of(ssl);
    SSL_SESSION *sess = SSL_get_session(ssl);
    int64_t age;

    (void)arg;
    if (r == NULL) {
        /* No record was asked for (it could not be): fail closed. */
        stats_add(hs->stats, STAT_EARLY_DATA_UNAVAILABLE, 1);
        return 0;
    }
    r->decided = 1;
    age = sess != NULL ? evloop_wall(hs->env->loop) - (int64_t)SSL_SESSION_get_time(sess) : -1;
    /* A ticket from an instance whose clock runs ahead gets a small negative
     * age; anything outside [-1, window) could outlive its record. */
    if (age < -1 || age >= (int64_t)r->window) {
        stats_add(hs->stats, STAT_EARLY_DATA_STALE, 1);
        return 0;
    }
    switch (r->verdict) {
    case VERDICT_FIRST:
        stats_add(hs->stats, STAT_EARLY_DATA_ACCEPTED, 1);
        return 1;
    case VERDICT_REPLAYED:
        stats_add(hs->stats, STAT_EARLY_DATA_REPLAYED, 1);
        return 0;
    case VERDICT_PENDING:
    case VERDICT_UNAVAILABLE:
        stats_add(hs->stats, STAT_EARLY_DATA_UNAVAILABLE, 1);
        return 0;
    }
    return 0;
}

void
earlydata_setup_ctx(SSL_CTX *ctx, const struct config *cfg, const struct config_frontend *fe)
{
    if (!earlydata_enabled(cfg, fe)) {
        SSL_CTX_set_max_early_data(ctx, 0);
        return;
    }
    /* recv_max_early_data also bounds what is skipped when early data is
     * rejected: a client that sends more is refused (RFC 8446 4.2.10). */
    SSL_CTX_set_max_early_data(ctx, cfg->tls.max_early_data);
    SSL_CTX_set_recv_max_early_data(ctx, cfg->tls.max_early_data);
    /* Without it OpenSSL turns TLS 1.3 tickets stateful and looks them up in
     * its own (per-process) cache to detect replays: no resumption on
     * another instance.  The record in memcached takes its place. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_ANTI_REPLAY);
    SSL_CTX_set_allow_early_data_cb(ctx, on_allow_early_data, NULL);
}

bool
earlydata_first_identity(const unsigned char *ext, size_t len, const unsigned char **id,
                         size_t *idlen)
{
    /* PreSharedKeyExtension: u16 identities length, then u16 identity
     * length, identity, u32 obfuscated_ticket_age, ... then the binders. */
    if (len < 4) {
        return false;
    }
    size_t ids = ((size_t)ext[0] << 8) | ext[1];
    size_t first = ((size_t)ext[2] << 8) | ext[3];
    if (ids + 2 > len || first == 0 || first + 2 + 4 > ids) {
        return false;
    }
    *id = ext + 4;
    *idlen = first;
    return true;
}

size_t
earlydata_record_key(const char *prefix, const unsigned char *id, size_t idlen, char *key)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    int n;

    if (EVP_Digest(id, idlen, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof(md)) {
        return 0;
    }
    n = snprintf(key, MC_KEY_MAX + 1, "%s0rtt:", prefix);
    if (n < 0 || (size_t)n + 2 * sizeof(md) > MC_KEY_MAX) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(md); i++) {
        n += snprintf(key + n, 3, "%02x", md[i]);
    }
    return (size_t)n;
}

/* memcached.timeout_ms passed: no verdict we can trust. */
static void
on_record_timer(struct evtimer *t)
{
    struct record *r = CONTAINER_OF(t, struct record, timer);

    CHECK_OBJ(r, RECORD_MAGIC);
    if (r->req != NULL) {
        record_give_up(r);
    }
    handshake_resume(r->hs); /* last: the connection may close and free r */
}

void
earlydata_on_reply(const struct handshake_env *env, struct mc_req *req)
{
    struct record *r = req->owner;

    CHECK_OBJ(req, MC_REQ_MAGIC);
    if (r == NULL) {
        mc_req_free(req); /* the handshake stopped waiting (counted then) */
        return;
    }
    CHECK_OBJ(r, RECORD_MAGIC);
    CHECK(r->req == req);
    stats_observe_memcached(&env->stats[req->fe], req->latency_us);
    r->req = NULL;
    evtimer_disarm(env->loop, &r->timer);
    switch (req->result) {
    case MC_RES_STORED:
        r->verdict = VERDICT_FIRST;
        break;
    case MC_RES_EXISTS:
        r->verdict = VERDICT_REPLAYED;
        break;
    case MC_RES_HIT:
    case MC_RES_MISS:
    case MC_RES_ERROR:
    case MC_RES_TIMEOUT:
    case MC_RES_DROPPED:
    case MC_RES__COUNT:
        r->verdict = VERDICT_UNAVAILABLE;
        break;
    }
    mc_req_free(req);
    handshake_resume(r->hs); /* last: the connection may close and free r */
}

/* Send the record's add on the thread's own memcached connection, or
 * through the helpers when that path is not for it.  0: the answer comes
 * to earlydata_on_reply.  -1: not sent (freed). */
static int
record_submit(const struct handshake_env *env, struct mc *mc, struct mc_req *req)
{
    int rc;

    req->reply_to = env->mbox;
    rc = env->mcconn != NULL ? mcconn_submit(env->mcconn, req) : -ENOTSUP;
    if (rc == -ENOTSUP) {
        rc = mc_submit(mc, env->queue, req);
    }
    if (rc < 0) {
        mc_req_free(req);
        return -1;
    }
    return 0;
}

int
earlydata_on_hello(SSL *ssl, const struct config *cfg, struct mc *mc)
{
    struct handshake *hs = handshake_of(ssl);
    const struct handshake_env *env = hs->env;
    struct record *r = record_of(ssl);
    const unsigned char *ext, *id;
    size_t extlen, idlen;
    char key[MC_KEY_MAX + 1];
    size_t klen;

    if (r != NULL) {
        /* Called again: after the wait, or for the ClientHello after a
         * HelloRetryRequest (which carries no early_data: RFC 8446 4.1.2). */
        if (r->req != NULL) {
            return SSL_CLIENT_HELLO_RETRY;
        }
        if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_early_data, &ext, &extlen)) {
            r->retried = 1;
        }
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    if (SSL_get_max_early_data(ssl) == 0 || mc == NULL ||
        !SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_early_data, &ext, &extlen) ||
        !SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &ext, &extlen) ||
        !earlydata_first_identity(ext, extlen, &id, &idlen)) {
        return SSL_CLIENT_HELLO_SUCCESS; /* nothing to decide: OpenSSL rejects without a PSK */
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL || SSL_set_ex_data(ssl, record_index, r) != 1) {
        free(r);
        return SSL_CLIENT_HELLO_SUCCESS; /* on_allow_early_data finds no record: rejected */
    }
    r->magic = RECORD_MAGIC;
    r->hs = hs;
    r->timer.on_timer = on_record_timer;
    r->window = cfg->tls.early_data_window;
    r->verdict = VERDICT_UNAVAILABLE;

    klen = earlydata_record_key(cfg->memcached.prefix, id, idlen, key);
    struct mc_req *req = klen > 0 ? mc_req_new(MC_ADD, key, klen) : NULL;
    if (req == NULL || (req->value = malloc(1)) == NULL) {
        mc_req_free(req);
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    req->value[0] = '1';
    req->vlen = 1;
    req->ttl = cfg->tls.early_data_window + RECORD_TTL_MARGIN;
    req->deadline_ms = clock_mono_ms() + cfg->memcached.timeout_ms;
    req->owner = r;
    req->fe = hs->slot;
    if (record_submit(env, mc, req) < 0) {
        return SSL_CLIENT_HELLO_SUCCESS; /* dropped (breaker open, queue full): unavailable */
    }
    r->req = req;
    r->verdict = VERDICT_PENDING;
    evtimer_arm(env->loop, &r->timer, evloop_now(env->loop) + cfg->memcached.timeout_ms);
    handshake_park(hs);
    return SSL_CLIENT_HELLO_RETRY;
}

bool
earlydata_count_too_large(SSL *ssl)
{
    unsigned long e = ERR_peek_last_error();

    if (ERR_GET_LIB(e) != ERR_LIB_SSL || ERR_GET_REASON(e) != SSL_R_TOO_MUCH_EARLY_DATA) {
        return false;
    }
    stats_add(handshake_of(ssl)->stats, STAT_EARLY_DATA_TOO_LARGE, 1);
    return true;
}
