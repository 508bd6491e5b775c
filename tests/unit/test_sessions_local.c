/*
 * test_sessions_local.c - unit tests for sessions_local.c with real
 * SSL_SESSION objects: hit, miss, replacement, expiry at `now`, take,
 * remove, bad IDs, the capacity bound, LRU eviction within a shard,
 * reference counting, and a multi-threaded smoke test.
 *
 * Reference counts are observed, not guessed: every session made here
 * carries ex_data whose free callback counts the session's destruction, so
 * a test knows exactly when the store dropped its last reference.  Tests
 * are single-threaded except test_threads, whose threads only share the
 * store and the (atomic) counter.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "sessions_local.h"

#define SHARDS 64 /* sessions_local.c's shard count, for the capacity bound */

static int ex_index = -1;
static _Atomic int sessions_made;
static _Atomic int sessions_freed;
static char marker;

static void
on_session_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (ptr == &marker) {
        atomic_fetch_add(&sessions_freed, 1);
    }
}

/* A session with a 32-byte ID made from `seed`, created at `t` for `timeout` s. */
static void
make_id(unsigned char id[32], uint32_t seed)
{
    for (int i = 0; i < 32; i++) {
        uint32_t x = seed * 2654435761u + (uint32_t)i * 40503u;
        x ^= x >> 15;
        x *= 0x2c1b3c6du;
        x ^= x >> 12;
        id[i] = (unsigned char)x;
    }
    memcpy(id, &seed, sizeof(seed)); /* distinct seeds give distinct IDs */
}

static SSL_SESSION *
make_session_id(const unsigned char *id, unsigned len, long t, long timeout)
{
    SSL_SESSION *s = SSL_SESSION_new();

    assert_non_null(s);
    if (len > 0) {
        assert_int_equal(SSL_SESSION_set1_id(s, id, len), 1);
    }
    SSL_SESSION_set_time(s, t);
    SSL_SESSION_set_timeout(s, timeout);
    assert_int_equal(SSL_SESSION_set_ex_data(s, ex_index, &marker), 1);
    atomic_fetch_add(&sessions_made, 1);
    return s;
}

static SSL_SESSION *
make_session(uint32_t seed, long t, long timeout)
{
    unsigned char id[32];

    make_id(id, seed);
    return make_session_id(id, sizeof(id), t, timeout);
}

static const unsigned char *
id_of(const SSL_SESSION *s, unsigned *len)
{
    return SSL_SESSION_get_id(s, len);
}

static int
live_sessions(void)
{
    return atomic_load(&sessions_made) - atomic_load(&sessions_freed);
}

static int
setup_counts(void **state)
{
    (void)state;
    if (ex_index < 0) {
        ex_index = SSL_SESSION_get_ex_new_index(0, NULL, NULL, NULL, on_session_free);
        assert_true(ex_index >= 0);
    }
    atomic_store(&sessions_made, 0);
    atomic_store(&sessions_freed, 0);
    return 0;
}

/* Every session made by a test is gone once the test dropped its references. */
static int
teardown_counts(void **state)
{
    (void)state;
    return live_sessions() == 0 ? 0 : -1;
}

static void
test_put_get_hit_and_miss(void **state)
{
    (void)state;
    struct sessions_local *st = sessions_local_new(1000);
    unsigned len;

    assert_non_null(st);
    assert_int_equal(sessions_local_count(st), 0);
    SSL_SESSION *a = make_session(1, 1000, 300);
    const unsigned char *ida = id_of(a, &len);
    assert_int_equal(len, 32);

    assert_int_equal(sessions_local_put(st, a), 0);
    assert_int_equal(sessions_local_count(st), 1);
    /* The store took its own reference: dropping ours frees nothing. */
    SSL_SESSION_free(a);
    assert_int_equal(live_sessions(), 1);

    SSL_SESSION *got = sessions_local_get(st, ida, len, 1000, 0);
    assert_ptr_equal(got, a);
    /* A get without take leaves the entry in place. */
    assert_int_equal(sessions_local_count(st), 1);
    SSL_SESSION *again = sessions_local_get(st, ida, len, 1001, 0);
    assert_ptr_equal(again, a);
    SSL_SESSION_free(again);
    SSL_SESSION_free(got);
    assert_int_equal(live_sessions(), 1);

    /* Misses: another ID, a prefix of the ID, the ID plus a byte. */
    unsigned char other[32];
    make_id(other, 2);
    assert_null(sessions_local_get(st, other, sizeof(other), 1000, 0));
    assert_null(sessions_local_get(st, ida, len - 1, 1000, 0));
    unsigned char longer[33];
    memcpy(longer, ida, 32);
    longer[32] = 0;
    assert_null(sessions_local_get(st, longer, sizeof(longer), 1000, 0));
    assert_int_equal(sessions_local_count(st), 1);

    /* Freeing the store drops its reference. */
    sessions_local_free(st);
    assert_int_equal(live_sessions(), 0);
}

