/* power_plan.c - per-GPU power limits from budgets (by priority, then evenly, never below
 * the GPUs' minimum), and the throughput a GPU keeps under a limit. */
#include <math.h>
#include <string.h>

#include "core/internal.h"

/* Throughput against the power limit as a fraction of the default: measured, BERT-base
 * fine-tuning (SQuAD, batch 32) on an A40 (Ampere, 300 W default) at each limit from 100 to
 * 300 W, the Zeus NSDI'23 power trace (ml-energy/zeus, summary_power_a40.csv: time per
 * epoch at 300 W over that at the limit); proportional below its lowest point. No H100
 * sweep of training was found to read; docs/power.md. */
static const double curve[][2] = {{0.0, 0.0},     {1.0 / 3, 0.2458},  {5.0 / 12, 0.3819},
                                  {0.5, 0.5734},  {7.0 / 12, 0.7862}, {2.0 / 3, 0.8846},
                                  {0.75, 0.9402}, {5.0 / 6, 0.9728},  {11.0 / 12, 0.9958},
                                  {1.0, 1.0}};

double cl_power_perf(double frac)
{
    if (!(frac > 0)) return 0;
    if (frac >= 1) return 1;
    size_t n = sizeof curve / sizeof curve[0];
    for (size_t i = 1; i < n; i++)
        if (frac <= curve[i][0]) {
            double x0 = curve[i - 1][0], y0 = curve[i - 1][1];
            return y0 + (frac - x0) / (curve[i][0] - x0) * (curve[i][1] - y0);
        }
    return 1;
}

/* The planner's state: per level, what is left of its budget and the GPUs of the jobs
 * being raised now. Level 0 is the site, 1 + p pod p, 1 + npods + l leaf l. */
typedef struct plan {
    double *left;
    uint64_t *rate;
    uint8_t *full;
    uint32_t nlv, leaf0;
} plan_t;

static uint64_t job_gpus(const cl_power_job_t *j)
{
    uint64_t g = 0;
    for (uint32_t k = 0; k < j->npods; k++)
        g += j->gpus[k];
    return g;
}

/* Take w per GPU of job j from every level it touches (sign -1 gives it back). */
static void take(plan_t *pl, const cl_power_job_t *j, double w)
{
    pl->left[0] -= w * (double)job_gpus(j);
    for (uint32_t k = 0; k < j->npods; k++)
        pl->left[1 + j->pods[k]] -= w * (double)j->gpus[k];
    for (uint32_t k = 0; k < j->nleaves; k++)
        pl->left[pl->leaf0 + j->leaves[k]] -= w * (double)j->leaf_gpus[k];
}

static int touches_full(const plan_t *pl, const cl_power_job_t *j)
{
    if (pl->full[0]) return 1;
    for (uint32_t k = 0; k < j->npods; k++)
        if (pl->full[1 + j->pods[k]]) return 1;
    for (uint32_t k = 0; k < j->nleaves; k++)
        if (pl->full[pl->leaf0 + j->leaves[k]]) return 1;
    return 0;
}

/* Raise the jobs of one priority (active[i] set) together until each reaches its want or
 * a level it touches is full: progressive filling, one job or level frozen per round. */
static void raise_level(plan_t *pl, const cl_power_job_t *jobs, size_t n, double *lim,
                        uint8_t *active)
{
    for (;;) {
        memset(pl->rate, 0, sizeof(uint64_t) * pl->nlv);
        double step = INFINITY;
        size_t nact = 0;
        for (size_t i = 0; i < n; i++) {
            if (!active[i]) continue;
            if (touches_full(pl, &jobs[i]) || lim[i] >= jobs[i].want_w - 1e-9) {
                active[i] = 0;
                continue;
            }
            nact++;
            pl->rate[0] += job_gpus(&jobs[i]);
            for (uint32_t k = 0; k < jobs[i].npods; k++)
                pl->rate[1 + jobs[i].pods[k]] += jobs[i].gpus[k];
            for (uint32_t k = 0; k < jobs[i].nleaves; k++)
                pl->rate[pl->leaf0 + jobs[i].leaves[k]] += jobs[i].leaf_gpus[k];
            if (jobs[i].want_w - lim[i] < step) step = jobs[i].want_w - lim[i];
        }
        if (!nact) return;
        for (uint32_t l = 0; l < pl->nlv; l++)
            if (pl->rate[l] && pl->left[l] / (double)pl->rate[l] < step)
                step = pl->left[l] / (double)pl->rate[l];
        if (step < 0) step = 0;
        for (size_t i = 0; i < n; i++)
            if (active[i]) {
                lim[i] += step;
                take(pl, &jobs[i], step);
            }
        for (uint32_t l = 0; l < pl->nlv; l++)
            if (pl->rate[l] && pl->left[l] <= 1e-6 * (double)pl->rate[l]) pl->full[l] = 1;
    }
}

