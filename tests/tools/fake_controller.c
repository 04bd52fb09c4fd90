/* fake_controller.c - a controller that speaks the real protocol (src/proto: frames, the
 * handshake on the cluster key, Refused) and answers or misbehaves as --mode says, so that
 * the CLI's error and escaping paths can be tested deterministically
 * (tests/integration/cli_errors.sh, cli_text.sh), and that plays the controller of one agent
 * whose launches a test writes itself (tests/integration/agent_*.sh). 127.0.0.1 only.
 *
 *   fake_controller --key FILE --mode MODE [--launches FILE]
 *
 * prints "port N" once listening, then a line per event ("request N" when a request with
 * body case N arrived), and serves one connection after the other until killed. A wrong
 * key is refused as the real controller does (Refused{WRONG_KEY}) except in the modes that
 * play a controller that does not say why. Modes:
 *   close-at-accept   close each connection at once
 *   close-after-auth  hello, read Auth, close without a word (whatever the key)
 *   overloaded        Refused{OVERLOADED} instead of a hello
 *   bad-proof         answer Auth with an AuthOk whose proof is wrong
 *   drop-request      authenticate, read the request, close
 *   stop-request      authenticate, read the request, then hang until killed
 *   refuse-request    authenticate, read the request, Refused{SHUTTING_DOWN}, close
 *   error             answer every request with ok false and an error holding control bytes
 *   views             answer every request with jobs, nodes, tenants, users, QOS, tokens,
 *                     usage and audit records and text whose names hold newlines, escapes,
 *                     bidi overrides and invalid UTF-8
 *   service           answer the service requests (tenants, users, QOS, tokens, history,
 *                     usage, audit, whoami; jobs with users and pending reasons) with
 *                     sample records of every shape, and print each request's body after
 *                     its "request N" line as "body {JSON}" (every field, by its .proto
 *                     name), so that a test sees exactly what the CLI sent. token create
 *                     keeps the public key it is sent: in this mode a client may then
 *                     present that token (the credential handshake, docs/protocol.md) and
 *                     is "user NAME" for whoami; "auth token ID" or "auth refused ..."
 *                     is printed.
 *   agent             the controller of the agent that connects: each Register is answered
 *                     (node id 1, 2, ... by handle; heartbeat 1 s; cluster id 0x5eed), then
 *                     every line appended to the --launches FILE becomes a Launch to the
 *                     first node (once: a later connection gets only the lines after), and
 *                     each Started and Exited is printed (every Exited is acknowledged). A line
 * is a JSON object:
 *                       {"job": 5, "inc": 1, "uid": 1001, "gid": 1001, "user": "alice",
 *                        "gpus": [0, 1], "argv": ["sh", "-c", "..."], "env": ["A=B"],
 *                        "cwd": "/dir", "ckpt": "/dir"}
 *                     (inc defaults to 1, the others to 0, "" or []; one rank per GPU).
 *                     Events: "registered NAME gpus N", "launch JOB INC",
 *                     "started JOB INC", "exited JOB INC code C rank R energy_j E flops F". */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "proto/client.h"

/* A name that would break a table, forge a line and recolour a terminal. */
#define NASTY "evil\nFORGED line\t\x1b[31mred\xe2\x80\xae\xff\xfe\xc3"

static const char *mode, *launches;
static uint8_t key[CL_KEY_BYTES];
/* The controller's identity key (Ed25519), made at start: credentials are bound to it. */
static uint8_t id_pk[crypto_sign_PUBLICKEYBYTES], id_sk[crypto_sign_SECRETKEYBYTES];

/* The tokens and node credentials token create made (service mode). */
#define TOKENS_MAX 32
static struct token {
    char id[CL_CRED_ID_MAX + 1], user[64], scope[16], nodes[256];
    uint8_t pk[CL_SIGN_PK_BYTES];
    double created, expires;
    bool revoked;
} tokens[TOKENS_MAX];
static int ntokens;
static char principal[128] = "cluster-key", principal_user[64], principal_role[16] = "admin";

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void say(cl_client_t *k, const Colossus__Msg *m)
{
    cl_error_t err;
    if (cl_client_send(k, m, &err) < 0) fprintf(stderr, "fake_controller: %s\n", err.msg);
}

