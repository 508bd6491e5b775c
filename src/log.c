/*
 * log.c - leveled logging to stderr or syslog, and the per-call-site rate
 * limit.
 *
 * Any thread.  The level and the sink are set once by log_init() on the main
 * thread before any worker starts and are read-only afterwards.  A line is
 * formatted into a stack buffer and written with one write(2), so lines from
 * different threads never interleave.  The rate limit keeps its state in the
 * call site's static struct log_limit and updates it with atomics only, so a
 * worker that logs never waits for another thread.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "clock.h"

static enum log_level log_threshold = LOG_LVL_INFO;
static bool log_syslog;

static const char *const log_names[] = {
    [LOG_LVL_ERROR] = "error",
    [LOG_LVL_WARN] = "warn",
    [LOG_LVL_INFO] = "info",
    [LOG_LVL_DEBUG] = "debug",
};

int
log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
        if (strcmp(name, log_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

void
log_init(enum log_level level, bool use_syslog)
{
    log_threshold = level;
    log_syslog = use_syslog;
    if (use_syslog) {
        openlog("tessera", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
}

bool
log_enabled(enum log_level level)
{
    return level <= log_threshold;
}

static int
log_syslog_priority(enum log_level level)
{
    switch (level) {
    case LOG_LVL_ERROR:
        return LOG_ERR;
    case LOG_LVL_WARN:
        return LOG_WARNING;
    case LOG_LVL_INFO:
        return LOG_INFO;
    case LOG_LVL_DEBUG:
        return LOG_DEBUG;
    }
    return LOG_INFO;
}

static void
log_write(enum log_level level, const char *text)
{
    char line[2048];
    char thread[16] = "";
    struct tm tm;
    int n;

    if (log_syslog) {
        syslog(log_syslog_priority(level), "%s", text);
        return;
    }
    int64_t ms = clock_wall_ms();
    time_t sec = (time_t)(ms / 1000);
    gmtime_r(&sec, &tm);
    pthread_getname_np(pthread_self(), thread, sizeof(thread));
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] %s\n",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long)(ms % 1000), log_names[level], thread, text);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    /* A short write to stderr is not worth retrying: logging must not block a worker. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        return;
    }
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    char text[1536];

    vsnprintf(text, sizeof(text), fmt, ap);
    log_write(level, text);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    if (!log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
    errno = saved;
}

/* ---- the rate limit ---- */

#define LOG_WINDOW_COUNT_BITS 16
#define LOG_WINDOW_COUNT_MASK ((UINT64_C(1) << LOG_WINDOW_COUNT_BITS) - 1)

bool
log_limit_pass(struct log_limit *l, uint64_t now_s, uint64_t *suppressed)
{
    uint64_t old = atomic_load_explicit(&l->window, memory_order_relaxed);
    uint64_t next;

    *suppressed = 0;
    do {
        uint64_t second = old >> LOG_WINDOW_COUNT_BITS;
        uint64_t written = old & LOG_WINDOW_COUNT_MASK;

        if (second != now_s) {
            next = now_s << LOG_WINDOW_COUNT_BITS | 1;
        } else if (written < LOG_LIMIT_PER_SECOND) {
            next = old + 1;
        } else {
            atomic_fetch_add_explicit(&l->suppressed, 1, memory_order_relaxed);
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&l->window, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
    /* Lines are held back only once a second's budget is spent, so a count
     * seen here belongs to an earlier second: report it with this line.  A
     * load first keeps the common case (nothing held back) free of writes. */
    if (atomic_load_explicit(&l->suppressed, memory_order_relaxed) != 0) {
        *suppressed = atomic_exchange_explicit(&l->suppressed, 0, memory_order_relaxed);
    }
    return true;
}

/* Whether site `l` may write a line now; writes the "suppressed" line first. */
static bool
log_limit_admit(struct log_limit *l, enum log_level level)
{
    uint64_t held;

    if (!log_limit_pass(l, (clock_mono_ms() / 1000), &held)) {
        return false;
    }
    if (held > 0) {
        log_msg(level, "suppressed %llu messages like the next one (more than %d a second)",
                (unsigned long long)held, LOG_LIMIT_PER_SECOND);
    }
    return true;
}

void
log_msg_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    if (!log_enabled(level) || !log_limit_admit(l, level)) {
        errno = saved;
        return;
    }
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
log_openssl(enum log_level level, const char *what)
{
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        if (log_enabled(level)) {
            ERR_error_string_n(e, buf, sizeof(buf));
            log_msg(level, "%s: %s", what, buf);
        }
    }
}

void
log_openssl_limited(struct log_limit *l, enum log_level level, const char *what)
{
    unsigned long e;
    char buf[256];

    /* The queue is emptied whether or not its lines are written. */
    while ((e = ERR_get_error()) != 0) {
        if (log_enabled(level) && log_limit_admit(l, level)) {
            ERR_error_string_n(e, buf, sizeof(buf));
            log_msg(level, "%s: %s", what, buf);
        }
    }
}
