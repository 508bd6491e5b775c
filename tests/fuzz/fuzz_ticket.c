/*
 * fuzz_ticket.c - libFuzzer harness for the session-ticket key callback
 * (src/tickets.c) over a worker's keyring (src/keyring.c), as OpenSSL
 * calls it on a server SSL from tlsctx.c (tickets on, the local store).
 *
 * Input: byte 0 is the mode:
 *   bits 0-1  how the ticket is made from the rest of the input:
 *             0  the rest is the ticket as the client sends it;
 *             1  the name of keyring key <byte 1> followed by the rest (the
 *                callback finds the key; the HMAC decides);
 *             2  the rest is the plaintext (an SSL_SESSION's DER) that the
 *                harness encrypts and MACs with keyring key <byte 1> as
 *                OpenSSL's ticket format wants (name | IV | AES-256-CBC |
 *                HMAC-SHA256), so OpenSSL decrypts and decodes it;
 *             3  as 2, but a plaintext that decodes as a session gets the
 *                current time first (seeds would otherwise expire)
 *   bit 2     TLS 1.3: the ticket is the identity of a pre_shared_key
 *             extension (its binder is wrong: the handshake fails after the
 *             ticket is decrypted); otherwise TLS 1.2's session_ticket
 *   bit 3     SNI www.example.org (the other SSL_CTX), else localhost
 * byte 1 picks the keyring key (current, next, older, superseded local,
 * oldest kept).  The harness builds the ClientHello around the ticket and
 * hands it to a fresh server SSL; a TLS 1.2 resumption with renewal also
 * runs the encrypt side (a new ticket).
 *
 * Thread: the fuzzer's only thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "check.h"
#include "fuzz_common.h"

#define HELLO_MAX 20000

static struct fuzz_world *world;

struct out {
    unsigned char *p;
    size_t n, cap;
};

static void
put(struct out *o, const void *p, size_t n)
{
    CHECK(o->n + n <= o->cap);
    memcpy(o->p + o->n, p, n);
    o->n += n;
}

static void
put_u8(struct out *o, unsigned v)
{
    unsigned char b = (unsigned char)v;
    put(o, &b, 1);
}

static void
put_u16(struct out *o, unsigned v)
{
    put_u8(o, v >> 8);
    put_u8(o, v);
}

/* Open a length field of `width` bytes; close_len() fills it in. */
static size_t
open_len(struct out *o, size_t width)
{
    size_t at = o->n;

    for (size_t i = 0; i < width; i++) {
        put_u8(o, 0);
    }
    return at;
}

static void
close_len(struct out *o, size_t at, size_t width)
{
    size_t len = o->n - at - width;

    for (size_t i = 0; i < width; i++) {
        o->p[at + width - 1 - i] = (unsigned char)(len >> (8 * i));
    }
}

static void
ext_begin(struct out *o, unsigned type, size_t *at)
{
    put_u16(o, type);
    *at = open_len(o, 2);
}

