/* agent.c - the node agent daemon: finds the node's GPUs, registers with the controller,
 * heartbeats, launches and supervises job ranks (launch.h), obeys stop and fence orders, serves
 * rank logs, and keeps ranks running while the controller is away. With --hollow N it plays N
 * simulated nodes over its one connection (batched heartbeats, simulated launches), for load
 * tests of the real controller, as Kubernetes' kubemark does. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <uv.h>

#include "agent/agent_health.h"
#include "agent/filepool.h"
#include "agent/launch.h"
#include "gpu/nvml.h"
#include "proto/client.h"
#include "proto/uvconn.h"

/* The NVML inventory comes from src/gpu; referenced weakly so that a binary built without that
 * module still links and says so. */
int cl_nvml_inventory(cl_gpu_inv_t *out, int max, cl_error_t *err) __attribute__((weak));

#define AG_MAX_GPUS 64
#define AG_LOG_MAX (3u << 20) /* most log bytes returned per fetch (the tail) */

typedef struct agent agent_t;
typedef struct ag_node {
    char name[64];
    uint32_t id; /* compact id from the controller, once registered */
    bool registered;
    struct ag_launch *launches; /* this node's, through node_next */
} ag_node_t;

/* Launches are on two lists: the agent's (next/prev) and their node's (node_next/node_prev),
 * so that finding one is a walk of its node's few, not of every launch of the agent: a
 * hollow agent carrying 68,750 nodes of a 65,536-node gang holds tens of thousands. */
typedef struct ag_launch {
    struct ag_launch *next, *prev, *node_next, *node_prev;
    agent_t *agent;
    int node;        /* index into agent->nodes */
    uv_timer_t *sim; /* hollow: the simulated run */
    uint64_t job;
    uint32_t incarnation;
    cl_launch_t *l;
    bool exited, stopping;
    int code, rank;
    char log_dir[PATH_MAX];
} ag_launch_t;

struct agent {
    uv_loop_t *loop;
    char controller[256], name[64], work_dir[2048], addr[64];
    uint8_t key[CL_KEY_BYTES];
    cl_gpu_inv_t gpus[AG_MAX_GPUS];
    int ngpus;
    cl_filepool_t *logpool; /* spare rank log files (filepool.h) */
    cl_uconn_t *conn;       /* NULL while disconnected */
    bool quitting;
    ag_node_t *nodes;
    uint32_t *id_tab, *id_keys; /* node_index() */
    size_t id_cap, id_used;     /* one, or --hollow N */
    int nnodes;
    uint32_t hollow_ms; /* hollow: how long a simulated launch runs */
    bool hollow;
    uint32_t hb_ms, dead_ms;
    bool hb_started;
    int reg_next, reg_outstanding; /* registration window on this connection */
    uv_timer_t hb_timer, reconnect_timer;
    uv_signal_t sigterm, sigint;
    int backoff_ms;
    ag_launch_t *launches;
    ag_health_t *health; /* GPU health (agent_health.c); NULL with --fake-gpus */
};

static const char *WHO = "agent";

static void send_msg(agent_t *a, Colossus__Msg *m)
{
    if (a->conn && !a->conn->closing) {
        cl_uconn_send(a->conn, m);
        cl_uconn_flush(a->conn);
    }
}

/* Node ids to indexes: open addressing on id_keys, at least 2 slots per node, value index
 * + 1 in id_tab (0: empty). A stale slot (an id the controller has since given another
 * node) fails the check in node_index(). */
static uint32_t *id_slot(agent_t *a, uint32_t id)
{
    size_t mask = a->id_cap - 1, h = (id * 2654435761u) & mask;
    while (a->id_tab[h] && a->id_keys[h] != id)
        h = (h + 1) & mask;
    return &a->id_tab[h];
}

static void id_bind(agent_t *a, uint32_t id, int index)
{
    if (!a->id_tab) return;
    uint32_t *slot = id_slot(a, id);
    if (!*slot && ++a->id_used > a->id_cap / 2) {
        /* Ids churned (controllers with fresh state): keep only the current ones. */
        memset(a->id_tab, 0, a->id_cap * sizeof *a->id_tab);
        a->id_used = 0;
        for (int i = 0; i < a->nnodes; i++)
            if (a->nodes[i].registered && i != index) id_bind(a, a->nodes[i].id, i);
        slot = id_slot(a, id);
        a->id_used++;
    }
    a->id_keys[slot - a->id_tab] = id;
    *slot = (uint32_t)index + 1;
}

static int node_index(agent_t *a, uint32_t id)
{
    if (!a->id_tab) { /* out of memory at start: the slow way */
        for (int i = 0; i < a->nnodes; i++)
            if (a->nodes[i].registered && a->nodes[i].id == id) return i;
        return -1;
    }
    uint32_t v = *id_slot(a, id);
    int i = (int)v - 1;
    return v && a->nodes[i].registered && a->nodes[i].id == id ? i : -1;
}

