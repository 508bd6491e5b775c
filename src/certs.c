/*
 * certs.c - the SNI table of one frontend: DNS name -> certificate context.
 *
 * Responsibility: validate and normalise DNS names (exact and "*." wildcard),
 * keep them in one array sorted by name, and answer lookups by binary search.
 * Thread: built on the main thread at start-up; after that the table is never
 * written, so any number of workers call certs_lookup() at once without locks.
 * Ownership: the table owns copies of its names; X509 objects passed to
 * certs_add_x509() stay the caller's.
 */
#include "certs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "check.h"

/* RFC 1035 2.3.4: 253 characters in text form (without the root's dot), labels of 63. */
#define CERTS_NAME_MAX  253
#define CERTS_LABEL_MAX 63

struct certs_entry {
    char *name; /* lowercase, no trailing dot; wildcards keep their leading "*." */
    int idx;
};

struct certs {
    struct certs_entry *v; /* sorted by strcmp() on name */
    size_t n;
    size_t cap;
};

/*
 * Copy `in` (`len` bytes, not necessarily NUL-terminated) to `out` in the
 * table's normal form: lowercase, one trailing dot dropped.  `out` has room
 * for CERTS_NAME_MAX + 1 bytes.  The name must be LDH labels (underscore
 * allowed, as real-world certificates use it) of 1..63 characters, 253 in
 * all; when `allow_wildcard`, the leftmost label may be exactly "*" provided
 * at least two labels follow it (RFC 6125 6.4.3 allows no partial-label or
 * inner wildcards, and we refuse "*.com"-style public-suffix wildcards).
 * Returns true when the name is valid.
 */
static bool
certs_normalise(const char *in, size_t len, bool allow_wildcard, char *out)
{
    size_t label = 0;  /* characters in the current label */
    size_t labels = 1; /* labels seen so far, counting the current one */
    bool wildcard = false;

    if (len > 0 && in[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len > CERTS_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];

        if (ch == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            labels++;
            out[i] = '.';
            continue;
        }
        if (ch == '*') {
            /* Only a leftmost label that is the star alone. */
            if (!allow_wildcard || i != 0 || len < 2 || in[1] != '.') {
                return false;
            }
            wildcard = true;
        } else if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                     ch == '_')) {
            return false;
        }
        if (++label > CERTS_LABEL_MAX) {
            return false;
        }
        out[i] = (char)ch;
    }
    if (label == 0) {
        return false;
    }
    if (wildcard && labels < 3) {
        return false;
    }
    out[len] = '\0';
    return true;
}

static int
certs_entry_cmp(const void *key, const void *elem)
{
    const struct certs_entry *e = elem;

    return strcmp(key, e->name);
}

/* Binary search for `name`; returns its index, or the index where it would go with *found false. */
static size_t
certs_position(const struct certs *c, const char *name, bool *found)
{
    size_t lo = 0;
    size_t hi = c->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(name, c->v[mid].name);

        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    *found = false;
    return lo;
}

/* Returns the empty table, or NULL if out of memory. */
struct certs *
certs_new(void)
{
    return calloc(1, sizeof(struct certs));
}

/* Frees the table and its names; NULL is a no-op. */
void
certs_free(struct certs *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
    }
    free(c->v);
    free(c);
}

/*
 * Main thread, before the table is published.  `idx` must be >= 0 (-1 is
 * the lookup's "no match").  Returns 0 when the name is held (newly, or by
 * an earlier registration that keeps its context), -1 for an invalid name or
 * when memory runs out.
 */
