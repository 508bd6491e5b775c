/*
 * addr.h - socket address and CIDR parsing (pure).
 *
 * Any thread.  "1.2.3.4:443", "[::1]:443", "*:443" (IPv4 any) and
 * "[::]:443" are accepted; host names are not (a terminator should not
 * depend on DNS to start).
 */
#ifndef TESSERA_ADDR_H
#define TESSERA_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char net[16];
    unsigned prefix;
};

/* Parse "HOST:PORT".  Port 0 is accepted only if allow_port0.  Returns 0, or -1
 * with a short reason in *why (a static string). */
int addr_parse(const char *text, bool allow_port0, struct addr *out, const char **why);
/* Format as "1.2.3.4:443" or "[::1]:443" into buf (at least 64 bytes). */
const char *addr_format(const struct addr *a, char *buf, size_t len);
bool addr_is_loopback(const struct addr *a);
/* 0.0.0.0 or [::]: a listener on it accepts for every local address. */
bool addr_is_any(const struct addr *a);
/* Parse "10.0.0.0/8", "::1/128" or a bare address (full-length prefix). */
int cidr_parse(const char *text, struct cidr *out, const char **why);
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

#endif
