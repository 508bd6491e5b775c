/*
 * supervisor.c - the main thread: start-up of the shared pieces, the
 * workers, signals, keyring upkeep, graceful drain.
 *
 * Main thread only.  Signals are blocked in every thread (the mask is set
 * before the workers are created) and collected here with sigtimedwait, so
 * no code runs in a signal handler.  Between signals the main thread wakes
 * for the keyring refresh (every tickets.refresh seconds and at each epoch
 * boundary).
 */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "conn.h"
#include "keyring_cluster.h"
#include "keyring_sync.h"
#include "listener.h"
#include "log.h"
#include "mc.h"
#include "seal.h"
#include "sessions.h"
#include "tickets.h"
#include "tlsctx.h"
#include "worker.h"

/* Descriptors kept back from the connection budget: listeners, eventfds,
 * epoll, logs, memcached and admin sockets. */
#define FD_RESERVE 64

struct tlsctx **
supervisor_build_tls(const struct config *cfg, struct err *err)
{
    struct tlsctx **tls = calloc(cfg->nfrontends, sizeof(*tls));

    if (tls == NULL) {
        err_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->nfrontends; i++) {
        tls[i] = tlsctx_new(cfg, &cfg->frontends[i], err);
        if (tls[i] == NULL) {
            supervisor_free_tls(cfg, tls);
            return NULL;
        }
    }
    return tls;
}

void
supervisor_free_tls(const struct config *cfg, struct tlsctx **tls)
{
    if (tls == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->nfrontends; i++) {
        tlsctx_free(tls[i]);
    }
    free(tls);
}

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

static void
log_frontends(const struct config *cfg, struct tlsctx **tls, size_t per_worker)
{
    for (size_t i = 0; i < cfg->nfrontends; i++) {
        const struct config_frontend *fe = &cfg->frontends[i];
        log_info("frontend %s: listening on %s, backend %s, %zu certificate(s) in %zu "
                 "context(s), %u workers, up to %zu connections per worker",
                 fe->name, fe->listen_text, fe->backend_text, fe->ncerts, tls[i]->nctxs,
                 cfg->workers, per_worker);
    }
}

/* One keyring refresh: the cluster's protocol with memcached, else local keys. */
static int
supervisor_refresh(struct keyring_sync *ks, struct keyring_cluster *kc)
{
    if (kc != NULL) {
        keyring_cluster_refresh(kc, ks, time(NULL));
        return 0;
    }
    return keyring_sync_refresh(ks, time(NULL));
}

/* Wait for SIGTERM/SIGINT, refreshing the keyring when due.  Returns the signal. */
static int
supervisor_wait(const struct config *cfg, struct keyring_sync *ks, struct keyring_cluster *kc,
                const sigset_t *set)
{
    for (;;) {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        unsigned wait = keyring_sync_next_refresh(ks, rt.tv_sec, cfg->tickets.refresh);
        /* Wake on the second the refresh is due (an epoch boundary falls on
         * a whole second), not `wait` seconds after some fraction of one. */
        struct timespec ts = {.tv_sec = (time_t)wait - 1, .tv_nsec = 1000000000L - rt.tv_nsec};
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        siginfo_t info;
        int sig = sigtimedwait(set, &info, &ts);

        if (sig == SIGTERM || sig == SIGINT) {
            return sig;
        }
        if (sig == SIGHUP) {
            log_info("SIGHUP: configuration reload is not supported yet; ignored");
            continue;
        }
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            log_error("sigtimedwait: %s", strerror(errno));
            return SIGTERM;
        }
        supervisor_refresh(ks, kc);
    }
}

/* Tell workers to drain; wait up to timeouts.shutdown for them to finish,
 * then stop the rest.  Joins every started worker. */
