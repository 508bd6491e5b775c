/*
 * worker.c - one worker thread: its loop, its listeners, accepting, the
 * mailbox from the supervisor and the keyring refresh timer.
 *
 * Everything here runs on the worker's own thread, except worker_new,
 * worker_start and worker_free (main thread, before start / after join) and
 * worker_notify (any thread).  A loop iteration reads as phases:
 * wait+dispatch (evloop_run_once), reap closed connections, check whether
 * the worker is done.
 */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "gen.h"
#include "keyring.h"
#include "keyring_sync.h"
#include "listener.h"
#include "log.h"
#include "mc.h"
#include "mcconn.h"
#include "relay.h"
#include "sessions.h"

#define ACCEPT_BATCH        64
#define ACCEPT_PAUSE_MS     100
#define ACCEPT_LOG_EVERY_MS 10000
/* How long a starting worker waits for its memcached connections. */
#define WORKER_CONNECT_WAIT_MS 1000

static void
worker_listen_set(struct worker *w, bool on)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        struct worker_listener *l = &w->listeners[i];
        if (l->fd < 0 || l->registered == on) {
            continue;
        }
        if (on) {
            if (evloop_add(w->loop, l->fd, EPOLLIN, &l->h) == 0) {
                l->registered = true;
            }
        } else {
            evloop_del(w->loop, l->fd);
            l->registered = false;
        }
    }
}

/* Stop accepting for a moment: out of descriptors, or at the connection limit. */
static void
worker_accept_pause(struct worker *w, unsigned fe, const char *why, bool timed)
{
    uint64_t now = evloop_now(w->loop);

    if (!w->accept_paused) {
        stats_add(&w->stats[w->conns.gen->slot[fe]], STAT_ACCEPT_PAUSES, 1);
        /* While descriptors stay exhausted this repeats every 100 ms: log at
         * most every 10 s, with the count of the pauses in between. */
        if (w->pause_logged_ms == 0 || now - w->pause_logged_ms >= ACCEPT_LOG_EVERY_MS) {
            log_warn("accept paused: %s (%zu connections open; %llu more pauses since the "
                     "last message)",
                     why, w->conns.n, (unsigned long long)w->pauses_unlogged);
            w->pause_logged_ms = now;
            w->pauses_unlogged = 0;
        } else {
            w->pauses_unlogged++;
        }
    }
    w->accept_paused = true;
    worker_listen_set(w, false);
    if (timed) {
        evtimer_arm(w->loop, &w->accept_timer, evloop_now(w->loop) + ACCEPT_PAUSE_MS);
    }
}

static void
worker_accept_resume(struct worker *w)
{
    if (!w->accept_paused || w->draining) {
        return;
    }
    w->accept_paused = false;
    evtimer_disarm(w->loop, &w->accept_timer);
    worker_listen_set(w, true);
}

/* A connection closed: resume accepting if it was paused for the limit. */
static void
on_conn_closed(struct conn_set *set)
{
    struct worker *w = CONTAINER_OF(set, struct worker, conns);

    CHECK_OBJ(w, WORKER_MAGIC);
    if (w->accept_paused && !evtimer_armed(&w->accept_timer) && w->conns.n < w->max_conns) {
        worker_accept_resume(w);
    }
}

static void
on_accept_timer(struct evtimer *t)
{
    struct worker *w = CONTAINER_OF(t, struct worker, accept_timer);

    CHECK_OBJ(w, WORKER_MAGIC);
    if (w->conns.n < w->max_conns) {
        worker_accept_resume(w);
    }
}

static void
on_listener_event(struct evhandler *h, uint32_t events)
{
    struct worker_listener *l = CONTAINER_OF(h, struct worker_listener, h);
    struct worker *w;

    (void)events;
    CHECK_OBJ(l, WORKER_LISTENER_MAGIC);
    w = l->w;
    CHECK_OBJ(w, WORKER_MAGIC);
    if (l->fd < 0) {
        return; /* retired by a reload earlier in this pass */
    }
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (w->conns.n >= w->max_conns) {
            worker_accept_pause(w, l->fe, "connection limit reached", false);
            return;
        }
        struct addr peer;
        int fd = listener_accept(l->fd, &peer);
        if (fd == -EAGAIN) {
            return;
        }
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
            /* Level-triggered: retrying now would spin; wait for a close. */
            worker_accept_pause(w, l->fe, strerror(-fd), true);
            return;
        }
        if (fd < 0) {
            continue; /* ECONNABORTED, EINTR, EPROTO...: that one client only */
        }
        (void)conn_start(&w->conns, fd, l->fe, &peer);
    }
}

static void
on_ring_timer(struct evtimer *t)
{
    struct worker *w = CONTAINER_OF(t, struct worker, ring_timer);

    CHECK_OBJ(w, WORKER_MAGIC);
    keyring_sync_fetch(w->keyring_sync, w->ring, &w->ring_generation);
    evtimer_arm(w->loop, &w->ring_timer,
                evloop_now(w->loop) + (uint64_t)w->cfg->tickets.refresh * 1000u);
}

