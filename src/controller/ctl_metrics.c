/* ctl_metrics.c - the controller's /metrics (docs/metrics.md): cluster totals, the scheduler,
 * the journal, failures and per-tenant figures in the Prometheus text format, rendered on the
 * loop from the controller's state and counters (ctl_counters_t), with the aggregates by pod
 * of ctl_metrics_pod.c. Per-GPU and per-node series do not belong here (docs/metrics.md,
 * "Cardinality"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/prom.h"
#include "controller/ctl.h"
#include "controller/ctl_acct.h"
#include "controller/ctl_metrics_pod.h"
#include "gpu/health.h"

int ctl_metrics_allowed(ctl_t *c, const ctl_principal_t *who, cl_error_t *why)
{
    ctl_caller_t k;
    if (ctl_caller_resolve(c, who, &k, why) < 0) return -1;
    if (!k.sees_all)
        return cl_err(why, "/metrics holds every tenant's figures: it is for an admin or an "
                           "operator (a token with read scope is enough)");
    return 0;
}

#define P "colossus_"

static void gauge1(cl_prom_t *p, const char *name, const char *help, double v)
{
    cl_prom_family(p, name, "gauge", help);
    cl_prom_sample(p, name, NULL, v);
}

/* Registered nodes by state and their GPUs: a slot no agent's name owns is down in the
 * core, but it is no node (the topology's size is colossus_node_slots). The same pass sums
 * the heartbeating nodes' telemetry into agg[pod] (a down node's last report is stale). */
/* Why a registered node is out of service, as a label of few values (its reason is free
 * text: no label of its own). */
enum { OUT_DOWN, OUT_MAINT, OUT_HEALTH, OUT_ADMIN, OUT_N };
static const char *const out_label[OUT_N] = {"down", "maintenance", "gpu_health", "admin"};

static int out_class(const ctl_node_t *n, cl_node_state_t s)
{
    if (s == CL_NODE_UP) return -1;
    if (s == CL_NODE_DOWN) return OUT_DOWN;
    if (s == CL_NODE_MAINT) return OUT_MAINT;
    /* draining or drained: by its GPU health latch ("keep-out: ...", ctl_health.c), or not */
    for (cl_health_action_t a = CL_HEALTH_DRAIN_AFTER_JOB; a <= CL_HEALTH_KEEP_OUT; a++) {
        const char *name = cl_health_action_name(a);
        size_t len = strlen(name);
        if (!strncmp(n->reason, name, len) && n->reason[len] == ':') return OUT_HEALTH;
    }
    return OUT_ADMIN;
}

static void nodes_gpus(ctl_t *c, cl_prom_t *p, ctl_podagg_t *agg)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    cl_stats_t st;
    cl_cluster_stats(c->cluster, &st);
    uint64_t by[CL_NODE_MAINT + 1] = {0}, out[OUT_N] = {0}, cap = 0, free_ = 0, failed = 0,
                                unavail = 0;
    uint32_t reg = 0, alive = 0;
    for (uint32_t i = 0; i < c->nnodes; i++) {
        cl_node_info_t ni;
        if (!c->nodes[i].bound || cl_node_get(c->cluster, i, &ni) < 0) continue;
        reg++;
        alive += c->nodes[i].alive;
        if (c->nodes[i].alive)
            ctl_podagg_add(&agg[cl_topo_node_pod(t, i)], ctl_health_telemetry(c, i));
        by[ni.state]++;
        int why = out_class(&c->nodes[i], ni.state);
        if (why >= 0) out[why]++;
        cap += c->gpus_per_node;
        failed += (uint64_t)__builtin_popcountll(ni.failed);
        *(ni.state == CL_NODE_UP ? &free_ : &unavail) +=
            (uint64_t)__builtin_popcountll(ni.free);
    }
    gauge1(p, P "node_slots", "Node slots of the topology (registered or not).", c->nnodes);
    cl_prom_family(p, P "nodes", "gauge", "Registered nodes by state.");
    for (cl_node_state_t s = CL_NODE_UP; s <= CL_NODE_MAINT; s++)
        cl_prom_sample1(p, P "nodes", "state", cl_node_state_name(s), (double)by[s]);
    cl_prom_family(p, P "nodes_unavailable", "gauge",
                   "Registered nodes out of service by why: down (no heartbeat), maintenance, "
                   "gpu_health (their GPU health latch drained them), admin (an operator "
                   "drained them).");
    for (int k = 0; k < OUT_N; k++)
        cl_prom_sample1(p, P "nodes_unavailable", "reason", out_label[k], (double)out[k]);
    gauge1(p, P "nodes_registered", "Node slots an agent's name owns.", reg);
    gauge1(p, P "nodes_heartbeating", "Registered nodes heartbeating now.", alive);
    gauge1(p, P "nodes_spare", "Free nodes held in the pods' hot-spare reserve.",
           st.spares_free);
    gauge1(p, P "nodes_spare_target", "Hot spares the reserve aims to hold.", st.spares_target);
    gauge1(p, P "gpus_capacity", "GPUs of the registered nodes.", (double)cap);
    cl_prom_family(p, P "gpus", "gauge",
                   "GPUs of the registered nodes by state: allocated to jobs, free (healthy "
                   "and unallocated on up nodes), failed (or absent from the machine), "
                   "unavailable (healthy and unallocated on nodes down, draining, drained or "
                   "in maintenance).");
    cl_prom_sample1(p, P "gpus", "state", "allocated", (double)st.gpus_alloc);
    cl_prom_sample1(p, P "gpus", "state", "free", (double)free_);
    cl_prom_sample1(p, P "gpus", "state", "failed", (double)failed);
    cl_prom_sample1(p, P "gpus", "state", "unavailable", (double)unavail);
}

