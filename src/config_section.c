/*
 * config_section.c - reading a libconfig file one group at a time: the parse,
 * unknown keys, typed getters, and "FILE:LINE: what" for every error.
 *
 * Thread: main thread only, on behalf of config.c (its only user).
 * Ownership: strings borrowed with config_section_peek_string() live as long
 * as libconfig's tree; everything copied out (get_string, get_strings,
 * resolve_path, require_addr) belongs to the caller's struct config.
 */
#include "config_section.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "addr.h"

/*
 * libconfig names an @include'd file as written in the directive, relative
 * to the include folder (the main file's folder); such names are printed
 * with that folder in front so that the reader can open them.
 */
static bool
config_section_is_include(const struct config_loader *ld, const char *file)
{
    return file != NULL && file[0] != '/' && strcmp(file, ld->path) != 0 && ld->dir != NULL;
}

/*
 * Record "FILE:LINE: what" for setting `s` (the top level when NULL) and
 * return -1, so that callers can write `return config_section_fail(...)`.
 */
void
config_section_place(const struct config_loader *ld, const config_setting_t *s, char *buf,
                     size_t len)
{
    const char *file = ld->path;
    unsigned line = 1;

    if (s == NULL) {
        s = ld->root;
    }
    if (s != NULL) {
        if (config_setting_source_file(s) != NULL) {
            file = config_setting_source_file(s);
        }
        /* The top-level group has no line of its own; name the first one. */
        if (config_setting_source_line(s) > 0) {
            line = config_setting_source_line(s);
        }
    }
    if (config_section_is_include(ld, file)) {
        snprintf(buf, len, "%s/%s:%u", ld->dir, file, line);
    } else {
        snprintf(buf, len, "%s:%u", file, line);
    }
}

int
config_section_fail(struct config_loader *ld, const config_setting_t *s, const char *fmt, ...)
{
    char what[768];
    char place[256];
    va_list ap;

    config_section_place(ld, s, place, sizeof(place));
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    err_set(ld->err, "%s: %s", place, what);
    return -1;
}

/* strdup() that reports failure against setting `s`. */
int
config_section_strdup(struct config_loader *ld, const config_setting_t *s, const char *text,
                      char **out)
{
    *out = strdup(text);
    if (*out == NULL) {
        return config_section_fail(ld, s, "out of memory");
    }
    return 0;
}

/*
 * Make `text` absolute against the configuration file's folder unless it
 * already is.  *out is a new string owned by the caller.
 */
int
config_section_resolve_path(struct config_loader *ld, const config_setting_t *s, const char *text,
                            char **out)
{
    if (text[0] == '/') {
        return config_section_strdup(ld, s, text, out);
    }
    if (asprintf(out, "%s/%s", ld->dir, text) < 0) {
        *out = NULL;
        return config_section_fail(ld, s, "out of memory");
    }
    return 0;
}

/* Error unless `path` names a regular file this process may read. */
int
config_section_check_readable(struct config_loader *ld, const config_setting_t *s,
                              const char *label, const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
        return config_section_fail(ld, s, "%s '%s': %s", label, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return config_section_fail(ld, s, "%s '%s' is not a regular file", label, path);
    }
    return 0;
}

/*
 * Format a setting's name for messages ("frontends[0].certs[1].cert").
 * Truncation only shortens a message, so vsnprintf's result is not checked.
 */
void
config_section_set_label(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void
config_section_label(const struct config_section *sec, const char *key, char *buf, size_t len)
{
    if (sec->name[0] == '\0') {
        config_section_set_label(buf, len, "%s", key);
    } else {
        config_section_set_label(buf, len, "%s.%s", sec->name, key);
    }
}

config_setting_t *
config_section_member(const struct config_section *sec, const char *key)
{
    return sec->group != NULL ? config_setting_get_member(sec->group, key) : NULL;
}

/* Where to point when something is missing: the group, or the top level. */
const config_setting_t *
config_section_anchor(const struct config_section *sec)
{
    return sec->group != NULL ? sec->group : sec->ld->root;
}

/* Where a value came from: its setting, else the group or the top level. */
const config_setting_t *
config_section_where(const struct config_section *sec, const char *key)
{
    config_setting_t *s = config_section_member(sec, key);

    return s != NULL ? s : config_section_anchor(sec);
}

/* Error on the first member of sec's group whose name is not in `known`. */
int
config_section_check_keys(const struct config_section *sec, const char *const *known)
{
    int n;

    if (sec->group == NULL) {
        return 0;
    }
    n = config_setting_length(sec->group);
    for (int i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(sec->group, (unsigned)i);
        const char *name = config_setting_name(s);
        size_t k;

        for (k = 0; known[k] != NULL; k++) {
            if (strcmp(known[k], name) == 0) {
                break;
            }
        }
        if (known[k] != NULL) {
            continue;
        }
        if (sec->name[0] == '\0') {
            return config_section_fail(sec->ld, s, "unknown setting '%s'", name);
        }
        return config_section_fail(sec->ld, s, "unknown setting '%s' in '%s'", name, sec->name);
    }
    return 0;
}

/*
 * Open the top-level group `name` (absent is fine: all defaults) and reject
 * unknown keys in it.
 */
int
config_section_open(struct config_loader *ld, const char *name, const char *const *known,
                    struct config_section *sec)
{
    config_setting_t *s = config_setting_get_member(ld->root, name);

    sec->ld = ld;
    sec->group = NULL;
    sec->name = name;
    if (s != NULL && !config_setting_is_group(s)) {
        return config_section_fail(ld, s, "'%s' must be a group: %s = { ... };", name, name);
    }
    sec->group = s;
    return config_section_check_keys(sec, known);
}

/* An integer in [min, max]; `dflt` when absent.  INT and INT64 both count. */
int
config_section_get_uint(const struct config_section *sec, const char *key, long long min,
                        long long max, unsigned dflt, unsigned *out)
{
    config_setting_t *s = config_section_member(sec, key);
    char label[CONFIG_SECTION_LABEL_MAX];
    long long v;

    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    config_section_label(sec, key, label, sizeof(label));
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
        return config_section_fail(sec->ld, s, "'%s' must be an integer", label);
    }
    v = config_setting_get_int64(s);
    if (v < min || v > max) {
        return config_section_fail(sec->ld, s, "'%s' must be between %lld and %lld (got %lld)",
                                   label, min, max, v);
    }
    *out = (unsigned)v;
    return 0;
}