static void
supervisor_drain(const struct config *cfg, struct worker **workers, size_t started)
{
    struct timespec deadline;

    for (size_t i = 0; i < started; i++) {
        worker_notify(workers[i], WORKER_MSG_DRAIN);
    }
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += cfg->timeouts.shutdown;
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
    struct tlsctx **tls = NULL;
    struct sessions *store = NULL;
    struct seal *seal = NULL;
    struct mc *mc = NULL;
    struct keyring_cluster *kc = NULL;
    struct keyring_sync *ks = NULL;
    struct admin *admin = NULL;
    struct worker **workers = calloc(cfg->workers, sizeof(*workers));
    int *fds = calloc(cfg->nfrontends, sizeof(*fds));
    size_t started = 0;
    int rc = 1;
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Block before any thread exists, so every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    rlim_t nofile = raise_nofile();
    size_t per_worker = per_worker_limit(cfg, nofile);
    if (workers == NULL || fds == NULL || conn_global_init() < 0 || tickets_init() < 0) {
        log_error("start-up failed: out of memory or OpenSSL initialisation");
        goto out;
    }
    tls = supervisor_build_tls(cfg, &err);
    if (tls == NULL) {
        log_error("%s", err.msg);
        goto out;
    }
    if (cfg->sessions.store == CONFIG_STORE_MEMCACHED) {
        seal = supervisor_load_secrets(cfg, &err);
        /* One queue per worker, and the last one for the main thread. */
        mc = seal != NULL ? mc_new(cfg, cfg->workers + 1, &err) : NULL;
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
    if (mc != NULL && cfg->sessions.tickets) {
        kc = keyring_cluster_new(cfg, mc, cfg->workers, seal, &err);
        if (kc == NULL) {
            log_error("%s", err.msg);
            goto out;
        }
    }
    if (cfg->sessions.tickets && supervisor_refresh(ks, kc) < 0) {
        log_error("start-up failed: no ticket key could be made");
        goto out;
    }
    for (unsigned i = 0; i < cfg->workers; i++) {
        for (size_t f = 0; f < cfg->nfrontends; f++) {
            fds[f] = listener_open(&cfg->frontends[f].listen, &err);
            if (fds[f] < 0) {
                log_error("%s", err.msg);
                while (f-- > 0) {
                    close(fds[f]);
                }
                goto out;
            }
        }
        workers[i] = worker_new(i, cfg, tls, store, ks, fds, per_worker);
        if (workers[i] == NULL) {
            log_error("start-up failed: cannot create worker %u", i);
            for (size_t f = 0; f < cfg->nfrontends; f++) {
                close(fds[f]);
            }
            goto out;
        }
    }
    if (cfg->admin.enabled) {
        admin = admin_start(cfg, workers, cfg->workers, ks, store, &err);
        if (admin == NULL) {
            log_error("%s", err.msg);
            goto out;
        }
    }
    for (unsigned i = 0; i < cfg->workers; i++) {
        if (worker_start(workers[i]) < 0) {
            log_error("start-up failed: cannot start worker %u", i);
            goto stop;
        }
        started++;
    }
    log_frontends(cfg, tls, per_worker);
    log_info("tessera started: %u workers, pid %ld", cfg->workers, (long)getpid());

    int sig = supervisor_wait(cfg, ks, kc, &set);
    log_info("%s: draining (up to %u s)", sig == SIGINT ? "SIGINT" : "SIGTERM",
             cfg->timeouts.shutdown);
    rc = 0;
stop:
    admin_set_draining(admin);
    supervisor_drain(cfg, workers, started);
    if (rc == 0) {
        log_info("stopped");
    }
out:
    admin_stop(admin); /* before the workers it reads from are freed */
    mc_free(mc);       /* after the workers stopped, before their mailboxes go */
    keyring_cluster_free(kc);
    for (unsigned i = 0; workers != NULL && i < cfg->workers; i++) {
        worker_free(workers[i]);
    }
    free(workers);
    free(fds);
    sessions_free(store);
    seal_free(seal);
    keyring_sync_free(ks);
    supervisor_free_tls(cfg, tls);
    tickets_cleanup();
    return rc;
}
