/* power.c - the site's power in the simulator: GPUs computing and allocated in 1 s bins
 * through every event, then the draw as the controller would manage it (capping to the
 * budget, a grid cut, smoothing of ramps with burn and held limits) beside the raw demand,
 * and their figures: peak, ramps, seconds over budget, spectral energy in the grid's band,
 * the energy smoothing burns, the throughput capping costs. docs/power.md. */
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"
#include "util/util.h"

int cl__sim_power_setup(sim_t *s, cl_error_t *err)
{
    const cl_sim_power_config_t *p = &s->cfg.power;
    if (!p->on) return 0;
    s->pw_n = (size_t)ceil(s->end);
    s->pw_comp = cl_xcalloc(s->pw_n, sizeof(double));
    s->pw_alloc = cl_xcalloc(s->pw_n, sizeof(double));
    cl_power_conf_t pc;
    cl_power_conf_default(&pc);
    pc.site_budget_w = p->budget_mw * 1e6;
    pc.gpu_min_w = p->min_w;
    pc.gpu_max_w = p->gpu_w;
    pc.gpu_idle_w = p->idle_w;
    pc.default_w = p->gpu_w;
    pc.admit_frac = p->admit_frac;
    cl_error_t e;
    if (cl_power_set(s->cl, &pc, &e) < 0) {
        snprintf(err->msg, sizeof(err->msg), "power: %.200s", e.msg);
        return -1;
    }
    uint32_t nl = cl_topo_leaves(cl_cluster_topo(s->cl));
    for (uint32_t l = 0; p->leaf_budget_mw > 0 && l < nl; l++)
        if (cl_power_leaf_budget_set(s->cl, l, p->leaf_budget_mw * 1e6, &e) < 0) {
            snprintf(err->msg, sizeof(err->msg), "power: --leaf-budget-mw: %.180s", e.msg);
            return -1;
        }
    if (p->cut_pct > 0 && p->cut_at_s + p->cut_delay_s <= s->end)
        cl_eventq_push(&s->q, p->cut_at_s + p->cut_delay_s, EV_CUT, 0, 0, 0);
    return 0;
}

void cl__sim_power_free(sim_t *s)
{
    free(s->pw_comp);
    free(s->pw_alloc);
    s->pw_comp = s->pw_alloc = NULL;
}

/* rate (GPUs) over [t0, t1) into the 1 s bins. */
static void add_rate(double *bins, size_t n, double t0, double t1, double rate)
{
    if (!(rate != 0) || !(t1 > t0)) return;
    for (size_t b = (size_t)t0; b < n && (double)b < t1; b++) {
        double a = t0 > (double)b ? t0 : (double)b;
        double e = t1 < (double)(b + 1) ? t1 : (double)(b + 1);
        if (e > a) bins[b] += rate * (e - a);
    }
}

/* The frontier job computes in cycles: tau seconds, then its checkpoint stall of delta with
 * every GPU waiting (wall-clock cycles from its run's start); contained, it computes
 * nothing until stall_until and without the replicas that are rejoining. */
static void frontier_comp(sim_t *s, const sim_job_t *f, double t0, double t1)
{
    double share = f->contained ? 1.0 - (double)f->rejoining * f->replica_share : 1.0;
    double a = (double)f->gpus * (share > 0 ? share : 0);
    if (f->contained && f->stall_until > t0) t0 = f->stall_until < t1 ? f->stall_until : t1;
    double cyc = f->tau + f->delta;
    double k = floor((t0 - f->run_t0) / cyc);
    if (k < 0) k = 0;
    for (double cs = f->run_t0 + k * cyc; cs < t1; cs += cyc) {
        double a0 = cs > t0 ? cs : t0, a1 = cs + f->tau < t1 ? cs + f->tau : t1;
        if (a1 > a0) add_rate(s->pw_comp, s->pw_n, a0, a1, a);
    }
}