/* Short IDs (TLS allows 1..32 bytes) are keys like any other. */
static void
test_short_ids(void **state)
{
    (void)state;
    struct sessions_local *st = sessions_local_new(100);
    const unsigned char one[1] = {0x42};
    const unsigned char two[2] = {0x42, 0x00};

    assert_non_null(st);
    SSL_SESSION *a = make_session_id(one, sizeof(one), 1000, 300);
    SSL_SESSION *b = make_session_id(two, sizeof(two), 1000, 300);
    assert_int_equal(sessions_local_put(st, a), 0);
    assert_int_equal(sessions_local_put(st, b), 0);
    assert_int_equal(sessions_local_count(st), 2);
    SSL_SESSION *ga = sessions_local_get(st, one, sizeof(one), 1000, 0);
    SSL_SESSION *gb = sessions_local_get(st, two, sizeof(two), 1000, 0);
    assert_ptr_equal(ga, a);
    assert_ptr_equal(gb, b);
    SSL_SESSION_free(ga);
    SSL_SESSION_free(gb);
    SSL_SESSION_free(a);
    SSL_SESSION_free(b);
    sessions_local_free(st);
}

/* Bad IDs are refused, never stored or looked up. */
static void
test_bad_ids(void **state)
{
    (void)state;
    struct sessions_local *st = sessions_local_new(100);
    unsigned char big[SSL_MAX_SSL_SESSION_ID_LENGTH + 1];

    assert_non_null(st);
    memset(big, 7, sizeof(big));
    /* A session without an ID cannot be kept. */
    SSL_SESSION *none = make_session_id(NULL, 0, 1000, 300);
    assert_true(sessions_local_put(st, none) < 0);
    assert_int_equal(sessions_local_count(st), 0);
    SSL_SESSION_free(none);
    assert_int_equal(live_sessions(), 0);

    assert_null(sessions_local_get(st, big, 0, 1000, 0));
    assert_null(sessions_local_get(st, big, sizeof(big), 1000, 0));
    assert_null(sessions_local_get(st, big, sizeof(big), 1000, 1));
    assert_int_equal(sessions_local_remove(st, big, 0), 0);
    assert_int_equal(sessions_local_remove(st, big, sizeof(big)), 0);
    sessions_local_free(st);
}

static void
test_replace_same_id(void **state)
{
    (void)state;
    struct sessions_local *st = sessions_local_new(1000);
    unsigned len;

    assert_non_null(st);
    SSL_SESSION *a = make_session(7, 1000, 300);
    SSL_SESSION *b = make_session(7, 1000, 600);
    assert_int_equal(sessions_local_put(st, a), 0);
    SSL_SESSION_free(a);
    assert_int_equal(sessions_local_put(st, b), 0);
    SSL_SESSION_free(b);
    /* One entry; the replaced session's last reference is gone. */
    assert_int_equal(sessions_local_count(st), 1);
    assert_int_equal(live_sessions(), 1);
    const unsigned char *id = id_of(b, &len);
    SSL_SESSION *got = sessions_local_get(st, id, len, 1000, 0);
    assert_ptr_equal(got, b);
    SSL_SESSION_free(got);

    /* Putting the very same session again keeps one entry and one reference. */
    got = sessions_local_get(st, id, len, 1000, 0);
    assert_int_equal(sessions_local_put(st, got), 0);
    assert_int_equal(sessions_local_put(st, got), 0);
    SSL_SESSION_free(got);
    assert_int_equal(sessions_local_count(st), 1);
    assert_int_equal(sessions_local_remove(st, id, len), 1);
    assert_int_equal(live_sessions(), 0);
    sessions_local_free(st);
}

