/* test_ctl_auth.c - the controller's check of credentials (ctl_authenticate) and what a
 * principal may do afterwards: tokens and node credentials made through ctl_request as the CLI
 * makes them (a key pair made here, only its public key sent), transcripts signed as client.c
 * signs them; expiry, revocation and disabled users, also for connections already open; roles
 * a credential may not take; node credentials bound to their host list; scopes; JWTs with
 * HS256 and RS256 keys (libjwt on both sides) and the attacks on them: expiry, issuer,
 * audience, another key, alg none, algorithm confusion, unknown users, a non-string claim. */
#include <jwt.h>
#include <sodium.h>

#include "ctl_test.h"
#include "proto/cred.h"
#include "proto/frame.h"

#define HS_SECRET "hs256-test-secret-4f1c9b2e7a"

/* ---- requests as a principal ---- */

/* Send r as who; the response (caller frees), never NULL. */
static Colossus__Msg *a_ask(t_ctl_t *t, const ctl_principal_t *who, Colossus__Request *r)
{
    t_sink_t *cli = t_sink(t, "cli");
    r->req = ++t->next_req;
    ctl_request(t->c, who, r, &cli->sink);
    t_turn(t);
    Colossus__Msg *m = t_response(cli, r->req);
    assert_non_null(m);
    t_close(t, cli);
    return m;
}

/* r as who: true when answered ok; the error into err (may be NULL). */
static bool a_ok(t_ctl_t *t, const ctl_principal_t *who, Colossus__Request *r, char *err,
                 size_t len)
{
    Colossus__Msg *m = a_ask(t, who, r);
    bool ok = m->response->ok;
    if (err) snprintf(err, len, "%s", m->response->error);
    colossus__msg__free_unpacked(m, NULL);
    return ok;
}

static void a_tenant(t_ctl_t *t, const char *name)
{
    Colossus__TenantSpec s = COLOSSUS__TENANT_SPEC__INIT;
    s.name = (char *)name;
    s.shares = 1;
    s.quota_gpus = s.borrow_limit = s.lend_limit = -1;
    s.create = true;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TENANT;
    r.tenant = &s;
    char err[256];
    if (!a_ok(t, &t_admin, &r, err, sizeof err)) fail_msg("tenant add %s: %s", name, err);
}

/* user add NAME --tenant A --uid --gid [--role ROLE], or user set NAME --disabled. */
static void a_user(t_ctl_t *t, const char *name, const char *role, bool create, bool disabled)
{
    Colossus__UserTenant ut = COLOSSUS__USER_TENANT__INIT, *utp = &ut;
    ut.tenant = "A";
    ut.role = "user";
    Colossus__UserInfo u = COLOSSUS__USER_INFO__INIT;
    u.name = (char *)name;
    u.role = (char *)role;
    u.uid = u.gid = 61000 + (uint32_t)strlen(name);
    u.disabled = disabled;
    char *add[] = {"uid", "gid"}, *set[] = {"disabled"};
    Colossus__UserSpec s = COLOSSUS__USER_SPEC__INIT;
    s.user = &u;
    s.create = create;
    if (create) {
        u.tenants = &utp;
        u.n_tenants = 1;
        s.set = add;
        s.n_set = 2;
    } else {
        s.set = set;
        s.n_set = 1;
    }
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_USER;
    r.user = &s;
    char err[256];
    if (!a_ok(t, &t_admin, &r, err, sizeof err)) fail_msg("user %s: %s", name, err);
}

/* A credential as `colossus token create` makes it: the secret stays here. */
typedef struct a_cred {
    char id[CL_CRED_ID_MAX + 1];
    uint8_t seed[CL_SIGN_SEED_BYTES];
} a_cred_t;

static a_cred_t a_token(t_ctl_t *t, const ctl_principal_t *by, const char *user,
                        const char *scope, double expires_in_s, const char *nodes)
{
    a_cred_t k;
    memset(&k, 0, sizeof k);
    uint8_t pk[CL_SIGN_PK_BYTES], sk[crypto_sign_SECRETKEYBYTES];
    randombytes_buf(k.seed, sizeof k.seed);
    crypto_sign_seed_keypair(pk, sk, k.seed);
    Colossus__TokenReq q = COLOSSUS__TOKEN_REQ__INIT;
    q.user = (char *)(user ? user : "");
    q.scope = (char *)(scope ? scope : "");
    q.expires_in_s = expires_in_s;
    q.node = nodes != NULL;
    q.nodes = (char *)(nodes ? nodes : "");
    q.public_key.data = pk;
    q.public_key.len = sizeof pk;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TOKEN_CREATE;
    r.token_create = &q;
    Colossus__Msg *m = a_ask(t, by, &r);
    if (!m->response->ok) fail_msg("token create: %s", m->response->error);
    assert_int_equal(m->response->n_tokens, 1);
    assert_int_equal(m->response->identity.len, 32);
    assert_int_equal(m->response->tokens[0]->public_key.len, 0); /* not echoed */
    snprintf(k.id, sizeof k.id, "%s", m->response->tokens[0]->id);
    assert_true(cl_cred_id_valid(k.id));
    assert_memory_equal(k.id, nodes ? "nd-" : "tk-", 3);
    colossus__msg__free_unpacked(m, NULL);
    return k;
}

