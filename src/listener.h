/*
 * listener.h - SO_REUSEPORT listening sockets and accept4.
 *
 * listener_open (or bind, then listen) runs on the main thread at start-up
 * (so a bind error stops start-up with a clear message); each worker then
 * owns the descriptors it was given and is the only caller of
 * listener_accept on them.
 */
#ifndef TESSERA_LISTENER_H
#define TESSERA_LISTENER_H

#include "addr.h"
#include "config.h"

/* A non-blocking, close-on-exec listening socket with SO_REUSEPORT.
 * Returns the descriptor, or -1 with err filled ("listen 1.2.3.4:443: why"). */
int listener_open(const struct addr *a, struct err *err);
/* listener_open in two steps: bind (while privileged: start-up binds every
 * socket before it drops root), and listen later, when the socket is to
 * take connections.  A bound socket that does not listen refuses them. */
int listener_bind(const struct addr *a, struct err *err);
int listener_listen(int fd, const struct addr *a, struct err *err);

/* accept4 a non-blocking client socket with TCP_NODELAY set; *peer is the
 * client's address.  Returns the descriptor or -errno (-EAGAIN when the
 * queue is empty). */
int listener_accept(int lfd, struct addr *peer);

#endif
