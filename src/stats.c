/*
 * stats.c - per-worker counters: metadata table, histogram, summing.
 *
 * stats_observe_handshake runs on the owning worker; stats_sum on any thread
 * (it only loads).  See stats.h for the ownership rule.
 */
#include "stats.h"

const uint64_t stats_hs_bounds_us[STATS_HS_BUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

const uint64_t stats_mc_bounds_us[STATS_MC_BUCKETS] = {
    25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};

const struct stats_meta stats_meta[STAT__COUNT] = {
#define STATS_META(id, family, labels, help) [STAT_##id] = {family, labels, help},
    STATS_COUNTERS(STATS_META)
#undef STATS_META
};

static void
observe(_Atomic uint64_t *bucket, _Atomic uint64_t *sum, const uint64_t *bounds, size_t n,
        uint64_t us)
{
    size_t i = 0;

    while (i < n && us > bounds[i]) {
        i++;
    }
    uint64_t v = atomic_load_explicit(&bucket[i], memory_order_relaxed);
    atomic_store_explicit(&bucket[i], v + 1, memory_order_relaxed);
    v = atomic_load_explicit(sum, memory_order_relaxed);
    atomic_store_explicit(sum, v + us, memory_order_relaxed);
}

void
stats_observe_handshake(struct stats *s, uint64_t us)
{
    observe(s->hs_bucket, &s->hs_sum_us, stats_hs_bounds_us, STATS_HS_BUCKETS, us);
}

void
stats_observe_memcached(struct stats *s, uint64_t us)
{
    observe(s->mc_bucket, &s->mc_sum_us, stats_mc_bounds_us, STATS_MC_BUCKETS, us);
}

void
stats_sum(struct stats_totals *dst, const struct stats *src)
{
    for (size_t i = 0; i < STAT__COUNT; i++) {
        dst->counter[i] += atomic_load_explicit(&src->counter[i], memory_order_relaxed);
    }
    for (size_t i = 0; i <= STATS_HS_BUCKETS; i++) {
        dst->hs_bucket[i] += atomic_load_explicit(&src->hs_bucket[i], memory_order_relaxed);
    }
    dst->hs_sum_us += atomic_load_explicit(&src->hs_sum_us, memory_order_relaxed);
    for (size_t i = 0; i <= STATS_MC_BUCKETS; i++) {
        dst->mc_bucket[i] += atomic_load_explicit(&src->mc_bucket[i], memory_order_relaxed);
    }
    dst->mc_sum_us += atomic_load_explicit(&src->mc_sum_us, memory_order_relaxed);
    dst->connections_active += atomic_load_explicit(&src->connections_active, memory_order_relaxed);
}
