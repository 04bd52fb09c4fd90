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
 *   views             answer every request with jobs, nodes, tenants and text whose names
 *                     hold newlines, escapes, bidi overrides and invalid UTF-8
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
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "proto/client.h"

/* A name that would break a table, forge a line and recolour a terminal. */
#define NASTY "evil\nFORGED line\t\x1b[31mred\xe2\x80\xae\xff\xfe\xc3"

static const char *mode, *launches;
static uint8_t key[CL_KEY_BYTES];

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

/* The server's half of the handshake (frame.h); 0 when the peer proved the key. */
static int handshake(cl_client_t *k)
{
    uint8_t sn[CL_NONCE_BYTES], proof[32];
    randombytes_buf(sn, sizeof sn);
    Colossus__Hello h = COLOSSUS__HELLO__INIT;
    h.proto_version = CL_PROTO_VERSION;
    h.nonce.data = sn;
    h.nonce.len = sizeof sn;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HELLO;
    m.hello = &h;
    say(k, &m);
    Colossus__Msg *in = NULL;
    cl_error_t err;
    if (cl_client_recv(k, &in, 5000, &err) < 0) return -1;
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
    m.body_case = COLOSSUS__MSG__BODY_AUTH_OK;
    m.auth_ok = &ok;
    say(k, &m);
    if (!strcmp(mode, "bad-proof")) return -1;
    cl_sess_rekey(&k->sess, key, sn, cn);
    return 0;
}

/* The answer of the views mode to one request. */
static void answer_views(cl_client_t *k, const Colossus__Request *q)
{
    static char *nodes[] = {"n1\nn2", "n3"}, *argv[] = {"sh", "-c", "echo\nFORGED"};
    Colossus__JobInfo j = COLOSSUS__JOB_INFO__INIT;
    j.id = 7;
    j.name = j.tenant = j.reason = NASTY;
    j.state = "running";
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
        bool more = !strcmp(mode, "error") || !strcmp(mode, "views");
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
    event("port %d", ntohs(sa.sin_port));
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd >= 0) one_connection(fd);
    }
}
