/*
 * addr.c - numeric socket addresses ("1.2.3.4:443", "[::1]:443", "*:443")
 * and CIDR blocks, parsed, formatted and matched.
 *
 * Thread: any; every function is pure (no globals, no DNS).
 * Ownership: callers own every struct passed in; the `why` strings handed
 * back are static.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* The textual forms are short: "[ffff:...:ffff]:65535" fits in 64 bytes. */
#define ADDR_TEXT_MAX 64

static const unsigned char addr_v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/*
 * Parse a decimal port of 1 to 5 digits into *port.  Returns 0, or -1 with a
 * static reason in *why.  Port 0 is refused unless allow_port0.
 */
static int
addr_parse_port(const char *text, bool allow_port0, unsigned *port, const char **why)
{
    unsigned value = 0;
    size_t n = 0;

    if (*text == '\0') {
        *why = "missing port";
        return -1;
    }
    for (; text[n] != '\0'; n++) {
        if (text[n] < '0' || text[n] > '9') {
            *why = "port is not a decimal number";
            return -1;
        }
        if (n >= 5) {
            *why = "port out of range (0-65535)";
            return -1;
        }
        value = value * 10 + (unsigned)(text[n] - '0');
    }
    if (value > 65535) {
        *why = "port out of range (0-65535)";
        return -1;
    }
    if (value == 0 && !allow_port0) {
        *why = "port 0 is not allowed here";
        return -1;
    }
    *port = value;
    return 0;
}

int
addr_parse(const char *text, bool allow_port0, struct addr *out, const char **why)
{
    char host[ADDR_TEXT_MAX];
    const char *port_text;
    const char *dummy;
    unsigned port;
    size_t hostlen;

    if (why == NULL) {
        why = &dummy;
    }
    if (text == NULL || *text == '\0') {
        *why = "empty address";
        return -1;
    }

    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL) {
            *why = "missing ']' after IPv6 address";
            return -1;
        }
        if (close[1] != ':') {
            *why = close[1] == '\0' ? "missing port" : "expected ':' after ']'";
            return -1;
        }
        hostlen = (size_t)(close - text - 1);
        port_text = close + 2;
        if (hostlen == 0 || hostlen >= sizeof(host)) {
            *why = "not an IPv6 address";
            return -1;
        }
        memcpy(host, text + 1, hostlen);
        host[hostlen] = '\0';
        if (addr_parse_port(port_text, allow_port0, &port, why) < 0) {
            return -1;
        }

        struct sockaddr_in6 sin6;
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1) {
            *why = "not a numeric IPv6 address";
            return -1;
        }
        memset(out, 0, sizeof(*out));
        memcpy(&out->ss, &sin6, sizeof(sin6));
        out->len = sizeof(sin6);
        return 0;
    }

    const char *colon = strrchr(text, ':');
    if (colon == NULL) {
        *why = "missing port";
        return -1;
    }
    hostlen = (size_t)(colon - text);
    if (memchr(text, ':', hostlen) != NULL) {
        *why = "IPv6 addresses need brackets: \"[addr]:port\"";
        return -1;
    }
    if (hostlen == 0) {
        *why = "missing host (use \"*\" for any IPv4 address)";
        return -1;
    }
    if (hostlen >= sizeof(host)) {
        *why = "not a numeric IPv4 address (host names are not accepted)";
        return -1;
    }
    memcpy(host, text, hostlen);
    host[hostlen] = '\0';
    if (addr_parse_port(colon + 1, allow_port0, &port, why) < 0) {
        return -1;
    }

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (strcmp(host, "*") == 0) {
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        *why = "not a numeric IPv4 address (host names are not accepted)";
        return -1;
    }
    memset(out, 0, sizeof(*out));
    memcpy(&out->ss, &sin, sizeof(sin));
    out->len = sizeof(sin);
    return 0;
}

