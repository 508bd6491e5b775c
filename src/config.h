/*
 * config.h - the configuration file (libconfig syntax) turned into a
 * validated, immutable struct config.
 *
 * Main thread loads it; afterwards it is read-only and any thread may read
 * it.  Every string and array belongs to the struct config and is released
 * by config_free().  Errors name FILE:LINE (see struct err).
 */
#ifndef TESSERA_CONFIG_H
#define TESSERA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "addr.h"
#include "err.h"

struct config_cert {
    char *cert; /* absolute or relative to the working directory, resolved */
    char *key;  /* same file as cert when the key lives there */
    int line;
    /* `ocsp`: a DER response file (resolved; NULL: none), or "auto". */
    char *ocsp_file;
    bool ocsp_auto;
};

/* frontends[].client_verify: what is asked of a client's certificate. */
enum config_client_verify {
    CONFIG_CLIENT_VERIFY_NONE = 0, /* no CertificateRequest */
    CONFIG_CLIENT_VERIFY_OPTIONAL, /* asked for; none is fine, a bad one fails the handshake */
    CONFIG_CLIENT_VERIFY_REQUIRED, /* a certificate that verifies, or no handshake */
};

/* What tessera tells the backend ahead of the client's bytes. */
enum config_proxy {
    CONFIG_PROXY_OFF = 0,
    CONFIG_PROXY_V1, /* the PROXY protocol's text line */
    CONFIG_PROXY_V2, /* binary, with the ALPN, AUTHORITY and SSL TLVs */
};

struct config_frontend {
    char *name;
    char *listen_text;
    struct addr listen;
    char *backend_text;
    struct addr backend;
    struct config_cert *certs;
    size_t ncerts;
    char **alpn;
    size_t nalpn;
    int proxy_protocol; /* enum config_proxy */
    /* accept_proxy: a PROXY v1/v2 header must come first, and only from
     * proxy_from (never empty then). */
    bool accept_proxy;
    /* The operator says the backend tolerates early data without being
     * told (no PROXY v2 TLV): early data is offered on this frontend only
     * with proxy_protocol = "v2" or with this set. */
    bool backend_idempotent;
    struct cidr *proxy_from;
    size_t nproxy_from;
    int line;
    /* Client certificates: client_ca and client_crl are resolved paths (NULL
     * when not set; client_ca is set iff client_verify is not NONE), with the
     * line of the setting for errors found when the contexts are built. */
    enum config_client_verify client_verify;
    char *client_ca;
    char *client_crl;
    int client_ca_line;
    int client_crl_line;
};

/* A file the configuration names and tessera reads (at start-up and, as
 * the configured user, on reload). */
struct config_file {
    char *path;       /* resolved */
    char *place;      /* "FILE:LINE" of the setting that names it */
    const char *what; /* "certificate file", "key file", ... (a string literal) */
};

enum config_store {
    CONFIG_STORE_LOCAL = 0,
    CONFIG_STORE_MEMCACHED,
};

struct config {
    char *path; /* the file as given */
    char *dir;  /* its folder: relative paths resolve against it */

    unsigned workers;         /* 0 in the file means "online CPUs"; resolved by config_load */
    unsigned max_connections; /* 0: as many as RLIMIT_NOFILE allows */
    char *pidfile;            /* absolute; NULL: none */

    /* `user` and `group`: who tessera becomes once every listener is bound
     * and every key and secret read (privs.c).  user == NULL: nobody to
     * become.  Resolved when the file is loaded; group defaults to the
     * user's primary group. */
    struct {
        char *user;
        char *group;
        uid_t uid;
        gid_t gid;
    } run_as;

    /* Every file named by a setting (certificates, keys, secrets), once. */
    struct config_file *files;
    size_t nfiles;

    struct {
        int level; /* enum log_level */
        bool syslog;
    } log;

    struct {
        int min_version; /* TLS1_2_VERSION or TLS1_3_VERSION */
        char *ciphers;
        char *ciphersuites;
        char *groups;
        /* TLS 1.3 0-RTT (earlydata.h): accepted at most once cluster-wide,
         * only from tickets younger than early_data_window seconds. */
        bool early_data;
        unsigned max_early_data;    /* bytes, also the most a rejected client may send */
        unsigned early_data_window; /* seconds: the freshness window and the record's TTL */
    } tls;

    struct config_frontend *frontends;
    size_t nfrontends;

    struct {
        enum config_store store;
        unsigned lifetime;
        bool tickets;
    } sessions;

    struct {
        unsigned rotate;
        unsigned keep;
        unsigned refresh;
    } tickets;

    struct {
        char **servers;
        size_t nservers;
        char *options;
        char *prefix;
        unsigned timeout_ms;
        char *secret_file;
        char **old_secret_files;
        size_t nold_secret_files;
    } memcached;

    struct {
        char *listen_text; /* "" disables the endpoint */
        bool enabled;
        struct addr listen;
        struct cidr *allow;
        size_t nallow;
        char *token_file; /* NULL: no write operations (POST answers 405) */
        bool has_token;
        unsigned char token_digest[32]; /* SHA-256 of the token (token.h), never the token */
    } admin;

    /* `ocsp`: where fetched responses are cached (required when a
     * certificate says ocsp = "auto"), and how long one fetch may take. */
    struct {
        char *cache; /* absolute; NULL: none */
        unsigned timeout;
    } ocsp;

    struct {
        unsigned handshake;
        unsigned connect;
        unsigned idle;
        unsigned shutdown;
    } timeouts;
};

/* Defaults (design.md). */
#define CONFIG_DEFAULT_CIPHERS                                                                     \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"       \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define CONFIG_DEFAULT_CIPHERSUITES                                                                \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define CONFIG_DEFAULT_GROUPS "X25519:P-256:P-384"
/* tls.max_early_data: at most one relay buffer (16 KiB); the default. */
#define CONFIG_MAX_EARLY_DATA 16384
/* tls.early_data_window: seconds, default and bound. */
#define CONFIG_DEFAULT_EARLY_DATA_WINDOW 10
#define CONFIG_MAX_EARLY_DATA_WINDOW     60

/*
 * Read and validate `path`.  On success returns 0 and *out owns a new
 * config.  On failure returns -1, *out is untouched and err holds
 * "FILE:LINE: what" (the line of the offending setting; the line of its
 * enclosing group when a required key is missing).
 */
int config_load(const char *path, struct config **out, struct err *err);
void config_free(struct config *cfg);

#endif