static void refuse(cl_client_t *k, Colossus__Refused__Why why, const char *reason)
{
    Colossus__Refused r = COLOSSUS__REFUSED__INIT;
    r.why = why;
    r.reason = (char *)reason;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REFUSED;
    m.refused = &r;
    say(k, &m);
}

/* A token's handshake (frame.h, "Credential handshakes"): the signature of the transcript
 * by a secret whose public key token create was sent. 0 when it checks. */
static int cred_handshake(cl_client_t *k, const Colossus__Auth *a, const uint8_t sn[32],
                          const uint8_t kx_pk[32], const uint8_t kx_sk[32])
{
    const Colossus__Credential *cr = a->cred;
    struct token *t = NULL;
    for (int i = 0; i < ntokens; i++)
        if (!strcmp(tokens[i].id, cr->id)) t = &tokens[i];
    uint8_t tr[32], msg[32], session[CL_KEY_BYTES], sig[CL_SIG_BYTES];
    if (!t || t->revoked || a->kx_pub.len != CL_KX_BYTES || a->nonce.len != CL_NONCE_BYTES ||
        cr->signature.len != CL_SIG_BYTES) {
        event("auth refused %s", t ? "revoked token" : "unknown token");
        refuse(k, COLOSSUS__REFUSED__WHY__OTHER, "unknown or revoked credential");
        return -1;
    }
    cl_auth_transcript(sn, a->nonce.data, kx_pk, a->kx_pub.data, id_pk, (int)a->role,
                       (int)cr->kind, cr->id, tr);
    if (crypto_sign_verify_detached(cr->signature.data, tr, sizeof tr, t->pk) != 0 ||
        cl_kx_session_key(true, kx_pk, kx_sk, a->kx_pub.data, session) < 0) {
        event("auth refused bad signature");
        refuse(k, COLOSSUS__REFUSED__WHY__OTHER, "the credential's signature does not check");
        return -1;
    }
    cl_auth_server_msg(tr, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, id_sk);
    Colossus__AuthOk ok = COLOSSUS__AUTH_OK__INIT;
    ok.signature.data = sig;
    ok.signature.len = sizeof sig;
    ok.user = t->user;
    ok.role = t->scope;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_AUTH_OK;
    m.auth_ok = &ok;
    say(k, &m);
    cl_sess_rekey(&k->sess, session, sn, a->nonce.data);
    event("auth token %s", t->id);
    snprintf(principal, sizeof principal, "user %s (token %s)", t->user, t->id);
    snprintf(principal_user, sizeof principal_user, "%s", t->user);
    snprintf(principal_role, sizeof principal_role, "%s", t->scope);
    return 0;
}

/* The server's half of the handshake (frame.h); 0 when the peer proved the key (or, in the
 * service mode, a token it made). */
static int handshake(cl_client_t *k)
{
    uint8_t sn[CL_NONCE_BYTES], proof[32], kx_pk[CL_KX_BYTES], kx_sk[CL_KX_BYTES];
    crypto_kx_keypair(kx_pk, kx_sk);
    cl_hello_t hello;
    say(k, cl_hello_make(&hello, sn, kx_pk, id_pk, id_sk));
    Colossus__Msg *in = NULL;
    cl_error_t err;
    if (cl_client_recv(k, &in, 5000, &err) < 0) return -1;
    if (in->body_case == COLOSSUS__MSG__BODY_AUTH && in->auth->cred &&
        in->auth->cred->kind != COLOSSUS__CREDENTIAL__KIND__CLUSTER_KEY &&
        strcmp(mode, "close-after-auth")) {
        int rc = -1;
        if (!strcmp(mode, "service") && in->auth->cred->kind != COLOSSUS__CREDENTIAL__KIND__JWT)
            rc = cred_handshake(k, in->auth, sn, kx_pk, kx_sk);
        else
            refuse(k, COLOSSUS__REFUSED__WHY__OTHER, "this fake takes only the cluster key");
        cl_msg_free(in);
        return rc;
    }
    if (in->body_case != COLOSSUS__MSG__BODY_AUTH || in->auth->nonce.len != CL_NONCE_BYTES ||
        in->auth->proof.len != 32 || !strcmp(mode, "close-after-auth")) {
        cl_msg_free(in);
        return -1;
    }
    uint8_t cn[CL_NONCE_BYTES];
    memcpy(cn, in->auth->nonce.data, sizeof cn);
    cl_auth_proof(key, "colossus-client", sn, cn, proof);
    bool good = cl_auth_equal(proof, in->auth->proof.data, 32);
    cl_msg_free(in);
    if (!good) {
        event("auth refused");
        refuse(k, COLOSSUS__REFUSED__WHY__WRONG_KEY,
               "the proof does not match the cluster key");
        return -1;
    }
    cl_auth_proof(key, "colossus-server", sn, cn, proof);
    if (!strcmp(mode, "bad-proof")) proof[0] ^= 1;
    Colossus__AuthOk ok = COLOSSUS__AUTH_OK__INIT;
    ok.proof.data = proof;
    ok.proof.len = sizeof proof;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_AUTH_OK;
    m.auth_ok = &ok;
    say(k, &m);
    if (!strcmp(mode, "bad-proof")) return -1;
    cl_sess_rekey(&k->sess, key, sn, cn);
    snprintf(principal, sizeof principal, "cluster-key");
    principal_user[0] = 0;
    snprintf(principal_role, sizeof principal_role, "admin");
    return 0;
}

