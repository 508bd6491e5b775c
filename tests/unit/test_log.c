/*
 * test_log.c - unit tests for log.c's rate limit: the budget of a call site
 * per second, the count of what was held back and its report with the next
 * line, independent sites, many threads on one site (exactly the budget
 * passes, nothing is lost from the count), and the lines log_msg_limited
 * really writes to stderr.
 *
 * The clock is injected into log_limit_pass(); only test_written_lines uses
 * the real one, and it checks totals that hold whichever second boundaries
 * fall inside it.  stderr is redirected into a temporary file there.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* The budget: LOG_LIMIT_PER_SECOND lines pass in a second, then none. */
static void
test_budget(void **state)
{
    struct log_limit l = {0};
    uint64_t held;

    (void)state;
    for (int i = 0; i < LOG_LIMIT_PER_SECOND; i++) {
        assert_true(log_limit_pass(&l, 100, &held));
        assert_int_equal(held, 0);
    }
    for (int i = 0; i < 5 * LOG_LIMIT_PER_SECOND; i++) {
        assert_false(log_limit_pass(&l, 100, &held));
        assert_int_equal(held, 0);
    }
}

/* The next second opens a new budget, and its first line carries the count
 * of the lines held back; the count is reported once. */
static void
test_report_next_second(void **state)
{
    struct log_limit l = {0};
    uint64_t held;

    (void)state;
    for (int i = 0; i < LOG_LIMIT_PER_SECOND + 7; i++) {
        (void)log_limit_pass(&l, 5, &held);
    }
    assert_true(log_limit_pass(&l, 6, &held));
    assert_int_equal(held, 7);
    assert_true(log_limit_pass(&l, 6, &held));
    assert_int_equal(held, 0);
    /* A quiet gap of many seconds changes nothing: the count waits for the
     * site's next line. */
    for (int i = 0; i < LOG_LIMIT_PER_SECOND + 3; i++) {
        (void)log_limit_pass(&l, 6, &held);
    }
    assert_true(log_limit_pass(&l, 1000, &held));
    assert_int_equal(held, 5); /* 2 passed in second 6 before: 8 more passed, 5 held */
}

/* Two call sites never share a budget. */
static void
test_sites_independent(void **state)
{
    struct log_limit a = {0};
    struct log_limit b = {0};
    uint64_t held;

    (void)state;
    for (int i = 0; i < 3 * LOG_LIMIT_PER_SECOND; i++) {
        (void)log_limit_pass(&a, 42, &held);
    }
    for (int i = 0; i < LOG_LIMIT_PER_SECOND; i++) {
        assert_true(log_limit_pass(&b, 42, &held));
        assert_int_equal(held, 0);
    }
    assert_false(log_limit_pass(&b, 42, &held));
}

/* Many threads on one site in one second: exactly the budget passes, and
 * every other call is counted. */
#define THREADS       8
#define CALLS_PER_THR 20000
static struct log_limit shared_site;
static _Atomic uint64_t passed;
static _Atomic uint64_t reported;

static void *
hammer(void *arg)
{
    uint64_t second = (uint64_t)(uintptr_t)arg;
    uint64_t held;

    for (int i = 0; i < CALLS_PER_THR; i++) {
        if (log_limit_pass(&shared_site, second, &held)) {
            atomic_fetch_add(&passed, 1);
            atomic_fetch_add(&reported, held);
        }
    }
    return NULL;
}

static void
test_threads(void **state)
{
    pthread_t t[THREADS];
    uint64_t held;

    (void)state;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)77), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    assert_int_equal(atomic_load(&passed), LOG_LIMIT_PER_SECOND);
    assert_int_equal(atomic_load(&reported), 0);
    assert_true(log_limit_pass(&shared_site, 78, &held));
    assert_int_equal(held, (uint64_t)THREADS * CALLS_PER_THR - LOG_LIMIT_PER_SECOND);
}

/* What log_msg_limited writes: every call is either a line or part of the
 * count in a later "suppressed N" line, however the calls fall on second
 * boundaries; at most a second's budget per second. */
static void
test_written_lines(void **state)
{
    char path[] = "/tmp/tessera-test-log.XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    struct log_limit site = {0};
    struct timespec start;
    struct timespec end;
    struct timespec now;
    char line[512];
    unsigned long long lines = 0;
    unsigned long long suppressed = 0;
    unsigned long long n;
    const int calls = 1000;
    FILE *in;

    (void)state;
    assert_true(fd >= 0);
    assert_true(saved >= 0);
    unlink(path);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    log_init(LOG_LVL_INFO, false);

    clock_gettime(CLOCK_MONOTONIC_COARSE, &start);
    for (int i = 0; i < calls; i++) {
        log_msg_limited(&site, LOG_LVL_WARN, "backend down (call %d)", i);
    }
    clock_gettime(CLOCK_MONOTONIC_COARSE, &end);
    /* A new second, so that the next line reports what is still held back
     * (a pause of the clock to pass, not a wait for a state). */
    do {
        struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    } while (now.tv_sec == end.tv_sec);
    log_msg_limited(&site, LOG_LVL_WARN, "backend down (the last call)");
    /* Debug is below the level: no line and no count. */
    log_msg_limited(&site, LOG_LVL_DEBUG, "not written");

    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    assert_true(lseek(fd, 0, SEEK_SET) == 0);
    in = fdopen(fd, "r");
    assert_non_null(in);
    while (fgets(line, sizeof(line), in) != NULL) {
        const char *s = strstr(line, "suppressed ");
        assert_null(strstr(line, "not written"));
        if (s != NULL && sscanf(s, "suppressed %llu messages like the next one", &n) == 1) {
            suppressed += n;
        } else {
            assert_non_null(strstr(line, "backend down"));
            lines++;
        }
    }
    fclose(in);
    assert_int_equal(lines + suppressed, (unsigned long long)calls + 1);
    /* The loop spanned end - start + 1 seconds: a budget each, plus the last line. */
    assert_true(lines >= LOG_LIMIT_PER_SECOND + 1);
    assert_true(lines <=
                (unsigned long long)(end.tv_sec - start.tv_sec + 1) * LOG_LIMIT_PER_SECOND + 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_report_next_second),
        cmocka_unit_test(test_sites_independent),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_written_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
