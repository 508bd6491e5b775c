/*
 * fuzz_common.c - the harnesses' scratch folder, fixed secrets and keys,
 * worlds for the OpenSSL callbacks, and a stand-in for src/conn.c.
 *
 * Thread: the fuzzer's only thread.  Ownership: everything made here lives
 * until exit; the scratch folder and the files written into it are removed
 * by an atexit() handler (a crash leaves them behind in $TMPDIR).
 *
 * Why a stand-in for conn.c: tickets.c and sessions.c reach their worker
 * through SSL ex_data -> conn -> worker (conn.h's accessors).  The real
 * conn.c drags in sockets, the relay and the event loop's dispatch, none of
 * which a ClientHello parser needs; the accessors below keep the same
 * contract (magic-checked, one conn per SSL) over a conn with no socket.
 */
#include "fuzz_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

#include "check.h"
#include "conn.h"
#include "evloop.h"
#include "log.h"
#include "sessions.h"
#include "tickets.h"
#include "tlsctx.h"

const unsigned char fuzz_secret[SEAL_SECRET_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
const unsigned char fuzz_old_secret[SEAL_SECRET_LEN] = {
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};

#define FUZZ_FILES_MAX 64

static char fuzz_dir_path[256];
static char *fuzz_files[FUZZ_FILES_MAX];
static size_t fuzz_nfiles;

static _Noreturn void
fuzz_die(const char *what)
{
    fprintf(stderr, "fuzz: %s\n", what);
    ERR_print_errors_fp(stderr);
    abort();
}

static void
fuzz_cleanup(void)
{
    for (size_t i = 0; i < fuzz_nfiles; i++) {
        unlink(fuzz_files[i]);
        free(fuzz_files[i]);
    }
    if (fuzz_dir_path[0] != '\0') {
        rmdir(fuzz_dir_path);
    }
}

/* ---- the scratch folder ---- */

/*
 * Fixed test certificates and keys (made once with the openssl command:
 * P-256 and RSA-2048, self-signed, valid for 100 years), never used
 * outside these harnesses.  Fixed rather than made at start-up so that the
 * session-ID context (a digest of the certificates, tlsctx.c) is the same
 * in every run: a seed holding a session or a ticket resumes in any run.
 */
static const char fixture_ec_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkzCCATmgAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv\n"
    "c3QwIBcNMjYxMjAzMDQzMTUxWhgPMjEyNjExMDkwNDMxNTFaMBQxEjAQBgNVBAMM\n"
    "CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLrkrxH8Cqx31HoB\n"
    "v4z6690GklD9KZI4QcJ+nu9AsvycU1DOWsE3ZQ5q+If/a0HRMmnrVRSaNFONll8g\n"
    "do/rTJijejB4MB0GA1UdDgQWBBRtjd1nWjoNvj8FmIR3XNIlfoz2/DAfBgNVHSME\n"
    "GDAWgBRtjd1nWjoNvj8FmIR3XNIlfoz2/DAPBgNVHRMBAf8EBTADAQH/MCUGA1Ud\n"
    "EQQeMByCCWxvY2FsaG9zdIIPd3d3LmV4YW1wbGUuY29tMAoGCCqGSM49BAMCA0gA\n"
    "MEUCIQCPpVsYce+bArGNVj8J5omIpwnzlnuaFB6bTf+TCYTy9AIgAfzewMAu45wc\n"
    "ZAQ+sDOOmmSey7NAoigO8eeUGLl1M+M=\n"
    "-----END CERTIFICATE-----\n";

static const char fixture_ec_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSKsUrfxjslGYNrjE\n"
    "SwH0PK72i1OoafW3WifXax6V4YqhRANCAAS65K8R/Aqsd9R6Ab+M+uvdBpJQ/SmS\n"
    "OEHCfp7vQLL8nFNQzlrBN2UOaviH/2tB0TJp61UUmjRTjZZfIHaP60yY\n"
    "-----END PRIVATE KEY-----\n";

static const char fixture_rsa_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDHzCCAgegAwIBAgIBAjANBgkqhkiG9w0BAQsFADAUMRIwEAYDVQQDDAlsb2Nh\n"
    "bGhvc3QwIBcNMjYxMjAzMDQzMTUyWhgPMjEyNjExMDkwNDMxNTJaMBQxEjAQBgNV\n"
    "BAMMCWxvY2FsaG9zdDCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAKzo\n"
    "jTeD+7Ru9WlziQnzhp0S7rTkhIDwsBvhxfi/hEIE2f5YpLne+hj4vjCX+5aF7y6b\n"
    "aM4iMTDkOGji5ahVlw5GWeO+/kXiJnG5oELFHrKpf8Ofu1+Kwrd9GH95Sna6Brm/\n"
    "KR4pBN7sLGmlU5C+U9XSW4oJMz4mY4XsXNEML4GEMgj9o5/E6PfdWMuY43EV3F+o\n"
    "j3sXqGiARVcO91oHcJjLefHeWVso+26GsAdpoBqMyCCF76qEmKbMy0WizjqVbEFH\n"
    "9Nq/taOLXemCd8fRYaGLe6P5ZFOSC6a3JWTPFLJpZlllCp6OoAQTqjacg7xjdUDH\n"
    "nw4IRF7HXfUKTIbacZECAwEAAaN6MHgwHQYDVR0OBBYEFPi6WUX0DyvMQvVYynrf\n"
    "TS6G2IXSMB8GA1UdIwQYMBaAFPi6WUX0DyvMQvVYynrfTS6G2IXSMA8GA1UdEwEB\n"
    "/wQFMAMBAf8wJQYDVR0RBB4wHIIJbG9jYWxob3N0gg93d3cuZXhhbXBsZS5jb20w\n"
    "DQYJKoZIhvcNAQELBQADggEBAAWZBusobdL0girQ3IIrQXeRpr5zGa/zCvoY8mrE\n"
    "fKQ6unR/8Pf7AaHqjAsPhVpMkN3rtMKkNOsX+xzDRUcADo3cK4eRSAlUpoT2X2x8\n"
    "NDZ0zzoZYugpm2/mjr8TI43qdr+3iFhxM4NcWlzBLyn42tyyALZdE1Rwjw3TPVsW\n"
    "gUfT5wx49VPBjyZx/f1YrZhRmgfqYMe5dv2XrR0wu9NRoEwHor2shBs8hGGfQFgs\n"
    "fl2nrsG4gYrXHMb/tew7j9q1+MsVcCY5ZF0ct8yv9ULA8nUb/QHYt6UTU6ufBJ3C\n"
    "n8XWMLYGaxG6bLhcI+3L4wSK+GfhJcyP3ZmynLu/CorJB34=\n"
    "-----END CERTIFICATE-----\n";

static const char fixture_rsa_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCs6I03g/u0bvVp\n"
    "c4kJ84adEu605ISA8LAb4cX4v4RCBNn+WKS53voY+L4wl/uWhe8um2jOIjEw5Dho\n"
    "4uWoVZcORlnjvv5F4iZxuaBCxR6yqX/Dn7tfisK3fRh/eUp2uga5vykeKQTe7Cxp\n"
    "pVOQvlPV0luKCTM+JmOF7FzRDC+BhDII/aOfxOj33VjLmONxFdxfqI97F6hogEVX\n"
    "DvdaB3CYy3nx3llbKPtuhrAHaaAajMgghe+qhJimzMtFos46lWxBR/Tav7Wji13p\n"
    "gnfH0WGhi3uj+WRTkgumtyVkzxSyaWZZZQqejqAEE6o2nIO8Y3VAx58OCERex131\n"
    "CkyG2nGRAgMBAAECggEACBr7VQu5VrslgvTOYD/hDWeaoV0y/u5e0GJ0NYBuJ+rH\n"
    "+J3ZfvhpEJbx0h+rGg0blLuRR/8fVN47Qg4c25gY4CuZFs2DEu3n2nNBWXqZwUtO\n"
    "eMekm3UgQpoOdhn5TSPUS+HJANJwbtjIY4gYqOjbJONbCiyl5ncbOZHGb2rwUSm4\n"
    "Q8nkgZU16LDtSes71sPcU64uP3BkdvN7ZSenEiD9tSxuZukDeUY6NiOUVfWJzps3\n"
    "6MeOyQ5wwkMF/VW2/WEyaB/QI6ISZfUf4Ylt2f34d5ts9qrltDOnCstM/KMXsc7m\n"
    "9XGJ11VQ3TKZX3rvR2k4oZAeoV5N9Wei2x9lkNh2KQKBgQDqAvDWNMed2M1pgfy+\n"
    "PT8EypCtMBWz+jE1uV6HrjoLuDDG5IQXmiX6SdHfh6HdK71lGOUPsnvzw1Ezh4Jg\n"
    "TrxlVzpm3Szovb6hJzyJg7p9VuysiYEIADBym0kND0i3teYko6yj0XRrEO+M9S9d\n"
    "sJdAc/7/vfL/meGOyL6hkQTLzQKBgQC9J8yIBV2i2NRpbsJCupC2mDs8OPuoWdB7\n"
    "w+7i4KQ6tpE1ILStpAnIdpEG3jPNiAWa1R65R+nT7LyN6/RSRqkd6f4zP/uY/shZ\n"
    "J1M+r1IWHZqb4E3qUtoAZAWMrh/iAFZ5FLAH9LZOkn8hmJAKswZTGBQBQMGJn3mk\n"
    "AENVRzBg1QKBgQDLUk7K7wTZovumxmhBKpnMoevebj8NJz8GfM8jeD+62wiWZwpW\n"
    "L3r74pPVcdUzg8OFSYIMh3mnLHcrHHwtDXwnWQjHQzi359Tv1FWG7ctlB9ePedGA\n"
    "kBmIGl/4VuVJqWQTRZrEo0JRnF9my8mhz8M7Hw3aSsINTzhphQYM/yF5qQKBgQC4\n"
    "NV0DDi6tG3pontuB/oxVthThxiCWR7k3/ozS17A4GXl6ArrR61E3rvf3d0d9njzP\n"
    "F0OPbpAxuXe6wpGx2mxx3GGY6XONAHp+EEUKY9SOAxCBQsS+MSdqf/3DjgMwpeGQ\n"
    "kuwHI3KzPAmg3yFPuh6rp2Q8ACM6clsUssjf8K8VbQKBgEjqbFCmOiZIAlvvjuAR\n"
    "iK+0D4FXbaj9YQ8OzD77i2D151VnoTHQdWQbCvlVXxsw6PmdxyNozV3AauXJufLY\n"
    "8bej+3MMHDSDfH1vb0AX8iomHCdKyuySZ0fQFQlwp1dvD/QRabMZlH7cErLCRtzs\n"
    "/owEjRM29hFqAqkh9nYlBwCv\n"
    "-----END PRIVATE KEY-----\n";

static const char fixture_sni_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjTCCATSgAwIBAgIBAzAKBggqhkjOPQQDAjAYMRYwFAYDVQQDDA0qLmV4YW1w\n"
    "bGUub3JnMCAXDTI2MTIwMzA0MzE1MloYDzIxMjYxMTA5MDQzMTUyWjAYMRYwFAYD\n"
    "VQQDDA0qLmV4YW1wbGUub3JnMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfP0F\n"
    "MSlnfoEeoVTpfRqxmFWhq4u046QH6+4bBeAiiBe8yDsd6VPBCDxYbnCKXF/hSXKK\n"
    "vJIbvtyLtgjqLAWFBKNtMGswHQYDVR0OBBYEFG8YRnlfv9uYq1+UJEv3Zlh+Z8QR\n"
    "MB8GA1UdIwQYMBaAFG8YRnlfv9uYq1+UJEv3Zlh+Z8QRMA8GA1UdEwEB/wQFMAMB\n"
    "Af8wGAYDVR0RBBEwD4INKi5leGFtcGxlLm9yZzAKBggqhkjOPQQDAgNHADBEAiB/\n"
    "a1JASjCByaxvGaZyx+MvafD9dSOu1LE0KlernVCiGQIgBWUGFgVX3jiqeTfn/EeU\n"
    "R9bCZCAkHpV6oo+yhZeqJEU=\n"
    "-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwyDo7WADMuNt+Epo\n"
    "emCaA2l/HEGWSwTCHDhKTzD29MuhRANCAAR8/QUxKWd+gR6hVOl9GrGYVaGri7Tj\n"
    "pAfr7hsF4CKIF7zIOx3pU8EIPFhucIpcX+FJcoq8khu+3Iu2COosBYUE\n"
    "-----END PRIVATE KEY-----\n";

static const char fixture_other_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpPZbzeVR1iD4Ar6N\n"
    "IzcYzr6/bJo4BivPBuErrboykqShRANCAAQISKMbX7mOGObi9E4v7YWXnk/MInE7\n"
    "DfeZWt+n00GgXG8npg6n9EYM3DdVtkwsjgnXnM8Gqtf5sEwfsd3iY+Gk\n"
    "-----END PRIVATE KEY-----\n";

static void
write_secret(const char *name, const unsigned char *secret, mode_t mode)
{
    char hex[2 * SEAL_SECRET_LEN + 2];
    char path[512];

    for (size_t i = 0; i < SEAL_SECRET_LEN; i++) {
        snprintf(hex + 2 * i, 3, "%02x", secret[i]);
    }
    hex[2 * SEAL_SECRET_LEN] = '\n';
    hex[2 * SEAL_SECRET_LEN + 1] = '\0';
    fuzz_write(name, hex, strlen(hex));
    snprintf(path, sizeof(path), "%s/%s", fuzz_dir_path, name);
    if (chmod(path, mode) != 0) {
        fuzz_die("cannot chmod a secret file");
    }
}

static void
make_dir_files(void)
{
    fuzz_write("ec.pem", fixture_ec_pem, strlen(fixture_ec_pem));
    fuzz_write("ec.key", fixture_ec_key, strlen(fixture_ec_key));
    fuzz_write("rsa.pem", fixture_rsa_pem, strlen(fixture_rsa_pem));
    fuzz_write("rsa.key", fixture_rsa_key, strlen(fixture_rsa_key));
    fuzz_write("sni.pem", fixture_sni_pem, strlen(fixture_sni_pem));
    fuzz_write("other.key", fixture_other_key, strlen(fixture_other_key));
    write_secret("secret.hex", fuzz_secret, 0600);
    write_secret("old.hex", fuzz_old_secret, 0600);
    write_secret("open.hex", fuzz_secret, 0644);
}

const char *
fuzz_dir(void)
{
    if (fuzz_dir_path[0] != '\0') {
        return fuzz_dir_path;
    }
    const char *tmp = getenv("TMPDIR");
    char *real;

    snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "%s/tessera-fuzz.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(fuzz_dir_path) == NULL) {
        fuzz_die("cannot make the scratch folder");
    }
    /* config.c resolves paths against the real path of the file's folder. */
    real = realpath(fuzz_dir_path, NULL);
    if (real == NULL || strlen(real) >= sizeof(fuzz_dir_path)) {
        fuzz_die("cannot resolve the scratch folder");
    }
    strcpy(fuzz_dir_path, real);
    free(real);
    atexit(fuzz_cleanup);
    make_dir_files();
    return fuzz_dir_path;
}

