/* power.c - power as a resource: site, pod and leaf (row) budgets, a grid cut, the projected
 * draw of running jobs by level, admission, and the per-GPU limits that share a budget among
 * jobs by priority, then evenly. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

#define EPS_W 1e-6

void cl_power_conf_default(cl_power_conf_t *p)
{
    /* H100 SXM: 700 W board power (NVIDIA datasheet); 200 W is its smallest settable limit
     * (nvmlDeviceGetPowerManagementLimitConstraints on H100 SXM; docs/power.md) */
    *p = (cl_power_conf_t){.site_budget_w = 0,
                           .gpu_min_w = 200,
                           .gpu_max_w = 700,
                           .gpu_idle_w = 70,
                           .default_w = 700,
                           .admit_frac = 1};
}

static const char *const lv_word[PW_NLV] = {"pod", "leaf"};

void cl__power_init(cl_cluster_t *c)
{
    power_t *p = &c->pw;
    cl_power_conf_default(&p->conf);
    static const int kinds[PW_NLV] = {LV_POD, LV_LEAF};
    for (int k = 0; k < PW_NLV; k++) {
        power_lv_t *l = &p->lv[k];
        l->kind = kinds[k];
        l->n = c->t->nlv[l->kind];
        uint32_t n = l->n ? l->n : 1;
        l->budget = cl__xcalloc(n, sizeof(double));
        l->jobs_w = cl__xcalloc(n, sizeof(double));
        l->alloc = cl__xcalloc(n, sizeof(uint64_t));
        l->gpus = cl__xcalloc(n, sizeof(uint64_t));
        l->scratch = cl__xcalloc(n, sizeof(uint64_t));
        l->held_x = cl__xcalloc(n, sizeof(double));
        for (uint32_t i = 0; i < l->n; i++)
            l->gpus[i] = (uint64_t)cl__topo_nodes_in(c->t, l->kind, i) * c->gpn;
    }
}

void cl__power_free(cl_cluster_t *c)
{
    for (int k = 0; k < PW_NLV; k++) {
        power_lv_t *l = &c->pw.lv[k];
        free(l->budget);
        free(l->jobs_w);
        free(l->alloc);
        free(l->gpus);
        free(l->scratch);
        free(l->held_x);
    }
    free(c->pw.hold_x);
}

double cl__power_job_w(const cl_cluster_t *c, const job_t *j)
{
    if (j->measured_w > 0) return j->measured_w;
    return j->power_w > 0 ? j->power_w : c->pw.conf.default_w;
}

static uint32_t lv_of(const cl_cluster_t *c, const power_lv_t *l, cl_nodeid_t n)
{
    return cl__topo_node_level(c->t, n, l->kind);
}

/* Nodes [*a, *b) are level i's (node ids are contiguous per leaf and per pod). */
static void lv_range(const cl_topo_t *t, int kind, uint32_t i, uint32_t *a, uint32_t *b)
{
    uint32_t x = i, y = i + 1;
    for (int lv = kind; lv >= LV_DOM; lv--) {
        x = t->first[lv][x];
        y = t->first[lv][y];
    }
    *a = x;
    *b = y;
}

static void lv_add(power_lv_t *l, uint32_t i, uint64_t g, double w, int on)
{
    l->jobs_w[i] += (on ? 1.0 : -1.0) * (double)g * w;
    l->alloc[i] = on ? l->alloc[i] + g : l->alloc[i] - g;
}

/* A gang's nodes come in runs within a leaf and a pod: one lookup per run, k GPUs a node. */
static void lv_run(cl_cluster_t *c, power_lv_t *l, const job_t *j, double w, int on)
{
    uint32_t lo = 1, hi = 0, at = 0;
    uint64_t run = 0;
    for (uint32_t i = 0; i < j->nnodes; i++) {
        cl_nodeid_t n = j->alloc[i].node;
        if (n < lo || n >= hi) {
            if (run) lv_add(l, at, run * j->k, w, on);
            at = lv_of(c, l, n);
            lv_range(c->t, l->kind, at, &lo, &hi);
            run = 0;
        }
        run++;
    }
    if (run) lv_add(l, at, run * j->k, w, on);
}

/* Leaves are counted only while one has a budget (pods always: power show lists them all);
 * the first leaf budget recounts them from the running jobs. */
static int lv_counted(const power_lv_t *l)
{
    return l->kind == LV_POD || l->nbudgets > 0;
}

