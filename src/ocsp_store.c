/*
 * ocsp_store.c - see ocsp_store.h.
 *
 * Why a thread of its own for the fetches, and not the main loop with
 * libcurl's multi interface: a fetch is followed by a signature check and a
 * durable write of the cache file (fsync, rename), and a responder may be
 * slow or never answer; on a thread of its own none of it can delay a
 * signal, a reload or the keyring upkeep, and libcurl's plain easy
 * interface bounds each fetch (ocsp.timeout).  There is one fetch at a time:
 * a few certificates, refreshed every few hours, need no more.
 *
 * Locks: store->lock guards the entry list, each entry's reference count
 * and its fetch schedule, and the thread's wake-up; entry->lock guards the
 * entry's staple pointer only.  Workers take entry->lock (never
 * store->lock) for the time of a reference increment; it is the
 * certificate's own lock, so two workers meet on it only when both staple
 * the same certificate in the same instant, and neither waits for I/O.
 */
#include "ocsp_store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "check.h"
#include "clock.h"
#include "log.h"
#include "ocsp_fetch.h"

/* The fetcher wakes at least this often (ms), to notice new entries. */
#define OCSP_IDLE_MS 60000

/* An immutable response, shared by the entry and the handshakes copying it. */
struct ocsp_staple {
    _Atomic unsigned refs;
    time_t this_update;
    time_t next_update;
    size_t len;
    unsigned char der[];
};

struct ocsp_entry {
    unsigned magic;
#define OCSP_ENTRY_MAGIC 0x4f435350u
    struct ocsp_entry *next; /* store->lock */
    unsigned refs;           /* store->lock: bindings, plus the fetcher while it works */
    uint64_t seq;            /* attach order (the newest names a label in the view) */
    unsigned char id[32];    /* SHA-256 of the leaf's DER */
    bool automatic;
    char *label;      /* the certificate file */
    char *file;       /* FILE mode: the response file */
    char *url;        /* auto: the responder */
    char *cache_path; /* auto: <cache>/<hex id>.der */
    unsigned timeout_ms;
    X509 *leaf; /* private copies: the fetcher never touches the SSL_CTX's */
    X509 *issuer;
    int64_t due_s;     /* store->lock: the next fetch (auto) */
    unsigned failures; /* fetcher thread: failed fetches in a row */
    pthread_mutex_t lock;
    struct ocsp_staple *staple; /* lock */
    _Atomic int64_t expiry;     /* the staple's nextUpdate, 0: none (for the view) */
};

struct ocsp_store {
    unsigned magic;
#define OCSP_STORE_MAGIC 0x4f435354u
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    struct ocsp_entry *entries;
    uint64_t seq;
    bool wake;
    _Atomic bool stopping;
    bool thread_started;
    bool curl_ready;
    pthread_t thread;
    _Atomic uint64_t fetches[OCSP_FETCHES__COUNT];
    _Atomic uint64_t rejected[OCSP_RESP__COUNT];
};

/* One frontend's certificates with a staple: leaf (the SSL_CTX's own X509,
 * compared by address with SSL_get_certificate) -> entry. */
struct ocsp_binding {
    unsigned magic;
#define OCSP_BINDING_MAGIC 0x4f435342u
    struct ocsp_store *store;
    size_t n;
    const X509 **leaf;
    struct ocsp_entry **entry;
};

/* ---- staples ---- */

static struct ocsp_staple *
staple_new(const unsigned char *der, size_t len, const struct ocsp_times *t)
{
    struct ocsp_staple *st = malloc(sizeof(*st) + len);

    if (st == NULL) {
        return NULL;
    }
    atomic_init(&st->refs, 1);
    st->this_update = t->this_update;
    st->next_update = t->next_update;
    st->len = len;
    memcpy(st->der, der, len);
    return st;
}

static void
staple_unref(struct ocsp_staple *st)
{
    if (st != NULL && atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) {
        free(st);
    }
}