void
fuzz_write(const char *name, const void *data, size_t len)
{
    char *path;
    FILE *f;
    bool known = false;

    if (asprintf(&path, "%s/%s", fuzz_dir(), name) < 0) {
        fuzz_die("out of memory");
    }
    f = fopen(path, "w");
    if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fuzz_die("cannot write a scratch file");
    }
    for (size_t i = 0; i < fuzz_nfiles && !known; i++) {
        known = strcmp(fuzz_files[i], path) == 0;
    }
    if (!known && fuzz_nfiles < FUZZ_FILES_MAX) {
        fuzz_files[fuzz_nfiles++] = path;
    } else {
        free(path);
    }
}

struct config *
fuzz_config(const char *name, const char *text)
{
    struct config *cfg = NULL;
    struct err err = {""};
    char *path;

    fuzz_write(name, text, strlen(text));
    if (asprintf(&path, "%s/%s", fuzz_dir(), name) < 0) {
        fuzz_die("out of memory");
    }
    if (config_load(path, &cfg, &err) < 0) {
        fuzz_die(err.msg);
    }
    free(path);
    return cfg;
}

/* ---- secrets and keys ---- */

struct seal *
fuzz_seal_new(bool as_old)
{
    struct seal *s = seal_new();

    if (s == NULL || seal_add_secret(s, as_old ? fuzz_old_secret : fuzz_secret, true) != 0 ||
        (!as_old && seal_add_secret(s, fuzz_old_secret, false) != 0)) {
        fuzz_die("cannot make a seal");
    }
    return s;
}