void cl__sim_power_clock(sim_t *s, double t0, double t1)
{
    if (!s->pw_comp || !(t1 > t0)) return;
    double others = s->run_eff;
    const sim_job_t *f = s->frontier ? &s->jobs[s->frontier] : NULL;
    bool frun = f && f->live && f->phase == PH_RUN;
    if (frun) others -= f->run_eff;
    if (others > 1e-9) add_rate(s->pw_comp, s->pw_n, t0, t1, others);
    if (frun) frontier_comp(s, f, t0, t1);
    add_rate(s->pw_alloc, s->pw_n, t0, t1, (double)s->alloc_gpus);
}

double cl_sim_band_fraction(const double *x, size_t n, double rate_hz, double lo, double hi)
{
    if (n < 4) return 0;
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    double *in = fftw_alloc_real(n);
    fftw_complex *out = fftw_alloc_complex(n / 2 + 1);
    fftw_plan plan = fftw_plan_dft_r2c_1d((int)n, in, out, FFTW_ESTIMATE);
    for (size_t i = 0; i < n; i++)
        in[i] = x[i] - mean;
    fftw_execute(plan);
    double band = 0, total = 0;
    for (size_t k = 1; k <= n / 2; k++) {
        double e = out[k][0] * out[k][0] + out[k][1] * out[k][1];
        double fk = (double)k * rate_hz / (double)n;
        total += e;
        if (fk >= lo && fk <= hi) band += e;
    }
    fftw_destroy_plan(plan);
    fftw_free(in);
    fftw_free(out);
    return total > 0 ? band / total : 0;
}

/* ------------------------------------------------------------------ the draw */
typedef struct second {
    double demand; /* W, every computing GPU at gpu_w */
    double floor;  /* W, computing GPUs at their minimum limit, the rest idle */
    double hold;   /* W, with smoothing: allocated GPUs burning at their minimum limit */
    double comp;   /* GPUs computing (average over the second) */
} second_t;

static second_t second_at(const sim_t *s, size_t b)
{
    const cl_sim_power_config_t *p = &s->cfg.power;
    double g = (double)s->gpus, comp = s->pw_comp[b], alloc = s->pw_alloc[b];
    if (b + 1 > s->end) { /* a last, partial bin: its average */
        double w = s->end - (double)b;
        comp /= w;
        alloc /= w;
    }
    second_t o = {.comp = comp};
    o.demand = comp * p->gpu_w + (g - comp) * p->idle_w;
    o.floor = comp * p->min_w + (g - comp) * p->idle_w;
    o.hold = alloc * p->min_w + (g - alloc) * p->idle_w;
    return o;
}

/* The budget the grid asks for (ctl 0) or the controller has applied (ctl 1) at second b;
 * INFINITY: none. */
static double budget_at(const sim_t *s, size_t b, int ctl)
{
    const cl_sim_power_config_t *p = &s->cfg.power;
    if (!(p->budget_mw > 0)) return INFINITY;
    double from = p->cut_at_s + (ctl ? p->cut_delay_s : 0);
    double cut = p->cut_pct > 0 && (double)b >= from ? p->cut_pct : 0;
    return p->budget_mw * 1e6 * (1 - cut / 100);
}

/* The managed draw of second b after prev: smoothing (toward the demand or the floor the
 * allocated GPUs burn at, within r of prev), then the cap, then the GPUs' minimum limits. */
static double managed(const sim_t *s, const second_t *x, size_t b, double prev, double r)
{
    double d = x->demand;
    if (s->cfg.power.smoothing && b > 0) {
        if (d < x->hold) d = x->hold;
        if (d > prev + r) d = prev + r;
        if (d < prev - r) d = prev - r;
    }
    double cap = budget_at(s, b, 1);
    if (d > cap) d = cap;
    return d > x->floor ? d : x->floor;
}

/* Work lost in a second drawn at w against its demand: the computing GPUs share what the
 * idle ones leave, evenly (cl_power_plan for one priority), and run at cl_power_perf. */
static double lost_gpu_s(const sim_t *s, const second_t *x, double w)
{
    const cl_sim_power_config_t *p = &s->cfg.power;
    if (w >= x->demand || x->comp <= 0) return 0;
    double lim = (w - ((double)s->gpus - x->comp) * p->idle_w) / x->comp;
    return x->comp * (1 - cl_power_perf(lim / p->gpu_w));
}

