/* agent.c - the node agent daemon: finds the node's GPUs, carries its node(s) to the controller
 * through a session (session.h: registration, heartbeats, reconnection), runs launch orders
 * through a launch backend (backend.h: processes, or hollow simulated launches), obeys stop and
 * fence orders, serves rank logs, and keeps launches running while the controller is away or
 * is another cluster's (cluster_id.h). `--hollow N` carries N nodes NAME-0.. with the hollow
 * backend; nothing else differs. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <uv.h>

#include "agent/agent_health.h"
#include "agent/agent_opts.h"
#include "agent/backend.h"
#include "agent/cluster_id.h"
#include "agent/keeper.h"
#include "agent/lease.h"
#include "agent/power.h"
#include "agent/session.h"
#include "agent/usage.h"
#include "gpu/nvml.h"
#include "proto/cred.h"
#include "proto/frame.h"
#include "util/util.h"

/* The NVML inventory comes from src/gpu; referenced weakly so that a binary built without that
 * module still links and says so. */
int cl_nvml_inventory(cl_gpu_inv_t *out, int max, cl_error_t *err) __attribute__((weak));

#define AG_LOG_MAX (3u << 20) /* most log bytes returned per fetch (notes aside: ranklog.h) */

static const char *WHO = "agent";

typedef struct agent agent_t;

/* Launches are on two lists: the agent's (next/prev) and their node's (node_next/node_prev),
 * so that finding one is a walk of its node's few, not of every launch of the agent: a
 * hollow agent carrying 68,750 nodes of a 65,536-node gang holds tens of thousands. */
typedef struct ag_launch {
    struct ag_launch *next, *prev, *node_next, *node_prev;
    agent_t *agent;
    int node; /* session index */
    uint64_t job;
    uint32_t incarnation;
    uint32_t master_port; /* the Launch's, reported when registering again */
    ag_run_t *run;        /* the backend's; released with the launch */
    bool exited, stopping;
    int code, rank, signal; /* signal: what killed the failing rank; 0: it exited */
    double energy_j, flops; /* what the run used (Exited), once exited */
    ag_energy_t *energy;    /* the GPUs' counters at the start, with NVML; else NULL */
    char reason[256];       /* a launch that could not start: why (Exited.reason) */
    bool oom;               /* OOM-killed at its memory limit (Exited.oom, mem_limit_mb) */
    uint64_t mem_limit_mb;
} ag_launch_t;

struct agent {
    uv_loop_t *loop;
    char name[64], work_dir[PATH_MAX], controller[256];
    cl_gpu_inv_t gpus[AG_MAX_GPUS];
    int ngpus;
    Colossus__Gpu gpu_msg[AG_MAX_GPUS], *gpu_ptr[AG_MAX_GPUS]; /* every Register's GPUs */
    char domain[80];                                           /* Register scratch */
    uint32_t cpus; /* inventory for jobs (Register.cpus, mem_mb); 0: none said */
    uint64_t mem_mb;
    Colossus__NodeHealth *hb_health; /* heartbeat scratch */
    cl_session_t *session;
    ag_backend_t *backend;
    ag_launch_t *launches, **node_launches; /* node_launches[i]: node i's list */
    ag_health_t *health;  /* GPU health (agent_health.c); NULL with --fake-gpus */
    ag_power_t *power;    /* GPU power limits (power.h); NULL with --fake-gpus */
    ag_cluster_t cluster; /* the cluster this agent belongs to */
    uv_signal_t sigterm, sigint, sigusr2;
    bool quitting, closed;
    /* issue 14: the node's lease (lease.h; NULL: hollow or --no-keepers), and a hand-over to
     * the next agent: exit leaving the ranks to their keepers, then re-execute the binary */
    ag_lease_t *lease;
    bool handing_over;
    char exe[PATH_MAX]; /* this agent's binary, as it was when it started */
    char build[96];     /* Register.build: version and the binary's digest */
    char **argv;        /* to re-execute with */
};

/* ------------------------------------------------------------------ launches ------------ */

static void send_exited(agent_t *a, ag_launch_t *x)
{
    Colossus__Exited e = COLOSSUS__EXITED__INIT;
    if (!a->session || !cl_session_node_id(a->session, x->node, &e.node))
        return; /* the next registration reports it (RunningJob.exited) */
    e.job = x->job;
    e.incarnation = x->incarnation;
    e.exit_code = x->code;
    e.rank = x->rank;
    e.signal = (uint32_t)x->signal;
    e.energy_j = x->energy_j;
    e.flops = x->flops;
    e.reason = x->reason;
    e.oom = x->oom;
    e.mem_limit_mb = x->mem_limit_mb;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_EXITED;
    m.exited = &e;
    cl_session_send(a->session, &m);
}