/* Short label values of the pending reasons (cl_pend_t). */
static const char *const pend_label[] = {
    [CL_PEND_NONE] = "none",
    [CL_PEND_NEW] = "new",
    [CL_PEND_PRIORITY] = "priority",
    [CL_PEND_RESOURCES] = "resources",
    [CL_PEND_RESERVED] = "reserved",
    [CL_PEND_HELD] = "held",
    [CL_PEND_QUOTA] = "quota",
    [CL_PEND_BUDGET] = "budget",
    [CL_PEND_QOS] = "qos",
    [CL_PEND_NODES] = "nodes",
    [CL_PEND_POWER] = "power",
    [CL_PEND_HOLD] = "hold",
    [CL_PEND_DEPENDENCY] = "dependency",
    [CL_PEND_ARRAY] = "array",
    [CL_PEND_CPUMEM] = "cpu_mem",
};
#define NPEND (sizeof pend_label / sizeof pend_label[0])

/* Goodput's floor: the GPU-seconds of runs that succeeded or are running, of all the
 * GPU-seconds runs used (since the controller started). A run that ended otherwise counts as
 * lost whole: what it kept in a checkpoint only the job knows (docs/metrics.md). */
static void goodput(ctl_t *c, cl_prom_t *p, double running_s)
{
    cl_prom_family(p, P "run_gpu_seconds_total", "counter",
                   "GPU-seconds of the runs that ended since the controller started, by how "
                   "they ended (their usage records).");
    double used = running_s;
    for (int i = 0; i < CTL_RUN_ENDS; i++) {
        cl_prom_sample1(p, P "run_gpu_seconds_total", "ended", ctl_run_ends[i],
                        c->count.run_gpu_s[i]);
        used += c->count.run_gpu_s[i];
    }
    gauge1(p, P "running_gpu_seconds", "GPU-seconds the runs running now have used so far.",
           running_s);
    if (used <= 0) return; /* no GPU time yet: no ratio */
    gauge1(p, P "goodput_floor_ratio",
           "GPU-seconds of runs that succeeded or are running over all the GPU-seconds runs "
           "used, since the controller started; a run that ended otherwise counts as lost "
           "whole (what its checkpoint kept is not seen), so this is a lower bound.",
           (c->count.run_gpu_s[0] + running_s) / used);
}

