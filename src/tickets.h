/*
 * tickets.h - the session-ticket key callback over a worker's keyring copy.
 *
 * tickets_init/tickets_cleanup run on the main thread (before workers start /
 * after they stop).  The callback runs on workers and touches only the
 * worker's private keyring: no lock, no shared memory.
 */
#ifndef TESSERA_TICKETS_H
#define TESSERA_TICKETS_H

#include <openssl/ssl.h>

int tickets_init(void);
void tickets_cleanup(void);
void tickets_setup_ctx(SSL_CTX *ctx);

#endif