void cl__power_move(cl_cluster_t *c, uint32_t js, cl_nodeid_t from, cl_nodeid_t to)
{
    const job_t *j = &c->jobs[js];
    double w = cl__power_job_w(c, j);
    for (int k = 0; k < PW_NLV; k++) {
        power_lv_t *l = &c->pw.lv[k];
        if (!lv_counted(l)) continue;
        uint32_t a = lv_of(c, l, from), b = lv_of(c, l, to);
        if (a == b) continue;
        lv_add(l, a, j->k, w, 0);
        lv_add(l, b, j->k, w, 1);
    }
}

/* GPU g of node n held at x W above idle (0: not held): the counters follow. */
static void hold_put(cl_cluster_t *c, cl_nodeid_t n, uint32_t g, double x)
{
    power_t *p = &c->pw;
    float *h = &p->hold_x[(size_t)n * c->gpn + g];
    double d = x - (double)*h;
    if (d == 0) return;
    p->nheld += (x > 0) - (*h > 0);
    p->held_x += d;
    for (int k = 0; k < PW_NLV; k++)
        p->lv[k].held_x[lv_of(c, &p->lv[k], n)] += d;
    *h = (float)x;
    if (!p->nheld) p->held_x = 0; /* no rounding left behind */
}

/* A job starting on held GPUs takes them over: their hold ends (the controller's
 * PowerLimit ends the agents' burn there). */
static void hold_take(cl_cluster_t *c, const job_t *j)
{
    for (uint32_t i = 0; i < j->nnodes; i++)
        for (uint32_t g = 0; g < c->gpn; g++)
            if (j->alloc[i].gpus >> g & 1) hold_put(c, j->alloc[i].node, g, 0);
}

int cl_power_hold(cl_cluster_t *c, cl_nodeid_t node, uint64_t gpus, double w, cl_error_t *err)
{
    power_t *p = &c->pw;
    if (node >= c->t->nnodes) {
        cl__err(err, "no node %u", node);
        return -1;
    }
    if (!(w >= 0 && w <= p->conf.gpu_max_w)) {
        cl__err(err, "a held GPU's draw must be 0..%g W, not %g", p->conf.gpu_max_w, w);
        return -1;
    }
    if (c->gpn < 64 && gpus >> c->gpn) {
        cl__err(err, "node %u has %u GPUs", node, c->gpn);
        return -1;
    }
    double x = w > p->conf.gpu_idle_w ? w - p->conf.gpu_idle_w : 0;
    if (!p->hold_x) {
        if (x == 0) return 0;
        p->hold_x = cl__xcalloc((size_t)c->t->nnodes * c->gpn, sizeof(float));
    }
    uint64_t busy = 0;
    for (uint32_t g = 0; g < c->gpn; g++)
        if (c->gpu_job[(size_t)node * c->gpn + g]) busy |= 1ull << g;
    for (uint32_t g = 0; g < c->gpn; g++) /* a GPU a job runs on is its job's */
        if (gpus >> g & 1) hold_put(c, node, g, busy >> g & 1 ? 0 : x);
    return 0;
}

double cl_power_held_w(const cl_cluster_t *c, uint64_t *gpus)
{
    if (gpus) *gpus = c->pw.nheld;
    return c->pw.held_x + (double)c->pw.nheld * c->pw.conf.gpu_idle_w;
}

void cl__power_run(cl_cluster_t *c, uint32_t js, int on)
{
    power_t *p = &c->pw;
    job_t *j = &c->jobs[js];
    if (on && p->nheld) hold_take(c, j);
    double sign = on ? 1.0 : -1.0, w = cl__power_job_w(c, j);
    for (int k = 0; k < PW_NLV; k++)
        if (lv_counted(&p->lv[k])) lv_run(c, &p->lv[k], j, w, on);
    uint64_t g = cl__job_gpus(j);
    p->jobs_w += sign * (double)g * w;
    p->alloc = on ? p->alloc + g : p->alloc - g;
}

static double limit_of(const power_t *p, double budget)
{
    return budget > 0 ? budget * (1 - p->cut_pct / 100) : INFINITY;
}

/* Does g more GPUs at w each fit a level with this budget, these jobs, these GPUs? */
/* (held: the held GPUs' draw above idle there, counted until their holds end; a job that
 * would start on held GPUs is checked with their hold still counted.) */