static void
ring_add(struct keyring *r, unsigned i, uint64_t epoch, enum keyring_source source)
{
    struct keyring_key k;
    char name[KEYRING_NAME_LEN + 1];

    memset(&k, 0, sizeof(k));
    k.epoch = epoch;
    k.source = source;
    snprintf(name, sizeof(name), "tessera-fuzz-k%02u", i);
    memcpy(k.name, name, KEYRING_NAME_LEN);
    for (unsigned j = 0; j < KEYRING_AES_LEN; j++) {
        k.aes[j] = (unsigned char)(0x40 + 7 * i + j);
    }
    for (unsigned j = 0; j < KEYRING_HMAC_LEN; j++) {
        k.hmac[j] = (unsigned char)(0x80 + 11 * i + j);
    }
    if (keyring_add(r, &k) != 0) {
        fuzz_die("cannot fill the keyring");
    }
}

void
fuzz_ring_fill(struct keyring *r, time_t now)
{
    uint64_t e = keyring_epoch(r, now);

    ring_add(r, 0, e, KEYRING_SOURCE_CLUSTER);     /* encrypts */
    ring_add(r, 1, e + 1, KEYRING_SOURCE_CLUSTER); /* next: accepted, not renewed */
    ring_add(r, 2, e - 1, KEYRING_SOURCE_CLUSTER); /* older: renewed */
    ring_add(r, 3, e, KEYRING_SOURCE_LOCAL);       /* superseded local key: renewed */
    ring_add(r, 4, e - r->keep, KEYRING_SOURCE_CLUSTER);
}