/* ---- the service mode ---- */

/* A protobuf-c message as JSON, every field by its .proto name (a oneof's member only when
 * it is the one set), bytes in hex: what the CLI sent, for the test to read. */
static json_t *dump(const ProtobufCMessage *m);

static json_t *dump_value(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_integer((json_int_t) * (const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_STRING:
        return json_string(*(char *const *)p ? *(char *const *)p : "");
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *hex = malloc(b->len * 2 + 1);
        sodium_bin2hex(hex, b->len * 2 + 1, b->data, b->len);
        json_t *v = json_string(hex);
        free(hex);
        return v;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p ? dump(*(ProtobufCMessage *const *)p)
                                             : json_null();
    }
    return json_null();
}

static json_t *dump(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object();
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            size_t sz = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE
                            ? sizeof(void *)
                        : f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
                        : f->type == PROTOBUF_C_TYPE_DOUBLE ||
                                f->type == PROTOBUF_C_TYPE_INT64 ||
                                f->type == PROTOBUF_C_TYPE_UINT64
                            ? 8
                            : 4;
            json_t *a = json_array();
            for (size_t k = 0; k < n; k++)
                json_array_append_new(a, dump_value(f, arr + k * sz));
            json_object_set_new(o, f->name, a);
        } else {
            json_object_set_new(o, f->name, dump_value(f, base + f->offset));
        }
    }
    return o;
}

static double now_s(void)
{
    return (double)time(NULL);
}

/* Sample records of every shape (or, in the views mode, with names that would break a
 * view: NASTY) for one request, into r; storage lives in the static arrays. */
static void service_tenants(Colossus__Response *r, const char *name, bool nasty)
{
    static Colossus__TenantInfo a, b, *v[2];
    colossus__tenant_info__init(&a);
    colossus__tenant_info__init(&b);
    a.name = nasty ? NASTY : "default";
    a.shares = 1;
    a.fairshare = 1;
    a.quota_gpus = a.borrow_limit = a.lend_limit = -1; /* none, no limit, all */
    b.name = (char *)(name ? name : "research");
    b.parent = nasty ? NASTY : "lab";
    b.shares = 2;
    b.usage_gpu_s = 7200;
    b.fairshare = 0.5;
    b.jobs_pending = 1;
    b.jobs_running = 2;
    b.gpus_running = 16;
    b.quota_gpus = 16;
    b.cohort = nasty ? NASTY : "eu";
    b.borrow_limit = 8;
    b.lend_limit = 4;
    b.borrowed_gpus = 2;
    b.budget_gpu_hours = 1000;
    b.budget_period = nasty ? NASTY : "month";
    b.budget_stop = true;
    b.budget_used_gpu_hours = 250.5;
    b.budget_period_start = 1793491200;
    v[0] = &a;
    v[1] = &b;
    r->tenants = name ? v + 1 : v;
    r->n_tenants = name ? 1 : 2;
}