static void send_exited(agent_t *a, ag_launch_t *x)
{
    if (!a->nodes[x->node].registered) return;
    Colossus__Exited e = COLOSSUS__EXITED__INIT;
    e.node = a->nodes[x->node].id;
    e.job = x->job;
    e.incarnation = x->incarnation;
    e.exit_code = x->code;
    e.rank = x->rank;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_EXITED;
    m.exited = &e;
    send_msg(a, &m);
}

/* Every rank of launch x has exec'd: the controller's job becomes running (running_time). */
static void send_started(agent_t *a, ag_launch_t *x)
{
    if (!a->nodes[x->node].registered) return;
    Colossus__Started s = COLOSSUS__STARTED__INIT;
    s.node = a->nodes[x->node].id;
    s.job = x->job;
    s.incarnation = x->incarnation;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_STARTED;
    m.started = &s;
    send_msg(a, &m);
}

static void launch_link(agent_t *a, ag_launch_t *x)
{
    ag_node_t *n = &a->nodes[x->node];
    x->prev = NULL;
    x->next = a->launches;
    if (a->launches) a->launches->prev = x;
    a->launches = x;
    x->node_prev = NULL;
    x->node_next = n->launches;
    if (n->launches) n->launches->node_prev = x;
    n->launches = x;
}

static void launch_remove(agent_t *a, ag_launch_t *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        a->launches = x->next;
    if (x->next) x->next->prev = x->prev;
    if (x->node_prev)
        x->node_prev->node_next = x->node_next;
    else
        a->nodes[x->node].launches = x->node_next;
    if (x->node_next) x->node_next->node_prev = x->node_prev;
    cl_launch_destroy(x->l);
    if (x->sim) uv_close((uv_handle_t *)x->sim, (uv_close_cb)free);
    free(x);
}

static void maybe_quit(agent_t *a);
static void ag_exit_after_poll(agent_t *a, ag_launch_t *x);

static void on_launch_done(cl_launch_t *l, int result, int failed_rank, void *arg)
{
    ag_launch_t *x = arg;
    agent_t *a = x->agent;
    x->exited = true;
    x->code = result;
    x->rank = failed_rank;
    cl_daemon_log(WHO, "job %llu incarnation %u ended: %s%d%s", (unsigned long long)x->job,
                  x->incarnation, result ? "exit " : "success ", result,
                  x->stopping ? " (stopped)" : "");
    cl_launch_destroy(l);
    x->l = NULL;
    if (a->quitting) {
        maybe_quit(a);
        return;
    }
    if (result != 0 && !x->stopping && a->health) {
        ag_exit_after_poll(a,
                           x); /* the GPU fault that killed it reaches the controller first */
        return;
    }
    send_exited(a, x);
}

static ag_launch_t *launch_find(agent_t *a, int node, uint64_t job, uint32_t inc)
{
    if (node < 0) return NULL;
    for (ag_launch_t *x = a->nodes[node].launches; x; x = x->node_next)
        if (x->job == job && x->incarnation == inc) return x;
    return NULL;
}

/* Hollow nodes: a launch runs no process; it ends after hollow_ms (or when stopped). */
static void sim_done(agent_t *a, ag_launch_t *x, int code)
{
    uv_timer_stop(x->sim);
    x->exited = true;
    x->code = code;
    x->rank = code ? 0 : -1;
    if (a->quitting) {
        maybe_quit(a);
        return;
    }
    send_exited(a, x);
}

static void on_sim_timer(uv_timer_t *t)
{
    ag_launch_t *x = t->data;
    sim_done(x->agent, x, 0);
}

static void launch_stop(ag_launch_t *x, const char *why)
{
    if (x->exited || x->stopping) return;
    x->stopping = true;
    if (x->sim) {
        sim_done(x->agent, x, 128 + 15);
        return;
    }
    cl_daemon_log(WHO, "stopping job %llu incarnation %u: %s", (unsigned long long)x->job,
                  x->incarnation, why);
    cl_launch_stop(x->l);
}

/* A job's working directory on this node when the submitter's does not exist here (made
 * only then). */
static void job_dir(agent_t *a, uint64_t job, char *buf, size_t len)
{
    snprintf(buf, len, "%s/jobs/%llu", a->work_dir, (unsigned long long)job);
}

/* Rank logs: WORK/logs/job<ID>.rank-<R>.log, one flat directory, so that a launch creates
 * one file per rank and no directory (directory creation dominated the agent's CPU time on
 * short jobs; docs/benchmarks.md). */
static void log_dir(agent_t *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s/logs", a->work_dir);
}

static void log_prefix(uint64_t job, char *buf, size_t len)
{
    snprintf(buf, len, "job%llu.", (unsigned long long)job);
}

static void launch_now(agent_t *a, const Colossus__Launch *L);

