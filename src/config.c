/*
 * config.c - read the configuration file with libconfig and turn it into a
 * validated, immutable struct config.
 *
 * Thread: main thread only (start-up, `tessera -t`, later reload).  It reads
 * files and builds throwaway SSL_CTXs, so it must never run on a worker.
 * Ownership: config_load() hands the caller a struct config that owns every
 * string and array in it; config_free() releases all of it.  Nothing here
 * keeps a pointer into libconfig's tree after config_load() returns.
 *
 * Every value is checked; the first error wins and is reported as
 * "FILE:LINE: what is wrong", where LINE is the offending setting's line, or
 * the enclosing group's line when a required key is missing.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>
#include <libmemcached/memcached.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "addr.h"
#include "check.h"
#include "clock.h"
#include "config_files.h"
#include "config_frontend.h"
#include "config_section.h"
#include "keyring.h"
#include "log.h"
#include "ocsp.h"
#include "seal.h"
#include "token.h"

#define CONFIG_MAX_WORKERS      1024
#define CONFIG_MAX_CONNECTIONS  10000000
#define CONFIG_MAX_PREFIX       128
#define CONFIG_DEFAULT_ADMIN    "127.0.0.1:9090"
#define CONFIG_DEFAULT_PREFIX   "tessera:"
#define CONFIG_DEFAULT_LIFETIME 64800

static const char *const config_root_keys[] = {
    "workers",  "max_connections", "user",      "group", "pidfile",  "log",  "tls", "frontends",
    "sessions", "tickets",         "memcached", "admin", "timeouts", "ocsp", NULL,
};
static const char *const config_log_keys[] = {"level", "syslog", NULL};
static const char *const config_tls_keys[] = {
    "min_version", "ciphers",        "ciphersuites",      "groups",
    "early_data",  "max_early_data", "early_data_window", NULL,
};
static const char *const config_ocsp_keys[] = {"cache", "timeout", NULL};
static const char *const config_sessions_keys[] = {"store", "lifetime", "tickets", NULL};
static const char *const config_tickets_keys[] = {"rotate", "keep", "refresh", NULL};
static const char *const config_memcached_keys[] = {
    "servers", "options", "prefix", "timeout_ms", "secret_file", "old_secret_files", NULL,
};
static const char *const config_admin_keys[] = {"listen", "allow", "token_file", NULL};
static const char *const config_timeouts_keys[] = {"handshake", "connect", "idle", "shutdown",
                                                   NULL};

static const struct config_section_choice config_log_levels[] = {
    {"error", LOG_LVL_ERROR},
    {"warn", LOG_LVL_WARN},
    {"info", LOG_LVL_INFO},
    {"debug", LOG_LVL_DEBUG},
    {NULL, 0},
};
static const struct config_section_choice config_tls_versions[] = {
    {"TLSv1.2", TLS1_2_VERSION},
    {"TLSv1.3", TLS1_3_VERSION},
    {NULL, 0},
};
static const struct config_section_choice config_stores[] = {
    {"local", CONFIG_STORE_LOCAL},
    {"memcached", CONFIG_STORE_MEMCACHED},
    {NULL, 0},
};

/* ---- top level, log, tls --------------------------------------------------------------- */

/*
 * pidfile: "" (the default) means none.  The file is written only once
 * start-up is complete, so what can be checked now is checked here: the
 * name is not a folder, and its folder exists and this process may create
 * files in it.
 */
