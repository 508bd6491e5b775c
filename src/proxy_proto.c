/*
 * proxy_proto.c - the PROXY protocol of HAProxy's doc/proxy-protocol.txt:
 * the v1 line and the v2 binary header (with ALPN, AUTHORITY and SSL TLVs)
 * tessera sends ahead of a backend connection, and the parser of the v1 or
 * v2 header a balancer sends ahead of a client's bytes.
 *
 * Thread: any; pure (no globals written, no allocation, no clock, no I/O).
 * Ownership: callers own every buffer and struct passed in; the names
 * proxy_proto_error_name returns are static strings.
 */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

/* Section 2.1: the v1 line starts "PROXY" and exactly one space. */
static const unsigned char pp_v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
/* Section 2.2: the v2 header's constant 12-byte signature. */
static const unsigned char pp_v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                            0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* The 16 bytes before a v2 header's address block. */
#define PP_V2_PREFIX 16
/* Byte 13: version 2 in the high nibble; the command in the low one. */
#define PP_V2_VERSION   0x2
#define PP_V2_CMD_LOCAL 0x0
#define PP_V2_CMD_PROXY 0x1
/* Byte 14: the address family in the high nibble ... */
#define PP_V2_AF_UNSPEC 0x0
#define PP_V2_AF_INET   0x1
#define PP_V2_AF_INET6  0x2
#define PP_V2_AF_UNIX   0x3
/* ... and the transport in the low one. */
#define PP_V2_TRANSPORT_UNSPEC 0x0
#define PP_V2_TRANSPORT_STREAM 0x1
#define PP_V2_TRANSPORT_DGRAM  0x2
/* Address block sizes (section 2.2): two addresses, then two ports if any. */
#define PP_V2_ADDRS_INET  (2 * 4 + 2 * 2)
#define PP_V2_ADDRS_INET6 (2 * 16 + 2 * 2)
#define PP_V2_ADDRS_UNIX  (2 * 108)
/* Every string TLV value is cut to this many bytes. */
#define PP_TLV_VALUE_MAX 255

/* ---- encoding ---- */

/* The two ends as a header carries them: both IPv4, both IPv6 (the IPv4 end
 * of a mixed pair mapped to ::ffff:a.b.c.d, RFC 4291 section 2.5.5.2), or
 * neither (AF_UNSPEC: UNKNOWN in v1, UNSPEC in v2). */
struct pp_ends {
    int family;
    unsigned char src[16], dst[16]; /* 4 bytes used for AF_INET */
    unsigned char sport[2], dport[2];
};

static void
pp_end_of(const struct sockaddr_storage *ss, int family, unsigned char *addr, unsigned char *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ss;

        if (family == AF_INET) {
            memcpy(addr, &sin->sin_addr, 4);
        } else {
            memset(addr, 0, 10);
            addr[10] = 0xff;
            addr[11] = 0xff;
            memcpy(addr + 12, &sin->sin_addr, 4);
        }
        memcpy(port, &sin->sin_port, 2);
        return;
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)ss;

    CHECK(ss->ss_family == AF_INET6 && family == AF_INET6);
    memcpy(addr, &sin6->sin6_addr, 16);
    memcpy(port, &sin6->sin6_port, 2);
}

static void
pp_ends_of(const struct proxy_proto_addrs *a, struct pp_ends *e)
{
    int sf = a->src.ss_family, df = a->dst.ss_family;

    memset(e, 0, sizeof(*e));
    if ((sf != AF_INET && sf != AF_INET6) || (df != AF_INET && df != AF_INET6)) {
        e->family = AF_UNSPEC;
        return;
    }
    e->family = sf == AF_INET && df == AF_INET ? AF_INET : AF_INET6;
    pp_end_of(&a->src, e->family, e->src, e->sport);
    pp_end_of(&a->dst, e->family, e->dst, e->dport);
}

static unsigned
pp_port(const unsigned char *port)
{
    return (unsigned)port[0] << 8 | port[1];
}

/*
 * The v1 line, not NUL-terminated.  The addresses are inet_ntop's: IPv4 in
 * dotted decimal without leading zeroes, IPv6 in lower case with "::" for
 * the longest run of zeroes (section 2.1's canonical forms).
 */