/* A reference to e's staple, or NULL. */
static struct ocsp_staple *
entry_get_staple(struct ocsp_entry *e)
{
    struct ocsp_staple *st;

    pthread_mutex_lock(&e->lock);
    st = e->staple;
    if (st != NULL) {
        atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&e->lock);
    return st;
}

/* Make `st` (NULL: none) e's staple; the old one is released.  With `only_if`
 * set, only while e's staple is still `only_if` (a worker dropping an
 * expired staple must not drop a newer one).  Returns whether it changed. */
static bool
entry_set_staple(struct ocsp_entry *e, struct ocsp_staple *st, bool conditional,
                 const struct ocsp_staple *only_if)
{
    struct ocsp_staple *old;

    pthread_mutex_lock(&e->lock);
    old = e->staple;
    if (conditional && old != only_if) {
        pthread_mutex_unlock(&e->lock);
        staple_unref(st);
        return false;
    }
    e->staple = st;
    atomic_store_explicit(&e->expiry, st != NULL ? (int64_t)st->next_update : 0,
                          memory_order_relaxed);
    pthread_mutex_unlock(&e->lock);
    staple_unref(old);
    return true;
}

static void
count_rejected(struct ocsp_store *s, enum ocsp_verdict v)
{
    atomic_fetch_add_explicit(&s->rejected[v], 1, memory_order_relaxed);
}

/* ---- the status callback (workers) ---- */

/*
 * OpenSSL 3.0 calls it on the server while it processes the ClientHello
 * (tls_handle_status_request), after the SNI callback and after choosing
 * the certificate for the client's signature algorithms, which it has just
 * made current, so SSL_get_certificate is the leaf this handshake sends.
 * It reads s->ctx's callback, that is the SSL_CTX the SNI callback switched
 * to: every context with a staple installs it.  Called only when the client
 * asked (status_request); it copies the staple into a buffer OpenSSL frees.
 */
static int
on_status(SSL *ssl, void *arg)
{
    struct ocsp_binding *b;
    const X509 *leaf = SSL_get_certificate(ssl);
    struct ocsp_entry *e = NULL;
    struct ocsp_staple *st;
    unsigned char *copy;

    CAST_OBJ(b, arg, OCSP_BINDING_MAGIC);
    for (size_t i = 0; i < b->n && e == NULL; i++) {
        if (b->leaf[i] == leaf) {
            e = b->entry[i];
        }
    }
    if (e == NULL || (st = entry_get_staple(e)) == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    time_t now = clock_wall_s();
    if (now >= st->next_update || st->this_update > now + OCSP_SKEW_S) {
        /* Expired in place (no fresh one came): dropped once, reported once. */
        if (entry_set_staple(e, NULL, true, st)) {
            count_rejected(b->store, OCSP_RESP_EXPIRED);
            log_warn_limited("ocsp: %s: the staple expired (nextUpdate passed); handshakes "
                             "go on without one",
                             e->label);
        }
        staple_unref(st);
        return SSL_TLSEXT_ERR_NOACK;
    }
    copy = OPENSSL_memdup(st->der, st->len);
    size_t len = st->len;
    staple_unref(st);
    if (copy == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    ERR_clear_error();
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)len) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ---- entries ---- */

static void
entry_free(struct ocsp_entry *e)
{
    if (e == NULL) {
        return;
    }
    staple_unref(e->staple);
    pthread_mutex_destroy(&e->lock);
    X509_free(e->leaf);
    X509_free(e->issuer);
    free(e->label);
    free(e->file);
    free(e->url);
    free(e->cache_path);
    e->magic = 0;
    free(e);
}

/* Drop one reference (store->lock held); returns e when it was the last
 * and e is unlinked (the caller frees it after unlocking). */
static struct ocsp_entry *
entry_put_locked(struct ocsp_store *s, struct ocsp_entry *e)
{
    CHECK(e->refs > 0);
    if (--e->refs > 0) {
        return NULL;
    }
    for (struct ocsp_entry **pp = &s->entries; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            return e;
        }
    }
    CHECK(!"entry not in its store");
    return NULL;
}

