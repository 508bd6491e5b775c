/*
 * trim.c - see trim.h.
 */
#include "trim.h"

#include <malloc.h>

bool
trim_due(struct trim *t, size_t open)
{
    if (open > t->peak) {
        t->peak = open;
        return false;
    }
    if (t->peak - open < TRIM_MIN_DROP || open > t->peak / 2) {
        return false;
    }
    t->peak = open;
    return true;
}

bool
trim_now(void)
{
    return malloc_trim(0) == 1;
}
