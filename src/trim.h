/*
 * trim.h - give memory back to the system once a surge of connections has
 * ended.
 *
 * glibc keeps what a surge freed in its arenas (one per worker thread) for
 * reuse; it returns it only when asked (malloc_trim).  The supervisor asks
 * from its own thread, which serves no connection, every TRIM_EVERY_MS,
 * when trim_due says a surge has ended: the open connections fell by at
 * least TRIM_MIN_DROP and to half or less of the peak since the last trim.
 * Main thread only.
 */
#ifndef TESSERA_TRIM_H
#define TESSERA_TRIM_H

#include <stdbool.h>
#include <stddef.h>

#define TRIM_EVERY_MS 2000
#define TRIM_MIN_DROP 1000

struct trim {
    size_t peak; /* most connections open since the last trim */
};

/* Note `open` connections now; true when memory should be given back
 * (the peak then starts again from `open`).  Pure. */
bool trim_due(struct trim *t, size_t open);

/* Give back what the allocator holds free; returns whether any was. */
bool trim_now(void);

#endif
