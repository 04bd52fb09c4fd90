/* ctl_auth.c - credentials: user tokens and node credentials (Ed25519 public keys; the
 * secrets never reach the controller), the handshake's check of a token, node credential or
 * JWT (libjwt), and the token create, tokens and token revoke operations (ctl_acct.h,
 * docs/security.md). */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <sodium.h>

#include "controller/ctl_acct.h"
#include "proto/cred.h"
#include "util/hostlist.h"

const char *ctl_scope_name(ctl_scope_t s)
{
    return s == CTL_SCOPE_READ ? "read" : s == CTL_SCOPE_ADMIN ? "admin" : "submit";
}

static int scope_parse(const char *s, ctl_scope_t *out)
{
    if (!*s || !strcmp(s, "submit"))
        *out = CTL_SCOPE_SUBMIT;
    else if (!strcmp(s, "read"))
        *out = CTL_SCOPE_READ;
    else if (!strcmp(s, "admin"))
        *out = CTL_SCOPE_ADMIN;
    else
        return -1;
    return 0;
}

void ctl_set_identity(ctl_t *c, const uint8_t pk[CL_SIGN_PK_BYTES])
{
    memcpy(c->identity, pk, sizeof c->identity);
}

ctl_cred_t *ctl_cred_find(ctl_t *c, const char *id)
{
    ctl_cred_t *cr = NULL;
    HASH_FIND_STR(c->acct->creds, id, cr);
    return cr;
}

const char *ctl_cred_unusable(ctl_t *c, const ctl_cred_t *cr)
{
    if (cr->revoked) return "was revoked";
    if (cr->expires && ctl_now(c) >= cr->expires) return "has expired";
    return NULL;
}

static void cred_free(ctl_cred_t *cr)
{
    free(cr->user);
    free(cr->nodes);
    free(cr);
}

void ctl_creds_free(ctl_t *c)
{
    ctl_cred_t *cr, *t;
    HASH_ITER(hh, c->acct->creds, cr, t)
    {
        HASH_DEL(c->acct->creds, cr);
        cred_free(cr);
    }
}

static void cred_to_info(const ctl_cred_t *cr, Colossus__TokenInfo *o, bool with_key)
{
    colossus__token_info__init(o);
    o->id = (char *)cr->id;
    o->user = cr->user ? cr->user : "";
    o->scope = cr->nodes ? "node" : (char *)ctl_scope_name(cr->scope);
    o->nodes = cr->nodes ? cr->nodes : "";
    o->created = cr->created;
    o->expires = cr->expires;
    o->revoked = cr->revoked;
    if (with_key) {
        o->public_key.data = (uint8_t *)cr->pk;
        o->public_key.len = sizeof cr->pk;
    }
}

static void cred_journal(ctl_t *c, const ctl_cred_t *cr)
{
    Colossus__TokenInfo o;
    cred_to_info(cr, &o, true);
    ctl_journal_obj(c, "token", cr->id, &o.base);
}

int ctl_creds_load(ctl_t *c, const char *key, const void *val, size_t len, cl_error_t *err)
{
    Colossus__TokenInfo *o = colossus__token_info__unpack(NULL, len, val);
    if (!o || o->public_key.len != CL_SIGN_PK_BYTES || !cl_cred_id_valid(o->id)) {
        if (o) colossus__token_info__free_unpacked(o, NULL);
        return cl_err(err, "journal: credential '%.32s' does not decode", key);
    }
    ctl_cred_t *cr = ctl_cred_find(c, o->id);
    if (!cr) {
        cr = cl_xcalloc(1, sizeof *cr);
        snprintf(cr->id, sizeof cr->id, "%s", o->id);
        HASH_ADD_STR(c->acct->creds, id, cr);
    }
    memcpy(cr->pk, o->public_key.data, sizeof cr->pk);
    free(cr->user);
    free(cr->nodes);
    bool node = !strcmp(o->scope, "node");
    cr->user = node ? NULL : cl_xstrdup(o->user);
    cr->nodes = node ? cl_xstrdup(o->nodes) : NULL;
    if (!node && scope_parse(o->scope, &cr->scope) < 0) cr->scope = CTL_SCOPE_READ;
    cr->created = o->created;
    cr->expires = o->expires;
    cr->revoked = o->revoked;
    colossus__token_info__free_unpacked(o, NULL);
    return 0;
}

