/*
 * secretfile.c - a small private file holding a secret, read with the
 * checks every such file gets (secretfile.h).
 */
#include "secretfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

int
secretfile_why(int rc, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && whylen > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int
secretfile_read(const char *path, char *buf, size_t size, size_t *len, char *why, size_t whylen)
{
    char ebuf[128];
    struct stat st;
    size_t n = 0;
    int fd;
    int rc = 0;

    CHECK(path != NULL && buf != NULL && size > 1 && len != NULL);
    *len = 0;
    if (why != NULL && whylen > 0) {
        why[0] = '\0';
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = -errno;
        return secretfile_why(rc, why, whylen, "cannot open: %s",
                              strerror_r(-rc, ebuf, sizeof(ebuf)));
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        secretfile_why(rc, why, whylen, "cannot stat: %s", strerror_r(-rc, ebuf, sizeof(ebuf)));
    } else if (S_ISDIR(st.st_mode)) {
        rc = secretfile_why(-EISDIR, why, whylen, "is a directory");
    } else if (!S_ISREG(st.st_mode)) {
        rc = secretfile_why(-EINVAL, why, whylen, "is not a regular file");
    } else if ((st.st_mode & 077) != 0) {
        rc = secretfile_why(-EPERM, why, whylen, "is readable by group or others (chmod 600)");
    }
    /* Read to EOF or to the end of buf: the file may change under us, so
     * its size from fstat decides nothing. */
    while (rc == 0 && n < size) {
        ssize_t r = read(fd, buf + n, size - n);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = -errno;
            secretfile_why(rc, why, whylen, "cannot read: %s", strerror_r(-rc, ebuf, sizeof(ebuf)));
        } else if (r == 0) {
            break;
        } else {
            n += (size_t)r;
        }
    }
    if (rc == 0 && n >= size) {
        rc = secretfile_why(-EFBIG, why, whylen, "is larger than %zu bytes", size - 1);
    }
    close(fd);
    if (rc == 0) {
        *len = n;
    }
    return rc;
}
