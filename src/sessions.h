/*
 * sessions.h - the server-side session cache: OpenSSL's callbacks over two
 * levels, the process-wide in-process store and (with sessions.store =
 * "memcached") the sealed entries in memcached shared by the cluster.
 *
 * sessions_new/sessions_free/sessions_setup_ctx run on the main thread;
 * everything else on workers.  A lookup that must ask memcached parks only
 * its own handshake (handshake.h); this module owns the wait: the lookup's
 * state hangs on the SSL, its timer (memcached.timeout_ms) runs on the
 * worker's loop, and its answer comes back from the worker's own memcached
 * connection or through its mailbox (sessions_on_reply).
 */
#ifndef TESSERA_SESSIONS_H
#define TESSERA_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config.h"

/* Capacity of the in-process store (sessions). */
#define SESSIONS_LOCAL_CAPACITY 20480
#define SESSIONS_INSTANCE_LEN   16

struct handshake_env;
struct mc;
struct mc_req;
struct seal;
struct sessions_local;

/* Process-wide and read-only after start-up (the store locks itself). */
struct sessions {
    unsigned magic;
#define SESSIONS_MAGIC 0x53455353u
    const struct config *cfg;
    struct sessions_local *local;
    struct mc *mc;                                 /* NULL unless sessions.store = "memcached" */
    struct seal *seal;                             /* idem */
    unsigned char instance[SESSIONS_INSTANCE_LEN]; /* random per process: "local" vs "remote" */
};

/* Returns NULL on out of memory.  `mc` and `seal` are NULL with the local store. */
struct sessions *sessions_new(const struct config *cfg, struct mc *mc, struct seal *seal);
void sessions_free(struct sessions *s);

/* Install the cache mode and callbacks on ctx: a server cache with no
 * OpenSSL-internal store (so the SSL_CTX, shared by all workers, takes no
 * lock), and the client-hello callback that pauses for memcached. */
void sessions_setup_ctx(SSL_CTX *ctx, const struct config *cfg);

/* Worker: a memcached request sent from the thread of `env` came back
 * (from mcconn.c or the mailbox); takes ownership. */
void sessions_on_reply(const struct handshake_env *env, struct mc_req *req);

/*
 * Exposed for tests and fuzzing (the pure parts of the callbacks above).
 *
 * sessions_hello_lookup_id: inside a client-hello callback, the session ID
 * the ClientHello on `ssl` may resume from the cache (*id points into the
 * ClientHello), or 0 when it cannot (no ID, a ticket that wins, TLS 1.3
 * with tickets on); *tls13 says whether it offers TLS 1.3.
 *
 * sessions_entry_open: the session in the sealed entry `value` read under
 * memcached key `key`, if it opens, is not expired at `now` (unix s) and is
 * session `id`; one reference for the caller, *remote set to whether an
 * instance other than `instance` made it.  NULL with *why saying what is
 * wrong with the entry, or with *why NULL when memory ran out.
 */
size_t sessions_hello_lookup_id(SSL *ssl, bool tickets, bool *tls13, const unsigned char **id);
SSL_SESSION *sessions_entry_open(const struct seal *seal, const char *key, size_t keylen,
                                 const unsigned char *value, size_t vlen, int64_t now,
                                 const unsigned char *id, size_t idlen,
                                 const unsigned char instance[SESSIONS_INSTANCE_LEN], bool *remote,
                                 const char **why);

#endif