/* ---- the handshake ---- */

static int auth_keypair(ctl_t *c, const ctl_auth_req_t *a, ctl_principal_t *who,
                        cl_error_t *why)
{
    bool node = a->kind == COLOSSUS__CREDENTIAL__KIND__NODE;
    const char *what = node ? "node credential" : "token";
    if (!a->id || !cl_cred_id_valid(a->id)) return cl_err(why, "malformed %s id", what);
    ctl_cred_t *cr = ctl_cred_find(c, a->id);
    if (!cr || (cr->nodes != NULL) != node)
        return cl_err(why, "unknown %s %s (made by another controller?)", what, a->id);
    if (a->siglen != CL_SIG_BYTES ||
        crypto_sign_verify_detached(a->sig, a->transcript, 32, cr->pk) != 0)
        return cl_err(why, "%s %s: the signature does not match (a forged or damaged %s)", what,
                      a->id, what);
    const char *bad = ctl_cred_unusable(c, cr);
    if (bad) return cl_err(why, "%s %s %s", what, a->id, bad);
    if (node) {
        if (!a->agent) return cl_err(why, "node credential %s is only for agents", a->id);
        who->kind = CTL_PRINCIPAL_NODE;
        snprintf(who->name, sizeof who->name, "node credential %s@%.64s", a->id, a->peer);
    } else {
        if (a->agent)
            return cl_err(why,
                          "token %s is a user's: agents register with a node credential "
                          "('colossus node-token create')",
                          a->id);
        ctl_user_t *u = ctl_user_find(c, cr->user);
        if (!u)
            return cl_err(why, "token %s: its user %.64s no longer exists", a->id, cr->user);
        if (u->disabled) return cl_err(why, "token %s: user %s is disabled", a->id, u->name);
        who->kind = CTL_PRINCIPAL_USER;
        snprintf(who->user, sizeof who->user, "%s", u->name);
        who->scope = cr->scope;
        snprintf(who->name, sizeof who->name, "user %s (token %s)@%.64s", u->name, a->id,
                 a->peer);
    }
    snprintf(who->cred, sizeof who->cred, "%s", a->id);
    who->expires = cr->expires;
    return 0;
}

/* ---- JWTs ----
 * libjwt is loaded only by a controller that takes JWTs (dlopen, at its start): linked into
 * the binary it would bring OpenSSL's libcrypto into every command, ~1 ms more to start each
 * CLI process (docs/benchmarks.md, issue 11). The types and signatures are jwt.h's. */
#define JWT_LIB "libjwt.so.0" /* Debian's libjwt0 (libjwt-dev depends on it) */
static struct {
    void *so;
    __typeof__(jwt_decode) *decode;
    __typeof__(jwt_free) *free;
    __typeof__(jwt_get_alg) *get_alg;
    __typeof__(jwt_alg_str) *alg_str;
    __typeof__(jwt_str_alg) *str_alg;
    __typeof__(jwt_get_grant) *get_grant;
    __typeof__(jwt_get_grant_int) *get_grant_int;
    __typeof__(jwt_get_grants_json) *get_grants_json;
} jl;

