/*
 * backend.h - non-blocking connection to a frontend's backend.
 *
 * Called by the worker that owns the connection.  The caller registers the
 * returned descriptor with its loop: EPOLLOUT means connected, EPOLLERR or
 * EPOLLHUP failed, and backend_connect_result then tells why.
 */
#ifndef TESSERA_BACKEND_H
#define TESSERA_BACKEND_H

#include "addr.h"

/* Start connecting.  Returns the descriptor (connected or in progress), or -errno. */
int backend_connect_start(const struct addr *a);
/* The pending error of a connect that failed (-errno), or 0 if there is none. */
int backend_connect_result(int fd);

#endif
