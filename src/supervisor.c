/*
 * supervisor.c - the main thread: start-up of the shared pieces, the
 * workers, signals, keyring upkeep, graceful drain.
 *
 * Main thread only.  The thread runs an event loop (evloop.c) like a
 * worker's: signals come through a signalfd (they are blocked in every
 * thread from the first instruction of main, so no code runs in a signal
 * handler and none is fatal during start-up), the keyring refresh is a
 * timer (every tickets.refresh seconds, at each epoch boundary, and every
 * second while degraded), and the cluster keyring's memcached answers are
 * events on the same loop (keyring_cluster.c).  Nothing on it blocks, so
 * SIGTERM is acted on at once whatever memcached does.
 *
 * The service manager hears of it (notify.c): STATUS= while start-up waits
 * for the cluster's keys, READY=1 once every listener is open, the keyring
 * loaded and the pidfile written, a new STATUS= when tickets move between
 * the cluster's keys and local ones, STOPPING=1 when the drain starts.
 */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "admin.h"
#include "check.h"
#include "clock.h"
#include "earlydata.h"
#include "evloop.h"
#include "gen.h"
#include "handshake.h"
#include "keyops.h"
#include "keyring_cluster.h"
#include "keyring_sync.h"
#include "listener.h"
#include "log.h"
#include "mc.h"
#include "mcprobe.h"
#include "notify.h"
#include "ocsp_store.h"
#include "pidfile.h"
#include "privs.h"
#include "reload.h"
#include "seal.h"
#include "sessions.h"
#include "tickets.h"
#include "tlsctx.h"
#include "trim.h"
#include "worker.h"

/* Descriptors kept back from the connection budget: listeners, eventfds,
 * epoll, logs, memcached and admin sockets. */
#define FD_RESERVE 64

/* The sealing keys from memcached.secret_file (current) and
 * old_secret_files (open only).  NULL with err set. */
static struct seal *
supervisor_load_secrets(const struct config *cfg, struct err *err)
{
    unsigned char secret[SEAL_SECRET_LEN];
    char why[128] = "";
    struct seal *seal = seal_new();

    if (seal == NULL) {
        err_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i <= cfg->memcached.nold_secret_files; i++) {
        bool current = i == 0;
        const char *path =
            current ? cfg->memcached.secret_file : cfg->memcached.old_secret_files[i - 1];
        int rc = seal_read_secret_file(path, secret, why, sizeof(why));
        if (rc == 0) {
            rc = seal_add_secret(seal, secret, current);
            snprintf(why, sizeof(why), "%s", rc == -EEXIST ? "is listed twice" : "cannot be used");
        }
        OPENSSL_cleanse(secret, sizeof(secret));
        if (rc < 0) {
            err_set(err, "%s: secret file %s %s", cfg->path, path, why);
            seal_free(seal);
            return NULL;
        }
    }
    return seal;
}

/* Close the bound sockets no worker took, and free the array. */
static void
supervisor_close_listeners(const struct config *cfg, int *lfds)
{
    for (size_t i = 0; lfds != NULL && i < (size_t)cfg->workers * cfg->nfrontends; i++) {
        if (lfds[i] >= 0) {
            close(lfds[i]);
        }
    }
    free(lfds);
}

/*
 * Bind one socket per worker and frontend (SO_REUSEPORT), not listening yet:
 * binding is what may need root (a port below 1024), and a socket that does
 * not listen refuses connections until its worker is ready to take them.
 * Returns cfg->workers x cfg->nfrontends descriptors, or NULL with err set.
 */
static int *
supervisor_bind_listeners(const struct config *cfg, struct err *err)
{
    size_t n = (size_t)cfg->workers * cfg->nfrontends;
    int *lfds = malloc(n * sizeof(*lfds));

    if (lfds == NULL) {
        err_set(err, "start-up failed: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        lfds[i] = -1;
    }
    for (size_t i = 0; i < n; i++) {
        lfds[i] = listener_bind(&cfg->frontends[i % cfg->nfrontends].listen, err);
        if (lfds[i] < 0) {
            supervisor_close_listeners(cfg, lfds);
            return NULL;
        }
    }
    return lfds;
}

/* Raise the descriptor limit to its hard limit; return the soft limit now in force. */
static rlim_t
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        return 1024;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_warn("cannot raise the descriptor limit to %llu: %s", (unsigned long long)want,
                     strerror(errno));
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    return rl.rlim_cur;
}

