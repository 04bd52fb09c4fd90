/* ctl_test.h - a harness for unit tests of the controller object (controller.h) with no
 * sockets and no loop: a fake clock the test moves, the real SQLite journal behind the
 * fault-injecting store in a temporary directory, commits either at once (auto) or when the
 * test says (manual), captured log lines, and recording sinks standing for agents and
 * clients. Header-only (static functions), like launch_test.h. */
#ifndef COLOSSUS_TESTS_CTL_TEST_H
#define COLOSSUS_TESTS_CTL_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "controller/controller.h"
#include "store/fault.h"
#include "store/store.h"
#include "util/util.h"

/* Each test file uses some of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

#define T_MAX_MSGS 4096
#define T_MAX_LOG 512

typedef struct t_sink {
    ctl_sink_t sink; /* first */
    Colossus__Msg *msgs[T_MAX_MSGS];
    int n;
    int flushes;
    uint64_t commits_at_delivery; /* store commits written when the last message came */
    struct t_ctl *t;
    /* an agent's view */
    char name[64];
    uint32_t node; /* compact id from Registered */
    bool registered;
    uint32_t gpus;
} t_sink_t;

typedef struct t_pending {
    cl_store_batch_t *b;
    uint64_t seq;
} t_pending_t;

typedef struct t_ctl {
    ctl_t *c;
    cl_store_t *store; /* the fault store around SQLite */
    char dir[256];
    double wall;
    uint64_t mono;
    bool manual;         /* commits wait for t_commit() */
    t_pending_t pending; /* manual: the batch handed over, not yet committed */
    bool has_pending;
    char *log[T_MAX_LOG];
    int nlog;
    ctl_config_t cfg;
    uint32_t nodes, gpn;
    uint64_t next_req;
} t_ctl_t;

/* The tests' agents and clients hold the cluster key: an admin. */
static const ctl_principal_t t_admin = {.kind = CTL_PRINCIPAL_CLUSTER_KEY,
                                        .name = "test@local"};

static double t_wall(void *arg)
{
    return ((t_ctl_t *)arg)->wall;
}

static uint64_t t_mono(void *arg)
{
    return ((t_ctl_t *)arg)->mono;
}

static void t_log(void *arg, const char *line)
{
    t_ctl_t *t = arg;
    if (getenv("CTL_TEST_VERBOSE")) fprintf(stderr, "  ctl: %s\n", line);
    if (t->nlog < T_MAX_LOG) t->log[t->nlog++] = cl_xstrdup(line);
}

/* Commit b now through the store and tell the controller. */
static void t_commit_now(t_ctl_t *t, cl_store_batch_t *b, uint64_t seq)
{
    cl_error_t e;
    bool ok = cl_store_commit(t->store, b, &e) == 0;
    ctl_committed(t->c, b, seq, ok, &e);
}

static int t_hook_commit(void *arg, cl_store_batch_t *b, uint64_t seq)
{
    t_ctl_t *t = arg;
    if (t->manual) {
        assert_false(t->has_pending); /* one batch in flight at a time */
        t->pending = (t_pending_t){b, seq};
        t->has_pending = true;
        return 0;
    }
    t_commit_now(t, b, seq);
    return 0;
}

/* Manual mode: commit the batch in flight. false when none was. */
static bool t_commit(t_ctl_t *t)
{
    if (!t->has_pending) return false;
    t->has_pending = false;
    t_commit_now(t, t->pending.b, t->pending.seq);
    return true;
}

static bool t_logged(const t_ctl_t *t, const char *needle)
{
    for (int i = 0; i < t->nlog; i++)
        if (strstr(t->log[i], needle)) return true;
    return false;
}

static int t_count_logged(const t_ctl_t *t, const char *needle)
{
    int n = 0;
    for (int i = 0; i < t->nlog; i++)
        n += strstr(t->log[i], needle) != NULL;
    return n;
}

static const ctl_hooks_t t_hooks_proto = {.commit = t_hook_commit, .log = t_log};

/* A controller over nodes x gpn (one NVLink domain per node, 8 nodes a leaf) with its journal
 * in dir (made by t_setup; reused by t_restart). */