static void
worker_close_listeners(struct worker *w)
{
    worker_listen_set(w, false);
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i].fd >= 0) {
            close(w->listeners[i].fd);
            w->listeners[i].fd = -1;
        }
    }
}

/* One listener per frontend of a generation, not yet registered. */
static struct worker_listener *
worker_listeners_new(struct worker *w, const int *fds, size_t n)
{
    struct worker_listener *ls = calloc(n > 0 ? n : 1, sizeof(*ls));

    for (size_t i = 0; ls != NULL && i < n; i++) {
        ls[i].magic = WORKER_LISTENER_MAGIC;
        ls[i].h.on_event = on_listener_event;
        ls[i].w = w;
        ls[i].fd = fds[i];
        ls[i].fe = (unsigned)i;
    }
    return ls;
}

/* What worker_reload hands over. */
struct worker_update {
    struct gen *gen;
    struct worker_listener *listeners; /* one per frontend of gen */
};

/* Serve the new generation: its listeners replace ours (a socket both
 * have stays open, so no connection waiting in its queue is lost), new
 * connections start under it, open ones keep theirs. */
static void
worker_apply_update(struct worker *w, struct worker_update *u)
{
    size_t n = u->gen->cfg->nfrontends;

    worker_listen_set(w, false);
    for (size_t i = 0; i < w->nlisteners; i++) {
        bool kept = false;
        for (size_t j = 0; j < n && !kept; j++) {
            kept = u->listeners[j].fd == w->listeners[i].fd;
        }
        if (!kept && w->listeners[i].fd >= 0) {
            close(w->listeners[i].fd);
        }
        w->listeners[i].fd = -1; /* an event still in this pass's batch is ignored */
    }
    /* Freed at the end of the loop pass, like closed connections. */
    free(w->retired_listeners);
    w->retired_listeners = w->listeners;
    w->listeners = u->listeners;
    w->nlisteners = n;
    if (w->draining) {
        worker_close_listeners(w);
    } else if (!w->accept_paused) {
        worker_listen_set(w, true);
    }
    gen_unref(w->conns.gen);
    w->conns.gen = u->gen;
    atomic_store(&w->gen_number, u->gen->number);
    log_debug("worker %u: generation %u, %zu listeners", w->id, u->gen->number, n);
    free(u);
}

struct worker_update *
worker_update_new(struct worker *w, struct gen *g, const int *fds)
{
    struct worker_update *u = calloc(1, sizeof(*u));

    if (u == NULL || (u->listeners = worker_listeners_new(w, fds, g->cfg->nfrontends)) == NULL) {
        free(u);
        return NULL;
    }
    u->gen = g;
    return u;
}

void
worker_update_post(struct worker *w, struct worker_update *u)
{
    CHECK(atomic_load(&w->gen_number) != u->gen->number);
    CHECK(atomic_exchange(&w->update, u) == NULL);
    worker_notify(w, WORKER_MSG_RELOAD);
}

void
worker_update_free(struct worker_update *u)
{
    if (u != NULL) {
        free(u->listeners);
        free(u);
    }
}

static void
on_mailbox(struct evhandler *h, uint32_t events)
{
    struct worker *w = CONTAINER_OF(h, struct worker, mbox_h);
    struct mailbox_msg *list;

    (void)events;
    CHECK_OBJ(w, WORKER_MAGIC);
    unsigned msg = mailbox_take(&w->mbox, &list);
    while (list != NULL) {
        struct mc_req *req = (struct mc_req *)list; /* the only kind of message */
        list = list->next;
        sessions_on_reply(&w->env, req);
    }
    if ((msg & WORKER_MSG_DRAIN) && !w->draining) {
        w->draining = true;
        evtimer_disarm(w->loop, &w->accept_timer);
        worker_close_listeners(w);
        log_debug("worker %u: draining %zu connections", w->id, w->conns.n);
    }
    if (msg & WORKER_MSG_STOP) {
        w->stopping = true;
    }
    if (msg & WORKER_MSG_KEYRING) {
        keyring_sync_fetch(w->keyring_sync, w->ring, &w->ring_generation);
    }
    if (msg & WORKER_MSG_RELOAD) {
        struct worker_update *u = atomic_exchange(&w->update, NULL);
        if (u != NULL) {
            worker_apply_update(w, u);
        }
    }
}

static void
on_mcconn_done(void *arg, struct mc_req *req)
{
    struct worker *w = arg;

    CHECK_OBJ(w, WORKER_MAGIC);
    sessions_on_reply(&w->env, req);
}

