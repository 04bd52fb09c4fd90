/* cred.c - credential strings and files: tokens, node credentials, JWTs, the cluster key
 * (cred.h). */
#include "proto/cred.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "util/util.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define TOKEN_PREFIX "colossus-token-v1."
#define NODE_PREFIX "colossus-node-v1."

void cl_cred_from_key(cl_cred_t *c, const uint8_t key[CL_KEY_BYTES])
{
    memset(c, 0, sizeof *c);
    c->kind = CL_CRED_KEY;
    memcpy(c->key, key, CL_KEY_BYTES);
}

bool cl_cred_id_valid(const char *s)
{
    if (strlen(s) != 19 || s[2] != '-') return false;
    for (int i = 3; i < 19; i++)
        if (!(s[i] >= '0' && s[i] <= '9') && !(s[i] >= 'a' && s[i] <= 'f')) return false;
    return s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z';
}

void cl_cred_make_id(const char *prefix, char out[CL_CRED_ID_MAX + 1])
{
    uint8_t r[8];
    char hex[17];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(out, CL_CRED_ID_MAX + 1, "%.3s%s", prefix, hex);
}

static bool b64url_char(unsigned char ch)
{
    /* ASCII only, whatever the locale says */
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* One base64url part of exactly n bytes ending at '.' or the end. Its characters are checked
 * here first: libsodium 1.0.18 decodes some bytes above 0x7f as '_' (fuzz_cred found it), so
 * one secret had many spellings. */
static int b64_part(const char *s, size_t slen, uint8_t *out, size_t n)
{
    size_t bin = 0;
    for (size_t i = 0; i < slen; i++)
        if (!b64url_char((unsigned char)s[i])) return -1;
    if (sodium_base642bin(out, n, s, slen, NULL, &bin, NULL, B64) < 0 || bin != n) return -1;
    return 0;
}

static int parse_keypair(const char *s, cl_cred_t *c, cl_error_t *err)
{
    const char *what = c->kind == CL_CRED_TOKEN ? "token" : "node credential";
    const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.')) {
        cl_err(err, "malformed %s: expected 4 parts separated by '.'", what);
        return -1;
    }
    size_t idlen = (size_t)(d1 - s);
    if (idlen > CL_CRED_ID_MAX) {
        cl_err(err, "malformed %s: its id is too long", what);
        return -1;
    }
    memcpy(c->id, s, idlen);
    c->id[idlen] = 0;
    if (!cl_cred_id_valid(c->id)) {
        cl_err(err, "malformed %s: bad id", what);
        return -1;
    }
    if (b64_part(d1 + 1, (size_t)(d2 - d1 - 1), c->seed, sizeof c->seed) < 0) {
        cl_err(err, "malformed %s %s: its secret is not 32 bytes of base64url", what, c->id);
        return -1;
    }
    if (b64_part(d2 + 1, strlen(d2 + 1), c->identity, sizeof c->identity) < 0) {
        cl_err(err, "malformed %s %s: the controller identity is not 32 bytes of base64url",
               what, c->id);
        return -1;
    }
    return 0;
}

static bool jwt_like(const char *s)
{
    int dots = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.')
            dots++;
        else if (!b64url_char((unsigned char)*p))
            return false;
    }
    return dots == 2 && s[0] == 'e'; /* base64url of '{' starts with "ey" */
}