static Colossus__UserInfo **sample_users(bool nasty, size_t *n)
{
    static Colossus__UserTenant t1, t2, *tv[2];
    static Colossus__UserInfo a, b, *v[2];
    colossus__user_tenant__init(&t1);
    colossus__user_tenant__init(&t2);
    colossus__user_info__init(&a);
    colossus__user_info__init(&b);
    t1.tenant = nasty ? NASTY : "research";
    t1.role = "manager";
    t2.tenant = "default";
    t2.role = "user";
    tv[0] = &t1;
    tv[1] = &t2;
    a.name = nasty ? NASTY : "ada";
    a.tenants = tv;
    a.n_tenants = 2;
    a.role = "admin";
    a.uid = 1000;
    a.gid = 1000;
    a.qos = nasty ? NASTY : "gold";
    b.name = "bob";
    b.tenants = tv + 1;
    b.n_tenants = 1;
    b.uid = 1001;
    b.gid = 100;
    b.disabled = true;
    v[0] = &a;
    v[1] = &b;
    *n = 2;
    return v;
}

static void service_qoses(Colossus__Response *r, bool nasty)
{
    static Colossus__QosInfo a, b, *v[2];
    colossus__qos_info__init(&a);
    colossus__qos_info__init(&b);
    a.name = "normal";
    a.max_priority = 1000000;
    b.name = nasty ? NASTY : "gold";
    b.max_priority = 100;
    b.max_gpus_per_job = 64;
    b.max_wall_s = 86400 + 3600;
    b.max_running_jobs = 4;
    b.preemptible = true;
    v[0] = &a;
    v[1] = &b;
    r->qoses = v;
    r->n_qoses = 2;
}

/* token create: keep the public key, answer its id and the identity key. */
static const char *token_create(Colossus__Response *r, const Colossus__TokenReq *q)
{
    static Colossus__TokenInfo info, *v[1];
    if (ntokens == TOKENS_MAX || q->public_key.len != CL_SIGN_PK_BYTES)
        return "no room for a token, or no public key";
    struct token *t = &tokens[ntokens++];
    cl_cred_make_id(q->node ? "nd-" : "tk-", t->id);
    snprintf(t->user, sizeof t->user, "%s", q->node ? "" : q->user[0] ? q->user : "alice");
    snprintf(t->scope, sizeof t->scope, "%s",
             q->node       ? "node"
             : q->scope[0] ? q->scope
                           : "submit");
    snprintf(t->nodes, sizeof t->nodes, "%s", q->nodes);
    memcpy(t->pk, q->public_key.data, CL_SIGN_PK_BYTES);
    t->created = now_s();
    t->expires = q->expires_in_s > 0 ? t->created + q->expires_in_s : 0;
    colossus__token_info__init(&info);
    info.id = t->id;
    info.user = t->user;
    info.scope = t->scope;
    info.nodes = t->nodes;
    info.created = t->created;
    info.expires = t->expires;
    v[0] = &info;
    r->tokens = v;
    r->n_tokens = 1;
    r->identity.data = id_pk;
    r->identity.len = sizeof id_pk;
    return NULL;
}

static void service_tokens(Colossus__Response *r, bool nasty)
{
    static Colossus__TokenInfo v[TOKENS_MAX + 1], *p[TOKENS_MAX + 1];
    size_t n = 0;
    colossus__token_info__init(&v[n]);
    v[n].id = "tk-00000000000000aa"; /* an old, revoked one */
    v[n].user = nasty ? NASTY : "ada";
    v[n].scope = "read";
    v[n].created = 1793491200;
    v[n].expires = 1793491200 + 86400;
    v[n].revoked = true;
    p[n] = &v[n];
    n++;
    for (int i = 0; i < ntokens; i++, n++) {
        colossus__token_info__init(&v[n]);
        v[n].id = tokens[i].id;
        v[n].user = tokens[i].user;
        v[n].scope = tokens[i].scope;
        v[n].nodes = tokens[i].nodes;
        v[n].created = tokens[i].created;
        v[n].expires = tokens[i].expires;
        v[n].revoked = tokens[i].revoked;
        p[n] = &v[n];
    }
    r->tokens = p;
    r->n_tokens = n;
}