static int
load_pidfile(const struct config_section *sec)
{
    struct config_loader *ld = sec->ld;
    struct config *cfg = ld->cfg;
    const char *text;
    config_setting_t *s;
    struct stat st;
    char *dir;
    int rc = -1;

    if (config_section_peek_string(sec, "pidfile", "", &text, &s) < 0) {
        return -1;
    }
    if (text[0] == '\0') {
        return 0;
    }
    if (text[strlen(text) - 1] == '/') {
        return config_section_fail(ld, s, "'pidfile' = \"%s\" names a folder, not a file", text);
    }
    if (config_section_resolve_path(ld, s, text, &cfg->pidfile) < 0) {
        return -1;
    }
    if (stat(cfg->pidfile, &st) == 0 && !S_ISREG(st.st_mode)) {
        return config_section_fail(ld, s, "pidfile '%s' exists and is not a regular file",
                                   cfg->pidfile);
    }
    /* Its folder: everything before the last '/' (the path is absolute). */
    size_t len = (size_t)(strrchr(cfg->pidfile, '/') - cfg->pidfile);
    dir = len == 0 ? strdup("/") : strndup(cfg->pidfile, len);
    if (dir == NULL) {
        return config_section_fail(ld, s, "out of memory");
    }
    if (stat(dir, &st) < 0) {
        config_section_fail(ld, s, "pidfile '%s': folder '%s': %s", cfg->pidfile, dir,
                            strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        config_section_fail(ld, s, "pidfile '%s': '%s' is not a folder", cfg->pidfile, dir);
    } else if (access(dir, W_OK | X_OK) < 0) {
        config_section_fail(ld, s, "pidfile '%s': cannot create files in folder '%s': %s",
                            cfg->pidfile, dir, strerror(errno));
    } else {
        rc = 0;
    }
    free(dir);
    return rc;
}

/*
 * `user` and `group`, looked up in the password and group databases now, so
 * that a name that does not exist is an error with its line (and not a
 * surprise after start-up).  `group` without `user` is refused: dropping the
 * group alone would leave the process root.
 */
static int
load_run_as(const struct config_section *sec)
{
    struct config_loader *ld = sec->ld;
    struct config *cfg = ld->cfg;
    config_setting_t *user_s;
    config_setting_t *group_s;
    const char *user;
    const char *group;
    struct passwd *pw;
    struct group *gr;

    if (config_section_peek_string(sec, "user", NULL, &user, &user_s) < 0 ||
        config_section_peek_string(sec, "group", NULL, &group, &group_s) < 0) {
        return -1;
    }
    if (user == NULL) {
        if (group != NULL) {
            return config_section_fail(ld, group_s, "'group' needs 'user'");
        }
        return 0;
    }
    if (user[0] == '\0') {
        return config_section_fail(ld, user_s, "'user' must not be empty");
    }
    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        return config_section_fail(ld, user_s, "'user' = \"%s\": no such user%s%s", user,
                                   errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
    }
    cfg->run_as.uid = pw->pw_uid;
    cfg->run_as.gid = pw->pw_gid;
    if (config_section_strdup(ld, user_s, user, &cfg->run_as.user) < 0) {
        return -1;
    }
    if (group != NULL) {
        if (group[0] == '\0') {
            return config_section_fail(ld, group_s, "'group' must not be empty");
        }
        errno = 0;
        gr = getgrnam(group);
        if (gr == NULL) {
            return config_section_fail(ld, group_s, "'group' = \"%s\": no such group%s%s", group,
                                       errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
        }
        cfg->run_as.gid = gr->gr_gid;
        return config_section_strdup(ld, group_s, group, &cfg->run_as.group);
    }
    gr = getgrgid(cfg->run_as.gid);
    if (gr != NULL) {
        return config_section_strdup(ld, user_s, gr->gr_name, &cfg->run_as.group);
    }
    if (asprintf(&cfg->run_as.group, "%lu", (unsigned long)cfg->run_as.gid) < 0) {
        cfg->run_as.group = NULL;
        return config_section_fail(ld, user_s, "out of memory");
    }
    return 0;
}

static int
load_top(struct config_loader *ld)
{
    struct config_section sec = {ld, ld->root, ""};
    struct config *cfg = ld->cfg;

    if (config_section_check_keys(&sec, config_root_keys) < 0 ||
        config_section_get_uint(&sec, "workers", 0, CONFIG_MAX_WORKERS, 0, &cfg->workers) < 0 ||
        config_section_get_uint(&sec, "max_connections", 0, CONFIG_MAX_CONNECTIONS, 0,
                                &cfg->max_connections) < 0 ||
        load_pidfile(&sec) < 0) {
        return -1;
    }
    if (cfg->workers == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);

        cfg->workers =
            online < 1 ? 1u : (online > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (unsigned)online);
    }
    return load_run_as(&sec);
}

static int
load_log(struct config_loader *ld)
{
    struct config_section sec;

    if (config_section_open(ld, "log", config_log_keys, &sec) < 0 ||
        config_section_get_choice(&sec, "level", config_log_levels, LOG_LVL_INFO,
                                  &ld->cfg->log.level) < 0 ||
        config_section_get_bool(&sec, "syslog", false, &ld->cfg->log.syslog) < 0) {
        return -1;
    }
    return 0;
}

/*
 * Apply ciphers, ciphersuites and groups to a throwaway SSL_CTX so that a
 * value OpenSSL would refuse at start-up is refused here, with a line.
 */
static int
load_tls_check(const struct config_section *sec)
{
    struct config_loader *ld = sec->ld;
    struct config *cfg = ld->cfg;
    SSL_CTX *ctx;
    char *names = NULL;
    int rc = -1;

    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        config_section_fail(ld, config_section_anchor(sec),
                            "cannot create an SSL_CTX to check the TLS settings");
        goto fail;
    }

    ERR_clear_error();
    if (SSL_CTX_set_cipher_list(ctx, cfg->tls.ciphers) != 1) {
        config_section_fail(ld, config_section_where(sec, "ciphers"),
                            "'tls.ciphers' = \"%s\" selects no cipher OpenSSL knows",
                            cfg->tls.ciphers);
        goto fail;
    }

    /*
     * OpenSSL 3.0 silently skips unknown TLS 1.3 suite names as long as one
     * is known, so each name is tried on its own to catch a typo.
     */
    names = strdup(cfg->tls.ciphersuites);
    if (names == NULL) {
        config_section_fail(ld, config_section_where(sec, "ciphersuites"), "out of memory");
        goto fail;
    }
    for (char *save = NULL, *one = strtok_r(names, ":", &save); one != NULL;
         one = strtok_r(NULL, ":", &save)) {
        ERR_clear_error();
        if (SSL_CTX_set_ciphersuites(ctx, one) != 1) {
            config_section_fail(ld, config_section_where(sec, "ciphersuites"),
                                "'tls.ciphersuites': unknown TLS 1.3 ciphersuite '%s'", one);
            goto fail;
        }
    }
    ERR_clear_error();
    if (SSL_CTX_set_ciphersuites(ctx, cfg->tls.ciphersuites) != 1) {
        config_section_fail(ld, config_section_where(sec, "ciphersuites"),
                            "'tls.ciphersuites' = \"%s\" is refused", cfg->tls.ciphersuites);
        goto fail;
    }
    if (cfg->tls.ciphersuites[0] == '\0' && cfg->tls.min_version == TLS1_3_VERSION) {
        config_section_fail(ld, config_section_where(sec, "ciphersuites"),
                            "'tls.ciphersuites' is empty but 'tls.min_version' is \"TLSv1.3\"");
        goto fail;
    }

    ERR_clear_error();
    if (SSL_CTX_set1_groups_list(ctx, cfg->tls.groups) != 1) {
        config_section_fail(ld, config_section_where(sec, "groups"),
                            "'tls.groups' = \"%s\" names a group OpenSSL does not know",
                            cfg->tls.groups);
        goto fail;
    }
    rc = 0;
fail:
    ERR_clear_error();
    free(names);
    SSL_CTX_free(ctx);
    return rc;
}

