/*
 * privs.h - leaving root: becoming the configuration's `user` and `group`
 * with CAP_NET_BIND_SERVICE as the only capability left, and, for
 * `tessera -t`, finding the configured files that user could not read.
 *
 * Main thread only.  privs_drop() must run before any other thread exists:
 * capabilities belong to each thread, and a thread inherits its creator's,
 * so dropping first leaves every later thread (workers, memcached helpers,
 * the admin endpoint) with the same identity and the same capability sets.
 */
#ifndef TESSERA_PRIVS_H
#define TESSERA_PRIVS_H

#include <stdio.h>

#include "config.h"

/*
 * As root with cfg->run_as.user set: limit the capability bounding set to
 * CAP_NET_BIND_SERVICE, take the user's supplementary groups (initgroups)
 * and cfg->run_as.gid, become cfg->run_as.uid (real, effective and saved),
 * keep CAP_NET_BIND_SERVICE permitted and effective (so that a new listener
 * on a port below 1024 can still be bound), and check the result: root
 * cannot be regained, every id is the configured one, no other capability
 * is left.  Returns 0, or -1 with err set (start-up must then stop).
 * Without `user` (a warning when running as root) or when not root (a
 * warning when `user` names someone else) it changes nothing and returns 0.
 */
int privs_drop(const struct config *cfg, struct err *err);

/*
 * `tessera -t`: write one warning line to `out` for the configuration file
 * and each of cfg->files that cfg->run_as could not open for reading (it
 * reads them as root at start-up, but as that user when it reads them
 * again).  The check runs in a child process that becomes that user, so
 * permissions, ACLs and the folders on the way all count.  Returns the
 * number of such files (0 without `user`).
 */
int privs_check_files(const struct config *cfg, FILE *out);

#endif
