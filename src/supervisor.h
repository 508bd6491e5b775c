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

/* Serve until SIGTERM/SIGINT and a drain.  Returns the process exit code. */
int supervisor_run(const struct config *cfg);

#endif
