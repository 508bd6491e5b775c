/*
 * test_notify.c - notify_send() and the messages of notify.c against a real
 * AF_UNIX datagram socket, named by a path and by an abstract name, with
 * whichever sender the build uses (libsystemd or tessera's own: make
 * distcheck builds the latter); and nothing sent without NOTIFY_SOCKET.
 *
 * Thread: the cmocka runner's only thread.  Ownership: each test binds its
 * own receiving socket (a path in a mkdtemp() folder, or an abstract name
 * with this process's id in it) and closes it; NOTIFY_SOCKET is set and
 * unset around each message.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"

static char test_dir[PATH_MAX];

/* Bind a datagram socket to `name` ("/path" or "@abstract"). */
static int
receiver(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_true(len < sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@') {
        sa.sun_path[0] = '\0';
    } else {
        salen++;
    }
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
        fail_msg("bind %s: %s", name, strerror(errno));
    }
    return fd;
}

/* The next datagram on `fd` (which must be there already), as a string. */
static void
receive(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

    if (n < 0) {
        fail_msg("no datagram: %s", strerror(errno));
    }
    buf[n] = '\0';
}

static void
nothing_waiting(int fd)
{
    char c;

    assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static int
group_setup(void **state)
{
    char tmpl[] = "/tmp/tessera-test-notify.XXXXXX";

    (void)state;
    unsetenv("NOTIFY_SOCKET");
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, test_dir) == NULL) {
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    static const char *const names[] = {"notify.sock", "reload.sock", "quiet.sock"};
    char path[PATH_MAX + 16];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", test_dir, names[i]);
        unlink(path); /* left behind by a failed test */
    }
    return rmdir(test_dir);
}

/* Every message kind reaches a socket named by a path, unchanged. */
static void
test_path(void **state)
{
    char path[PATH_MAX + 16];
    char buf[512];
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/notify.sock", test_dir);
    fd = receiver(path);
    setenv("NOTIFY_SOCKET", path, 1);

    assert_int_equal(notify_send("STATUS=one\nREADY=1"), 1);
    receive(fd, buf, sizeof(buf));
    assert_string_equal(buf, "STATUS=one\nREADY=1");

    notify_ready();
    receive(fd, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1");

    notify_stopping();
    receive(fd, buf, sizeof(buf));
    assert_string_equal(buf, "STOPPING=1");

    /* A newline in a status would start a field of its own. */
    notify_status("serving %d frontends\nREADY=1", 3);
    receive(fd, buf, sizeof(buf));
    assert_string_equal(buf, "STATUS=serving 3 frontends READY=1");

    /* Longer than NOTIFY_STATUS_MAX: cut, still one line. */
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    notify_status("%s", big);
    receive(fd, buf, sizeof(buf));
    assert_int_equal(strncmp(buf, "STATUS=xxx", 10), 0);
    assert_int_equal(strlen(buf), strlen("STATUS=") + 256);
    nothing_waiting(fd);

    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path);
}

/* RELOADING=1 carries MONOTONIC_USEC, read from CLOCK_MONOTONIC then. */
static void
test_reloading(void **state)
{
    char path[PATH_MAX + 16];
    char buf[512];
    struct timespec before;
    struct timespec after;
    unsigned long long usec;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/reload.sock", test_dir);
    fd = receiver(path);
    setenv("NOTIFY_SOCKET", path, 1);
    clock_gettime(CLOCK_MONOTONIC, &before);
    notify_reloading();
    clock_gettime(CLOCK_MONOTONIC, &after);
    receive(fd, buf, sizeof(buf));
    assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
    assert_true(usec >= (unsigned long long)before.tv_sec * 1000000 + before.tv_nsec / 1000);
    assert_true(usec <= (unsigned long long)after.tv_sec * 1000000 + after.tv_nsec / 1000);
    assert_null(strchr(strchr(buf, '\n') + 1, '\n'));
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path);
}

/* An abstract socket: "@name" in NOTIFY_SOCKET. */
static void
test_abstract(void **state)
{
    char name[64];
    char buf[64];
    int fd;

    (void)state;
    snprintf(name, sizeof(name), "@tessera-test-notify-%ld", (long)getpid());
    fd = receiver(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(notify_send("READY=1"), 1);
    receive(fd, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

/* Unset or empty: nothing sent, no error.  A socket that is not there, a
 * name that cannot be one: an error, never a crash or a wait. */
static void
test_unset_and_errors(void **state)
{
    char path[PATH_MAX + 16];
    char longname[200];
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/quiet.sock", test_dir);
    fd = receiver(path);

    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(notify_send("READY=1"), 0);
    notify_ready();
    notify_status("nobody hears this");
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(notify_send("READY=1"), 0);
    nothing_waiting(fd);

    snprintf(path, sizeof(path), "%s/absent.sock", test_dir);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_true(notify_send("READY=1") < 0);
    notify_ready(); /* logged, nothing else */

    setenv("NOTIFY_SOCKET", "relative.sock", 1);
    assert_true(notify_send("READY=1") < 0);

    memset(longname, 'a', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    assert_true(notify_send("READY=1") < 0);

    unsetenv("NOTIFY_SOCKET");
    close(fd);
    snprintf(path, sizeof(path), "%s/quiet.sock", test_dir);
    unlink(path);
}

static void
test_sender(void **state)
{
    (void)state;
#ifdef HAVE_LIBSYSTEMD
    assert_string_equal(notify_sender(), "libsystemd");
#else
    assert_string_equal(notify_sender(), "built-in");
#endif
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),     cmocka_unit_test(test_reloading),
        cmocka_unit_test(test_abstract), cmocka_unit_test(test_unset_and_errors),
        cmocka_unit_test(test_sender),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
