/* engine.c - the discrete-event simulator: failures, repairs, job arrivals, restarts and
 * checkpoints in virtual time, every scheduling and failure decision taken by src/core. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"
#include "util/util.h"

/* ------------------------------------------------------------ progress model ------------
 * A job computes in cycles of tau seconds of work followed by a checkpoint stall of delta;
 * a checkpoint is committed at the end of its stall. A failure loses the work since the
 * last committed checkpoint (Daly's model). */
static double cycle_done(const sim_job_t *j, double e)
{
    double cyc = j->tau + j->delta;
    double c = floor(e / cyc);
    double rem = e - c * cyc;
    return c * j->tau + (rem < j->tau ? rem : j->tau);
}

static double cycle_committed(const sim_job_t *j, double e)
{
    return floor(e / (j->tau + j->delta)) * j->tau;
}

/* Wall seconds to do w more seconds of work from a fresh cycle (no stall after the last). */
static double cycle_wall(const sim_job_t *j, double w)
{
    double k = ceil(w / j->tau) - 1;
    if (k < 0) k = 0;
    return w + k * j->delta;
}

/* ---------------------------------------------------------------- helpers ---------------- */
static void push(sim_t *s, double t, uint32_t type, uint32_t a, uint64_t b, uint64_t c)
{
    cl_eventq_push(&s->q, t, type, a, b, c);
}

static sim_job_t *job(sim_t *s, cl_jobid_t id)
{
    return id < s->njobs ? &s->jobs[id] : NULL;
}

static sim_job_t *job_new(sim_t *s, cl_jobid_t id)
{
    if (id >= s->capjobs) {
        size_t cap = s->capjobs ? s->capjobs : 1024;
        while (cap <= id)
            cap *= 2;
        sim_job_t *v = cl_xrealloc(s->jobs, cap * sizeof(*v));
        memset(v + s->capjobs, 0, (cap - s->capjobs) * sizeof(*v));
        s->jobs = v;
        s->capjobs = cap;
    }
    if (id >= s->njobs) s->njobs = id + 1;
    sim_job_t *j = &s->jobs[id];
    memset(j, 0, sizeof(*j));
    j->id = id;
    j->live = true;
    return j;
}

/* Integrate the GPU-time counters up to t. */
void cl__sim_clock_to(sim_t *s, double t)
{
    if (t <= s->now) return;
    double dt = t - s->now;
    s->alloc_gpu_s += dt * (double)s->alloc_gpus;
    for (size_t i = 0; i < s->ntres; i++) {
        cl_tenant_state_t st;
        cl_tenant_state(s->cl, (uint32_t)i, s->now, &st);
        s->tres[i].gpu_s += dt * (double)st.gpus_own;
        s->tres[i].borrowed_gpu_s += dt * (double)st.borrowed;
    }
    s->avail_gpu_s += dt * (double)(s->gpus - s->down_gpus);
    /* GPUs computing (for the plot); a contained frontier job computes nothing while stalled */
    double gp = dt * s->run_eff;
    if (s->frontier) {
        const sim_job_t *f = &s->jobs[s->frontier];
        if (f->live && f->contained && f->phase == PH_RUN && f->stall_until > s->now)
            gp -= ((f->stall_until < t ? f->stall_until : t) - s->now) * f->run_eff;
    }
    s->eff_gpu_s += gp > 0 ? gp : 0;
    cl__sim_power_clock(s, s->now, t);
    s->now = t;
}

/* The failure-rate estimate a job's Daly interval uses: the model's rate for its size as a
 * prior worth one failure, updated with what the job has seen. With containment only the
 * failures that roll back the whole job matter; their prior is one a day. */
static double job_mtbf(const sim_t *s, const sim_job_t *j)
{
    double prior_m = j->contained ? 86400.0 : j->model_mtbf;
    double exposure = prior_m + j->exposure;
    double count = 1.0 + (j->contained ? (double)j->rollbacks : (double)j->failures);
    return exposure / count;
}