int ctl_jwt_load(cl_error_t *err)
{
    if (jl.so) return 0;
    void *so = dlopen(JWT_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!so) return cl_err(err, "JWTs need %s (Debian: libjwt0): %.200s", JWT_LIB, dlerror());
#define SYM(f, name)                                                                           \
    if (!(jl.f = (__typeof__(jl.f))dlsym(so, name))) {                                         \
        dlclose(so);                                                                           \
        return cl_err(err, "%s has no %s (another version?)", JWT_LIB, name);                  \
    }
    SYM(decode, "jwt_decode")
    SYM(free, "jwt_free")
    SYM(get_alg, "jwt_get_alg")
    SYM(alg_str, "jwt_alg_str")
    SYM(str_alg, "jwt_str_alg")
    SYM(get_grant, "jwt_get_grant")
    SYM(get_grant_int, "jwt_get_grant_int")
    SYM(get_grants_json, "jwt_get_grants_json")
#undef SYM
    jl.so = so;
    return 0;
}

/* Whether the JWT's "aud" (a string or an array of them) holds want. */
static bool aud_has(jwt_t *jwt, const char *want)
{
    const char *s = jl.get_grant(jwt, "aud");
    if (s) return !strcmp(s, want);
    char *js = jl.get_grants_json(jwt, "aud");
    bool found = false;
    json_t *v = js ? json_loads(js, 0, NULL) : NULL;
    size_t i;
    json_t *e;
    if (json_is_array(v))
        json_array_foreach(v, i, e) found |=
            json_is_string(e) && !strcmp(json_string_value(e), want);
    json_decref(v);
    free(js);
    return found;
}

/* The algorithm a configured key allows: a PEM key an RSA one, a shared secret HS256 (never
 * both: an HMAC "signed" with the public key's text must not pass). */
static jwt_alg_t key_alg(const ctl_config_t *cfg)
{
    bool pem = cfg->jwt_key_len > 10 && !memcmp(cfg->jwt_key, "-----BEGIN", 10);
    if (cfg->jwt_alg[0]) return jl.str_alg(cfg->jwt_alg);
    return pem ? JWT_ALG_RS256 : JWT_ALG_HS256;
}

/* Whether the space-separated list of scopes (RFC 6749, 3.3) holds want as a whole word: a
 * substring match took "colossus:administrator" for "colossus:admin". */
static bool has_scope(const char *list, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = list; p && *p;) {
        size_t w = strcspn(p, " ");
        if (w == n && !memcmp(p, want, n)) return true;
        p += w + strspn(p + w, " ");
    }
    return false;
}

/* A claim's text for a refusal, its control characters as '?': the sentence goes back in
 * Refused.reason, which the CLI prints to a terminal as it is (the daemon log escapes them,
 * but hooks and the peer see the sentence raw). */
static const char *shown(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < len; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = 0;
    return buf;
}

static int jwt_claims(ctl_t *c, jwt_t *jwt, ctl_principal_t *who, cl_error_t *why)
{
    char b[65];
    const ctl_config_t *cfg = &c->cfg;
    double now = ctl_now(c);
    const char *iss = jl.get_grant(jwt, "iss");
    if (cfg->jwt_issuer[0] && (!iss || strcmp(iss, cfg->jwt_issuer)))
        return cl_err(why, "JWT: issuer '%s' is not %.64s", shown(iss, b, sizeof b),
                      cfg->jwt_issuer);
    if (cfg->jwt_audience[0] && !aud_has(jwt, cfg->jwt_audience))
        return cl_err(why, "JWT: audience does not include %.64s", cfg->jwt_audience);
    long exp = jl.get_grant_int(jwt, "exp");
    if (exp <= 0) return cl_err(why, "JWT: no expiry (exp)");
    if ((double)exp <= now) return cl_err(why, "JWT: expired");
    long nbf = jl.get_grant_int(jwt, "nbf");
    if (nbf > 0 && (double)nbf > now + 60) return cl_err(why, "JWT: not valid yet (nbf)");
    const char *claim = cfg->jwt_claim[0] ? cfg->jwt_claim : "sub";
    const char *name = jl.get_grant(jwt, claim);
    if (!name || !*name) return cl_err(why, "JWT: no '%.32s' claim naming the user", claim);
    ctl_user_t *u = ctl_user_find(c, name);
    if (!u)
        return cl_err(why, "JWT: no user %s here (an admin adds it: user add)",
                      shown(name, b, sizeof b));
    if (u->disabled) return cl_err(why, "JWT: user %s is disabled", u->name);
    const char *scope = jl.get_grant(jwt, "scope");
    who->scope = CTL_SCOPE_SUBMIT;
    if (has_scope(scope, "colossus:admin"))
        who->scope = CTL_SCOPE_ADMIN;
    else if (has_scope(scope, "colossus:read") && !has_scope(scope, "colossus:submit"))
        who->scope = CTL_SCOPE_READ;
    who->kind = CTL_PRINCIPAL_USER;
    who->expires = (double)exp;
    snprintf(who->user, sizeof who->user, "%s", u->name);
    return 0;
}