static int level_fits(const power_t *p, double budget, double jobs_w, double held,
                      uint64_t gpus, uint64_t alloc, uint64_t g, double w)
{
    if (!(budget > 0)) return 1;
    double idle = (double)(gpus - alloc - g) * p->conf.gpu_idle_w + held;
    double need = p->conf.admit_frac * (jobs_w + (double)g * w) + idle;
    return need <= limit_of(p, budget) + EPS_W;
}

int cl__power_site_ok(const cl_cluster_t *c, const job_t *j)
{
    const power_t *p = &c->pw;
    uint64_t g = cl__job_gpus(j);
    uint64_t gpus = (uint64_t)c->t->nnodes * c->gpn;
    return level_fits(p, p->conf.site_budget_w, p->jobs_w, p->held_x, gpus, p->alloc, g,
                      cl__power_job_w(c, j));
}

int cl__power_pods_ok(cl_cluster_t *c, const job_t *j)
{
    power_t *p = &c->pw;
    double w = cl__power_job_w(c, j);
    int ok = 1;
    for (int k = 0; k < PW_NLV; k++) {
        power_lv_t *l = &p->lv[k];
        if (!l->nbudgets) continue;
        for (uint32_t i = 0; i < c->nsel; i++)
            l->scratch[lv_of(c, l, c->sel[i])] += j->k;
        for (uint32_t i = 0; i < c->nsel; i++) {
            uint32_t at = lv_of(c, l, c->sel[i]);
            if (!l->scratch[at]) continue; /* this one's already checked */
            ok &= level_fits(p, l->budget[at], l->jobs_w[at], l->held_x[at], l->gpus[at],
                             l->alloc[at], l->scratch[at], w);
            l->scratch[at] = 0;
        }
    }
    return ok;
}

static void lv_hide(cl_cluster_t *c, int kind, uint32_t i, uint8_t on)
{
    uint32_t a, b;
    lv_range(c->t, kind, i, &a, &b);
    for (uint32_t n = a; n < b; n++) {
        c->nodes[n].hidden = on;
        cl__node_update(c, n);
    }
}

/* A level with a budget that one node of the gang would take over it. */
static int lv_full(const cl_cluster_t *c, const power_lv_t *l, uint32_t i, const job_t *j,
                   double w)
{
    const power_t *p = &c->pw;
    return l->budget[i] > 0 && !level_fits(p, l->budget[i], l->jobs_w[i], l->held_x[i],
                                           l->gpus[i], l->alloc[i], j->k, w);
}

int cl__power_leaf_room(const cl_cluster_t *c, uint32_t leaf, const job_t *j)
{
    return !lv_full(c, &c->pw.lv[PW_LEAF], leaf, j, cl__power_job_w(c, j));
}

/* Hide (on) or show again every full pod and leaf; whether any was. */
static int hide_full(cl_cluster_t *c, const job_t *j, double w, uint8_t on)
{
    int hid = 0;
    for (int k = 0; k < PW_NLV; k++) {
        const power_lv_t *l = &c->pw.lv[k];
        if (!l->nbudgets) continue;
        for (uint32_t i = 0; i < l->n; i++)
            if (lv_full(c, l, i, j, w)) {
                lv_hide(c, l->kind, i, on);
                hid = 1;
            }
    }
    return hid;
}

int cl__power_replace(cl_cluster_t *c, const job_t *j, cl_time_t now)
{
    power_t *p = &c->pw;
    double w = cl__power_job_w(c, j);
    /* hiding pods costs their nodes: not again for what cannot fit where less did not */
    if (p->rfail_pass == c->npass && j->k >= p->rfail_k && j->nnodes >= p->rfail_nn &&
        w >= p->rfail_w)
        return 0;
    int hid = hide_full(c, j, w, 1);
    int ok = hid && c->tot[cl__job_need(c, j) - 1] >= j->nnodes &&
             cl__place_job(c, j, now) == 0 && cl__power_pods_ok(c, j);
    hide_full(c, j, w, 0); /* nothing changed since: the same levels */
    if (!ok) {
        p->rfail_pass = c->npass;
        p->rfail_k = j->k;
        p->rfail_nn = j->nnodes;
        p->rfail_w = w;
    }
    return ok;
}

/* ------------------------------------------------------------- configuration */
static int floor_ok(const power_t *p, double budget, double cut, uint64_t gpus,
                    const char *what, cl_error_t *err)
{
    if (!(budget > 0)) return 0;
    double lim = budget * (1 - cut / 100), floor_w = (double)gpus * p->conf.gpu_min_w;
    if (lim + EPS_W >= floor_w) return 0;
    cl__err(err,
            "%s budget %.0f W%s is below its %llu GPUs' minimum power limits (%.0f W at %g W "
            "each)",
            what, lim, cut > 0 ? " after the cut" : "", (unsigned long long)gpus, floor_w,
            p->conf.gpu_min_w);
    return -1;
}

