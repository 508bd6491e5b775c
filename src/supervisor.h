/*
 * supervisor.h - the main thread after start-up: builds the shared state,
 * starts the workers, waits for signals, runs the keyring upkeep, drains
 * and stops.
 *
 * Main thread only.
 */
#ifndef TESSERA_SUPERVISOR_H
#define TESSERA_SUPERVISOR_H

#include "config.h"

/* Build every frontend's TLS contexts (also used by `tessera -t`).
 * Returns an array of cfg->nfrontends contexts, or NULL with err set. */
struct tlsctx **supervisor_build_tls(const struct config *cfg, struct err *err);
void supervisor_free_tls(const struct config *cfg, struct tlsctx **tls);

/* Serve until SIGTERM/SIGINT and a drain.  Returns the process exit code. */
int supervisor_run(const struct config *cfg);

#endif