/* Every rank of launch x has exec'd: the controller's job becomes running (running_time). */
static void send_started(agent_t *a, ag_launch_t *x)
{
    Colossus__Started s = COLOSSUS__STARTED__INIT;
    if (!a->session || !cl_session_node_id(a->session, x->node, &s.node)) return;
    s.job = x->job;
    s.incarnation = x->incarnation;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_STARTED;
    m.started = &s;
    cl_session_send(a->session, &m);
}

static void launch_link(agent_t *a, ag_launch_t *x)
{
    ag_launch_t **head = &a->node_launches[x->node];
    x->prev = NULL;
    x->next = a->launches;
    if (a->launches) a->launches->prev = x;
    a->launches = x;
    x->node_prev = NULL;
    x->node_next = *head;
    if (*head) (*head)->node_prev = x;
    *head = x;
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
        a->node_launches[x->node] = x->node_next;
    if (x->node_next) x->node_next->node_prev = x->node_prev;
    ag_backend_release(a->backend, x->run);
    free(x->energy);
    free(x);
}

static ag_launch_t *launch_find(agent_t *a, int node, uint64_t job, uint32_t inc)
{
    if (node < 0) return NULL;
    for (ag_launch_t *x = a->node_launches[node]; x; x = x->node_next)
        if (x->job == job && x->incarnation == inc) return x;
    return NULL;
}

static void maybe_quit(agent_t *a);

/* A rank failed: report the exit after a fresh NVML poll (and its heartbeat), so that the GPU
 * fault that killed it reaches the controller first. The launch is found again by its ids: a
 * fence may forget it meanwhile. */
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
    cl_session_heartbeat_now(a->session);
    send_exited(a, x);
}

static void ag_exit_after_poll(agent_t *a, ag_launch_t *x)
{
    ag_pending_exit_t *p = cl_xmalloc(sizeof *p);
    *p = (ag_pending_exit_t){a, x->node, x->job, x->incarnation};
    ag_health_poll_then(a->health, exit_after_poll, p);
}

/* A later incarnation of x's job already runs on x's node (a restart in place): the GPUs'
 * power is that run's, not to be held or restored for x. */
static bool newer_run(agent_t *a, const ag_launch_t *x)
{
    for (ag_launch_t *y = a->node_launches[x->node]; y; y = y->node_next)
        if (y != x && y->job == x->job && y->incarnation > x->incarnation && !y->exited)
            return true;
    return false;
}

static void on_run_done(void *arg, const ag_run_end_t *end)
{
    ag_launch_t *x = arg;
    agent_t *a = x->agent;
    int result = end->result;
    x->exited = true;
    x->code = result;
    x->rank = end->failed_rank;
    x->signal = end->signal;
    x->flops = end->flops;
    x->oom = end->oom;
    x->mem_limit_mb = end->mem_limit_mb;
    /* The counters now, before the poll an exit may wait for: the run's end is now. */
    x->energy_j = end->energy_j >= 0 ? end->energy_j : x->energy ? ag_energy_end(x->energy) : 0;
    free(x->energy);
    x->energy = NULL;
    if (a->power && !newer_run(a, x)) ag_power_job_ended(a->power, x->job);
    if (a->quitting)
        maybe_quit(a);
    else if (result != 0 && !x->stopping && a->health)
        ag_exit_after_poll(a, x);
    else
        send_exited(a, x);
}

static void launch_stop(agent_t *a, ag_launch_t *x, const char *why)
{
    if (x->exited || x->stopping) return;
    x->stopping = true;
    /* Frozen by a lapsed lease: killed as it is, never thawed to handle SIGTERM (it could
     * write a checkpoint over the next incarnation's). */
    bool now = ag_lease_lapsed(a->lease);
    ag_backend_stop(a->backend, x->run, why, now); /* on_run_done may run before this returns */
}

/* A launch the agent before this one left to its keeper (backend.h's adopt()). */
static void *adopt_launch(void *arg, const Colossus__Launch *L, ag_run_t *run)
{
    agent_t *a = arg;
    ag_launch_t *x = cl_xcalloc(1, sizeof *x);
    x->agent = a;
    x->node = 0; /* a process agent carries one node */
    x->job = L->job;
    x->incarnation = L->incarnation;
    x->master_port = L->master_port;
    x->run = run;
    launch_link(a, x);
    if (a->health) { /* the energy from now on: what was used before is not known */
        x->energy = cl_xmalloc(sizeof *x->energy);
        ag_energy_begin(x->energy, L->gpus, L->n_gpus);
    }
    return x;
}

