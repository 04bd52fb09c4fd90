/* fuzz_cred.c - libFuzzer target for the credential string parser (cl_cred_parse: tokens, node
 * credentials, the JWT shape the client checks) and the id check: no crash or leak, a failure
 * changes nothing and says why, and what is accepted is canonical (a token formats back to
 * the very string parsed, so one secret has one spelling; a JWT is three base64url parts). */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/cred.h"

static void check_jwt(const cl_cred_t *c)
{
    size_t dots = 0, n = strlen(c->jwt);
    if (!n || n > CL_JWT_MAX || c->jwt[0] != 'e') abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)c->jwt[i];
        if (ch == '.')
            dots++;
        else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            abort();
    }
    if (dots != 2) abort();
}

/* A parsed token or node credential formats back to the trimmed input, and that parses to
 * the same credential. */
static void check_keypair(const cl_cred_t *c, const char *in)
{
    if (!cl_cred_id_valid(c->id)) abort();
    char s[CL_CRED_STR_MAX + 1];
    if (cl_cred_format(c, s, sizeof s) < 0) abort();
    while (isspace((unsigned char)*in))
        in++;
    size_t n = strlen(in);
    while (n && isspace((unsigned char)in[n - 1]))
        n--;
    if (strlen(s) != n || memcmp(s, in, n)) abort();
    cl_cred_t again;
    cl_error_t err;
    if (cl_cred_parse(s, &again, &err) < 0) abort();
    if (again.kind != c->kind || strcmp(again.id, c->id) ||
        memcmp(again.seed, c->seed, sizeof c->seed) ||
        memcmp(again.identity, c->identity, sizeof c->identity))
        abort();
    char small[40];
    if (cl_cred_format(c, small, sizeof small) == 0) abort(); /* a short buffer: -1 */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        if (sodium_init() < 0) abort();
        ready = true;
    }
    if (size > CL_JWT_MAX + 64) return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    cl_cred_t c, before;
    memset(&c, 0x5a, sizeof c);
    before = c;
    cl_error_t err = {0};
    int rc = cl_cred_parse(s, &c, &err);
    if (rc < 0) {
        if (memcmp(&c, &before, sizeof c)) abort(); /* no side effect on failure */
        if (!err.msg[0] || !memchr(err.msg, 0, sizeof err.msg)) abort();
    } else if (rc == 0) {
        if (c.kind == CL_CRED_JWT)
            check_jwt(&c);
        else if (c.kind == CL_CRED_TOKEN || c.kind == CL_CRED_NODE)
            check_keypair(&c, s);
        else
            abort(); /* a string is never the cluster key */
        char what[64];
        cl_cred_describe(&c, what, sizeof what);
    } else {
        abort();
    }
    (void)cl_cred_id_valid(s);
    cl_cred_clear(&c);
    free(s);
    return 0;
}