ssize_t
proxy_proto_encode_v1(const struct proxy_proto_addrs *a, char *buf, size_t cap)
{
    char line[PROXY_PROTO_V1_MAX + 1];
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    struct pp_ends e;
    int n;

    CHECK(a != NULL);
    CHECK(buf != NULL || cap == 0);
    pp_ends_of(a, &e);
    if (e.family == AF_UNSPEC) {
        n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
    } else {
        CHECK(inet_ntop(e.family, e.src, src, sizeof(src)) != NULL);
        CHECK(inet_ntop(e.family, e.dst, dst, sizeof(dst)) != NULL);
        n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
                     e.family == AF_INET ? "TCP4" : "TCP6", src, dst, pp_port(e.sport),
                     pp_port(e.dport));
    }
    CHECK(n > 0 && (size_t)n < sizeof(line));
    if ((size_t)n > cap) {
        return -1;
    }
    memcpy(buf, line, (size_t)n);
    return n;
}

/* A bounded writer: once a write does not fit, `full` is set and nothing
 * more is written, so the encoder never writes past cap. */
struct pp_out {
    unsigned char *buf;
    size_t cap, len;
    bool full;
};

static void
pp_put(struct pp_out *o, const void *p, size_t n)
{
    if (o->full || n > o->cap - o->len) {
        o->full = true;
        return;
    }
    if (n > 0) {
        memcpy(o->buf + o->len, p, n);
    }
    o->len += n;
}

static void
pp_put_u8(struct pp_out *o, unsigned v)
{
    unsigned char b = (unsigned char)v;

    pp_put(o, &b, 1);
}

static void
pp_put_u16(struct pp_out *o, size_t v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};

    CHECK(v <= 0xffff);
    pp_put(o, b, sizeof(b));
}

static void
pp_put_u32(struct pp_out *o, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};

    pp_put(o, b, sizeof(b));
}

/* Write a 16-bit length at `at` (reserved earlier) once what it counts is
 * written. */
static void
pp_patch_u16(struct pp_out *o, size_t at, size_t v)
{
    CHECK(v <= 0xffff);
    if (!o->full) {
        o->buf[at] = (unsigned char)(v >> 8);
        o->buf[at + 1] = (unsigned char)v;
    }
}

static void
pp_put_tlv(struct pp_out *o, unsigned type, const void *value, size_t n)
{
    pp_put_u8(o, type);
    pp_put_u16(o, n);
    pp_put(o, value, n);
}

/*
 * The length of string `s` cut to PP_TLV_VALUE_MAX bytes.  The cut backs
 * off to the start of a UTF-8 sequence so that a long common name or
 * authority (UTF-8, section 2.2.2) stays valid UTF-8; US-ASCII strings are
 * simply cut at 255.
 */
static size_t
pp_text_len(const char *s)
{
    size_t n = strnlen(s, PP_TLV_VALUE_MAX + 1);

    if (n <= PP_TLV_VALUE_MAX) {
        return n;
    }
    n = PP_TLV_VALUE_MAX;
    /* s[n] is the first byte left out: while it continues a sequence
     * (10xxxxxx), the sequence it belongs to goes too (at most 3 bytes). */
    for (int i = 0; i < 3 && ((unsigned char)s[n] & 0xc0) == 0x80; i++) {
        n--;
    }
    return n;
}

static void
pp_put_text_tlv(struct pp_out *o, unsigned type, const char *s)
{
    if (s != NULL) {
        pp_put_tlv(o, type, s, pp_text_len(s));
    }
}

/* Section 2.2.6: client flags, verify, then the sub-TLVs that are known. */
static void
pp_put_ssl_tlv(struct pp_out *o, const struct proxy_proto_tls *tls)
{
    size_t at;

    pp_put_u8(o, PROXY_PROTO_TLV_SSL);
    at = o->len;
    pp_put_u16(o, 0); /* the length, written below */
    size_t start = o->len;
    pp_put_u8(o, tls->client);
    pp_put_u32(o, tls->verify);
    pp_put_text_tlv(o, PROXY_PROTO_SUBTLV_SSL_VERSION, tls->version);
    pp_put_text_tlv(o, PROXY_PROTO_SUBTLV_SSL_CN, tls->cn);
    pp_put_text_tlv(o, PROXY_PROTO_SUBTLV_SSL_CIPHER, tls->cipher);
    pp_put_text_tlv(o, PROXY_PROTO_SUBTLV_SSL_SIG_ALG, tls->sig_alg);
    pp_put_text_tlv(o, PROXY_PROTO_SUBTLV_SSL_KEY_ALG, tls->key_alg);
    pp_patch_u16(o, at, o->len - start);
}