static void launch_go(const Colossus__Launch *L, void *arg)
{
    launch_now(arg, L);
}

static void handle_launch(agent_t *a, const Colossus__Launch *L)
{
    if (a->health && node_index(a, L->node) >= 0 &&
        !launch_find(a, node_index(a, L->node), L->job, L->incarnation) &&
        ag_health_hold_launch(a->health, L, launch_go, a))
        return; /* launched once the pre-job gpu check passed */
    launch_now(a, L);
}

static void launch_now(agent_t *a, const Colossus__Launch *L)
{
    int node = node_index(a, L->node);
    if (node < 0) {
        cl_daemon_log(WHO, "launch for node %u, which this agent does not carry", L->node);
        return;
    }
    if (launch_find(a, node, L->job, L->incarnation))
        return; /* a duplicate (resent after a reconnect) */
    /* Fencing: an older incarnation of the job on this node must not run beside this one. */
    for (ag_launch_t *x = a->nodes[node].launches; x; x = x->node_next)
        if (x->job == L->job && x->incarnation < L->incarnation)
            launch_stop(x, "superseded by a newer incarnation");
    ag_launch_t *x = calloc(1, sizeof *x);
    if (!x) return;
    x->agent = a;
    x->node = node;
    if (a->hollow) {
        x->job = L->job;
        x->incarnation = L->incarnation;
        x->sim = malloc(sizeof *x->sim);
        if (!x->sim) {
            free(x);
            return;
        }
        uv_timer_init(a->loop, x->sim);
        x->sim->data = x;
        uv_timer_start(x->sim, on_sim_timer, a->hollow_ms, 0);
        launch_link(a, x);
        send_started(a, x);
        return;
    }
    x->job = L->job;
    x->incarnation = L->incarnation;
    char dir[3000], prefix[32];
    job_dir(a, L->job, dir, sizeof dir);
    log_dir(a, x->log_dir, sizeof x->log_dir);
    log_prefix(L->job, prefix, sizeof prefix);
    char **argv = calloc(L->n_argv + 1, sizeof *argv);
    char **env = calloc(L->n_env + 1, sizeof *env);
    uint32_t gpus[AG_MAX_GPUS];
    uint32_t nr = L->ranks_per_node;
    cl_error_t err = {""};
    int rc = -1;
    if (!argv || !env || nr == 0 || nr > AG_MAX_GPUS || L->n_gpus != nr || L->n_argv == 0) {
        cl_err(&err, "bad launch order (%u ranks, %zu gpus, %zu args)", nr, L->n_gpus,
               L->n_argv);
    } else {
        for (size_t i = 0; i < L->n_argv; i++)
            argv[i] = L->argv[i];
        for (size_t i = 0; i < L->n_env; i++)
            env[i] = L->env[i];
        for (uint32_t i = 0; i < nr; i++)
            gpus[i] = L->gpus[i];
        const char *cwd = L->cwd[0] ? L->cwd : dir;
        struct stat sb;
        if (L->cwd[0] && (stat(L->cwd, &sb) < 0 || !S_ISDIR(sb.st_mode)))
            cwd = dir; /* the submitter's directory does not exist on this node */
        cl_launch_spec_t sp = {
            .job_id = L->job,
            .incarnation = L->incarnation,
            .restart = L->restart,
            .node_rank = L->node_rank,
            .nnodes = L->nnodes,
            .local_ranks = nr,
            .gpus = gpus,
            .master_addr = L->master_addr,
            .master_port = (uint16_t)L->master_port,
            .argv = argv,
            .env_extra = env,
            .work_dir = cwd,
            .checkpoint_dir = L->checkpoint_dir[0] ? L->checkpoint_dir : NULL,
            .log_dir = x->log_dir,
            .log_prefix = prefix,
            .log_pool = a->logpool,
            .grace_ms = 3000,
        };
        rc = cl_launch_start(a->loop, &sp, on_launch_done, x, &x->l, &err);
    }
    free(argv);
    free(env);
    launch_link(a, x);
    if (rc < 0) {
        /* Could not start: report it as a failure of this node's first rank (exit 127 as a
         * shell would), so the job fails as a user error instead of hanging. */
        cl_daemon_log(WHO, "job %llu: launch failed: %s", (unsigned long long)L->job, err.msg);
        x->exited = true;
        x->code = 127;
        x->rank = (int)(L->node_rank * nr);
        FILE *f;
        char path[PATH_MAX + 32];
        if (cl_launch_log_path(x->log_dir, prefix, (uint32_t)x->rank, path, sizeof path) == 0) {
            cl_mkdir_p(x->log_dir, 0755);
            if ((f = fopen(path, "a"))) {
                fprintf(f, "colossus: cannot launch: %s\n", err.msg);
                fclose(f);
            }
        }
        send_exited(a, x);
        return;
    }
    send_started(a, x);
    cl_daemon_log(WHO, "job %llu incarnation %u: started %u ranks (node rank %u of %u)",
                  (unsigned long long)L->job, L->incarnation, nr, L->node_rank, L->nnodes);
}