/* Verify `der` for e at `now`; stapled when good, otherwise logged and
 * counted.  `what` says where it came from ("file", "cache", "responder"). */
static enum ocsp_verdict
entry_offer(struct ocsp_store *s, struct ocsp_entry *e, const unsigned char *der, size_t len,
            time_t now, const char *what)
{
    struct ocsp_times t;
    enum ocsp_verdict v = ocsp_check(der, len, e->leaf, e->issuer, now, &t);
    struct ocsp_staple *st;

    if (v != OCSP_RESP_OK) {
        count_rejected(s, v);
        log_warn_limited("ocsp: %s: response from %s not stapled: %s", e->label, what,
                         ocsp_verdict_name(v));
        if (v == OCSP_RESP_REVOKED) {
            /* The issuer says so now: an older "good" staple must not go on. */
            entry_set_staple(e, NULL, false, NULL);
        }
        return v;
    }
    st = staple_new(der, len, &t);
    if (st == NULL) {
        log_warn_limited("ocsp: %s: out of memory", e->label);
        return OCSP_RESP_MALFORMED;
    }
    entry_set_staple(e, st, false, NULL);
    log_info("ocsp: %s: stapling a response from %s (thisUpdate %lld, nextUpdate %lld)", e->label,
             what, (long long)t.this_update, (long long)t.next_update);
    return OCSP_RESP_OK;
}

/* e's certificate hash (the identity that survives reloads) in id. */
static int
leaf_id(X509 *leaf, unsigned char id[32])
{
    unsigned int n = 0;

    return X509_digest(leaf, EVP_sha256(), id, &n) == 1 && n == 32 ? 0 : -1;
}

/* A new entry for `cc` (not yet linked).  NULL with err set. */
static struct ocsp_entry *
entry_new(const struct config *cfg, const struct config_cert *cc, X509 *leaf, X509 *issuer,
          const unsigned char id[32], struct err *err)
{
    struct ocsp_entry *e = calloc(1, sizeof(*e));
    char hex[65];

    if (e == NULL) {
        goto oom;
    }
    e->magic = OCSP_ENTRY_MAGIC;
    pthread_mutex_init(&e->lock, NULL);
    memcpy(e->id, id, 32);
    e->automatic = cc->ocsp_auto;
    e->timeout_ms = cfg->ocsp.timeout * 1000u;
    e->label = strdup(cc->cert);
    e->leaf = X509_dup(leaf);
    e->issuer = X509_dup(issuer);
    if (e->label == NULL || e->leaf == NULL || e->issuer == NULL) {
        goto oom;
    }
    if (!e->automatic) {
        e->file = strdup(cc->ocsp_file);
        if (e->file == NULL) {
            goto oom;
        }
        return e;
    }
    e->url = ocsp_responder_url(leaf);
    if (e->url == NULL) {
        err_set(err, "%s:%d: certificate %s has no OCSP responder URL (authorityInfoAccess)",
                cfg->path, cc->line, cc->cert);
        entry_free(e);
        return NULL;
    }
    for (size_t i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    }
    if (asprintf(&e->cache_path, "%s/%s.der", cfg->ocsp.cache, hex) < 0) {
        e->cache_path = NULL;
        goto oom;
    }
    return e;
oom:
    err_set(err, "out of memory");
    entry_free(e);
    return NULL;
}

/* The staple of a new entry: its file, or (auto) the disk cache. */
static void
entry_load(struct ocsp_store *s, struct ocsp_entry *e)
{
    const char *path = e->automatic ? e->cache_path : e->file;
    unsigned char *der = NULL;
    size_t len = 0;
    int rc = ocsp_read_file(path, &der, &len);

    if (rc == -ENOENT && e->automatic) {
        log_info("ocsp: %s: no cached response yet (%s); fetching from %s", e->label, path, e->url);
        return;
    }
    if (rc < 0) {
        count_rejected(s, OCSP_RESP_MALFORMED);
        log_warn("ocsp: %s: cannot read %s: %s", e->label, path, strerror(-rc));
        return;
    }
    (void)entry_offer(s, e, der, len, clock_wall_s(), e->automatic ? "the cache" : path);
    free(der);
}