static void set_interval(sim_t *s, sim_job_t *j)
{
    j->delta = s->cfg.ckpt_cost_s;
    if (s->cfg.ckpt_interval_s > 0)
        j->tau = s->cfg.ckpt_interval_s;
    else
        j->tau = cl_daly_interval(j->delta, job_mtbf(s, j));
    if (!(j->tau > 0)) j->tau = 1;
    /* without failures Daly's interval is infinite: checkpoint once in ~30 years instead,
     * which keeps the cycle arithmetic finite */
    if (j->tau > 1e9) j->tau = 1e9;
    if (j->frontier) s->res.ckpt_interval_s = j->tau;
}

double cl__sim_job_eff(const sim_job_t *j)
{
    return j->tau / (j->tau + j->delta);
}

/* ------------------------------------------------------- contained frontier job ---------
 * With containment (--replica-gpus) the frontier job's progress is a fluid: all replicas
 * stall until stall_until, then run at (1 - rejoining * replica share), times the async
 * checkpoint efficiency. */
static double fluid_rate(const sim_job_t *j)
{
    double cap = 1.0 - (double)j->rejoining * j->replica_share;
    return (cap > 0 ? cap : 0) * cl__sim_job_eff(j);
}

static void fluid_advance(sim_t *s, sim_job_t *j, double t)
{
    if (j->phase != PH_RUN || t <= j->fluid_t) return;
    double from = j->fluid_t > j->stall_until ? j->fluid_t : j->stall_until;
    if (t > from) j->fluid_w += fluid_rate(j) * (t - from);
    j->fluid_t = t;
    (void)s;
}

/* Work the job holds at t (committed + in flight). */
double cl__sim_job_progress(sim_t *s, sim_job_t *j, double t)
{
    if (j->phase != PH_RUN) return j->work;
    if (j->contained) {
        fluid_advance(s, j, t);
        return j->fluid_w;
    }
    return j->work + cycle_done(j, t - j->run_t0);
}

static void run_eff_update(sim_t *s, sim_job_t *j, bool on)
{
    double e = (double)j->gpus * (j->contained ? fluid_rate(j) : cl__sim_job_eff(j));
    if (on) {
        j->run_eff = e;
        s->run_eff += e;
    } else {
        s->run_eff -= j->run_eff;
        j->run_eff = 0;
    }
}

/* Leave the computing phase at t: keep the committed work, lose the rest. */
static void job_stop(sim_t *s, sim_job_t *j, double t)
{
    if (j->phase != PH_RUN) return;
    double keep;
    if (j->contained) {
        fluid_advance(s, j, t);
        keep = j->run_w0 + floor((j->fluid_w - j->run_w0) / j->tau) * j->tau;
        if (keep > j->fluid_w) keep = j->fluid_w;
        j->fluid_w = keep;
        j->rejoining = 0;
        j->stall_until = 0;
    } else {
        keep = j->work + cycle_committed(j, t - j->run_t0);
    }
    j->exposure += t - j->run_t0;
    j->work = keep;
    run_eff_update(s, j, false);
    j->phase = PH_DOWN;
    j->epoch++;
}

static bool job_has_undetected(sim_t *s, const sim_job_t *j)
{
    for (size_t i = 0; i < s->npend; i++) {
        cl_jobid_t ids[CL_MAX_GPUS_PER_NODE];
        size_t n = cl_node_jobs(s->cl, s->pend[i].node, ids, CL_MAX_GPUS_PER_NODE);
        for (size_t k = 0; k < n; k++)
            if (ids[k] == j->id) return true;
    }
    return false;
}

static void job_resume(sim_t *s, sim_job_t *j, double t)
{
    if (job_has_undetected(s, j)) {
        j->phase = PH_DOWN; /* hangs on a dead node until its failure is detected */
        return;
    }
    set_interval(s, j);
    j->phase = PH_RUN;
    j->run_t0 = t;
    j->epoch++;
    if (j->contained) {
        j->fluid_t = t;
        j->run_w0 = j->fluid_w;
        j->stall_until = 0;
        j->rejoining = 0;
    }
    run_eff_update(s, j, true);
    if (isfinite(j->need)) {
        double w = j->need - j->work;
        push(s, t + cycle_wall(j, w > 0 ? w : 0), EV_FINISH, 0, j->id, j->epoch);
    }
}