static void lv_what(const cl_cluster_t *c, const power_lv_t *l, uint32_t i, char *buf,
                    size_t len)
{
    snprintf(buf, len, "%s %s", l->kind == LV_POD ? "pod" : "leaf",
             l->kind == LV_POD ? cl_topo_pod_name(c->t, i) : cl_topo_leaf_name(c->t, i));
}

/* Every budget still covers its GPUs' minimum limits with this configuration and cut. */
static int floors_ok(const cl_cluster_t *c, const power_t *p, double cut, cl_error_t *err)
{
    uint64_t gpus = (uint64_t)c->t->nnodes * c->gpn;
    if (floor_ok(p, p->conf.site_budget_w, cut, gpus, "the site", err) < 0) return -1;
    for (int k = 0; k < PW_NLV; k++) {
        const power_lv_t *l = &p->lv[k];
        for (uint32_t i = 0; l->nbudgets && i < l->n; i++) {
            char what[96];
            lv_what(c, l, i, what, sizeof what);
            if (floor_ok(p, l->budget[i], cut, l->gpus[i], what, err) < 0) return -1;
        }
    }
    return 0;
}

static int conf_valid(const cl_power_conf_t *q, cl_error_t *err)
{
    if (!(q->gpu_min_w > 0) || !isfinite(q->gpu_min_w) || !(q->gpu_max_w >= q->gpu_min_w) ||
        !isfinite(q->gpu_max_w)) {
        cl__err(err, "GPU power limits must satisfy 0 < min (%g W) <= max (%g W)", q->gpu_min_w,
                q->gpu_max_w);
        return -1;
    }
    if (!(q->gpu_idle_w >= 0 && q->gpu_idle_w <= q->gpu_max_w)) {
        cl__err(err, "idle power %g W must be between 0 and the GPUs' maximum %g W",
                q->gpu_idle_w, q->gpu_max_w);
        return -1;
    }
    if (!(q->default_w >= q->gpu_min_w && q->default_w <= q->gpu_max_w)) {
        cl__err(err, "default projected power %g W must be within the GPUs' limits %g..%g W",
                q->default_w, q->gpu_min_w, q->gpu_max_w);
        return -1;
    }
    if (!(q->admit_frac >= q->gpu_min_w / q->gpu_max_w - 1e-12 && q->admit_frac <= 1)) {
        cl__err(err, "admission fraction %g must be between min/max (%g) and 1", q->admit_frac,
                q->gpu_min_w / q->gpu_max_w);
        return -1;
    }
    if (!(q->site_budget_w >= 0) || !isfinite(q->site_budget_w)) {
        cl__err(err, "site power budget must be 0 (none) or a positive number of watts");
        return -1;
    }
    return 0;
}

int cl_power_set(cl_cluster_t *c, const cl_power_conf_t *q, cl_error_t *err)
{
    if (conf_valid(q, err) < 0) return -1;
    power_t trial = c->pw;
    trial.conf = *q;
    if (floors_ok(c, &trial, c->pw.cut_pct, err) < 0) return -1;
    /* running jobs on the class default count the new one: recount them */
    for (uint32_t js = 0; js < c->njobs_cap; js++)
        if (c->jobs[js].live && c->jobs[js].state == CL_JOB_RUNNING) cl__power_run(c, js, 0);
    c->pw.conf = *q;
    for (uint32_t js = 0; js < c->njobs_cap; js++)
        if (c->jobs[js].live && c->jobs[js].state == CL_JOB_RUNNING) cl__power_run(c, js, 1);
    return 0;
}

void cl_power_get(const cl_cluster_t *c, cl_power_conf_t *q)
{
    *q = c->pw.conf;
}