int
certs_add_name(struct certs *c, const char *name, int idx)
{
    char norm[CERTS_NAME_MAX + 1];
    struct certs_entry *v;
    char *copy;
    size_t pos;
    bool found;

    CHECK(c != NULL);
    CHECK(idx >= 0);
    if (name == NULL || !certs_normalise(name, strlen(name), true, norm)) {
        return -1;
    }
    pos = certs_position(c, norm, &found);
    if (found) {
        return 0; /* the first certificate in the configuration wins */
    }
    if (c->n == c->cap) {
        size_t cap = c->cap == 0 ? 8 : 2 * c->cap;

        v = realloc(c->v, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        c->v = v;
        c->cap = cap;
    }
    copy = strdup(norm);
    if (copy == NULL) {
        return -1;
    }
    memmove(&c->v[pos + 1], &c->v[pos], (c->n - pos) * sizeof(c->v[0]));
    c->v[pos].name = copy;
    c->v[pos].idx = idx;
    c->n++;
    return 0;
}

/* Register a name held in an ASN1 string; one with an embedded NUL is refused. */
static bool
certs_add_asn1(struct certs *c, const unsigned char *data, int len, int idx)
{
    char buf[CERTS_NAME_MAX + 2];

    if (data == NULL || len <= 0 || (size_t)len >= sizeof(buf) ||
        memchr(data, '\0', (size_t)len) != NULL) {
        return false;
    }
    memcpy(buf, data, (size_t)len);
    buf[len] = '\0';
    return certs_add_name(c, buf, idx) == 0;
}

/*
 * Main thread.  RFC 6125 6.4.4: the subject CN is a fallback used only when
 * the certificate has no DNS subjectAltName at all; a certificate whose DNS
 * SANs are all invalid registers nothing rather than its CN.  Invalid names
 * are skipped.  The count includes names an earlier certificate already
 * holds (typically the ECDSA/RSA twin of this one), so 0 means "this
 * certificate names nothing usable".
 */
int
certs_add_x509(struct certs *c, X509 *x509, int idx)
{
    GENERAL_NAMES *sans;
    X509_NAME *subject;
    bool has_dns = false;
    int added = 0;

    CHECK(c != NULL);
    CHECK(x509 != NULL);
    sans = X509_get_ext_d2i(x509, NID_subject_alt_name, NULL, NULL);
    if (sans != NULL) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
            const GENERAL_NAME *gen = sk_GENERAL_NAME_value(sans, i);

            if (gen->type != GEN_DNS) {
                continue;
            }
            has_dns = true;
            if (certs_add_asn1(c, ASN1_STRING_get0_data(gen->d.dNSName),
                               ASN1_STRING_length(gen->d.dNSName), idx)) {
                added++;
            }
        }
        GENERAL_NAMES_free(sans);
    }
    if (has_dns) {
        return added;
    }
    subject = X509_get_subject_name(x509);
    if (subject == NULL) {
        return added;
    }
    for (int pos = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); pos >= 0;
         pos = X509_NAME_get_index_by_NID(subject, NID_commonName, pos)) {
        const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, pos));
        unsigned char *utf8 = NULL;
        int len;

        /* A CN may be any DirectoryString type; UTF-8 makes non-ASCII fail validation. */
        len = ASN1_STRING_to_UTF8(&utf8, cn);
        if (len < 0) {
            continue;
        }
        if (certs_add_asn1(c, utf8, len, idx)) {
            added++;
        }
        OPENSSL_free(utf8);
    }
    return added;
}

/*
 * Any thread, lock-free once the table is built.  The SNI (RFC 6066 3) is
 * normalised like the registered names; one that is not a valid DNS name,
 * or that carries a '*', matches nothing.  A wildcard is tried by replacing
 * the leftmost label with "*", so it covers exactly one label.
 */
int
certs_lookup(const struct certs *c, const char *servername)
{
    char name[CERTS_NAME_MAX + 2]; /* room for "*" replacing a one-character label */
    const struct certs_entry *e;
    char *dot;

    CHECK(c != NULL);
    if (servername == NULL || c->n == 0) {
        return -1;
    }
    if (!certs_normalise(servername, strnlen(servername, CERTS_NAME_MAX + 2), false, name)) {
        return -1;
    }
    e = bsearch(name, c->v, c->n, sizeof(c->v[0]), certs_entry_cmp);
    if (e != NULL) {
        return e->idx;
    }
    dot = strchr(name, '.');
    if (dot == NULL) {
        return -1;
    }
    /* "a.example.com" -> "*.example.com": the label is at least one character, so it fits. */
    name[0] = '*';
    memmove(name + 1, dot, strlen(dot) + 1);
    e = bsearch(name, c->v, c->n, sizeof(c->v[0]), certs_entry_cmp);
    return e != NULL ? e->idx : -1;
}

size_t
certs_count(const struct certs *c)
{
    CHECK(c != NULL);
    return c->n;
}