ssize_t
proxy_proto_encode_v2(const struct proxy_proto_addrs *a, const struct proxy_proto_tls *tls,
                      unsigned char *buf, size_t cap)
{
    struct pp_out o = {buf, cap, 0, false};
    struct pp_ends e;
    unsigned fam;
    size_t alen;

    CHECK(a != NULL);
    CHECK(buf != NULL || cap == 0);
    pp_ends_of(a, &e);
    switch (e.family) {
    case AF_INET:
        fam = PP_V2_AF_INET << 4 | PP_V2_TRANSPORT_STREAM;
        alen = 4;
        break;
    case AF_INET6:
        fam = PP_V2_AF_INET6 << 4 | PP_V2_TRANSPORT_STREAM;
        alen = 16;
        break;
    default:
        /* Section 2.2: UNSPEC, for families the protocol cannot carry; no
         * address bytes. */
        fam = PP_V2_AF_UNSPEC << 4 | PP_V2_TRANSPORT_UNSPEC;
        alen = 0;
        break;
    }

    pp_put(&o, pp_v2_sig, sizeof(pp_v2_sig));
    pp_put_u8(&o, PP_V2_VERSION << 4 | PP_V2_CMD_PROXY);
    pp_put_u8(&o, fam);
    pp_put_u16(&o, 0); /* the length, written below */
    if (alen > 0) {
        pp_put(&o, e.src, alen);
        pp_put(&o, e.dst, alen);
        pp_put(&o, e.sport, 2);
        pp_put(&o, e.dport, 2);
    }
    if (tls != NULL) {
        if (tls->alpn_len > 0) {
            CHECK(tls->alpn != NULL);
            pp_put_tlv(&o, PROXY_PROTO_TLV_ALPN, tls->alpn,
                       tls->alpn_len < PP_TLV_VALUE_MAX ? tls->alpn_len : PP_TLV_VALUE_MAX);
        }
        pp_put_text_tlv(&o, PROXY_PROTO_TLV_AUTHORITY, tls->authority);
        pp_put_ssl_tlv(&o, tls);
        if (tls->early_data) {
            static const unsigned char yes = 0x01;
            pp_put_tlv(&o, PROXY_PROTO_TLV_EARLY_DATA, &yes, 1);
        }
    }
    if (o.full) {
        return -1;
    }
    pp_patch_u16(&o, PP_V2_PREFIX - 2, o.len - PP_V2_PREFIX);
    return (ssize_t)o.len;
}

/* ---- parsing ---- */

static ssize_t
pp_refuse(enum proxy_proto_error *err, enum proxy_proto_error why)
{
    *err = why;
    return -1;
}

/* What a v1 family word is; PP_V1_PARTIAL: not all of it has arrived yet,
 * and it still may become one of the three. */
enum pp_v1_word {
    PP_V1_TCP4,
    PP_V1_TCP6,
    PP_V1_UNKNOWN,
    PP_V1_PARTIAL,
    PP_V1_EMPTY,
    PP_V1_OTHER,
};

static enum pp_v1_word
pp_v1_word(const unsigned char *w, size_t n, bool whole)
{
    static const char *const words[] = {
        [PP_V1_TCP4] = "TCP4",
        [PP_V1_TCP6] = "TCP6",
        [PP_V1_UNKNOWN] = "UNKNOWN",
    };

    if (whole && n == 0) {
        return PP_V1_EMPTY;
    }
    for (size_t i = 0; i < ARRAY_LEN(words); i++) {
        size_t wl = strlen(words[i]);

        if (whole && n == wl && memcmp(w, words[i], n) == 0) {
            return (enum pp_v1_word)i;
        }
        if (!whole && n <= wl && memcmp(w, words[i], n) == 0) {
            return PP_V1_PARTIAL;
        }
    }
    return PP_V1_OTHER;
}