static void launch_now(agent_t *a, const Colossus__Launch *L)
{
    int node = cl_session_node_index(a->session, L->node);
    if (node < 0) {
        cl_daemon_log(WHO, "launch for node %u, which this agent does not carry", L->node);
        return;
    }
    if (launch_find(a, node, L->job, L->incarnation))
        return; /* a duplicate (resent after a reconnect) */
    /* Fencing: an older incarnation of the job on this node must not run beside this one. */
    for (ag_launch_t *x = a->node_launches[node], *next; x; x = next) {
        next = x->node_next;
        if (x->job == L->job && x->incarnation < L->incarnation)
            launch_stop(a, x, "superseded by a newer incarnation");
    }
    ag_launch_t *x = cl_xcalloc(1, sizeof *x);
    x->agent = a;
    x->node = node;
    x->job = L->job;
    x->incarnation = L->incarnation;
    x->master_port = L->master_port;
    launch_link(a, x);
    if (a->health) { /* NVML: the energy of the launch's GPUs is the counters' growth */
        x->energy = cl_xmalloc(sizeof *x->energy);
        ag_energy_begin(x->energy, L->gpus, L->n_gpus);
    }
    cl_error_t err;
    if (ag_backend_start(a->backend, L, on_run_done, x, &x->run, &err) < 0) {
        /* Could not start: a failure of this node's first rank (exit 127 as a shell would;
         * the backend put the reason in that rank's log), so the job fails as a user error
         * instead of hanging. */
        cl_daemon_log(WHO, "job %llu: launch failed: %s", (unsigned long long)L->job, err.msg);
        x->exited = true;
        x->code = 127;
        /* the job's reason: short (the controller keeps 160 bytes), no "launch: " */
        const char *why = strncmp(err.msg, "launch: ", 8) ? err.msg : err.msg + 8;
        snprintf(x->reason, sizeof x->reason, "%s", why);
        x->rank = (int)(L->node_rank * L->ranks_per_node);
        free(x->energy);
        x->energy = NULL;
        send_exited(a, x);
        return;
    }
    send_started(a, x);
}

static void launch_go(const Colossus__Launch *L, void *arg)
{
    launch_now(arg, L);
}

static void handle_launch(agent_t *a, int node, const Colossus__Launch *L)
{
    if (a->health && node >= 0 && !launch_find(a, node, L->job, L->incarnation) &&
        ag_health_hold_launch(a->health, L, launch_go, a))
        return; /* launched once the pre-job gpu check passed */
    launch_now(a, L);
}

/* A Launch names one node, and more of the same connection in L->more (Launch.more): each is
 * launched as the Launch it stands for, one node and no more entries. */
static void handle_launches(agent_t *a, int node, const Colossus__Launch *L)
{
    Colossus__Launch one = *L;
    one.more = NULL;
    one.n_more = 0;
    handle_launch(a, node, &one);
    for (size_t k = 0; k < L->n_more; k++) {
        const Colossus__LaunchNode *e = L->more[k];
        one.node = e->node;
        one.node_rank = e->node_rank;
        one.gpus = e->gpus;
        one.n_gpus = e->n_gpus;
        one.ranks_per_node = e->ranks_per_node;
        handle_launch(a, cl_session_node_index(a->session, e->node), &one);
    }
}

static void handle_stop(agent_t *a, int node, const Colossus__Stop *s)
{
    if (a->health) ag_health_drop_held(a->health, s->node, s->job, s->incarnation);
    for (ag_launch_t *x = node >= 0 ? a->node_launches[node] : NULL, *next; x; x = next) {
        next = x->node_next;
        if (x->job == s->job && x->incarnation <= s->incarnation)
            launch_stop(a, x, "stop ordered by the controller");
    }
}

/* The controller's word after a (re)registration: keep only what it lists. */
static void handle_fence(agent_t *a, int node, const Colossus__Fence *f)
{
    if (a->health)
        ag_health_drop_held(a->health, f->node, 0, 0); /* not reported: never to be launched */
    for (ag_launch_t *x = node >= 0 ? a->node_launches[node] : NULL, *next; x; x = next) {
        next = x->node_next;
        bool keep = false;
        for (size_t i = 0; i < f->n_keep; i++)
            if (f->keep[i]->job == x->job && f->keep[i]->incarnation == x->incarnation)
                keep = true;
        if (keep) {
            if (x->exited)
                send_exited(a, x); /* not acknowledged before the controller went away */
        } else if (x->exited) {
            cl_daemon_log(WHO, "fence: forgetting stale job %llu incarnation %u",
                          (unsigned long long)x->job, x->incarnation);
            launch_remove(a, x);
        } else {
            launch_stop(a, x, "fenced: the controller no longer runs this incarnation here");
        }
    }
}

