/*
 * config_files.h - the files a configuration names, checked readable and
 * recorded once in cfg->files (the list `tessera -t` checks for `user`).
 *
 * Main thread, while a configuration loads (config.c, config_frontend.c).
 */
#ifndef TESSERA_CONFIG_FILES_H
#define TESSERA_CONFIG_FILES_H

#include <libconfig.h>

struct config_loader;

/* Add `path` (named by setting `s`; `label` is a string literal such as
 * "key file") to cfg->files, once.  0, or -1 with the loader's error set. */
int config_files_note(struct config_loader *ld, const config_setting_t *s, const char *label,
                      const char *path);

/* config_section_check_readable, then config_files_note. */
int config_files_readable(struct config_loader *ld, const config_setting_t *s, const char *label,
                          const char *path);

#endif
