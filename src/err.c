/*
 * err.c - see err.h.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

void
err_set(struct err *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}