static void a_revoke(t_ctl_t *t, const char *id)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TOKEN_REVOKE;
    r.token_revoke = (char *)id;
    char err[256];
    if (!a_ok(t, &t_admin, &r, err, sizeof err)) fail_msg("token revoke: %s", err);
}

/* ---- the handshake's check ---- */

/* A handshake's Auth for credential k (signed by seed: k's own, or another to forge) asking
 * for role agent or client, checked as ctl_conns.c checks it. */
static int a_auth_signed(t_ctl_t *t, int kind, const char *id, const uint8_t seed[32],
                         bool agent, ctl_principal_t *who, cl_error_t *why)
{
    uint8_t sn[CL_NONCE_BYTES], cn[CL_NONCE_BYTES], skx[CL_KX_BYTES], ssk[CL_KX_BYTES];
    uint8_t ckx[CL_KX_BYTES], csk[CL_KX_BYTES], ident[32], isk[64], tr[32];
    uint8_t pk[32], sk[crypto_sign_SECRETKEYBYTES], sig[CL_SIG_BYTES];
    randombytes_buf(sn, sizeof sn);
    randombytes_buf(cn, sizeof cn);
    crypto_kx_keypair(skx, ssk);
    crypto_kx_keypair(ckx, csk);
    crypto_sign_keypair(ident, isk);
    int role = agent ? COLOSSUS__ROLE__ROLE_AGENT : COLOSSUS__ROLE__ROLE_CLIENT;
    cl_auth_transcript(sn, cn, skx, ckx, ident, role, kind, id, tr);
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(sig, NULL, tr, sizeof tr, sk);
    ctl_auth_req_t q = {.kind = kind,
                        .id = id,
                        .sig = sig,
                        .siglen = sizeof sig,
                        .transcript = tr,
                        .agent = agent,
                        .peer = "10.9.9.9:4242"};
    memset(who, 0, sizeof *who);
    return ctl_authenticate(t->c, &q, who, why);
}

static int a_auth(t_ctl_t *t, const a_cred_t *k, bool node, bool agent, ctl_principal_t *who,
                  cl_error_t *why)
{
    return a_auth_signed(
        t, node ? COLOSSUS__CREDENTIAL__KIND__NODE : COLOSSUS__CREDENTIAL__KIND__TOKEN, k->id,
        k->seed, agent, who, why);
}

/* The credential is refused with a sentence holding want, that is also logged. */
static void a_refused(t_ctl_t *t, int rc, const cl_error_t *why, const char *want)
{
    assert_int_equal(rc, -1);
    if (!strstr(why->msg, want)) fail_msg("refusal '%s' does not say '%s'", why->msg, want);
    assert_true(t_logged(t, why->msg));
}

static void a_whoami_fails(t_ctl_t *t, const ctl_principal_t *who, const char *want)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_WHOAMI;
    r.whoami = true;
    char err[256];
    assert_false(a_ok(t, who, &r, err, sizeof err));
    if (!strstr(err, want)) fail_msg("error '%s' does not say '%s'", err, want);
}

static bool a_whoami(t_ctl_t *t, const ctl_principal_t *who)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_WHOAMI;
    r.whoami = true;
    return a_ok(t, who, &r, NULL, 0);
}

/* A controller with tenant A and users alice (no role) and root (admin). */
static t_ctl_t *a_setup(void)
{
    t_ctl_t *t = t_setup(4, 4);
    a_tenant(t, "A");
    a_user(t, "alice", "", true, false);
    a_user(t, "root", "admin", true, false);
    return t;
}

/* ---- tokens ---- */

static void test_token_good(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_cred_t k = a_token(t, &t_admin, "alice", "", 0, NULL);
    ctl_principal_t who;
    cl_error_t why;
    assert_int_equal(a_auth(t, &k, false, false, &who, &why), 0);
    assert_int_equal(who.kind, CTL_PRINCIPAL_USER);
    assert_string_equal(who.user, "alice");
    assert_string_equal(who.cred, k.id);
    assert_int_equal(who.scope, CTL_SCOPE_SUBMIT);
    assert_non_null(strstr(who.name, "alice"));
    assert_true(a_whoami(t, &who));
    a_cred_t r = a_token(t, &t_admin, "alice", "read", 0, NULL);
    assert_int_equal(a_auth(t, &r, false, false, &who, &why), 0);
    assert_int_equal(who.scope, CTL_SCOPE_READ);
    a_cred_t ad = a_token(t, &t_admin, "root", "admin", 0, NULL);
    assert_int_equal(a_auth(t, &ad, false, false, &who, &why), 0);
    assert_int_equal(who.scope, CTL_SCOPE_ADMIN);
    assert_string_equal(who.user, "root");
    /* a user makes its own token, no wider than the one it holds */
    ctl_principal_t alice;
    assert_int_equal(a_auth(t, &k, false, false, &alice, &why), 0);
    a_cred_t own = a_token(t, &alice, "", "read", 0, NULL);
    assert_int_equal(a_auth(t, &own, false, false, &who, &why), 0);
    assert_string_equal(who.user, "alice");
    t_teardown(t);
}