/* ---- bindings (main thread) ---- */

struct ocsp_binding *
ocsp_binding_new(struct ocsp_store *s)
{
    struct ocsp_binding *b = calloc(1, sizeof(*b));

    if (b != NULL) {
        b->magic = OCSP_BINDING_MAGIC;
        b->store = s;
    }
    return b;
}

/* Find the auto entry for `id` and take a reference (store->lock held). */
static struct ocsp_entry *
find_auto_locked(struct ocsp_store *s, const unsigned char id[32])
{
    for (struct ocsp_entry *e = s->entries; e != NULL; e = e->next) {
        if (e->automatic && memcmp(e->id, id, 32) == 0) {
            e->refs++;
            return e;
        }
    }
    return NULL;
}

int
ocsp_binding_add(struct ocsp_binding *b, SSL_CTX *ctx, const struct config *cfg,
                 const struct config_cert *cc, struct err *err)
{
    struct ocsp_store *s = b->store;
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    STACK_OF(X509) *chain = NULL;
    X509 *issuer;
    unsigned char id[32];
    struct ocsp_entry *e = NULL;

    CHECK_OBJ(b, OCSP_BINDING_MAGIC);
    if (s == NULL || (!cc->ocsp_auto && cc->ocsp_file == NULL)) {
        return 0;
    }
    CHECK_OBJ(s, OCSP_STORE_MAGIC);
    CHECK(leaf != NULL);
    if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1 ||
        (issuer = ocsp_find_issuer(leaf, chain)) == NULL) {
        err_set(err, "%s:%d: ocsp: the issuer of %s must follow it in that file", cfg->path,
                cc->line, cc->cert);
        return -1;
    }
    if (leaf_id(leaf, id) < 0) {
        err_set(err, "%s:%d: ocsp: cannot hash certificate %s", cfg->path, cc->line, cc->cert);
        return -1;
    }
    const X509 **leaves = realloc(b->leaf, (b->n + 1) * sizeof(*leaves));
    if (leaves == NULL) {
        err_set(err, "out of memory");
        return -1;
    }
    b->leaf = leaves;
    struct ocsp_entry **entries = realloc(b->entry, (b->n + 1) * sizeof(*entries));
    if (entries == NULL) {
        err_set(err, "out of memory");
        return -1;
    }
    b->entry = entries;

    if (cc->ocsp_auto) {
        pthread_mutex_lock(&s->lock);
        e = find_auto_locked(s, id);
        pthread_mutex_unlock(&s->lock);
    }
    if (e == NULL) {
        e = entry_new(cfg, cc, leaf, issuer, id, err);
        if (e == NULL) {
            return -1;
        }
        e->refs = 1;
        entry_load(s, e);
        pthread_mutex_lock(&s->lock);
        e->seq = ++s->seq;
        /* A cached staple is refreshed on schedule; no staple: fetch now. */
        int64_t expiry = atomic_load(&e->expiry);
        e->due_s = expiry > 0 ? ocsp_next_fetch(clock_wall_s(), expiry, 0) : 0;
        e->next = s->entries;
        s->entries = e;
        s->wake = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
    } else {
        pthread_mutex_lock(&s->lock);
        e->seq = ++s->seq;
        pthread_mutex_unlock(&s->lock);
        log_debug("ocsp: %s: the staple carries over", e->label);
    }
    b->leaf[b->n] = leaf;
    b->entry[b->n] = e;
    b->n++;
    SSL_CTX_set_tlsext_status_cb(ctx, on_status);
    SSL_CTX_set_tlsext_status_arg(ctx, b);
    return 0;
}

void
ocsp_binding_free(struct ocsp_binding *b)
{
    if (b == NULL) {
        return;
    }
    CHECK_OBJ(b, OCSP_BINDING_MAGIC);
    for (size_t i = 0; i < b->n; i++) {
        pthread_mutex_lock(&b->store->lock);
        struct ocsp_entry *dead = entry_put_locked(b->store, b->entry[i]);
        pthread_mutex_unlock(&b->store->lock);
        entry_free(dead);
    }
    free(b->leaf);
    free(b->entry);
    b->magic = 0;
    free(b);
}

