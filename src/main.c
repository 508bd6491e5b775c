/*
 * main.c - command line (-c -t -V -h --gen-secret), start-up order, exit
 * codes.
 *
 * Main thread.  Exit codes: 0 success (or a clean stop), 1 a configuration
 * or start-up error, 2 a usage error.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmemcached/memcached.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "config.h"
#include "earlydata.h"
#include "gen.h"
#include "handshake.h"
#include "log.h"
#include "notify.h"
#include "privs.h"
#include "supervisor.h"
#include "tickets.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

static void
usage(FILE *out)
{
    fprintf(out, "usage: tessera -c FILE          run with FILE in the foreground\n"
                 "       tessera -t -c FILE       check FILE and exit\n"
                 "       tessera --gen-secret     print a new random cluster secret\n"
                 "       tessera -V               print versions\n"
                 "       tessera -h               print this help\n"
                 "\n"
                 "  -c, --config FILE   configuration file (libconfig syntax)\n"
                 "  -t, --test          check the configuration, certificates and keys\n"
                 "      --gen-secret    64 hex digits for memcached.secret_file\n"
                 "  -V, --version       tessera, OpenSSL and libmemcached versions\n"
                 "  -h, --help          this help\n"
                 "\n"
                 "Signals: SIGTERM/SIGINT stop accepting and drain for up to\n"
                 "timeouts.shutdown seconds.\n");
}

static int
print_version(void)
{
    printf("tessera %s\n", PACKAGE_VERSION);
    printf("built with %s, running %s\n", OPENSSL_VERSION_TEXT, OpenSSL_version(OPENSSL_VERSION));
    printf("libmemcached %s\n", memcached_lib_version());
    printf("sd_notify: %s\n", notify_sender());
    return 0;
}

static int
gen_secret(void)
{
    unsigned char secret[32];

    if (RAND_priv_bytes(secret, sizeof(secret)) != 1) {
        fprintf(stderr, "tessera: the random generator failed\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof(secret); i++) {
        printf("%02x", secret[i]);
    }
    printf("\n");
    OPENSSL_cleanse(secret, sizeof(secret));
    return fflush(stdout) == 0 ? 0 : 1;
}

/* -t: everything start-up checks, short of binding sockets. */
static int
test_config(const char *path)
{
    struct config *cfg = NULL;
    struct err err = {{0}};

    if (config_load(path, &cfg, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (handshake_global_init() < 0 || earlydata_global_init() < 0 || tickets_init() < 0) {
        fprintf(stderr, "tessera: OpenSSL initialisation failed\n");
        config_free(cfg);
        return 1;
    }
    struct tlsctx **tls = gen_build_tls(cfg, NULL, &err);
    if (tls == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        config_free(cfg);
        tickets_cleanup();
        return 1;
    }
    gen_free_tls(cfg, tls);
    tickets_cleanup();
    /* Warnings only: start-up reads these files as root. */
    (void)privs_check_files(cfg, stderr);
    config_free(cfg);
    printf("configuration OK\n");
    return 0;
}

/* The signals the main loop takes (SIGTERM, SIGINT, SIGHUP) into *set. */
static void
stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

/*
 * Block them before any other code of the process runs: .preinit_array
 * functions run before the shared libraries' initialisers and main, so a
 * signal that arrives during start-up waits for the main loop, which takes
 * it (never fatal).  What remains is the dynamic loader's own time after
 * exec (about a millisecond here), when no code of ours can run.
 */
static void
block_stop_signals(int argc, char **argv, char **envp)
{
    sigset_t set;

    (void)argc;
    (void)argv;
    (void)envp;
    stop_signals(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
}
__attribute__((section(".preinit_array"),
               used)) static void (*const preinit_block)(int, char **,
                                                         char **) = block_stop_signals;

static int
run(const char *path)
{
    struct config *cfg = NULL;
    struct err err = {{0}};
    int rc;

    if (config_load(path, &cfg, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    log_init((enum log_level)cfg->log.level, cfg->log.syslog);
    rc = supervisor_run(cfg);
    config_free(cfg);
    return rc;
}

int
main(int argc, char **argv)
{
    enum { OPT_GEN_SECRET = 256 };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"gen-secret", no_argument, NULL, OPT_GEN_SECRET},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int test = 0;
    int c;
    sigset_t sigs;

    stop_signals(&sigs); /* blocked already (preinit); the set, for -t */

    while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test = 1;
            break;
        case 'V':
            return print_version();
        case 'h':
            usage(stdout);
            return 0;
        case OPT_GEN_SECRET:
            return gen_secret();
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || path == NULL) {
        usage(stderr);
        return 2;
    }
    if (test) {
        pthread_sigmask(SIG_UNBLOCK, &sigs, NULL); /* nothing to drain: Ctrl-C just stops */
        return test_config(path);
    }
    return run(path);
}