static void test_token_forged(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_cred_t k = a_token(t, &t_admin, "alice", "", 0, NULL);
    ctl_principal_t who;
    cl_error_t why;
    uint8_t other[32];
    randombytes_buf(other, sizeof other);
    int rc =
        a_auth_signed(t, COLOSSUS__CREDENTIAL__KIND__TOKEN, k.id, other, false, &who, &why);
    a_refused(t, rc, &why, "does not match");
    assert_non_null(strstr(why.msg, k.id));
    assert_int_equal(who.kind, 0); /* nothing filled in */
    /* an id nobody made, a malformed id, and a token presented as a node credential */
    a_cred_t unknown = k;
    memcpy(unknown.id + 3, "0123456789abcdef", 16);
    a_refused(t, a_auth(t, &unknown, false, false, &who, &why), &why, "unknown token");
    a_cred_t bad = k;
    snprintf(bad.id, sizeof bad.id, "tk-XYZ");
    a_refused(t, a_auth(t, &bad, false, false, &who, &why), &why, "malformed token id");
    a_refused(t, a_auth(t, &k, true, true, &who, &why), &why, "unknown node credential");
    /* a signature of another transcript (a relayed one) */
    uint8_t tr[32], sig[CL_SIG_BYTES], pk[32], sk[64];
    randombytes_buf(tr, sizeof tr);
    crypto_sign_seed_keypair(pk, sk, k.seed);
    crypto_sign_detached(sig, NULL, tr, sizeof tr, sk);
    uint8_t tr2[32];
    randombytes_buf(tr2, sizeof tr2);
    ctl_auth_req_t q = {.kind = COLOSSUS__CREDENTIAL__KIND__TOKEN,
                        .id = k.id,
                        .sig = sig,
                        .siglen = sizeof sig,
                        .transcript = tr2,
                        .peer = "p"};
    a_refused(t, ctl_authenticate(t->c, &q, &who, &why), &why, "does not match");
    q.siglen = 63; /* a short signature */
    q.transcript = tr;
    a_refused(t, ctl_authenticate(t->c, &q, &who, &why), &why, "does not match");
    t_teardown(t);
}

static void test_token_expired(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_cred_t k = a_token(t, &t_admin, "alice", "", 60, NULL);
    ctl_principal_t who;
    cl_error_t why;
    ctl_principal_t open;
    assert_int_equal(a_auth(t, &k, false, false, &open, &why), 0);
    assert_true(a_whoami(t, &open));
    t_advance(t, 61000);
    a_refused(t, a_auth(t, &k, false, false, &who, &why), &why, "has expired");
    a_whoami_fails(t, &open, "has expired"); /* the open connection too */
    t_teardown(t);
}

/* A credential that expires makes no token that outlives it (a stolen short-lived one must
 * not become a lasting one); one that expires before it is fine. */
static void test_token_outliving_refused(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_cred_t k = a_token(t, &t_admin, "alice", "submit", 600, NULL);
    ctl_principal_t who;
    cl_error_t why;
    assert_int_equal(a_auth(t, &k, false, false, &who, &why), 0);
    assert_true(who.expires > 0);
    uint8_t pk[CL_SIGN_PK_BYTES] = {1};
    Colossus__TokenReq q = COLOSSUS__TOKEN_REQ__INIT;
    q.user = "";
    q.scope = "submit";
    q.public_key.data = pk;
    q.public_key.len = sizeof pk;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TOKEN_CREATE;
    r.token_create = &q;
    char err[256];
    double asks[] = {0, 601, 86400};
    for (size_t i = 0; i < 3; i++) {
        q.expires_in_s = asks[i];
        assert_false(a_ok(t, &who, &r, err, sizeof err));
        assert_non_null(strstr(err, "the token it makes must expire before it"));
    }
    q.expires_in_s = 300;
    assert_true(a_ok(t, &who, &r, err, sizeof err));
    t_teardown(t);
}

static void test_token_revoked(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_cred_t k = a_token(t, &t_admin, "alice", "", 0, NULL);
    a_cred_t keep = a_token(t, &t_admin, "alice", "", 0, NULL);
    ctl_principal_t open, other, who;
    cl_error_t why;
    assert_int_equal(a_auth(t, &k, false, false, &open, &why), 0);
    assert_int_equal(a_auth(t, &keep, false, false, &other, &why), 0);
    assert_true(a_whoami(t, &open));
    a_revoke(t, k.id);
    a_refused(t, a_auth(t, &k, false, false, &who, &why), &why, "was revoked");
    a_whoami_fails(t, &open, "revoked");
    assert_true(a_whoami(t, &other)); /* alice's other token still works */
    /* and so after a restart, from the journal */
    t_restart(t);
    a_refused(t, a_auth(t, &k, false, false, &who, &why), &why, "was revoked");
    assert_int_equal(a_auth(t, &keep, false, false, &who, &why), 0);
    t_teardown(t);
}

/* The REST API's bearer token: the string token create prints, checked as a handshake is;
 * its identity must be this controller's; the check of a principal taken earlier (the
 * transport's cache) sees a revocation. */
static void a_bearer_string(const a_cred_t *k, cl_cred_kind_t kind, const uint8_t ident[32],
                            char *out, size_t len)
{
    cl_cred_t c = {.kind = kind};
    snprintf(c.id, sizeof c.id, "%s", k->id);
    memcpy(c.seed, k->seed, sizeof c.seed);
    memcpy(c.identity, ident, sizeof c.identity);
    assert_int_equal(cl_cred_format(&c, out, len), 0);
}