static void handle_log_fetch(agent_t *a, const Colossus__LogFetch *q)
{
    Colossus__LogData d = COLOSSUS__LOG_DATA__INIT;
    d.req = q->req;
    uint8_t *data = NULL;
    size_t len = 0;
    cl_error_t err = {""};
    uint64_t from = q->offset;
    d.ok = ag_backend_logs(a->backend, q->job, q->rank, AG_LOG_MAX, q->from_offset, &from,
                           &data, &len, &err) == 0;
    d.size = from;
    d.error = err.msg;
    d.data.data = data;
    d.data.len = len;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_LOG_DATA;
    m.log_data = &d;
    cl_session_send(a->session, &m);
    free(data);
}

/* ------------------------------------------------------------------ session callbacks --- */

static void reg_fill(void *arg, int node, Colossus__Register *r)
{
    agent_t *a = arg;
    r->gpus = a->gpu_ptr;
    r->n_gpus = (size_t)a->ngpus;
    r->cpus = a->cpus;
    r->mem_mb = a->mem_mb;
    r->build = a->build;
    size_t n = 0;
    for (ag_launch_t *x = a->node_launches[node]; x; x = x->node_next)
        n++;
    if (n) {
        Colossus__RunningJob *rj = cl_xcalloc(n, sizeof *rj);
        r->running = cl_xcalloc(n, sizeof *r->running);
        size_t i = 0;
        for (ag_launch_t *x = a->node_launches[node]; x; x = x->node_next, i++) {
            colossus__running_job__init(&rj[i]);
            rj[i].job = x->job;
            rj[i].incarnation = x->incarnation;
            rj[i].exited = x->exited;
            rj[i].exit_code = x->code;
            rj[i].master_port = x->master_port;
            r->running[i] = &rj[i];
        }
        r->n_running = n;
    }
    if (a->health) {
        r->health = ag_health_report(a->health, 0, true);
        r->nvlink_unready = ag_health_nvlink_domain(a->health, a->domain, sizeof a->domain) < 0;
        r->nvlink_domain = a->domain;
    }
}

static void reg_done(void *arg, int node, Colossus__Register *r)
{
    ag_health_report_free(r->health);
    if (r->n_running) free(r->running[0]); /* the RunningJob array */
    free(r->running);
}

/* Telemetry rides on the heartbeat (one node carries GPUs: hollow ones have none). */
static void hb_fill(void *arg, Colossus__Heartbeat *hb)
{
    agent_t *a = arg;
    if (!a->health || !(a->hb_health = ag_health_report(a->health, hb->nodes[0], false)))
        return;
    hb->health = &a->hb_health;
    hb->n_health = 1;
}

static void hb_done(void *arg, Colossus__Heartbeat *hb)
{
    agent_t *a = arg;
    ag_health_report_free(a->hb_health);
    a->hb_health = NULL;
}

/* Limits through NVML; without NVML (--fake-gpus, hollow nodes) the limits are taken as
 * given and reported applied, so that a hollow cluster acknowledges as a real one would: one
 * PowerApplied for the nodes of one PowerLimit that took it, one for each that did not. */
static void handle_power(agent_t *a, const Colossus__PowerLimit *o)
{
    uint32_t *ok = cl_xcalloc(o->n_nodes + 1, sizeof *ok);
    size_t nok = 0;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_POWER_APPLIED;
    for (size_t k = 0; k < o->n_nodes; k++) {
        int node = cl_session_node_index(a->session, o->nodes[k]);
        if (node < 0) continue; /* not ours: ignored, as any message for another node */
        bool runs = false;
        for (ag_launch_t *x = a->node_launches[node]; x && !runs; x = x->node_next)
            runs = x->job == o->job && !x->exited;
        if (runs) {
            ok[nok++] = o->nodes[k];
            continue;
        }
        /* it ended before its limit came: its GPUs stay at the default */
        Colossus__PowerApplied no = COLOSSUS__POWER_APPLIED__INIT;
        no.nodes = (uint32_t *)&o->nodes[k];
        no.n_nodes = 1;
        no.seq = o->seq;
        no.error = "the job does not run on this node (any more): nothing changed";
        m.power_applied = &no;
        cl_session_send(a->session, &m);
    }
    if (nok) {
        Colossus__PowerApplied ap = COLOSSUS__POWER_APPLIED__INIT;
        if (a->power) { /* one node: an agent with NVML carries its own */
            ag_power_apply(a->power, o, &ap);
        } else {
            ap.seq = o->seq;
            ap.gpus = o->gpus;
            ap.n_gpus = o->n_gpus;
        }
        ap.nodes = ok;
        ap.n_nodes = nok;
        m.power_applied = &ap;
        cl_session_send(a->session, &m);
        if (a->power) ag_power_applied_free(&ap);
    }
    free(ok);
}

