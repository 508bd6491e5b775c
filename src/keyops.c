/*
 * keyops.c - key operations: the admin thread's requests carried out on the
 * main loop.
 *
 * Threads: keyops_submit/keyops_wait/keyops_release on the admin thread;
 * on_wake and the completions on the main thread.  Shared between them, all
 * under `lock`: the queue of submitted requests and each request's
 * done/result/epoch/refs.  The admin thread wakes the main loop through an
 * eventfd; the main loop wakes the admin thread through a condition
 * variable (CLOCK_MONOTONIC), which it waits on for at most `wait_ms`: the
 * operation is one keyring refresh (three phases, each bounded by
 * memcached.timeout_ms + 100 ms, possibly behind one already running), so
 * the bound is set from timeout_ms by the supervisor, and an operation that
 * takes longer is answered 202 and goes on.  Nothing here ever sees key
 * bytes: retire removes by fingerprint inside keyring_sync.
 */
#include "keyops.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "evloop.h"
#include "keyring.h"
#include "keyring_cluster.h"
#include "keyring_sync.h"
#include "log.h"

struct keyops_req {
    unsigned magic;
#define KEYOPS_REQ_MAGIC 0x4b4f5251u
    struct keyops_req *next; /* in the queue; guarded by lock */
    struct keyops *ko;
    enum keyops_kind kind;
    uint32_t fp;
    /* Guarded by lock. */
    unsigned refs;
    bool done;
    enum keyops_result result;
    uint64_t epoch;
};

struct keyops {
    unsigned magic;
#define KEYOPS_MAGIC 0x4b4f5053u
    struct evloop *loop;
    struct keyring_sync *ks;
    struct keyring_cluster *kc;
    unsigned rotate;
    unsigned wait_ms;
    int efd;
    struct evhandler h;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct keyops_req *queue; /* submitted, not taken yet; guarded by lock */
    _Atomic uint64_t counts[KEYOPS__KINDS][KEYOPS__RESULTS];
};

const char *
keyops_kind_name(enum keyops_kind kind)
{
    switch (kind) {
    case KEYOPS_RETIRE:
        return "retire";
    case KEYOPS_ROTATE:
        return "rotate";
    case KEYOPS__KINDS:
        break;
    }
    CHECK(!"unknown key operation");
    return "?";
}

const char *
keyops_result_name(enum keyops_result result)
{
    switch (result) {
    case KEYOPS_OK:
        return "ok";
    case KEYOPS_UNAUTHORIZED:
        return "unauthorized";
    case KEYOPS_FORBIDDEN:
        return "forbidden";
    case KEYOPS_NOT_FOUND:
        return "not_found";
    case KEYOPS_FAILED:
        return "failed";
    case KEYOPS__RESULTS:
        break;
    }
    CHECK(!"unknown key operation result");
    return "?";
}

void
keyops_count(struct keyops *ko, enum keyops_kind kind, enum keyops_result result)
{
    CHECK(kind < KEYOPS__KINDS && result < KEYOPS__RESULTS);
    if (ko != NULL) {
        atomic_fetch_add_explicit(&ko->counts[kind][result], 1, memory_order_relaxed);
    }
}

uint64_t
keyops_counter(const struct keyops *ko, enum keyops_kind kind, enum keyops_result result)
{
    CHECK(kind < KEYOPS__KINDS && result < KEYOPS__RESULTS);
    return ko != NULL ? atomic_load_explicit(&ko->counts[kind][result], memory_order_relaxed) : 0;
}

/* Drop one reference; the lock is held.  Returns the request to free
 * (outside the lock), or NULL. */
static struct keyops_req *
req_unref_locked(struct keyops_req *req)
{
    CHECK(req->refs > 0);
    return --req->refs == 0 ? req : NULL;
}

static void
req_free(struct keyops_req *req)
{
    if (req != NULL) {
        req->magic = 0;
        free(req);
    }
}

/* Main thread: `req` is done.  Counted and logged here, once, whether the
 * admin thread still waits or answered 202 already. */
