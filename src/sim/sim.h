/* sim.h - the simulator's building blocks: PRNG, event queue, failure model, checkpoint
 * formulas, workloads, the discrete-event engine driving src/core, and its reports. */
#ifndef COLOSSUS_SIM_SIM_H
#define COLOSSUS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "colossus/core.h"

/* ------------------------------------------------------------------ PRNG ----------------
 * xoshiro256** seeded through splitmix64: same seed, same stream on every platform. */
typedef struct cl_rng {
    uint64_t s[4];
} cl_rng_t;

void cl_rng_seed(cl_rng_t *r, uint64_t seed);
uint64_t cl_rng_next(cl_rng_t *r);
double cl_rng_uniform(cl_rng_t *r);             /* [0, 1) with 53 random bits */
double cl_rng_exp(cl_rng_t *r, double mean);    /* exponential with this mean (> 0) */
uint64_t cl_rng_below(cl_rng_t *r, uint64_t n); /* uniform integer in [0, n), n > 0 */

/* ----------------------------------------------------------------- events ---------------
 * A binary min-heap ordered by (time, insertion sequence): events at equal times come out
 * in the order they went in, so a run is a pure function of its inputs. */
typedef struct cl_event {
    double t;
    uint64_t seq;
    uint32_t type;
    uint32_t a; /* meaning depends on type (node, class, replica...) */
    uint64_t b; /* job id, GPU index... */
    uint64_t c; /* epoch of the job when scheduled (stale-event check) */
} cl_event_t;

typedef struct cl_eventq {
    cl_event_t *v;
    size_t n, cap;
    uint64_t seq;
} cl_eventq_t;

void cl_eventq_init(cl_eventq_t *q);
void cl_eventq_free(cl_eventq_t *q);
/* Add an event (allocation failure aborts, as everywhere outside the core). */
void cl_eventq_push(cl_eventq_t *q, double t, uint32_t type, uint32_t a, uint64_t b,
                    uint64_t c);
/* Removes the earliest event into *out; returns false when empty. */
bool cl_eventq_pop(cl_eventq_t *q, cl_event_t *out);
const cl_event_t *cl_eventq_peek(const cl_eventq_t *q);

/* ------------------------------------------------------------ failure model -------------
 * Components fail as independent Poisson processes, per GPU or per node, at the rates of
 * ../shared/data/failure-model.md (Llama 3, Table 5). */
typedef enum cl_fail_scope {
    CL_SCOPE_GPU,  /* one GPU fails: cl_gpu_fail */
    CL_SCOPE_NODE, /* the node goes down: cl_node_fail */
} cl_fail_scope_t;

typedef struct cl_fail_class {
    const char *name;
    cl_fail_scope_t scope;
    bool per_node;     /* rate is per node-hour (else per GPU-hour) */
    double rate_per_h; /* per unit-hour */
    double detect_s;   /* colossus policy detection time (failmodel.c: measured or cited) */
    double repair_h;   /* mean time until the node is back in the pool (assumed) */
    uint32_t llama3;   /* count of Llama 3's 419 interruptions in this class */
} cl_fail_class_t;

#define CL_FAIL_CLASSES 5
#define CL_FAIL_NETWORK 3 /* index of the network (switch/cable) class */
extern const cl_fail_class_t cl_fail_classes[CL_FAIL_CLASSES];

/* Expected interruptions per hour of a set of GPUs spread over whole nodes. */
double cl_fail_rate_per_h(uint64_t gpus, uint64_t nodes, double scale);

typedef struct cl_fail_sampler {
    uint64_t gpus, nodes;
    double scale;
    double total_per_s;          /* over every unit, up or not (thinned by the caller) */
    double cum[CL_FAIL_CLASSES]; /* cumulative share of total_per_s */
} cl_fail_sampler_t;

void cl_fail_sampler_init(cl_fail_sampler_t *s, uint32_t nodes, uint32_t gpus_per_node,
                          double scale);