void
worker_notify(struct worker *w, unsigned msg)
{
    mailbox_post_flags(&w->mbox, msg);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];

    CHECK_OBJ(w, WORKER_MAGIC);
    snprintf(name, sizeof(name), "worker-%u", w->id);
    pthread_setname_np(pthread_self(), name);

    keyring_sync_fetch(w->keyring_sync, w->ring, &w->ring_generation);
    evtimer_arm(w->loop, &w->ring_timer,
                evloop_now(w->loop) + (uint64_t)w->cfg->tickets.refresh * 1000u);
    if (w->mcconn != NULL) {
        /* Connected before the first handshake needs it: accepting waits
         * (connections queue in the listen backlog) until every memcached
         * connect has ended, at most WORKER_CONNECT_WAIT_MS. */
        mcconn_start(w->mcconn);
        uint64_t until = evloop_now(w->loop) + WORKER_CONNECT_WAIT_MS;
        while (mcconn_connecting(w->mcconn) && !w->stopping && !w->draining &&
               evloop_now(w->loop) < until) {
            if (evloop_run_once(w->loop, (int)(until - evloop_now(w->loop))) < 0) {
                break;
            }
        }
    }
    if (!w->draining) {
        worker_listen_set(w, true);
    }

    while (!w->stopping && !(w->draining && w->conns.n == 0)) {
        int n = evloop_run_once(w->loop, 1000);
        if (n < 0) {
            log_error("worker %u: epoll: %s", w->id, strerror(-n));
            break;
        }
        conn_reap(&w->conns);
        free(w->retired_listeners);
        w->retired_listeners = NULL;
    }
    conn_abort_all(&w->conns);
    conn_reap(&w->conns);
    worker_close_listeners(w);
    return NULL;
}

struct worker *
worker_new(unsigned id, const struct config *cfg, struct gen *g, struct sessions *sessions,
           struct keyring_sync *ks, const int *listen_fds, size_t max_conns)
{
    struct worker *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        return NULL;
    }
    w->magic = WORKER_MAGIC;
    w->id = id;
    w->cfg = cfg;
    w->sessions = sessions;
    w->keyring_sync = ks;
    w->max_conns = max_conns;
    w->mbox.efd = -1;
    w->loop = evloop_new();
    w->ring = keyring_sync_alloc_ring();
    w->listeners = worker_listeners_new(w, listen_fds, g->cfg->nfrontends);
    w->stats = calloc(GEN_SLOTS, sizeof(*w->stats));
    if (w->loop == NULL || w->ring == NULL || w->listeners == NULL || w->stats == NULL) {
        goto fail;
    }
    keyring_init(w->ring, cfg->tickets.rotate, cfg->tickets.keep);
    w->nlisteners = g->cfg->nfrontends;
    w->accept_timer.on_timer = on_accept_timer;
    w->ring_timer.on_timer = on_ring_timer;
    w->mbox_h.on_event = on_mailbox;
    if (mailbox_init(&w->mbox) < 0 || evloop_add(w->loop, w->mbox.efd, EPOLLIN, &w->mbox_h) < 0) {
        goto fail;
    }
    if (sessions->mc != NULL && mc_workers_excluded(sessions->mc) == NULL) {
        w->mcconn = mcconn_new(sessions->mc, w->loop, on_mcconn_done, w);
        if (w->mcconn == NULL) {
            goto fail;
        }
    }
    w->env = (struct handshake_env){
        .loop = w->loop,
        .stats = w->stats,
        .sessions = sessions,
        .ring = w->ring,
        .mcconn = w->mcconn,
        .mbox = &w->mbox,
        .queue = id,
    };
    w->conns = (struct conn_set){
        .gen = g,
        .env = &w->env,
        .on_closed = on_conn_closed,
    };
    atomic_init(&w->gen_number, g->number);
    return w;
fail:
    /* The caller keeps the listening sockets when there is no worker. */
    for (size_t i = 0; i < w->nlisteners; i++) {
        w->listeners[i].fd = -1;
    }
    worker_free(w);
    return NULL;
}

int
worker_start(struct worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);

    return rc == 0 ? 0 : -rc;
}

void
worker_free(struct worker *w)
{
    if (w == NULL) {
        return;
    }
    struct worker_update *u = atomic_exchange(&w->update, NULL);
    if (u != NULL) {
        worker_apply_update(w, u); /* so that its sockets are closed below */
    }
    worker_close_listeners(w);
    gen_unref(w->conns.gen);
    relay_pool_drain(&w->conns.pool);
    if (w->mbox.efd >= 0) {
        /* Answers that came back after the worker stopped (mc_free runs first). */
        struct mailbox_msg *list;
        mailbox_take(&w->mbox, &list);
        while (list != NULL) {
            struct mc_req *req = (struct mc_req *)list;
            list = list->next;
            mc_req_free(req);
        }
        mailbox_destroy(&w->mbox);
    }
    mcconn_free(w->mcconn); /* its requests' connections are gone */
    keyring_sync_free_ring(w->ring);
    evloop_free(w->loop);
    free(w->listeners);
    free(w->retired_listeners);
    free(w->stats);
    w->magic = 0;
    free(w);
}