static int lv_budget_set(cl_cluster_t *c, int k, uint32_t i, double budget_w, cl_error_t *err)
{
    power_t *p = &c->pw;
    power_lv_t *l = &p->lv[k];
    if (i >= l->n) {
        cl__err(err, "no %s %u", lv_word[k], i);
        return -1;
    }
    if (!(budget_w >= 0) || !isfinite(budget_w)) {
        cl__err(err, "%s power budget must be 0 (none) or a positive number of watts",
                lv_word[k]);
        return -1;
    }
    char what[96];
    lv_what(c, l, i, what, sizeof what);
    if (floor_ok(p, budget_w, p->cut_pct, l->gpus[i], what, err) < 0) return -1;
    int was = lv_counted(l);
    l->nbudgets += (budget_w > 0) - (l->budget[i] > 0);
    l->budget[i] = budget_w;
    if (!was && lv_counted(l)) { /* counted from now on: from the running jobs */
        memset(l->jobs_w, 0, sizeof(double) * l->n);
        memset(l->alloc, 0, sizeof(uint64_t) * l->n);
        for (uint32_t js = 0; js < c->njobs_cap; js++)
            if (c->jobs[js].live && c->jobs[js].state == CL_JOB_RUNNING)
                lv_run(c, l, &c->jobs[js], cl__power_job_w(c, &c->jobs[js]), 1);
    }
    return 0;
}

int cl_power_pod_budget_set(cl_cluster_t *c, uint32_t pod, double budget_w, cl_error_t *err)
{
    return lv_budget_set(c, PW_POD, pod, budget_w, err);
}

int cl_power_leaf_budget_set(cl_cluster_t *c, uint32_t leaf, double budget_w, cl_error_t *err)
{
    return lv_budget_set(c, PW_LEAF, leaf, budget_w, err);
}

int cl_power_cut(cl_cluster_t *c, double pct, cl_error_t *err)
{
    if (!(pct >= 0 && pct <= 100)) {
        cl__err(err, "a power cut must be between 0%% and 100%% (got %g%%)", pct);
        return -1;
    }
    if (floors_ok(c, &c->pw, pct, err) < 0) return -1;
    c->pw.cut_pct = pct;
    return 0;
}

double cl_power_cut_pct(const cl_cluster_t *c)
{
    return c->pw.cut_pct;
}

int cl_job_power_measured(cl_cluster_t *c, cl_jobid_t id, double w, cl_error_t *err)
{
    job_t *j = cl__job(c, id);
    if (!j) {
        cl__err(err, "no job %llu", (unsigned long long)id);
        return -1;
    }
    if (!(w > 0 && w <= c->pw.conf.gpu_max_w)) {
        cl__err(err, "measured power %g W per GPU must be above 0 and at most %g W", w,
                c->pw.conf.gpu_max_w);
        return -1;
    }
    uint32_t js = (uint32_t)(j - c->jobs);
    int running = j->state == CL_JOB_RUNNING;
    if (running) cl__power_run(c, js, 0);
    j->measured_w = (float)w;
    if (running) cl__power_run(c, js, 1);
    return 0;
}

static void level_fill(const power_t *p, double budget, double jobs_w, double held,
                       uint64_t gpus, uint64_t alloc, cl_power_level_t *o)
{
    double idle = (double)(gpus - alloc) * p->conf.gpu_idle_w + held;
    o->budget_w = budget;
    o->limit_w = budget > 0 ? limit_of(p, budget) : 0;
    o->draw_w = jobs_w + idle;
    o->headroom_w = budget > 0 ? o->limit_w - p->conf.admit_frac * jobs_w - idle : INFINITY;
    o->gpus = gpus;
    o->gpus_alloc = alloc;
}

int cl_power_level(const cl_cluster_t *c, int64_t pod, cl_power_level_t *o)
{
    const power_t *p = &c->pw;
    if (pod < 0) {
        level_fill(p, p->conf.site_budget_w, p->jobs_w, p->held_x,
                   (uint64_t)c->t->nnodes * c->gpn, p->alloc, o);
        return 0;
    }
    const power_lv_t *l = &p->lv[PW_POD];
    if (pod >= l->n) return -1;
    level_fill(p, l->budget[pod], l->jobs_w[pod], l->held_x[pod], l->gpus[pod], l->alloc[pod],
               o);
    return 0;
}

int cl_power_leaf_level(const cl_cluster_t *c, uint32_t leaf, cl_power_level_t *o)
{
    const power_lv_t *l = &c->pw.lv[PW_LEAF];
    if (leaf >= l->n) return -1;
    if (!lv_counted(l)) { /* no leaf budget: its jobs are not counted, none said */
        level_fill(&c->pw, 0, 0, l->held_x[leaf], l->gpus[leaf], 0, o);
        return 0;
    }
    level_fill(&c->pw, l->budget[leaf], l->jobs_w[leaf], l->held_x[leaf], l->gpus[leaf],
               l->alloc[leaf], o);
    return 0;
}