static void hand_over(agent_t *a);

static void on_message(void *arg, int node, const Colossus__Msg *m)
{
    agent_t *a = arg;
    switch (m->body_case) {
    case COLOSSUS__MSG__BODY_LAUNCH:
        handle_launches(a, node, m->launch);
        break;
    case COLOSSUS__MSG__BODY_STOP:
        handle_stop(a, node, m->stop);
        break;
    case COLOSSUS__MSG__BODY_EXITED_ACK: {
        const Colossus__ExitedAck *k = m->exited_ack;
        ag_launch_t *x = launch_find(a, node, k->job, k->incarnation);
        if (x && x->exited) launch_remove(a, x);
        break;
    }
    case COLOSSUS__MSG__BODY_FENCE:
        handle_fence(a, node, m->fence);
        break;
    case COLOSSUS__MSG__BODY_LOG_FETCH:
        handle_log_fetch(a, m->log_fetch);
        break;
    case COLOSSUS__MSG__BODY_POWER_LIMIT:
        if (a->session) handle_power(a, m->power_limit);
        break;
    case COLOSSUS__MSG__BODY_POWER_HOLD: /* an agent with NVML: one node, its own */
        if (a->power && a->session && m->power_hold->n_nodes &&
            cl_session_node_index(a->session, m->power_hold->nodes[0]) >= 0)
            ag_power_hold(a->power, m->power_hold);
        break;
    case COLOSSUS__MSG__BODY_UPGRADE:
        if (a->lease && !a->quitting) {
            cl_daemon_log(WHO,
                          "upgrade ordered by the controller: re-executing %s, keeping "
                          "the ranks",
                          a->exe);
            hand_over(a);
        } else {
            cl_daemon_log(WHO, "upgrade ordered, but this agent keeps no ranks across a "
                               "restart (hollow or --no-keepers): ignored");
        }
        break;
    case COLOSSUS__MSG__BODY_CHECK_ORDER:
        if (a->health && node >= 0)
            ag_health_check_order(a->health, m->check_order);
        else
            cl_daemon_log(WHO, "gpu check ordered, but this agent has no NVML GPUs to check");
        break;
    default:
        cl_daemon_log(WHO, "ignoring unexpected message %d from the controller", m->body_case);
    }
}

/* A controller of another cluster must not fence what this agent runs (cluster_id.h). */
static bool on_registered(void *arg, int node, const Colossus__Registered *r)
{
    agent_t *a = arg;
    size_t held = 0, running = 0;
    if (ag_cluster_differs(&a->cluster, r->cluster_id))
        for (ag_launch_t *x = a->launches; x; x = x->next, held++)
            running += !x->exited;
    return ag_cluster_check(&a->cluster, r->cluster_id, held, running, a->controller);
}

/* The leader heard us: the ranks may run until `until` (lease.h). */
static void on_lease(void *arg, uint64_t seq, uint64_t until)
{
    agent_t *a = arg;
    ag_lease_renew(a->lease, until);
}

static const cl_session_ops_t session_ops = {
    .lease = on_lease,
    .register_fill = reg_fill,
    .register_done = reg_done,
    .heartbeat_fill = hb_fill,
    .heartbeat_done = hb_done,
    .message = on_message,
    .registered = on_registered,
};

/* ------------------------------------------------------------------ life ---------------- */

/* Once every launch has ended after a signal: close what keeps the loop running. */
static void maybe_quit(agent_t *a)
{
    if (a->closed) return;
    for (ag_launch_t *x = a->launches; x; x = x->next)
        if (!x->exited) return;
    a->closed = true;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigusr2, NULL);
    ag_health_destroy(a->health);
    a->health = NULL;
    cl_session_destroy(a->session);
    a->session = NULL;
}

static void on_signal(uv_signal_t *s, int signum)
{
    agent_t *a = s->data;
    if (a->quitting) return;
    cl_daemon_log(WHO,
                  "signal %d: stopping every rank and exiting (SIGUSR2 exits keeping "
                  "them, for an upgrade)",
                  signum);
    a->quitting = true;
    for (ag_launch_t *x = a->launches; x; x = x->next)
        launch_stop(a, x, "agent shutting down");
    maybe_quit(a);
}

/* Exit now leaving every rank to its keeper (docs/standby.md, "Rolling upgrades"); the
 * agent then re-executes its binary, which adopts them. */