static void
keyops_complete(struct keyops_req *req, enum keyops_result result, uint64_t epoch)
{
    struct keyops *ko = req->ko;
    struct keyops_req *gone;

    keyops_count(ko, req->kind, result);
    if (req->kind == KEYOPS_RETIRE) {
        log_info("keyring: retire %08x (epoch %llu): %s", (unsigned)req->fp,
                 (unsigned long long)epoch, keyops_result_name(result));
    } else {
        log_info("keyring: rotate (epoch %llu): %s", (unsigned long long)epoch,
                 keyops_result_name(result));
    }
    pthread_mutex_lock(&ko->lock);
    req->done = true;
    req->result = result;
    req->epoch = epoch;
    pthread_cond_broadcast(&ko->cond);
    gone = req_unref_locked(req);
    pthread_mutex_unlock(&ko->lock);
    req_free(gone);
}

/* keyring_cluster's completion of an operation (main thread). */
static void
on_cluster_done(void *arg, bool ok)
{
    struct keyops_req *req;

    CAST_OBJ(req, arg, KEYOPS_REQ_MAGIC);
    keyops_complete(req, ok ? KEYOPS_OK : KEYOPS_FAILED, req->epoch);
}

/* Main thread: start `req`. */
static void
keyops_run(struct keyops *ko, struct keyops_req *req)
{
    time_t now = clock_wall_s();
    uint64_t epoch = (uint64_t)now / ko->rotate;

    if (req->kind == KEYOPS_RETIRE) {
        unsigned char name[KEYRING_NAME_LEN];
        /* Gone from this instance's ring (and, at once, from its workers'). */
        if (keyring_sync_retire(ko->ks, req->fp, name, &epoch) < 0) {
            keyops_complete(req, KEYOPS_NOT_FOUND, 0);
            return;
        }
        if (ko->kc == NULL) {
            /* Local keys: epochs e and e+1 get a new key if that was theirs. */
            keyops_complete(req, keyring_sync_refresh(ko->ks, now) == 0 ? KEYOPS_OK : KEYOPS_FAILED,
                            epoch);
            return;
        }
        req->epoch = epoch; /* read back by on_cluster_done; main thread only until then */
        if (keyring_cluster_retire(ko->kc, name, epoch, now, on_cluster_done, req) < 0) {
            keyops_complete(req, KEYOPS_FAILED, epoch);
        }
        return;
    }
    if (ko->kc == NULL) {
        keyops_complete(
            req, keyring_sync_rotate(ko->ks, now, &epoch) == 0 ? KEYOPS_OK : KEYOPS_FAILED, epoch);
        return;
    }
    req->epoch = epoch;
    if (keyring_cluster_rotate(ko->kc, now, on_cluster_done, req) < 0) {
        keyops_complete(req, KEYOPS_FAILED, epoch);
    }
}

/* Main thread: the admin thread submitted something. */
static void
on_wake(struct evhandler *h, uint32_t events)
{
    struct keyops *ko = CONTAINER_OF(h, struct keyops, h);
    struct keyops_req *list;
    struct keyops_req *prev = NULL;
    uint64_t n;

    (void)events;
    CHECK_OBJ(ko, KEYOPS_MAGIC);
    if (read(ko->efd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        log_warn_limited("keyops: eventfd read: %s", strerror(errno));
    }
    pthread_mutex_lock(&ko->lock);
    list = ko->queue;
    ko->queue = NULL;
    pthread_mutex_unlock(&ko->lock);
    /* The queue is newest first: run them in the order they came. */
    while (list != NULL) {
        struct keyops_req *next = list->next;
        list->next = prev;
        prev = list;
        list = next;
    }
    while (prev != NULL) {
        struct keyops_req *req = prev;
        prev = req->next;
        req->next = NULL;
        CHECK_OBJ(req, KEYOPS_REQ_MAGIC);
        keyops_run(ko, req);
    }
}

struct keyops *
keyops_new(struct evloop *loop, struct keyring_sync *ks, struct keyring_cluster *kc,
           unsigned rotate, unsigned wait_ms)
{
    struct keyops *ko = calloc(1, sizeof(*ko));
    pthread_condattr_t ca;

    CHECK(rotate >= 1);
    if (ko == NULL) {
        return NULL;
    }
    ko->magic = KEYOPS_MAGIC;
    ko->loop = loop;
    ko->ks = ks;
    ko->kc = kc;
    ko->rotate = rotate;
    ko->wait_ms = wait_ms;
    ko->h.on_event = on_wake;
    for (size_t k = 0; k < KEYOPS__KINDS; k++) {
        for (size_t r = 0; r < KEYOPS__RESULTS; r++) {
            atomic_init(&ko->counts[k][r], 0);
        }
    }
    pthread_mutex_init(&ko->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ko->cond, &ca);
    pthread_condattr_destroy(&ca);
    ko->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ko->efd < 0 || evloop_add(loop, ko->efd, EPOLLIN, &ko->h) < 0) {
        if (ko->efd >= 0) {
            close(ko->efd);
            ko->efd = -1;
        }
        keyops_free(ko);
        return NULL;
    }
    return ko;
}

