/* engine.h - state of one simulation run, shared by engine.c (the model of jobs, failures
 * and recovery) and run.c (set-up, the event loop and the results). Internal to src/sim. */
#ifndef COLOSSUS_SIM_ENGINE_H
#define COLOSSUS_SIM_ENGINE_H

#include "sim/sim.h"

enum {
    EV_FAIL,    /* the next candidate failure of the cluster */
    EV_DETECT,  /* a failure becomes known to the control plane: a = node, b = GPU or
                   UINT32_MAX, c = class */
    EV_REPAIR,  /* a = node, b = GPU or UINT32_MAX, c = class */
    EV_RESUME,  /* b = job, c = epoch: restart done, the job computes again */
    EV_FINISH,  /* b = job, c = epoch */
    EV_REJOIN,  /* b = job, c = epoch: a contained replica is back */
    EV_ARRIVAL, /* b = trace index (trace) or 0 (mixed stream) */
    EV_SAMPLE,  /* plot sample */
    EV_PERIOD,  /* a new budget period */
    EV_WAKEUP,  /* the core asked for a pass then (cl_next_wakeup) */
    EV_CUT,     /* the grid's cut reaches the core's budgets */
};

enum { PH_PENDING, PH_DOWN, PH_RUN, PH_DONE };

typedef struct sim_job {
    cl_jobid_t id;
    bool live, frontier, contained, allocated;
    uint8_t phase;
    uint32_t gpus, tenant;
    double need; /* work to do, s (INFINITY: the frontier job) */
    double work; /* committed work, s */
    double submit, first_start, run_t0;
    double tau, delta;
    uint64_t epoch; /* bumped at every phase change; stale events are dropped */
    uint64_t failures, rollbacks;
    double exposure; /* seconds computed, for the live failure rate */
    double model_mtbf;
    double run_eff; /* its share of the sim's run_eff */
    /* containment (frontier job with --replica-gpus) */
    double replica_share, fluid_w, fluid_t, run_w0, stall_until;
    uint32_t rejoining;
} sim_job_t;

typedef struct sim_pend {
    uint32_t node;
    int32_t gpu;
    uint32_t cls;
} sim_pend_t;

typedef struct sim {
    cl_sim_config_t cfg;
    cl_sim_result_t res;
    cl_cluster_t *cl;
    cl_eventq_t q;
    cl_decisions_t dec;
    cl_fail_sampler_t sampler;
    cl_rng_t rng_fail, rng_repair, rng_work;
    double now, end;
    uint32_t nodes, gpn;
    uint64_t gpus, alloc_gpus, down_gpus;
    uint8_t *node_down;
    uint64_t *gpu_failed;
    sim_job_t *jobs;
    size_t njobs, capjobs;
    sim_pend_t *pend;
    size_t npend, cappend;
    double *waits;
    size_t nwaits, capwaits;
    double alloc_gpu_s, avail_gpu_s, useful_gpu_s, run_eff, jct_sum;
    double eff_gpu_s;                        /* integral of the GPUs computing, for the plot */
    double last_alloc, last_avail, last_eff; /* integrals at the previous plot sample */
    uint64_t class_failures[CL_FAIL_CLASSES];
    uint64_t jobs_failed, core_refusals;
    char last_refusal[256];
    uint32_t bucket_failures;
    bool need_sched;
    cl_jobid_t frontier;
    /* mixed stream */
    double mixed_rate;            /* arrivals per second */
    uint32_t mixed_max_log2;      /* largest job: 2^this nodes */
    uint32_t *tenant_of;          /* trace cluster index -> core tenant (trace_tenants) */
    bool *preemptible;            /* [core tenant]: its jobs are (tenants file) */
    cl_sim_tenant_result_t *tres; /* [core tenant] (= res.tenants) */
    size_t ntres;
    double wake_at; /* the earliest EV_WAKEUP queued */
    /* power: GPU-seconds computing and allocated in each 1 s bin (cfg.power.on) */
    double *pw_comp, *pw_alloc;
    size_t pw_n;
} sim_t;

/* tenants.c: the file's tenants in the core, and the trace clusters' map (tenant_of has
 * nclusters entries, preemptible one per core tenant: n + 1). */
int cl__sim_tenants_setup(cl_cluster_t *cl, const cl_sim_tenants_t *ts, char **clusters,
                          size_t nclusters, uint32_t *tenant_of, bool *preemptible,
                          cl_error_t *err);

/* engine.c */
int cl__sim_submit(sim_t *s, uint32_t gpus, double need, double t, bool frontier,
                   uint32_t tenant, cl_error_t *err);
void cl__sim_handle(sim_t *s, const cl_event_t *e);
void cl__sim_clock_to(sim_t *s, double t);
void cl__sim_decisions(sim_t *s, double t);
double cl__sim_job_progress(sim_t *s, sim_job_t *j, double t);
double cl__sim_job_eff(const sim_job_t *j);

/* power.c */
int cl__sim_power_setup(sim_t *s, cl_error_t *err);
void cl__sim_power_clock(sim_t *s, double t0, double t1); /* before s->now moves to t1 */
void cl__sim_power_finish(sim_t *s);
void cl__sim_power_free(sim_t *s);

#endif
