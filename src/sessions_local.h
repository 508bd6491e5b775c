/*
 * sessions_local.h - the in-process session store: TLS 1.2 session IDs and
 * TLS 1.3 stateful tickets, shared by every worker of the process.
 *
 * Any worker thread may call every function concurrently.  The store is
 * split into shards, each with its own mutex, hash table and LRU list, so
 * two workers contend only when they touch the same shard at the same
 * moment (design.md: the one allowed exception to "no shared lock").  The
 * store holds one reference to each SSL_SESSION it keeps.
 */
#ifndef TESSERA_SESSIONS_LOCAL_H
#define TESSERA_SESSIONS_LOCAL_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

struct sessions_local;

/* A store that keeps at most `capacity` sessions (least recently used go first). */
struct sessions_local *sessions_local_new(size_t capacity);
void sessions_local_free(struct sessions_local *s);

/* Keep `sess` under its session ID (takes a new reference; the caller keeps
 * its own).  Replaces an entry with the same ID.  Returns 0, -EINVAL for a
 * session without an ID, or -ENOMEM. */
int sessions_local_put(struct sessions_local *s, SSL_SESSION *sess);

/* The session stored under `id`, with a reference the caller owns, or NULL
 * if there is none or it expired at `now`.  When `take` is true the entry
 * is removed as it is returned (single-use TLS 1.3 tickets). */
SSL_SESSION *sessions_local_get(struct sessions_local *s, const unsigned char *id, size_t len,
                                time_t now, int take);

/* Remove the entry under `id`, if any.  Returns 1 if one was removed. */
int sessions_local_remove(struct sessions_local *s, const unsigned char *id, size_t len);

/* Number of sessions held (sums the shards; for stats and tests). */
size_t sessions_local_count(struct sessions_local *s);

#endif