static int auth_jwt(ctl_t *c, const ctl_auth_req_t *a, ctl_principal_t *who, cl_error_t *why)
{
    const ctl_config_t *cfg = &c->cfg;
    if (!cfg->jwt_key) return cl_err(why, "this controller takes no JWTs (no --jwt-key)");
    if (a->agent) return cl_err(why, "a JWT is a user's: agents need a node credential");
    if (ctl_jwt_load(why) < 0) return -1;
    if (!a->jwt || !*a->jwt) return cl_err(why, "empty JWT");
    jwt_t *jwt = NULL;
    if (jl.decode(&jwt, a->jwt, (const unsigned char *)cfg->jwt_key, (int)cfg->jwt_key_len) ||
        !jwt)
        return cl_err(why, "JWT: malformed, or its signature does not match the issuer's key");
    int rc = -1;
    if (jl.get_alg(jwt) != key_alg(cfg) || jl.get_alg(jwt) == JWT_ALG_NONE)
        cl_err(why, "JWT: algorithm %s is not the one configured (%s)",
               jl.alg_str(jl.get_alg(jwt)), jl.alg_str(key_alg(cfg)));
    else
        rc = jwt_claims(c, jwt, who, why);
    jl.free(jwt);
    if (rc == 0)
        snprintf(who->name, sizeof who->name, "user %s (JWT)@%.64s", who->user, a->peer);
    return rc;
}

int ctl_authenticate(ctl_t *c, const ctl_auth_req_t *a, ctl_principal_t *who, cl_error_t *why)
{
    ctl_principal_t p;
    memset(&p, 0, sizeof p);
    int rc;
    switch (a->kind) {
    case COLOSSUS__CREDENTIAL__KIND__TOKEN:
    case COLOSSUS__CREDENTIAL__KIND__NODE:
        rc = auth_keypair(c, a, &p, why);
        break;
    case COLOSSUS__CREDENTIAL__KIND__JWT:
        rc = auth_jwt(c, a, &p, why);
        break;
    default:
        rc = cl_err(why, "unknown kind of credential");
    }
    if (rc < 0) {
        ctl_log(c, "refused %.64s: %s", a->peer, why->msg);
        return -1;
    }
    *who = p;
    return 0;
}

/* ---- bearer tokens (the REST API) ----
 * A token string holds its secret seed: the transport proves it as a handshake would, by
 * signing a fresh random transcript, so that a bearer token goes through the very checks of
 * auth_keypair (known, not forged, revoked or expired, its user there and enabled). */
