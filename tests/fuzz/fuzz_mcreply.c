/*
 * fuzz_mcreply.c - libFuzzer harness for the memcached text-protocol reply
 * parser the loops' own connections use (mcconn_parse in src/mcconn.c): the
 * workers' session get/set/delete and the main thread's keyring
 * gets/add/cas.
 *
 * Input: byte 0: low 4 bits + 1 = requests waiting (1..16), high 4 bits
 * pick how the bytes arrive (all at once, or in chunks of 1..64 bytes, as
 * recv() may cut them); then one byte per request: its operation (get, set,
 * delete, gets, add, cas) and key; the rest is what the server sends.
 *
 * The bytes are handed out the way mcconn.c's conn_parse does (the oldest
 * request takes the next reply; MORE waits for more bytes; BAD or a reply
 * nobody asked for closes the connection), from a heap buffer of exactly
 * the bytes received so far, so a read past them is an ASan report.
 * Checked: every reply consumes at least a line and no more than it was
 * given, a value lies inside its reply, each operation gets only the
 * results it can have, the parser never waits for more than a connection
 * may hold, and the outcome does not depend on how the bytes were cut.
 *
 * Thread: the fuzzer's only thread.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz_common.h"
#include "mcconn.h"

#define REQS_MAX 16
/* mcconn.c's MCCONN_IN_MAX: a connection errs once it holds this much. */
#define IN_MAX (MCCONN_VALUE_MAX + 2 * 512)

static const char *const keys[] = {
    "tessera:sess:0011223344556677",
    "k",
    "tessera:sess:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    "VALUE",
};
static const enum mc_op ops[] = {MC_GET, MC_SET, MC_DELETE, MC_GETS, MC_ADD, MC_CAS};
static const size_t chunks[] = {0, 1, 2, 3, 4, 5, 7, 8, 11, 13, 16, 17, 31, 32, 63, 64};

struct outcome {
    size_t nreplies;
    enum mc_result result[REQS_MAX];
    size_t vlen[REQS_MAX];
    uint64_t cas[REQS_MAX];
    unsigned char *value[REQS_MAX];
    bool closed;
};

static void
check_result(enum mc_op op, enum mc_result r)
{
    switch (op) {
    case MC_GET:
    case MC_GETS:
    case MC_DELETE:
        CHECK(r == MC_RES_HIT || r == MC_RES_MISS || r == MC_RES_ERROR);
        return;
    case MC_SET:
    case MC_ADD:
        CHECK(r == MC_RES_STORED || r == MC_RES_EXISTS || r == MC_RES_ERROR);
        return;
    case MC_CAS:
        CHECK(r == MC_RES_STORED || r == MC_RES_EXISTS || r == MC_RES_MISS || r == MC_RES_ERROR);
        return;
    }
    CHECK(!"unexpected operation");
}

/* Hand `stream` to requests `req` in pieces of `chunk` bytes (0: at once). */
static void
run(const enum mc_op *req, const char *const *key, size_t nreq, const unsigned char *stream,
    size_t len, size_t chunk, struct outcome *out)
{
    char *in = NULL; /* exactly inlen bytes */
    size_t inlen = 0, fed = 0, head = 0;

    memset(out, 0, sizeof(*out));
    while (fed < len && !out->closed) {
        size_t n = chunk == 0 || len - fed < chunk ? len - fed : chunk;
        /* conn_read reads into a buffer of at most IN_MAX bytes. */
        if (inlen == IN_MAX) {
            out->closed = true; /* "reply too long" */
            break;
        }
        if (n > IN_MAX - inlen) {
            n = IN_MAX - inlen;
        }
        char *grown = malloc(inlen + n);
        CHECK(grown != NULL);
        if (inlen > 0) {
            memcpy(grown, in, inlen);
        }
        memcpy(grown + inlen, stream + fed, n);
        free(in);
        in = grown;
        inlen += n;
        fed += n;

        size_t off = 0;
        while (head < nreq && off < inlen) {
            size_t used = 0, voff = 0, vlen = 0;
            uint64_t cas = 0;
            enum mc_result r = MC_RES_DROPPED;
            enum mcconn_parsed p = mcconn_parse(in + off, inlen - off, req[head], key[head],
                                                strlen(key[head]), &used, &r, &voff, &vlen, &cas);
            if (p == MCCONN_MORE) {
                CHECK(inlen - off < IN_MAX);
                break;
            }
            if (p == MCCONN_BAD) {
                out->closed = true;
                break;
            }
            CHECK(p == MCCONN_REPLY);
            CHECK(used >= 2 && used <= inlen - off);
            check_result(req[head], r);
            if (r == MC_RES_HIT && (req[head] == MC_GET || req[head] == MC_GETS)) {
                CHECK(vlen <= MCCONN_VALUE_MAX);
                CHECK(voff <= used && vlen <= used - voff);
                out->value[head] = malloc(vlen > 0 ? vlen : 1);
                CHECK(out->value[head] != NULL);
                memcpy(out->value[head], in + off + voff, vlen);
                out->vlen[head] = vlen;
                out->cas[head] = cas;
            }
            out->result[head] = r;
            off += used;
            head++;
        }
        if (out->closed) {
            break;
        }
        if (head == nreq && off < inlen) {
            out->closed = true; /* "a reply nobody asked for" */
            break;
        }
        memmove(in, in + off, inlen - off);
        inlen -= off;
    }
    out->nreplies = head;
    free(in);
}

static void
outcome_free(struct outcome *o)
{
    for (size_t i = 0; i < REQS_MAX; i++) {
        free(o->value[i]);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_seeds_or_go_on(NULL); /* the seeds of this target are written by hand */
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum mc_op req[REQS_MAX];
    const char *key[REQS_MAX];
    struct outcome cut, whole;

    if (size < 1) {
        return 0;
    }
    size_t nreq = (size_t)(data[0] & 0x0f) + 1;
    size_t chunk = chunks[data[0] >> 4];
    if (size < 1 + nreq) {
        return 0;
    }
    for (size_t i = 0; i < nreq; i++) {
        unsigned b = data[1 + i];
        req[i] = ops[b % ARRAY_LEN(ops)];
        key[i] = keys[(b / ARRAY_LEN(ops)) % ARRAY_LEN(keys)];
    }
    const unsigned char *stream = data + 1 + nreq;
    size_t len = size - 1 - nreq;

    run(req, key, nreq, stream, len, chunk, &cut);
    run(req, key, nreq, stream, len, 0, &whole);
    /* How recv() cut the bytes must not change what the requests get. */
    CHECK(cut.nreplies == whole.nreplies && cut.closed == whole.closed);
    for (size_t i = 0; i < cut.nreplies; i++) {
        CHECK(cut.result[i] == whole.result[i] && cut.vlen[i] == whole.vlen[i] &&
              cut.cas[i] == whole.cas[i]);
        CHECK(cut.vlen[i] == 0 || memcmp(cut.value[i], whole.value[i], cut.vlen[i]) == 0);
    }
    outcome_free(&cut);
    outcome_free(&whole);
    return 0;
}