/* Every job raised toward its want, the highest priority first. */
static void raise_all(plan_t *pl, const cl_power_job_t *jobs, size_t n, double *lim)
{
    uint8_t *active = cl__xcalloc(n ? n : 1, 1), *done = cl__xcalloc(n ? n : 1, 1);
    for (size_t left = n; left > 0;) {
        int32_t top = INT32_MIN; /* the highest priority not yet raised */
        for (size_t i = 0; i < n; i++)
            if (!done[i] && jobs[i].priority > top) top = jobs[i].priority;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && jobs[i].priority == top) {
                active[i] = 1;
                done[i] = 1;
                left--;
            }
        raise_level(pl, jobs, n, lim, active);
    }
    free(active);
    free(done);
}

static int check_in(const cl_power_plan_in_t *in, const cl_power_job_t *jobs, size_t n,
                    cl_error_t *err)
{
    if (!(in->min_w > 0)) {
        cl__err(err, "minimum limit must be positive");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < jobs[i].npods; k++)
            if (jobs[i].pods[k] >= in->npods) {
                cl__err(err, "job %zu: no pod %u", i, jobs[i].pods[k]);
                return -1;
            }
        for (uint32_t k = 0; k < jobs[i].nleaves; k++)
            if (jobs[i].leaves[k] >= in->nleaves) {
                cl__err(err, "job %zu: no leaf %u", i, jobs[i].leaves[k]);
                return -1;
            }
    }
    return 0;
}

int cl_power_plan(const cl_power_plan_in_t *in, const cl_power_job_t *jobs, size_t n,
                  double *lim, cl_error_t *err)
{
    if (check_in(in, jobs, n, err) < 0) return -1;
    plan_t pl = {.nlv = in->npods + 1 + in->nleaves, .leaf0 = in->npods + 1};
    pl.left = cl__xmalloc(sizeof(double) * pl.nlv);
    pl.rate = cl__xmalloc(sizeof(uint64_t) * pl.nlv);
    pl.full = cl__xcalloc(pl.nlv, 1);
    pl.left[0] = in->site_w;
    for (uint32_t p = 0; p < in->npods; p++)
        pl.left[1 + p] = in->pod_w ? in->pod_w[p] : INFINITY;
    for (uint32_t l = 0; l < in->nleaves; l++)
        pl.left[pl.leaf0 + l] = in->leaf_w ? in->leaf_w[l] : INFINITY;
    for (size_t i = 0; i < n; i++) { /* every GPU at its floor first */
        lim[i] = in->min_w;
        take(&pl, &jobs[i], in->min_w);
    }
    int shortfall = 0;
    for (uint32_t l = 0; l < pl.nlv; l++)
        if (pl.left[l] < -1e-6) shortfall = 1;
    if (!shortfall) raise_all(&pl, jobs, n, lim);
    if (!shortfall && in->max_w > 0 && n) { /* then what is left, up to the largest limit */
        cl_power_job_t *up = cl__xmalloc(sizeof(*up) * n);
        for (size_t i = 0; i < n; i++) {
            up[i] = jobs[i];
            up[i].want_w = in->max_w;
        }
        raise_all(&pl, up, n, lim);
        free(up);
    }
    free(pl.left);
    free(pl.rate);
    free(pl.full);
    return shortfall;
}

size_t cl_power_ramp(const double *target, const uint64_t *gpus, double *cur, size_t n,
                     double step_w)
{
    size_t below = 0;
    uint64_t rate = 0; /* GPUs still rising */
    for (size_t i = 0; i < n; i++) {
        if (cur[i] > target[i]) cur[i] = target[i];
        if (cur[i] < target[i] - 1e-9) rate += gpus[i];
    }
    while (rate && step_w > 1e-9) { /* one job reaches its target a round, or the step ends */
        double share = step_w / (double)rate;
        for (size_t i = 0; i < n; i++)
            if (cur[i] < target[i] - 1e-9 && target[i] - cur[i] < share)
                share = target[i] - cur[i];
        rate = 0;
        for (size_t i = 0; i < n; i++) {
            if (!(cur[i] < target[i] - 1e-9)) continue;
            cur[i] += share;
            step_w -= share * (double)gpus[i];
            if (cur[i] < target[i] - 1e-9) rate += gpus[i];
        }
    }
    for (size_t i = 0; i < n; i++)
        below += cur[i] < target[i] - 1e-9;
    return below;
}

/* Job j's levels of one kind (LV_POD, LV_LEAF) and its GPUs in each, in one pass over its
 * allocation. */
