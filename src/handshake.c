/*
 * handshake.c - see handshake.h.
 */
#include "handshake.h"

#include "check.h"

static int handshake_ex_index = -1;

int
handshake_global_init(void)
{
    if (handshake_ex_index < 0) {
        handshake_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    return handshake_ex_index < 0 ? -1 : 0;
}

int
handshake_attach(struct handshake *h, SSL *ssl)
{
    CHECK_OBJ(h, HANDSHAKE_MAGIC);
    return SSL_set_ex_data(ssl, handshake_ex_index, h) == 1 ? 0 : -1;
}

struct handshake *
handshake_of(const SSL *ssl)
{
    struct handshake *h;

    CAST_OBJ(h, SSL_get_ex_data(ssl, handshake_ex_index), HANDSHAKE_MAGIC);
    return h;
}

void
handshake_park(struct handshake *h)
{
    CHECK_OBJ(h, HANDSHAKE_MAGIC);
    h->parked = 1;
}

void
handshake_resume(struct handshake *h)
{
    CHECK_OBJ(h, HANDSHAKE_MAGIC);
    if (h->parked) {
        h->parked = 0;
        h->on_resume(h);
    }
}