/* Draw the next candidate failure after time now: its time, class, node and GPU (the GPU
 * is meaningful for GPU-scope classes). The caller discards it when the unit is already
 * down (thinning keeps the rate of the units that are up exact). */
typedef struct cl_fail_draw {
    double t;
    uint32_t cls;
    uint32_t node;
    uint32_t gpu;
} cl_fail_draw_t;
void cl_fail_sample(const cl_fail_sampler_t *s, cl_rng_t *r, double now, uint32_t gpus_per_node,
                    cl_fail_draw_t *out);

/* ------------------------------------------------------------- checkpoints --------------
 * delta: checkpoint cost (stall) s; m: mean time between failures of the job s;
 * down: time lost per failure before computing again (detection + restart) s. */
double cl_young_interval(double delta, double m);
double cl_daly_interval(double delta, double m);
/* Daly's expected wall time per unit of work, i.e. 1/ETTR, for exponential failures:
 * M e^(R/M) (e^((tau+delta)/M) - 1) / tau. */
double cl_daly_walltime_ratio(double tau, double delta, double m, double down);

/* ------------------------------------------------------------------ trace ---------------- */
typedef struct cl_trace_job {
    double submit_s, duration_s;
    uint32_t gpus;
    uint32_t line;    /* line in the file, for messages */
    uint32_t cluster; /* index into cl_trace_t.clusters (0 without that column) */
} cl_trace_job_t;

typedef struct cl_trace {
    cl_trace_job_t *v;
    size_t n;
    char *file;      /* name for messages */
    char **clusters; /* distinct values of the cluster column, in order of appearance */
    size_t nclusters;
} cl_trace_t;

/* Parse a CSV: a header naming job_id, submit_time_s, duration_s, num_gpus (any order,
 * optional cluster column), then one job per line. cluster: keep only rows of that
 * cluster (NULL: all). Jobs are returned sorted by submit time (stable). Errors read
 * "FILE:LINE: what is wrong". */
int cl_trace_parse(const char *text, size_t len, const char *file, const char *cluster,
                   cl_trace_t *out, cl_error_t *err);
int cl_trace_load(const char *path, const char *cluster, cl_trace_t *out, cl_error_t *err);
void cl_trace_free(cl_trace_t *t);

/* ---------------------------------------------------------------- tenants ---------------
 * `--tenants FILE`: {"budget_period_days": D, "tenants": [{"name": N, "clusters": [C...],
 * "parent": P, "shares": S, "quota_gpus": G, "cohort": "name", "borrow_limit": G,
 * "lend_limit": G, "budget_gpu_hours": H, "budget_stop": bool, "preemptible": bool}, ...]}.
 * A tenant takes the trace's rows whose cluster column is one of its clusters (default: its
 * own name); other rows go to the default tenant. GPU figures null or absent: none. */
typedef struct cl_sim_tenant {
    char *name, *parent, *cohort; /* parent, cohort: NULL for none */
    cl_tenant_conf_t conf; /* parent: index into the file's list; cohort: 1, 2... by name */
    bool preemptible;      /* its jobs may be preempted (by priority or reclaim) */
    char **clusters;
    size_t nclusters;
} cl_sim_tenant_t;

typedef struct cl_sim_tenants {
    char *file; /* for messages */
    cl_sim_tenant_t *v;
    size_t n;
    uint32_t ncohorts;
    double budget_period_s; /* budgets start again every period; 0: one grant for the run */
} cl_sim_tenants_t;

/* Parse (errors "FILE: what is wrong", nothing to free on failure); caller frees. */
int cl_sim_tenants_parse(const char *text, size_t len, const char *file, cl_sim_tenants_t *out,
                         cl_error_t *err);
int cl_sim_tenants_load(const char *path, cl_sim_tenants_t *out, cl_error_t *err);
void cl_sim_tenants_free(cl_sim_tenants_t *ts);

/* ----------------------------------------------------------------- engine --------------- */
typedef enum cl_sim_workload {
    CL_WL_FRONTIER,
    CL_WL_TRACE,
    CL_WL_MIXED,
} cl_sim_workload_t;

