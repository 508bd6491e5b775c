/*
 * pidfile.c - write and remove the pidfile.
 *
 * Main thread only: supervisor.c writes it once every listener is open and
 * the workers run (just before READY=1, so a supervisor that reads it after
 * start-up finds it), and removes it after the drain.  A SIGKILL leaves it
 * behind; the next start replaces it.
 */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int
pidfile_write(const char *path, struct err *err)
{
    char text[32];
    char *tmp = NULL;
    int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    int fd;

    if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
        err_set(err, "pidfile %s: out of memory", path);
        return -1;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        err_set(err, "pidfile %s: cannot create a file in its folder: %s", path, strerror(errno));
        goto fail;
    }
    /* mkostemp makes it 0600; the pidfile is for anyone to read. */
    if (fchmod(fd, 0644) < 0 || write(fd, text, (size_t)len) != (ssize_t)len) {
        err_set(err, "pidfile %s: cannot write %s: %s", path, tmp, strerror(errno));
        close(fd);
        goto fail_unlink;
    }
    if (close(fd) < 0) {
        err_set(err, "pidfile %s: cannot write %s: %s", path, tmp, strerror(errno));
        goto fail_unlink;
    }
    if (rename(tmp, path) < 0) {
        err_set(err, "pidfile %s: cannot rename %s to it: %s", path, tmp, strerror(errno));
        goto fail_unlink;
    }
    free(tmp);
    return 0;
fail_unlink:
    unlink(tmp);
fail:
    free(tmp);
    return -1;
}

void
pidfile_remove(const char *path)
{
    char text[32];
    char *end;
    FILE *f = fopen(path, "re");
    size_t n = 0;
    long pid;

    if (f != NULL) {
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
    } else if (errno == ENOENT) {
        log_warn("pidfile %s is gone already", path);
        return;
    } else {
        log_warn("pidfile %s: cannot read it to remove it: %s", path, strerror(errno));
        return;
    }
    text[n] = '\0';
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno != 0 || end == text || (*end != '\n' && *end != '\0') || pid != (long)getpid()) {
        log_warn("pidfile %s no longer holds pid %ld: left in place", path, (long)getpid());
        return;
    }
    if (unlink(path) < 0) {
        log_warn("cannot remove pidfile %s: %s", path, strerror(errno));
    }
}