static void service_history(Colossus__Response *r, bool nasty)
{
    static char *nodes[] = {"node000000", "node000001"};
    static Colossus__UsageRecord a, b, c, *v[3];
    Colossus__UsageRecord *rec[] = {&a, &b, &c};
    for (int i = 0; i < 3; i++) {
        colossus__usage_record__init(rec[i]);
        rec[i]->job = 7;
        rec[i]->incarnation = (uint32_t)i + 1;
        rec[i]->name = nasty ? NASTY : "train";
        rec[i]->tenant = "research";
        rec[i]->user = nasty ? NASTY : "ada";
        rec[i]->nodes = nodes;
        rec[i]->n_nodes = 2;
        rec[i]->gpus = 4;
        rec[i]->start = 1793491200 + i * 7200.0;
        rec[i]->end = rec[i]->start + 3600 + 61;
        rec[i]->gpu_seconds = 4 * 3661;
        v[i] = rec[i];
    }
    a.ended = "node_fail";
    a.reason = nasty ? NASTY : "node000001 died";
    a.energy_j = 7.2e6;
    a.flops = 1.2e18;
    b.ended = "failed";
    b.exit_code = 137;
    c.ended = "succeeded";
    r->history = v;
    r->n_history = 3;
}

static void service_usage(Colossus__Response *r, const Colossus__HistoryReq *q, bool nasty)
{
    static Colossus__UsageRow a, b, *v[2];
    colossus__usage_row__init(&a);
    colossus__usage_row__init(&b);
    bool day = !strcmp(q->by, "day"), month = !strcmp(q->by, "month");
    a.key = nasty ? NASTY : day ? "2026-11-01" : month ? "2026-11" : "research";
    a.gpu_hours = 1234.5;
    a.energy_kwh = 812.25;
    a.flops = 1.2e21;
    a.runs = 17;
    b.key = day ? "2026-11-02" : month ? "2026-12" : "default";
    b.gpu_hours = 0.5;
    b.runs = 1;
    v[0] = &a;
    v[1] = &b;
    r->usage = v;
    r->n_usage = 2;
}

static void service_audit(Colossus__Response *r, bool nasty)
{
    static Colossus__AuditRecord a, b, *v[2];
    colossus__audit_record__init(&a);
    colossus__audit_record__init(&b);
    a.time = 1793491200.25;
    a.who = nasty ? NASTY : "user ada";
    a.op = "submit";
    a.target = "job 7";
    a.ok = true;
    b.time = 1793491260;
    b.who = "user bob";
    b.op = "cancel";
    b.target = nasty ? NASTY : "job 7";
    b.detail = nasty ? NASTY : "not a job of your tenants";
    v[0] = &a;
    v[1] = &b;
    r->audit = v;
    r->n_audit = 2;
}

static void service_jobs(Colossus__Response *r, bool nasty)
{
    static char *nodes[] = {"node000000"}, *argv[] = {"python", "train.py"};
    static Colossus__JobInfo a, b, *v[2];
    colossus__job_info__init(&a);
    colossus__job_info__init(&b);
    a.id = 7;
    a.name = "train";
    a.state = "running";
    a.tenant = "research";
    a.user = nasty ? NASTY : "ada";
    a.nodes = nodes;
    a.n_nodes = 1;
    a.nnodes = 1;
    a.gpus_per_node = 2;
    a.incarnation = 1;
    a.argv = argv;
    a.n_argv = 2;
    a.submit_time = a.start_time = a.running_time = 1793491200;
    a.gpu_seconds = 7200;
    a.energy_j = 3.6e6;
    b = a;
    b.id = 8;
    b.name = "wide";
    b.state = "pending";
    b.user = "bob";
    b.n_nodes = 0;
    b.start_time = b.running_time = 0;
    b.gpu_seconds = b.energy_j = 0;
    b.pending_reason = nasty ? NASTY : "tenant research's quota of 16 GPUs is reached";
    v[0] = &a;
    v[1] = &b;
    r->jobs = v;
    r->n_jobs = 2;
}

/* The answer of the service (or views) mode to a service request into r; false when q is
 * not one. An error for r->error, or NULL. */