static void handle_fence(agent_t *a, const Colossus__Fence *f)
{
    ag_launch_t *next;
    int node = node_index(a, f->node);
    if (a->health)
        ag_health_drop_held(a->health, f->node, 0, 0); /* not reported: never to be launched */
    for (ag_launch_t *x = node >= 0 ? a->nodes[node].launches : NULL; x; x = next) {
        next = x->node_next;
        bool keep = false;
        for (size_t i = 0; i < f->n_keep; i++)
            if (f->keep[i]->job == x->job && f->keep[i]->incarnation == x->incarnation)
                keep = true;
        if (keep) {
            if (x->exited)
                send_exited(a, x); /* not acknowledged before the controller went away */
            continue;
        }
        if (x->exited) {
            cl_daemon_log(WHO, "fence: forgetting stale job %llu incarnation %u",
                          (unsigned long long)x->job, x->incarnation);
            launch_remove(a, x);
        } else {
            launch_stop(x, "fenced: the controller no longer runs this incarnation here");
        }
    }
}

static void handle_log_fetch(agent_t *a, const Colossus__LogFetch *q)
{
    Colossus__LogData d = COLOSSUS__LOG_DATA__INIT;
    d.req = q->req;
    if (a->hollow) {
        d.error = "hollow nodes keep no logs";
        Colossus__Msg hm = COLOSSUS__MSG__INIT;
        hm.body_case = COLOSSUS__MSG__BODY_LOG_DATA;
        hm.log_data = &d;
        send_msg(a, &hm);
        return;
    }
    char ldir[3000], prefix[32], path[3200];
    log_dir(a, ldir, sizeof ldir);
    log_prefix(q->job, prefix, sizeof prefix);
    uint8_t *buf = NULL;
    char err[PATH_MAX + 100] = "";
    cl_launch_log_path(ldir, prefix, q->rank, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, sizeof err, "no log for rank %u of job %llu on node %s", q->rank,
                 (unsigned long long)q->job, a->name);
    } else {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        long from = size > (long)AG_LOG_MAX ? size - (long)AG_LOG_MAX : 0;
        fseek(f, from, SEEK_SET);
        buf = malloc((size_t)(size - from) + 1);
        size_t n = buf ? fread(buf, 1, (size_t)(size - from), f) : 0;
        fclose(f);
        d.ok = buf != NULL;
        d.data.data = buf;
        d.data.len = n;
    }
    d.error = err;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_LOG_DATA;
    m.log_data = &d;
    send_msg(a, &m);
    free(buf);
}

static void send_register_node(agent_t *a, int node)
{
    Colossus__Register r = COLOSSUS__REGISTER__INIT;
    r.handle = (uint32_t)node;
    r.name = a->nodes[node].name;
    r.addr = a->addr;
    Colossus__Gpu g[AG_MAX_GPUS], *gp[AG_MAX_GPUS];
    for (int i = 0; i < a->ngpus; i++) {
        colossus__gpu__init(&g[i]);
        g[i].index = a->gpus[i].index;
        g[i].name = a->gpus[i].name;
        g[i].uuid = a->gpus[i].uuid;
        g[i].mem_total_bytes = a->gpus[i].mem_total_bytes;
        g[i].clique = a->gpus[i].clique;
        gp[i] = &g[i];
    }
    r.gpus = gp;
    r.n_gpus = (size_t)a->ngpus;
    size_t n = 0;
    for (ag_launch_t *x = a->nodes[node].launches; x; x = x->node_next)
        n++;
    Colossus__RunningJob *rj = calloc(n + 1, sizeof *rj), **rp = calloc(n + 1, sizeof *rp);
    if (!rj || !rp) {
        free(rj);
        free(rp);
        return;
    }
    size_t i = 0;
    for (ag_launch_t *x = a->nodes[node].launches; x; x = x->node_next) {
        colossus__running_job__init(&rj[i]);
        rj[i].job = x->job;
        rj[i].incarnation = x->incarnation;
        rj[i].exited = x->exited;
        rj[i].exit_code = x->code;
        rp[i] = &rj[i];
        i++;
    }
    r.running = rp;
    r.n_running = n;
    char domain[80] = "";
    if (a->health) {
        r.health = ag_health_report(a->health, 0, true);
        r.nvlink_unready = ag_health_nvlink_domain(a->health, domain, sizeof domain) < 0;
        r.nvlink_domain = domain;
    }
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTER;
    m.register_ = &r;
    if (a->conn && !a->conn->closing) cl_uconn_send(a->conn, &m);
    ag_health_report_free(r.health);
    free(rj);
    free(rp);
}