int cl_cred_parse(const char *in, cl_cred_t *c, cl_error_t *err)
{
    cl_cred_t t;
    memset(&t, 0, sizeof t);
    while (isspace((unsigned char)*in))
        in++;
    size_t n = strlen(in);
    while (n && isspace((unsigned char)in[n - 1]))
        n--;
    if (n > CL_JWT_MAX) {
        cl_err(err, "credential too long (%zu bytes; at most %d)", n, CL_JWT_MAX);
        return -1;
    }
    char s[CL_JWT_MAX + 1];
    memcpy(s, in, n);
    s[n] = 0;
    int rc;
    if (!strncmp(s, TOKEN_PREFIX, strlen(TOKEN_PREFIX))) {
        t.kind = CL_CRED_TOKEN;
        rc = parse_keypair(s + strlen(TOKEN_PREFIX), &t, err);
    } else if (!strncmp(s, NODE_PREFIX, strlen(NODE_PREFIX))) {
        t.kind = CL_CRED_NODE;
        rc = parse_keypair(s + strlen(NODE_PREFIX), &t, err);
    } else if (jwt_like(s)) {
        t.kind = CL_CRED_JWT;
        memcpy(t.jwt, s, n + 1);
        rc = 0;
    } else {
        cl_err(err, "not a colossus token, node credential or JWT (a token starts with '%s')",
               TOKEN_PREFIX);
        rc = -1;
    }
    sodium_memzero(s, sizeof s);
    if (rc == 0) *c = t;
    sodium_memzero(&t, sizeof t);
    return rc;
}

int cl_cred_load(const char *path, cl_cred_t *c, cl_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cl_err(err, "cannot read credential file %s: %s", path, strerror(errno));
        return -1;
    }
    /* room for the longest JWT and the white space around it (cl_cred_parse judges the
     * length): with one byte to spare, a JWT of CL_JWT_MAX and its newline was too large */
    char buf[CL_JWT_MAX + 64];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n == sizeof buf - 1) {
        cl_err(err, "%s: %s", path, bad ? "read error" : "too large for a credential");
        return -1;
    }
    buf[n] = 0;
    int rc;
    cl_error_t e2;
    if (!strncmp(buf, "colossus-key-v1 ", 16)) {
        uint8_t key[CL_KEY_BYTES];
        rc = cl_key_load(path, key, err);
        if (rc == 0) cl_cred_from_key(c, key);
        sodium_memzero(key, sizeof key);
    } else if ((rc = cl_cred_parse(buf, c, &e2)) < 0) {
        cl_err(err, "%s: %s", path, e2.msg);
    }
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int cl_cred_format(const cl_cred_t *c, char *buf, size_t len)
{
    if (c->kind != CL_CRED_TOKEN && c->kind != CL_CRED_NODE) return -1;
    char seed[64], ident[64];
    sodium_bin2base64(seed, sizeof seed, c->seed, sizeof c->seed, B64);
    sodium_bin2base64(ident, sizeof ident, c->identity, sizeof c->identity, B64);
    int n = snprintf(buf, len, "%s%s.%s.%s",
                     c->kind == CL_CRED_TOKEN ? TOKEN_PREFIX : NODE_PREFIX, c->id, seed, ident);
    sodium_memzero(seed, sizeof seed);
    if (n < 0 || (size_t)n >= len) {
        sodium_memzero(buf, len);
        return -1;
    }
    return 0;
}