/*
 * A v1 address: inet_pton's strict numeric forms of `family` (4 decimal
 * octets without leading zeroes; hexadecimal groups with at most one "::").
 * The characters are checked first because inet_pton stops at a NUL.
 */
static bool
pp_v1_addr(const unsigned char *t, size_t n, int family, void *addr)
{
    char text[INET6_ADDRSTRLEN];

    if (n == 0 || n >= sizeof(text)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (strchr("0123456789abcdefABCDEF.:", t[i]) == NULL || t[i] == '\0') {
            return false;
        }
    }
    memcpy(text, t, n);
    text[n] = '\0';
    return inet_pton(family, text, addr) == 1;
}

/* A v1 port: 0..65535 in decimal, no sign, no leading zero (section 2.1). */
static bool
pp_v1_port(const unsigned char *t, size_t n, uint16_t *port)
{
    unsigned v = 0;

    if (n == 0 || n > 5 || (n > 1 && t[0] == '0')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(t[i] - '0');
    }
    if (v > 65535) {
        return false;
    }
    *port = htons((uint16_t)v);
    return true;
}

/* The four fields after "TCP4"/"TCP6": each after exactly one space, and
 * nothing after the last.  line[from..end) is what precedes the CRLF. */
static bool
pp_v1_fields(const unsigned char *line, size_t from, size_t end, int family,
             struct proxy_proto_header *h)
{
    const unsigned char *tok[4];
    size_t toklen[4], p = from;

    for (size_t i = 0; i < 4; i++) {
        if (p >= end || line[p] != ' ') {
            return false;
        }
        size_t s = ++p;
        while (p < end && line[p] != ' ') {
            p++;
        }
        tok[i] = line + s;
        toklen[i] = p - s;
    }
    if (p != end) {
        return false;
    }

    memset(h, 0, sizeof(*h));
    h->version = 1;
    if (family == AF_INET) {
        struct sockaddr_in *src = (struct sockaddr_in *)(void *)&h->src;
        struct sockaddr_in *dst = (struct sockaddr_in *)(void *)&h->dst;

        src->sin_family = dst->sin_family = AF_INET;
        return pp_v1_addr(tok[0], toklen[0], AF_INET, &src->sin_addr) &&
               pp_v1_addr(tok[1], toklen[1], AF_INET, &dst->sin_addr) &&
               pp_v1_port(tok[2], toklen[2], &src->sin_port) &&
               pp_v1_port(tok[3], toklen[3], &dst->sin_port);
    }
    struct sockaddr_in6 *src = (struct sockaddr_in6 *)(void *)&h->src;
    struct sockaddr_in6 *dst = (struct sockaddr_in6 *)(void *)&h->dst;

    src->sin6_family = dst->sin6_family = AF_INET6;
    return pp_v1_addr(tok[0], toklen[0], AF_INET6, &src->sin6_addr) &&
           pp_v1_addr(tok[1], toklen[1], AF_INET6, &dst->sin6_addr) &&
           pp_v1_port(tok[2], toklen[2], &src->sin6_port) &&
           pp_v1_port(tok[3], toklen[3], &dst->sin6_port);
}

/*
 * Section 2.1.  The line is judged once its LF has arrived (or 107 bytes
 * without one), except its family word, refused as soon as it cannot
 * become TCP4, TCP6 or UNKNOWN.  Every refusal a prefix gets, the whole
 * line gets too, for the same reason.
 */
static ssize_t
pp_parse_v1(const unsigned char *buf, size_t len, struct proxy_proto_header *out,
            enum proxy_proto_error *err)
{
    size_t seen = len < PROXY_PROTO_V1_MAX ? len : PROXY_PROTO_V1_MAX;
    size_t end, w;

    if (memcmp(buf, pp_v1_sig, seen < sizeof(pp_v1_sig) ? seen : sizeof(pp_v1_sig)) != 0) {
        return pp_refuse(err, PROXY_PROTO_ERR_SIGNATURE);
    }
    if (seen < sizeof(pp_v1_sig)) {
        return 0;
    }
    const unsigned char *lf = memchr(buf, '\n', seen);
    end = lf != NULL ? (size_t)(lf - buf) : seen;