/* ---- the handshake a connection would drive ---- */

/* Nothing waits for a parked handshake here: no stand-in is without a
 * memcached connection, so nothing parks (sessions_new got no mc). */
static void
on_resume(struct handshake *h)
{
    (void)h;
}

/* ---- worlds ---- */

/* What every harness needs once: quiet logs, the handshake's ex_data index,
 * the ticket cipher, the scratch folder. */
static void
fuzz_global_init(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    log_init(LOG_LVL_ERROR, false);
    if (handshake_global_init() < 0 || tickets_init() < 0) {
        fuzz_die("cannot initialise handshakes or tickets");
    }
    (void)fuzz_dir();
}

const char *
fuzz_world_config(const char *store, bool tickets)
{
    static char text[2048];

    snprintf(text, sizeof(text),
             "workers = 1;\n"
             "frontends = ( {\n"
             "  name = \"fuzz\";\n"
             "  listen = \"127.0.0.1:8443\";\n"
             "  backend = \"127.0.0.1:8080\";\n"
             "  certs = ( { cert = \"ec.pem\"; key = \"ec.key\"; },\n"
             "            { cert = \"rsa.pem\"; key = \"rsa.key\"; },\n"
             "            { cert = \"sni.pem\"; } );\n"
             "  alpn = [ \"h2\", \"http/1.1\" ];\n"
             "} );\n"
             "sessions = { store = \"%s\"; tickets = %s; };\n"
             "memcached = { servers = [ \"127.0.0.1:11211\" ]; secret_file = \"secret.hex\";\n"
             "              old_secret_files = [ \"old.hex\" ]; };\n"
             "admin = { listen = \"\"; };\n",
             store, tickets ? "true" : "false");
    return text;
}