/* Registrations go out AG_REG_WINDOW at a time, the next ones as replies come back: the
 * controller reads a connection in order, so a heartbeat queued behind 68,750 Registers
 * would reach it only after all of them, seconds after the nodes registered first were
 * due a heartbeat (550,000 hollow nodes flapped that way). */
#define AG_REG_WINDOW 512

static void register_more(agent_t *a)
{
    int sent = 0;
    while (a->reg_next < a->nnodes && a->reg_outstanding < AG_REG_WINDOW) {
        send_register_node(a, a->reg_next++);
        a->reg_outstanding++;
        sent++;
    }
    if (sent && a->conn) cl_uconn_flush(a->conn);
}

static void send_register(agent_t *a)
{
    a->reg_next = a->reg_outstanding = 0;
    register_more(a);
}

static void on_heartbeat(uv_timer_t *t)
{
    agent_t *a = t->data;
    /* One batched frame for every node this connection carries. */
    uint32_t *ids = malloc((size_t)a->nnodes * sizeof *ids);
    size_t n = 0;
    for (int i = 0; ids && i < a->nnodes; i++)
        if (a->nodes[i].registered) ids[n++] = a->nodes[i].id;
    if (n) {
        Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
        hb.nodes = ids;
        hb.n_nodes = n;
        /* Telemetry rides on the heartbeat (one node carries GPUs: hollow ones have none). */
        Colossus__NodeHealth *nh =
            a->health ? ag_health_report(a->health, ids[0], false) : NULL;
        if (nh) {
            hb.health = &nh;
            hb.n_health = 1;
        }
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
        m.heartbeat = &hb;
        send_msg(a, &m);
        ag_health_report_free(nh);
    }
    free(ids);
}

static void on_msg(cl_uconn_t *c, Colossus__Msg *m)
{
    agent_t *a = c->data;
    switch (m->body_case) {
    case COLOSSUS__MSG__BODY_REGISTERED: {
        Colossus__Registered *r = m->registered;
        if (r->handle >= (uint32_t)a->nnodes) {
            cl_uconn_close(c, "registration reply for an unknown handle");
            return;
        }
        ag_node_t *n = &a->nodes[r->handle];
        if (a->reg_outstanding > 0) a->reg_outstanding--;
        register_more(a);
        if (!r->ok) {
            cl_daemon_log(WHO, "registration of %s refused: %s", n->name, r->error);
            if (a->nnodes == 1) cl_uconn_close(c, NULL);
            return;
        }
        n->id = r->node;
        n->registered = true;
        id_bind(a, n->id, (int)r->handle);
        a->hb_ms = r->heartbeat_ms ? r->heartbeat_ms : 1000;
        a->dead_ms = r->dead_after_ms;
        a->backoff_ms = 100;
        if (a->nnodes == 1 || r->handle == 0 || r->handle + 1 == (uint32_t)a->nnodes)
            cl_daemon_log(WHO, "registered %s as node %u, heartbeat every %u ms", n->name,
                          n->id, a->hb_ms);
        if (!a->hb_started) {
            a->hb_started = true;
            uv_timer_start(&a->hb_timer, on_heartbeat, 0, a->hb_ms);
        }
        break;
    }
    case COLOSSUS__MSG__BODY_LAUNCH:
        handle_launch(a, m->launch);
        break;
    case COLOSSUS__MSG__BODY_STOP: {
        int node = node_index(a, m->stop->node);
        if (a->health)
            ag_health_drop_held(a->health, m->stop->node, m->stop->job, m->stop->incarnation);
        ag_launch_t *next;
        for (ag_launch_t *x = node >= 0 ? a->nodes[node].launches : NULL; x; x = next) {
            next = x->node_next; /* a hollow launch may end (not be freed) right away */
            if (x->job == m->stop->job && x->incarnation <= m->stop->incarnation)
                launch_stop(x, "stop ordered by the controller");
        }
        break;
    }
    case COLOSSUS__MSG__BODY_EXITED_ACK: {
        ag_launch_t *x = launch_find(a, node_index(a, m->exited_ack->node), m->exited_ack->job,
                                     m->exited_ack->incarnation);
        if (x && x->exited) launch_remove(a, x);
        break;
    }
    case COLOSSUS__MSG__BODY_FENCE:
        handle_fence(a, m->fence);
        break;
    case COLOSSUS__MSG__BODY_LOG_FETCH:
        handle_log_fetch(a, m->log_fetch);
        break;
    case COLOSSUS__MSG__BODY_CHECK_ORDER:
        if (a->health && node_index(a, m->check_order->node) >= 0)
            ag_health_check_order(a->health, m->check_order);
        else
            cl_daemon_log(WHO, "gpu check ordered, but this agent has no NVML GPUs to check");
        break;
    default:
        cl_daemon_log(WHO, "ignoring unexpected message %d from the controller", m->body_case);
    }
}

static void try_connect(uv_timer_t *t);