static bool answer_service(Colossus__Response *r, const Colossus__Request *q, bool nasty,
                           const char **error)
{
    size_t n;
    *error = NULL;
    switch (q->body_case) {
    case COLOSSUS__REQUEST__BODY_TENANTS:
        service_tenants(r, NULL, nasty);
        return true;
    case COLOSSUS__REQUEST__BODY_TENANT_SHOW:
        service_tenants(r, nasty ? NASTY : q->tenant_show, nasty);
        return true;
    case COLOSSUS__REQUEST__BODY_USERS:
        r->users = sample_users(nasty, &n);
        r->n_users = n;
        return true;
    case COLOSSUS__REQUEST__BODY_QOSES:
        service_qoses(r, nasty);
        return true;
    case COLOSSUS__REQUEST__BODY_TOKEN_CREATE:
        *error = token_create(r, q->token_create);
        return true;
    case COLOSSUS__REQUEST__BODY_TOKENS:
        service_tokens(r, nasty);
        return true;
    case COLOSSUS__REQUEST__BODY_TOKEN_REVOKE:
        *error = "no such token";
        for (int i = 0; i < ntokens; i++)
            if (!strcmp(tokens[i].id, q->token_revoke)) tokens[i].revoked = true, *error = NULL;
        return true;
    case COLOSSUS__REQUEST__BODY_HISTORY:
        service_history(r, nasty);
        return true;
    case COLOSSUS__REQUEST__BODY_USAGE:
        service_usage(r, q->usage, nasty);
        return true;
    case COLOSSUS__REQUEST__BODY_AUDIT:
        service_audit(r, nasty);
        return true;
    case COLOSSUS__REQUEST__BODY_WHOAMI:
        r->principal = nasty ? NASTY : principal;
        r->role = principal_role;
        if (principal_user[0] || nasty) {
            Colossus__UserInfo **u = sample_users(nasty, &n);
            if (!nasty) u[0]->name = principal_user;
            r->users = u;
            r->n_users = 1;
        }
        return true;
    case COLOSSUS__REQUEST__BODY_TENANT:
    case COLOSSUS__REQUEST__BODY_USER:
    case COLOSSUS__REQUEST__BODY_QOS:
    case COLOSSUS__REQUEST__BODY_NODE_REMOVE:
        return true; /* done; nothing to say */
    case COLOSSUS__REQUEST__BODY_JOBS_ALL:
    case COLOSSUS__REQUEST__BODY_SHOW:
        if (nasty) return false;
        service_jobs(r, false);
        if (q->body_case == COLOSSUS__REQUEST__BODY_SHOW)
            r->jobs += q->show == 8, r->n_jobs = 1;
        return true;
    default:
        return false;
    }
}

/* The service mode's answer to one request, after printing its body. */
static void serve_service(cl_client_t *k, const Colossus__Request *q)
{
    json_t *body = dump(&q->base);
    char *text = json_dumps(body, JSON_COMPACT);
    event("body %s", text);
    free(text);
    json_decref(body);
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = q->req;
    const char *error;
    if (!answer_service(&r, q, false, &error)) error = "unknown request";
    r.ok = !error;
    r.error = (char *)(error ? error : "");
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_RESPONSE;
    m.response = &r;
    say(k, &m);
}

/* The answer of the views mode to one request. */
static void answer_views(cl_client_t *k, const Colossus__Request *q)
{
    static char *nodes[] = {"n1\nn2", "n3"}, *argv[] = {"sh", "-c", "echo\nFORGED"};
    Colossus__JobInfo j = COLOSSUS__JOB_INFO__INIT;
    j.id = 7;
    j.name = j.tenant = j.reason = j.user = j.pending_reason = NASTY;
    /* show 8: the same job, pending (its pending reason shows) */
    j.state =
        q->body_case == COLOSSUS__REQUEST__BODY_SHOW && q->show == 8 ? "pending" : "running";
    j.nodes = nodes;
    j.n_nodes = 2;
    j.argv = argv;
    j.n_argv = 3;
    j.nnodes = 2;
    j.gpus_per_node = 1;
    Colossus__JobInfo *jv[] = {&j};
    Colossus__NodeInfo n = COLOSSUS__NODE_INFO__INIT;
    n.id = 1;
    n.name = n.reason = n.health_reason = NASTY;
    n.state = "up";
    n.health = "drain-now\nFORGED";
    n.gpus = 1;
    Colossus__NodeInfo *nv[] = {&n};
    Colossus__TenantInfo t = COLOSSUS__TENANT_INFO__INIT;
    t.name = NASTY;
    t.shares = 1;
    t.fairshare = 1;
    Colossus__TenantInfo *tv[] = {&t};
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = q->req;
    r.ok = true;
    r.job = 42;
    const char *error;
    answer_service(&r, q, true, &error);
    if (q->body_case == COLOSSUS__REQUEST__BODY_JOBS_ALL ||
        q->body_case == COLOSSUS__REQUEST__BODY_SHOW ||
        q->body_case == COLOSSUS__REQUEST__BODY_WAIT) {
        r.jobs = jv;
        r.n_jobs = 1;
    }
    if (q->body_case == COLOSSUS__REQUEST__BODY_NODES) {
        r.nodes = nv;
        r.n_nodes = 1;
    }
    if (q->body_case == COLOSSUS__REQUEST__BODY_TENANTS) {
        r.tenants = tv;
        r.n_tenants = 1;
    }
    if (q->body_case == COLOSSUS__REQUEST__BODY_DRAIN) {
        r.data.data = (uint8_t *)NASTY;
        r.data.len = strlen(NASTY);
    }
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_RESPONSE;
    m.response = &r;
    say(k, &m);
}

