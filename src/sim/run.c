/* run.c - one simulation run: build the cluster, submit the workload, turn the event loop,
 * and reduce what happened to the figures the report prints. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"
#include "util/util.h"

void cl_sim_config_default(cl_sim_config_t *c, cl_sim_policy_t policy)
{
    memset(c, 0, sizeof(*c));
    c->preset = NULL;
    c->days = 30;
    c->seed = 1;
    c->workload = CL_WL_FRONTIER;
    c->policy = policy;
    c->queue = CL_POLICY_FAIRSHARE;
    c->spares_pct = 5; /* NCSA Delta study: ~5% spare capacity (colossus: 2%, below) */
    c->net_detect_s = -1;
    c->failure_scale = 1;
    c->repair_scale = 1;
    c->mfu = 0.40;
    c->mixed_frontier = 0.75;
    c->mixed_load = 0.90;
    c->stall_s = -1;
    /* power (docs/power.md): H100 SXM at 700 W computing, 70 W idle, 200 W its smallest
     * limit; ramps within 0.5% of the budget per second (arXiv 2508.14318's utilities); the
     * controller's limits reach the GPUs within a second of a grid signal */
    c->power = (cl_sim_power_config_t){.ramp_pct = 0.5,
                                       .smoothing = true,
                                       .cut_delay_s = 1,
                                       .admit_frac = 1,
                                       .gpu_w = 700,
                                       .idle_w = 70,
                                       .min_w = 200};
    if (policy == CL_SIM_NAIVE) {
        c->detect_s = 600;  /* PyTorch NCCL collective timeout */
        c->restart_s = 600; /* issue 4: synchronous restart */
        c->ckpt_interval_s = 3600;
        c->ckpt_cost_s = 51; /* ByteCheckpoint: synchronous save of a 405B model */
        c->replica_gpus = 0;
        c->hot_spares = false; /* a failed job goes back through the queue */
    } else {
        /* detection per class (failmodel.c): Colossus's own measured watches where it has
         * them */
        c->detect_s = -1;
        /* hot spares for 2% of the nodes: at colossus2's rates and assumed repair times about
         * 0.09% of the nodes are down at a time, and a 30-day run with 2% never finds a pod
         * short of a spare (requeues 0; docs/simulation.md, issue 16) */
        c->spares_pct = 2;
        c->restart_s = 200;      /* FT-HSDP: synchronous cold restart at 16K GPUs */
        c->ckpt_interval_s = 0;  /* Daly from the live failure rate */
        c->ckpt_cost_s = 0.59;   /* ByteCheckpoint: asynchronous checkpoint stall */
        c->replica_gpus = 16384; /* a replica the size the 200 s restart was measured at */
        c->hot_spares = true;    /* swap in place (the core's reserve per pod) */
    }
}

double cl_sim_detect_s(const cl_sim_config_t *c, uint32_t cls)
{
    if (c->detect_s >= 0) return c->detect_s;
    if (cls == CL_FAIL_NETWORK && c->net_detect_s >= 0) return c->net_detect_s;
    return cl_fail_classes[cls].detect_s;
}

static void fail_msg(cl_error_t *err, const char *msg)
{
    if (err) snprintf(err->msg, sizeof(err->msg), "%s", msg);
}

static void sim_free(sim_t *s)
{
    cl_cluster_destroy(s->cl);
    cl_eventq_free(&s->q);
    cl_decisions_free(&s->dec);
    free(s->node_down);
    free(s->gpu_failed);
    free(s->jobs);
    free(s->pend);
    free(s->waits);
    free(s->tenant_of);
    free(s->preemptible);
    free(s->res.tenants);
    cl__sim_power_free(s);
}

/* The next job of the mixed stream: 2^k nodes, k uniform (log-uniform sizes), run time
 * log-uniform between 30 minutes and 2 days. */