int
config_section_get_bool(const struct config_section *sec, const char *key, bool dflt, bool *out)
{
    config_setting_t *s = config_section_member(sec, key);
    char label[CONFIG_SECTION_LABEL_MAX];

    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        config_section_label(sec, key, label, sizeof(label));
        return config_section_fail(sec->ld, s, "'%s' must be a boolean (true or false)", label);
    }
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

/*
 * A string setting, borrowed from libconfig's tree (valid during the load
 * only); `dflt` when absent (may be NULL).  *where is the setting or NULL.
 */
int
config_section_peek_string(const struct config_section *sec, const char *key, const char *dflt,
                           const char **out, config_setting_t **where)
{
    config_setting_t *s = config_section_member(sec, key);
    char label[CONFIG_SECTION_LABEL_MAX];

    *where = s;
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        config_section_label(sec, key, label, sizeof(label));
        return config_section_fail(sec->ld, s, "'%s' must be a string", label);
    }
    *out = config_setting_get_string(s);
    return 0;
}

/* A string setting copied into *out (owned by the config). */
int
config_section_get_string(const struct config_section *sec, const char *key, const char *dflt,
                          char **out)
{
    config_setting_t *s;
    const char *text;

    if (config_section_peek_string(sec, key, dflt, &text, &s) < 0) {
        return -1;
    }
    return config_section_strdup(sec->ld, s, text, out);
}

/* A string that must be present; error at the enclosing group otherwise. */
int
config_section_require_string(const struct config_section *sec, const char *key, const char **out,
                              config_setting_t **where)
{
    char label[CONFIG_SECTION_LABEL_MAX];

    if (config_section_peek_string(sec, key, NULL, out, where) < 0) {
        return -1;
    }
    if (*out == NULL) {
        config_section_label(sec, key, label, sizeof(label));
        return config_section_fail(sec->ld, config_section_anchor(sec), "'%s' is required", label);
    }
    return 0;
}

/* A required "HOST:PORT": parsed into *addr, the text copied into *text_out. */
int
config_section_require_addr(const struct config_section *sec, const char *key, char **text_out,
                            struct addr *addr)
{
    char label[CONFIG_SECTION_LABEL_MAX];
    config_setting_t *s;
    const char *text;
    const char *why;

    if (config_section_require_string(sec, key, &text, &s) < 0) {
        return -1;
    }
    config_section_label(sec, key, label, sizeof(label));
    if (addr_parse(text, false, addr, &why) < 0) {
        return config_section_fail(sec->ld, s, "'%s' = \"%s\": %s", label, text, why);
    }
    return config_section_strdup(sec->ld, s, text, text_out);
}