typedef struct figures {
    double peak, up, down, over, burn, lost, work, energy, cut_met;
} figures_t;

/* Ramps, peak and time over budget of a series; the grid cut's own drop (its seconds up to
 * the delay and one more) is not a ramp of the plan. */
static void series_figures(const sim_t *s, const double *w, figures_t *o)
{
    const cl_sim_power_config_t *p = &s->cfg.power;
    double cut0 = p->cut_pct > 0 ? p->cut_at_s : INFINITY;
    double cut1 = cut0 + p->cut_delay_s + 1;
    o->cut_met = -1;
    for (size_t b = 0; b < s->pw_n; b++) {
        double sec = (double)b;
        if (w[b] > o->peak) o->peak = w[b];
        o->energy += w[b] * (b + 1 > s->end ? s->end - sec : 1);
        double bud = budget_at(s, b, 0);
        if (w[b] > bud + 1 && !(sec >= cut0 && sec < cut1)) o->over++;
        if (sec >= cut0 && o->cut_met < 0 && w[b] <= bud + 1) o->cut_met = sec + 1 - cut0;
        if (b == 0 || (sec >= cut0 && sec < cut1)) continue;
        double dw = w[b] - w[b - 1];
        if (dw > o->up) o->up = dw;
        if (-dw > o->down) o->down = -dw;
    }
}

static void to_result(const sim_t *s, const double *w, const figures_t *f,
                      cl_sim_power_result_t *o)
{
    const cl_sim_power_config_t *p = &s->cfg.power;
    o->budget_mw = p->budget_mw;
    o->peak_mw = f->peak / 1e6;
    o->ramp_up_mw_s = f->up / 1e6;
    o->ramp_down_mw_s = f->down / 1e6;
    o->seconds_over = f->over;
    o->smoothing_mwh = f->burn / 3.6e9;
    o->energy_mwh = f->energy / 3.6e9;
    o->cut_met_s = f->cut_met;
    o->throughput_cost = f->work > 0 ? f->lost / f->work : 0;
    o->band_fraction = cl_sim_band_fraction(w, s->pw_n, 1.0, 0.1, 20.0);
}

static float *to_mw(const double *w, size_t n)
{
    float *v = cl_xmalloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(w[i] / 1e6);
    return v;
}

void cl__sim_power_finish(sim_t *s)
{
    const cl_sim_power_config_t *p = &s->cfg.power;
    if (!s->pw_comp) return;
    size_t n = s->pw_n;
    double *raw = cl_xmalloc(sizeof(double) * (n ? n : 1));
    double *drawn = cl_xmalloc(sizeof(double) * (n ? n : 1));
    double base = p->budget_mw > 0 ? p->budget_mw * 1e6 : (double)s->gpus * p->gpu_w;
    double r = p->ramp_pct / 100 * base;
    figures_t fm = {0}, fr = {0};
    for (size_t b = 0; b < n; b++) {
        second_t x = second_at(s, b);
        raw[b] = x.demand;
        drawn[b] = managed(s, &x, b, b ? drawn[b - 1] : x.demand, r);
        if (drawn[b] > x.demand) fm.burn += drawn[b] - x.demand;
        fm.lost += lost_gpu_s(s, &x, drawn[b]);
        fm.work += x.comp;
    }
    series_figures(s, drawn, &fm);
    series_figures(s, raw, &fr);
    to_result(s, drawn, &fm, &s->res.power);
    to_result(s, raw, &fr, &s->res.power_raw);
    s->res.power_raw.throughput_cost = 0;
    s->res.power_ettr =
        s->res.ettr >= 0 ? s->res.ettr * (1 - s->res.power.throughput_cost) : -1;
    s->res.power_draw_mw = to_mw(drawn, n);
    s->res.power_raw_mw = to_mw(raw, n);
    for (size_t b = 0; b < n; b++)
        raw[b] = budget_at(s, b, 0);
    s->res.power_budget_mw = to_mw(raw, n);
    s->res.npower = n;
    free(raw);
    free(drawn);
}