static void wait_record(sim_t *s, double w)
{
    if (s->nwaits == s->capwaits) {
        size_t cap = s->capwaits ? s->capwaits * 2 : 1024;
        double *v = cl_xrealloc(s->waits, cap * sizeof(*v));
        s->waits = v;
        s->capwaits = cap;
    }
    s->waits[s->nwaits++] = w;
}

static void repair_gpu(sim_t *s, uint32_t n, uint32_t g, double t);
static void refused(sim_t *s, const cl_error_t *err);

/* ------------------------------------------------------------- decisions ---------------- */
void cl__sim_decisions(sim_t *s, double t)
{
    for (size_t i = 0; i < s->dec.n; i++) {
        const cl_decision_t *d = &s->dec.v[i];
        sim_job_t *j = job(s, d->job);
        if (!j || !j->live) continue;
        switch (d->action) {
        case CL_ACT_START:
            if (j->first_start < 0) {
                j->first_start = t;
                if (!j->frontier) {
                    s->res.jobs_started++;
                    wait_record(s, t - j->submit);
                }
                if (j->tenant < s->ntres) s->tres[j->tenant].jobs_started++;
            }
            s->alloc_gpus += j->gpus;
            j->allocated = true;
            j->phase = PH_DOWN;
            j->epoch++;
            push(s, t + s->cfg.restart_s, EV_RESUME, 0, j->id, j->epoch);
            break;
        case CL_ACT_RESTART:
            s->res.restarts_in_place++;
            if (j->contained && j->phase == PH_RUN) {
                /* only the failed replica restarts; it rejoins after restart_s */
                s->res.contained++;
                push(s, t + s->cfg.restart_s, EV_REJOIN, 0, j->id, j->epoch);
            } else {
                job_stop(s, j, t);
                j->epoch++;
                push(s, t + s->cfg.restart_s, EV_RESUME, 0, j->id, j->epoch);
            }
            break;
        case CL_ACT_PREEMPT:
        case CL_ACT_REQUEUE:
            if (d->action == CL_ACT_REQUEUE) s->res.requeues++;
            if (d->action == CL_ACT_PREEMPT && j->tenant < s->ntres)
                s->tres[j->tenant].preemptions++;
            if (j->contained && j->phase == PH_RUN) j->rollbacks++;
            job_stop(s, j, t);
            j->phase = PH_PENDING;
            j->epoch++;
            if (j->allocated) {
                s->alloc_gpus -= j->gpus;
                j->allocated = false;
            }
            s->need_sched = true;
            break;
        case CL_ACT_FAIL:
            job_stop(s, j, t);
            if (j->allocated) {
                s->alloc_gpus -= j->gpus;
                j->allocated = false;
            }
            s->useful_gpu_s += j->work * (double)j->gpus;
            j->phase = PH_DONE;
            j->live = false;
            s->jobs_failed++;
            cl_job_forget(s->cl, j->id);
            s->need_sched = true;
            break;
        case CL_ACT_DEP_NEVER: /* the simulator's jobs have no dependencies */
            break;
        }
    }
    cl_decisions_clear(&s->dec);
}

/* --------------------------------------------------------------- failures --------------- */
static void pend_add(sim_t *s, uint32_t node, int32_t gpu, uint32_t cls)
{
    if (s->npend == s->cappend) {
        size_t cap = s->cappend ? s->cappend * 2 : 64;
        sim_pend_t *v = cl_xrealloc(s->pend, cap * sizeof(*v));
        s->pend = v;
        s->cappend = cap;
    }
    s->pend[s->npend++] = (sim_pend_t){node, gpu, cls};
}

static bool pend_remove(sim_t *s, uint32_t node, int32_t gpu)
{
    for (size_t i = 0; i < s->npend; i++)
        if (s->pend[i].node == node && s->pend[i].gpu == gpu) {
            memmove(&s->pend[i], &s->pend[i + 1], (s->npend - i - 1) * sizeof(*s->pend));
            s->npend--;
            return true;
        }
    return false;
}

static double detect_time(const sim_t *s, uint32_t cls)
{
    return cl_sim_detect_s(&s->cfg, cls);
}

/* Does job id hold GPU gpu of node n? Large gangs hold whole nodes; small ones are
 * looked up in their (short) allocation. */
