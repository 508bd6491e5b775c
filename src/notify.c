/*
 * notify.c - the service manager's notification protocol (sd_notify(3)).
 *
 * Main thread only (start-up, reload, drain).  Each message is one datagram
 * to the AF_UNIX socket named by $NOTIFY_SOCKET: a path, or an abstract
 * name written with a leading '@'.  Built with libsystemd (configure
 * --with-systemd, the default when pkg-config finds it) the datagram goes
 * through sd_notify(); without it through notify_send_to() below, which
 * speaks the same protocol for the two address forms systemd uses for
 * services and never blocks (a full queue at the receiver is an error, not
 * a wait: design.md, the main thread blocks on nothing).  The process's
 * credentials travel with every datagram (the kernel attaches them for a
 * receiver with SO_PASSCRED), which is what NotifyAccess=main checks.
 */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#else
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#include "clock.h"
#include "log.h"

/* STATUS= text longer than this is cut (systemctl shows one line anyway). */
#define NOTIFY_STATUS_MAX 256

#ifndef HAVE_LIBSYSTEMD
/*
 * One datagram `msg` to `where` ("/path" or "@abstract").  Returns 1 when
 * sent, -EAFNOSUPPORT for another form
 * (newer systemd versions also name vsock addresses), -ENAMETOOLONG, or the
 * -errno of socket(2) or sendto(2).
 */
static int
notify_send_to(const char *where, const char *msg)
{
    struct sockaddr_un sa;
    size_t len;
    socklen_t salen;
    ssize_t n;
    int fd;
    int rc;

    if (where[0] != '/' && where[0] != '@') {
        return -EAFNOSUPPORT;
    }
    len = strlen(where);
    /* A path needs its terminating NUL inside sun_path; an abstract name
     * is counted by length and may fill it. */
    if (len > sizeof(sa.sun_path) || (where[0] == '/' && len == sizeof(sa.sun_path))) {
        return -ENAMETOOLONG;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, where, len);
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (where[0] == '@') {
        sa.sun_path[0] = '\0';
    } else {
        salen++;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
    rc = n < 0 ? -errno : 1;
    close(fd);
    return rc;
}
#endif

int
notify_send(const char *msg)
{
    const char *where = getenv("NOTIFY_SOCKET");

    /* Empty counts as unset (libsystemd would call it invalid). */
    if (where == NULL || where[0] == '\0') {
        return 0;
    }
#ifdef HAVE_LIBSYSTEMD
    /* 0: keep NOTIFY_SOCKET in the environment for the messages to come. */
    return sd_notify(0, msg);
#else
    return notify_send_to(where, msg);
#endif
}

const char *
notify_sender(void)
{
#ifdef HAVE_LIBSYSTEMD
    return "libsystemd";
#else
    return "built-in";
#endif
}

/* Send, and say so in the log when it failed; `what` names the message. */
static void
notify_log(const char *what, const char *msg)
{
    int rc = notify_send(msg);

    if (rc < 0) {
        log_warn("cannot tell the service manager %s (NOTIFY_SOCKET): %s", what, strerror(-rc));
    }
}

void
notify_ready(void)
{
    notify_log("READY=1", "READY=1");
}

void
notify_reloading(void)
{
    char msg[64];

    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)clock_mono_us());
    notify_log("RELOADING=1", msg);
}

void
notify_stopping(void)
{
    notify_log("STOPPING=1", "STOPPING=1");
}

void
notify_status(const char *fmt, ...)
{
    char msg[sizeof("STATUS=") + NOTIFY_STATUS_MAX];
    size_t head = strlen("STATUS=");
    va_list ap;

    memcpy(msg, "STATUS=", head);
    va_start(ap, fmt);
    vsnprintf(msg + head, sizeof(msg) - head, fmt, ap);
    va_end(ap);
    /* A newline would start another field of the message. */
    for (char *p = msg + head; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    notify_log("its status", msg);
}