#define MIXED_DUR_MIN 1800.0
#define MIXED_DUR_MAX 172800.0
static void mixed_next(sim_t *s, double t)
{
    if (s->mixed_rate <= 0) return;
    double at = t + cl_rng_exp(&s->rng_work, 1.0 / s->mixed_rate);
    if (at <= s->end) cl_eventq_push(&s->q, at, EV_ARRIVAL, 0, 0, 0);
}

static int mixed_arrival(sim_t *s, double t, cl_error_t *err)
{
    uint32_t k = (uint32_t)cl_rng_below(&s->rng_work, s->mixed_max_log2 + 1);
    double u = cl_rng_uniform(&s->rng_work);
    double dur = exp(log(MIXED_DUR_MIN) + u * (log(MIXED_DUR_MAX) - log(MIXED_DUR_MIN)));
    dur = floor(dur);
    if (cl__sim_submit(s, (1u << k) * s->gpn, dur, t, false, 0, err)) return -1;
    mixed_next(s, t);
    return 0;
}

static int trace_arrival(sim_t *s, size_t i, double t, cl_error_t *err)
{
    const cl_trace_t *tr = s->cfg.trace;
    const cl_trace_job_t *tj = &tr->v[i];
    cl_error_t e;
    uint32_t tenant = s->tenant_of ? s->tenant_of[tj->cluster] : 0;
    if (cl__sim_submit(s, tj->gpus, tj->duration_s, t, false, tenant, &e)) {
        if (err)
            snprintf(err->msg, sizeof(err->msg), "%.60s:%u: job refused: %.160s", tr->file,
                     tj->line, e.msg);
        return -1;
    }
    if (i + 1 < tr->n && tr->v[i + 1].submit_s <= s->end)
        cl_eventq_push(&s->q, tr->v[i + 1].submit_s, EV_ARRIVAL, 1, i + 1, 0);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A plot sample: averages over the interval since the previous one. */
static void sample(sim_t *s, double t)
{
    cl_sim_result_t *r = &s->res;
    double avail = s->avail_gpu_s - s->last_avail;
    cl_sim_sample_t *x = &r->samples[r->nsamples++];
    x->t = t;
    x->util = avail > 0 ? (s->alloc_gpu_s - s->last_alloc) / avail : 0;
    x->goodput = avail > 0 ? (s->eff_gpu_s - s->last_eff) / avail : 0;
    x->failures = s->bucket_failures;
    s->bucket_failures = 0;
    s->last_alloc = s->alloc_gpu_s;
    s->last_avail = s->avail_gpu_s;
    s->last_eff = s->eff_gpu_s;
}

/* The cluster of the run: topology, core, per-node state, random streams. */
static int setup_cluster(sim_t *s, const cl_sim_config_t *cfg, cl_error_t *err)
{
    cl_error_t e;
    const char *preset = cfg->preset ? cfg->preset : "hgx";
    if (!(cfg->days > 0)) {
        fail_msg(err, "--days must be > 0");
        return -1;
    }
    cl_topo_t *topo = cl_topo_preset(preset, cfg->nodes, cfg->gpus_per_node, &e);
    if (!topo) {
        if (err) *err = e;
        return -1;
    }
    cl_cluster_opts_t opts;
    cl_cluster_opts_default(&opts);
    opts.policy = cfg->queue;
    opts.spare_fraction = cfg->hot_spares ? cfg->spares_pct / 100.0 : 0;
    s->cl = cl_cluster_create(topo, &opts, &e);
    if (!s->cl) {
        if (err) *err = e;
        return -1;
    }
    const cl_topo_t *t = cl_cluster_topo(s->cl);
    s->nodes = cl_topo_nodes(t);
    s->gpn = cl_topo_gpus_per_node(t);
    s->gpus = cl_topo_gpus(t);
    s->end = cfg->days * 86400.0;
    s->node_down = cl_xcalloc(s->nodes, 1);
    s->gpu_failed = cl_xcalloc(s->nodes, sizeof(uint64_t));
    cl_rng_seed(&s->rng_fail, cfg->seed);
    cl_rng_seed(&s->rng_repair, cfg->seed ^ 0x5265706169722121ULL);
    cl_rng_seed(&s->rng_work, cfg->seed ^ 0x576f726b6c6f6164ULL);
    cl_fail_sampler_init(&s->sampler, s->nodes, s->gpn, cfg->failure_scale);
    s->res.gpus = s->gpus;
    s->res.nodes = s->nodes;
    s->res.days = cfg->days;
    s->res.sim_s = s->end;
    s->res.ettr = -1;
    return 0;
}

/* The frontier job (frontier and mixed workloads) holds every node but the spares (or
 * headroom), and in the mixed workload a share of them only: the stream of jobs of the mixed
 * workload gets the rest. */
static int setup_frontier(sim_t *s, const cl_sim_config_t *cfg, cl_error_t *err)
{
    cl_error_t e;
    cl_stats_t st;
    cl_cluster_stats(s->cl, &st);
    uint32_t spare = (uint32_t)ceil((double)s->nodes * cfg->spares_pct / 100.0);
    if (cfg->hot_spares && st.spares_target > spare) spare = st.spares_target;
    uint32_t fnodes = s->nodes > spare ? s->nodes - spare : 0;
    if (cfg->workload == CL_WL_MIXED)
        fnodes = (uint32_t)floor((double)fnodes * cfg->mixed_frontier);
    if (fnodes == 0) {
        fail_msg(err, "no nodes left for the frontier job (cluster too small for the "
                      "spares)");
        return -1;
    }
    if (cl__sim_submit(s, fnodes * s->gpn, INFINITY, 0, true, 0, &e)) {
        snprintf(err->msg, sizeof(err->msg), "frontier job refused: %.200s", e.msg);
        return -1;
    }
    s->frontier = s->njobs - 1;
    sim_job_t *f = &s->jobs[s->frontier];
    s->res.frontier_gpus = f->gpus;
    s->res.frontier_mtbf_s = f->model_mtbf;
    if (cfg->workload != CL_WL_MIXED) return 0;
    uint32_t rest = s->nodes - spare - fnodes;
    if (rest == 0) {
        fail_msg(err, "no nodes left for the mixed job stream");
        return -1;
    }
    uint32_t k = 0;
    while (k < 12 && (2u << k) <= rest)
        k++;
    s->mixed_max_log2 = k;
    double mean_nodes = (double)((2u << k) - 1) / (double)(k + 1);
    double mean_dur = (MIXED_DUR_MAX - MIXED_DUR_MIN) / log(MIXED_DUR_MAX / MIXED_DUR_MIN);
    s->mixed_rate = cfg->mixed_load * (double)rest / (mean_nodes * mean_dur);
    mixed_next(s, 0);
    return 0;
}

/* The trace workload: every job must fit the cluster; with trace_tenants each cluster of the
 * trace is a tenant of one share. The first arrival is queued; each queues the next. */
static int setup_trace(sim_t *s, const cl_sim_config_t *cfg, cl_error_t *err)
{
    cl_error_t e;
    const cl_trace_t *tr = cfg->trace;
    if (!tr || !tr->n) {
        fail_msg(err, "--workload trace needs --trace FILE.csv");
        return -1;
    }
    for (size_t i = 0; i < tr->n; i++)
        if (tr->v[i].gpus > s->gpus) {
            snprintf(err->msg, sizeof(err->msg),
                     "%s:%u: job needs %u GPUs; the simulated cluster has %llu", tr->file,
                     tr->v[i].line, tr->v[i].gpus, (unsigned long long)s->gpus);
            return -1;
        }
    if (cfg->tenants && cfg->trace_tenants) {
        fail_msg(err, "give a tenants file or trace tenants by cluster, not both");
        return -1;
    }
    if ((cfg->trace_tenants || cfg->tenants) && tr->nclusters) {
        s->tenant_of = cl_xcalloc(tr->nclusters, sizeof(uint32_t));
    }
    if (cfg->tenants) {
        s->preemptible = cl_xcalloc(cfg->tenants->n + 1, sizeof(bool));
        if (cl__sim_tenants_setup(s->cl, cfg->tenants, tr->clusters, tr->nclusters,
                                  s->tenant_of, s->preemptible, err))
            return -1;
    } else if (cfg->trace_tenants && tr->nclusters) {
        for (size_t i = 0; i < tr->nclusters; i++) {
            int ti = cl_tenant_add(s->cl, tr->clusters[i], 1.0, &e);
            if (ti < 0) {
                snprintf(err->msg, sizeof(err->msg), "tenant '%.60s': %.180s", tr->clusters[i],
                         e.msg);
                return -1;
            }
            s->tenant_of[i] = (uint32_t)ti;
        }
    }
    if (cfg->tenants || cfg->trace_tenants) { /* per-tenant figures for the report */
        s->ntres = cl_tenant_count(s->cl);
        s->res.tenants = s->tres = cl_xcalloc(s->ntres, sizeof(cl_sim_tenant_result_t));
        s->res.ntenants = s->ntres;
        for (size_t i = 0; i < s->ntres; i++)
            snprintf(s->tres[i].name, sizeof(s->tres[i].name), "%s",
                     cl_tenant_name(s->cl, (uint32_t)i));
    }
    if (cfg->tenants && cfg->tenants->budget_period_s > 0 &&
        cfg->tenants->budget_period_s <= s->end)
        cl_eventq_push(&s->q, cfg->tenants->budget_period_s, EV_PERIOD, 0, 0, 0);
    if (tr->v[0].submit_s <= s->end)
        cl_eventq_push(&s->q, tr->v[0].submit_s, EV_ARRIVAL, 1, 0, 0);
    return 0;
}

/* A new budget period: every tenant's budget starts again (the driver owns the calendar). */
static void budget_period(sim_t *s, double t)
{
    for (uint32_t i = 0; i < cl_tenant_count(s->cl); i++) {
        cl_tenant_conf_t f;
        cl_tenant_get(s->cl, i, &f);
        if (f.budget_gpu_s > 0) cl_tenant_budget_set(s->cl, i, 0, t, NULL);
    }
    double next = t + s->cfg.tenants->budget_period_s;
    if (next <= s->end) cl_eventq_push(&s->q, next, EV_PERIOD, 0, 0, 0);
    s->need_sched = true;
}

/* Everything before the first event: the cluster, the workload, the first failure and the
 * plot's sample times (in this order: the order of the pushes is part of the result). */
static int setup(sim_t *s, const cl_sim_config_t *cfg, cl_error_t *err)
{
    if (setup_cluster(s, cfg, err) || cl__sim_power_setup(s, err)) return -1;
    if (cfg->workload == CL_WL_TRACE ? setup_trace(s, cfg, err) : setup_frontier(s, cfg, err))
        return -1;
    cl_fail_draw_t d;
    cl_fail_sample(&s->sampler, &s->rng_fail, 0, s->gpn, &d);
    if (d.t <= s->end)
        cl_eventq_push(&s->q, d.t, EV_FAIL, d.cls, ((uint64_t)d.node << 8) | d.gpu, 0);
    if (cfg->plot_points) {
        s->res.samples = cl_xcalloc(cfg->plot_points + 1, sizeof(cl_sim_sample_t));
        for (uint32_t i = 1; i <= cfg->plot_points; i++)
            cl_eventq_push(&s->q, s->end * i / cfg->plot_points, EV_SAMPLE, 0, 0, 0);
    }
    return 0;
}

static void finish(sim_t *s)
{
    cl_sim_result_t *r = &s->res;
    cl__sim_clock_to(s, s->end);
    for (size_t i = 1; i < s->njobs; i++) {
        sim_job_t *j = &s->jobs[i];
        if (!j->live) continue;
        double p = cl__sim_job_progress(s, j, s->end);
        s->useful_gpu_s += p * (double)j->gpus;
        if (j->frontier) {
            r->ettr = p / s->end;
            /* Daly's expectation for the job as configured, with the mean detection time */
            double det = s->cfg.detect_s;
            if (det < 0) { /* the mean over the job's failures, by class rate */
                double w = 0, sum = 0;
                for (int c = 0; c < CL_FAIL_CLASSES; c++) {
                    const cl_fail_class_t *fc = &cl_fail_classes[c];
                    double rate = fc->rate_per_h * (fc->per_node ? j->gpus / s->gpn : j->gpus);
                    sum += rate * cl_sim_detect_s(&s->cfg, (uint32_t)c);
                    w += rate;
                }
                det = sum / w;
            }
            double m = j->model_mtbf;
            if (j->contained) {
                double stall = s->cfg.stall_s >= 0 ? s->cfg.stall_s : det;
                r->daly_ettr = exp(-stall / m) *
                               (1.0 - j->replica_share * s->cfg.restart_s / m) *
                               cl__sim_job_eff(j);
            } else {
                r->daly_ettr =
                    1.0 / cl_daly_walltime_ratio(j->tau, j->delta, m, det + s->cfg.restart_s);
            }
        }
    }
    /* jobs still waiting at the end count with the wait they have had so far */
    for (size_t i = 1; i < s->njobs; i++) {
        sim_job_t *j = &s->jobs[i];
        if (j->live && !j->frontier && j->first_start < 0) {
            if (s->nwaits == s->capwaits) {
                size_t cap = s->capwaits ? s->capwaits * 2 : 64;
                double *v = cl_xrealloc(s->waits, cap * sizeof(*v));
                s->waits = v;
                s->capwaits = cap;
            }
            s->waits[s->nwaits++] = s->end - j->submit;
        }
    }
    r->avail_gpu_s = s->avail_gpu_s;
    r->alloc_gpu_s = s->alloc_gpu_s;
    r->useful_gpu_s = s->useful_gpu_s;
    r->utilization = s->avail_gpu_s > 0 ? s->alloc_gpu_s / s->avail_gpu_s : 0;
    r->goodput = s->avail_gpu_s > 0 ? s->useful_gpu_s / s->avail_gpu_s : 0;
    r->sustained_exaflops = s->useful_gpu_s / s->end * 989e12 * s->cfg.mfu / 1e18;
    r->lost_gpu_hours = (s->alloc_gpu_s - s->useful_gpu_s) / 3600.0;
    if (r->lost_gpu_hours < 0) r->lost_gpu_hours = 0;
    r->mean_jct_s = r->jobs_completed ? s->jct_sum / (double)r->jobs_completed : 0;
    if (s->nwaits) {
        qsort(s->waits, s->nwaits, sizeof(double), cmp_double);
        size_t k = (size_t)ceil(0.99 * (double)s->nwaits);
        r->p99_wait_s = s->waits[k ? k - 1 : 0];
        double sum = 0;
        for (size_t i = 0; i < s->nwaits; i++)
            sum += s->waits[i];
        r->mean_wait_s = sum / (double)s->nwaits;
    }
}

/* One scheduling pass, after every event of an instant has been handled. */
static void pass(sim_t *s)
{
    s->need_sched = false;
    double w0 = cl_now_ms();
    cl_schedule(s->cl, s->now, &s->dec);
    double dw = (cl_now_ms() - w0) / 1e3;
    s->res.core_sched_s += dw;
    if (dw > s->res.core_sched_max_s) s->res.core_sched_max_s = dw;
    s->res.sched_passes++;
    cl__sim_decisions(s, s->now);
    /* a budget that stops its jobs runs out with no event: a pass then */
    double w = cl_next_wakeup(s->cl, s->now);
    if (w > s->now && w <= s->end && w < s->wake_at) {
        cl_eventq_push(&s->q, w, EV_WAKEUP, 0, 0, 0);
        s->wake_at = w;
    }
}

/* O(cluster): the core's own consistency check, and the GPUs the simulator believes are
 * allocated against the core's count. */
static int check_core(sim_t *s, cl_error_t *err)
{
    cl_error_t ce;
    if (cl_cluster_check(s->cl, &ce)) {
        snprintf(err->msg, sizeof(err->msg), "core check at t=%.3f: %.200s", s->now, ce.msg);
        return -1;
    }
    cl_stats_t st;
    cl_cluster_stats(s->cl, &st);
    if (st.gpus_alloc != s->alloc_gpus) {
        snprintf(err->msg, sizeof(err->msg),
                 "at t=%.3f the core has %llu GPUs allocated, the simulator %llu", s->now,
                 (unsigned long long)st.gpus_alloc, (unsigned long long)s->alloc_gpus);
        return -1;
    }
    if (s->core_refusals) {
        snprintf(err->msg, sizeof(err->msg), "at t=%.3f the core refused: %.200s", s->now,
                 s->last_refusal);
        return -1;
    }
    return 0;
}

int cl_sim_run(const cl_sim_config_t *cfg, cl_sim_result_t *res, cl_error_t *err)
{
    double t0 = cl_now_ms();
    sim_t *s = cl_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->wake_at = INFINITY;
    cl_eventq_init(&s->q);
    int rc = -1;
    if (setup(s, cfg, err)) goto out;
    cl_event_t e;
    if (s->need_sched) /* the jobs submitted at time 0 */
        pass(s);
    while (cl_eventq_pop(&s->q, &e)) {
        if (e.t > s->end) break;
        cl__sim_clock_to(s, e.t);
        s->res.events++;
        if (e.type == EV_ARRIVAL) {
            if (e.a == 0 ? mixed_arrival(s, e.t, err) : trace_arrival(s, e.b, e.t, err))
                goto out;
        } else if (e.type == EV_SAMPLE) {
            sample(s, e.t);
        } else if (e.type == EV_PERIOD) {
            budget_period(s, e.t);
        } else if (e.type == EV_CUT) {
            if (cl_power_cut(s->cl, cfg->power.cut_pct, err) < 0) goto out;
            s->need_sched = true;
        } else if (e.type == EV_WAKEUP) {
            if (e.t >= s->wake_at) s->wake_at = INFINITY;
            s->need_sched = true;
        } else {
            cl__sim_handle(s, &e);
        }
        const cl_event_t *nx = cl_eventq_peek(&s->q);
        if (s->need_sched && (!nx || nx->t > s->now)) pass(s);
        if (cfg->check_core && check_core(s, err)) goto out;
    }
    finish(s);
    cl__sim_power_finish(s);
    s->res.core_refusals = s->core_refusals;
    s->res.jobs_failed = s->jobs_failed;
    memcpy(s->res.class_failures, s->class_failures, sizeof(s->class_failures));
    if (s->core_refusals)
        snprintf(s->res.last_refusal, sizeof(s->res.last_refusal), "%s", s->last_refusal);
    s->res.elapsed_s = (cl_now_ms() - t0) / 1e3;
    *res = s->res;
    s->res.samples = NULL;
    s->res.tenants = NULL;
    s->res.power_draw_mw = s->res.power_raw_mw = s->res.power_budget_mw = NULL;
    rc = 0;
out:
    free(s->res.samples);
    sim_free(s);
    free(s);
    return rc;
}

void cl_sim_result_free(cl_sim_result_t *r)
{
    if (!r) return;
    free(r->samples);
    r->samples = NULL;
    r->nsamples = 0;
    free(r->tenants);
    r->tenants = NULL;
    r->ntenants = 0;
    free(r->power_draw_mw);
    free(r->power_raw_mw);
    free(r->power_budget_mw);
    r->power_draw_mw = r->power_raw_mw = r->power_budget_mw = NULL;
    r->npower = 0;
}