static bool job_holds_gpu(sim_t *s, cl_jobid_t id, uint32_t n, uint32_t gpu)
{
    size_t na;
    const cl_alloc_t *a = cl_job_alloc(s->cl, id, &na);
    if (!a) return false;
    if (na > 64) return true;
    for (size_t i = 0; i < na; i++)
        if (a[i].node == n) return (a[i].gpus >> gpu) & 1;
    return false;
}

/* Was job id already hit by a failure on node n that is not yet detected? Then a second
 * failure there is not a new interruption: the core will take one decision for the job on
 * that node. (A node-scope failure marks the node down, so only GPU failures are pending
 * on a node that can fail again.) */
static bool already_hit(sim_t *s, cl_jobid_t id, uint32_t n)
{
    for (size_t i = 0; i < s->npend; i++)
        if (s->pend[i].node == n && s->pend[i].gpu >= 0 &&
            job_holds_gpu(s, id, n, (uint32_t)s->pend[i].gpu))
            return true;
    return false;
}

/* A component fails now: the jobs on it stop computing at once (their work since the last
 * checkpoint is lost); the control plane learns of it after the detection time. */
static void on_failure(sim_t *s, const cl_fail_draw_t *d, double t)
{
    const cl_fail_class_t *fc = &cl_fail_classes[d->cls];
    uint32_t n = d->node;
    if (s->node_down[n]) return; /* thinning: the unit is not up */
    bool gpu_scope = fc->scope == CL_SCOPE_GPU;
    if (gpu_scope && ((s->gpu_failed[n] >> d->gpu) & 1)) return;
    s->res.failures++;
    s->bucket_failures++;
    s->class_failures[d->cls]++;
    cl_jobid_t ids[CL_MAX_GPUS_PER_NODE];
    size_t nj = cl_node_jobs(s->cl, n, ids, CL_MAX_GPUS_PER_NODE);
    for (size_t k = 0; k < nj; k++) {
        sim_job_t *j = job(s, ids[k]);
        if (!j || !j->live) continue;
        if (gpu_scope && !job_holds_gpu(s, ids[k], n, d->gpu)) continue;
        if (already_hit(s, ids[k], n)) continue;
        s->res.interruptions++;
        j->failures++;
        if (j->frontier) s->res.frontier_interruptions++;
        double det = detect_time(s, d->cls);
        if (j->contained && j->phase == PH_RUN) {
            fluid_advance(s, j, t);
            double stall = s->cfg.stall_s >= 0 ? s->cfg.stall_s : det;
            if (t + stall > j->stall_until) j->stall_until = t + stall;
            j->rejoining++;
            run_eff_update(s, j, false);
            run_eff_update(s, j, true);
        } else {
            job_stop(s, j, t);
            j->epoch++; /* cancels a pending resume: the job hangs until detection */
        }
    }
    if (gpu_scope) {
        s->gpu_failed[n] |= 1ULL << d->gpu;
        s->down_gpus++;
    } else {
        s->node_down[n] = 1;
        s->down_gpus += s->gpn - (uint32_t)__builtin_popcountll(s->gpu_failed[n]);
    }
    pend_add(s, n, gpu_scope ? (int32_t)d->gpu : -1, d->cls);
    push(s, t + detect_time(s, d->cls), EV_DETECT, n, gpu_scope ? d->gpu : UINT32_MAX, d->cls);
}

/* The control plane learns of a failure: the core decides, and the repair clock starts. */
static void detect_now(sim_t *s, uint32_t n, int32_t gpu, uint32_t cls, double t)
{
    cl_error_t err;
    int rc;
    double w0 = cl_now_ms();
    if (gpu >= 0 && !s->node_down[n])
        rc = cl_gpu_fail(s->cl, n, (uint32_t)gpu, t, &s->dec, &err);
    else if (gpu >= 0)
        rc = 0; /* the whole node went down meanwhile; that failure handles its jobs */
    else
        rc = cl_node_fail(s->cl, n, t, &s->dec, &err);
    double dw = (cl_now_ms() - w0) / 1e3;
    s->res.core_fail_s += dw;
    if (dw > s->res.core_fail_max_s) s->res.core_fail_max_s = dw;
    if (rc) refused(s, &err);
    cl__sim_decisions(s, t);
    double rep = cl_rng_exp(&s->rng_repair,
                            cl_fail_classes[cls].repair_h * 3600.0 * s->cfg.repair_scale);
    push(s, t + rep, EV_REPAIR, n, gpu >= 0 ? (uint64_t)gpu : UINT32_MAX, cls);
    s->need_sched = true;
}

