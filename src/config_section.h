/*
 * config_section.h - reading one libconfig group: typed getters with
 * FILE:LINE errors, plus reading the file that holds the groups.
 *
 * Main thread only; used only by config.c.  Every getter reports its error
 * through config_section_fail() into the loader's struct err and returns -1;
 * copied strings belong to the struct config being loaded.
 */
#ifndef TESSERA_CONFIG_SECTION_H
#define TESSERA_CONFIG_SECTION_H

#include <stdbool.h>
#include <stddef.h>

#include <libconfig.h>

#include "err.h"

struct addr;
struct cidr;
struct config;

/* Longest setting name in a message ("frontends[0].certs[1].cert"). */
#define CONFIG_SECTION_LABEL_MAX 96

/* What one config_load() call works with. */
struct config_loader {
    const char *path;       /* the file as given: fallback for error messages */
    char *dir;              /* the real path of its folder (malloc'd; the caller frees it) */
    config_setting_t *root; /* libconfig's tree, alive during the load only */
    struct config *cfg;     /* being filled (config.c's; this module never looks inside) */
    struct err *err;
};

/* A group being read: `group` is NULL when the file leaves it out. */
struct config_section {
    struct config_loader *ld;
    config_setting_t *group;
    const char *name; /* "tls", "frontends[0]", "" for the top level */
};

/* One accepted spelling of an enumerated string value. */
struct config_section_choice {
    const char *name;
    int value;
};

/*
 * Set ld->dir (the real path of the file's folder), then read ld->path into `lc` (@include resolved
 * against that folder) and point ld->root at its root.  -1 with "FILE:LINE: text" on a syntax
 * error.
 */
int config_section_read_file(struct config_loader *ld, config_t *lc);

/*
 * Record "FILE:LINE: what" for setting `s` (the top level when NULL) and
 * return -1, so that callers can write `return config_section_fail(...)`.
 */
int config_section_fail(struct config_loader *ld, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strdup() into *out (caller owns it) that reports failure against `s`. */
int config_section_strdup(struct config_loader *ld, const config_setting_t *s, const char *text,
                          char **out);
/* `text` made absolute against the configuration file's folder; new string. */
int config_section_resolve_path(struct config_loader *ld, const config_setting_t *s,
                                const char *text, char **out);
/* Error unless `path` names a regular file this process may read. */
int config_section_check_readable(struct config_loader *ld, const config_setting_t *s,
                                  const char *label, const char *path);
/* "FILE:LINE" of setting `s` (the top level when NULL), as errors name it. */
void config_section_place(const struct config_loader *ld, const config_setting_t *s, char *buf,
                          size_t len);

/* Format a setting's name for messages; truncation only shortens it. */
void config_section_set_label(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "sec.key", or "key" at the top level. */
void config_section_label(const struct config_section *sec, const char *key, char *buf, size_t len);

/* The member `key` of sec's group, or NULL. */
config_setting_t *config_section_member(const struct config_section *sec, const char *key);
/* Where to point when something is missing: the group, or the top level. */
const config_setting_t *config_section_anchor(const struct config_section *sec);
/* Where a value came from: its setting, else config_section_anchor(). */
const config_setting_t *config_section_where(const struct config_section *sec, const char *key);

/* Error on the first member of sec's group whose name is not in `known`. */
int config_section_check_keys(const struct config_section *sec, const char *const *known);
/*
 * Open the top-level group `name` (absent is fine: all defaults) and reject
 * unknown keys in it.  `known` ends with NULL.
 */
int config_section_open(struct config_loader *ld, const char *name, const char *const *known,
                        struct config_section *sec);

/*
 * Typed getters: `dflt` when the key is absent, an error naming the key's
 * line when it has the wrong type or range.  *where, when asked for, is the
 * setting or NULL.
 */
/* An integer in [min, max]; INT and INT64 both count. */
int config_section_get_uint(const struct config_section *sec, const char *key, long long min,
                            long long max, unsigned dflt, unsigned *out);
int config_section_get_bool(const struct config_section *sec, const char *key, bool dflt,
                            bool *out);
/* A string borrowed from libconfig's tree (valid during the load only). */
int config_section_peek_string(const struct config_section *sec, const char *key, const char *dflt,
                               const char **out, config_setting_t **where);
/* A string copied into *out (owned by the config). */
int config_section_get_string(const struct config_section *sec, const char *key, const char *dflt,
                              char **out);
/* A string that must be present; error at the enclosing group otherwise. */
int config_section_require_string(const struct config_section *sec, const char *key,
                                  const char **out, config_setting_t **where);
/* A required "HOST:PORT" (addr_parse()): parsed into *addr, text copied. */
int config_section_require_addr(const struct config_section *sec, const char *key, char **text_out,
                                struct addr *addr);
/* One of `choices` (ended by a NULL name) by name; `dflt` (a value) when absent. */
int config_section_get_choice(const struct config_section *sec, const char *key,
                              const struct config_section_choice *choices, int dflt, int *out);
/*
 * An array `[ ]` (or list `( )`) of strings, copied into a new vector owned
 * by the config.  Absent means empty.
 */
int config_section_get_strings(const struct config_section *sec, const char *key, char ***out,
                               size_t *nout, config_setting_t **where);

/* An array of CIDRs ("10.0.0.0/8", "::1"; cidr_parse()) into a new vector
 * owned by the config.  Absent means empty. */
int config_section_get_cidrs(const struct config_section *sec, const char *key, struct cidr **out,
                             size_t *nout, config_setting_t **where);

/*
 * The entries of a list of groups `( { ... }, ... )`; a single group `{ }`
 * counts as a list of one.  Returns the number of entries or -1.
 * config_section_group_elem() is entry `i` of the same setting.
 */
int config_section_group_list(struct config_loader *ld, config_setting_t *s, const char *label);
config_setting_t *config_section_group_elem(config_setting_t *s, int i);

#endif
