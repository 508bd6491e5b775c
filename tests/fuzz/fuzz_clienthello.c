/*
 * fuzz_clienthello.c - libFuzzer harness for a client's first flight: the
 * bytes go through a memory BIO into a server SSL built by tlsctx.c like
 * tessera's (SNI callback and certificate groups, ALPN selection, session
 * ID context, the session cache callbacks of sessions.c over the
 * in-process store, the ticket callbacks of tickets.c over a keyring).
 *
 * Input: byte 0 picks the server (bit 0: tickets on; bit 1: the memcached
 * store), the rest is what the client sends.  With the memcached store the
 * client-hello callback is the harness's: it runs sessions.c's decision
 * (sessions_hello_lookup_id: no round trip for a ticket or a TLS 1.3 PSK
 * with tickets on, else the session ID or stateful PSK identity to look up)
 * and goes on as a miss, since a lookup needs a worker's memcached
 * connection that the harness does not have.  Before every input the
 * in-process store holds a TLS 1.2 and a TLS 1.3 session under fixed IDs
 * (FIXED_ID_12, FIXED_ID_13), which the TLS 1.2 resumption seeds offer, so
 * the hit path runs too (and a TLS 1.3 lookup, which takes the session out
 * of the store, changes nothing for the next input).
 *
 * Checked, besides crashes, over-reads and leaks: the ID to look up is
 * 1..32 bytes and lies inside the ClientHello.
 *
 * Thread: the fuzzer's only thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "check.h"
#include "fuzz_common.h"
#include "sessions.h"
#include "sessions_local.h"
#include "tlsctx.h"

/* [tickets][memcached] */
static struct fuzz_world *worlds[2][2];
/* Sessions of this run under fixed IDs (see above). */
static SSL_SESSION *fixed12, *fixed13;
static const unsigned char fixed_id_12[32] = "tessera-fuzz-fixed-id-tls-1.2...";
static const unsigned char fixed_id_13[32] = "tessera-fuzz-fixed-id-tls-1.3...";

static int
on_client_hello(SSL *ssl, int *alert, void *arg)
{
    const struct fuzz_world *fw = arg;
    const unsigned char *id = NULL;
    const unsigned char *sid = NULL;
    bool tls13 = false;

    (void)alert;
    size_t idlen = sessions_hello_lookup_id(ssl, fw->cfg->sessions.tickets, &tls13, &id);
    if (idlen == 0) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    CHECK(idlen <= SSL_MAX_SSL_SESSION_ID_LENGTH && id != NULL);
    /* The ID is the legacy session ID or lies in the pre_shared_key extension. */
    size_t sidlen = SSL_client_hello_get0_session_id(ssl, &sid);
    if (!(sid != NULL && id >= sid && id + idlen <= sid + sidlen)) {
        const unsigned char *psk = NULL;
        size_t psklen = 0;

        CHECK(tls13);
        CHECK(SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &psk, &psklen) == 1);
        CHECK(id >= psk && id + idlen <= psk + psklen);
    }
    /* A miss: the handshake goes on in full. */
    return SSL_CLIENT_HELLO_SUCCESS;
}

static struct fuzz_world *
world_new(bool tickets, bool memcached)
{
    char name[64];

    snprintf(name, sizeof(name), "hello-%d%d.conf", tickets, memcached);
    struct fuzz_world *fw =
        fuzz_world_new(name, fuzz_world_config(memcached ? "memcached" : "local", tickets));
    if (memcached) {
        for (size_t i = 0; i < fw->tls->nctxs; i++) {
            SSL_CTX_set_client_hello_cb(fw->tls->ctxs[i], on_client_hello, fw);
        }
    }
    return fw;
}

/* A session of a full handshake at `version` with `fw`, under ID `id`. */
static SSL_SESSION *
session_with_id(struct fuzz_world *fw, int version, const unsigned char id[32])
{
    SSL_CTX *cctx = fuzz_client_ctx(version);
    SSL *client = fuzz_client_new(cctx);
    SSL *server = fuzz_server_new(fw);

    CHECK(fuzz_handshake(client, server, NULL, 0, NULL));
    SSL_SESSION *made = SSL_get1_session(server);
    SSL_SESSION *sess = made != NULL ? SSL_SESSION_dup(made) : NULL;
    CHECK(sess != NULL && SSL_SESSION_set1_id(sess, id, 32) == 1);
    SSL_SESSION_free(made);
    SSL_free(client);
    fuzz_server_free(server);
    SSL_CTX_free(cctx);
    return sess;
}

static void
put_fixed(struct fuzz_world *fw)
{
    CHECK(sessions_local_put(fw->sessions->local, fixed12) == 0);
    CHECK(sessions_local_put(fw->sessions->local, fixed13) == 0);
}

/* ---- seeds ---- */