static bool has_job(const cl_jobid_t *v, size_t n, cl_jobid_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id) return true;
    return false;
}

/* When a job is torn down (requeued or failed), the other undetected failures of its nodes
 * are found at once, as a launcher's teardown or epilog health check finds them; otherwise
 * the scheduler would place the job back on dead nodes only to requeue it again. */
static void on_detect(sim_t *s, const cl_event_t *e, double t)
{
    uint32_t n = e->a;
    int32_t gpu = e->b != UINT32_MAX ? (int32_t)e->b : -1;
    if (!pend_remove(s, n, gpu)) return; /* found already at a teardown */
    cl_jobid_t hit[CL_MAX_GPUS_PER_NODE];
    size_t nhit = cl_node_jobs(s->cl, n, hit, CL_MAX_GPUS_PER_NODE);
    /* the pending failures on nodes of the same jobs, with the job they share */
    size_t ncand = 0;
    sim_pend_t cand[64];
    cl_jobid_t cand_job[64];
    for (size_t i = 0; nhit && i < s->npend && ncand < 64; i++) {
        cl_jobid_t ids[CL_MAX_GPUS_PER_NODE];
        size_t k = cl_node_jobs(s->cl, s->pend[i].node, ids, CL_MAX_GPUS_PER_NODE);
        for (size_t x = 0; x < k; x++)
            if (has_job(hit, nhit, ids[x])) {
                cand[ncand] = s->pend[i];
                cand_job[ncand++] = ids[x];
                break;
            }
    }
    detect_now(s, n, gpu, (uint32_t)e->c, t);
    for (size_t i = 0; i < ncand; i++) {
        sim_job_t *j = job(s, cand_job[i]);
        if (j && j->live && j->phase != PH_PENDING)
            continue; /* restarted in place: its other failures are found in their time */
        if (!pend_remove(s, cand[i].node, cand[i].gpu)) continue;
        s->res.teardown_detections++;
        detect_now(s, cand[i].node, cand[i].gpu, cand[i].cls, t);
    }
}

static void refused(sim_t *s, const cl_error_t *err)
{
    s->core_refusals++;
    snprintf(s->last_refusal, sizeof(s->last_refusal), "%s", err->msg);
}

/* The node is back in the pool; GPUs whose own repair is still due stay failed. */
static void node_back(sim_t *s, uint32_t n, double t)
{
    cl_error_t err;
    if (cl_node_recover(s->cl, n, t, &err)) refused(s, &err);
    uint64_t m = s->gpu_failed[n];
    while (m) {
        uint32_t g = (uint32_t)__builtin_ctzll(m);
        m &= m - 1;
        if (cl_gpu_fail(s->cl, n, g, t, &s->dec, &err)) refused(s, &err);
        cl__sim_decisions(s, t);
    }
    s->need_sched = true;
}

static void on_repair(sim_t *s, const cl_event_t *e, double t)
{
    uint32_t n = e->a;
    if (e->b != UINT32_MAX) {
        uint32_t g = (uint32_t)e->b;
        if (s->node_down[n]) {
            s->gpu_failed[n] &= ~(1ULL << g); /* the node's own repair brings it back */
            return;
        }
        repair_gpu(s, n, g, t);
        return;
    }
    s->node_down[n] = 0;
    s->down_gpus -= s->gpn - (uint32_t)__builtin_popcountll(s->gpu_failed[n]);
    node_back(s, n, t);
}