int cl_identity_load(const char *path, bool create, uint8_t pk[CL_SIGN_PK_BYTES],
                     uint8_t sk[64], cl_error_t *err)
{
    uint8_t seed[CL_SIGN_SEED_BYTES];
    char line[128];
    FILE *f = fopen(path, "r");
    if (!f && errno == ENOENT && create) {
        char hex[2 * CL_SIGN_SEED_BYTES + 1];
        randombytes_buf(seed, sizeof seed);
        sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
        snprintf(line, sizeof line, "colossus-identity-v1 %s\n", hex);
        sodium_memzero(hex, sizeof hex);
        int rc = cl_write_secret_file(path, line, err);
        sodium_memzero(line, sizeof line);
        if (rc < 0) {
            sodium_memzero(seed, sizeof seed);
            return -1;
        }
        crypto_sign_seed_keypair(pk, sk, seed);
        sodium_memzero(seed, sizeof seed);
        return 0;
    }
    if (!f) {
        cl_err(err, "cannot read identity file %s: %s", path, strerror(errno));
        return -1;
    }
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char hex[80];
    size_t bin = 0;
    int rc = 0;
    if (!ok || sscanf(line, "colossus-identity-v1 %79s", hex) != 1 ||
        strlen(hex) != 2 * CL_SIGN_SEED_BYTES ||
        sodium_hex2bin(seed, sizeof seed, hex, strlen(hex), NULL, &bin, NULL) < 0 ||
        bin != sizeof seed) {
        cl_err(err, "%s is not a colossus identity file ('colossus-identity-v1 <64 hex>')",
               path);
        rc = -1;
    } else {
        crypto_sign_seed_keypair(pk, sk, seed);
    }
    sodium_memzero(line, sizeof line);
    sodium_memzero(hex, sizeof hex);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

#define IDENTITY_PUB_PREFIX "colossus-identity-pub-v1 "

int cl_identity_pub_write(const char *path, const uint8_t pk[CL_SIGN_PK_BYTES], cl_error_t *err)
{
    char hex[2 * CL_SIGN_PK_BYTES + 1], line[128];
    sodium_bin2hex(hex, sizeof hex, pk, CL_SIGN_PK_BYTES);
    snprintf(line, sizeof line, "%s%s\n", IDENTITY_PUB_PREFIX, hex);
    if (cl_write_file_atomic(path, line, err) < 0) return -1;
    /* others must read it whatever the umask: it is what operators hand to JWT users */
    if (chmod(path, 0644) < 0)
        return cl_err(err, "cannot make %.200s readable: %s", path, strerror(errno));
    return 0;
}

int cl_identity_pub_parse(const char *s, uint8_t pk[CL_SIGN_PK_BYTES], cl_error_t *err)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!strncmp(s, "colossus-identity-v1 ", 21))
        return cl_err(err, "this is the controller's secret identity key (STATE-DIR/identity), "
                           "not its public one (STATE-DIR/identity.pub)");
    if (!strncmp(s, IDENTITY_PUB_PREFIX, strlen(IDENTITY_PUB_PREFIX)))
        s += strlen(IDENTITY_PUB_PREFIX);
    size_t n = strlen(s), bin = 0;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    uint8_t out[CL_SIGN_PK_BYTES];
    if (n != 2 * CL_SIGN_PK_BYTES ||
        sodium_hex2bin(out, sizeof out, s, n, NULL, &bin, NULL) < 0 || bin != sizeof out ||
        sodium_is_zero(out, sizeof out)) /* all zero: what cl_cred_t calls no pin */
        return cl_err(err,
                      "not a controller identity ('%s<64 hex digits>', or the 64 hex "
                      "digits alone)",
                      IDENTITY_PUB_PREFIX);
    memcpy(pk, out, sizeof out);
    return 0;
}

int cl_identity_pub_load(const char *path, uint8_t pk[CL_SIGN_PK_BYTES], cl_error_t *err)
{
    size_t len;
    cl_error_t e;
    char *text = cl_read_file(path, &len, &e);
    if (!text) return cl_err(err, "cannot read the controller identity %s", e.msg);
    if (strlen(text) != len) text[0] = 0; /* a NUL inside: not the line */
    int rc = cl_identity_pub_parse(text, pk, &e);
    sodium_memzero(text, len);
    free(text);
    if (rc < 0) cl_err(err, "%s: %s", path, e.msg);
    return rc;
}

void cl_cred_new(cl_cred_t *c, cl_cred_kind_t kind, uint8_t pk[CL_SIGN_PK_BYTES])
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    randombytes_buf(c->seed, sizeof c->seed);
    cl_cred_public(c, pk);
}

void cl_cred_public(const cl_cred_t *c, uint8_t pk[CL_SIGN_PK_BYTES])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, c->seed);
    sodium_memzero(sk, sizeof sk);
}

void cl_cred_clear(cl_cred_t *c)
{
    sodium_memzero(c, sizeof *c);
}

const char *cl_cred_describe(const cl_cred_t *c, char *buf, size_t len)
{
    switch (c->kind) {
    case CL_CRED_KEY:
        snprintf(buf, len, "cluster key");
        break;
    case CL_CRED_TOKEN:
        snprintf(buf, len, "token %s", c->id);
        break;
    case CL_CRED_NODE:
        snprintf(buf, len, "node credential %s", c->id);
        break;
    case CL_CRED_JWT:
        snprintf(buf, len, "JWT");
        break;
    }
    return buf;
}
