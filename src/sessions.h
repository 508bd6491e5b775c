/*
 * sessions.h - OpenSSL's server-side session cache callbacks, backed by the
 * process-wide store.
 *
 * sessions_setup_ctx runs on the main thread while contexts are built; the
 * callbacks run on workers, inside SSL_do_handshake, and reach the store
 * through SSL ex_data -> conn -> worker.  The lookup path is the seam where
 * a second level (memcached) plugs in: a miss in the local store is where a
 * later version pauses the handshake instead of answering "miss".
 */
#ifndef TESSERA_SESSIONS_H
#define TESSERA_SESSIONS_H

#include <openssl/ssl.h>

/* Capacity of the in-process store (sessions). */
#define SESSIONS_LOCAL_CAPACITY 20480

/* Install the cache mode and callbacks on ctx: server cache with no OpenSSL
 * internal store (so the SSL_CTX, shared by all workers, takes no lock). */
void sessions_setup_ctx(SSL_CTX *ctx);

#endif