typedef enum cl_sim_policy {
    CL_SIM_NAIVE,
    CL_SIM_COLOSSUS,
} cl_sim_policy_t;

/* The site's power (docs/power.md): every GPU draws gpu_w computing, idle_w allocated but
 * stalled or unallocated; 1 s bins; the controller's capping (budget, a grid cut) and, with
 * smoothing, ramps held within ramp_pct of the budget per second (burn fills drops, limits
 * hold rises). */
typedef struct cl_sim_power_config {
    bool on;            /* model the power at all (any power flag) */
    double budget_mw;   /* site budget; 0: none (no capping) */
    double ramp_pct;    /* allowed ramp, % of the budget (of the nameplate without one) per s */
    bool smoothing;     /* on: ramps planned within ramp_pct; off: capping only */
    double cut_pct;     /* a grid cut of this % of the budget ... */
    double cut_at_s;    /* ... from this time on (cut_pct 0: none) */
    double cut_delay_s; /* from the grid's signal to the GPUs' new limits */
    double admit_frac;  /* the core's admission fraction (cl_power_conf_t.admit_frac) */
    double leaf_budget_mw; /* every leaf's budget in the core (admission only); 0: none */
    double gpu_w, idle_w, min_w;
} cl_sim_power_config_t;

typedef struct cl_sim_power_result {
    double budget_mw, peak_mw, ramp_up_mw_s, ramp_down_mw_s;
    double seconds_over, band_fraction, smoothing_mwh, energy_mwh;
    double cut_met_s;       /* seconds from the grid's signal to a draw within the cut budget
                               (-1: no cut or never) */
    double throughput_cost; /* work lost to capping and held ramps / work without them */
} cl_sim_power_result_t;

typedef struct cl_sim_config {
    const char *preset;            /* topology preset ("hgx" when NULL) */
    uint32_t nodes, gpus_per_node; /* 0: preset's */
    double days;
    uint64_t seed;
    cl_sim_workload_t workload;
    const cl_trace_t *trace;         /* CL_WL_TRACE (caller owns) */
    bool trace_tenants;              /* each cluster of the trace is a tenant with one share */
    const cl_sim_tenants_t *tenants; /* or these tenants (trace workload; caller owns) */
    cl_sim_policy_t policy;
    cl_queue_policy_t queue;
    double detect_s;     /* < 0: per failure class (colossus) */
    double net_detect_s; /* per class: the network class's time; < 0: the class table's */
    double restart_s;
    double ckpt_interval_s; /* 0: auto (Daly from the live failure rate) */
    double ckpt_cost_s;
    double spares_pct; /* nodes kept out of the frontier job, % (hot spares or headroom) */
    bool hot_spares;   /* the core holds them as hot spares (swap in place) */
    double failure_scale;
    double repair_scale;
    double mfu;
    uint64_t replica_gpus; /* > 0: failures contained to one data-parallel replica */
    double stall_s;        /* < 0: detection time; global stall per contained failure */
    double mixed_frontier; /* share of non-spare GPUs the frontier job holds (mixed) */
    double mixed_load;     /* offered load of the job stream on the rest (mixed) */
    uint32_t plot_points;  /* samples for --plot (0: none) */
    cl_sim_power_config_t power;
    bool check_core; /* tests: verify the core and the simulator agree after every event */
} cl_sim_config_t;

/* Fill the defaults of a policy (cited in docs/simulation.md). */
void cl_sim_config_default(cl_sim_config_t *c, cl_sim_policy_t policy);
/* The detection time of failure class cls under c: --detect-s, else the class's own (the
 * network class's overridden by net_detect_s when >= 0). */
double cl_sim_detect_s(const cl_sim_config_t *c, uint32_t cls);

typedef struct cl_sim_sample {
    double t;
    double util, goodput; /* averages over the interval ending at t, of up GPU-time */
    uint32_t failures;    /* since the previous sample */
} cl_sim_sample_t;

