/*
 * certs.h - the certificate table of one frontend and its SNI lookup.
 *
 * Built on the main thread at start-up, then read-only: workers call
 * certs_lookup() concurrently without locks.  The table maps DNS names
 * (exact "www.example.com" or wildcard "*.example.com") to a small integer,
 * the index of a certificate context chosen by the caller (tlsctx.c groups
 * an ECDSA and an RSA certificate for the same names into one context).
 */
#ifndef TESSERA_CERTS_H
#define TESSERA_CERTS_H

#include <stddef.h>

#include <openssl/x509.h>

struct certs;

struct certs *certs_new(void);
void certs_free(struct certs *c);

/*
 * Register `name` for context `idx`.  Names are compared case-insensitively
 * and a trailing dot is ignored.  A name that is already registered keeps
 * its first context (the first certificate in the configuration wins).
 * Returns 0, or -1 for a name that is not a valid DNS name or wildcard
 * ("*.example.com" is valid; "*", "a.*.com", "*x.example.com" are not).
 */
int certs_add_name(struct certs *c, const char *name, int idx);

/*
 * Register every DNS name of `x509` for context `idx`: its subjectAltName
 * DNS entries, or its subject CN when it has no DNS SAN (RFC 6125 6.4.4).
 * Returns the number of names registered (0 if it has none).
 */
int certs_add_x509(struct certs *c, X509 *x509, int idx);

/*
 * The context for `servername` (the client's SNI, may be NULL): an exact
 * match first, then a wildcard that covers exactly one leftmost label,
 * else -1 (the caller uses its default context).
 */
int certs_lookup(const struct certs *c, const char *servername);

/* Number of names in the table (for logging and tests). */
size_t certs_count(const struct certs *c);

#endif