static void on_conn_closed(cl_uconn_t *c)
{
    agent_t *a = c->data;
    free(c);
    a->conn = NULL;
    for (int i = 0; i < a->nnodes; i++)
        a->nodes[i].registered = false;
    a->hb_started = false;
    uv_timer_stop(&a->hb_timer);
    if (a->quitting) return;
    cl_daemon_log(WHO, "lost the controller; ranks keep running; reconnecting");
    uv_timer_start(&a->reconnect_timer, try_connect, (uint64_t)a->backoff_ms, 0);
}

static void try_connect(uv_timer_t *t)
{
    agent_t *a = t->data;
    cl_error_t err;
    cl_client_t *cc = cl_client_connect(a->controller, a->key, COLOSSUS__ROLE__ROLE_AGENT,
                                        a->name, 2000, &err);
    if (!cc) {
        static char last[300];
        if (strcmp(last, err.msg)) { /* one line per kind of failure, not one per try */
            cl_daemon_log(WHO, "%s", err.msg);
            snprintf(last, sizeof last, "%s", err.msg);
        }
        a->backoff_ms = a->backoff_ms < 1000 ? a->backoff_ms * 2 : 1000;
        uv_timer_start(&a->reconnect_timer, try_connect, (uint64_t)a->backoff_ms, 0);
        return;
    }
    /* The address our ranks are reachable at: this end of the controller connection. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!a->addr[0] && getsockname(cc->fd, (struct sockaddr *)&ss, &sl) == 0 &&
        ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a->addr, sizeof a->addr);
    cl_uconn_t *c = malloc(sizeof *c);
    if (!c || cl_uconn_init(a->loop, c, on_msg, on_conn_closed, a) < 0 ||
        uv_tcp_open(&c->tcp, cc->fd) < 0) {
        cl_daemon_log(WHO, "cannot set up the controller connection");
        cl_client_close(cc);
        free(c);
        uv_timer_start(&a->reconnect_timer, try_connect, 1000, 0);
        return;
    }
    c->sess = cc->sess;
    if (cc->in.len) cl_buf_append(&c->in, cc->in.p, cc->in.len);
    cc->fd = -1; /* now owned by libuv */
    cl_client_close(cc);
    a->conn = c;
    cl_uconn_start(c);
    cl_daemon_log(WHO, "connected to %s", a->controller);
    send_register(a);
}

static void maybe_quit(agent_t *a)
{
    for (ag_launch_t *x = a->launches; x; x = x->next)
        if (!x->exited) return;
    uv_timer_stop(&a->hb_timer);
    uv_timer_stop(&a->reconnect_timer);
    uv_close((uv_handle_t *)&a->hb_timer, NULL);
    uv_close((uv_handle_t *)&a->reconnect_timer, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    ag_health_destroy(a->health);
    a->health = NULL;
    if (a->conn) cl_uconn_close(a->conn, NULL);
}

/* A rank failed: report the exit after a fresh NVML poll (and its heartbeat). The launch is
 * found again by its ids: a fence may forget it meanwhile. */
typedef struct ag_pending_exit {
    agent_t *a;
    int node;
    uint64_t job;
    uint32_t inc;
} ag_pending_exit_t;

static void exit_after_poll(void *arg)
{
    ag_pending_exit_t *p = arg;
    agent_t *a = p->a;
    ag_launch_t *x = launch_find(a, p->node, p->job, p->inc);
    free(p);
    if (!x || a->quitting) return;
    on_heartbeat(&a->hb_timer);
    send_exited(a, x);
}

static void ag_exit_after_poll(agent_t *a, ag_launch_t *x)
{
    ag_pending_exit_t *p = malloc(sizeof *p);
    if (!p) {
        send_exited(a, x);
        return;
    }
    *p = (ag_pending_exit_t){a, x->node, x->job, x->incarnation};
    ag_health_poll_then(a->health, exit_after_poll, p);
}

static void health_urgent(void *arg)
{
    agent_t *a = arg;
    if (a->hb_started) on_heartbeat(&a->hb_timer);
}

static void health_ready(void *arg)
{
    agent_t *a = arg;
    uv_timer_start(&a->reconnect_timer, try_connect, 0, 0);
}

static int check_mode(const char *opt, const char *s, ag_check_mode_t *out)
{
    if (!strcmp(s, "off"))
        *out = AG_CHECK_OFF;
    else if (!strcmp(s, "quick"))
        *out = AG_CHECK_QUICK;
    else if (!strcmp(s, "full"))
        *out = AG_CHECK_FULL;
    else {
        fprintf(stderr, "colossus agent: %s must be off, quick or full, not '%s'\n", opt, s);
        return -1;
    }
    return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
    agent_t *a = s->data;
    if (a->quitting) return;
    cl_daemon_log(WHO, "signal %d: stopping every rank and exiting", signum);
    a->quitting = true;
    for (ag_launch_t *x = a->launches; x; x = x->next)
        launch_stop(x, "agent shutting down");
    maybe_quit(a);
}

static int fake_inventory(agent_t *a, int n)
{
    for (int i = 0; i < n; i++) {
        cl_gpu_inv_t *g = &a->gpus[i];
        memset(g, 0, sizeof *g);
        g->index = (uint32_t)i;
        snprintf(g->name, sizeof g->name, "Fake GPU");
        snprintf(g->uuid, sizeof g->uuid, "GPU-fake-%.60s-%d", a->name, i);
        g->mem_total_bytes = 80ull << 30;
    }
    a->ngpus = n;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: colossus agent --controller HOST:PORT --key FILE --name NAME --work-dir DIR "
           "[--fake-gpus N]\n"
           "       [--hollow N [--hollow-run-ms MS]]   play N simulated nodes NAME-0.. on one "
           "connection\n"
           "       [--check-at-start off|quick|full] (default quick) gpu check before "
           "registering\n"
           "       [--check-before-job off|quick|full] (default off) gpu check before every "
           "launch\n"
           "       [--health-poll-ms N] (default 5000) NVML telemetry and XID poll period\n");
}