/* After the handshake: requests, answered or not as the mode says. */
static void serve(cl_client_t *k)
{
    for (;;) {
        Colossus__Msg *in = NULL;
        cl_error_t err;
        if (cl_client_recv(k, &in, -1, &err) < 0) return;
        if (in->body_case != COLOSSUS__MSG__BODY_REQUEST) {
            cl_msg_free(in);
            return;
        }
        event("request %d", (int)in->request->body_case);
        if (!strcmp(mode, "stop-request")) pause(); /* the test kills us here */
        if (!strcmp(mode, "refuse-request"))
            refuse(k, COLOSSUS__REFUSED__WHY__SHUTTING_DOWN, "the controller is stopping");
        if (!strcmp(mode, "error")) {
            Colossus__Response r = COLOSSUS__RESPONSE__INIT;
            r.req = in->request->req;
            r.error = "no such job\nFORGED line \x1b[31m";
            Colossus__Msg m = COLOSSUS__MSG__INIT;
            m.body_case = COLOSSUS__MSG__BODY_RESPONSE;
            m.response = &r;
            say(k, &m);
        }
        if (!strcmp(mode, "views")) answer_views(k, in->request);
        if (!strcmp(mode, "service")) serve_service(k, in->request);
        bool more =
            !strcmp(mode, "error") || !strcmp(mode, "views") || !strcmp(mode, "service");
        cl_msg_free(in);
        if (!more) return;
    }
}

/* ------------------------------------------------------------------ --mode agent -------- */