/* ---- the fetcher thread ---- */

/* Write the cache file atomically: a temporary file, fsync, rename. */
static void
cache_write(const struct ocsp_entry *e, const unsigned char *der, size_t len)
{
    char tmp[4096];
    size_t done = 0;
    int fd;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", e->cache_path, (long)getpid()) >=
        sizeof(tmp)) {
        return;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_warn_limited("ocsp: %s: cannot write the cache file %s: %s", e->label, tmp,
                         strerror(errno));
        return;
    }
    while (done < len) {
        ssize_t n = write(fd, der + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += (size_t)n;
    }
    if (done != len || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, e->cache_path) < 0) {
        log_warn_limited("ocsp: %s: cannot write the cache file %s: %s", e->label, e->cache_path,
                         strerror(errno));
        if (done != len) {
            close(fd);
        }
        unlink(tmp);
    }
}

/* One fetch for e (held by the thread); returns the next fetch time. */
static int64_t
fetch_one(struct ocsp_store *s, struct ocsp_entry *e)
{
    unsigned char *req = NULL;
    unsigned char *der = NULL;
    size_t reqlen = 0;
    size_t len = 0;
    char why[256];
    enum ocsp_fetches counted = OCSP_FETCHES_ERROR;

    if (ocsp_request_der(e->leaf, e->issuer, &req, &reqlen) < 0) {
        snprintf(why, sizeof(why), "cannot build the request");
    } else {
        enum ocsp_fetch_result r = ocsp_fetch_post(e->url, req, reqlen, e->timeout_ms, &s->stopping,
                                                   &der, &len, why, sizeof(why));
        switch (r) {
        case OCSP_FETCH_OK:
            counted = entry_offer(s, e, der, len, clock_wall_s(), e->url) == OCSP_RESP_OK
                          ? OCSP_FETCHES_OK
                          : OCSP_FETCHES_INVALID;
            break;
        case OCSP_FETCH_TIMEOUT:
            counted = OCSP_FETCHES_TIMEOUT;
            break;
        case OCSP_FETCH_STOPPED:
            OPENSSL_free(req);
            return 0;
        case OCSP_FETCH_ERROR:
            break;
        }
    }
    OPENSSL_free(req);
    atomic_fetch_add_explicit(&s->fetches[counted], 1, memory_order_relaxed);
    if (counted == OCSP_FETCHES_OK) {
        cache_write(e, der, len);
        e->failures = 0;
    } else {
        e->failures++;
        if (counted != OCSP_FETCHES_INVALID) {
            log_warn_limited("ocsp: %s: fetch from %s failed: %s", e->label, e->url, why);
        }
    }
    free(der);
    int64_t now = clock_wall_s();
    int64_t next = ocsp_next_fetch(now, atomic_load(&e->expiry), e->failures);
    log_debug("ocsp: %s: next fetch in %lld s", e->label, (long long)(next - now));
    return next;
}

/* The due auto entry with the earliest time (held), or NULL and *wait_ms
 * until one is due (store->lock held). */
static struct ocsp_entry *
next_due_locked(struct ocsp_store *s, int64_t now, uint64_t *wait_ms)
{
    struct ocsp_entry *best = NULL;

    for (struct ocsp_entry *e = s->entries; e != NULL; e = e->next) {
        if (e->automatic && (best == NULL || e->due_s < best->due_s)) {
            best = e;
        }
    }
    *wait_ms = OCSP_IDLE_MS;
    if (best == NULL) {
        return NULL;
    }
    if (best->due_s > now) {
        uint64_t ms = (uint64_t)(best->due_s - now) * 1000;
        *wait_ms = ms < OCSP_IDLE_MS ? ms : OCSP_IDLE_MS;
        return NULL;
    }
    best->refs++;
    return best;
}