static void jobs(ctl_t *c, cl_prom_t *p)
{
    uint64_t by[CL_JOB_CANCELLED + 1] = {0}, why[NPEND] = {0};
    double now = ctl_now(c), running_s = 0;
    for (cl_jobid_t id = cl_jobs_next(c->cluster, 0); id; id = cl_jobs_next(c->cluster, id)) {
        cl_job_info_t ji;
        if (cl_job_get(c->cluster, id, &ji) < 0) continue;
        by[ji.state]++;
        const ctl_job_t *j = ji.state == CL_JOB_RUNNING ? ctl_job_get(c, id) : NULL;
        if (j && j->run && now > j->run->start)
            running_s += j->run->gpus * (now - j->run->start);
        cl_pending_t pd;
        if (ji.state == CL_JOB_PENDING && cl_job_pending(c->cluster, id, &pd) == 0 &&
            (unsigned)pd.why < NPEND)
            why[pd.why]++;
    }
    cl_prom_family(p, P "jobs", "gauge", "Jobs pending or running now.");
    cl_prom_sample1(p, P "jobs", "state", "pending", (double)by[CL_JOB_PENDING]);
    cl_prom_sample1(p, P "jobs", "state", "running", (double)by[CL_JOB_RUNNING]);
    cl_prom_family(p, P "jobs_pending", "gauge",
                   "The queue: pending jobs by the reason the last scheduling pass gave.");
    for (size_t r = CL_PEND_NEW; r < NPEND; r++)
        cl_prom_sample1(p, P "jobs_pending", "reason", pend_label[r], (double)why[r]);
    cl_prom_family(p, P "jobs_submitted_total", "counter",
                   "Jobs accepted since the controller started.");
    cl_prom_sample(p, P "jobs_submitted_total", NULL, (double)c->count.submitted);
    cl_prom_family(p, P "jobs_ended_total", "counter",
                   "Jobs that ended since the controller started, by their final state.");
    for (cl_job_state_t s = CL_JOB_SUCCEEDED; s <= CL_JOB_CANCELLED; s++)
        cl_prom_sample1(p, P "jobs_ended_total", "state", cl_job_state_name(s),
                        (double)c->count.ended[s]);
    goodput(c, p, running_s);
}

static void scheduler(ctl_t *c, cl_prom_t *p)
{
    const char *h = P "scheduler_pass_seconds";
    cl_prom_family(p, h, "histogram",
                   "CPU time of the scheduling passes (the core's pass and carrying out its "
                   "decisions), since the controller started.");
    uint64_t cum = 0;
    double le = 1e-4;
    char name[96], lev[32];
    snprintf(name, sizeof name, "%s_bucket", h);
    for (unsigned b = 0; b <= CTL_PASS_BUCKETS; b++, le *= 10) {
        cum += c->count.pass_le[b];
        if (b < CTL_PASS_BUCKETS)
            snprintf(lev, sizeof lev, "%g", le);
        else
            snprintf(lev, sizeof lev, "+Inf");
        cl_prom_sample1(p, name, "le", lev, (double)cum);
    }
    snprintf(name, sizeof name, "%s_sum", h);
    cl_prom_sample(p, name, NULL, c->count.pass_s);
    snprintf(name, sizeof name, "%s_count", h);
    cl_prom_sample(p, name, NULL, (double)c->count.passes);
    cl_prom_family(
        p, P "scheduler_decisions_total", "counter",
        "Decisions carried out, by action (start; preempt; restart in place on a "
        "hot spare, requeue and fail after a failure; dep_never: cancelled, a dependency can "
        "never be satisfied).");
    for (cl_action_t a = CL_ACT_START; a <= CL_ACT_DEP_NEVER; a++)
        cl_prom_sample1(p, P "scheduler_decisions_total", "action", cl_action_name(a),
                        (double)c->count.decisions[a]);
}

static void failures(ctl_t *c, const ctl_metrics_srv_t *srv, cl_prom_t *p)
{
    static const char *const how[CTL_DETECT_N] = {"heartbeat", "agent_restart", "gpu_health"};
    cl_prom_family(p, P "node_failures_total", "counter",
                   "Node failures the controller acted on, by how it found them.");
    for (int d = 0; d < CTL_DETECT_N; d++)
        cl_prom_sample1(p, P "node_failures_total", "detected_by", how[d],
                        (double)c->count.detections[d]);
    cl_prom_family(p, P "leaf_network_events_total", "counter",
                   "Leaf switches whose nodes were lost together (4 or more within two "
                   "heartbeat periods): one event each, its nodes counted as node failures.");
    cl_prom_sample(p, P "leaf_network_events_total", NULL, (double)c->count.leaf_events);
    gauge1(p, P "journal_commit_failing",
           "1 while the journal cannot commit (acknowledgements wait), else 0.",
           c->commit_failing_since != 0);
    if (!srv) return;
    cl_prom_family(p, P "journal_commit_seconds", "summary",
                   "Time of the journal's group commits in the store.");
    cl_prom_sample(p, P "journal_commit_seconds_sum", NULL, srv->commit_s);
    cl_prom_sample(p, P "journal_commit_seconds_count", NULL, (double)srv->commits);
    gauge1(p, P "connections", "Framed connections open (agents and clients).",
           srv->connections);
}

