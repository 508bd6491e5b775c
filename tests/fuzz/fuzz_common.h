/*
 * fuzz_common.h - what the libFuzzer harnesses share: a scratch folder with
 * certificates and cluster secrets, configurations loaded from text, a fixed
 * keyring, and a "world" (configuration, SSL_CTXs from tlsctx.c, session
 * store, keyring copy, the handshake environment a worker would give) in
 * which tessera's OpenSSL callbacks run on memory BIOs, without a socket, a
 * loop pass or a thread.  A server SSL is linked to a struct handshake
 * (handshake.h) as conn.c links it.
 *
 * Thread: the fuzzer's only thread.  Everything made here lives until the
 * process exits; the scratch folder is removed then.
 */
#ifndef TESSERA_FUZZ_COMMON_H
#define TESSERA_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "config.h"
#include "handshake.h"
#include "keyring.h"
#include "seal.h"
#include "stats.h"

/* libFuzzer's entry points (declared for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The unix time the harnesses pretend it is where they pass one in. */
#define FUZZ_NOW 1700000000

/* The cluster secrets: the current one and an old one (rollover). */
extern const unsigned char fuzz_secret[SEAL_SECRET_LEN];
extern const unsigned char fuzz_old_secret[SEAL_SECRET_LEN];

/*
 * The scratch folder, made at the first call, with fixed test files:
 * ec.pem/ec.key (P-256, names localhost and www.example.com), rsa.pem and
 * rsa.key (RSA-2048, same names), sni.pem (P-256 for *.example.org, the key
 * in the same file), other.key (a key that matches nothing), secret.hex and
 * old.hex (mode 0600), open.hex (mode 0644: refused).
 */
const char *fuzz_dir(void);
/* Write `len` bytes to fuzz_dir()/name; aborts on failure. */
void fuzz_write(const char *name, const void *data, size_t len);
/* config_load() of `text`, written to fuzz_dir()/name; aborts on failure. */
struct config *fuzz_config(const char *name, const char *text);

/* A seal whose current secret is fuzz_secret (old: fuzz_old_secret), or,
 * with `as_old`, one that seals with fuzz_old_secret. */
struct seal *fuzz_seal_new(bool as_old);

/* Fill `r` (keyring_init done) with fixed keys for epochs around `now`:
 * whatever the time, the same names play the same roles. */
void fuzz_ring_fill(struct keyring *r, time_t now);

/* What tessera's callbacks find through their handshake. */
struct fuzz_world {
    struct config *cfg;
    struct tlsctx *tls;
    struct sessions *sessions;
    struct keyring *ring;
    struct stats *stats; /* one per frontend */
    struct handshake_env env;
};

/* A world over the configuration `text` (its first frontend).  Aborts on
 * failure: a harness that cannot build its world is broken. */
struct fuzz_world *fuzz_world_new(const char *name, const char *text);

/* The configuration of the worlds: one frontend with three certificates in
 * two groups (SNI), ALPN h2 and http/1.1; `store` and `tickets` vary. */
const char *fuzz_world_config(const char *store, bool tickets);

/* A server SSL of the world on memory BIOs, linked to a struct handshake as
 * conn.c would link it; fuzz_server_free() frees both. */
SSL *fuzz_server_new(struct fuzz_world *fw);
void fuzz_server_free(SSL *ssl);
/* Hand `len` client bytes to the server and step its handshake until it
 * stops moving; what it writes is dropped.  Returns SSL_do_handshake's last
 * result. */
int fuzz_server_feed(SSL *ssl, const unsigned char *data, size_t len);

/* A client context (no verification) allowing TLS 1.2 .. max_version. */
SSL_CTX *fuzz_client_ctx(int max_version);
/* A client SSL of `ctx` on memory BIOs. */
SSL *fuzz_client_new(SSL_CTX *ctx);
/*
 * Run a handshake between client and server (both on memory BIOs) and
 * read what the server sends after it (tickets).  The bytes the client
 * sent are appended to `sent` (capacity `cap`, *sentlen updated) when
 * `sent` is not NULL.  Returns true if both sides completed.
 */
bool fuzz_handshake(SSL *client, SSL *server, unsigned char *sent, size_t cap, size_t *sentlen);

/*
 * Seeds: when TESSERA_FUZZ_WRITE_SEEDS names a folder, a harness's
 * LLVMFuzzerInitialize writes its generated seeds there (fuzz_seed) and
 * exits (scripts/fuzz --make-seeds).  NULL otherwise.
 */
const char *fuzz_seed_dir(void);
/* In LLVMFuzzerInitialize: when seeds are asked for, run write_seeds (NULL:
 * the target's seeds are written by hand) and exit; otherwise return. */
void fuzz_seeds_or_go_on(void (*write_seeds)(void));
void fuzz_seed(const char *name, const void *a, size_t alen, const void *b, size_t blen);

#endif