static void *
fetcher_main(void *arg)
{
    struct ocsp_store *s = arg;

    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&s->stopping)) {
        uint64_t wait_ms;
        struct ocsp_entry *e = next_due_locked(s, clock_wall_s(), &wait_ms);

        if (e == NULL) {
            struct timespec ts = clock_timespec((int64_t)(clock_mono_ms() + wait_ms));
            s->wake = false;
            while (!s->wake && !atomic_load(&s->stopping) &&
                   pthread_cond_timedwait(&s->cond, &s->lock, &ts) == 0) {
            }
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        int64_t next = fetch_one(s, e);
        pthread_mutex_lock(&s->lock);
        e->due_s = next;
        struct ocsp_entry *dead = entry_put_locked(s, e);
        if (dead != NULL) {
            pthread_mutex_unlock(&s->lock);
            entry_free(dead);
            pthread_mutex_lock(&s->lock);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- the store ---- */

struct ocsp_store *
ocsp_store_new(void)
{
    struct ocsp_store *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;

    if (s == NULL) {
        return NULL;
    }
    s->magic = OCSP_STORE_MAGIC;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    return s;
}

int
ocsp_store_start(struct ocsp_store *s, struct err *err)
{
    int rc;

    CHECK_OBJ(s, OCSP_STORE_MAGIC);
    if (ocsp_fetch_global_init() < 0) {
        err_set(err, "start-up failed: libcurl initialisation");
        return -1;
    }
    s->curl_ready = true;
    rc = pthread_create(&s->thread, NULL, fetcher_main, s);
    if (rc != 0) {
        err_set(err, "start-up failed: cannot start the OCSP thread: %s", strerror(rc));
        return -1;
    }
    pthread_setname_np(s->thread, "ocsp");
    s->thread_started = true;
    return 0;
}

void
ocsp_store_free(struct ocsp_store *s)
{
    if (s == NULL) {
        return;
    }
    CHECK_OBJ(s, OCSP_STORE_MAGIC);
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->stopping, true);
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    if (s->curl_ready) {
        ocsp_fetch_global_cleanup();
    }
    /* Every binding is gone, so is every entry. */
    CHECK(s->entries == NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    s->magic = 0;
    free(s);
}

void
ocsp_store_describe(struct ocsp_store *s, struct ocsp_view *v)
{
    size_t n = 0;

    memset(v, 0, sizeof(*v));
    if (s == NULL) {
        return;
    }
    CHECK_OBJ(s, OCSP_STORE_MAGIC);
    for (size_t i = 0; i < OCSP_FETCHES__COUNT; i++) {
        v->fetches[i] = atomic_load_explicit(&s->fetches[i], memory_order_relaxed);
    }
    for (size_t i = 0; i < OCSP_RESP__COUNT; i++) {
        v->rejected[i] = atomic_load_explicit(&s->rejected[i], memory_order_relaxed);
    }
    pthread_mutex_lock(&s->lock);
    for (struct ocsp_entry *e = s->entries; e != NULL; e = e->next) {
        n++;
    }
    v->certs = calloc(n + 1, sizeof(*v->certs));
    /* One series per label: the newest entry's (a reload may keep an old
     * generation's entry for the same file alive for a while). */
    for (struct ocsp_entry *e = s->entries; e != NULL && v->certs != NULL; e = e->next) {
        bool newer_exists = false;
        for (struct ocsp_entry *o = s->entries; o != NULL && !newer_exists; o = o->next) {
            newer_exists = o != e && o->seq > e->seq && strcmp(o->label, e->label) == 0;
        }
        if (newer_exists) {
            continue;
        }
        struct ocsp_view_cert *c = &v->certs[v->n];
        c->label = strdup(e->label);
        if (c->label == NULL) {
            break;
        }
        c->expiry = atomic_load_explicit(&e->expiry, memory_order_relaxed);
        v->n++;
    }
    pthread_mutex_unlock(&s->lock);
}

void
ocsp_view_release(struct ocsp_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->certs[i].label);
    }
    free(v->certs);
    memset(v, 0, sizeof(*v));
}