static int
load_tls(struct config_loader *ld)
{
    struct config *cfg = ld->cfg;
    struct config_section sec;

    if (config_section_open(ld, "tls", config_tls_keys, &sec) < 0 ||
        config_section_get_choice(&sec, "min_version", config_tls_versions, TLS1_2_VERSION,
                                  &cfg->tls.min_version) < 0 ||
        config_section_get_string(&sec, "ciphers", CONFIG_DEFAULT_CIPHERS, &cfg->tls.ciphers) < 0 ||
        config_section_get_string(&sec, "ciphersuites", CONFIG_DEFAULT_CIPHERSUITES,
                                  &cfg->tls.ciphersuites) < 0 ||
        config_section_get_string(&sec, "groups", CONFIG_DEFAULT_GROUPS, &cfg->tls.groups) < 0 ||
        config_section_get_bool(&sec, "early_data", false, &cfg->tls.early_data) < 0 ||
        config_section_get_uint(&sec, "max_early_data", 1, CONFIG_MAX_EARLY_DATA,
                                CONFIG_MAX_EARLY_DATA, &cfg->tls.max_early_data) < 0 ||
        config_section_get_uint(&sec, "early_data_window", 1, CONFIG_MAX_EARLY_DATA_WINDOW,
                                CONFIG_DEFAULT_EARLY_DATA_WINDOW,
                                &cfg->tls.early_data_window) < 0) {
        return -1;
    }
    return load_tls_check(&sec);
}

