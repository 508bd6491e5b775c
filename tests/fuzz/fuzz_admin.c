/*
 * fuzz_admin.c - libFuzzer harness for the admin endpoint's request router
 * (admin_respond, src/admin.c): method + URL -> status, type, body, over
 * two workers' counters, a keyring and a session store, with the pages
 * rendered by metrics.c.
 *
 * Input: "METHOD URL", as libmicrohttpd hands them to tessera (the URL
 * unescaped, so it may hold any byte but NUL); a NUL or a line break ends
 * the URL, and anything after it stands for headers and a body, which
 * tessera never reads.  A leading '!' asks an endpoint that is draining.
 * No socket is opened: admin_new() is the endpoint without its daemon.
 *
 * Checked: the status is one the router can give, and it is the one the
 * route table (GET on /metrics /stats /keyring /healthz, 405 for any other
 * method, 404 for any other path, 503 from /healthz while draining) says;
 * the body is there and is text without NUL bytes.
 *
 * Thread: the fuzzer's only thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "check.h"
#include "fuzz_common.h"
#include "gen.h"
#include "keyring_sync.h"
#include "sessions.h"
#include "worker.h"

static struct admin *serving, *draining;

static struct admin *
admin_world(const char *name)
{
    static const char text[] =
        "workers = 2;\n"
        "frontends = ( { name = \"web\"; listen = \"127.0.0.1:8443\"; backend = "
        "\"127.0.0.1:8080\";\n"
        "                certs = ( { cert = \"ec.pem\"; key = \"ec.key\"; } ); },\n"
        "              { name = \"api\"; listen = \"[::1]:8443\"; backend = \"[::1]:8080\";\n"
        "                certs = ( { cert = \"sni.pem\"; } ); } );\n"
        "admin = { listen = \"127.0.0.1:9090\"; };\n";
    struct config *cfg = fuzz_config(name, text);
    struct worker **workers = calloc(cfg->workers, sizeof(*workers));
    struct keyring_sync *ks = keyring_sync_new(cfg->tickets.rotate, cfg->tickets.keep);
    struct sessions *store = sessions_new(cfg, NULL, NULL);

    CHECK(workers != NULL && ks != NULL && store != NULL);
    CHECK(keyring_sync_refresh(ks, time(NULL)) == 0);
    for (size_t i = 0; i < cfg->workers; i++) {
        workers[i] = calloc(1, sizeof(**workers));
        CHECK(workers[i] != NULL);
        workers[i]->magic = WORKER_MAGIC;
        workers[i]->id = (unsigned)i;
        workers[i]->cfg = cfg;
        workers[i]->stats = calloc(cfg->nfrontends, sizeof(struct stats));
        CHECK(workers[i]->stats != NULL);
        /* Some traffic, so that every family has samples to print. */
        for (size_t f = 0; f < cfg->nfrontends; f++) {
            for (int id = 0; id < STAT__COUNT; id++) {
                stats_add(&workers[i]->stats[f], (enum stats_id)id, 1 + i + f + (size_t)id);
            }
            stats_observe_handshake(&workers[i]->stats[f], 1500);
            stats_observe_memcached(&workers[i]->stats[f], 300);
        }
    }
    /* The counter slots as generation 1 would name them. */
    static struct gen_slots slots;
    for (size_t f = 0; f < cfg->nfrontends; f++) {
        slots.name[f] = cfg->frontends[f].name;
    }
    atomic_store(&slots.n, cfg->nfrontends);
    struct admin_sources src = {
        .workers = workers,
        .nworkers = cfg->workers,
        .ks = ks,
        .store = store,
        .slots = &slots,
    };
    struct admin *a = admin_new(cfg, &src);
    CHECK(a != NULL);
    return a;
}

/* What the route table says `method` on `url` gets. */
static unsigned
expected_status(bool is_draining, const char *method, const char *url)
{
    if (strcmp(method, "GET") != 0) {
        return 405;
    }
    if (strcmp(url, "/healthz") == 0) {
        return is_draining ? 503 : 200;
    }
    if (strcmp(url, "/metrics") == 0 || strcmp(url, "/stats") == 0 ||
        strcmp(url, "/keyring") == 0) {
        return 200;
    }
    return 404;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_seeds_or_go_on(NULL); /* the seeds of this target are written by hand */
    /* The global initialisation and the scratch folder. */
    (void)fuzz_world_new("world.conf", fuzz_world_config("local", true));
    serving = admin_world("admin.conf");
    draining = admin_world("admin-draining.conf");
    admin_set_draining(draining);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool is_draining = size > 0 && data[0] == '!';
    size_t skip = is_draining ? 1 : 0;
    char *text = malloc(size - skip + 1);
    struct admin_reply r;

    CHECK(text != NULL);
    memcpy(text, data + skip, size - skip);
    text[size - skip] = '\0';
    /* The request line: METHOD SP URL, ended by a line break (or NUL). */
    text[strcspn(text, "\r\n")] = '\0';
    char *sp = strchr(text, ' ');
    const char *method = text;
    const char *url = "/";
    if (sp != NULL) {
        *sp = '\0';
        url = sp + 1;
    }

    admin_respond(is_draining ? draining : serving, method, url, &r);
    CHECK(r.body != NULL && r.type != NULL);
    CHECK(memchr(r.body, '\0', r.len) == NULL);
    if (r.status != expected_status(is_draining, method, url)) {
        fprintf(stderr, "fuzz_admin: %s %s gave %u\n", method, url, r.status);
        CHECK(!"the status is not the route table's");
    }
    free(r.body);
    free(text);
    return 0;
}
