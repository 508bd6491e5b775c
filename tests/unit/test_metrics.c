/*
 * test_metrics.c - the Prometheus and JSON renderers of metrics.c on a
 * snapshot with known figures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

struct fixture {
    struct stats_totals fe[2];
    struct stats_totals wk[1];
    struct keyring_view kv;
    struct metrics_snapshot s;
    const char *names[2];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->names[0] = "web";
    f->names[1] = "api";
    f->fe[0].counter[STAT_HANDSHAKES_FULL] = 5;
    f->fe[0].counter[STAT_HANDSHAKES_RESUMED_TICKET] = 7;
    f->fe[1].counter[STAT_HANDSHAKES_FULL] = 11;
    f->fe[0].counter[STAT_SESS_GET_HIT] = 3;
    f->fe[0].hs_bucket[0] = 2;                /* <= 100 us */
    f->fe[0].hs_bucket[3] = 4;                /* <= 1 ms */
    f->fe[0].hs_bucket[STATS_HS_BUCKETS] = 1; /* > 10 s */
    f->fe[0].hs_sum_us = 1500000;
    f->fe[0].connections_active = 9;
    f->wk[0].counter[STAT_HANDSHAKES_FULL] = 16;
    f->kv.epoch = 498827;
    f->kv.n = 2;
    f->kv.keys[0] =
        (struct keyring_view_key){498828, KEYRING_ROLE_NEXT, KEYRING_SOURCE_LOCAL, 0x1f972edbu};
    f->kv.keys[1] = (struct keyring_view_key){498827, KEYRING_ROLE_CURRENT, KEYRING_SOURCE_CLUSTER,
                                              0x00000abcu};
    f->s = (struct metrics_snapshot){
        .version = "0.1.0",
        .openssl_version = "OpenSSL 3",
        .start_time = 1700000000,
        .nfrontends = 2,
        .frontend_names = f->names,
        .frontend = f->fe,
        .nworkers = 1,
        .worker = f->wk,
        .session_entries = 12,
        .tickets = true,
        .keyring = &f->kv,
    };
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    free(*state);
    return 0;
}

static char *
render(int (*fn)(FILE *, const struct metrics_snapshot *), const struct metrics_snapshot *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    assert_non_null(out);
    assert_int_equal(fn(out, s), 0);
    assert_int_equal(fclose(out), 0);
    return buf;
}

static size_t
count_substr(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    return n;
}

static void
test_prometheus_samples(void **state)
{
    struct fixture *f = *state;
    char *text = render(metrics_write_prometheus, &f->s);

    assert_non_null(strstr(text, "tessera_handshakes_total{frontend=\"web\",type=\"full\"} 5\n"));
    assert_non_null(strstr(text, "tessera_handshakes_total{frontend=\"api\",type=\"full\"} 11\n"));
    assert_non_null(
        strstr(text, "tessera_handshakes_total{frontend=\"web\",type=\"resumed_ticket\"} 7\n"));
    assert_non_null(strstr(
        text, "tessera_session_cache_ops_total{frontend=\"web\",op=\"get\",result=\"hit\"} 3\n"));
    assert_non_null(strstr(text, "tessera_connections_total{frontend=\"web\"} 0\n"));
    assert_non_null(strstr(text, "tessera_connections_active{frontend=\"web\"} 9\n"));
    assert_non_null(strstr(text, "tessera_memcached_up 0\n"));
    assert_non_null(strstr(text, "tessera_keyring_epoch 498827\n"));
    assert_non_null(strstr(text, "tessera_keyring_keys 2\n"));
    assert_non_null(strstr(text, "tessera_session_cache_entries 12\n"));
    free(text);
}

/* OCSP: one expiry sample per certificate (label escaped), every fetch
 * result and rejection reason, zero without a view. */