/* ---- OCSP stapling ---------------------------------------------------------------------- */

/*
 * The top-level `ocsp` group, read before the frontends so that a
 * certificate's ocsp = "auto" can say at its own line that `cache` is
 * missing.  The cache folder must exist and be writable (the fetcher writes
 * one file per certificate there).
 */
static int
load_ocsp(struct config_loader *ld)
{
    struct config *cfg = ld->cfg;
    struct config_section sec;
    config_setting_t *cache_s;
    const char *cache;
    struct stat st;

    if (config_section_open(ld, "ocsp", config_ocsp_keys, &sec) < 0 ||
        config_section_get_uint(&sec, "timeout", 1, 60, 5, &cfg->ocsp.timeout) < 0 ||
        config_section_peek_string(&sec, "cache", NULL, &cache, &cache_s) < 0) {
        return -1;
    }
    if (cache == NULL) {
        return 0;
    }
    if (cache[0] == '\0') {
        return config_section_fail(ld, cache_s, "'ocsp.cache' must not be empty");
    }
    if (config_section_resolve_path(ld, cache_s, cache, &cfg->ocsp.cache) < 0) {
        return -1;
    }
    if (stat(cfg->ocsp.cache, &st) < 0) {
        return config_section_fail(ld, cache_s, "'ocsp.cache' = \"%s\": %s", cfg->ocsp.cache,
                                   strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return config_section_fail(ld, cache_s, "'ocsp.cache' = \"%s\" is not a folder",
                                   cfg->ocsp.cache);
    }
    if (access(cfg->ocsp.cache, W_OK | X_OK) < 0) {
        return config_section_fail(ld, cache_s, "'ocsp.cache': cannot create files in \"%s\": %s",
                                   cfg->ocsp.cache, strerror(errno));
    }
    return 0;
}

/* ---- sessions, tickets, memcached -------------------------------------------------------- */

static int
load_sessions(struct config_loader *ld, struct config_section *sec)
{
    struct config *cfg = ld->cfg;
    int store;

    if (config_section_open(ld, "sessions", config_sessions_keys, sec) < 0 ||
        config_section_get_choice(sec, "store", config_stores, CONFIG_STORE_LOCAL, &store) < 0 ||
        config_section_get_uint(sec, "lifetime", 1, 604800, CONFIG_DEFAULT_LIFETIME,
                                &cfg->sessions.lifetime) < 0 ||
        config_section_get_bool(sec, "tickets", true, &cfg->sessions.tickets) < 0) {
        return -1;
    }
    cfg->sessions.store = (enum config_store)store;
    /* The single-use record of early data must be seen by every instance;
     * an in-process one would let each instance accept the same early data
     * once (design.md "Early data": fail closed). */
    if (cfg->tls.early_data && cfg->sessions.store != CONFIG_STORE_MEMCACHED) {
        return config_section_fail(ld, config_setting_lookup(ld->root, "tls.early_data"),
                                   "'tls.early_data' needs 'sessions.store' = \"memcached\" "
                                   "(early data is accepted once cluster-wide, recorded there)");
    }
    return 0;
}

/*
 * tickets.*, then the design's two cross checks: a ticket must never outlive
 * the key that encrypts it, and refreshes must come often enough that every
 * instance learns the next epoch's key well before it is used.
 */
static int
load_tickets(struct config_loader *ld, const struct config_section *sessions)
{
    struct config *cfg = ld->cfg;
    unsigned long long window;
    struct config_section sec;
    const config_setting_t *where;

    if (config_section_open(ld, "tickets", config_tickets_keys, &sec) < 0 ||
        config_section_get_uint(&sec, "rotate", 4, 604800, 3600, &cfg->tickets.rotate) < 0 ||
        config_section_get_uint(&sec, "keep", 0, KEYRING_KEEP_MAX, 18, &cfg->tickets.keep) < 0 ||
        config_section_get_uint(&sec, "refresh", 1, 3600, 10, &cfg->tickets.refresh) < 0) {
        return -1;
    }

    window = (unsigned long long)cfg->tickets.keep * cfg->tickets.rotate;
    if (window < cfg->sessions.lifetime) {
        where = config_section_member(&sec, "keep");
        if (where == NULL) {
            where = sec.group;
        }
        if (where == NULL) {
            where = config_section_member(sessions, "lifetime");
        }
        return config_section_fail(
            ld, where,
            "'tickets.keep' * 'tickets.rotate' = %u * %u = %llu s is shorter than "
            "'sessions.lifetime' = %u s: tickets would outlive their keys",
            cfg->tickets.keep, cfg->tickets.rotate, window, cfg->sessions.lifetime);
    }
    if (cfg->tickets.refresh > cfg->tickets.rotate / 4) {
        where = config_section_member(&sec, "refresh");
        if (where == NULL) {
            where = config_section_anchor(&sec);
        }
        return config_section_fail(
            ld, where, "'tickets.refresh' = %u must be at most 'tickets.rotate' / 4 = %u",
            cfg->tickets.refresh, cfg->tickets.rotate / 4);
    }
    return 0;
}

/* "host:port" or "[v6]:port" for libmemcached: the form only, no lookup. */
static const char *
load_server_why(const char *text)
{
    const char *port;
    size_t hostlen;
    unsigned value = 0;

    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL || close == text + 1 || close[1] != ':') {
            return "expected \"[address]:port\"";
        }
        for (const char *p = text + 1; p < close; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')) {
                return "not an IPv6 address inside [ ]";
            }
        }
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');

        if (colon == NULL) {
            return "missing port (expected \"host:port\")";
        }
        hostlen = (size_t)(colon - text);
        if (hostlen == 0) {
            return "missing host (expected \"host:port\")";
        }
        for (size_t i = 0; i < hostlen; i++) {
            char c = text[i];

            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_')) {
                return "bad host (expected \"host:port\"; IPv6 needs \"[address]:port\")";
            }
        }
        port = colon + 1;
    }
    if (*port == '\0') {
        return "missing port";
    }
    for (const char *p = port; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || p - port >= 5) {
            return "port must be a number from 1 to 65535";
        }
        value = value * 10 + (unsigned)(*p - '0');
    }
    if (value < 1 || value > 65535) {
        return "port must be a number from 1 to 65535";
    }
    return NULL;
}