static void t_start(t_ctl_t *t)
{
    cl_error_t err;
    cl_topo_shape_t sh = {.nodes = t->nodes,
                          .gpus_per_node = t->gpn,
                          .nodes_per_domain = 1,
                          .nodes_per_leaf = 8,
                          .leaves_per_pod = 8};
    cl_topo_t *topo = cl_topo_create(&sh, "node", &err);
    assert_non_null(topo);
    cl_cluster_opts_t co;
    cl_cluster_opts_default(&co);
    cl_cluster_t *cl = cl_cluster_create(topo, &co, &err);
    assert_non_null(cl);
    ctl_clock_t clock = {t_wall, t_mono, t};
    ctl_hooks_t hooks = t_hooks_proto;
    hooks.arg = t;
    t->c = ctl_create(&t->cfg, cl, t->store, &clock, &hooks, &err);
    if (!t->c) fail_msg("ctl_create: %s", err.msg);
}

static t_ctl_t *t_setup(uint32_t nodes, uint32_t gpn)
{
    t_ctl_t *t = cl_xcalloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "%s/cl-ctl-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(t->dir));
    cl_error_t err;
    cl_store_t *inner = cl_store_open_sqlite(t->dir, false, &err);
    if (!inner) fail_msg("store: %s", err.msg);
    t->store = cl_store_fault_wrap(inner);
    t->wall = 1.8e9; /* a plausible epoch second */
    t->mono = 1000000;
    t->nodes = nodes;
    t->gpn = gpn;
    t->cfg = (ctl_config_t){.heartbeat_ms = 1000,
                            .dead_after_ms = 3000,
                            .keep_finished_s = 300,
                            .commit_give_up_s = 2};
    snprintf(t->cfg.checkpoint_root, sizeof t->cfg.checkpoint_root, "/ckpt");
    t_start(t);
    return t;
}

/* A crash and a restart: the controller object is gone (batches not committed are lost with
 * it) and a new one recovers from the same journal. */
static void t_restart(t_ctl_t *t)
{
    t->has_pending = false;
    ctl_destroy(t->c);
    t_start(t);
}

static void t_teardown(t_ctl_t *t)
{
    ctl_destroy(t->c);
    cl_store_close(t->store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < t->nlog; i++)
        free(t->log[i]);
    free(t);
}

/* ---- time ---- */

/* Move both clocks on by ms, running the controller's timers as a loop would (every tick of
 * at most 50 ms, each followed by the end of a loop turn). */
static void t_advance(t_ctl_t *t, uint64_t ms)
{
    while (ms) {
        uint64_t step = ms < 50 ? ms : 50;
        t->mono += step;
        t->wall += step / 1000.0;
        ms -= step;
        ctl_timers(t->c);
        ctl_turn_end(t->c, true);
    }
}

static void t_turn(t_ctl_t *t)
{
    ctl_turn_end(t->c, true);
}

/* ---- sinks ---- */

static void t_deliver(ctl_sink_t *s, const uint8_t *msg, size_t len)
{
    t_sink_t *k = (t_sink_t *)s;
    Colossus__Msg *m = colossus__msg__unpack(NULL, len, msg);
    assert_non_null(m);
    assert_true(k->n < T_MAX_MSGS);
    k->msgs[k->n++] = m;
    k->commits_at_delivery = cl_store_fault_written(k->t->store);
    if (m->body_case == COLOSSUS__MSG__BODY_REGISTERED && m->registered->ok) {
        k->node = m->registered->node;
        k->registered = true;
    }
}

static void t_flush(ctl_sink_t *s)
{
    ((t_sink_t *)s)->flushes++;
}

static void t_drop(t_sink_t *k)
{
    for (int i = 0; i < k->n; i++)
        colossus__msg__free_unpacked(k->msgs[i], NULL);
    k->n = 0;
}

static void t_release(ctl_sink_t *s)
{
    t_drop((t_sink_t *)s);
    free(s);
}

static const ctl_sink_ops_t t_sink_ops = {"test", t_deliver, t_flush, t_release, NULL, true};

