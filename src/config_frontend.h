/*
 * config_frontend.h - the `frontends` list of the configuration (listen,
 * backend, certificates, ALPN, PROXY protocol, client certificates).
 *
 * Main thread, while a configuration loads: config.c calls these.
 */
#ifndef TESSERA_CONFIG_FRONTEND_H
#define TESSERA_CONFIG_FRONTEND_H

struct config_frontend;
struct config_loader;

/* Read and check every entry of `frontends` into ld->cfg.  0, or -1 with
 * the loader's error set (FILE:LINE). */
int config_frontend_load_all(struct config_loader *ld);

/* Free what one frontend owns (not the struct itself). */
void config_frontend_free(struct config_frontend *fe);

#endif