int cmd_agent(int argc, char **argv)
{
    static const struct option opts[] = {{"controller", required_argument, 0, 'c'},
                                         {"key", required_argument, 0, 'k'},
                                         {"name", required_argument, 0, 'n'},
                                         {"work-dir", required_argument, 0, 'w'},
                                         {"fake-gpus", required_argument, 0, 'g'},
                                         {"help", no_argument, 0, 'h'},
                                         {"hollow", required_argument, 0, 'H'},
                                         {"hollow-run-ms", required_argument, 0, 'R'},
                                         {"check-at-start", required_argument, 0, 'S'},
                                         {"check-before-job", required_argument, 0, 'J'},
                                         {"health-poll-ms", required_argument, 0, 'P'},
                                         {0, 0, 0, 0}};
    ag_health_opts_t hopts = {
        .at_start = AG_CHECK_QUICK, .before_job = AG_CHECK_OFF, .poll_ms = 5000};
    const char *controller = NULL, *keyfile = NULL, *name = NULL, *work = NULL;
    int fake = -1, o;
    long hollow = 0, hollow_ms = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            controller = optarg;
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'w':
            work = optarg;
            break;
        case 'g': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 1 || v > AG_MAX_GPUS) {
                fprintf(stderr, "colossus agent: --fake-gpus must be 1..%d, not '%s'\n",
                        AG_MAX_GPUS, optarg);
                return 2;
            }
            fake = (int)v;
            break;
        }
        case 'H':
        case 'R': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < (o == 'H' ? 1 : 0) ||
                v > (o == 'H' ? 100000 : 86400000)) {
                fprintf(stderr, "colossus agent: --%s: bad number '%s'\n",
                        o == 'H' ? "hollow" : "hollow-run-ms", optarg);
                return 2;
            }
            *(o == 'H' ? &hollow : &hollow_ms) = v;
            break;
        }
        case 'S':
            if (check_mode("--check-at-start", optarg, &hopts.at_start) < 0) return 2;
            break;
        case 'J':
            if (check_mode("--check-before-job", optarg, &hopts.before_job) < 0) return 2;
            break;
        case 'P': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 50 || v > 3600000) {
                fprintf(stderr,
                        "colossus agent: --health-poll-ms must be 50..3600000, not '%s'\n",
                        optarg);
                return 2;
            }
            hopts.poll_ms = (uint32_t)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (hollow && fake < 0) {
        fprintf(stderr,
                "colossus agent: --hollow needs --fake-gpus N (the GPUs of each node)\n");
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "colossus agent: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!controller || !keyfile || !name || !work) {
        fprintf(stderr,
                "colossus agent: --controller, --key, --name and --work-dir are required\n");
        usage(stderr);
        return 2;
    }
    static agent_t A;
    agent_t *a = &A;
    memset(a, 0, sizeof *a);
    char host[256];
    int port;
    cl_error_t cerr;
    if (cl_addr_parse(controller, host, sizeof host, &port, &cerr) < 0) {
        fprintf(stderr, "colossus agent: --controller: %s\n", cerr.msg);
        return 2;
    }
    if (strlen(name) >= 64 || !name[0] || strchr(name, ',')) {
        fprintf(stderr, "colossus agent: --name must be 1..63 characters without commas\n");
        return 2;
    }
    if (cl_crypto_init() < 0 || cl_key_load(keyfile, a->key, &cerr) < 0) {
        fprintf(stderr, "colossus agent: %s\n", cerr.msg);
        return 2;
    }
    snprintf(a->controller, sizeof a->controller, "%s", controller);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->hollow = hollow > 0;
    a->hollow_ms = (uint32_t)hollow_ms;
    a->nnodes = a->hollow ? (int)hollow : 1;
    a->nodes = calloc((size_t)a->nnodes, sizeof *a->nodes);
    for (a->id_cap = 16; a->id_cap < 2 * (size_t)a->nnodes; a->id_cap *= 2)
        ;
    a->id_tab = calloc(a->id_cap, sizeof *a->id_tab); /* NULL: node_index() scans */
    a->id_keys = calloc(a->id_cap, sizeof *a->id_keys);
    if (!a->id_tab || !a->id_keys) {
        free(a->id_tab);
        free(a->id_keys);
        a->id_tab = a->id_keys = NULL;
    }
    if (!a->nodes) {
        fprintf(stderr, "colossus agent: out of memory\n");
        return 1;
    }
    for (int i = 0; i < a->nnodes; i++)
        snprintf(a->nodes[i].name, sizeof a->nodes[i].name, a->hollow ? "%.50s-%d" : "%.50s",
                 name, i);
    if (cl_mkdir_p(work, 0755) < 0) {
        fprintf(stderr, "colossus agent: cannot create work dir %s: %s\n", work,
                strerror(errno));
        return 1;
    }
    char real[PATH_MAX];
    if (!realpath(work, real) || strlen(real) >= sizeof a->work_dir) {
        fprintf(stderr, "colossus agent: work dir %s: %s\n", work,
                errno ? strerror(errno) : "path too long");
        return 1;
    }
    memcpy(a->work_dir, real, strlen(real) + 1); /* length checked above */
    if (fake > 0) {
        fake_inventory(a, fake);
    } else if (!cl_nvml_inventory) {
        fprintf(stderr, "colossus agent: no NVML support built into this binary; "
                        "use --fake-gpus N on a machine without GPUs\n");
        return 1;
    } else {
        int n = cl_nvml_inventory(a->gpus, AG_MAX_GPUS, &cerr);
        if (n <= 0) {
            fprintf(stderr,
                    "colossus agent: no GPUs found through NVML%s%s; "
                    "use --fake-gpus N on a machine without GPUs\n",
                    n < 0 ? ": " : "", n < 0 ? cerr.msg : "");
            return 1;
        }
        a->ngpus = n;
    }
    signal(SIGPIPE, SIG_IGN);
    a->loop = uv_default_loop();
    if (fake <= 0) {
        /* Real GPUs: watch them (telemetry, XIDs, counters) and check them (docs/health.md). */
        a->health = ag_health_create(a->loop, &hopts, health_urgent, a, &cerr);
        if (!a->health) {
            fprintf(stderr, "colossus agent: GPU health monitor: %s\n", cerr.msg);
            return 1;
        }
    }
    if (!a->hollow) {
        /* Rank logs: a launch renames spares instead of creating files (filepool.h). */
        char logs[PATH_MAX];
        log_dir(a, logs, sizeof logs);
        if (mkdir(logs, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "colossus agent: cannot create %s: %s\n", logs, strerror(errno));
            return 1;
        }
        a->logpool =
            cl_filepool_new(a->loop, logs, (unsigned)(2 * (a->ngpus > 4 ? a->ngpus : 4)));
    }
    if (a->nnodes == 1) {
        /* Ranks of an agent killed with -9 are killed with it; what they forked stays in
         * its cgroups until a later agent sweeps them. */
        int swept = cl_launch_sweep(NULL);
        if (swept > 0)
            cl_daemon_log(WHO, "removed %d cgroup%s left by agents that died", swept,
                          swept > 1 ? "s" : "");
    }
    a->backoff_ms = 100;
    uv_timer_init(a->loop, &a->hb_timer);
    uv_timer_init(a->loop, &a->reconnect_timer);
    a->hb_timer.data = a->reconnect_timer.data = a;
    uv_signal_init(a->loop, &a->sigterm);
    uv_signal_init(a->loop, &a->sigint);
    a->sigterm.data = a->sigint.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    cl_daemon_log(WHO, "%s: %d node%s x %d GPUs%s, work dir %s, controller %s", a->name,
                  a->nnodes, a->nnodes > 1 ? "s (hollow)" : "", a->ngpus,
                  fake > 0 ? " (fake)" : "", a->work_dir, a->controller);
    if (a->health)
        ag_health_start(a->health, health_ready,
                        a); /* connects once the start-up check ended */
    else
        uv_timer_start(&a->reconnect_timer, try_connect, 0, 0);
    uv_run(a->loop, UV_RUN_DEFAULT);
    while (a->launches)
        launch_remove(a, a->launches);
    cl_filepool_close(a->logpool);  /* spares of a refill still running: the next agent's */
    uv_run(a->loop, UV_RUN_NOWAIT); /* let closed timers of hollow launches go */
    uv_loop_close(a->loop);
    free(a->nodes);
    cl_daemon_log(WHO, "exited");
    return 0;
}
