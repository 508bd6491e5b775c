/*
 * earlydata.h - TLS 1.3 early data (0-RTT) accepted at most once across the
 * cluster: the single-use record in memcached and OpenSSL's decision.
 *
 * earlydata_setup_ctx runs on the main thread; everything else on the
 * worker that owns the handshake.  For a ClientHello that offers early data
 * with a PSK, earlydata_on_hello (called from the memcached store's
 * client-hello callback, sessions.c) sends `add <prefix>0rtt:<SHA-256 of the
 * first PSK identity>` with a TTL of the window and parks the handshake
 * (handshake.h) until memcached answers or memcached.timeout_ms passes.
 * This module owns that wait: its state (struct record) hangs on the SSL
 * and is freed with it.  OpenSSL then asks the allow-early-data callback,
 * which accepts only a fresh ticket whose record this handshake created;
 * anything else (already used, no answer, breaker open) rejects the early
 * data and the handshake goes on as a 1-RTT resumption.  Fail closed.
 */
#ifndef TESSERA_EARLYDATA_H
#define TESSERA_EARLYDATA_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

struct handshake_env;
struct mc;
struct mc_req;

/* Main thread, once, before any handshake.  0 or -1. */
int earlydata_global_init(void);

/* Does frontend `fe` offer early data: tls.early_data on, and a backend that
 * is told (proxy_protocol = "v2") or said to be replay-safe
 * (backend_idempotent)?  The memcached store is checked by config_load. */
bool earlydata_enabled(const struct config *cfg, const struct config_frontend *fe);

/* Main thread: make ctx (frontend `fe`) advertise and read early data of
 * tls.max_early_data bytes at most, with tessera's own anti-replay in place
 * of OpenSSL's per-process one; or none at all when not enabled. */
void earlydata_setup_ctx(SSL_CTX *ctx, const struct config *cfg, const struct config_frontend *fe);

/* Inside the client-hello callback of a handshake on the memcached store:
 * SSL_CLIENT_HELLO_RETRY while the record's `add` is waiting (the handshake
 * is parked), SSL_CLIENT_HELLO_SUCCESS once there is a verdict or nothing
 * to decide. */
int earlydata_on_hello(SSL *ssl, const struct config *cfg, struct mc *mc);

/* Worker: the answer to a record's `add` (from mcconn.c or the mailbox);
 * takes ownership. */
void earlydata_on_reply(const struct handshake_env *env, struct mc_req *req);

/* Did the client's early data end the connection by exceeding
 * tls.max_early_data?  Counts it (result="too_large") if so.  Reads the
 * OpenSSL error queue; call before it is cleared. */
bool earlydata_count_too_large(SSL *ssl);

/*
 * Exposed for tests (pure).
 *
 * earlydata_first_identity: the first PSK identity in the body of a
 * pre_shared_key extension (RFC 8446 4.2.11), or false when malformed.
 *
 * earlydata_record_key: "<prefix>0rtt:<64 hex digits of SHA-256(id)>" into
 * key (MC_KEY_MAX + 1 bytes); its length, or 0 when it does not fit.
 */
bool earlydata_first_identity(const unsigned char *ext, size_t len, const unsigned char **id,
                              size_t *idlen);
size_t earlydata_record_key(const char *prefix, const unsigned char *id, size_t idlen, char *key);

#endif