/* ------------------------------------------------------------------ jobs ---------------- */
int cl__sim_submit(sim_t *s, uint32_t gpus, double need, double t, bool frontier,
                   uint32_t tenant, cl_error_t *err)
{
    cl_job_spec_t spec;
    memset(&spec, 0, sizeof(spec));
    if (gpus <= s->gpn) {
        spec.nodes = 1;
        spec.gpus_per_node = gpus;
    } else {
        spec.nodes = (gpus + s->gpn - 1) / s->gpn;
        spec.gpus_per_node = 0;
        gpus = spec.nodes * s->gpn;
    }
    spec.priority = frontier ? 100 : 0;
    spec.tenant = tenant;
    spec.preemptible = s->preemptible && !frontier && s->preemptible[tenant];
    spec.max_restarts = UINT32_MAX;
    /* the user's estimate the backfill reservation uses: the run time plus an hour */
    spec.time_limit_s = isfinite(need) ? need + 3600.0 : 0;
    cl_jobid_t id;
    cl_error_t e;
    if (cl_job_submit(s->cl, &spec, t, &id, &e)) {
        if (err) *err = e;
        return -1;
    }
    sim_job_t *j = job_new(s, id);
    if (!j) return -1;
    j->gpus = gpus;
    j->tenant = tenant;
    if (tenant < s->ntres) s->tres[tenant].jobs_submitted++;
    j->need = need;
    j->submit = t;
    j->first_start = -1;
    j->frontier = frontier;
    j->phase = PH_PENDING;
    j->model_mtbf = 3600.0 / cl_fail_rate_per_h(gpus, spec.nodes, s->cfg.failure_scale);
    /* containment needs a hot spare for the failed replica to rejoin on */
    if (frontier && s->cfg.hot_spares && s->cfg.replica_gpus > 0 &&
        s->cfg.replica_gpus < gpus) {
        j->contained = true;
        j->replica_share = (double)s->cfg.replica_gpus / (double)gpus;
    }
    set_interval(s, j);
    s->res.jobs_submitted += !frontier;
    s->need_sched = true;
    return 0;
}

static void on_finish(sim_t *s, sim_job_t *j, double t)
{
    run_eff_update(s, j, false);
    j->phase = PH_DONE;
    j->live = false;
    s->alloc_gpus -= j->gpus;
    j->allocated = false;
    s->useful_gpu_s += j->need * (double)j->gpus;
    s->res.jobs_completed++;
    if (j->tenant < s->ntres) s->tres[j->tenant].jobs_completed++;
    s->jct_sum += t - j->submit;
    cl_error_t err;
    if (cl_job_finish(s->cl, j->id, true, t, &err)) refused(s, &err);
    cl_job_forget(s->cl, j->id);
    s->need_sched = true;
}

/* A replaced GPU is back (the core's node recovery clears a node's failed GPUs, and
 * node_back fails again those whose own repair is still due). */
static void repair_gpu(sim_t *s, uint32_t n, uint32_t g, double t)
{
    if (!((s->gpu_failed[n] >> g) & 1)) return;
    s->gpu_failed[n] &= ~(1ULL << g);
    s->down_gpus--;
    node_back(s, n, t);
}

static void on_rejoin(sim_t *s, sim_job_t *j, double t)
{
    fluid_advance(s, j, t);
    if (j->rejoining) j->rejoining--;
    run_eff_update(s, j, false);
    run_eff_update(s, j, true);
}

void cl__sim_handle(sim_t *s, const cl_event_t *e)
{
    double t = e->t;
    sim_job_t *j;
    switch (e->type) {
    case EV_FAIL: {
        cl_fail_draw_t d;
        d.t = t;
        d.cls = e->a;
        d.node = (uint32_t)(e->b >> 8);
        d.gpu = (uint32_t)(e->b & 0xff);
        on_failure(s, &d, t);
        cl_fail_sample(&s->sampler, &s->rng_fail, t, s->gpn, &d);
        if (d.t <= s->end) push(s, d.t, EV_FAIL, d.cls, ((uint64_t)d.node << 8) | d.gpu, 0);
        break;
    }
    case EV_DETECT:
        on_detect(s, e, t);
        break;
    case EV_REPAIR:
        on_repair(s, e, t);
        break;
    case EV_RESUME:
        j = job(s, e->b);
        if (j && j->live && j->epoch == e->c && j->phase == PH_DOWN) job_resume(s, j, t);
        break;
    case EV_FINISH:
        j = job(s, e->b);
        if (j && j->live && j->epoch == e->c && j->phase == PH_RUN) on_finish(s, j, t);
        break;
    case EV_REJOIN:
        j = job(s, e->b);
        if (j && j->live && j->epoch == e->c && j->phase == PH_RUN) on_rejoin(s, j, t);
        break;
    default:
        break;
    }
}
