/*
 * keyring_retired.c - the retirement list: membership, merge, pruning, and
 * its sealed encoding.
 *
 * Pure and single-owner (keyring_cluster's, on the main thread).  Only key
 * names and epochs are listed: a name travels in clear in every ticket
 * anyway, and what a leaked key would expose is its AES and HMAC halves,
 * which the list never holds.  The list is still sealed like every
 * memcached entry, so that nobody with write access to memcached can
 * retire (or un-retire) keys: a forged list does not open, is counted and
 * is replaced.
 */
#include "keyring_retired.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "check.h"
#include "seal.h"

#define LIST_VERSION 1
#define LIST_KIND    3 /* keyring entries are kind 2 */
#define LIST_REC_LEN (8 + KEYRING_NAME_LEN)
#define LIST_LEN_MAX (4 + KEYRING_RETIRED_MAX * LIST_REC_LEN)
_Static_assert(KEYRING_RETIRED_MAX <= 0xffff, "the count fits in 16 bits");

bool
keyring_retired_has(const struct keyring_retired_list *l,
                    const unsigned char name[KEYRING_NAME_LEN])
{
    CHECK(l->n <= KEYRING_RETIRED_MAX);
    for (size_t i = 0; i < l->n; i++) {
        if (memcmp(l->e[i].name, name, KEYRING_NAME_LEN) == 0) {
            return true;
        }
    }
    return false;
}

bool
keyring_retired_add(struct keyring_retired_list *l, const struct keyring_retired *x)
{
    if (keyring_retired_has(l, x->name)) {
        return false;
    }
    if (l->n == KEYRING_RETIRED_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < l->n; i++) {
            if (l->e[i].epoch < l->e[oldest].epoch) {
                oldest = i;
            }
        }
        l->e[oldest] = l->e[--l->n];
    }
    l->e[l->n++] = *x;
    return true;
}

void
keyring_retired_prune(struct keyring_retired_list *l, uint64_t lo)
{
    for (size_t i = 0; i < l->n;) {
        if (l->e[i].epoch + 2 < lo) {
            l->e[i] = l->e[--l->n];
        } else {
            i++;
        }
    }
}

bool
keyring_retired_within(const struct keyring_retired_list *l,
                       const struct keyring_retired_list *other)
{
    for (size_t i = 0; i < l->n; i++) {
        if (!keyring_retired_has(other, l->e[i].name)) {
            return false;
        }
    }
    return true;
}

size_t
keyring_retired_drop(const struct keyring_retired_list *l, struct keyring *r)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n; i++) {
        n += (size_t)keyring_remove_name(r, l->e[i].name);
    }
    return n;
}

unsigned char *
keyring_retired_seal(const struct seal *seal, const char *key, size_t keylen,
                     const struct keyring_retired_list *l, size_t *len)
{
    unsigned char pt[LIST_LEN_MAX];
    size_t ptlen = 4 + l->n * LIST_REC_LEN;
    size_t cap = ptlen + seal_overhead();
    unsigned char *out;

    if (l->n > KEYRING_RETIRED_MAX || (out = malloc(cap)) == NULL) {
        return NULL;
    }
    pt[0] = LIST_VERSION;
    pt[1] = LIST_KIND;
    pt[2] = (unsigned char)(l->n >> 8);
    pt[3] = (unsigned char)l->n;
    for (size_t i = 0; i < l->n; i++) {
        unsigned char *rec = pt + 4 + i * LIST_REC_LEN;
        uint64_t e = l->e[i].epoch;
        for (int b = 7; b >= 0; b--) {
            rec[b] = (unsigned char)e;
            e >>= 8;
        }
        memcpy(rec + 8, l->e[i].name, KEYRING_NAME_LEN);
    }
    if (seal_seal(seal, key, keylen, pt, ptlen, out, cap, len) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

int
keyring_retired_open(const struct seal *seal, const char *key, size_t keylen,
                     const unsigned char *value, size_t vlen, struct keyring_retired_list *out)
{
    unsigned char pt[LIST_LEN_MAX + 16];
    size_t ptlen = 0;
    size_t n;

    out->n = 0;
    if (seal_open(seal, key, keylen, value, vlen, pt, sizeof(pt), &ptlen) < 0 || ptlen < 4 ||
        pt[0] != LIST_VERSION || pt[1] != LIST_KIND) {
        return -1;
    }
    n = (size_t)pt[2] << 8 | pt[3];
    if (n > KEYRING_RETIRED_MAX || ptlen != 4 + n * LIST_REC_LEN) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *rec = pt + 4 + i * LIST_REC_LEN;
        uint64_t e = 0;
        for (int b = 0; b < 8; b++) {
            e = (e << 8) | rec[b];
        }
        out->e[i].epoch = e;
        memcpy(out->e[i].name, rec + 8, KEYRING_NAME_LEN);
    }
    out->n = n;
    return 0;
}
