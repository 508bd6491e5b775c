/*
 * log.h - leveled logging to stderr or syslog.
 *
 * Any thread.  log_init() runs once on the main thread before workers start;
 * after that log_msg() may be called from every thread (one write(2) per
 * line, so lines from different threads never interleave).
 */
#ifndef TESSERA_LOG_H
#define TESSERA_LOG_H

#include <stdbool.h>

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
