/*
 * bench-opts.c - tessera-bench's command line: the usage text, the loopback-only server
 * address, and the defaults that depend on the mode.  Runs on the main thread before any
 * other thread starts; fills `opt`, which is read-only afterwards.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "bench.h"

struct bench_opts opt;

static void
usage(FILE *f)
{
    fprintf(f, "usage: tessera-bench full|resume|bulk|idle --port P [options]\n"
               "       tessera-bench backend http|echo|sink [--listen 127.0.0.1:0]\n"
               "                             [--proxy required|absent]\n"
               "  --host ADDR          server address, loopback only (127.0.0.1)\n"
               "  --port P             server port (required)\n"
               "  --tls 1.2|1.3        protocol version (1.3)\n"
               "  --groups LIST        key-exchange groups (X25519)\n"
               "  --sigalgs LIST       signature algorithms, e.g. ECDSA+SHA256 or RSA-PSS+SHA256\n"
               "  --cipher LIST        TLS 1.2 cipher list\n"
               "  --ciphersuites LIST  TLS 1.3 cipher suites\n"
               "  --sni NAME           server name to send (none)\n"
               "  --resume id|ticket   resume mode: session ID (TLS 1.2) or ticket\n"
               "  --prime-port A       resume: make sessions on port A first (full handshakes,\n"
               "                       before the run); every connection to --port offers one\n"
               "  --prime-count N      resume: sessions to make on A (count + 4 * conc)\n"
               "  --conc N             connections in flight (16)\n"
               "  -j N, --threads N    load threads (1)\n"
               "  --duration S         measure for S seconds (10) ...\n"
               "  --count N            ... or until N exchanges completed (idle: connections)\n"
               "  --warmup S           seconds before measuring (1; bulk and idle: 0)\n"
               "  --bytes N            bulk: bytes per connection, echoed back (4 MiB)\n"
               "  --server-pid P[,P]   processes whose CPU time and RSS to sample\n"
               "  --timeout S          bound on the whole run (warmup+duration+60 or +120)\n"
               "  --max-errors N       end the run after N failed connections (1000; 0: never)\n"
               "  --conn-timeout S     bound on one connection (10)\n"
               "  --hold S             idle: hold S seconds (default: until SIGTERM/stdin EOF)\n"
               "  --settle S           idle: wait before sampling RSS (0.5)\n"
               "  --silent             idle: only connect; send nothing, not even a ClientHello\n"
               "Prints one line of key=value pairs; idle then prints READY.\n");
}

static bool
parse_host(const char *host, int port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&opt.addr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&opt.addr;

    memset(&opt.addr, 0, sizeof(opt.addr));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
            return false;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        opt.addrlen = sizeof(*sin);
        return true;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return false;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        opt.addrlen = sizeof(*sin6);
        return true;
    }
    return false;
}

int
bench_opts_parse(int argc, char **argv)
{
    enum {
        OPT_HOST = 256,
        OPT_PORT,
        OPT_TLS,
        OPT_GROUPS,
        OPT_SIGALGS,
        OPT_CIPHER,
        OPT_SUITES,
        OPT_SNI,
        OPT_RESUME,
        OPT_CONC,
        OPT_DURATION,
        OPT_COUNT,
        OPT_WARMUP,
        OPT_BYTES,
        OPT_PID,
        OPT_TIMEOUT,
        OPT_CONN_TIMEOUT,
        OPT_HOLD,
        OPT_SETTLE,
        OPT_SILENT,
        OPT_MAX_ERRORS,
        OPT_PRIME_PORT,
        OPT_PRIME_COUNT,
    };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"tls", required_argument, NULL, OPT_TLS},
        {"groups", required_argument, NULL, OPT_GROUPS},
        {"sigalgs", required_argument, NULL, OPT_SIGALGS},
        {"cipher", required_argument, NULL, OPT_CIPHER},
        {"ciphersuites", required_argument, NULL, OPT_SUITES},
        {"sni", required_argument, NULL, OPT_SNI},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"conc", required_argument, NULL, OPT_CONC},
        {"threads", required_argument, NULL, 'j'},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"count", required_argument, NULL, OPT_COUNT},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"bytes", required_argument, NULL, OPT_BYTES},
        {"server-pid", required_argument, NULL, OPT_PID},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"conn-timeout", required_argument, NULL, OPT_CONN_TIMEOUT},
        {"hold", required_argument, NULL, OPT_HOLD},
        {"settle", required_argument, NULL, OPT_SETTLE},
        {"silent", no_argument, NULL, OPT_SILENT},
        {"max-errors", required_argument, NULL, OPT_MAX_ERRORS},
        {"prime-port", required_argument, NULL, OPT_PRIME_PORT},
        {"prime-count", required_argument, NULL, OPT_PRIME_COUNT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *host = "127.0.0.1";
    int port = 0;
    int prime_port = 0;
    bool warmup_set = false;

    if (argc < 2) {
        usage(stderr);
        return -1;
    }
    if (strcmp(argv[1], "full") == 0) {
        opt.mode = MODE_FULL;
    } else if (strcmp(argv[1], "resume") == 0) {
        opt.mode = MODE_RESUME;
    } else if (strcmp(argv[1], "bulk") == 0) {
        opt.mode = MODE_BULK;
    } else if (strcmp(argv[1], "idle") == 0) {
        opt.mode = MODE_IDLE;
    } else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        exit(0);
    } else {
        fprintf(stderr, "tessera-bench: unknown mode '%s'\n", argv[1]);
        return -1;
    }
    opt.tls_version = TLS1_3_VERSION;
    opt.groups = "X25519";
    opt.conc = 16;
    opt.threads = 1;
    opt.duration = 10;
    opt.warmup = 1;
    opt.bulk_bytes = 4L << 20;
    opt.timeout = -1;
    opt.conn_timeout = 10;
    opt.hold = -1;
    opt.settle = 0.5;
    opt.max_errors = 1000;

    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "j:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_HOST:
            host = optarg;
            break;
        case OPT_PORT:
            port = atoi(optarg);
            break;
        case OPT_TLS:
            if (strcmp(optarg, "1.2") == 0) {
                opt.tls_version = TLS1_2_VERSION;
            } else if (strcmp(optarg, "1.3") == 0) {
                opt.tls_version = TLS1_3_VERSION;
            } else {
                fprintf(stderr, "tessera-bench: --tls 1.2 or 1.3\n");
                return -1;
            }
            break;
        case OPT_GROUPS:
            opt.groups = optarg;
            break;
        case OPT_SIGALGS:
            opt.sigalgs = optarg;
            break;
        case OPT_CIPHER:
            opt.cipher = optarg;
            break;
        case OPT_SUITES:
            opt.ciphersuites = optarg;
            break;
        case OPT_SNI:
            opt.sni = optarg;
            break;
        case OPT_RESUME:
            if (strcmp(optarg, "id") == 0) {
                opt.resume = RESUME_ID;
            } else if (strcmp(optarg, "ticket") == 0) {
                opt.resume = RESUME_TICKET;
            } else {
                fprintf(stderr, "tessera-bench: --resume id or ticket\n");
                return -1;
            }
            break;
        case OPT_CONC:
            opt.conc = atoi(optarg);
            break;
        case 'j':
            opt.threads = atoi(optarg);
            break;
        case OPT_DURATION:
            opt.duration = atof(optarg);
            break;
        case OPT_COUNT:
            opt.count = atol(optarg);
            break;
        case OPT_WARMUP:
            opt.warmup = atof(optarg);
            warmup_set = true;
            break;
        case OPT_BYTES:
            opt.bulk_bytes = atol(optarg);
            break;
        case OPT_PID: {
            char *save = NULL;
            char *list = strdup(optarg);
            BENCH_CHECK(list != NULL);
            for (char *p = strtok_r(list, ",", &save); p != NULL && opt.npids < MAX_PIDS;
                 p = strtok_r(NULL, ",", &save)) {
                opt.pids[opt.npids++] = (pid_t)atoi(p);
            }
            free(list);
            break;
        }
        case OPT_TIMEOUT:
            opt.timeout = atof(optarg);
            break;
        case OPT_CONN_TIMEOUT:
            opt.conn_timeout = atof(optarg);
            break;
        case OPT_HOLD:
            opt.hold = atof(optarg);
            break;
        case OPT_SETTLE:
            opt.settle = atof(optarg);
            break;
        case OPT_SILENT:
            opt.silent = true;
            break;
        case OPT_MAX_ERRORS:
            opt.max_errors = atol(optarg);
            break;
        case OPT_PRIME_PORT:
            prime_port = atoi(optarg);
            break;
        case OPT_PRIME_COUNT:
            opt.prime_count = atol(optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tessera-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (port <= 0 || port > 65535 || !parse_host(host, port)) {
        fprintf(stderr, "tessera-bench: need --port, and a loopback --host\n");
        return -1;
    }
    if (prime_port != 0) {
        /* The priming server lives on the same (loopback) host as the measured one. */
        if (opt.mode != MODE_RESUME || prime_port < 0 || prime_port > 65535) {
            fprintf(stderr, "tessera-bench: --prime-port needs resume mode and a port\n");
            return -1;
        }
        opt.prime_addr = opt.addr;
        opt.prime_addrlen = opt.addrlen;
        if (opt.addr.ss_family == AF_INET) {
            ((struct sockaddr_in *)&opt.prime_addr)->sin_port = htons((uint16_t)prime_port);
        } else {
            ((struct sockaddr_in6 *)&opt.prime_addr)->sin6_port = htons((uint16_t)prime_port);
        }
        opt.prime = true;
        if (opt.prime_count <= 0) {
            opt.prime_count = (opt.count > 0 ? opt.count : 10000) + 4L * opt.conc;
        }
    }
    if (opt.mode == MODE_RESUME && opt.resume == RESUME_NONE) {
        opt.resume = RESUME_TICKET;
    }
    if (opt.mode != MODE_RESUME) {
        opt.resume = RESUME_NONE;
    }
    if (opt.resume == RESUME_ID && opt.tls_version != TLS1_2_VERSION) {
        fprintf(stderr, "tessera-bench: --resume id needs --tls 1.2\n");
        return -1;
    }
    if ((opt.mode == MODE_BULK || opt.mode == MODE_IDLE) && !warmup_set) {
        opt.warmup = 0;
    }
    if (opt.mode == MODE_BULK && opt.count <= 0 && opt.duration <= 0) {
        opt.count = 64;
    }
    if (opt.conc < 1 || opt.threads < 1 || opt.threads > opt.conc || opt.bulk_bytes < 1) {
        fprintf(stderr, "tessera-bench: need --conc >= -j >= 1 and --bytes >= 1\n");
        return -1;
    }
    if (opt.timeout <= 0) {
        opt.timeout = opt.count > 0 ? opt.warmup + 120 : opt.warmup + opt.duration + 60;
    }
    return 0;
}