int ctl_authenticate_bearer(ctl_t *c, const char *token, const char *peer, ctl_principal_t *who,
                            cl_error_t *why)
{
    cl_cred_t cr;
    cl_error_t e;
    static const uint8_t unset[CL_SIGN_PK_BYTES];
    uint8_t pk[CL_SIGN_PK_BYTES], sk[64], transcript[32], sig[CL_SIG_BYTES];
    ctl_auth_req_t a = {.peer = peer};
    int rc = 0;
    memset(&cr, 0, sizeof cr);
    if (cl_cred_parse(token, &cr, &e) < 0) {
        rc = cl_err(why, "the bearer token is malformed: %s", e.msg);
    } else if (cr.kind == CL_CRED_NODE) {
        rc = cl_err(why, "a node credential is only for agents: it makes no requests");
    } else if (cr.kind == CL_CRED_JWT) {
        a.kind = COLOSSUS__CREDENTIAL__KIND__JWT;
        a.jwt = cr.jwt;
    } else if (memcmp(c->identity, unset, sizeof unset) &&
               sodium_memcmp(cr.identity, c->identity, sizeof c->identity)) {
        rc =
            cl_err(why, "token %s is for another controller (its identity key differs)", cr.id);
    } else {
        crypto_sign_seed_keypair(pk, sk, cr.seed);
        randombytes_buf(transcript, sizeof transcript);
        crypto_sign_detached(sig, NULL, transcript, sizeof transcript, sk);
        sodium_memzero(sk, sizeof sk);
        a.kind = COLOSSUS__CREDENTIAL__KIND__TOKEN;
        a.id = cr.id;
        a.sig = sig;
        a.siglen = sizeof sig;
        a.transcript = transcript;
    }
    if (rc < 0)
        ctl_log(c, "refused %.64s: %s", peer, why->msg);
    else
        rc = ctl_authenticate(c, &a, who, why); /* which logs a refusal */
    cl_cred_clear(&cr);
    return rc;
}

int ctl_principal_check(ctl_t *c, const ctl_principal_t *who, cl_error_t *why)
{
    ctl_caller_t k;
    return ctl_caller_resolve(c, who, &k, why);
}

/* ---- operations ---- */

static void reply_refused(ctl_t *c, const ctl_caller_t *k, ctl_sink_t *reply, uint64_t req,
                          const char *op, const char *target, const char *why)
{
    ctl_audit(c, k, op, target, false, why);
    ctl_reply_error(c, reply, req, "%s refused: %s", op, why);
}

/* Who the new credential is for and what it may do: -1 with why. */
static int token_check(ctl_t *c, const ctl_caller_t *k, const Colossus__TokenReq *t,
                       const char **user, ctl_scope_t *scope, cl_error_t *why)
{
    if (t->public_key.len != CL_SIGN_PK_BYTES)
        return cl_err(why, "no public key in the request (a client of another version?)");
    if (!(t->expires_in_s >= 0) || t->expires_in_s > 100 * 365 * 86400.0)
        return cl_err(why, "expiry must be 0 (never) to 100 years");
    if (t->node) {
        if (!k->oper) return cl_err(why, "only an admin or operator may make node credentials");
        if (t->nodes[0] && cl_hostlist_check(t->nodes, why) < 0) return -1; /* "": any */
        return 0;
    }
    *user = t->user[0] ? t->user : k->user ? k->user->name : NULL;
    if (!*user) return cl_err(why, "the cluster key is no user: name one (--user)");
    if (!ctl_user_find(c, *user)) return cl_err(why, "no user %.64s", *user);
    if (k->user && strcmp(*user, k->user->name) && !k->admin)
        return cl_err(why, "only an admin may make tokens for another user");
    if (scope_parse(t->scope, scope) < 0)
        return cl_err(why, "scope '%.32s' (read, submit or admin)", t->scope);
    if (*scope > k->scope)
        return cl_err(why, "a %s-scoped credential cannot make a %s-scoped token",
                      ctl_scope_name(k->scope), ctl_scope_name(*scope));
    /* A credential that expires makes none that outlives it: a stolen short-lived JWT or
     * token must not become a lasting one. */
    double left = k->p->expires - ctl_now(c);
    if (k->p->expires > 0 && (t->expires_in_s == 0 || t->expires_in_s > left))
        return cl_err(why,
                      "this credential expires in %.0f s: the token it makes must expire "
                      "before it (--expires at most %.0fs)",
                      left, left > 0 ? left : 0);
    return 0;
}