static void test_bearer(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    uint8_t ident[32], isk[64], other[32];
    crypto_sign_keypair(ident, isk);
    crypto_sign_keypair(other, isk);
    ctl_set_identity(t->c, ident);
    a_cred_t k = a_token(t, &t_admin, "alice", "read", 0, NULL);
    char s[CL_CRED_STR_MAX + 1];
    ctl_principal_t who;
    cl_error_t why;
    a_bearer_string(&k, CL_CRED_TOKEN, ident, s, sizeof s);
    assert_int_equal(ctl_authenticate_bearer(t->c, s, "127.0.0.1:9", &who, &why), 0);
    assert_int_equal(who.kind, CTL_PRINCIPAL_USER);
    assert_string_equal(who.user, "alice");
    assert_string_equal(who.cred, k.id);
    assert_int_equal(who.scope, CTL_SCOPE_READ);
    assert_non_null(strstr(who.name, "@127.0.0.1:9"));
    assert_int_equal(ctl_principal_check(t->c, &who, &why), 0);
    a_refused(t, ctl_authenticate_bearer(t->c, "colossus-token-v1.x", "p", &who, &why), &why,
              "malformed");
    a_bearer_string(&k, CL_CRED_TOKEN, other, s, sizeof s);
    a_refused(t, ctl_authenticate_bearer(t->c, s, "p", &who, &why), &why, "another controller");
    a_bearer_string(&k, CL_CRED_NODE, ident, s, sizeof s);
    a_refused(t, ctl_authenticate_bearer(t->c, s, "p", &who, &why), &why, "only for agents");
    a_cred_t forged = k;
    randombytes_buf(forged.seed, sizeof forged.seed);
    a_bearer_string(&forged, CL_CRED_TOKEN, ident, s, sizeof s);
    a_refused(t, ctl_authenticate_bearer(t->c, s, "p", &who, &why), &why, "does not match");
    a_bearer_string(&k, CL_CRED_TOKEN, ident, s, sizeof s);
    assert_int_equal(ctl_authenticate_bearer(t->c, s, "p", &who, &why), 0);
    a_revoke(t, k.id);
    assert_int_equal(ctl_principal_check(t->c, &who, &why), -1);
    assert_non_null(strstr(why.msg, "revoked"));
    a_refused(t, ctl_authenticate_bearer(t->c, s, "p", &who, &why), &why, "was revoked");
    t_teardown(t);
}

static void test_user_disabled(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_cred_t k = a_token(t, &t_admin, "alice", "", 0, NULL);
    ctl_principal_t open, who;
    cl_error_t why;
    assert_int_equal(a_auth(t, &k, false, false, &open, &why), 0);
    a_user(t, "alice", "", false, true);
    a_refused(t, a_auth(t, &k, false, false, &who, &why), &why, "disabled");
    a_whoami_fails(t, &open, "disabled");
    a_user(t, "alice", "", false, false);
    assert_true(a_whoami(t, &open));
    t_teardown(t);
}

static void test_roles_by_kind(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_cred_t k = a_token(t, &t_admin, "alice", "admin", 0, NULL);
    a_cred_t n = a_token(t, &t_admin, NULL, NULL, 0, "n[1-2]");
    ctl_principal_t who;
    cl_error_t why;
    a_refused(t, a_auth(t, &k, false, true, &who, &why), &why, "agents register with a node");
    a_refused(t, a_auth(t, &n, true, false, &who, &why), &why, "only for agents");
    assert_int_equal(a_auth(t, &n, true, true, &who, &why), 0);
    assert_int_equal(who.kind, CTL_PRINCIPAL_NODE);
    assert_string_equal(who.cred, n.id);
    /* a node principal makes no requests, even if it got one through */
    a_whoami_fails(t, &who, "only for agents");
    /* a user's principal cannot speak as an agent */
    ctl_principal_t user;
    assert_int_equal(a_auth(t, &k, false, false, &user, &why), 0);
    t_sink_t *a = t_sink(t, "n1");
    Colossus__Register r = COLOSSUS__REGISTER__INIT;
    r.name = "n1";
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTER;
    m.register_ = &r;
    assert_int_equal(ctl_peer_msg(t->c, &user, &a->sink, &m, &why), -1);
    assert_non_null(strstr(why.msg, "node credential"));
    assert_false(a->registered);
    t_close(t, a);
    /* only an admin or operator makes node credentials */
    Colossus__TokenReq q = COLOSSUS__TOKEN_REQ__INIT;
    uint8_t pk[32] = {1};
    q.node = true;
    q.public_key.data = pk;
    q.public_key.len = sizeof pk;
    Colossus__Request rq = COLOSSUS__REQUEST__INIT;
    rq.body_case = COLOSSUS__REQUEST__BODY_TOKEN_CREATE;
    rq.token_create = &q;
    char err[256];
    assert_false(a_ok(t, &user, &rq, err, sizeof err));
    assert_non_null(strstr(err, "node credentials"));
    t_teardown(t);
}

/* ---- node credentials ---- */