static void hand_over(agent_t *a)
{
    if (a->quitting) return;
    a->quitting = a->handing_over = true;
    ag_backend_handover(a->backend);
    while (a->launches) /* let go: their handles close, their keepers go on */
        launch_remove(a, a->launches);
    maybe_quit(a);
}

static void on_usr2(uv_signal_t *s, int signum)
{
    agent_t *a = s->data;
    if (!a->lease) {
        cl_daemon_log(WHO, "SIGUSR2: this agent keeps no ranks across a restart (hollow or "
                           "--no-keepers): ignored");
        return;
    }
    cl_daemon_log(WHO, "signal %d: handing the ranks over and re-executing %s", signum, a->exe);
    hand_over(a);
}

/* "sha256:<first 12 hex digits of the binary's SHA-256>": changes with the build. */
static void build_id(agent_t *a)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    FILE *f = fopen("/proc/self/exe", "re");
    unsigned char buf[65536];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        crypto_hash_sha256_update(&st, buf, n);
    if (f) fclose(f);
    crypto_hash_sha256_final(&st, h);
    char hex[13];
    for (int i = 0; i < 6; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(a->build, sizeof a->build, "sha256:%s", hex);
}

static void health_urgent(void *arg)
{
    agent_t *a = arg;
    if (a->session) cl_session_heartbeat_now(a->session);
}

static void health_ready(void *arg)
{
    agent_t *a = arg;
    cl_session_start(a->session);
}

static void fake_inventory(agent_t *a, int n)
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
}

/* The GPUs the nodes register: fake ones, or those NVML lists. */
static int take_inventory(agent_t *a, const ag_opts_t *o)
{
    cl_error_t err;
    if (o->fake_gpus) {
        fake_inventory(a, (int)o->fake_gpus);
    } else if (!cl_nvml_inventory) {
        fprintf(stderr, "colossus agent: no NVML support built into this binary; "
                        "use --fake-gpus N on a machine without GPUs\n");
        return -1;
    } else {
        int n = cl_nvml_inventory(a->gpus, AG_MAX_GPUS, &err);
        if (n <= 0) {
            fprintf(stderr,
                    "colossus agent: no GPUs found through NVML%s%s; "
                    "use --fake-gpus N on a machine without GPUs\n",
                    n < 0 ? ": " : "", n < 0 ? err.msg : "");
            return -1;
        }
        a->ngpus = n < AG_MAX_GPUS ? n : AG_MAX_GPUS;
    }
    for (int i = 0; i < a->ngpus; i++) {
        Colossus__Gpu *g = &a->gpu_msg[i];
        colossus__gpu__init(g);
        g->index = a->gpus[i].index;
        g->name = a->gpus[i].name;
        g->uuid = a->gpus[i].uuid;
        g->mem_total_bytes = a->gpus[i].mem_total_bytes;
        g->clique = a->gpus[i].clique;
        a->gpu_ptr[i] = g;
    }
    return 0;
}