/* A secret file must hold 64 hex digits and be private to its owner. */
static int
load_check_secret(struct config_loader *ld, const config_setting_t *s, const char *label,
                  const char *path)
{
    unsigned char secret[SEAL_SECRET_LEN];
    char why[128] = "";
    int rc = seal_read_secret_file(path, secret, why, sizeof(why));

    OPENSSL_cleanse(secret, sizeof(secret));
    if (rc < 0) {
        return config_section_fail(ld, s, "%s '%s' %s", label, path,
                                   rc == -EINVAL ? "must hold 64 hex digits (tessera --gen-secret)"
                                                 : why);
    }
    return 0;
}

/*
 * memcached.options is passed to libmemcached after the settings tessera
 * makes itself; an option that would override them (the servers, a
 * namespace that changes every key, the timeouts that bound a handshake's
 * wait, the distribution every instance must share) is refused.
 */
static int
load_memcached_options(struct config_loader *ld, const config_setting_t *s, const char *options)
{
    static const char *const ours[] = {
        "--SERVER",       "--SOCKET",      "--NAMESPACE",      "--CONNECT-TIMEOUT",
        "--POLL-TIMEOUT", "--RCV-TIMEOUT", "--SND-TIMEOUT",    "--RETRY-TIMEOUT",
        "--DISTRIBUTION", "--HASH",        "--CONFIGURE-FILE",
    };
    char why[256] = "";

    if (options[0] == '\0') {
        return 0;
    }
    for (const char *p = options; (p = strstr(p, "--")) != NULL; p += 2) {
        for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
            size_t n = strlen(ours[i]);
            if (strncasecmp(p, ours[i], n) == 0 && (p[n] == '=' || p[n] == ' ' || p[n] == '\0')) {
                return config_section_fail(
                    ld, s,
                    "'memcached.options' must not set %s: tessera sets it from "
                    "memcached.servers, prefix and timeout_ms",
                    ours[i]);
            }
        }
    }
    /* libmemcached's own message carries addresses and source paths. */
    if (libmemcached_check_configuration(options, strlen(options), why, sizeof(why)) !=
        MEMCACHED_SUCCESS) {
        return config_section_fail(ld, s,
                                   "'memcached.options' is not a valid libmemcached option string "
                                   "(libmemcached_configuration(3))");
    }
    return 0;
}