typedef struct cl_sim_tenant_result {
    char name[65];
    double gpu_s;          /* its own jobs' allocated GPU-time */
    double borrowed_gpu_s; /* GPU-time beyond its nominal quota (a top-level tenant) */
    uint64_t jobs_submitted, jobs_started, jobs_completed, preemptions;
} cl_sim_tenant_result_t;

typedef struct cl_sim_result {
    uint64_t gpus, nodes;
    double days;
    double sim_s;     /* simulated seconds: the period of the run (days * 86400) */
    double elapsed_s; /* real seconds cl_sim_run took (monotonic clock); not reproducible */
    uint64_t events, failures, interruptions, frontier_interruptions;
    uint64_t requeues, restarts_in_place, contained;
    uint64_t teardown_detections; /* failures found when their job was torn down */
    double ettr;                  /* frontier job; -1 when there is none */
    double utilization, goodput, sustained_exaflops, lost_gpu_hours;
    double avail_gpu_s, alloc_gpu_s, useful_gpu_s;
    uint64_t jobs_submitted, jobs_completed, jobs_started;
    double mean_jct_s, p99_wait_s, mean_wait_s;
    uint64_t frontier_gpus;
    double frontier_mtbf_s; /* model MTBF of the frontier job */
    double ckpt_interval_s; /* last interval used by the frontier job */
    double daly_ettr;       /* closed-form expectation for the frontier job */
    uint64_t sched_passes;
    /* real seconds spent in the core (stderr only: not reproducible, so not in the JSON) */
    double core_sched_s, core_sched_max_s, core_fail_s, core_fail_max_s;
    uint64_t core_refusals; /* core calls that failed (should be 0) */
    char last_refusal[256];
    uint64_t jobs_failed;
    uint64_t class_failures[CL_FAIL_CLASSES];
    cl_sim_sample_t *samples;
    size_t nsamples;
    cl_sim_tenant_result_t *tenants; /* with trace_tenants or tenants: one per core tenant */
    size_t ntenants;
    /* power (cfg.power.on): as managed, and the raw demand beside it */
    cl_sim_power_result_t power, power_raw;
    double power_ettr; /* the frontier job's ETTR with the managed power's throughput cost */
    /* 1 s series for the SVG, npower entries each: drawn, raw demand, the grid's budget */
    float *power_draw_mw, *power_raw_mw, *power_budget_mw;
    size_t npower;
} cl_sim_result_t;

/* Run a simulation. Returns 0, or -1 with err filled (bad configuration, core refusal). */
int cl_sim_run(const cl_sim_config_t *cfg, cl_sim_result_t *res, cl_error_t *err);
void cl_sim_result_free(cl_sim_result_t *r);

/* ----------------------------------------------------------------- reports --------------- */
/* One JSON object on one line with a trailing newline; the same bytes for the same inputs,
 * except elapsed_s (the real time the run took). */
void cl_sim_json(FILE *f, const cl_sim_config_t *cfg, const cl_sim_result_t *r);
/* The human summary: cluster, failures, the frontier job, use of the cluster, jobs. */
void cl_sim_summary(FILE *f, const cl_sim_result_t *r);
int cl_sim_plot_svg(const char *path, const cl_sim_config_t *cfg, const cl_sim_result_t *r,
                    cl_error_t *err);
/* The power JSON keys (",power_budget_mw":... through "power_unsmoothed"), each after a
 * comma. */
void cl_sim_power_json(FILE *f, const cl_sim_config_t *cfg, const cl_sim_result_t *r);
/* Draw against budget over the run (managed and raw), one point per bucket of seconds. */
int cl_sim_power_svg(const char *path, const cl_sim_config_t *cfg, const cl_sim_result_t *r,
                     cl_error_t *err);
/* Spectral energy of x (mean removed) at lo_hz..hi_hz over all of it but DC; x sampled at
 * rate_hz (a real FFT: FFTW). 0 when the series is flat. */
double cl_sim_band_fraction(const double *x, size_t n, double rate_hz, double lo_hz,
                            double hi_hz);

#endif