static Colossus__Msg a_register_msg(Colossus__Register *r, const char *name)
{
    colossus__register__init(r);
    r->name = (char *)name;
    r->addr = "10.0.0.1";
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTER;
    m.register_ = r;
    return m;
}

/* The last Registered the sink got: its ok and error (taken). */
static bool a_registered(t_sink_t *a, char *err, size_t len)
{
    Colossus__Msg *last = NULL, *m;
    while ((m = t_take(a, COLOSSUS__MSG__BODY_REGISTERED))) {
        if (last) colossus__msg__free_unpacked(last, NULL);
        last = m;
    }
    assert_non_null(last);
    bool ok = last->registered->ok;
    snprintf(err, len, "%s", last->registered->error);
    colossus__msg__free_unpacked(last, NULL);
    return ok;
}

static bool a_audited(t_ctl_t *t, const char *op, const char *target, bool ok)
{
    Colossus__AuditReq aq = COLOSSUS__AUDIT_REQ__INIT;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_AUDIT;
    r.audit = &aq;
    Colossus__Msg *m = a_ask(t, &t_admin, &r);
    bool found = false;
    for (size_t i = 0; i < m->response->n_audit; i++) {
        const Colossus__AuditRecord *a = m->response->audit[i];
        found |= !strcmp(a->op, op) && !strcmp(a->target, target) && a->ok == ok;
    }
    colossus__msg__free_unpacked(m, NULL);
    return found;
}

static void test_node_credential_hostlist(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_cred_t n = a_token(t, &t_admin, NULL, NULL, 0, "n[1-2]");
    ctl_principal_t who;
    cl_error_t why;
    assert_int_equal(a_auth(t, &n, true, true, &who, &why), 0);
    t_sink_t *a = t_sink(t, "agent");
    Colossus__Register r;
    Colossus__Msg m = a_register_msg(&r, "n1");
    char err[320];
    assert_int_equal(ctl_peer_msg(t->c, &who, &a->sink, &m, &why), 0);
    t_turn(t);
    assert_true(a_registered(a, err, sizeof err));
    uint32_t n1 = a->node;
    m = a_register_msg(&r, "n3");
    assert_int_equal(ctl_peer_msg(t->c, &who, &a->sink, &m, &why),
                     0); /* answered, not closed */
    t_turn(t);
    assert_false(a_registered(a, err, sizeof err));
    assert_non_null(strstr(err, "not for node n3"));
    assert_true(t_logged(t, "refused registration of node n3"));
    assert_true(a_audited(t, "register", "n3", false));
    assert_string_equal(t_node_state(t, "n3"), "");
    /* n2 is another agent's (the cluster key's): n1's connection cannot keep it alive */
    t_sink_t *b = t_agent(t, "n2", 4);
    assert_true(b->registered);
    for (int i = 0; i < 16; i++) { /* 8 s: past twice dead-after (the first deadline) */
        Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
        uint32_t ids[2] = {n1, b->node};
        hb.nodes = ids;
        hb.n_nodes = 2;
        Colossus__Msg h = COLOSSUS__MSG__INIT;
        h.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
        h.heartbeat = &hb;
        assert_int_equal(ctl_peer_msg(t->c, &who, &a->sink, &h, &why), 0);
        t_advance(t, 500);
    }
    assert_string_equal(t_node_state(t, "n1"), "up");
    assert_string_equal(t_node_state(t, "n2"), "down");
    /* revoked: the next frame of the open connection is refused */
    a_revoke(t, n.id);
    m = a_register_msg(&r, "n1");
    assert_int_equal(ctl_peer_msg(t->c, &who, &a->sink, &m, &why), -1);
    assert_non_null(strstr(why.msg, "was revoked"));
    a_refused(t, a_auth(t, &n, true, true, &who, &why), &why, "was revoked");
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* ---- scopes ---- */

static Colossus__Request a_submit_req(Colossus__SubmitReq *s)
{
    static char *argv[] = {"true"};
    colossus__submit_req__init(s);
    s->nodes = 1;
    s->gpus_per_node = 1;
    s->argv = argv;
    s->n_argv = 1;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r.submit = s;
    return r;
}

static Colossus__Request a_drain_req(Colossus__NodeAdmin *d)
{
    colossus__node_admin__init(d);
    d->node = "n1";
    d->reason = "test";
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_DRAIN;
    r.drain = d;
    return r;
}

static void test_scopes(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    t_sink_t *a = t_agent(t, "n1", 4);
    a_cred_t rd = a_token(t, &t_admin, "alice", "read", 0, NULL);
    a_cred_t sb = a_token(t, &t_admin, "root", "submit", 0, NULL);
    a_cred_t ad = a_token(t, &t_admin, "root", "admin", 0, NULL);
    ctl_principal_t pr, ps, pa;
    cl_error_t why;
    assert_int_equal(a_auth(t, &rd, false, false, &pr, &why), 0);
    assert_int_equal(a_auth(t, &sb, false, false, &ps, &why), 0);
    assert_int_equal(a_auth(t, &ad, false, false, &pa, &why), 0);
    Colossus__SubmitReq s;
    Colossus__NodeAdmin d;
    Colossus__Request r = a_submit_req(&s);
    char err[256];
    assert_false(a_ok(t, &pr, &r, err, sizeof err));
    assert_non_null(strstr(err, "submit scope (this one is read-scoped)"));
    Colossus__Request jobs = COLOSSUS__REQUEST__INIT;
    jobs.body_case = COLOSSUS__REQUEST__BODY_JOBS_ALL;
    jobs.jobs_all = true;
    assert_true(a_ok(t, &pr, &jobs, err, sizeof err)); /* read: it may look */
    r = a_submit_req(&s);
    assert_true(a_ok(t, &ps, &r, err, sizeof err));
    r = a_drain_req(&d);
    assert_false(a_ok(t, &ps, &r, err, sizeof err)); /* an admin's submit token */
    assert_non_null(strstr(err, "admin scope"));
    assert_string_equal(t_node_state(t, "n1"), "up");
    r = a_drain_req(&d);
    assert_true(a_ok(t, &pa, &r, err, sizeof err));
    /* a read token makes no submit token */
    ctl_principal_t alice;
    a_cred_t full = a_token(t, &t_admin, "alice", "submit", 0, NULL);
    assert_int_equal(a_auth(t, &full, false, false, &alice, &why), 0);
    Colossus__TokenReq q = COLOSSUS__TOKEN_REQ__INIT;
    uint8_t pk[32] = {1};
    q.scope = "admin";
    q.public_key.data = pk;
    q.public_key.len = sizeof pk;
    Colossus__Request tr = COLOSSUS__REQUEST__INIT;
    tr.body_case = COLOSSUS__REQUEST__BODY_TOKEN_CREATE;
    tr.token_create = &q;
    assert_false(a_ok(t, &alice, &tr, err, sizeof err));
    assert_non_null(strstr(err, "cannot make a admin-scoped token"));
    t_close(t, a);
    t_teardown(t);
}

/* ---- JWTs ---- */

typedef struct a_jwt {
    jwt_alg_t alg;
    const char *key; /* signing key: a secret or a PEM private key */
    size_t key_len;
    const char *sub, *iss, *aud, *scope;
    const char *claim; /* the claim that names the user ("sub" when NULL) */
    long exp;          /* 0: now + 600; -1: none */
    bool claim_int;    /* the claim is a number, not a string */
} a_jwt_t;

static char *a_jwt_make(t_ctl_t *t, const a_jwt_t *j)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    const char *claim = j->claim ? j->claim : "sub";
    if (j->claim_int)
        assert_int_equal(jwt_add_grant_int(jwt, claim, 42), 0);
    else if (j->sub)
        assert_int_equal(jwt_add_grant(jwt, claim, j->sub), 0);
    if (j->iss) assert_int_equal(jwt_add_grant(jwt, "iss", j->iss), 0);
    if (j->aud) assert_int_equal(jwt_add_grant(jwt, "aud", j->aud), 0);
    if (j->scope) assert_int_equal(jwt_add_grant(jwt, "scope", j->scope), 0);
    if (j->exp >= 0) {
        long exp = j->exp ? j->exp : (long)t->wall + 600;
        assert_int_equal(jwt_add_grant_int(jwt, "exp", exp), 0);
    }
    assert_int_equal(jwt_add_grant_int(jwt, "iat", (long)t->wall), 0);
    assert_int_equal(jwt_set_alg(jwt, j->alg, (const unsigned char *)j->key, (int)j->key_len),
                     0);
    char *s = jwt_encode_str(jwt);
    assert_non_null(s);
    jwt_free(jwt);
    return s;
}