/* Connections per worker: max_connections split evenly, bounded by what the
 * descriptor limit allows (two descriptors per connection). */
static size_t
per_worker_limit(const struct config *cfg, rlim_t nofile)
{
    size_t by_fd = nofile > FD_RESERVE * 2 ? (size_t)(nofile - FD_RESERVE) / 2 : 16;
    size_t total = cfg->max_connections ? cfg->max_connections : by_fd;

    if (total > by_fd) {
        log_warn("max_connections = %u exceeds what %llu descriptors allow; using %zu",
                 cfg->max_connections, (unsigned long long)nofile, by_fd);
        total = by_fd;
    }
    size_t per = (total + cfg->workers - 1) / cfg->workers;
    return per > 0 ? per : 1;
}

/* ---- the main loop: signals and keyring upkeep ---- */

/* How long start-up waits for the cluster's keys before it serves with
 * local ones (design: at most 2 s). */
#define STARTUP_KEYS_MS 2000
/* While degraded, the refresh is retried every second plus up to this much
 * jitter, so that a cluster's instances do not all ask at once. */
#define RETRY_MS        1000
#define RETRY_JITTER_MS 250

/* A SIGHUP that finds workers still switching to the last generation is
 * tried again this much later. */
#define RELOAD_RETRY_MS 100

struct sup {
    const struct config *cfg;
    struct evloop *loop;
    struct reload reload;        /* generations */
    bool serving;                /* every worker started: a SIGHUP reloads */
    struct evtimer reload_timer; /* a reload that found workers busy */
    struct evtimer trim_timer;   /* memory given back after a surge (trim.h) */
    struct trim trim;
    int sigfd;
    struct evhandler sig_h;
    struct evtimer refresh_timer;
    int64_t refresh_due_ms; /* the wall-clock ms the armed refresh is for */
    struct keyring_sync *ks;
    struct keyring_cluster *kc; /* NULL: local keys only */
    struct admin *admin;        /* NULL: no endpoint (or not started yet) */
    struct mcprobe *probe;      /* NULL without memcached */
    struct worker **workers;
    size_t nworkers; /* started, to be told of a new ring */
    int stop_sig;    /* 0 until SIGTERM/SIGINT */
    bool was_degraded;
    bool ready; /* READY=1 was sent: STATUS= follows the keyring */
};

/* The STATUS= line of a serving instance (`systemctl status`). */
static void
sup_status(const struct sup *s)
{
    size_t n = s->reload.gen != NULL ? s->reload.gen->cfg->nfrontends : s->cfg->nfrontends;

    notify_status("serving %zu frontend%s with %u worker%s%s", n, n == 1 ? "" : "s",
                  s->cfg->workers, s->cfg->workers == 1 ? "" : "s",
                  s->was_degraded ? "; tickets under a local key (memcached unreachable)" : "");
}

/* Log when the keys tickets are encrypted with change between the
 * cluster's and local ones (design.md "Degrade"). */
static void
sup_note_degraded(struct sup *s, time_t now)
{
    bool d = keyring_sync_degraded(s->ks, now);

    if (d == s->was_degraded) {
        return;
    }
    s->was_degraded = d;
    if (d) {
        log_warn("keyring: encrypting tickets with a local key: memcached has not given the "
                 "cluster's (retrying every second)");
    } else {
        log_info("keyring: encrypting tickets with the cluster's key");
    }
    if (s->ready) {
        sup_status(s);
    }
}

/* Arm the next refresh: every tickets.refresh seconds and at each epoch
 * boundary; every second (with jitter) while degraded or unreachable. */
static void
sup_schedule(struct sup *s)
{
    int64_t now = clock_wall_ms();
    unsigned retry = 0;

    if (s->kc != NULL &&
        (keyring_sync_degraded(s->ks, (time_t)(now / 1000)) || !keyring_cluster_reachable(s->kc))) {
        uint32_t j = 0;
        (void)RAND_bytes((unsigned char *)&j, sizeof(j));
        retry = RETRY_MS + j % (RETRY_JITTER_MS + 1);
    }
    s->refresh_due_ms =
        keyring_next_refresh_ms(s->cfg->tickets.rotate, now, s->cfg->tickets.refresh, retry);
    evtimer_arm(s->loop, &s->refresh_timer,
                evloop_now(s->loop) + (uint64_t)(s->refresh_due_ms - now));
}

/* Start one refresh.  Its epoch comes from the time it was due, never from
 * a clock read a moment too early (a boundary refresh woken a hair before
 * the second turns would otherwise work for the epoch that just ended). */