static t_sink_t *t_sink(t_ctl_t *t, const char *peer)
{
    t_sink_t *k = cl_xcalloc(1, sizeof *k);
    ctl_sink_init(&k->sink, &t_sink_ops, peer);
    k->t = t;
    return k;
}

/* The transport lost the sink: tell the controller and drop the transport's reference. */
static void t_close(t_ctl_t *t, t_sink_t *k)
{
    ctl_sink_closed(t->c, &k->sink);
    ctl_sink_unref(&k->sink);
}

/* The first message of this kind the sink got, taken out of its list (caller frees with
 * colossus__msg__free_unpacked), or NULL. */
static Colossus__Msg *t_take(t_sink_t *k, Colossus__Msg__BodyCase kind)
{
    for (int i = 0; i < k->n; i++)
        if (k->msgs[i]->body_case == kind) {
            Colossus__Msg *m = k->msgs[i];
            memmove(k->msgs + i, k->msgs + i + 1, (size_t)(k->n - i - 1) * sizeof *k->msgs);
            k->n--;
            return m;
        }
    return NULL;
}

static int t_count(const t_sink_t *k, Colossus__Msg__BodyCase kind)
{
    int n = 0;
    for (int i = 0; i < k->n; i++)
        n += k->msgs[i]->body_case == kind;
    return n;
}

/* ---- agents ---- */

/* m from the agent (or relay) k, as the cluster key: taken without an error. */
static void t_peer_send(t_ctl_t *t, t_sink_t *k, const Colossus__Msg *m)
{
    cl_error_t why;
    assert_int_equal(ctl_peer_msg(t->c, &t_admin, &k->sink, m, &why), 0);
}

typedef struct t_running {
    uint64_t job;
    uint32_t inc;
} t_running_t;

/* Register a node on its own sink, reporting `running` launches. */
static void t_register_on(t_ctl_t *t, t_sink_t *a, const t_running_t *running, size_t nrun)
{
    Colossus__Register r = COLOSSUS__REGISTER__INIT;
    r.name = a->name;
    Colossus__Gpu g[16], *gp[16];
    for (uint32_t i = 0; i < a->gpus && i < 16; i++) {
        colossus__gpu__init(&g[i]);
        g[i].index = i;
        gp[i] = &g[i];
    }
    r.gpus = gp;
    r.n_gpus = a->gpus;
    char addr[64];
    snprintf(addr, sizeof addr, "10.0.0.%d", (int)(a->name[strlen(a->name) - 1] - '0'));
    r.addr = addr;
    Colossus__RunningJob rj[8], *rp[8];
    for (size_t i = 0; i < nrun && i < 8; i++) {
        colossus__running_job__init(&rj[i]);
        rj[i].job = running[i].job;
        rj[i].incarnation = running[i].inc;
        rp[i] = &rj[i];
    }
    r.running = rp;
    r.n_running = nrun;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTER;
    m.register_ = &r;
    t_peer_send(t, a, &m);
    t_turn(t);
}

/* A connection from peer for node name with gpus GPUs, not registered yet. */
static t_sink_t *t_node_sink(t_ctl_t *t, const char *peer, const char *name, uint32_t gpus)
{
    t_sink_t *a = t_sink(t, peer);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->gpus = gpus;
    return a;
}

/* Node name registered from peer (another agent's address, a relay's). */
static t_sink_t *t_agent_on(t_ctl_t *t, const char *peer, const char *name, uint32_t gpus)
{
    t_sink_t *a = t_node_sink(t, peer, name, gpus);
    t_register_on(t, a, NULL, 0);
    return a;
}

static t_sink_t *t_agent(t_ctl_t *t, const char *name, uint32_t gpus)
{
    return t_agent_on(t, name, name, gpus);
}

/* A heartbeat of agent a, carrying its health report h (NULL: none). */
static void t_heartbeat_health(t_ctl_t *t, t_sink_t *a, Colossus__NodeHealth *h)
{
    Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
    uint32_t id = a->node;
    hb.nodes = &id;
    hb.n_nodes = 1;
    hb.health = h ? &h : NULL;
    hb.n_health = h != NULL;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    t_peer_send(t, a, &m);
}