    /* The family word runs to a space, a CR or the LF. */
    for (w = sizeof(pp_v1_sig); w < end && buf[w] != ' ' && buf[w] != '\r'; w++) {
    }
    enum pp_v1_word word =
        pp_v1_word(buf + sizeof(pp_v1_sig), w - sizeof(pp_v1_sig), w < end || lf != NULL);
    switch (word) {
    case PP_V1_PARTIAL:
        return 0;
    case PP_V1_EMPTY:
        return pp_refuse(err, PROXY_PROTO_ERR_MALFORMED);
    case PP_V1_OTHER:
        return pp_refuse(err, PROXY_PROTO_ERR_FAMILY);
    case PP_V1_TCP4:
    case PP_V1_TCP6:
    case PP_V1_UNKNOWN:
        break;
    }

    if (lf == NULL) {
        return len >= PROXY_PROTO_V1_MAX ? pp_refuse(err, PROXY_PROTO_ERR_OVERSIZED) : 0;
    }
    /* "The receiver must not tolerate a single CR or LF character to end
     * the line." */
    if (buf[end - 1] != '\r') {
        return pp_refuse(err, PROXY_PROTO_ERR_MALFORMED);
    }
    size_t line_end = end - 1;

    if (word == PP_V1_UNKNOWN) {
        /* "The receiver must ignore anything presented before the CRLF." */
        if (w != line_end && buf[w] != ' ') {
            return pp_refuse(err, PROXY_PROTO_ERR_MALFORMED);
        }
        memset(out, 0, sizeof(*out));
        out->version = 1;
        out->local = true;
        return (ssize_t)(end + 1);
    }
    struct proxy_proto_header h;

    if (!pp_v1_fields(buf, w, line_end, word == PP_V1_TCP4 ? AF_INET : AF_INET6, &h)) {
        return pp_refuse(err, PROXY_PROTO_ERR_MALFORMED);
    }
    *out = h;
    return (ssize_t)(end + 1);
}

/* Section 2.2: the TLVs fill the rest of the header exactly. */
static bool
pp_v2_tlvs_fit(const unsigned char *p, size_t n)
{
    while (n > 0) {
        if (n < 3) {
            return false;
        }
        size_t vlen = (size_t)p[1] << 8 | p[2];
        if (vlen > n - 3) {
            return false;
        }
        p += 3 + vlen;
        n -= 3 + vlen;
    }
    return true;
}

/*
 * Section 2.2.  Everything but the TLVs is decided by byte 16: the
 * signature, version, command, family and length, and whether the length
 * holds the address block.
 */
static ssize_t
pp_parse_v2(const unsigned char *buf, size_t len, struct proxy_proto_header *out,
            enum proxy_proto_error *err)
{
    size_t need = 0;

    if (memcmp(buf, pp_v2_sig, len < sizeof(pp_v2_sig) ? len : sizeof(pp_v2_sig)) != 0) {
        return pp_refuse(err, PROXY_PROTO_ERR_SIGNATURE);
    }
    if (len < 13) {
        return 0;
    }
    unsigned cmd = buf[12] & 0x0f;
    if (buf[12] >> 4 != PP_V2_VERSION) {
        return pp_refuse(err, PROXY_PROTO_ERR_VERSION);
    }
    if (cmd != PP_V2_CMD_LOCAL && cmd != PP_V2_CMD_PROXY) {
        return pp_refuse(err, PROXY_PROTO_ERR_COMMAND);
    }
    if (len < 14) {
        return 0;
    }
    unsigned fam = buf[13] >> 4, transport = buf[13] & 0x0f;
    if (fam > PP_V2_AF_UNIX || transport > PP_V2_TRANSPORT_DGRAM) {
        return pp_refuse(err, PROXY_PROTO_ERR_FAMILY);
    }
    /* tessera relays streams.  A LOCAL header's family is ignored
     * (section 2.2: "discard the protocol block including the family"). */
    bool proxied =
        cmd == PP_V2_CMD_PROXY && fam != PP_V2_AF_UNSPEC && transport != PP_V2_TRANSPORT_UNSPEC;
    if (cmd == PP_V2_CMD_PROXY && transport == PP_V2_TRANSPORT_DGRAM) {
        return pp_refuse(err, PROXY_PROTO_ERR_FAMILY);
    }
    if (len < PP_V2_PREFIX) {
        return 0;
    }
    size_t hlen = (size_t)buf[14] << 8 | buf[15];
    if (PP_V2_PREFIX + hlen > PROXY_PROTO_IN_MAX) {
        return pp_refuse(err, PROXY_PROTO_ERR_OVERSIZED);
    }
    if (proxied) {
        need = fam == PP_V2_AF_INET    ? PP_V2_ADDRS_INET
               : fam == PP_V2_AF_INET6 ? PP_V2_ADDRS_INET6
                                       : PP_V2_ADDRS_UNIX;
        if (hlen < need) {
            return pp_refuse(err, PROXY_PROTO_ERR_MALFORMED);
        }
    }
    if (len < PP_V2_PREFIX + hlen) {
        return 0;
    }
    /* Where the address layout is unknown (LOCAL, UNSPEC) the rest of the
     * header is skipped whole; otherwise the TLVs after the addresses must
     * fit it. */
    const unsigned char *a = buf + PP_V2_PREFIX;
    if (proxied && !pp_v2_tlvs_fit(a + need, hlen - need)) {
        return pp_refuse(err, PROXY_PROTO_ERR_MALFORMED);
    }