/* The running jobs' W and GPUs by level of l, recounted from their allocations. */
static int lv_check(const cl_cluster_t *c, const power_lv_t *l, int k, cl_error_t *err)
{
    double *w = cl__xcalloc(l->n ? l->n : 1, sizeof(double));
    uint64_t *g = cl__xcalloc(l->n ? l->n : 1, sizeof(uint64_t));
    for (uint32_t js = 0; js < c->njobs_cap; js++) {
        const job_t *j = &c->jobs[js];
        if (!j->live || j->state != CL_JOB_RUNNING) continue;
        for (uint32_t i = 0; i < j->nnodes; i++) {
            uint32_t at = lv_of(c, l, j->alloc[i].node);
            w[at] += (double)cl__popc(j->alloc[i].gpus) * cl__power_job_w(c, j);
            g[at] += cl__popc(j->alloc[i].gpus);
        }
    }
    int rc = 0;
    for (uint32_t i = 0; i < l->n && rc == 0; i++)
        if (g[i] != l->alloc[i] || fabs(w[i] - l->jobs_w[i]) > 1e-6 * (1 + w[i])) {
            cl__err(err, "%s %u power: %.1f W counted, %.1f W recounted", lv_word[k], i,
                    l->jobs_w[i], w[i]);
            rc = -1;
        }
    free(w);
    free(g);
    return rc;
}

/* The holds' counters recounted from the held GPUs; none on a GPU a job runs on. */
static int hold_check(const cl_cluster_t *c, cl_error_t *err)
{
    const power_t *p = &c->pw;
    if (!p->hold_x) {
        if (!p->nheld && p->held_x == 0) return 0;
        cl__err(err, "holds counted, none held");
        return -1;
    }
    double site = 0, *lw[PW_NLV];
    uint64_t n = 0;
    int rc = 0;
    for (int k = 0; k < PW_NLV; k++)
        lw[k] = cl__xcalloc(p->lv[k].n ? p->lv[k].n : 1, sizeof(double));
    for (cl_nodeid_t v = 0; v < c->t->nnodes; v++)
        for (uint32_t g = 0; g < c->gpn; g++) {
            double x = p->hold_x[(size_t)v * c->gpn + g];
            if (!(x > 0)) continue;
            if (c->gpu_job[(size_t)v * c->gpn + g] && rc == 0) {
                cl__err(err, "node %u GPU %u held while a job runs on it", v, g);
                rc = -1;
            }
            site += x;
            n++;
            for (int k = 0; k < PW_NLV; k++)
                lw[k][lv_of(c, &p->lv[k], v)] += x;
        }
    if (rc == 0 && (n != p->nheld || fabs(site - p->held_x) > 1e-3 * (1 + site))) {
        cl__err(err, "held power: %llu GPUs %.1f W counted, %llu GPUs %.1f W recounted",
                (unsigned long long)p->nheld, p->held_x, (unsigned long long)n, site);
        rc = -1;
    }
    for (int k = 0; k < PW_NLV; k++) {
        for (uint32_t i = 0; i < p->lv[k].n && rc == 0; i++)
            if (fabs(lw[k][i] - p->lv[k].held_x[i]) > 1e-3 * (1 + lw[k][i])) {
                cl__err(err, "%s %u held power: %.1f W counted, %.1f W recounted", lv_word[k],
                        i, p->lv[k].held_x[i], lw[k][i]);
                rc = -1;
            }
        free(lw[k]);
    }
    return rc;
}

int cl__power_check(const cl_cluster_t *c, cl_error_t *err)
{
    const power_t *p = &c->pw;
    double site = 0;
    uint64_t alloc = 0;
    for (uint32_t js = 0; js < c->njobs_cap; js++) {
        const job_t *j = &c->jobs[js];
        if (!j->live || j->state != CL_JOB_RUNNING) continue;
        site += (double)cl__job_gpus(j) * cl__power_job_w(c, j);
        alloc += cl__job_gpus(j);
    }
    if (alloc != p->alloc || fabs(site - p->jobs_w) > 1e-6 * (1 + site)) {
        cl__err(err, "site power: %llu GPUs %.1f W counted, %llu GPUs %.1f W recounted",
                (unsigned long long)p->alloc, p->jobs_w, (unsigned long long)alloc, site);
        return -1;
    }
    for (int k = 0; k < PW_NLV; k++)
        if (lv_counted(&p->lv[k]) && lv_check(c, &p->lv[k], k, err) < 0) return -1;
    return hold_check(c, err);
}