/* The session and the nodes it carries: NAME, or NAME-0 .. NAME-(N-1) with --hollow N. */
static int make_session(agent_t *a, const ag_opts_t *o, const cl_cred_t *cred)
{
    cl_session_opts_t so = {
        .controller = o->controller, .cred = cred, .peer = a->name, .leave_at_lease = true};
    cl_error_t err;
    cl_session_ops_t ops = session_ops;               /* copied by the session */
    if (o->hollow || o->no_keepers) ops.lease = NULL; /* no keepers: no lease, no acks */
    a->session = cl_session_create(a->loop, &so, &ops, a, &err);
    if (!a->session) {
        fprintf(stderr, "colossus agent: --controller: %s\n", err.msg);
        return -1;
    }
    uint32_t n = o->hollow ? o->hollow : 1;
    a->node_launches = cl_xcalloc(n, sizeof *a->node_launches);
    for (uint32_t i = 0; i < n; i++) {
        char node[80];
        snprintf(node, sizeof node, o->hollow ? "%.50s-%u" : "%.50s", a->name, i);
        if (cl_session_add_node(a->session, node, &err) < 0) {
            fprintf(stderr, "colossus agent: --name: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

/* A secret the ranks, which run as other users, must not read: say so when they could. */
static void secret_check(const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        cl_daemon_log(WHO,
                      "WARNING: the %s %s has mode %04o: other users, the ranks of jobs "
                      "among them, can read or change it; chmod 600 %s",
                      what, path, (unsigned)(st.st_mode & 07777), path);
}

/* The credential of --node-token or --key; -1 after printing why (cred wiped). */
static int load_cred(const ag_opts_t *o, cl_cred_t *cred)
{
    cl_error_t err;
    const char *credfile = o->node_token ? o->node_token : o->keyfile;
    if (cl_crypto_init() < 0 || cl_cred_load(credfile, cred, &err) < 0) {
        fprintf(stderr, "colossus agent: %s\n", err.msg);
        cl_cred_clear(cred);
        return -1;
    }
    if (o->node_token && cred->kind != CL_CRED_NODE)
        cl_daemon_log(WHO,
                      "%s is a %s, not a node credential: the controller will refuse it "
                      "(make one with 'colossus node-token create')",
                      o->node_token, cred->kind == CL_CRED_TOKEN ? "user's token" : "key");
    if (!o->node_token && cred->kind != CL_CRED_KEY) {
        fprintf(stderr,
                "colossus agent: %s is not a cluster key (a node credential goes with "
                "--node-token)\n",
                o->keyfile);
        cl_cred_clear(cred);
        return -1;
    }
    secret_check(credfile, o->node_token ? "node credential" : "cluster key");
    return 0;
}

/* WORK, made and resolved, and the cluster id stored there; -1 after printing why. */
static int open_work_dir(agent_t *a, const ag_opts_t *o)
{
    cl_error_t err;
    char real[PATH_MAX];
    /* 0711: the ranks reach their job's directory in it (WORK/jobs/<ID>), nobody lists it;
     * what is private in it is the logs' directory (0700, backend_proc.c). */
    if (cl_mkdir_p(o->work, 0711) < 0) {
        fprintf(stderr, "colossus agent: cannot create work dir %s: %s\n", o->work,
                strerror(errno));
        return -1;
    }
    if (!realpath(o->work, real)) {
        fprintf(stderr, "colossus agent: work dir %s: %s\n", o->work, strerror(errno));
        return -1;
    }
    snprintf(a->work_dir, sizeof a->work_dir, "%s", real);
    snprintf(a->controller, sizeof a->controller, "%s", o->controller);
    if (ag_cluster_load(&a->cluster, a->work_dir, &err) < 0)
        cl_daemon_log(WHO, "ignoring the stored cluster id: %s", err.msg);
    else if (a->cluster.id)
        cl_daemon_log(WHO, "belongs to cluster %016llx (%s)", (unsigned long long)a->cluster.id,
                      a->cluster.path);
    return 0;
}

/* What the node offers jobs beside GPUs: --cpus and --mem, else (a real node) the machine's
 * online CPUs and MemTotal; a hollow agent's nodes say none unless given. */
static void machine_inventory(agent_t *a, const ag_opts_t *o)
{
    a->cpus = o->cpus;
    a->mem_mb = o->mem_mb;
    if (o->hollow) return;
    if (!o->cpus_set) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        a->cpus = n > 0 ? (uint32_t)n : 0;
    }
    if (!o->mem_set) {
        FILE *f = fopen("/proc/meminfo", "re");
        unsigned long long kb = 0;
        char line[128];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) break;
        if (f) fclose(f);
        a->mem_mb = kb / 1024;
    }
}

/* Everything the loop needs before it runs; -1 after printing why (exit 1). */
static int agent_setup(agent_t *a, const ag_opts_t *o)
{
    cl_error_t err;
    cl_cred_t cred; /* copied by the session, its only holder from then on */
    a->loop = uv_default_loop();
    snprintf(a->name, sizeof a->name, "%s", o->name);
    if (load_cred(o, &cred) < 0) return -1;
    int rc = open_work_dir(a, o) < 0 ? -1 : make_session(a, o, &cred);
    cl_cred_clear(&cred);
    if (rc < 0 || take_inventory(a, o) < 0) return -1;
    machine_inventory(a, o);
    signal(SIGPIPE, SIG_IGN);
    if (!o->fake_gpus) {
        /* Real GPUs: watch them (telemetry, XIDs, counters) and check them (docs/health.md). */
        a->health = ag_health_create(a->loop, &o->health, health_urgent, a, &err);
        if (!a->health) {
            fprintf(stderr, "colossus agent: GPU health monitor: %s\n", err.msg);
            return -1;
        }
        a->power = ag_power_create(a->work_dir); /* restores what a crash left set */
        ag_power_loop(a->power, a->loop);
    }
    if (!o->hollow && !o->no_keepers) {
        char dir[PATH_MAX + 8];
        snprintf(dir, sizeof dir, "%s/keep", a->work_dir);
        if (cl_mkdir_p(dir, 0700) < 0) {
            fprintf(stderr, "colossus agent: cannot create %s: %s\n", dir, strerror(errno));
            return -1;
        }
        if (!(a->lease = ag_lease_open(dir, &err))) {
            fprintf(stderr, "colossus agent: the node's lease: %s\n", err.msg);
            return -1;
        }
    }
    if (o->hollow)
        a->backend = ag_backend_hollow_create(a->loop, o->hollow_run_ms);
    else if (!(a->backend = ag_backend_proc_create(
                   a->loop, a->work_dir, a->name, a->ngpus,
                   &(ag_proc_opts_t){.log_max = (uint64_t)o->rank_log_mib << 20,
                                     .allow_root_jobs = o->allow_root_jobs,
                                     .log_root = o->log_root,
                                     .keep = a->lease != NULL,
                                     .lease_fd = ag_lease_fd(a->lease),
                                     .abandon_ms = o->abandon_ms},
                   &err))) {
        fprintf(stderr, "colossus agent: %s\n", err.msg);
        return -1;
    }
    /* What the agent before this one left running: ours again (before registering, so
     * that the first Register reports it and the controller's Fence keeps it). */
    int adopted = ag_backend_adopt(a->backend, on_run_done, adopt_launch, a);
    if (adopted > 0)
        cl_daemon_log(WHO, "adopted %d launch%s left by the agent before", adopted,
                      adopted > 1 ? "es" : "");
    build_id(a);
    ssize_t el = readlink("/proc/self/exe", a->exe, sizeof a->exe - 1);
    a->exe[el > 0 ? el : 0] = 0;
    uv_signal_init(a->loop, &a->sigterm);
    uv_signal_init(a->loop, &a->sigint);
    uv_signal_init(a->loop, &a->sigusr2);
    a->sigterm.data = a->sigint.data = a->sigusr2.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_signal_start(&a->sigusr2, on_usr2, SIGUSR2);
    return 0;
}

int cmd_agent(int argc, char **argv)
{
    ag_opts_t o;
    int rc = ag_parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    agent_t *a = cl_xcalloc(1, sizeof *a);
    a->argv = argv;
    cl__keep_title_area(argc, argv);
    if (agent_setup(a, &o) < 0) return 1;
    int nodes = cl_session_nodes(a->session);
    char logs[64] = "";
    if (!o.hollow && o.rank_log_mib)
        snprintf(logs, sizeof logs, " (rank logs kept to %u MiB each)", o.rank_log_mib);
    else if (!o.hollow)
        snprintf(logs, sizeof logs, " (rank logs unbounded)");
    char inv[96] = "";
    if (a->cpus || a->mem_mb)
        snprintf(inv, sizeof inv, ", %u CPUs and %llu MB for jobs", a->cpus,
                 (unsigned long long)a->mem_mb);
    cl_daemon_log(WHO,
                  "%s: %d node%s x %d GPUs%s%s, %s launches%s%s, work dir %s, controller %s",
                  a->name, nodes, nodes > 1 ? "s" : "", a->ngpus, o.fake_gpus ? " (fake)" : "",
                  inv, ag_backend_name(a->backend), logs,
                  o.allow_root_jobs ? " (root jobs allowed)" : "", a->work_dir, o.controller);
    if (a->health)
        ag_health_start(a->health, health_ready,
                        a); /* connects once the start-up check ended */
    else
        cl_session_start(a->session);
    uv_run(a->loop, UV_RUN_DEFAULT);
    while (a->launches)
        launch_remove(a, a->launches);
    ag_power_destroy(a->power); /* every limit it set back to the default */
    ag_backend_destroy(a->backend);
    uv_run(a->loop, UV_RUN_NOWAIT); /* let what was closed close */
    uv_loop_close(a->loop);
    free(a->node_launches);
    ag_lease_close(a->lease);
    if (a->handing_over) {
        /* The new build, from the path this one started from (a package upgrade replaced
         * the file there); argv[0] of the subcommand is "agent". */
        char **nargv = cl_xcalloc((size_t)argc + 2, sizeof *nargv);
        nargv[0] = a->exe;
        for (int i = 0; i < argc; i++)
            nargv[i + 1] = argv[i];
        char exe[PATH_MAX];
        snprintf(exe, sizeof exe, "%s", a->exe);
        char *del = strstr(exe, " (deleted)"); /* the old file went: the new one is there */
        if (del && !del[10]) *del = 0;
        nargv[0] = exe;
        cl_daemon_log(WHO, "re-executing %s", exe);
        cl__keep_zygote_stop(); /* the new image makes its own */
        free(a);
        execv(exe, nargv);
        cl_daemon_log(WHO,
                      "cannot re-execute %s: %s (the ranks run on under their keepers; "
                      "start an agent on the same work directory to adopt them)",
                      exe, strerror(errno));
        free(nargv);
        return 1;
    }
    free(a);
    cl_daemon_log(WHO, "exited");
    return 0;
}