/* A session made at t with timeout T serves until t+T-1 and is gone at t+T. */
static void
test_expiry_at_now(void **state)
{
    (void)state;
    struct sessions_local *st = sessions_local_new(1000);
    unsigned char id[32];

    assert_non_null(st);
    make_id(id, 11);
    SSL_SESSION *a = make_session(11, 1000, 100);
    assert_int_equal(sessions_local_put(st, a), 0);
    SSL_SESSION_free(a);

    SSL_SESSION *got = sessions_local_get(st, id, sizeof(id), 1099, 0);
    assert_ptr_equal(got, a);
    SSL_SESSION_free(got);
    assert_int_equal(live_sessions(), 1);

    assert_null(sessions_local_get(st, id, sizeof(id), 1100, 0));
    /* The expired entry was dropped on the way, with its reference. */
    assert_int_equal(sessions_local_count(st), 0);
    assert_int_equal(live_sessions(), 0);
    assert_null(sessions_local_get(st, id, sizeof(id), 1000, 0));

    /* Expired entries are not handed out by take either. */
    SSL_SESSION *b = make_session(11, 1000, 100);
    assert_int_equal(sessions_local_put(st, b), 0);
    SSL_SESSION_free(b);
    assert_null(sessions_local_get(st, id, sizeof(id), 5000, 1));
    assert_int_equal(sessions_local_count(st), 0);
    assert_int_equal(live_sessions(), 0);
    sessions_local_free(st);
}

/* take=1: the entry is handed over and removed (single-use TLS 1.3 tickets). */
static void
test_take_removes(void **state)
{
    (void)state;
    struct sessions_local *st = sessions_local_new(1000);
    unsigned char id[32];

    assert_non_null(st);
    make_id(id, 21);
    SSL_SESSION *a = make_session(21, 1000, 300);
    assert_int_equal(sessions_local_put(st, a), 0);
    SSL_SESSION_free(a);

    SSL_SESSION *got = sessions_local_get(st, id, sizeof(id), 1000, 1);
    assert_ptr_equal(got, a);
    assert_int_equal(sessions_local_count(st), 0);
    /* The store's reference moved to us: one live session, ours to free. */
    assert_int_equal(live_sessions(), 1);
    assert_null(sessions_local_get(st, id, sizeof(id), 1000, 1));
    assert_null(sessions_local_get(st, id, sizeof(id), 1000, 0));
    assert_int_equal(sessions_local_remove(st, id, sizeof(id)), 0);
    SSL_SESSION_free(got);
    assert_int_equal(live_sessions(), 0);
    sessions_local_free(st);
}

static void
test_remove(void **state)
{
    (void)state;
    struct sessions_local *st = sessions_local_new(1000);
    unsigned char ida[32], idb[32];

    assert_non_null(st);
    make_id(ida, 31);
    make_id(idb, 32);
    SSL_SESSION *a = make_session(31, 1000, 300);
    SSL_SESSION *b = make_session(32, 1000, 300);
    assert_int_equal(sessions_local_put(st, a), 0);
    assert_int_equal(sessions_local_put(st, b), 0);
    assert_int_equal(sessions_local_count(st), 2);

    assert_int_equal(sessions_local_remove(st, ida, sizeof(ida)), 1);
    assert_int_equal(sessions_local_count(st), 1);
    assert_int_equal(sessions_local_remove(st, ida, sizeof(ida)), 0);
    assert_null(sessions_local_get(st, ida, sizeof(ida), 1000, 0));
    /* The other entry is untouched. */
    SSL_SESSION *got = sessions_local_get(st, idb, sizeof(idb), 1000, 0);
    assert_ptr_equal(got, b);
    SSL_SESSION_free(got);

    /* We still hold a: removing dropped only the store's reference. */
    assert_int_equal(live_sessions(), 2);
    SSL_SESSION_free(a);
    assert_int_equal(live_sessions(), 1);
    SSL_SESSION_free(b);
    assert_int_equal(live_sessions(), 1); /* the store's reference to b */
    sessions_local_free(st);
    assert_int_equal(live_sessions(), 0);
}

