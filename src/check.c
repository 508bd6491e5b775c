/*
 * check.c - the failure path of the CHECK macros.
 *
 * Any thread.  Writes one line to stderr with async-signal-safe calls only,
 * then aborts so that a core (if enabled) shows the stack.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
write_str(const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, s, len);
        if (n <= 0) {
            return;
        }
        s += n;
        len -= (size_t)n;
    }
}

_Noreturn void
check_fail(const char *file, int line, const char *func, const char *cond)
{
    char num[16];
    int i = (int)sizeof(num) - 1;
    unsigned v = line < 0 ? 0u : (unsigned)line;

    num[i] = '\0';
    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && i > 0);
    write_str("tessera: assertion failed: ");
    write_str(cond);
    write_str(" in ");
    write_str(func);
    write_str("() at ");
    write_str(file);
    write_str(":");
    write_str(num + i);
    write_str("\n");
    abort();
}