static int a_jwt_auth(t_ctl_t *t, const char *s, bool agent, ctl_principal_t *who,
                      cl_error_t *why)
{
    ctl_auth_req_t q = {.kind = COLOSSUS__CREDENTIAL__KIND__JWT,
                        .id = "",
                        .jwt = s,
                        .agent = agent,
                        .peer = "10.9.9.9:4242"};
    memset(who, 0, sizeof *who);
    return ctl_authenticate(t->c, &q, who, why);
}

/* A JWT from j is refused with a sentence holding want and none of the secrets. */
static void a_jwt_refused(t_ctl_t *t, const a_jwt_t *j, const char *want)
{
    char *s = a_jwt_make(t, j);
    ctl_principal_t who;
    cl_error_t why;
    a_refused(t, a_jwt_auth(t, s, false, &who, &why), &why, want);
    assert_null(strstr(why.msg, HS_SECRET));
    assert_null(strstr(why.msg, "PRIVATE KEY"));
    assert_null(strstr(why.msg, s + strlen(s) - 20)); /* nor the JWT's signature */
    assert_int_equal(who.kind, 0);
    free(s);
}

static void a_jwt_good(t_ctl_t *t, const a_jwt_t *j, const char *user, ctl_scope_t scope)
{
    char *s = a_jwt_make(t, j);
    ctl_principal_t who;
    cl_error_t why;
    if (a_jwt_auth(t, s, false, &who, &why) < 0) fail_msg("JWT refused: %s", why.msg);
    assert_int_equal(who.kind, CTL_PRINCIPAL_USER);
    assert_string_equal(who.user, user);
    assert_int_equal(who.scope, scope);
    assert_string_equal(who.cred, "");
    assert_true(who.expires > t->wall);
    assert_non_null(strstr(who.name, "(JWT)"));
    assert_true(a_whoami(t, &who));
    free(s);
}

