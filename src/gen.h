/*
 * gen.h - a generation: one loaded configuration and the TLS contexts built
 * from it, shared by the workers and by every connection that started under
 * it.
 *
 * The supervisor makes generation 1 at start-up and a new one on each
 * successful reload (SIGHUP); a worker switches to the new one when told,
 * and each connection holds a reference to the generation it was accepted
 * under, so established connections keep their certificates and settings
 * until they close.  The last reference frees the generation (on whichever
 * thread drops it: everything in it is read-only by then).
 *
 * Counters are kept per frontend *name*, in slots that outlive generations
 * (struct gen_slots), so a frontend's counters carry on across reloads and
 * a new frontend gets a fresh slot.  gen_new and the slots' writers run on
 * the main thread; gen_ref/gen_unref and the slots' readers on any thread.
 */
#ifndef TESSERA_GEN_H
#define TESSERA_GEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct ocsp_store;

/* Distinct frontend names one process can count (a reload that would need
 * more fails, asking for a restart). */
#define GEN_SLOTS 256

struct gen_slots {
    char *name[GEN_SLOTS]; /* set once, never changed until gen_slots_free */
    _Atomic size_t n;      /* published after name[n - 1] is set */
};

struct gen {
    unsigned magic;
#define GEN_MAGIC 0x47454e52u
    _Atomic unsigned refs;
    unsigned number; /* 1 at start-up, +1 per successful reload */
    const struct config *cfg;
    struct config *owned; /* cfg when the generation frees it (generation 1 borrows it) */
    struct tlsctx **tls;  /* per frontend */
    unsigned *slot;       /* per frontend: its counter slot */
};

/* Every frontend's TLS contexts (also what `tessera -t` checks, with `ocsp`
 * NULL), their staples from `ocsp`.  An array of cfg->nfrontends, or NULL
 * with err set. */
struct tlsctx **gen_build_tls(const struct config *cfg, struct ocsp_store *ocsp, struct err *err);
void gen_free_tls(const struct config *cfg, struct tlsctx **tls);

/* A generation over `cfg` with one reference; it frees `owned` (NULL, or
 * cfg itself, taken over) with its last reference.  NULL with err set;
 * `owned` is then still the caller's. */
struct gen *gen_new(const struct config *cfg, struct config *owned, unsigned number,
                    struct gen_slots *slots, struct ocsp_store *ocsp, struct err *err);
struct gen *gen_ref(struct gen *g);
/* NULL is fine. */
void gen_unref(struct gen *g);

/* Slots in use, and the name of slot i < that. */
size_t gen_slots_count(const struct gen_slots *slots);
void gen_slots_free(struct gen_slots *slots);

#endif
