/*
 * tickets.c - RFC 5077 / RFC 8446 stateless ticket encryption with the
 * worker's copy of the ticket keyring.
 *
 * Runs on workers inside SSL_do_handshake.  Ticket format is OpenSSL's:
 * 16-byte key name, 16-byte IV, AES-256-CBC ciphertext, HMAC-SHA256.  The
 * renewal rule is design.md's: always renew a TLS 1.3 ticket (clients use
 * each once, and OpenSSL sends none when the callback returns 1); renew a
 * TLS 1.2 ticket only when its key is older than today's encrypt key.
 */
#include "tickets.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "evloop.h"
#include "handshake.h"
#include "keyring.h"
#include "sessions.h"
#include "stats.h"

/* Fetched once: an implicit fetch per ticket (EVP_aes_256_cbc()) would
 * search the provider store on every call. */
static EVP_CIPHER *ticket_cipher;

int
tickets_init(void)
{
    ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    return ticket_cipher != NULL ? 0 : -1;
}

void
tickets_cleanup(void)
{
    EVP_CIPHER_free(ticket_cipher);
    ticket_cipher = NULL;
}

static int
tickets_set_mac(EVP_MAC_CTX *hctx, const struct keyring_key *k)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)(uintptr_t)k->hmac,
                                          sizeof(k->hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t) "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    return EVP_MAC_CTX_set_params(hctx, params);
}

static int
on_ticket_key(SSL *ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
              EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    struct handshake *hs = handshake_of(ssl);
    const struct keyring *ring = hs->env->ring;
    time_t now = (time_t)evloop_wall(hs->env->loop);
    const struct keyring_key *k;

    if (enc) {
        k = keyring_encrypt_key(ring, now);
        if (k == NULL) {
            return 0; /* no key yet: issue no ticket */
        }
        if (RAND_bytes(iv, 16) <= 0) {
            return -1;
        }
        memcpy(name, k->name, KEYRING_NAME_LEN);
        if (EVP_EncryptInit_ex(ectx, ticket_cipher, NULL, k->aes, iv) <= 0 ||
            tickets_set_mac(hctx, k) <= 0) {
            return -1;
        }
        stats_add(hs->stats, STAT_TICKETS_ISSUED, 1);
        return 1;
    }

    k = keyring_find(ring, name);
    if (k == NULL) {
        stats_add(hs->stats, STAT_TICKETS_UNKNOWN_KEY, 1);
        return 0; /* unknown or retired key: full handshake */
    }
    if (tickets_set_mac(hctx, k) <= 0 ||
        EVP_DecryptInit_ex(ectx, ticket_cipher, NULL, k->aes, iv) <= 0) {
        return -1;
    }
    stats_add(hs->stats, STAT_TICKETS_DECRYPTED, 1);
    if (SSL_version(ssl) == TLS1_3_VERSION || keyring_needs_renewal(ring, k, now)) {
        stats_add(hs->stats, STAT_TICKETS_RENEWED, 1);
        return 2;
    }
    return 1;
}

/* Every ticket carries the id of the instance that issued it, so that a
 * resumption can be counted as local or remote. */
static int
on_ticket_generate(SSL *ssl, void *arg)
{
    const struct sessions *s = handshake_of(ssl)->env->sessions;
    SSL_SESSION *sess = SSL_get0_session(ssl);

    (void)arg;
    if (sess == NULL) {
        return 1;
    }
    return SSL_SESSION_set1_ticket_appdata(sess, s->instance, sizeof(s->instance));
}

static SSL_TICKET_RETURN
on_ticket_decrypted(SSL *ssl, SSL_SESSION *sess, const unsigned char *keyname, size_t keylen,
                    SSL_TICKET_STATUS status, void *arg)
{
    (void)keyname;
    (void)keylen;
    (void)arg;
    switch (status) {
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW: {
        struct handshake *hs = handshake_of(ssl);
        const struct sessions *s = hs->env->sessions;
        void *data = NULL;
        size_t len = 0;
        if (SSL_SESSION_get0_ticket_appdata(sess, &data, &len) == 1 && len == sizeof(s->instance) &&
            memcmp(data, s->instance, len) != 0) {
            hs->ticket_remote = 1;
        }
        return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
    }
    case SSL_TICKET_FATAL_ERR_MALLOC:
    case SSL_TICKET_FATAL_ERR_OTHER:
        return SSL_TICKET_RETURN_ABORT;
    default:
        /* No ticket, an empty one, or one we could not decrypt: a full
         * handshake, and a new ticket. */
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }
}

void
tickets_setup_ctx(SSL_CTX *ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
    SSL_CTX_set_session_ticket_cb(ctx, on_ticket_generate, on_ticket_decrypted, NULL);
}
