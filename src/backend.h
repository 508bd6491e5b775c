/*
 * backend.h - non-blocking connection to a frontend's backend.
 *
 * Called by the worker that owns the connection.  The caller registers the
 * returned descriptor with its loop, waits for it to become writable and
 * then asks backend_connect_result whether the connection was made.
 */
#ifndef TESSERA_BACKEND_H
#define TESSERA_BACKEND_H

#include "addr.h"

/* Start connecting.  Returns the descriptor (connected or in progress), or -errno. */
int backend_connect_start(const struct addr *a);
/* 0 once connected, -EINPROGRESS while pending, another -errno on failure. */
int backend_connect_result(int fd);

#endif
