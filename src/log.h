/*
 * log.h - leveled logging to stderr or syslog, with a rate limit per call
 * site for lines the world can make repeat.
 *
 * Any thread.  log_init() runs once on the main thread before workers start;
 * after that log_msg() may be called from every thread (one write(2) per
 * line, so lines from different threads never interleave).  A rate-limited
 * call site owns a static struct log_limit that any thread may update (one
 * compare-and-swap per line, no lock).
 */
#ifndef TESSERA_LOG_H
#define TESSERA_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
    LOG_LVL_ERROR = 0,
    LOG_LVL_WARN,
    LOG_LVL_INFO,
    LOG_LVL_DEBUG,
};

/* Parse "error", "warn", "info", "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);
void log_init(enum log_level level, bool use_syslog);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log the OpenSSL error queue (and clear it) at `level`, prefixed by `what`. */
void log_openssl(enum log_level level, const char *what);

/*
 * The rate limit: at most LOG_LIMIT_PER_SECOND lines per call site (its
 * "reason") per second of the monotonic clock; the lines beyond are counted,
 * and the next line that site writes is preceded by "suppressed N messages
 * like the next one".  Private to log.c; zero-initialised (static) is the
 * starting state.
 */
#define LOG_LIMIT_PER_SECOND 10
struct log_limit {
    _Atomic uint64_t window; /* second << 16 | lines written in it */
    _Atomic uint64_t suppressed;
};

/*
 * Whether a line of site `l` may be written at second `now_s` (any
 * monotonic count of seconds).  When it may, *suppressed is how many of the
 * site's lines were held back since it last wrote one (to be reported
 * first), else 0.  Pure apart from `l`; exposed for the unit tests.
 */
bool log_limit_pass(struct log_limit *l, uint64_t now_s, uint64_t *suppressed);
/* log_msg() under the rate limit of site `l`. */
void log_msg_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* log_openssl() under the rate limit of site `l` (one line per error). */
void log_openssl_limited(struct log_limit *l, enum log_level level, const char *what);

#define LOG_LIMITED(level, ...)                                                                    \
    do {                                                                                           \
        static struct log_limit log_site_;                                                         \
        if (log_enabled(level)) {                                                                  \
            log_msg_limited(&log_site_, level, __VA_ARGS__);                                       \
        }                                                                                          \
    } while (0)

/* For lines that something outside tessera can make repeat (a peer, a
 * client, memcached, the kernel): every call site has its own limit. */
#define log_error_limited(...) LOG_LIMITED(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn_limited(...)  LOG_LIMITED(LOG_LVL_WARN, __VA_ARGS__)
#define log_info_limited(...)  LOG_LIMITED(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug_limited(...) LOG_LIMITED(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_openssl_limited_at(level, what)                                                        \
    do {                                                                                           \
        static struct log_limit log_site_;                                                         \
        log_openssl_limited(&log_site_, level, what);                                              \
    } while (0)

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_DEBUG)) {                                                          \
            log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                                   \
        }                                                                                          \
    } while (0)

#endif
