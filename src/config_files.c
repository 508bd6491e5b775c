/*
 * config_files.c - the files a configuration names (certificates, keys,
 * CA and CRL files, OCSP responses, secrets), each checked readable and
 * recorded once in cfg->files, the list `tessera -t` checks for `user`.
 *
 * Main thread, while a configuration loads.
 */
#include "config_files.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_section.h"

/* Add `path` (named by setting `s`; `label` is a string literal such as
 * "key file") to cfg->files, the list `tessera -t` checks for `user`. */
int
config_files_note(struct config_loader *ld, const config_setting_t *s, const char *label,
                  const char *path)
{
    struct config *cfg = ld->cfg;
    struct config_file *f;
    char place[256];

    for (size_t i = 0; i < cfg->nfiles; i++) {
        if (strcmp(cfg->files[i].path, path) == 0) {
            return 0; /* a key that lives in its certificate's file */
        }
    }
    f = realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*cfg->files));
    if (f == NULL) {
        return config_section_fail(ld, s, "out of memory");
    }
    cfg->files = f;
    f = &cfg->files[cfg->nfiles];
    config_section_place(ld, s, place, sizeof(place));
    f->what = label;
    f->path = strdup(path);
    f->place = strdup(place);
    if (f->path == NULL || f->place == NULL) {
        free(f->path);
        free(f->place);
        return config_section_fail(ld, s, "out of memory");
    }
    cfg->nfiles++;
    return 0;
}

/* config_section_check_readable, then config_files_note. */
int
config_files_readable(struct config_loader *ld, const config_setting_t *s, const char *label,
                      const char *path)
{
    if (config_section_check_readable(ld, s, label, path) < 0) {
        return -1;
    }
    return config_files_note(ld, s, label, path);
}