static int
load_memcached(struct config_loader *ld, const struct config_section *sessions)
{
    struct config *cfg = ld->cfg;
    bool needed = cfg->sessions.store == CONFIG_STORE_MEMCACHED;
    config_setting_t *servers_s;
    config_setting_t *secret_s;
    config_setting_t *old_s;
    config_setting_t *prefix_s;
    const char *secret;
    const char *anchor_note;
    const config_setting_t *anchor;
    struct config_section sec;

    if (config_section_open(ld, "memcached", config_memcached_keys, &sec) < 0 ||
        config_section_get_strings(&sec, "servers", &cfg->memcached.servers,
                                   &cfg->memcached.nservers, &servers_s) < 0 ||
        config_section_get_string(&sec, "options", "", &cfg->memcached.options) < 0 ||
        config_section_get_string(&sec, "prefix", CONFIG_DEFAULT_PREFIX, &cfg->memcached.prefix) <
            0 ||
        config_section_get_uint(&sec, "timeout_ms", 1, 60000, 50, &cfg->memcached.timeout_ms) < 0 ||
        config_section_peek_string(&sec, "secret_file", NULL, &secret, &secret_s) < 0 ||
        config_section_get_strings(&sec, "old_secret_files", &cfg->memcached.old_secret_files,
                                   &cfg->memcached.nold_secret_files, &old_s) < 0) {
        return -1;
    }

    /* Without a memcached group the store line says why one is needed. */
    anchor = sec.group != NULL ? sec.group : config_section_member(sessions, "store");
    anchor_note = " when 'sessions.store' is \"memcached\"";

    for (size_t i = 0; i < cfg->memcached.nservers; i++) {
        const char *why = load_server_why(cfg->memcached.servers[i]);

        if (why != NULL) {
            return config_section_fail(ld, config_setting_get_elem(servers_s, (unsigned)i),
                                       "'memcached.servers' entry \"%s\": %s",
                                       cfg->memcached.servers[i], why);
        }
    }
    if (needed && cfg->memcached.nservers == 0) {
        return config_section_fail(ld, servers_s != NULL ? servers_s : anchor,
                                   "'memcached.servers' must list at least one server%s",
                                   anchor_note);
    }
    if (load_memcached_options(ld, config_section_member(&sec, "options"), cfg->memcached.options) <
        0) {
        return -1;
    }

    /* memcached keys are at most 250 bytes with no spaces or control bytes. */
    prefix_s = config_section_member(&sec, "prefix");
    if (strlen(cfg->memcached.prefix) > CONFIG_MAX_PREFIX) {
        return config_section_fail(ld, prefix_s, "'memcached.prefix' is longer than %d characters",
                                   CONFIG_MAX_PREFIX);
    }
    for (const char *p = cfg->memcached.prefix; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if (c <= 0x20 || c == 0x7f) {
            return config_section_fail(
                ld, prefix_s, "'memcached.prefix' must not contain spaces or control characters");
        }
    }

    if (secret != NULL) {
        if (secret[0] == '\0') {
            return config_section_fail(ld, secret_s, "'memcached.secret_file' must not be empty");
        }
        if (config_section_resolve_path(ld, secret_s, secret, &cfg->memcached.secret_file) < 0 ||
            config_files_readable(ld, secret_s, "secret file", cfg->memcached.secret_file) < 0 ||
            load_check_secret(ld, secret_s, "secret file", cfg->memcached.secret_file) < 0) {
            return -1;
        }
    } else if (needed) {
        return config_section_fail(ld, anchor, "'memcached.secret_file' is required%s",
                                   anchor_note);
    }

    for (size_t i = 0; i < cfg->memcached.nold_secret_files; i++) {
        config_setting_t *e = config_setting_get_elem(old_s, (unsigned)i);
        char *resolved;

        if (cfg->memcached.old_secret_files[i][0] == '\0') {
            return config_section_fail(ld, e,
                                       "'memcached.old_secret_files' entries must not be empty");
        }
        if (config_section_resolve_path(ld, e, cfg->memcached.old_secret_files[i], &resolved) < 0) {
            return -1;
        }
        free(cfg->memcached.old_secret_files[i]);
        cfg->memcached.old_secret_files[i] = resolved;
        if (config_files_readable(ld, e, "old secret file", resolved) < 0 ||
            load_check_secret(ld, e, "old secret file", resolved) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- admin, timeouts --------------------------------------------------------------------- */

static int
load_admin(struct config_loader *ld)
{
    struct config *cfg = ld->cfg;
    config_setting_t *listen_s;
    config_setting_t *allow_s;
    config_setting_t *token_s;
    const char *token;
    const char *why;
    struct config_section sec;

    if (config_section_open(ld, "admin", config_admin_keys, &sec) < 0 ||
        config_section_get_string(&sec, "listen", CONFIG_DEFAULT_ADMIN, &cfg->admin.listen_text) <
            0 ||
        config_section_get_cidrs(&sec, "allow", &cfg->admin.allow, &cfg->admin.nallow, &allow_s) <
            0 ||
        config_section_peek_string(&sec, "token_file", "", &token, &token_s) < 0) {
        return -1;
    }
    /* "" (the default): no key operations.  The token is read like the
     * cluster secret, and only its digest is kept (token.h). */
    if (token[0] != '\0') {
        char twhy[160] = "";
        int rc;

        if (config_section_resolve_path(ld, token_s, token, &cfg->admin.token_file) < 0 ||
            config_files_readable(ld, token_s, "token file", cfg->admin.token_file) < 0) {
            return -1;
        }
        rc = token_read_file(cfg->admin.token_file, cfg->admin.token_digest, twhy, sizeof(twhy));
        if (rc < 0) {
            return config_section_fail(ld, token_s, "token file '%s' %s", cfg->admin.token_file,
                                       twhy);
        }
        cfg->admin.has_token = true;
    }
    listen_s = config_section_member(&sec, "listen");

    cfg->admin.enabled = cfg->admin.listen_text[0] != '\0';
    if (cfg->admin.enabled) {
        if (addr_parse(cfg->admin.listen_text, false, &cfg->admin.listen, &why) < 0) {
            return config_section_fail(ld, listen_s, "'admin.listen' = \"%s\": %s",
                                       cfg->admin.listen_text, why);
        }
        /* The endpoint is unauthenticated: off loopback, say who may reach it. */
        if (!addr_is_loopback(&cfg->admin.listen) && cfg->admin.nallow == 0) {
            return config_section_fail(ld, listen_s,
                                       "admin.listen is not loopback: admin.allow is required");
        }
    }
    return 0;
}

static int
load_timeouts(struct config_loader *ld)
{
    struct config *cfg = ld->cfg;
    struct config_section sec;

    if (config_section_open(ld, "timeouts", config_timeouts_keys, &sec) < 0 ||
        config_section_get_uint(&sec, "handshake", 1, 3600, 10, &cfg->timeouts.handshake) < 0 ||
        config_section_get_uint(&sec, "connect", 1, 3600, 5, &cfg->timeouts.connect) < 0 ||
        config_section_get_uint(&sec, "idle", 1, 86400, 300, &cfg->timeouts.idle) < 0 ||
        config_section_get_uint(&sec, "shutdown", 0, 3600, 30, &cfg->timeouts.shutdown) < 0) {
        return -1;
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------------------------ */

int
config_load(const char *path, struct config **out, struct err *err)
{
    struct config_loader ld = {.path = path, .err = err};
    struct config_section sessions;
    config_t lc;
    int rc = -1;

    config_init(&lc);
    ld.cfg = calloc(1, sizeof(*ld.cfg));
    if (ld.cfg == NULL) {
        err_set(err, "%s: out of memory", path);
        goto fail;
    }
    if (config_section_read_file(&ld, &lc) < 0) {
        goto fail;
    }
    ld.cfg->path = strdup(path);
    ld.cfg->dir = strdup(ld.dir);
    if (ld.cfg->path == NULL || ld.cfg->dir == NULL) {
        err_set(err, "%s: out of memory", path);
        goto fail;
    }
    if (load_top(&ld) < 0 || load_log(&ld) < 0 || load_tls(&ld) < 0 || load_ocsp(&ld) < 0 ||
        config_frontend_load_all(&ld) < 0 || load_sessions(&ld, &sessions) < 0 ||
        load_tickets(&ld, &sessions) < 0 || load_memcached(&ld, &sessions) < 0 ||
        load_admin(&ld) < 0 || load_timeouts(&ld) < 0) {
        goto fail;
    }

    *out = ld.cfg;
    ld.cfg = NULL;
    rc = 0;
fail:
    free(ld.dir);
    config_free(ld.cfg);
    config_destroy(&lc);
    return rc;
}

static void
config_free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

void
config_free(struct config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->nfrontends; i++) {
        config_frontend_free(&cfg->frontends[i]);
    }
    free(cfg->frontends);
    free(cfg->tls.ciphers);
    free(cfg->tls.ciphersuites);
    free(cfg->tls.groups);
    config_free_strings(cfg->memcached.servers, cfg->memcached.nservers);
    free(cfg->memcached.options);
    free(cfg->memcached.prefix);
    free(cfg->memcached.secret_file);
    config_free_strings(cfg->memcached.old_secret_files, cfg->memcached.nold_secret_files);
    free(cfg->admin.listen_text);
    free(cfg->admin.allow);
    free(cfg->admin.token_file);
    OPENSSL_cleanse(cfg->admin.token_digest, sizeof(cfg->admin.token_digest));
    free(cfg->pidfile);
    free(cfg->ocsp.cache);
    free(cfg->run_as.user);
    free(cfg->run_as.group);
    for (size_t i = 0; i < cfg->nfiles; i++) {
        free(cfg->files[i].path);
        free(cfg->files[i].place);
    }
    free(cfg->files);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}