struct client_opts {
    const char *name;
    int version;
    const char *sni;
    const char *alpn; /* wire format */
    size_t alpn_len;
    const char *groups;
    bool resume; /* first a full handshake, then the flight that resumes it */
};

/* Everything the client sends until it stops; the session, if any. */
static size_t
client_flight(struct fuzz_world *fw, const struct client_opts *o, SSL_SESSION *resume,
              unsigned char *out, size_t cap, SSL_SESSION **sess)
{
    SSL_CTX *cctx = fuzz_client_ctx(o->version);
    SSL *client = fuzz_client_new(cctx);
    SSL *server = fuzz_server_new(fw);
    size_t len = 0;
    char sni[256];

    if (o->sni != NULL) {
        snprintf(sni, sizeof(sni), "%s", o->sni);
        SSL_set_tlsext_host_name(client, sni);
    }
    if (o->alpn != NULL) {
        SSL_set_alpn_protos(client, (const unsigned char *)o->alpn, (unsigned)o->alpn_len);
    }
    if (o->groups != NULL) {
        char groups[64]; /* the macro casts away const */
        snprintf(groups, sizeof(groups), "%s", o->groups);
        SSL_set1_groups_list(client, groups);
    }
    if (resume != NULL) {
        SSL_set_session(client, resume);
    }
    fuzz_handshake(client, server, out, cap, &len);
    if (sess != NULL) {
        *sess = SSL_get1_session(client);
    }
    SSL_free(client);
    fuzz_server_free(server);
    SSL_CTX_free(cctx);
    return len;
}

static void
write_seeds(void)
{
    static const struct client_opts opts[] = {
        {"tls13-sni-alpn", TLS1_3_VERSION, "localhost", "\x02h2\x08http/1.1", 12, NULL, false},
        {"tls13-wildcard-sni", TLS1_3_VERSION, "www.example.org", NULL, 0, NULL, false},
        {"tls13-no-sni", TLS1_3_VERSION, NULL, "\x06spdy/1", 7, NULL, false},
        {"tls13-hrr", TLS1_3_VERSION, "localhost", NULL, 0, "P-521:P-256", false},
        {"tls12-sni", TLS1_2_VERSION, "www.example.com", "\x08http/1.1", 9, NULL, false},
        {"tls12-unknown-sni", TLS1_2_VERSION, "unknown.example.net", NULL, 0, NULL, false},
        {"tls13-resume", TLS1_3_VERSION, "localhost", NULL, 0, NULL, true},
        {"tls12-resume", TLS1_2_VERSION, "localhost", NULL, 0, NULL, true},
    };
    unsigned char *buf = malloc(65536);

    CHECK(buf != NULL);
    for (unsigned mode = 0; mode < 4; mode++) {
        struct fuzz_world *fw = worlds[mode & 1][mode >> 1];
        for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
            unsigned char m = (unsigned char)mode;
            SSL_SESSION *sess = NULL;
            char name[96];

            size_t len = client_flight(fw, &opts[i], NULL, buf, 65536, &sess);
            if (opts[i].resume && sess != NULL) {
                SSL_SESSION *again = NULL;
                if (opts[i].version == TLS1_2_VERSION) {
                    /* Offer the ID the harness keeps in the store. */
                    SSL_SESSION *dup = SSL_SESSION_dup(sess);
                    CHECK(dup != NULL && SSL_SESSION_set1_id(dup, fixed_id_12, 32) == 1);
                    SSL_SESSION_free(sess);
                    sess = dup;
                }
                len = client_flight(fw, &opts[i], sess, buf, 65536, &again);
                SSL_SESSION_free(again);
            }
            SSL_SESSION_free(sess);
            put_fixed(fw);
            snprintf(name, sizeof(name), "%s-%s-%s", opts[i].name,
                     mode & 1 ? "tickets" : "no-tickets", mode & 2 ? "memcached" : "local");
            fuzz_seed(name, &m, 1, buf, len);
        }
    }
    free(buf);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (unsigned mode = 0; mode < 4; mode++) {
        worlds[mode & 1][mode >> 1] = world_new(mode & 1, mode >> 1);
    }
    fixed12 = session_with_id(worlds[0][0], TLS1_2_VERSION, fixed_id_12);
    fixed13 = session_with_id(worlds[0][0], TLS1_3_VERSION, fixed_id_13);
    for (unsigned mode = 0; mode < 4; mode++) {
        put_fixed(worlds[mode & 1][mode >> 1]);
    }
    fuzz_seeds_or_go_on(write_seeds);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    struct fuzz_world *fw = worlds[data[0] & 1][(data[0] >> 1) & 1];
    SSL *ssl = fuzz_server_new(fw);

    fuzz_server_feed(ssl, data + 1, size - 1);
    fuzz_server_free(ssl);
    put_fixed(fw);
    return 0;
}
