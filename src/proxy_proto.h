/*
 * proxy_proto.h - the PROXY protocol, version 1 (a text line) and version 2
 * (binary, with TLVs), in the layout of HAProxy's proxy-protocol.txt:
 * encoding the header tessera sends ahead of a backend connection, and
 * parsing the header a balancer in front sends ahead of a client's bytes.
 *
 * Pure: no I/O, no allocation, no clock; any thread.  The parser is fed
 * untrusted bytes (tests/fuzz/fuzz_proxy.c) and reads no byte past `len`.
 */
#ifndef TESSERA_PROXY_PROTO_H
#define TESSERA_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The longest v1 line (the specification's 107 bytes, CRLF included). */
#define PROXY_PROTO_V1_MAX 107
/* Room for any header tessera sends (each string TLV is cut at 255 bytes). */
#define PROXY_PROTO_OUT_MAX 2048
/* The longest header accepted from a balancer: as long as any tessera sends,
 * so that a tessera may stand behind another (balancers send a few dozen
 * bytes; the limit is a stack buffer while the header is read). */
#define PROXY_PROTO_IN_MAX PROXY_PROTO_OUT_MAX

/* v2 TLV types (proxy-protocol.txt section 2.2). */
#define PROXY_PROTO_TLV_ALPN           0x01
#define PROXY_PROTO_TLV_AUTHORITY      0x02
#define PROXY_PROTO_TLV_SSL            0x20
#define PROXY_PROTO_SUBTLV_SSL_VERSION 0x21
#define PROXY_PROTO_SUBTLV_SSL_CN      0x22
#define PROXY_PROTO_SUBTLV_SSL_CIPHER  0x23
#define PROXY_PROTO_SUBTLV_SSL_SIG_ALG 0x24
#define PROXY_PROTO_SUBTLV_SSL_KEY_ALG 0x25
/* tessera's own TLV, in the range the protocol leaves to applications
 * (PP2_TYPE_MIN_CUSTOM 0xE0 .. 0xEF): one byte, 0x01 = this connection's
 * first bytes arrived as TLS 1.3 early data (0-RTT), accepted once
 * cluster-wide but sent before the handshake completed.  Absent otherwise. */
#define PROXY_PROTO_TLV_EARLY_DATA 0xE0
/* PP2_TYPE_SSL client flags. */
#define PROXY_PROTO_CLIENT_SSL       0x01
#define PROXY_PROTO_CLIENT_CERT_CONN 0x02
#define PROXY_PROTO_CLIENT_CERT_SESS 0x04

/* A connection's two ends: src is the client, dst the address it reached.
 * AF_INET or AF_INET6 (both the same family; a mixed pair is sent as
 * IPv6 with the IPv4 one mapped); any other family is sent as UNKNOWN (v1)
 * or UNSPEC (v2). */
struct proxy_proto_addrs {
    struct sockaddr_storage src, dst;
};

/* What the v2 TLVs say of the TLS connection.  A NULL string (or alpn_len
 * 0) leaves its TLV out. */
struct proxy_proto_tls {
    const unsigned char *alpn;
    size_t alpn_len;
    const char *authority; /* the SNI name */
    uint8_t client;        /* PROXY_PROTO_CLIENT_* */
    uint32_t verify;       /* 0: the client's certificate verified (or none was sent) */
    const char *version;   /* "TLSv1.3" */
    const char *cn;        /* the client certificate's subject common name */
    const char *cipher;    /* "TLS_AES_128_GCM_SHA256" */
    const char *sig_alg;   /* the server certificate's signature algorithm, "SHA256" ... */
    const char *key_alg;   /* the server certificate's key, "RSA2048", "EC256" ... */
    bool early_data;       /* send PROXY_PROTO_TLV_EARLY_DATA */
};

/* Write the v1 line for `a` into buf.  Returns its length, or -1 when cap is
 * too small (PROXY_PROTO_V1_MAX always suffices). */
ssize_t proxy_proto_encode_v1(const struct proxy_proto_addrs *a, char *buf, size_t cap);

/* Write a v2 PROXY (command 0x1, stream) header for `a` with the TLVs of
 * `tls` (NULL: none) into buf.  Returns its length, or -1 when cap is too
 * small (PROXY_PROTO_OUT_MAX always suffices). */
ssize_t proxy_proto_encode_v2(const struct proxy_proto_addrs *a, const struct proxy_proto_tls *tls,
                              unsigned char *buf, size_t cap);

/* Why a received header was refused; each names a label value of
 * tessera_proxy_header_errors_total{reason}. */
enum proxy_proto_error {
    PROXY_PROTO_ERR_NONE = 0,
    PROXY_PROTO_ERR_SIGNATURE, /* "signature": neither a v1 nor a v2 header */
    PROXY_PROTO_ERR_VERSION,   /* "version": v2 signature, version nibble not 2 */
    PROXY_PROTO_ERR_COMMAND,   /* "command": v2 command neither LOCAL nor PROXY */
    PROXY_PROTO_ERR_FAMILY,    /* "family": unknown address family or transport */
    PROXY_PROTO_ERR_OVERSIZED, /* "oversized": longer than PROXY_PROTO_IN_MAX / v1's 107 */
    PROXY_PROTO_ERR_MALFORMED, /* "malformed": bad v1 field, short v2 address block, bad TLV */
    PROXY_PROTO_ERR_COUNT,
};

/* A parsed header.  `local`: the addresses are not to be used (v2 LOCAL,
 * v1 UNKNOWN, v2 UNSPEC or AF_UNIX): the connection keeps its own. */
struct proxy_proto_header {
    int version; /* 1 or 2 */
    bool local;
    struct sockaddr_storage src, dst;
};

/*
 * Parse the header at the start of buf[0..len).  Returns:
 *   > 0  the header is complete and that many bytes long (the TLS bytes
 *        follow); *out is filled;
 *     0  what arrived is a valid beginning: wait for more (the caller
 *        bounds the wait and the length, PROXY_PROTO_IN_MAX);
 *    -1  refused; *err says why.
 * Refuses as early as the bytes allow (a wrong signature on the first
 * byte, an oversized v2 length on the 16th).
 */
ssize_t proxy_proto_parse(const unsigned char *buf, size_t len, struct proxy_proto_header *out,
                          enum proxy_proto_error *err);

/* "signature", "version", ... ("none" for PROXY_PROTO_ERR_NONE). */
const char *proxy_proto_error_name(enum proxy_proto_error e);

#endif
