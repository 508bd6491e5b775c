/*
 * notify.h - tell the service manager how start-up, reloads and the stop go
 * (sd_notify(3)): READY=1, RELOADING=1 with MONOTONIC_USEC, STOPPING=1 and
 * STATUS= lines, over the AF_UNIX datagram socket named by $NOTIFY_SOCKET.
 *
 * Main thread only.  Nothing is sent when NOTIFY_SOCKET is unset or empty;
 * a message that cannot be sent is logged and otherwise ignored (serving
 * never depends on the service manager hearing it).
 */
#ifndef TESSERA_NOTIFY_H
#define TESSERA_NOTIFY_H

/* Start-up is complete: every listener is open and the keyring loaded.
 * Also the end of a reload, successful or not (after notify_reloading()). */
void notify_ready(void);
/* A reload starts (SIGHUP): RELOADING=1 and MONOTONIC_USEC=<CLOCK_MONOTONIC
 * in µs> in one message, as systemd.service(5) asks; follow it with
 * notify_ready() whatever the outcome. */
void notify_reloading(void);
/* The drain starts (SIGTERM/SIGINT), or start-up gives up. */
void notify_stopping(void);
/* STATUS=<one line for `systemctl status`>; a newline in it becomes a space. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Send one message ("FIELD=VALUE", several separated by newlines).
 * Returns 1 when sent, 0 when NOTIFY_SOCKET is unset or empty, or -errno.
 * The functions above use it; it is declared here for the unit test.
 */
int notify_send(const char *msg);

/* How messages are sent: "libsystemd" or "built-in" (for tessera -V). */
const char *notify_sender(void);

#endif