    memset(out, 0, sizeof(*out));
    out->version = 2;
    out->local = !proxied || fam == PP_V2_AF_UNIX;
    if (out->local) {
        return (ssize_t)(PP_V2_PREFIX + hlen);
    }
    if (fam == PP_V2_AF_INET) {
        struct sockaddr_in *src = (struct sockaddr_in *)(void *)&out->src;
        struct sockaddr_in *dst = (struct sockaddr_in *)(void *)&out->dst;

        src->sin_family = dst->sin_family = AF_INET;
        memcpy(&src->sin_addr, a, 4);
        memcpy(&dst->sin_addr, a + 4, 4);
        memcpy(&src->sin_port, a + 8, 2);
        memcpy(&dst->sin_port, a + 10, 2);
    } else {
        struct sockaddr_in6 *src = (struct sockaddr_in6 *)(void *)&out->src;
        struct sockaddr_in6 *dst = (struct sockaddr_in6 *)(void *)&out->dst;

        src->sin6_family = dst->sin6_family = AF_INET6;
        memcpy(&src->sin6_addr, a, 16);
        memcpy(&dst->sin6_addr, a + 16, 16);
        memcpy(&src->sin6_port, a + 32, 2);
        memcpy(&dst->sin6_port, a + 34, 2);
    }
    return (ssize_t)(PP_V2_PREFIX + hlen);
}

ssize_t
proxy_proto_parse(const unsigned char *buf, size_t len, struct proxy_proto_header *out,
                  enum proxy_proto_error *err)
{
    CHECK(out != NULL && err != NULL);
    CHECK(buf != NULL || len == 0);
    *err = PROXY_PROTO_ERR_NONE;
    if (len == 0) {
        return 0;
    }
    /* The first byte tells the versions apart ('P' or CR). */
    if (buf[0] == pp_v1_sig[0]) {
        return pp_parse_v1(buf, len, out, err);
    }
    if (buf[0] == pp_v2_sig[0]) {
        return pp_parse_v2(buf, len, out, err);
    }
    return pp_refuse(err, PROXY_PROTO_ERR_SIGNATURE);
}

const char *
proxy_proto_error_name(enum proxy_proto_error e)
{
    switch (e) {
    case PROXY_PROTO_ERR_NONE:
        return "none";
    case PROXY_PROTO_ERR_SIGNATURE:
        return "signature";
    case PROXY_PROTO_ERR_VERSION:
        return "version";
    case PROXY_PROTO_ERR_COMMAND:
        return "command";
    case PROXY_PROTO_ERR_FAMILY:
        return "family";
    case PROXY_PROTO_ERR_OVERSIZED:
        return "oversized";
    case PROXY_PROTO_ERR_MALFORMED:
        return "malformed";
    case PROXY_PROTO_ERR_COUNT:
        break;
    }
    CHECK(!"not a proxy_proto_error");
    return "?";
}