static void
sup_refresh(struct sup *s, int64_t due_ms)
{
    int64_t now = clock_wall_ms();
    time_t t = (time_t)((now > due_ms ? now : due_ms) / 1000);

    if (s->kc != NULL) {
        keyring_cluster_refresh(s->kc, t); /* sup_refreshed follows */
        return;
    }
    if (keyring_sync_refresh(s->ks, t) < 0) {
        log_error("keyring: no ticket key could be made");
    }
    sup_schedule(s);
}

/* keyring_cluster's completion. */
static void
sup_refreshed(void *arg)
{
    struct sup *s = arg;

    sup_note_degraded(s, clock_wall_s());
    if (!keyring_cluster_busy(s->kc)) {
        sup_schedule(s);
    }
}

static void
on_refresh_timer(struct evtimer *t)
{
    struct sup *s = CONTAINER_OF(t, struct sup, refresh_timer);

    sup_refresh(s, s->refresh_due_ms);
}

/* A new ring was published: workers copy it now, not on their timer. */
static void
sup_ring_moved(void *arg)
{
    struct sup *s = arg;

    for (size_t i = 0; i < s->nworkers; i++) {
        worker_notify(s->workers[i], WORKER_MSG_KEYRING);
    }
}

static void sup_reload_step(struct sup *s);

static void
sup_reload(struct sup *s)
{
    if (s->stop_sig != 0) {
        return; /* draining: nothing new to serve */
    }
    if (!s->serving) {
        log_info("SIGHUP during start-up: ignored (start-up reads the configuration anyway)");
        return;
    }
    if (evtimer_armed(&s->reload_timer)) {
        return; /* one is waiting for the workers already; it reads the file then */
    }
    log_info("SIGHUP: reloading %s", s->cfg->path);
    notify_reloading();
    sup_reload_step(s);
}

/* Run the reload; when the workers are still switching to the last one,
 * again in RELOAD_RETRY_MS.  READY=1 (and the STATUS= line) when it ends,
 * done or failed, so that systemd never stays in "reloading". */
static void
sup_reload_step(struct sup *s)
{
    if (reload_run(&s->reload) == RELOAD_BUSY) {
        log_debug("reload: workers still switching to generation %u; retrying",
                  s->reload.gen->number);
        evtimer_arm(s->loop, &s->reload_timer, evloop_now(s->loop) + RELOAD_RETRY_MS);
        return;
    }
    /* The bearer token is the one admin setting a reload applies. */
    admin_set_token(s->admin, s->reload.gen->cfg);
    sup_status(s);
    notify_ready();
}

static void
on_reload_timer(struct evtimer *t)
{
    struct sup *s = CONTAINER_OF(t, struct sup, reload_timer);

    if (s->stop_sig == 0) {
        sup_reload_step(s);
    }
}

/* Connections open across the workers, from their counters. */
static size_t
sup_open_connections(const struct sup *s)
{
    size_t slots = s->reload.slots != NULL ? gen_slots_count(s->reload.slots) : 0;
    int64_t open = 0;

    for (size_t i = 0; i < s->nworkers; i++) {
        for (size_t f = 0; f < slots; f++) {
            open += atomic_load_explicit(&s->workers[i]->stats[f].connections_active,
                                         memory_order_relaxed);
        }
    }
    return open > 0 ? (size_t)open : 0;
}

static void
on_trim_timer(struct evtimer *t)
{
    struct sup *s = CONTAINER_OF(t, struct sup, trim_timer);
    size_t open = sup_open_connections(s);

    if (trim_due(&s->trim, open)) {
        bool gave = trim_now();
        log_debug("memory: a surge of connections ended (%zu open now)%s", open,
                  gave ? "; free memory given back to the system" : "");
    }
    evtimer_arm(s->loop, &s->trim_timer, evloop_now(s->loop) + TRIM_EVERY_MS);
}

static void
on_signal(struct evhandler *h, uint32_t events)
{
    struct sup *s = CONTAINER_OF(h, struct sup, sig_h);
    struct signalfd_siginfo si;

    (void)events;
    while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGTERM || sig == SIGINT) {
            if (s->stop_sig == 0) {
                s->stop_sig = sig;
            }
        } else if (sig == SIGHUP) {
            sup_reload(s);
        }
    }
}

/* The loop, signals (through a signalfd: they are blocked in every thread)
 * and the refresh timer.  -1 with err set. */