struct fuzz_world *
fuzz_world_new(const char *name, const char *text)
{
    /* Worlds live until exit: kept here so that LeakSanitizer sees them. */
    static struct fuzz_world *worlds[16];
    static size_t nworlds;
    struct fuzz_world *fw = calloc(1, sizeof(*fw));
    struct err err = {""};

    fuzz_global_init();
    if (fw == NULL || nworlds == ARRAY_LEN(worlds)) {
        fuzz_die("out of memory, or too many worlds");
    }
    worlds[nworlds++] = fw;
    fw->cfg = fuzz_config(name, text);
    fw->tls = tlsctx_new(fw->cfg, &fw->cfg->frontends[0], NULL, &err);
    if (fw->tls == NULL) {
        fuzz_die(err.msg);
    }
    fw->sessions = sessions_new(fw->cfg, NULL, NULL);
    fw->ring = calloc(1, sizeof(*fw->ring));
    fw->stats = calloc(fw->cfg->nfrontends, sizeof(*fw->stats));
    if (fw->sessions == NULL || fw->ring == NULL || fw->stats == NULL) {
        fuzz_die("out of memory");
    }
    keyring_init(fw->ring, fw->cfg->tickets.rotate, fw->cfg->tickets.keep);
    fuzz_ring_fill(fw->ring, time(NULL));

    fw->env.loop = evloop_new();
    fw->env.stats = fw->stats;
    fw->env.sessions = fw->sessions;
    fw->env.ring = fw->ring;
    if (fw->env.loop == NULL) {
        fuzz_die("cannot make an event loop");
    }
    return fw;
}

SSL *
fuzz_server_new(struct fuzz_world *fw)
{
    SSL *ssl = tlsctx_new_ssl(fw->tls);
    struct handshake *hs = calloc(1, sizeof(*hs));
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());

    if (ssl == NULL || hs == NULL || rbio == NULL || wbio == NULL) {
        fuzz_die("cannot make a server SSL");
    }
    hs->magic = HANDSHAKE_MAGIC;
    hs->env = &fw->env;
    hs->slot = 0;
    hs->stats = &fw->stats[0];
    hs->on_resume = on_resume;
    if (handshake_attach(hs, ssl) < 0) {
        fuzz_die("cannot link the handshake");
    }
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_accept_state(ssl);
    return ssl;
}

