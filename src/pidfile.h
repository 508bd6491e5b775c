/*
 * pidfile.h - the optional pidfile (top-level `pidfile`): written once
 * start-up is complete, removed at exit.
 *
 * Main thread only.  The caller owns the path string; nothing is kept
 * between the calls but the file itself.
 */
#ifndef TESSERA_PIDFILE_H
#define TESSERA_PIDFILE_H

#include "config.h"

/*
 * Write this process's id and a newline to `path` atomically: into a new
 * temporary file in the same folder, then renamed over `path`, so that a
 * reader sees the old content or the whole new one, never a part.  Mode
 * 0644.  Returns 0, or -1 with err set ("pidfile PATH: what").
 */
int pidfile_write(const char *path, struct err *err);

/*
 * Remove `path` if it still holds this process's id (another instance may
 * have written its own since: that one is left alone).  Errors are logged.
 */
void pidfile_remove(const char *path);

#endif
