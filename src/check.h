/*
 * check.h - always-on assertions and magic-checked casts.
 *
 * Any thread.  A failed check is a bug in tessera: it logs where and aborts,
 * in release builds too (Varnish's policy).  Never use these for input from
 * the world (peers, memcached, configuration); those are errors, not bugs.
 */
#ifndef TESSERA_CHECK_H
#define TESSERA_CHECK_H

#include <stddef.h>

_Noreturn void check_fail(const char *file, int line, const char *func, const char *cond);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            check_fail(__FILE__, __LINE__, __func__, #cond);                                       \
        }                                                                                          \
    } while (0)

/* Check that a pointer to an object with a `magic` member carries the right magic. */
#define CHECK_OBJ(ptr, want)                                                                       \
    do {                                                                                           \
        CHECK((ptr) != NULL);                                                                      \
        CHECK((ptr)->magic == (want));                                                             \
    } while (0)

/* Cast a void * to `type *` and check its magic in one step. */
#define CAST_OBJ(to, from, want)                                                                   \
    do {                                                                                           \
        (to) = (from);                                                                             \
        CHECK_OBJ((to), (want));                                                                   \
    } while (0)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The object of `type` whose `member` is at `ptr` (an embedded handler or timer). */
#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