void ctl_op_token_create(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                         ctl_sink_t *reply)
{
    const Colossus__TokenReq *t = r->token_create;
    const char *op = t->node ? "node-token create" : "token create";
    const char *user = NULL;
    ctl_scope_t scope = CTL_SCOPE_SUBMIT;
    cl_error_t why;
    if (token_check(c, k, t, &user, &scope, &why) < 0) {
        reply_refused(c, k, reply, r->req, op, t->node ? t->nodes : t->user, why.msg);
        return;
    }
    ctl_cred_t *cr = cl_xcalloc(1, sizeof *cr);
    do
        cl_cred_make_id(t->node ? "nd-" : "tk-", cr->id);
    while (ctl_cred_find(c, cr->id));
    memcpy(cr->pk, t->public_key.data, sizeof cr->pk);
    cr->user = t->node ? NULL : cl_xstrdup(user);
    cr->nodes = t->node ? cl_xstrdup(t->nodes) : NULL;
    cr->scope = scope;
    cr->created = ctl_now(c);
    cr->expires = t->expires_in_s > 0 ? cr->created + t->expires_in_s : 0;
    HASH_ADD_STR(c->acct->creds, id, cr);
    cred_journal(c, cr);
    char detail[200];
    snprintf(detail, sizeof detail, "%s %.120s, scope %s, expires %s",
             t->node ? "nodes" : "user", t->node ? cr->nodes : cr->user,
             t->node ? "node" : ctl_scope_name(scope),
             cr->expires ? "at the time given" : "never");
    ctl_audit(c, k, op, cr->id, true, detail);
    Colossus__TokenInfo info, *ip = &info;
    cred_to_info(cr, &info, false);
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = r->req;
    rs.ok = true;
    rs.tokens = &ip;
    rs.n_tokens = 1;
    rs.identity.data = c->identity;
    rs.identity.len = sizeof c->identity;
    ctl_reply(c, reply, &rs);
}

static bool own_cred(const ctl_caller_t *k, const ctl_cred_t *cr)
{
    return cr->user && k->user && !strcmp(cr->user, k->user->name);
}

static bool sees_cred(const ctl_caller_t *k, const ctl_cred_t *cr)
{
    return k->sees_all || own_cred(k, cr);
}

void ctl_op_tokens(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                   ctl_sink_t *reply)
{
    uint32_t n = HASH_COUNT(c->acct->creds);
    Colossus__TokenInfo **vp = ctl_items(n, sizeof **vp);
    size_t m = 0;
    for (ctl_cred_t *cr = c->acct->creds; cr; cr = cr->hh.next)
        if (sees_cred(k, cr)) cred_to_info(cr, vp[m++], false);
    ctl_reply_parts(c, reply, r->req, (void **)vp, m, CTL_PART_TOKENS);
    free(vp);
}

void ctl_op_token_revoke(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                         ctl_sink_t *reply)
{
    const char *id = r->token_revoke;
    ctl_cred_t *cr = ctl_cred_find(c, id);
    char why[160];
    if (!cr || !sees_cred(k, cr)) {
        snprintf(why, sizeof why, "no token %.32s%s", id, cr ? " of yours" : "");
        reply_refused(c, k, reply, r->req, "token revoke", id, why);
        return;
    }
    if (!own_cred(k, cr) && !(cr->nodes ? k->oper : k->admin)) {
        snprintf(why, sizeof why, "only %s may revoke %s",
                 cr->nodes ? "an operator" : "an admin", id);
        reply_refused(c, k, reply, r->req, "token revoke", id, why);
        return;
    }
    if (!cr->revoked) {
        cr->revoked = true;
        cred_journal(c, cr);
    }
    ctl_audit(c, k, "token revoke", id, true, cr->nodes ? "node credential" : cr->user);
    ctl_reply_ok(c, reply, r->req, NULL);
}
