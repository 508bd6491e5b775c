/*
 * listener.c - SO_REUSEPORT listening sockets, accept4.
 *
 * listener_bind/listen/open: main thread.  listener_accept: the worker that
 * owns the descriptor.  Every worker has its own socket per frontend, so the
 * kernel spreads connections without a shared accept queue or lock.
 */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTENER_BACKLOG 4096

int
listener_bind(const struct addr *a, struct err *err)
{
    char text[80];
    int one = 1;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        goto fail;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        goto fail;
    }
    if (a->ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) {
        goto fail;
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
        goto fail;
    }
    return fd;
fail:
    err_set(err, "listen %s: %s", addr_format(a, text, sizeof(text)), strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

int
listener_listen(int fd, const struct addr *a, struct err *err)
{
    char text[80];

    if (listen(fd, LISTENER_BACKLOG) < 0) {
        err_set(err, "listen %s: %s", addr_format(a, text, sizeof(text)), strerror(errno));
        return -1;
    }
    return 0;
}

int
listener_open(const struct addr *a, struct err *err)
{
    int fd = listener_bind(a, err);

    if (fd >= 0 && listener_listen(fd, a, err) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
listener_accept(int lfd, struct addr *peer)
{
    int one = 1;
    int fd;

    peer->len = sizeof(peer->ss);
    fd = accept4(lfd, (struct sockaddr *)&peer->ss, &peer->len, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0) {
        return -errno;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}