const char *
addr_format(const struct addr *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];

    if (len == 0) {
        return buf;
    }
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, len, "(family %d)", (int)a->ss.ss_family);
    }
    return buf;
}

bool
addr_is_any(const struct addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    if (a->ss.ss_family == AF_INET6) {
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
    }
    return false;
}

bool
addr_is_loopback(const struct addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;

        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
        const unsigned char *b = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return true;
        }
        /* ::ffff:127.x.y.z reaches IPv4 loopback through a dual-stack socket. */
        return memcmp(b, addr_v4mapped_prefix, sizeof(addr_v4mapped_prefix)) == 0 && b[12] == 127;
    }
    return false;
}

int
cidr_parse(const char *text, struct cidr *out, const char **why)
{
    char host[ADDR_TEXT_MAX];
    struct cidr c;
    const char *slash;
    const char *dummy;
    size_t hostlen;
    unsigned maxbits;

    if (why == NULL) {
        why = &dummy;
    }
    if (text == NULL || *text == '\0') {
        *why = "empty CIDR";
        return -1;
    }
    memset(&c, 0, sizeof(c));
    slash = strchr(text, '/');
    hostlen = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (hostlen == 0 || hostlen >= sizeof(host)) {
        *why = "not a numeric IP address";
        return -1;
    }
    memcpy(host, text, hostlen);
    host[hostlen] = '\0';

    if (strchr(host, ':') != NULL) {
        c.family = AF_INET6;
        maxbits = 128;
    } else {
        c.family = AF_INET;
        maxbits = 32;
    }
    if (inet_pton(c.family, host, c.net) != 1) {
        *why = c.family == AF_INET6 ? "not a numeric IPv6 address" : "not a numeric IPv4 address";
        return -1;
    }

    c.prefix = maxbits;
    if (slash != NULL) {
        const char *p = slash + 1;
        unsigned bits = 0;

        if (*p == '\0') {
            *why = "missing prefix length after '/'";
            return -1;
        }
        for (; *p != '\0'; p++) {
            if (*p < '0' || *p > '9' || bits > maxbits) {
                *why = "bad prefix length";
                return -1;
            }
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > maxbits) {
            *why = c.family == AF_INET6 ? "prefix length above 128" : "prefix length above 32";
            return -1;
        }
        c.prefix = bits;
    }

    /*
     * Clear the host bits so that "127.0.0.1/8" means 127.0.0.0/8, as
     * most tools read it; cidr_match then compares whole bytes safely.
     */
    for (unsigned i = 0; i < maxbits / 8; i++) {
        unsigned keep = c.prefix > i * 8 ? c.prefix - i * 8 : 0;

        if (keep < 8) {
            c.net[i] &= (unsigned char)(0xffu << (8 - keep));
        }
    }
    *out = c;
    return 0;
}

/* True when the first `bits` bits of a and b agree. */
static bool
cidr_prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8;
    unsigned rest = bits % 8;

    if (memcmp(a, b, whole) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
    unsigned char bytes[16];

    if (sa == NULL) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

        if (c->family == AF_INET) {
            return cidr_prefix_equal(c->net, (const unsigned char *)&sin->sin_addr, c->prefix);
        }
        /* An IPv6 CIDR such as ::ffff:0:0/96 also covers plain IPv4 peers. */
        memcpy(bytes, addr_v4mapped_prefix, sizeof(addr_v4mapped_prefix));
        memcpy(bytes + 12, &sin->sin_addr, 4);
        return cidr_prefix_equal(c->net, bytes, c->prefix);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        const unsigned char *b = sin6->sin6_addr.s6_addr;

        if (c->family == AF_INET6) {
            return cidr_prefix_equal(c->net, b, c->prefix);
        }
        /* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
        if (memcmp(b, addr_v4mapped_prefix, sizeof(addr_v4mapped_prefix)) != 0) {
            return false;
        }
        return cidr_prefix_equal(c->net, b + 12, c->prefix);
    }
    return false;
}