/* However many sessions go in, the store never holds more than its bound. */
static void
test_capacity_bound(void **state)
{
    (void)state;
    const size_t capacity = 200;
    const size_t bound = SHARDS * (capacity / SHARDS + 1);
    struct sessions_local *st = sessions_local_new(capacity);

    assert_non_null(st);
    for (uint32_t i = 0; i < 5000; i++) {
        SSL_SESSION *s = make_session(1000 + i, 1000, 300);
        assert_int_equal(sessions_local_put(st, s), 0);
        SSL_SESSION_free(s);
        size_t n = sessions_local_count(st);
        assert_true(n <= bound);
        /* Exactly the evicted sessions were freed. */
        assert_int_equal((size_t)live_sessions(), n);
    }
    /* Far more than the bound went in, so every shard is full. */
    assert_int_equal(sessions_local_count(st), bound);
    /* The most recent session is always kept. */
    unsigned char id[32];
    make_id(id, 1000 + 4999);
    SSL_SESSION *got = sessions_local_get(st, id, sizeof(id), 1000, 0);
    assert_non_null(got);
    SSL_SESSION_free(got);
    sessions_local_free(st);
    assert_int_equal(live_sessions(), 0);
}

/*
 * Find `n` seeds (other than `anchor`) whose IDs share a shard with the ID
 * of `anchor`, without knowing the hash: in a store that keeps one session
 * per shard, putting a session into the anchor's shard evicts the anchor.
 */
static void
find_same_shard(uint32_t anchor, uint32_t *out, size_t n)
{
    struct sessions_local *probe = sessions_local_new(0); /* one per shard */
    unsigned char ida[32], idx[32];
    size_t found = 0;

    assert_non_null(probe);
    make_id(ida, anchor);
    SSL_SESSION *a = make_session(anchor, 1000, 300);
    assert_int_equal(sessions_local_put(probe, a), 0);
    for (uint32_t seed = anchor + 1; found < n; seed++) {
        assert_true(seed < anchor + 100000);
        SSL_SESSION *x = make_session(seed, 1000, 300);
        assert_int_equal(sessions_local_put(probe, x), 0);
        SSL_SESSION *still = sessions_local_get(probe, ida, sizeof(ida), 1000, 0);
        make_id(idx, seed);
        if (still == NULL) {
            out[found++] = seed;
            assert_int_equal(sessions_local_put(probe, a), 0); /* evicts x */
        } else {
            SSL_SESSION_free(still);
            assert_int_equal(sessions_local_remove(probe, idx, sizeof(idx)), 1);
        }
        SSL_SESSION_free(x);
    }
    SSL_SESSION_free(a);
    sessions_local_free(probe);
}

static bool
has(struct sessions_local *st, uint32_t seed)
{
    unsigned char id[32];

    make_id(id, seed);
    SSL_SESSION *s = sessions_local_get(st, id, sizeof(id), 1000, 0);
    SSL_SESSION_free(s);
    return s != NULL;
}

static void
put_seed(struct sessions_local *st, uint32_t seed)
{
    SSL_SESSION *s = make_session(seed, 1000, 300);

    assert_int_equal(sessions_local_put(st, s), 0);
    SSL_SESSION_free(s);
}

/* With two places per shard, the least recently used of a shard goes first. */
static void
test_lru_within_shard(void **state)
{
    (void)state;
    const uint32_t a = 500000;
    uint32_t same[3];

    find_same_shard(a, same, 3);
    assert_int_equal(live_sessions(), 0);
    uint32_t b = same[0], c = same[1], d = same[2];

    /* capacity 64: 64 / 64 + 1 = 2 sessions per shard. */
    struct sessions_local *st = sessions_local_new(SHARDS);
    assert_non_null(st);

    /* Untouched: insertion order decides; a goes when c comes. */
    put_seed(st, a);
    put_seed(st, b);
    put_seed(st, c);
    assert_int_equal(sessions_local_count(st), 2);
    assert_int_equal(live_sessions(), 2);
    assert_false(has(st, a));
    /* Order is now b (older) then c, but looking c up... */
    assert_true(has(st, c));
    assert_true(has(st, b)); /* ...and then b makes c the least recent. */
    put_seed(st, d);
    assert_false(has(st, c));
    assert_true(has(st, b));
    assert_true(has(st, d));

    /* A replacement counts as use: b is refreshed, so d goes. */
    put_seed(st, b);
    put_seed(st, a);
    assert_false(has(st, d));
    assert_true(has(st, b));
    assert_true(has(st, a));
    assert_int_equal(sessions_local_count(st), 2);

    /* After a remove there is room again: nothing is evicted. */
    unsigned char id[32];
    make_id(id, b);
    assert_int_equal(sessions_local_remove(st, id, sizeof(id)), 1);
    put_seed(st, c);
    assert_true(has(st, a));
    assert_true(has(st, c));
    assert_int_equal(sessions_local_count(st), 2);
    sessions_local_free(st);
}