void
keyops_free(struct keyops *ko)
{
    struct keyops_req *list;

    if (ko == NULL) {
        return;
    }
    CHECK_OBJ(ko, KEYOPS_MAGIC);
    if (ko->efd >= 0) {
        evloop_del(ko->loop, ko->efd);
        close(ko->efd);
    }
    /* Submitted but never taken (the admin thread is gone: it had the
     * other reference and let it go, or will never wait again). */
    list = ko->queue;
    ko->queue = NULL;
    while (list != NULL) {
        struct keyops_req *req = list;
        list = req->next;
        req_free(req_unref_locked(req));
    }
    pthread_cond_destroy(&ko->cond);
    pthread_mutex_destroy(&ko->lock);
    ko->magic = 0;
    free(ko);
}

struct keyops_req *
keyops_submit(struct keyops *ko, enum keyops_kind kind, uint32_t fp)
{
    struct keyops_req *req = calloc(1, sizeof(*req));
    uint64_t one = 1;

    CHECK_OBJ(ko, KEYOPS_MAGIC);
    if (req == NULL) {
        return NULL;
    }
    req->magic = KEYOPS_REQ_MAGIC;
    req->ko = ko;
    req->kind = kind;
    req->fp = fp;
    req->refs = 2; /* the admin thread's and the main loop's */
    pthread_mutex_lock(&ko->lock);
    req->next = ko->queue;
    ko->queue = req;
    pthread_mutex_unlock(&ko->lock);
    if (write(ko->efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        log_warn_limited("keyops: cannot wake the main loop: %s", strerror(errno));
    }
    return req;
}

bool
keyops_wait(struct keyops *ko, struct keyops_req *req, enum keyops_result *result, uint64_t *epoch)
{
    /* The condition variable runs on CLOCK_MONOTONIC, as clock_mono_us does. */
    uint64_t deadline_us = clock_mono_us() + (uint64_t)ko->wait_ms * 1000u;
    struct timespec until = {.tv_sec = (time_t)(deadline_us / 1000000u),
                             .tv_nsec = (long)(deadline_us % 1000000u) * 1000L};
    bool done;

    CHECK_OBJ(ko, KEYOPS_MAGIC);
    CHECK_OBJ(req, KEYOPS_REQ_MAGIC);
    pthread_mutex_lock(&ko->lock);
    while (!req->done) {
        if (pthread_cond_timedwait(&ko->cond, &ko->lock, &until) == ETIMEDOUT) {
            break;
        }
    }
    done = req->done;
    *result = req->result;
    *epoch = req->epoch;
    pthread_mutex_unlock(&ko->lock);
    return done;
}

void
keyops_release(struct keyops *ko, struct keyops_req *req)
{
    struct keyops_req *gone;

    CHECK_OBJ(ko, KEYOPS_MAGIC);
    CHECK_OBJ(req, KEYOPS_REQ_MAGIC);
    pthread_mutex_lock(&ko->lock);
    gone = req_unref_locked(req);
    pthread_mutex_unlock(&ko->lock);
    req_free(gone);
}
