/*
 * fuzz_config.c - libFuzzer harness for the configuration loader
 * (config_load: libconfig text -> validated struct config, src/config.c
 * and src/config_section.c), followed by what `tessera -t` does next with
 * a valid one: an SSL_CTX per frontend (tlsctx_new).
 *
 * Input: the text of a configuration file, written to the scratch folder
 * (fuzz_common.h), whose certificates, keys and secret files it may name by
 * their relative names (ec.pem, ec.key, rsa.pem, sni.pem, secret.hex...).
 *
 * The loader opens what the file names: @include'd files (libconfig opens
 * those itself, and a FIFO there blocks it), certificates, keys and secret
 * files (config.c requires regular files, but /proc/kmsg is one and blocks
 * a reader).  The operator writes the file, so that is no hole, but a
 * fuzzer must not wander the disk: inputs with "@include", and inputs whose
 * parsed string values start with '/' or contain "..", are rejected before
 * config_load sees them (the same parse libconfig will do, on the same
 * file).  So every path the loader opens is inside the scratch folder.
 *
 * Checked: config_load never crashes or leaks; a failure names
 * "FILE:LINE: "; a success gives 1..64 frontends, each with certificates.
 *
 * Thread: the fuzzer's only thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "check.h"
#include "config.h"
#include "fuzz_common.h"
#include "tlsctx.h"

static char *conf_path;

/* True if a string anywhere under `s` could name a file outside the folder. */
static bool
leaves_folder(const config_setting_t *s)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        const char *v = config_setting_get_string(s);

        return v != NULL && (v[0] == '/' || strstr(v, "..") != NULL);
    }
    if (config_setting_is_aggregate(s)) {
        int n = config_setting_length(s);

        for (int i = 0; i < n; i++) {
            if (leaves_folder(config_setting_get_elem(s, (unsigned)i))) {
                return true;
            }
        }
    }
    return false;
}

/* Parse the file as the loader will and say whether it stays in the folder. */
static bool
stays_in_folder(void)
{
    config_t lc;
    bool ok = true;

    config_init(&lc);
    config_set_include_dir(&lc, fuzz_dir());
    if (config_read_file(&lc, conf_path) == CONFIG_TRUE) {
        ok = !leaves_folder(config_root_setting(&lc));
    }
    config_destroy(&lc);
    return ok;
}

/* "PATH:LINE: " at the start of msg. */
static bool
names_file_and_line(const char *msg)
{
    size_t n = strlen(conf_path);
    const char *p = msg + n + 1;

    if (strncmp(msg, conf_path, n) != 0 || msg[n] != ':' || !isdigit((unsigned char)*p)) {
        return false;
    }
    while (isdigit((unsigned char)*p)) {
        p++;
    }
    return p[0] == ':' && p[1] == ' ';
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_seeds_or_go_on(NULL); /* the seeds of this target are configuration files */
    /* A world, for the scratch folder and the global initialisation. */
    (void)fuzz_world_new("world.conf", fuzz_world_config("local", true));
    if (asprintf(&conf_path, "%s/fuzz.conf", fuzz_dir()) < 0) {
        abort();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *cfg = NULL;
    struct err err = {""};

    if (memmem(data, size, "@include", 8) != NULL) {
        return -1;
    }
    fuzz_write("fuzz.conf", data, size);
    if (!stays_in_folder()) {
        return -1;
    }
    if (config_load(conf_path, &cfg, &err) < 0) {
        if (!names_file_and_line(err.msg)) {
            fprintf(stderr, "fuzz_config: error without FILE:LINE: %s\n", err.msg);
            CHECK(!"an error message without FILE:LINE");
        }
        return 0;
    }
    CHECK(cfg->nfrontends >= 1 && cfg->nfrontends <= 64 && cfg->workers >= 1);
    for (size_t i = 0; i < cfg->nfrontends; i++) {
        CHECK(cfg->frontends[i].ncerts >= 1 && cfg->frontends[i].name != NULL);
        struct tlsctx *t = tlsctx_new(cfg, &cfg->frontends[i], NULL, &err);
        if (t == NULL) {
            fprintf(stderr, "fuzz_config: a valid configuration builds no SSL_CTX: %s\n", err.msg);
            CHECK(!"config_load accepted what tlsctx_new refuses");
        }
        tlsctx_free(t);
    }
    config_free(cfg);
    return 0;
}