/* A tenant's figures, gathered once for its families. */
typedef struct tenant_row {
    const char *name;
    cl_tenant_state_t st;
    cl_tenant_conf_t conf;
    const ctl_tenant_t *ext;
} tenant_row_t;

static void tenants(ctl_t *c, cl_prom_t *p)
{
    uint32_t n = cl_tenant_count(c->cluster);
    tenant_row_t *t = cl_xcalloc(n + 1, sizeof *t);
    static const ctl_tenant_t none;
    for (uint32_t i = 0; i < n; i++) {
        t[i].name = cl_tenant_name(c->cluster, i);
        cl_tenant_state(c->cluster, i, ctl_now(c), &t[i].st);
        cl_tenant_get(c->cluster, i, &t[i].conf);
        t[i].ext = i < c->acct->ntenants ? &c->acct->tenants[i] : &none;
    }
#define TENANTS(fam, type, help, cond, expr)                                                   \
    do {                                                                                       \
        cl_prom_family(p, P fam, type, help);                                                  \
        for (uint32_t i = 0; i < n; i++)                                                       \
            if (cond) cl_prom_sample1(p, P fam, "tenant", t[i].name, (double)(expr));          \
    } while (0)
    TENANTS("tenant_gpus_running", "gauge",
            "GPUs its quota counts now (its jobs', with its sub-tenants' for a parent).", 1,
            t[i].st.gpus_running);
    TENANTS("tenant_gpus_quota", "gauge", "Its nominal GPU quota (tenants that have one).",
            t[i].conf.quota_gpus != CL_UNLIMITED, t[i].conf.quota_gpus);
    TENANTS("tenant_gpus_borrowed", "gauge", "GPUs beyond its quota it holds now (borrowed).",
            1, t[i].st.borrowed);
    TENANTS("tenant_jobs_running", "gauge", "Its own jobs running now.", 1,
            t[i].st.jobs_running);
    TENANTS("tenant_jobs_pending", "gauge", "Its own jobs pending now.", 1,
            t[i].st.jobs_pending);
    TENANTS("tenant_gpu_seconds_total", "counter",
            "GPU-seconds of its runs accounted since the controller started.", 1,
            t[i].ext->gpu_s);
    TENANTS("tenant_energy_joules_total", "counter",
            "Energy its runs' nodes reported, accounted since the controller started.", 1,
            t[i].ext->energy_j);
    TENANTS("tenant_budget_used_gpu_seconds", "gauge",
            "GPU-seconds used in its current budget period (tenants with a budget).",
            t[i].conf.budget_gpu_s > 0, t[i].st.budget_used_gpu_s);
    TENANTS("tenant_budget_gpu_seconds", "gauge",
            "Its GPU-second budget per period (tenants with a budget).",
            t[i].conf.budget_gpu_s > 0, t[i].conf.budget_gpu_s);
#undef TENANTS
    free(t);
}

char *ctl_metrics_render(ctl_t *c, const ctl_metrics_srv_t *srv, size_t *len,
                         uint64_t *nsamples)
{
    double t0 = ctl_cpu_s();
    cl_prom_t p = {0};
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    ctl_podagg_t *agg = cl_xcalloc(cl_topo_pods(t) + 1, sizeof *agg);
    nodes_gpus(c, &p, agg);
    ctl_podagg_render(&p, t, agg);
    free(agg);
    ctl_metrics_xids(c, &p);
    jobs(c, &p);
    scheduler(c, &p);
    ctl_power_metrics(c, &p);
    failures(c, srv, &p);
    tenants(c, &p);
    cl_prom_family(&p, P "metrics_render_seconds", "summary",
                   "CPU time of the controller's loop rendering /metrics (this scrape's not "
                   "included).");
    cl_prom_sample(&p, P "metrics_render_seconds_sum", NULL, c->count.render_s);
    cl_prom_sample(&p, P "metrics_render_seconds_count", NULL, (double)c->count.renders);
    c->count.renders++;
    c->count.render_s += ctl_cpu_s() - t0;
    if (nsamples) *nsamples = p.nsamples;
    return cl_prom_take(&p, len);
}
