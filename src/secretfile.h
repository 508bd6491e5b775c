/*
 * secretfile.h - reading a small private file that holds a secret (the
 * cluster secret, the admin token): the checks every such file gets.
 *
 * Any thread; no state.  The file is opened O_NONBLOCK (a FIFO put in its
 * place cannot hang start-up or a reload) and checked on the open
 * descriptor: a regular file, with no access for group or others.  Its
 * bytes land in the caller's buffer, which the caller wipes.
 */
#ifndef TESSERA_SECRETFILE_H
#define TESSERA_SECRETFILE_H

#include <stddef.h>

/*
 * Read `path` whole into buf[0..size); a file of `size` bytes or more is
 * refused (-EFBIG), so the last byte of buf is never part of a secret.
 * Returns 0 with *len set, or -errno with a short reason ("is a
 * directory", "cannot open: ...") in why[whylen] when why is not NULL.
 */
int secretfile_read(const char *path, char *buf, size_t size, size_t *len, char *why,
                    size_t whylen);

/* printf into why[whylen] when there is room; returns `rc` (for a tail
 * call by the callers' own checks of what the file holds). */
__attribute__((format(printf, 4, 5))) int secretfile_why(int rc, char *why, size_t whylen,
                                                         const char *fmt, ...);

#endif