/* A ClientHello record offering `ticket` (see the header comment). */
static size_t
build_hello(unsigned char *buf, size_t cap, bool tls13, bool other_sni, const unsigned char *ticket,
            size_t tlen)
{
    static const unsigned char x25519_share[32] = {9};
    static const unsigned suites12[] = {0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8};
    static const unsigned suites13[] = {0x1301, 0x1302, 0x1303};
    const char *sni = other_sni ? "www.example.org" : "localhost";
    struct out o = {buf, 0, cap};
    unsigned char fixed[32];
    size_t rec, hs, lst, exts, e, inner;

    memset(fixed, 0x5a, sizeof(fixed));
    put_u8(&o, 22); /* handshake record */
    put_u16(&o, 0x0301);
    rec = open_len(&o, 2);
    put_u8(&o, 1); /* client_hello */
    hs = open_len(&o, 3);
    put_u16(&o, 0x0303);
    put(&o, fixed, 32); /* random */
    put_u8(&o, 32);     /* session ID: echoed when the ticket is accepted */
    put(&o, fixed, 32);
    lst = open_len(&o, 2);
    for (size_t i = 0; tls13 && i < ARRAY_LEN(suites13); i++) {
        put_u16(&o, suites13[i]);
    }
    for (size_t i = 0; i < ARRAY_LEN(suites12); i++) {
        put_u16(&o, suites12[i]);
    }
    close_len(&o, lst, 2);
    put_u8(&o, 1); /* compression: null */
    put_u8(&o, 0);

    exts = open_len(&o, 2);
    ext_begin(&o, 0, &e); /* server_name */
    inner = open_len(&o, 2);
    put_u8(&o, 0);
    put_u16(&o, (unsigned)strlen(sni));
    put(&o, sni, strlen(sni));
    close_len(&o, inner, 2);
    close_len(&o, e, 2);
    ext_begin(&o, 10, &e); /* supported_groups: x25519, P-256 */
    put_u16(&o, 4);
    put_u16(&o, 0x001d);
    put_u16(&o, 0x0017);
    close_len(&o, e, 2);
    ext_begin(&o, 11, &e); /* ec_point_formats: uncompressed */
    put_u8(&o, 1);
    put_u8(&o, 0);
    close_len(&o, e, 2);
    ext_begin(&o, 13, &e); /* signature_algorithms */
    put_u16(&o, 6);
    put_u16(&o, 0x0403);
    put_u16(&o, 0x0804);
    put_u16(&o, 0x0401);
    close_len(&o, e, 2);
    ext_begin(&o, 16, &e); /* ALPN: h2 */
    put_u16(&o, 3);
    put_u8(&o, 2);
    put(&o, "h2", 2);
    close_len(&o, e, 2);
    ext_begin(&o, 23, &e); /* extended_master_secret */
    close_len(&o, e, 2);
    if (!tls13) {
        ext_begin(&o, 35, &e); /* session_ticket */
        put(&o, ticket, tlen);
        close_len(&o, e, 2);
    } else {
        ext_begin(&o, 43, &e); /* supported_versions */
        put_u8(&o, 4);
        put_u16(&o, 0x0304);
        put_u16(&o, 0x0303);
        close_len(&o, e, 2);
        ext_begin(&o, 51, &e); /* key_share: x25519 */
        inner = open_len(&o, 2);
        put_u16(&o, 0x001d);
        put_u16(&o, 32);
        put(&o, x25519_share, 32);
        close_len(&o, inner, 2);
        close_len(&o, e, 2);
        ext_begin(&o, 45, &e); /* psk_key_exchange_modes: psk_dhe_ke */
        put_u8(&o, 1);
        put_u8(&o, 1);
        close_len(&o, e, 2);
        ext_begin(&o, 41, &e); /* pre_shared_key: last */
        inner = open_len(&o, 2);
        put_u16(&o, (unsigned)tlen);
        put(&o, ticket, tlen);
        put_u16(&o, 0); /* obfuscated_ticket_age */
        put_u16(&o, 1000);
        close_len(&o, inner, 2);
        inner = open_len(&o, 2);
        put_u8(&o, 32);
        put(&o, fixed, 32);
        close_len(&o, inner, 2);
        close_len(&o, e, 2);
    }
    close_len(&o, exts, 2);
    close_len(&o, hs, 3);
    close_len(&o, rec, 2);
    return o.n;
}

/*
 * name | IV | AES-256-CBC(plaintext) | HMAC-SHA256 over what precedes it,
 * under keyring key `k`: what on_ticket_key's keys make.  Returns the
 * length written to `out` (cap >= len + 100).
 */
static size_t
seal_ticket(const struct keyring_key *k, const unsigned char *pt, size_t len, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t n = 0, maclen = 0;
    int l1 = 0, l2 = 0;

    CHECK(ctx != NULL);
    memcpy(out, k->name, KEYRING_NAME_LEN);
    memset(out + 16, 0xa5, 16); /* IV */
    CHECK(EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->aes, out + 16) == 1);
    CHECK(EVP_EncryptUpdate(ctx, out + 32, &l1, pt, (int)len) == 1);
    CHECK(EVP_EncryptFinal_ex(ctx, out + 32 + l1, &l2) == 1);
    EVP_CIPHER_CTX_free(ctx);
    n = 32 + (size_t)l1 + (size_t)l2;
    CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->hmac, sizeof(k->hmac), out, n, out + n,
                    32, &maclen) != NULL);
    return n + maclen;
}

/* The plaintext as a session with today's time, or NULL if it is none. */
static unsigned char *
refresh(const unsigned char *pt, size_t len, size_t *outlen)
{
    const unsigned char *p = pt;
    SSL_SESSION *sess = d2i_SSL_SESSION(NULL, &p, (long)len);
    unsigned char *der = NULL;
    int n;

    if (sess == NULL) {
        return NULL;
    }
    SSL_SESSION_set_time(sess, (long)time(NULL));
    n = i2d_SSL_SESSION(sess, &der);
    SSL_SESSION_free(sess);
    if (n <= 0) {
        return NULL;
    }
    *outlen = (size_t)n;
    return der;
}