/* Configure the controller for JWTs with key (kept by the test; the controller borrows it). */
static void a_jwt_config(t_ctl_t *t, const char *key, size_t len, const char *claim)
{
    t->cfg.jwt_key = (char *)key;
    t->cfg.jwt_key_len = len;
    snprintf(t->cfg.jwt_issuer, sizeof t->cfg.jwt_issuer, "https://idp.example");
    snprintf(t->cfg.jwt_audience, sizeof t->cfg.jwt_audience, "colossus");
    snprintf(t->cfg.jwt_claim, sizeof t->cfg.jwt_claim, "%s", claim ? claim : "");
    t_restart(t);
}

static void test_jwt_hs256(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    ctl_principal_t who;
    cl_error_t why;
    /* before any --jwt-key, JWTs are refused */
    a_jwt_t j = {.alg = JWT_ALG_HS256,
                 .key = HS_SECRET,
                 .key_len = strlen(HS_SECRET),
                 .sub = "alice",
                 .iss = "https://idp.example",
                 .aud = "colossus",
                 .claim = "preferred_username"};
    char *s = a_jwt_make(t, &j);
    a_refused(t, a_jwt_auth(t, s, false, &who, &why), &why, "takes no JWTs");
    free(s);
    static const char secret[] = HS_SECRET;
    a_jwt_config(t, secret, strlen(secret), "preferred_username");

    a_jwt_good(t, &j, "alice", CTL_SCOPE_SUBMIT);
    j.scope = "openid colossus:read";
    a_jwt_good(t, &j, "alice", CTL_SCOPE_READ);
    j.scope = "openid colossus:admin profile";
    a_jwt_good(t, &j, "alice", CTL_SCOPE_ADMIN);
    /* scopes are whole words: a look-alike grants nothing more */
    j.scope = "xcolossus:admin colossus:administrator";
    a_jwt_good(t, &j, "alice", CTL_SCOPE_SUBMIT);
    j.scope = "colossus:readonly";
    a_jwt_good(t, &j, "alice", CTL_SCOPE_SUBMIT);
    j.scope = NULL;
    a_jwt_t bad = j;
    bad.sub = "root";
    a_jwt_good(t, &bad, "root", CTL_SCOPE_SUBMIT);
    /* an agent role with a JWT */
    s = a_jwt_make(t, &j);
    a_refused(t, a_jwt_auth(t, s, true, &who, &why), &why, "agents need a node credential");
    free(s);

    bad = j;
    bad.exp = (long)t->wall - 1;
    a_jwt_refused(t, &bad, "expired");
    bad = j;
    bad.exp = -1;
    a_jwt_refused(t, &bad, "no expiry");
    bad = j;
    bad.iss = "https://evil.example";
    a_jwt_refused(t, &bad, "issuer");
    bad.iss = NULL;
    a_jwt_refused(t, &bad, "issuer");
    bad = j;
    bad.aud = "other";
    a_jwt_refused(t, &bad, "audience");
    bad = j;
    bad.key = "another-secret-of-another-site";
    bad.key_len = strlen(bad.key);
    a_jwt_refused(t, &bad, "signature does not match");
    bad = j;
    bad.alg = JWT_ALG_HS512; /* the right secret, another algorithm */
    a_jwt_refused(t, &bad, "algorithm HS512 is not the one configured (HS256)");
    bad = j;
    bad.sub = "mallory";
    a_jwt_refused(t, &bad, "no user mallory");
    bad = j;
    bad.claim_int = true;
    a_jwt_refused(t, &bad, "no 'preferred_username' claim");
    bad = j;
    bad.claim = "sub"; /* the user named in another claim than the configured one */
    a_jwt_refused(t, &bad, "no 'preferred_username' claim");
    /* alg none: no signature at all */
    bad = j;
    bad.alg = JWT_ALG_NONE;
    bad.key = NULL;
    bad.key_len = 0;
    s = a_jwt_make(t, &bad);
    assert_int_equal(s[strlen(s) - 1], '.');
    a_refused(t, a_jwt_auth(t, s, false, &who, &why), &why, "JWT");
    free(s);
    /* alg none, with the signature part of a good token glued on */
    char *good = a_jwt_make(t, &j);
    s = a_jwt_make(t, &bad);
    char glued[CL_JWT_MAX];
    snprintf(glued, sizeof glued, "%s%s", s, strrchr(good, '.') + 1);
    a_refused(t, a_jwt_auth(t, glued, false, &who, &why), &why, "JWT");
    free(s);
    /* garbage and a damaged signature */
    a_refused(t, a_jwt_auth(t, "eyJ.eyJ.xx", false, &who, &why), &why, "malformed");
    good[strlen(good) - 2] ^= 1;
    a_refused(t, a_jwt_auth(t, good, false, &who, &why), &why, "signature does not match");
    free(good);
    /* a disabled user's JWT; and an open connection's JWT that expires */
    a_user(t, "alice", "", false, true);
    a_jwt_refused(t, &j, "disabled");
    a_user(t, "alice", "", false, false);
    s = a_jwt_make(t, &j);
    assert_int_equal(a_jwt_auth(t, s, false, &who, &why), 0);
    free(s);
    t_advance(t, 601000);
    a_whoami_fails(t, &who, "expired");
    t_teardown(t);
}