static int
sup_init(struct sup *s, const struct config *cfg, const sigset_t *set, struct err *err)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->sigfd = -1;
    s->sig_h.on_event = on_signal;
    s->refresh_timer.on_timer = on_refresh_timer;
    s->reload_timer.on_timer = on_reload_timer;
    s->trim_timer.on_timer = on_trim_timer;
    s->loop = evloop_new();
    if (s->loop == NULL) {
        err_set(err, "start-up failed: no event loop");
        return -1;
    }
    s->sigfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sigfd < 0 || evloop_add(s->loop, s->sigfd, EPOLLIN, &s->sig_h) < 0) {
        err_set(err, "start-up failed: signalfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void
sup_cleanup(struct sup *s)
{
    if (s->loop != NULL) {
        evtimer_disarm(s->loop, &s->refresh_timer);
        evtimer_disarm(s->loop, &s->reload_timer);
        evtimer_disarm(s->loop, &s->trim_timer);
    }
    if (s->sigfd >= 0) {
        if (s->loop != NULL) {
            evloop_del(s->loop, s->sigfd);
        }
        close(s->sigfd);
    }
    evloop_free(s->loop);
}

/* Run the loop until `done(s)` or a stop signal, for at most `limit_ms`
 * (0: no limit).  Returns false on an epoll failure. */
static bool
sup_run_until(struct sup *s, bool (*done)(struct sup *s), uint64_t limit_ms)
{
    uint64_t end = evloop_now(s->loop) + limit_ms;

    while (s->stop_sig == 0 && !done(s)) {
        uint64_t now = evloop_now(s->loop);
        int wait = 1000;
        if (limit_ms > 0) {
            if (now >= end) {
                break;
            }
            wait = end - now < 1000 ? (int)(end - now) : 1000;
        }
        int n = evloop_run_once(s->loop, wait);
        if (n < 0) {
            log_error("main loop: epoll: %s", strerror(-n));
            return false;
        }
    }
    return true;
}

static bool
sup_keys_ready(struct sup *s)
{
    return s->kc == NULL || !keyring_cluster_busy(s->kc);
}

static bool
sup_never(struct sup *s)
{
    (void)s;
    return false;
}

/*
 * The first keys, before any listener opens.  With the memcached store the
 * instance adopts the cluster's keys first, waiting at most STARTUP_KEYS_MS;
 * if memcached has not answered by then it starts on local keys (reported
 * degraded at once) and the refresh still under way adopts the cluster's
 * when it ends.  Returns false if a stop signal came meanwhile.
 */
static bool
sup_first_keys(struct sup *s)
{
    if (s->kc == NULL) {
        sup_refresh(s, clock_wall_ms());
        return true;
    }
    notify_status("starting: waiting for the cluster's ticket keys (at most %d ms)",
                  STARTUP_KEYS_MS);
    sup_refresh(s, clock_wall_ms());
    if (!sup_run_until(s, sup_keys_ready, STARTUP_KEYS_MS) || s->stop_sig != 0) {
        return false;
    }
    if (keyring_cluster_busy(s->kc)) {
        log_warn("keyring: memcached gave no keys within %d ms; starting with local keys",
                 STARTUP_KEYS_MS);
        keyring_cluster_fill_local(s->kc, clock_wall_s());
        sup_note_degraded(s, clock_wall_s());
    }
    return true;
}

/* Tell workers to drain; wait up to timeouts.shutdown for them to finish,
 * then stop the rest.  Joins every started worker. */
static void
supervisor_drain(const struct config *cfg, struct worker **workers, size_t started)
{
    /* pthread_timedjoin_np takes a CLOCK_REALTIME time. */
    struct timespec deadline =
        clock_timespec(clock_wall_ms() + (int64_t)cfg->timeouts.shutdown * 1000);

    for (size_t i = 0; i < started; i++) {
        worker_notify(workers[i], WORKER_MSG_DRAIN);
    }
    for (size_t i = 0; i < started; i++) {
        if (pthread_timedjoin_np(workers[i]->thread, NULL, &deadline) == 0) {
            continue;
        }
        log_info("shutdown timeout: closing the connections still open");
        for (size_t j = i; j < started; j++) {
            worker_notify(workers[j], WORKER_MSG_STOP);
        }
        for (size_t j = i; j < started; j++) {
            pthread_join(workers[j]->thread, NULL);
        }
        return;
    }
}

int
supervisor_run(const struct config *cfg)
{
    struct err err = {{0}};
    struct gen_slots slots = {0};
    struct sessions *store = NULL;
    struct seal *seal = NULL;
    struct mc *mc = NULL;
    struct keyring_sync *ks = NULL;
    struct admin *admin = NULL;
    struct keyops *keyops = NULL;
    struct ocsp_store *ocsp = NULL;
    struct worker **workers = calloc(cfg->workers, sizeof(*workers));
    int *lfds = NULL; /* workers x frontends bound sockets; -1 once a worker has one */
    size_t started = 0;
    bool pid_written = false;
    int rc = 1;
    sigset_t set;
    struct sup sup;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* main() blocked them already; every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    rlim_t nofile = raise_nofile();
    size_t per_worker = per_worker_limit(cfg, nofile);
    if (sup_init(&sup, cfg, &set, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    if (workers == NULL || handshake_global_init() < 0 || earlydata_global_init() < 0 ||
        tickets_init() < 0) {
        log_error("start-up failed: out of memory or OpenSSL initialisation");
        goto out;
    }
    /* Staples outlive generations (a reload keeps a certificate's). */
    ocsp = ocsp_store_new();
    if (ocsp == NULL) {
        log_error("start-up failed: out of memory");
        goto out;
    }
    struct gen *first = gen_new(cfg, NULL, 1, &slots, ocsp, &err);
    if (first == NULL) {
        log_error("%s", err.msg);
        goto out;
    }
    sup.reload.gen = first; /* freed at `out` */
    if (cfg->sessions.store == CONFIG_STORE_MEMCACHED) {
        seal = supervisor_load_secrets(cfg, &err);
        if (seal == NULL) {
            log_error("%s", err.msg);
            goto out;
        }
    }
    /* Every key and secret is read; once every listener is bound, root is
     * no longer needed.  No other thread exists yet (privs.h). */
    lfds = supervisor_bind_listeners(cfg, &err);
    if (lfds == NULL || privs_drop(cfg, &err) < 0 || ocsp_store_start(ocsp, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    if (seal != NULL) {
        /* One queue per worker, and the last one for the main thread. */
        mc = mc_new(cfg, cfg->workers + 1, &err);
        if (mc == NULL) {
            log_error("%s", err.msg);
            goto out;
        }
        const char *why = mc_workers_excluded(mc);
        if (why != NULL) {
            log_info("memcached.options has %s: session operations go through helper "
                     "threads, not the workers' own connections",
                     why);
        }
    }
    store = sessions_new(cfg, mc, seal);
    ks = keyring_sync_new(cfg->tickets.rotate, cfg->tickets.keep);
    if (store == NULL || ks == NULL) {
        log_error("start-up failed: out of memory");
        goto out;
    }
    sup.ks = ks;
    sup.workers = workers;
    if (mc != NULL && (sup.probe = mcprobe_new(mc, sup.loop)) == NULL) {
        log_error("start-up failed: out of memory");
        goto out;
    }
    keyring_sync_set_notify(ks, sup_ring_moved, &sup);
    if (mc != NULL && cfg->sessions.tickets) {
        keyring_sync_set_cluster(ks);
        sup.kc = keyring_cluster_new(cfg, mc, sup.loop, cfg->workers, seal, ks, sup_refreshed, &sup,
                                     &err);
        if (sup.kc == NULL) {
            log_error("%s", err.msg);
            goto out;
        }
    }
    if (cfg->sessions.tickets && !sup_first_keys(&sup)) {
        log_info("%s during start-up: stopping", sup.stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
        notify_stopping();
        rc = 0;
        goto out;
    }
    /* The reload's view of the workers' sockets (reload.h). */
    size_t nfds = (size_t)cfg->workers * cfg->nfrontends;
    sup.reload.fds = malloc(nfds * sizeof(*sup.reload.fds));
    if (sup.reload.fds == NULL) {
        log_error("start-up failed: out of memory");
        goto out;
    }
    memcpy(sup.reload.fds, lfds, nfds * sizeof(*lfds));
    sup.reload.boot = cfg;
    sup.reload.slots = &slots;
    sup.reload.ocsp = ocsp;
    sup.reload.workers = workers;
    sup.reload.nworkers = cfg->workers;
    for (unsigned i = 0; i < cfg->workers; i++) {
        int *fds = &lfds[(size_t)i * cfg->nfrontends];
        for (size_t f = 0; f < cfg->nfrontends; f++) {
            if (listener_listen(fds[f], &cfg->frontends[f].listen, &err) < 0) {
                log_error("%s", err.msg);
                goto out;
            }
        }
        workers[i] = worker_new(i, cfg, gen_ref(first), store, ks, fds, per_worker);
        if (workers[i] == NULL) {
            log_error("start-up failed: cannot create worker %u", i);
            gen_unref(first);
            goto out;
        }
        for (size_t f = 0; f < cfg->nfrontends; f++) {
            fds[f] = -1; /* the worker's now */
        }
    }
    atomic_store(&sup.reload.stats.generation, 1u);
    atomic_store(&sup.reload.stats.last_ok_s, (int64_t)clock_wall_s());
    if (cfg->admin.enabled && cfg->sessions.tickets) {
        /* The admin thread waits for a key operation at most one refresh
         * behind a running one: 2 x 3 phases of timeout_ms + 100 ms, and
         * never more than 1.5 s (then 202), so that /healthz answers well
         * within a balancer's patience whatever memcached does. */
        unsigned wait = 6 * (cfg->memcached.timeout_ms + 100) + 100;
        keyops = keyops_new(sup.loop, ks, sup.kc, cfg->tickets.rotate, wait < 1500 ? wait : 1500);
        if (keyops == NULL) {
            log_error("start-up failed: out of memory");
            goto out;
        }
    }
    if (cfg->admin.enabled) {
        struct admin_sources src = {
            .workers = workers,
            .nworkers = cfg->workers,
            .ks = ks,
            .store = store,
            .slots = &slots,
            .reloads = &sup.reload.stats,
            .keyops = keyops,
            .ocsp = ocsp,
        };
        admin = admin_start(cfg, &src, &err);
        if (admin == NULL) {
            log_error("%s", err.msg);
            goto out;
        }
        sup.admin = admin;
    }
    for (unsigned i = 0; i < cfg->workers; i++) {
        if (worker_start(workers[i]) < 0) {
            log_error("start-up failed: cannot start worker %u", i);
            goto stop;
        }
        started++;
        sup.nworkers = started;
    }
    reload_log_generation(first);
    if (cfg->pidfile != NULL) {
        if (pidfile_write(cfg->pidfile, &err) < 0) {
            log_error("start-up failed: %s", err.msg);
            goto stop;
        }
        pid_written = true;
    }
    sup.serving = true;
    evtimer_arm(sup.loop, &sup.trim_timer, evloop_now(sup.loop) + TRIM_EVERY_MS);
    log_info("tessera started: %u workers, up to %zu connections per worker, pid %ld", cfg->workers,
             per_worker, (long)getpid());
    sup.ready = true;
    sup_status(&sup);
    notify_ready();

    if (cfg->sessions.tickets && !evtimer_armed(&sup.refresh_timer) &&
        (sup.kc == NULL || !keyring_cluster_busy(sup.kc))) {
        sup_schedule(&sup);
    }
    if (sup_run_until(&sup, sup_never, 0)) {
        log_info("%s: draining (up to %u s)", sup.stop_sig == SIGINT ? "SIGINT" : "SIGTERM",
                 cfg->timeouts.shutdown);
    }
    rc = 0;
stop:
    notify_stopping();
    notify_status("%s (up to %u s)", rc == 0 ? "draining" : "start-up failed, stopping",
                  cfg->timeouts.shutdown);
    admin_set_draining(admin);
    evtimer_disarm(sup.loop, &sup.reload_timer);
    supervisor_drain(sup.reload.gen->cfg, workers, started);
    if (rc == 0) {
        log_info("stopped");
    }
out:
    sup.nworkers = 0;
    admin_stop(admin); /* before the workers it reads from are freed */
    sup.admin = NULL;
    mc_free(mc);                  /* after the workers stopped, before their mailboxes go */
    keyring_cluster_free(sup.kc); /* ends the key operations it carries (keyops) */
    keyops_free(keyops);          /* after the admin thread and keyring_cluster */
    mcprobe_free(sup.probe);
    for (unsigned i = 0; workers != NULL && i < cfg->workers; i++) {
        worker_free(workers[i]);
    }
    free(workers);
    supervisor_close_listeners(cfg, lfds);
    free(sup.reload.fds);
    gen_unref(sup.reload.gen);
    ocsp_store_free(ocsp); /* after the last generation: its bindings are gone */
    gen_slots_free(&slots);
    sessions_free(store);
    seal_free(seal);
    keyring_sync_free(ks);
    sup_cleanup(&sup);
    tickets_cleanup();
    if (pid_written) {
        pidfile_remove(cfg->pidfile);
    }
    return rc;
}
