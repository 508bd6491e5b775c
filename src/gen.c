/*
 * gen.c - see gen.h.
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tlsctx.h"

struct tlsctx **
gen_build_tls(const struct config *cfg, struct ocsp_store *ocsp, struct err *err)
{
    struct tlsctx **tls = calloc(cfg->nfrontends, sizeof(*tls));

    if (tls == NULL) {
        err_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->nfrontends; i++) {
        tls[i] = tlsctx_new(cfg, &cfg->frontends[i], ocsp, err);
        if (tls[i] == NULL) {
            gen_free_tls(cfg, tls);
            return NULL;
        }
    }
    return tls;
}

void
gen_free_tls(const struct config *cfg, struct tlsctx **tls)
{
    if (tls == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->nfrontends; i++) {
        tlsctx_free(tls[i]);
    }
    free(tls);
}

/* The slot counting frontend `name`: the one it had, or a new one.  -1 when
 * every slot is taken.  Main thread. */
static int
gen_slot_of(struct gen_slots *slots, const char *name)
{
    size_t n = atomic_load(&slots->n);

    for (size_t i = 0; i < n; i++) {
        if (strcmp(slots->name[i], name) == 0) {
            return (int)i;
        }
    }
    if (n == GEN_SLOTS || (slots->name[n] = strdup(name)) == NULL) {
        return -1;
    }
    atomic_store(&slots->n, n + 1); /* readers see the name before the count */
    return (int)n;
}

struct gen *
gen_new(const struct config *cfg, struct config *owned, unsigned number, struct gen_slots *slots,
        struct ocsp_store *ocsp, struct err *err)
{
    struct gen *g = calloc(1, sizeof(*g));

    if (g == NULL || (g->slot = calloc(cfg->nfrontends, sizeof(*g->slot))) == NULL) {
        free(g);
        err_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->nfrontends; i++) {
        int s = gen_slot_of(slots, cfg->frontends[i].name);
        if (s < 0) {
            err_set(err,
                    "%s: frontend %s: this process has counted %d frontend names already; "
                    "restart it to add more",
                    cfg->path, cfg->frontends[i].name, GEN_SLOTS);
            free(g->slot);
            free(g);
            return NULL;
        }
        g->slot[i] = (unsigned)s;
    }
    g->tls = gen_build_tls(cfg, ocsp, err);
    if (g->tls == NULL) {
        free(g->slot);
        free(g);
        return NULL;
    }
    g->magic = GEN_MAGIC;
    atomic_init(&g->refs, 1);
    g->number = number;
    g->cfg = cfg;
    g->owned = owned;
    return g;
}

struct gen *
gen_ref(struct gen *g)
{
    CHECK_OBJ(g, GEN_MAGIC);
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

void
gen_unref(struct gen *g)
{
    if (g == NULL) {
        return;
    }
    CHECK_OBJ(g, GEN_MAGIC);
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    gen_free_tls(g->cfg, g->tls);
    free(g->slot);
    config_free(g->owned);
    g->magic = 0;
    free(g);
}

size_t
gen_slots_count(const struct gen_slots *slots)
{
    return atomic_load(&slots->n);
}

void
gen_slots_free(struct gen_slots *slots)
{
    size_t n = atomic_load(&slots->n);

    for (size_t i = 0; i < n; i++) {
        free(slots->name[i]);
    }
    atomic_store(&slots->n, 0);
}