static char **strings_of(json_t *a, size_t *n)
{
    *n = json_is_array(a) ? json_array_size(a) : 0;
    char **v = calloc(*n + 1, sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = (char *)json_string_value(json_array_get(a, i));
    return v;
}

static const char *str_of(json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v ? v : "";
}

/* One line of the launches file: a Launch to node. */
static void send_launch(cl_client_t *k, uint32_t node, const char *line)
{
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    if (!json_is_object(o)) {
        event("bad launch line: %s", jerr.text);
        json_decref(o);
        return;
    }
    Colossus__Launch L = COLOSSUS__LAUNCH__INIT;
    L.node = node;
    L.job = (uint64_t)json_integer_value(json_object_get(o, "job"));
    json_t *inc = json_object_get(o, "inc");
    L.incarnation = inc ? (uint32_t)json_integer_value(inc) : 1;
    L.restart = L.incarnation - 1;
    L.nnodes = 1;
    L.uid = (uint32_t)json_integer_value(json_object_get(o, "uid"));
    L.gid = (uint32_t)json_integer_value(json_object_get(o, "gid"));
    L.user = (char *)str_of(o, "user");
    json_t *g = json_object_get(o, "gpus");
    L.n_gpus = json_is_array(g) ? json_array_size(g) : 0;
    uint32_t gpus[64];
    if (L.n_gpus > 64) L.n_gpus = 64;
    for (size_t i = 0; i < L.n_gpus; i++)
        gpus[i] = (uint32_t)json_integer_value(json_array_get(g, i));
    L.gpus = gpus;
    L.ranks_per_node = (uint32_t)L.n_gpus;
    L.master_addr = "127.0.0.1";
    L.master_port = 29500 + (uint32_t)(L.job % 1000);
    L.argv = strings_of(json_object_get(o, "argv"), &L.n_argv);
    L.env = strings_of(json_object_get(o, "env"), &L.n_env);
    L.cwd = (char *)str_of(o, "cwd");
    L.checkpoint_dir = (char *)str_of(o, "ckpt");
    L.name = "fake";
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_LAUNCH;
    m.launch = &L;
    event("launch %llu %u", (unsigned long long)L.job, L.incarnation);
    say(k, &m);
    free(L.argv);
    free(L.env);
    json_decref(o);
}

/* Send the whole lines appended to the launches file since *at. */
static void send_new_launches(cl_client_t *k, uint32_t node, long *at)
{
    FILE *f = launches ? fopen(launches, "r") : NULL;
    if (!f) return;
    char line[65536];
    if (fseek(f, *at, SEEK_SET) == 0)
        while (fgets(line, sizeof line, f) && strchr(line, '\n')) {
            *at = ftell(f);
            send_launch(k, node, line);
        }
    fclose(f);
}

static void answer_register(cl_client_t *k, const Colossus__Register *r)
{
    Colossus__Registered ok = COLOSSUS__REGISTERED__INIT;
    ok.handle = r->handle;
    ok.ok = true;
    ok.node = r->handle + 1;
    ok.heartbeat_ms = 1000;
    ok.dead_after_ms = 60000;
    ok.cluster_id = 0x5eed;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTERED;
    m.registered = &ok;
    say(k, &m);
    event("registered %s gpus %zu", r->name, r->n_gpus);
}

static void serve_agent(cl_client_t *k)
{
    bool registered = false;
    static long at; /* kept across connections: a line is sent once, to one agent */
    for (;;) {
        if (registered) send_new_launches(k, 1, &at);
        Colossus__Msg *in = NULL;
        cl_error_t err;
        if (cl_client_recv(k, &in, 50, &err) < 0) {
            if (k->fail.timed_out) continue;
            return;
        }
        if (in->body_case == COLOSSUS__MSG__BODY_REGISTER) {
            answer_register(k, in->register_);
            registered = true;
        } else if (in->body_case == COLOSSUS__MSG__BODY_STARTED) {
            event("started %llu %u", (unsigned long long)in->started->job,
                  in->started->incarnation);
        } else if (in->body_case == COLOSSUS__MSG__BODY_EXITED) {
            const Colossus__Exited *x = in->exited;
            event("exited %llu %u code %d rank %d energy_j %.3f flops %.17g",
                  (unsigned long long)x->job, x->incarnation, x->exit_code, x->rank,
                  x->energy_j, x->flops);
            Colossus__ExitedAck a = COLOSSUS__EXITED_ACK__INIT;
            a.node = x->node;
            a.job = x->job;
            a.incarnation = x->incarnation;
            Colossus__Msg m = COLOSSUS__MSG__INIT;
            m.body_case = COLOSSUS__MSG__BODY_EXITED_ACK;
            m.exited_ack = &a;
            say(k, &m);
        } else if (in->body_case != COLOSSUS__MSG__BODY_HEARTBEAT) {
            event("message %d", (int)in->body_case);
        }
        cl_msg_free(in);
    }
}

static void one_connection(int fd)
{
    cl_client_t k = {.fd = fd}; /* the blocking framing, used from the server's side */
    snprintf(k.addr, sizeof k.addr, "client");
    cl_sess_init_handshake(&k.sess, true);
    event("connection");
    if (!strcmp(mode, "overloaded"))
        refuse(&k, COLOSSUS__REFUSED__WHY__OVERLOADED,
               "too many unauthenticated connections\n(FORGED line)");
    else if (!strcmp(mode, "agent") && handshake(&k) == 0)
        serve_agent(&k);
    else if (strcmp(mode, "close-at-accept") && strcmp(mode, "agent") && handshake(&k) == 0)
        serve(&k);
    k.fd = -1;
    cl_buf_free(&k.in);
    shutdown(fd, SHUT_WR); /* a FIN after what was sent, then wait for the peer's */
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char sink[256];
    while (read(fd, sink, sizeof sink) > 0) {
    }
    close(fd);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"mode", required_argument, 0, 'm'},
                                         {"launches", required_argument, 0, 'l'},
                                         {0, 0, 0, 0}};
    const char *keyfile = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'k')
            keyfile = optarg;
        else if (o == 'm')
            mode = optarg;
        else if (o == 'l')
            launches = optarg;
        else
            return 2;
    }
    cl_error_t err;
    if (!keyfile || !mode || cl_crypto_init() < 0 || cl_key_load(keyfile, key, &err) < 0) {
        fprintf(stderr, "usage: fake_controller --key FILE --mode MODE [--launches FILE]\n");
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 16) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
        perror("fake_controller: listen");
        return 1;
    }
    crypto_sign_keypair(id_pk, id_sk);
    event("port %d", ntohs(sa.sin_port));
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd >= 0) one_connection(fd);
    }
}