/* ---- threads ---- */

#define THREADS    4
#define SHARED_IDS 256

struct thread_arg {
    struct sessions_local *st;
    SSL_SESSION **sessions;
    unsigned seed;
    long ops;
    long hits;
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
thread_main(void *arg)
{
    struct thread_arg *ta = arg;
    unsigned x = ta->seed;
    double end = now_s() + 0.5;

    while (now_s() < end) {
        for (int k = 0; k < 64; k++) {
            x = x * 1103515245u + 12345u;
            unsigned which = (x >> 8) % SHARED_IDS;
            unsigned op = (x >> 20) % 8;
            SSL_SESSION *s = ta->sessions[which];
            unsigned len;
            const unsigned char *id = SSL_SESSION_get_id(s, &len);
            if (op < 3) {
                if (sessions_local_put(ta->st, s) != 0) {
                    ta->ops = -1; /* the caller sees the failure */
                    return NULL;
                }
            } else if (op < 6) {
                SSL_SESSION *got = sessions_local_get(ta->st, id, len, 1000, op == 5);
                if (got != NULL) {
                    if (got != s) {
                        ta->ops = -1;
                        return NULL;
                    }
                    ta->hits++;
                    SSL_SESSION_free(got);
                }
            } else {
                (void)sessions_local_remove(ta->st, id, len);
            }
            ta->ops++;
        }
    }
    return NULL;
}

static void
test_threads(void **state)
{
    (void)state;
    /* Small capacity: eviction happens under contention too. */
    struct sessions_local *st = sessions_local_new(SHARDS);
    SSL_SESSION *sessions[SHARED_IDS];
    struct thread_arg args[THREADS];
    pthread_t tids[THREADS];
    long total = 0, hits = 0;

    assert_non_null(st);
    for (uint32_t i = 0; i < SHARED_IDS; i++) {
        sessions[i] = make_session(900000 + i, 1000, 300);
    }
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct thread_arg){.st = st, .sessions = sessions, .seed = 77u + (unsigned)i};
        assert_int_equal(pthread_create(&tids[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(tids[i], NULL), 0);
        assert_true(args[i].ops > 0);
        total += args[i].ops;
        hits += args[i].hits;
    }
    print_message("threads: %ld operations, %ld hits\n", total, hits);
    assert_true(hits > 0);
    assert_true(sessions_local_count(st) <= 2 * SHARDS);

    /* Every entry still stored is one of ours and hands back the right object. */
    for (uint32_t i = 0; i < SHARED_IDS; i++) {
        unsigned len;
        const unsigned char *id = SSL_SESSION_get_id(sessions[i], &len);
        SSL_SESSION *got = sessions_local_get(st, id, len, 1000, 0);
        if (got != NULL) {
            assert_ptr_equal(got, sessions[i]);
            SSL_SESSION_free(got);
        }
    }
    /* The store's references go with it; ours are the only ones left. */
    sessions_local_free(st);
    assert_int_equal(live_sessions(), SHARED_IDS);
    for (uint32_t i = 0; i < SHARED_IDS; i++) {
        SSL_SESSION_free(sessions[i]);
    }
    assert_int_equal(live_sessions(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_hit_and_miss, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_short_ids, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_bad_ids, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_replace_same_id, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_expiry_at_now, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_take_removes, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_remove, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_capacity_bound, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_lru_within_shard, setup_counts, teardown_counts),
        cmocka_unit_test_setup_teardown(test_threads, setup_counts, teardown_counts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