void
fuzz_server_free(SSL *ssl)
{
    struct handshake *hs = handshake_of(ssl);

    SSL_free(ssl); /* and what the callbacks hung on it */
    hs->magic = 0;
    free(hs);
}

static void
drain(BIO *bio)
{
    char buf[4096];

    while (BIO_read(bio, buf, sizeof(buf)) > 0) {
    }
}

int
fuzz_server_feed(SSL *ssl, const unsigned char *data, size_t len)
{
    BIO *rbio = SSL_get_rbio(ssl);
    int r = 0;

    if (len > 0 && BIO_write(rbio, data, (int)len) != (int)len) {
        fuzz_die("cannot fill a memory BIO");
    }
    /* A step consumes at least one record or stops; 16 steps bound it. */
    for (int i = 0; i < 16; i++) {
        size_t before = BIO_ctrl_pending(rbio);

        ERR_clear_error();
        r = SSL_do_handshake(ssl);
        drain(SSL_get_wbio(ssl));
        if (r == 1) {
            break;
        }
        int e = SSL_get_error(ssl, r);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
            BIO_ctrl_pending(rbio) == before) {
            break;
        }
    }
    ERR_clear_error();
    return r;
}

/* ---- clients (seeds) ---- */

SSL_CTX *
fuzz_client_ctx(int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, max_version) != 1) {
        fuzz_die("cannot make a client context");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

SSL *
fuzz_client_new(SSL_CTX *ctx)
{
    SSL *ssl = SSL_new(ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());

    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        fuzz_die("cannot make a client SSL");
    }
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);
    return ssl;
}

/* Move what `from` wrote to `to`'s input; returns the bytes moved. */
static size_t
move(SSL *from, SSL *to, unsigned char *sent, size_t cap, size_t *sentlen)
{
    unsigned char buf[4096];
    size_t moved = 0;
    int n;

    while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof(buf))) > 0) {
        if (BIO_write(SSL_get_rbio(to), buf, n) != n) {
            fuzz_die("cannot fill a memory BIO");
        }
        if (sent != NULL && *sentlen + (size_t)n <= cap) {
            memcpy(sent + *sentlen, buf, (size_t)n);
            *sentlen += (size_t)n;
        }
        moved += (size_t)n;
    }
    return moved;
}

bool
fuzz_handshake(SSL *client, SSL *server, unsigned char *sent, size_t cap, size_t *sentlen)
{
    unsigned char byte;
    bool cdone = false, sdone = false;

    for (int i = 0; i < 32 && !(cdone && sdone); i++) {
        if (!cdone) {
            cdone = SSL_do_handshake(client) == 1;
        }
        size_t c2s = move(client, server, sent, cap, sentlen);
        if (!sdone) {
            sdone = SSL_do_handshake(server) == 1;
        }
        size_t s2c = move(server, client, NULL, 0, NULL);
        if (c2s == 0 && s2c == 0 && !(cdone && sdone) && i > 2) {
            break;
        }
    }
    /* TLS 1.3 tickets come after the handshake: let the client read them. */
    move(server, client, NULL, 0, NULL);
    (void)SSL_read(client, &byte, 1);
    move(client, server, sent, cap, sentlen);
    ERR_clear_error();
    return cdone && sdone;
}

/* ---- seeds ---- */

const char *
fuzz_seed_dir(void)
{
    const char *dir = getenv("TESSERA_FUZZ_WRITE_SEEDS");

    return dir != NULL && dir[0] != '\0' ? dir : NULL;
}

void
fuzz_seeds_or_go_on(void (*write_seeds)(void))
{
    if (fuzz_seed_dir() == NULL) {
        return;
    }
    if (write_seeds != NULL) {
        write_seeds();
    }
    exit(0);
}

void
fuzz_seed(const char *name, const void *a, size_t alen, const void *b, size_t blen)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", fuzz_seed_dir(), name);
    f = fopen(path, "w");
    if (f == NULL || (alen > 0 && fwrite(a, 1, alen, f) != alen) ||
        (blen > 0 && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
        fuzz_die("cannot write a seed");
    }
    printf("seed %s (%zu bytes)\n", path, alen + blen);
}