static void t_heartbeat(t_ctl_t *t, t_sink_t *a)
{
    t_heartbeat_health(t, a, NULL);
}

/* e from agent a (e->node set here), then the turn's end. */
static void t_exited_msg(t_ctl_t *t, t_sink_t *a, Colossus__Exited *e)
{
    e->node = a->node;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_EXITED;
    m.exited = e;
    t_peer_send(t, a, &m);
    t_turn(t);
}

static void t_exited(t_ctl_t *t, t_sink_t *a, uint64_t job, uint32_t inc, int code, int rank)
{
    Colossus__Exited e = COLOSSUS__EXITED__INIT;
    e.job = job;
    e.incarnation = inc;
    e.exit_code = code;
    e.rank = rank;
    t_exited_msg(t, a, &e);
}

static void t_started(t_ctl_t *t, t_sink_t *a, uint64_t job, uint32_t inc)
{
    Colossus__Started s = COLOSSUS__STARTED__INIT;
    s.node = a->node;
    s.job = job;
    s.incarnation = inc;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_STARTED;
    m.started = &s;
    t_peer_send(t, a, &m);
    t_turn(t);
}

/* ---- clients ---- */

static uint64_t t_request(t_ctl_t *t, t_sink_t *cli, Colossus__Request *r)
{
    r->req = ++t->next_req;
    ctl_request(t->c, &t_admin, r, &cli->sink);
    t_turn(t);
    return r->req;
}

static uint64_t t_submit(t_ctl_t *t, t_sink_t *cli, uint32_t nodes, uint32_t gpn,
                         uint32_t max_restarts)
{
    Colossus__SubmitReq s = COLOSSUS__SUBMIT_REQ__INIT;
    char *argv[] = {"train", "--steps", "10"};
    s.nodes = nodes;
    s.gpus_per_node = gpn;
    s.max_restarts = max_restarts;
    s.argv = argv;
    s.n_argv = 3;
    s.cwd = "/work";
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r.submit = &s;
    return t_request(t, cli, &r);
}

/* The response to req (taken out), or NULL. */
static Colossus__Msg *t_response(t_sink_t *cli, uint64_t req)
{
    for (int i = 0; i < cli->n; i++)
        if (cli->msgs[i]->body_case == COLOSSUS__MSG__BODY_RESPONSE &&
            cli->msgs[i]->response->req == req) {
            Colossus__Msg *m = cli->msgs[i];
            memmove(cli->msgs + i, cli->msgs + i + 1,
                    (size_t)(cli->n - i - 1) * sizeof *cli->msgs);
            cli->n--;
            return m;
        }
    return NULL;
}

/* show JOB: the job's state name (static storage), or "" when the answer was an error. */
static const char *t_job_state(t_ctl_t *t, uint64_t job, char *reason, size_t rlen)
{
    static char state[32];
    t_sink_t *cli = t_sink(t, "show");
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
    r.show = job;
    uint64_t req = t_request(t, cli, &r);
    if (t->manual) t_commit(t);
    Colossus__Msg *m = t_response(cli, req);
    state[0] = 0;
    if (m && m->response->ok && m->response->n_jobs == 1) {
        snprintf(state, sizeof state, "%s", m->response->jobs[0]->state);
        if (reason) snprintf(reason, rlen, "%s", m->response->jobs[0]->reason);
    }
    if (m) colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    return state;
}

/* nodes: the named node's state ("" when not listed). */
static const char *t_node_state(t_ctl_t *t, const char *name)
{
    static char state[32];
    t_sink_t *cli = t_sink(t, "nodes");
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_NODES;
    r.nodes = true;
    uint64_t req = t_request(t, cli, &r);
    if (t->manual) t_commit(t);
    Colossus__Msg *m = t_response(cli, req);
    state[0] = 0;
    for (size_t i = 0; m && i < m->response->n_nodes; i++)
        if (!strcmp(m->response->nodes[i]->name, name))
            snprintf(state, sizeof state, "%s", m->response->nodes[i]->state);
    if (m) colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    return state;
}

#endif
