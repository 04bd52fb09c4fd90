/* test_cred.c - credential strings and files (proto/cred.h): a token and a node credential
 * format and parse back, white space around them is ignored, every malformed part is refused
 * with a sentence that never holds the secret, bytes libsodium would take for base64url are
 * not, a JWT is recognised by its shape, and files hold any of the four kinds; the controller
 * identity a JWT is pinned to (identity.pub). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/cred.h"
#include "util/util.h"

static void make(cl_cred_t *c, cl_cred_kind_t kind, char s[CL_CRED_STR_MAX + 1])
{
    uint8_t pk[CL_SIGN_PK_BYTES];
    cl_cred_new(c, kind, pk);
    cl_cred_make_id(kind == CL_CRED_TOKEN ? "tk-" : "nd-", c->id);
    randombytes_buf(c->identity, sizeof c->identity);
    assert_int_equal(cl_cred_format(c, s, CL_CRED_STR_MAX + 1), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    cl_cred_t c, p;
    char s[CL_CRED_STR_MAX + 1], padded[CL_CRED_STR_MAX + 8];
    cl_error_t err;
    for (int kind = CL_CRED_TOKEN; kind <= CL_CRED_NODE; kind++) {
        make(&c, kind, s);
        assert_memory_equal(
            s, kind == CL_CRED_TOKEN ? "colossus-token-v1.tk-" : "colossus-node-v1.nd-",
            kind == CL_CRED_TOKEN ? 21 : 20);
        snprintf(padded, sizeof padded, " \t%s\n", s);
        assert_int_equal(cl_cred_parse(padded, &p, &err), 0);
        assert_int_equal(p.kind, kind);
        assert_string_equal(p.id, c.id);
        assert_memory_equal(p.seed, c.seed, sizeof c.seed);
        assert_memory_equal(p.identity, c.identity, sizeof c.identity);
        uint8_t a[32], b[32];
        cl_cred_public(&c, a);
        cl_cred_public(&p, b);
        assert_memory_equal(a, b, 32);
        char small[40];
        assert_int_equal(cl_cred_format(&c, small, sizeof small), -1);
    }
    cl_cred_from_key(&c, (const uint8_t[CL_KEY_BYTES]){1});
    assert_int_equal(cl_cred_format(&c, s, sizeof s), -1); /* not a string credential */
    char what[64];
    assert_string_equal(cl_cred_describe(&c, what, sizeof what), "cluster key");
}

/* s is refused with a sentence holding want, and *c is untouched. */
static void refused(const char *s, const char *want, const char *secret)
{
    cl_cred_t c;
    memset(&c, 0x5a, sizeof c);
    cl_error_t err;
    assert_int_equal(cl_cred_parse(s, &c, &err), -1);
    if (!strstr(err.msg, want)) fail_msg("'%s' does not say '%s'", err.msg, want);
    if (secret && strstr(err.msg, secret)) fail_msg("'%s' repeats the secret", err.msg);
    for (size_t i = 0; i < sizeof c; i++)
        assert_int_equal(((uint8_t *)&c)[i], 0x5a);
}

static void test_malformed(void **state)
{
    (void)state;
    cl_cred_t c;
    char s[CL_CRED_STR_MAX + 1], bad[CL_CRED_STR_MAX + 64];
    make(&c, CL_CRED_TOKEN, s);
    char *id = s + strlen("colossus-token-v1."), *seed = strchr(id, '.') + 1;
    char *ident = strchr(seed, '.') + 1;
    char secret[64];
    snprintf(secret, sizeof secret, "%.*s", (int)(ident - seed - 1), seed);
    refused("", "not a colossus token", NULL);
    refused("colossus-token-v2.x.y.z", "not a colossus token", NULL);
    refused("colossus-token-v1.tk-0123456789abcdef.AAAA", "expected 4 parts", NULL);
    snprintf(bad, sizeof bad, "%s.extra", s);
    refused(bad, "expected 4 parts", secret);
    snprintf(bad, sizeof bad, "colossus-token-v1.TK-0123456789abcdef.%s", seed);
    refused(bad, "bad id", secret);
    snprintf(bad, sizeof bad, "colossus-token-v1.tk-0123456789ABCDEF.%s", seed);
    refused(bad, "bad id", secret);
    snprintf(bad, sizeof bad, "colossus-token-v1.tk-0123456789abcdef0123456789abcdef.%s", seed);
    refused(bad, "id is too long", secret);
    /* the secret one character short, one too many, with padding, with a byte above 0x7f */
    snprintf(bad, sizeof bad, "colossus-token-v1.%.19s.%.42s.%s", id, seed, ident);
    refused(bad, "its secret is not 32 bytes", secret);
    snprintf(bad, sizeof bad, "colossus-token-v1.%.19s.%.43sA.%s", id, seed, ident);
    refused(bad, "its secret is not 32 bytes", secret);
    snprintf(bad, sizeof bad, "colossus-token-v1.%.19s.%.43s=.%s", id, seed, ident);
    refused(bad, "its secret is not 32 bytes", secret);
    snprintf(bad, sizeof bad, "colossus-token-v1.%.19s.\xbb\xbe%.41s.%s", id, seed + 2, ident);
    refused(bad, "its secret is not 32 bytes", NULL); /* libsodium 1.0.18 reads it as "__" */
    snprintf(bad, sizeof bad, "colossus-token-v1.%.19s.%.43s.%.42s", id, seed, ident);
    refused(bad, "the controller identity is not 32 bytes", secret);
    snprintf(bad, sizeof bad, "colossus-token-v1.%.19s.%.43s.%s\x80", id, seed, ident);
    refused(bad, "the controller identity is not 32 bytes", secret);
    char *big = malloc(CL_JWT_MAX + 2);
    memset(big, 'e', CL_JWT_MAX + 1);
    big[CL_JWT_MAX + 1] = 0;
    refused(big, "credential too long", NULL);
    free(big);
}

