/*
 * err.h - an error message for the operator: "FILE:LINE: what is wrong".
 *
 * Filled by the configuration loader and the start-up steps that read files
 * (certificates, keys, secrets); printed by whoever gave up.
 */
#ifndef TESSERA_ERR_H
#define TESSERA_ERR_H

struct err {
    char msg[1024];
};

/* Format into err->msg (nothing when err is NULL). */
void err_set(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