static void job_levels(const cl_cluster_t *c, const job_t *j, int kind, uint32_t *at,
                       uint64_t *gpus, uint32_t *np)
{
    *np = 0;
    for (uint32_t i = 0; i < j->nnodes; i++) {
        uint32_t x = cl__topo_node_level(c->t, j->alloc[i].node, kind);
        uint32_t k = *np;
        if (!k || at[k - 1] != x) /* a gang's nodes come in runs: the last one first */
            for (k = 0; k < *np && at[k] != x; k++)
                ;
        else
            k--;
        if (k == *np) {
            at[k] = x;
            gpus[k] = 0;
            (*np)++;
        }
        gpus[k] += cl__popc(j->alloc[i].gpus);
    }
}

/* What the jobs may use at each level of l: its limit, less its idle GPUs' draw (admit_frac
 * does not apply: the limits are what makes the oversubscription hold); NULL when none of
 * them has a budget. */
static double *lv_left(const power_t *p, const power_lv_t *l)
{
    if (!l->nbudgets) return NULL;
    double *w = cl__xmalloc(sizeof(double) * (l->n ? l->n : 1));
    for (uint32_t i = 0; i < l->n; i++) {
        double b = l->budget[i];
        w[i] = b > 0 ? b * (1 - p->cut_pct / 100) -
                           (double)(l->gpus[i] - l->alloc[i]) * p->conf.gpu_idle_w
                     : INFINITY;
    }
    return w;
}

size_t cl_power_limits(const cl_cluster_t *c, cl_power_limit_t **out, int *short_out)
{
    const power_t *p = &c->pw;
    size_t n = 0, cap = c->nrunning ? c->nrunning : 1, used = 0;
    cl_power_job_t *jobs = cl__xmalloc(sizeof(*jobs) * cap);
    cl_power_limit_t *res = cl__xmalloc(sizeof(*res) * cap);
    uint64_t total_nodes = 0;
    for (cl_jobid_t id = cl_jobs_next(c, 0); id; id = cl_jobs_next(c, id)) {
        const job_t *j = cl__job((cl_cluster_t *)c, id);
        if (j->state == CL_JOB_RUNNING) total_nodes += j->nnodes;
    }
    bool leaves = p->lv[PW_LEAF].nbudgets > 0; /* leaves are planned only where budgeted */
    size_t room = 2 * (total_nodes ? total_nodes : 1);
    uint32_t *at = cl__xmalloc(sizeof(uint32_t) * room);
    uint64_t *gpus = cl__xmalloc(sizeof(uint64_t) * room);
    for (cl_jobid_t id = cl_jobs_next(c, 0); id; id = cl_jobs_next(c, id)) {
        const job_t *j = cl__job((cl_cluster_t *)c, id);
        if (j->state != CL_JOB_RUNNING) continue;
        cl_power_job_t *pj = &jobs[n];
        *pj = (cl_power_job_t){.priority = j->prio, .want_w = cl__power_job_w(c, j)};
        job_levels(c, j, LV_POD, at + used, gpus + used, &pj->npods);
        pj->pods = at + used;
        pj->gpus = gpus + used;
        used += pj->npods;
        if (leaves) {
            job_levels(c, j, LV_LEAF, at + used, gpus + used, &pj->nleaves);
            pj->leaves = at + used;
            pj->leaf_gpus = gpus + used;
            used += pj->nleaves;
        }
        res[n++].job = id;
    }
    double *pod_w = lv_left(p, &p->lv[PW_POD]), *leaf_w = lv_left(p, &p->lv[PW_LEAF]);
    double b = p->conf.site_budget_w;
    uint64_t all = (uint64_t)c->t->nnodes * c->gpn;
    cl_power_plan_in_t in = {.site_w = b > 0 ? b * (1 - p->cut_pct / 100) -
                                                   (double)(all - p->alloc) * p->conf.gpu_idle_w
                                             : INFINITY,
                             .pod_w = pod_w,
                             .npods = p->lv[PW_POD].n,
                             .leaf_w = leaf_w,
                             .nleaves = leaves ? p->lv[PW_LEAF].n : 0,
                             .min_w = p->conf.gpu_min_w,
                             .max_w = p->conf.gpu_max_w};
    double *lim = cl__xmalloc(sizeof(double) * cap);
    int sh = cl_power_plan(&in, jobs, n, lim, NULL);
    for (size_t i = 0; i < n; i++)
        res[i].w = lim[i];
    if (short_out) *short_out = sh == 1;
    free(lim);
    free(pod_w);
    free(leaf_w);
    free(at);
    free(gpus);
    free(jobs);
    if (!n) {
        free(res);
        res = NULL;
    }
    *out = res;
    return n;
}