static void
test_prometheus_ocsp(void **state)
{
    struct fixture *f = *state;
    char site[] = "/etc/tls/site.pem";
    char odd[] = "/odd\"name\\.pem";
    struct ocsp_view_cert certs[2] = {{site, 1800000000}, {odd, 0}};
    struct ocsp_view v = {.n = 2, .certs = certs};
    char *text;

    v.fetches[OCSP_FETCHES_OK] = 4;
    v.fetches[OCSP_FETCHES_TIMEOUT] = 2;
    v.rejected[OCSP_RESP_MISMATCH] = 3;
    f->s.ocsp = &v;
    text = render(metrics_write_prometheus, &f->s);
    assert_non_null(strstr(text, "# TYPE tessera_ocsp_staple_expiry_timestamp_seconds gauge\n"));
    assert_non_null(strstr(text, "tessera_ocsp_staple_expiry_timestamp_seconds{cert=\"/etc/tls/"
                                 "site.pem\"} 1800000000\n"));
    assert_non_null(strstr(
        text, "tessera_ocsp_staple_expiry_timestamp_seconds{cert=\"/odd\\\"name\\\\.pem\"} 0\n"));
    assert_non_null(strstr(text, "tessera_ocsp_fetches_total{result=\"ok\"} 4\n"));
    assert_non_null(strstr(text, "tessera_ocsp_fetches_total{result=\"timeout\"} 2\n"));
    assert_non_null(strstr(text, "tessera_ocsp_fetches_total{result=\"invalid\"} 0\n"));
    assert_non_null(strstr(text, "tessera_ocsp_responses_rejected_total{reason=\"mismatch\"} 3\n"));
    assert_non_null(strstr(text, "tessera_ocsp_responses_rejected_total{reason=\"expired\"} 0\n"));
    assert_null(strstr(text, "reason=\"ok\""));
    free(text);

    f->s.ocsp = NULL;
    text = render(metrics_write_prometheus, &f->s);
    assert_null(strstr(text, "tessera_ocsp_staple_expiry_timestamp_seconds{"));
    assert_non_null(strstr(text, "tessera_ocsp_fetches_total{result=\"error\"} 0\n"));
    free(text);
}

static void
test_prometheus_families_once(void **state)
{
    struct fixture *f = *state;
    char *text = render(metrics_write_prometheus, &f->s);

    /* Each family's HELP and TYPE once, and before its first sample. */
    for (size_t id = 0; id < STAT__COUNT; id++) {
        char help[128], type[128], sample[128];
        snprintf(help, sizeof(help), "# HELP %s ", stats_meta[id].family);
        snprintf(type, sizeof(type), "# TYPE %s counter\n", stats_meta[id].family);
        snprintf(sample, sizeof(sample), "\n%s{", stats_meta[id].family);
        assert_int_equal(count_substr(text, help), 1);
        assert_int_equal(count_substr(text, type), 1);
        assert_true(strstr(text, type) < strstr(text, sample));
    }
    free(text);
}

static void
test_prometheus_histogram(void **state)
{
    struct fixture *f = *state;
    char *text = render(metrics_write_prometheus, &f->s);
    const char *h = "tessera_handshake_duration_seconds";
    char line[160];

    snprintf(line, sizeof(line), "%s_bucket{frontend=\"web\",le=\"0.0001\"} 2\n", h);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "%s_bucket{frontend=\"web\",le=\"0.00025\"} 2\n", h);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "%s_bucket{frontend=\"web\",le=\"0.001\"} 6\n", h);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "%s_bucket{frontend=\"web\",le=\"10\"} 6\n", h);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "%s_bucket{frontend=\"web\",le=\"+Inf\"} 7\n", h);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "%s_count{frontend=\"web\"} 7\n", h);
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "%s_sum{frontend=\"web\"} 1.500000\n", h);
    assert_non_null(strstr(text, line));
    free(text);
}

static void
test_keyring_json(void **state)
{
    struct fixture *f = *state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    assert_int_equal(metrics_write_keyring_json(out, &f->kv), 0);
    fclose(out);
    assert_string_equal(buf, "{\"degraded\": false, \"epoch\": 498827, \"keys\": ["
                             "{\"epoch\": 498828, \"role\": \"next\", \"source\": \"local\", "
                             "\"fingerprint\": \"1f972edb\"}, "
                             "{\"epoch\": 498827, \"role\": \"current\", \"source\": "
                             "\"cluster\", \"fingerprint\": \"00000abc\"}]}\n");
    free(buf);
}

static void
test_stats_json(void **state)
{
    struct fixture *f = *state;
    char *text = render(metrics_write_stats_json, &f->s);

    /* Totals sum the frontends; families without labels are plain numbers. */
    assert_non_null(strstr(text, "\"totals\": {\"connections_total\": 0, \"handshakes_total\": "
                                 "{\"full\": 16, \"resumed_session\": 0, \"resumed_ticket\": 7}"));
    assert_non_null(strstr(text, "\"session_cache_ops_total\": {\"get.hit\": 3"));
    assert_non_null(strstr(text, "\"web\": {"));
    assert_non_null(strstr(text, "\"workers\": [{\"id\": 0, "));
    assert_non_null(strstr(text, "\"version\": \"0.1.0\""));
    assert_non_null(strstr(text, "\"degraded\": null"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prometheus_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_families_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_ocsp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_histogram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyring_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_json, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
