/*
 * fuzz_proxy.c - libFuzzer harness for the PROXY protocol parser
 * (proxy_proto_parse in src/proxy_proto.c), fed what a balancer in front of
 * tessera may send before the client's TLS bytes.
 *
 * Input: the bytes as they arrive on the connection, whole.  The harness
 * hands the parser every prefix of them too (0, 1, 2, ... bytes, up to
 * PROXY_PROTO_IN_MAX), as recv() may deliver them one at a time, from
 * libFuzzer's exact-size copy, so a read past `len` is an ASan report.
 *
 * Checked:
 * - a result is -1 (with a reason other than "none"), 0 (reason "none") or
 *   a length 1..len, and > 0 only with a filled header: version 1 or 2 as
 *   the first byte says, a v1 header at most 107 bytes and ending in CRLF,
 *   a v2 header at most PROXY_PROTO_IN_MAX bytes; addresses AF_INET or
 *   AF_INET6, both the same, unless `local` (then none);
 * - arrival order changes nothing: the prefixes give 0 until the first
 *   that gives a result, and from that one on every longer prefix gives the
 *   same result (same length, or same reason) and the same header; an
 *   accepted header is accepted exactly when its last byte arrives;
 * - the parser never waits for more once PROXY_PROTO_IN_MAX bytes are there
 *   (the caller's bound);
 * - the addresses of an accepted header, sent again by tessera's own v1 and
 *   v2 encoders, parse back to the same addresses.
 *
 * Thread: the fuzzer's only thread.
 */
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "fuzz_common.h"
#include "proxy_proto.h"

/* The v2 signature's first byte, and v1's. */
#define V2_FIRST 0x0d
#define V1_FIRST 'P'

struct result {
    ssize_t n;
    enum proxy_proto_error err;
    struct proxy_proto_header h;
};

static void
parse(const uint8_t *data, size_t len, struct result *r)
{
    /* A pattern the parser must overwrite whenever it accepts. */
    memset(&r->h, 0xa5, sizeof(r->h));
    r->err = PROXY_PROTO_ERR_COUNT;
    r->n = proxy_proto_parse(data, len, &r->h, &r->err);
}

static bool
same_header(const struct proxy_proto_header *a, const struct proxy_proto_header *b)
{
    return a->version == b->version && a->local == b->local &&
           memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
           memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

static bool
same_result(const struct result *a, const struct result *b)
{
    return a->n == b->n && a->err == b->err && (a->n <= 0 || same_header(&a->h, &b->h));
}

static void
check_result(const uint8_t *data, size_t len, const struct result *r)
{
    CHECK(r->n >= -1 && r->n <= (ssize_t)len);
    if (r->n == -1) {
        CHECK(r->err > PROXY_PROTO_ERR_NONE && r->err < PROXY_PROTO_ERR_COUNT);
        CHECK(strcmp(proxy_proto_error_name(r->err), "none") != 0);
        return;
    }
    CHECK(r->err == PROXY_PROTO_ERR_NONE);
    if (r->n == 0) {
        return;
    }

    const struct proxy_proto_header *h = &r->h;
    size_t n = (size_t)r->n;
    if (h->version == 1) {
        CHECK(data[0] == V1_FIRST);
        CHECK(n <= PROXY_PROTO_V1_MAX && n >= 15); /* "PROXY UNKNOWN\r\n" */
        CHECK(data[n - 2] == '\r' && data[n - 1] == '\n');
        CHECK(memchr(data, '\n', n - 1) == NULL);
    } else {
        CHECK(h->version == 2);
        CHECK(data[0] == V2_FIRST);
        CHECK(n >= 16 && n <= PROXY_PROTO_IN_MAX);
        CHECK(n == 16 + ((size_t)data[14] << 8 | data[15]));
    }
    if (h->local) {
        CHECK(h->src.ss_family == AF_UNSPEC && h->dst.ss_family == AF_UNSPEC);
    } else {
        CHECK(h->src.ss_family == AF_INET || h->src.ss_family == AF_INET6);
        CHECK(h->dst.ss_family == h->src.ss_family);
    }
}

/* tessera's encoders, given the addresses of an accepted header, send
 * what parses back to them. */
static void
check_reencode(const struct proxy_proto_header *h)
{
    struct proxy_proto_addrs a;
    char v1[PROXY_PROTO_V1_MAX];
    unsigned char v2[PROXY_PROTO_OUT_MAX];
    struct result back;
    ssize_t n;

    a.src = h->src;
    a.dst = h->dst;
    n = proxy_proto_encode_v1(&a, v1, sizeof(v1));
    CHECK(n > 0);
    parse((const uint8_t *)v1, (size_t)n, &back);
    CHECK(back.n == n && back.h.version == 1 && !back.h.local);
    CHECK(memcmp(&back.h.src, &h->src, sizeof(h->src)) == 0);
    CHECK(memcmp(&back.h.dst, &h->dst, sizeof(h->dst)) == 0);

    n = proxy_proto_encode_v2(&a, NULL, v2, sizeof(v2));
    CHECK(n > 0);
    parse(v2, (size_t)n, &back);
    CHECK(back.n == n && back.h.version == 2 && !back.h.local);
    CHECK(memcmp(&back.h.src, &h->src, sizeof(h->src)) == 0);
    CHECK(memcmp(&back.h.dst, &h->dst, sizeof(h->dst)) == 0);
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
    struct result whole, first = {0}, r;
    size_t upto = size < PROXY_PROTO_IN_MAX ? size : PROXY_PROTO_IN_MAX;
    size_t decided = 0; /* the shortest prefix with a result; 0: none yet */

    parse(data, size, &whole);
    check_result(data, size, &whole);
    if (size >= PROXY_PROTO_IN_MAX) {
        CHECK(whole.n != 0);
    }

    for (size_t k = 0; k <= upto; k++) {
        parse(data, k, &r);
        check_result(data, k, &r);
        if (decided == 0) {
            if (r.n == 0) {
                continue;
            }
            decided = k;
            first = r;
            /* An accepted header is complete with its last byte, no sooner. */
            CHECK(r.n == -1 || (size_t)r.n == k);
        }
        CHECK(same_result(&r, &first));
    }
    if (decided != 0) {
        CHECK(same_result(&whole, &first));
    } else {
        CHECK(whole.n == 0);
    }

    if (whole.n > 0 && !whole.h.local) {
        check_reencode(&whole.h);
    }
    return 0;
}