/* One of `choices` by name; `dflt` (a value) when absent. */
int
config_section_get_choice(const struct config_section *sec, const char *key,
                          const struct config_section_choice *choices, int dflt, int *out)
{
    char label[CONFIG_SECTION_LABEL_MAX];
    char names[128] = "";
    config_setting_t *s;
    const char *text;
    size_t n;

    if (config_section_peek_string(sec, key, NULL, &text, &s) < 0) {
        return -1;
    }
    if (text == NULL) {
        *out = dflt;
        return 0;
    }
    for (n = 0; choices[n].name != NULL; n++) {
        if (strcmp(choices[n].name, text) == 0) {
            *out = choices[n].value;
            return 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(names);

        snprintf(names + used, sizeof(names) - used, "%s\"%s\"",
                 i == 0 ? "" : (i + 1 == n ? " or " : ", "), choices[i].name);
    }
    config_section_label(sec, key, label, sizeof(label));
    return config_section_fail(sec->ld, s, "'%s' must be %s (got \"%s\")", label, names, text);
}

/*
 * An array `[ ]` (or list `( )`) of strings, copied into a new vector owned
 * by the config.  Absent means empty.  *where is the setting or NULL.
 */
int
config_section_get_strings(const struct config_section *sec, const char *key, char ***out,
                           size_t *nout, config_setting_t **where)
{
    config_setting_t *s = config_section_member(sec, key);
    char label[CONFIG_SECTION_LABEL_MAX];
    int n;

    *where = s;
    *out = NULL;
    *nout = 0;
    if (s == NULL) {
        return 0;
    }
    config_section_label(sec, key, label, sizeof(label));
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        return config_section_fail(sec->ld, s, "'%s' must be an array of strings: [ \"...\", ... ]",
                                   label);
    }
    n = config_setting_length(s);
    if (n == 0) {
        return 0;
    }
    *out = calloc((size_t)n, sizeof(**out));
    if (*out == NULL) {
        return config_section_fail(sec->ld, s, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            return config_section_fail(sec->ld, e,
                                       "'%s' must be an array of strings: [ \"...\", ... ]", label);
        }
        if (config_section_strdup(sec->ld, e, config_setting_get_string(e), &(*out)[i]) < 0) {
            return -1;
        }
        (*nout)++;
    }
    return 0;
}

/* An array of CIDR strings (cidr_parse()) parsed into a new vector owned by
 * the config; an entry that does not parse is an error on its own line. */
int
config_section_get_cidrs(const struct config_section *sec, const char *key, struct cidr **out,
                         size_t *nout, config_setting_t **where)
{
    char label[CONFIG_SECTION_LABEL_MAX];
    char **texts = NULL;
    size_t n = 0;
    const char *why;
    int rc = -1;

    *out = NULL;
    *nout = 0;
    if (config_section_get_strings(sec, key, &texts, &n, where) < 0) {
        goto done;
    }
    if (n > 0 && (*out = calloc(n, sizeof(**out))) == NULL) {
        config_section_fail(sec->ld, *where, "out of memory");
        goto done;
    }
    config_section_label(sec, key, label, sizeof(label));
    for (size_t i = 0; i < n; i++) {
        if (cidr_parse(texts[i], &(*out)[i], &why) < 0) {
            config_section_fail(sec->ld, config_setting_get_elem(*where, (unsigned)i),
                                "'%s' entry \"%s\": %s", label, texts[i], why);
            goto done;
        }
        (*nout)++;
    }
    rc = 0;
done:
    for (size_t i = 0; i < n; i++) {
        free(texts[i]);
    }
    free(texts);
    return rc;
}

/*
 * The entries of a list of groups `( { ... }, ... )`; a single group `{ }`
 * counts as a list of one.  Returns the number of entries or -1.
 */
int
config_section_group_list(struct config_loader *ld, config_setting_t *s, const char *label)
{
    if (config_setting_is_group(s)) {
        return 1;
    }
    if (!config_setting_is_list(s)) {
        return config_section_fail(ld, s, "'%s' must be a list of groups: ( { ... }, ... )", label);
    }
    return config_setting_length(s);
}

config_setting_t *
config_section_group_elem(config_setting_t *s, int i)
{
    return config_setting_is_group(s) ? s : config_setting_get_elem(s, (unsigned)i);
}

/* ---- the file ---------------------------------------------------------------------------- */

/* ld->dir: the real path of the file's folder. */
static int
read_paths(struct config_loader *ld)
{
    char *copy = strdup(ld->path);
    int saved;

    if (copy == NULL) {
        err_set(ld->err, "%s: out of memory", ld->path);
        return -1;
    }
    ld->dir = realpath(dirname(copy), NULL);
    saved = errno;
    free(copy);
    if (ld->dir == NULL) {
        err_set(ld->err, "%s: cannot resolve its folder: %s", ld->path, strerror(saved));
        return -1;
    }
    return 0;
}

/* Read the file into `lc`; "FILE:LINE: text" for syntax errors. */
static int
read_parse(struct config_loader *ld, config_t *lc)
{
    struct stat st;

    /* libconfig reports only "file I/O error"; errno says which. */
    if (stat(ld->path, &st) < 0 || access(ld->path, R_OK) < 0) {
        err_set(ld->err, "%s: %s", ld->path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(ld->err, "%s: not a regular file", ld->path);
        return -1;
    }
    config_set_include_dir(lc, ld->dir);
    if (config_read_file(lc, ld->path) != CONFIG_TRUE) {
        const char *file = config_error_file(lc);

        if (file == NULL) {
            file = ld->path;
        }
        if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
            err_set(ld->err, "%s: %s", file, config_error_text(lc));
        } else if (config_section_is_include(ld, file)) {
            err_set(ld->err, "%s/%s:%d: %s", ld->dir, file, config_error_line(lc),
                    config_error_text(lc));
        } else {
            err_set(ld->err, "%s:%d: %s", file, config_error_line(lc), config_error_text(lc));
        }
        return -1;
    }
    ld->root = config_root_setting(lc);
    return 0;
}

int
config_section_read_file(struct config_loader *ld, config_t *lc)
{
    if (read_paths(ld) < 0 || read_parse(ld, lc) < 0) {
        return -1;
    }
    return 0;
}