static void test_jwt_shape(void **state)
{
    (void)state;
    cl_cred_t c;
    cl_error_t err;
    const char *jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln-_";
    assert_int_equal(cl_cred_parse(jwt, &c, &err), 0);
    assert_int_equal(c.kind, CL_CRED_JWT);
    assert_string_equal(c.jwt, jwt);
    assert_true(sodium_is_zero(c.identity, sizeof c.identity)); /* not pinned */
    char what[64];
    assert_string_equal(cl_cred_describe(&c, what, sizeof what), "JWT");
    refused("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9", "not a colossus token", NULL);
    refused("eyJ.eyJ.a.b", "not a colossus token", NULL);
    refused("eyJ.eyJ.a b", "not a colossus token", NULL);
    refused("eyJ.eyJ.a=", "not a colossus token", NULL);
    refused("eyJ.eyJ.\xc3\xa9", "not a colossus token", NULL);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/cl-cred-test.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cred", dir);
    cl_cred_t c, p;
    cl_error_t err;
    char s[CL_CRED_STR_MAX + 2];
    make(&c, CL_CRED_NODE, s);
    strcat(s, "\n");
    write_file(path, s);
    assert_int_equal(cl_cred_load(path, &p, &err), 0);
    assert_int_equal(p.kind, CL_CRED_NODE);
    assert_string_equal(p.id, c.id);
    write_file(path, "colossus-key-v1 "
                     "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    assert_int_equal(cl_cred_load(path, &p, &err), 0);
    assert_int_equal(p.kind, CL_CRED_KEY);
    assert_int_equal(p.key[1], 0x11);
    write_file(path, "eyJ.eyJ.sig\n");
    assert_int_equal(cl_cred_load(path, &p, &err), 0);
    assert_int_equal(p.kind, CL_CRED_JWT);
    assert_string_equal(p.jwt, "eyJ.eyJ.sig");
    write_file(path, "hello\n");
    assert_int_equal(cl_cred_load(path, &p, &err), -1);
    assert_non_null(strstr(err.msg, path));
    /* the longest JWT, with the newline a file ends with */
    char *big = malloc(CL_JWT_MAX + 2);
    memset(big, 'a', CL_JWT_MAX);
    memcpy(big, "eyJ.eyJ.", 8);
    big[CL_JWT_MAX] = '\n';
    big[CL_JWT_MAX + 1] = 0;
    write_file(path, big);
    if (cl_cred_load(path, &p, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(strlen(p.jwt), CL_JWT_MAX);
    big[CL_JWT_MAX] = 'a';
    write_file(path, big);
    assert_int_equal(cl_cred_load(path, &p, &err), -1);
    free(big);
    unlink(path);
    assert_int_equal(cl_cred_load(path, &p, &err), -1);
    assert_non_null(strstr(err.msg, "cannot read credential file"));
    rmdir(dir);
}

/* The identity.pub a controller writes (mode 0644) loads back; the pin is also taken as bare
 * hex; a secret identity line, a short or all-zero key are refused, the secret not repeated. */
static void test_identity_pub(void **state)
{
    (void)state;
    char dir[] = "/tmp/cl-cred-test.XXXXXX", path[64], line[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/identity.pub", dir);
    uint8_t pk[32], got[32], sk[64];
    cl_error_t err;
    crypto_sign_keypair(pk, sk);
    umask(077);
    assert_int_equal(cl_identity_pub_write(path, pk, &err), 0);
    umask(022);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(cl_identity_pub_load(path, got, &err), 0);
    assert_memory_equal(got, pk, 32);
    char *text = cl_read_file(path, &(size_t){0}, &err);
    assert_int_equal(strncmp(text, "colossus-identity-pub-v1 ", 25), 0);
    memset(got, 0, sizeof got);
    assert_int_equal(cl_identity_pub_parse(text + 25, got, &err), 0); /* bare hex, newline */
    assert_memory_equal(got, pk, 32);
    free(text);
    const char *secret = "colossus-identity-v1 "
                         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    assert_int_equal(cl_identity_pub_parse(secret, got, &err), -1);
    assert_non_null(strstr(err.msg, "secret identity key"));
    assert_null(strstr(err.msg, "00112233"));
    write_file(path, secret);
    assert_int_equal(cl_identity_pub_load(path, got, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_null(strstr(err.msg, "00112233"));
    snprintf(line, sizeof line, "colossus-identity-pub-v1 %064d", 0);
    assert_int_equal(cl_identity_pub_parse(line, got, &err), -1);
    assert_int_equal(cl_identity_pub_parse("abcd", got, &err), -1);
    assert_non_null(strstr(err.msg, "not a controller identity"));
    unlink(path);
    assert_int_equal(cl_identity_pub_load(path, got, &err), -1);
    assert_non_null(strstr(err.msg, "cannot read the controller identity"));
    rmdir(dir);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_jwt_shape),    cmocka_unit_test(test_load),
        cmocka_unit_test(test_identity_pub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