/* Run a shell command; fail the test if it fails. */
static void a_sh(const char *fmt, const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, dir, dir, dir, dir);
    if (system(cmd) != 0) fail_msg("failed: %s", cmd);
}

static char *a_read(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cl_error_t err;
    char *s = cl_read_file(path, len, &err);
    if (!s) fail_msg("%s", err.msg);
    return s;
}

static void test_jwt_rs256(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    a_sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/rsa.key "
         "2>/dev/null && openssl pkey -in %s/rsa.key -pubout -out %s/rsa.pub && "
         "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/other.key "
         "2>/dev/null",
         t->dir);
    size_t priv_len, pub_len, other_len;
    char *priv = a_read(t->dir, "rsa.key", &priv_len);
    char *pub = a_read(t->dir, "rsa.pub", &pub_len);
    char *other = a_read(t->dir, "other.key", &other_len);
    a_jwt_config(t, pub, pub_len, NULL);
    a_jwt_t j = {.alg = JWT_ALG_RS256,
                 .key = priv,
                 .key_len = priv_len,
                 .sub = "alice",
                 .iss = "https://idp.example",
                 .aud = "colossus"};
    a_jwt_good(t, &j, "alice", CTL_SCOPE_SUBMIT);
    j.scope = "colossus:read";
    a_jwt_good(t, &j, "alice", CTL_SCOPE_READ);
    j.scope = NULL;
    a_jwt_t bad = j;
    bad.key = other;
    bad.key_len = other_len;
    a_jwt_refused(t, &bad, "signature does not match");
    /* algorithm confusion: an HMAC keyed with the public key's text, which anyone has */
    bad = j;
    bad.alg = JWT_ALG_HS256;
    bad.key = pub;
    bad.key_len = pub_len;
    a_jwt_refused(t, &bad, "algorithm HS256 is not the one configured (RS256)");
    bad.key = HS_SECRET;
    bad.key_len = strlen(HS_SECRET);
    a_jwt_refused(t, &bad, "JWT");
    bad = j;
    bad.exp = (long)t->wall - 10;
    a_jwt_refused(t, &bad, "expired");
    bad = j;
    bad.aud = "colossus-dev";
    a_jwt_refused(t, &bad, "audience");
    bad = j;
    bad.sub = "nobody";
    a_jwt_refused(t, &bad, "no user nobody");
    bad = j;
    bad.claim_int = true;
    a_jwt_refused(t, &bad, "no 'sub' claim");
    bad = j;
    bad.alg = JWT_ALG_NONE;
    bad.key = NULL;
    bad.key_len = 0;
    a_jwt_refused(t, &bad, "JWT");
    t_teardown(t);
    free(priv);
    free(pub);
    free(other);
}

/* An audience given as an array; a hostile claim's control characters stay out of the
 * refusal's sentence (it goes back to the client's terminal, and to the log hook). */
static void test_jwt_claims_text(void **state)
{
    (void)state;
    t_ctl_t *t = a_setup();
    static const char secret[] = HS_SECRET;
    a_jwt_config(t, secret, strlen(secret), NULL);
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grant(jwt, "sub", "alice"), 0);
    assert_int_equal(jwt_add_grant(jwt, "iss", "https://idp.example"), 0);
    assert_int_equal(jwt_add_grants_json(jwt, "{\"aud\": [\"x\", \"colossus\"]}"), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "exp", (long)t->wall + 60), 0);
    assert_int_equal(
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)), 0);
    char *s = jwt_encode_str(jwt);
    ctl_principal_t who;
    cl_error_t why;
    assert_int_equal(a_jwt_auth(t, s, false, &who, &why), 0);
    free(s);
    /* a user name with a newline: refused, the sentence one line */
    assert_int_equal(jwt_add_grant(jwt, "email", "x"), 0);
    jwt_del_grants(jwt, "sub");
    assert_int_equal(jwt_add_grant(jwt, "sub", "eve\ncontroller: user root logged in"), 0);
    s = jwt_encode_str(jwt);
    assert_int_equal(a_jwt_auth(t, s, false, &who, &why), -1);
    assert_null(strchr(why.msg, '\n'));
    free(s);
    jwt_del_grants(jwt, "iss");
    assert_int_equal(jwt_add_grant(jwt, "iss", "evil\n\033[2J"), 0);
    s = jwt_encode_str(jwt);
    assert_int_equal(a_jwt_auth(t, s, false, &who, &why), -1);
    assert_non_null(strstr(why.msg, "issuer"));
    assert_false(cl_has_control(why.msg));
    free(s);
    jwt_free(jwt);
    for (int i = 0; i < t->nlog; i++)
        assert_false(cl_has_control(t->log[i]));
    t_teardown(t);
}

int main(void)
{
    if (cl_crypto_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_good),
        cmocka_unit_test(test_token_forged),
        cmocka_unit_test(test_token_expired),
        cmocka_unit_test(test_token_outliving_refused),
        cmocka_unit_test(test_token_revoked),
        cmocka_unit_test(test_user_disabled),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_roles_by_kind),
        cmocka_unit_test(test_node_credential_hostlist),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_jwt_hs256),
        cmocka_unit_test(test_jwt_rs256),
        cmocka_unit_test(test_jwt_claims_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