static void
offer(unsigned mode, const unsigned char *ticket, size_t tlen)
{
    unsigned char *hello = malloc(HELLO_MAX);
    CHECK(hello != NULL);
    size_t n = build_hello(hello, HELLO_MAX, mode & 4, mode & 8, ticket, tlen);
    SSL *ssl = fuzz_server_new(world);

    fuzz_server_feed(ssl, hello, n);
    fuzz_server_free(ssl);
    free(hello);
}

/* ---- seeds ---- */

static void
seed(const char *name, unsigned mode, unsigned key, const unsigned char *body, size_t len)
{
    unsigned char head[2] = {(unsigned char)mode, (unsigned char)key};

    fuzz_seed(name, head, sizeof(head), body, len);
}

static void
write_seeds(void)
{
    static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

    for (size_t v = 0; v < ARRAY_LEN(versions); v++) {
        SSL_CTX *cctx = fuzz_client_ctx(versions[v]);
        SSL *client = fuzz_client_new(cctx);
        SSL *server = fuzz_server_new(world);
        const unsigned char *tick = NULL;
        size_t tlen = 0;
        unsigned tls13 = versions[v] == TLS1_3_VERSION ? 4 : 0;
        char name[64];
        char host[] = "localhost"; /* the macro casts away const */

        SSL_set_tlsext_host_name(client, host);
        CHECK(fuzz_handshake(client, server, NULL, 0, NULL));
        SSL_SESSION *cs = SSL_get1_session(client);
        SSL_SESSION *ss = SSL_get1_session(server);
        CHECK(cs != NULL && ss != NULL);
        SSL_SESSION_get0_ticket(cs, &tick, &tlen);
        CHECK(tlen > 0);
        snprintf(name, sizeof(name), "real-ticket-tls1%c", tls13 ? '3' : '2');
        seed(name, tls13, 0, tick, tlen);
        snprintf(name, sizeof(name), "named-key-tls1%c", tls13 ? '3' : '2');
        seed(name, 1 | tls13, 2, tick + KEYRING_NAME_LEN, tlen - KEYRING_NAME_LEN);
        unsigned char *der = NULL;
        int dlen = i2d_SSL_SESSION(ss, &der);
        CHECK(dlen > 0);
        for (unsigned k = 0; k < 5; k++) {
            snprintf(name, sizeof(name), "session-key%u-tls1%c", k, tls13 ? '3' : '2');
            seed(name, 3 | tls13, k, der, (size_t)dlen);
        }
        snprintf(name, sizeof(name), "session-sni-tls1%c", tls13 ? '3' : '2');
        seed(name, 3 | 8 | tls13, 0, der, (size_t)dlen);
        OPENSSL_free(der);
        SSL_SESSION_free(cs);
        SSL_SESSION_free(ss);
        SSL_free(client);
        fuzz_server_free(server);
        SSL_CTX_free(cctx);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    world = fuzz_world_new("ticket.conf", fuzz_world_config("local", true));
    fuzz_seeds_or_go_on(write_seeds);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    unsigned mode = data[0];
    const struct keyring_key *k = &world->ring->keys[data[1] % world->ring->n];
    const unsigned char *rest = data + 2;
    size_t len = size - 2;
    unsigned char *fresh = NULL;
    size_t tlen = 0;

    if ((mode & 3) == 3) {
        size_t flen = 0;
        fresh = refresh(rest, len, &flen);
        if (fresh != NULL) {
            rest = fresh;
            len = flen;
        }
    }
    /* A ticket must fit the ClientHello's 16-bit lengths and one record. */
    if (len > 8192) {
        OPENSSL_free(fresh);
        return 0;
    }
    unsigned char *ticket = malloc(len + 128);
    CHECK(ticket != NULL);
    switch (mode & 3) {
    case 0:
        memcpy(ticket, rest, len);
        tlen = len;
        break;
    case 1:
        memcpy(ticket, k->name, KEYRING_NAME_LEN);
        memcpy(ticket + KEYRING_NAME_LEN, rest, len);
        tlen = KEYRING_NAME_LEN + len;
        break;
    default:
        tlen = seal_ticket(k, rest, len, ticket);
        break;
    }
    if (tlen > 0) {
        offer(mode, ticket, tlen);
    }
    OPENSSL_free(fresh);
    free(ticket);
    return 0;
}
