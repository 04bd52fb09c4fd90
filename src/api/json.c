/* json.c - JSON renderings of the API's objects (docs/api/schema.json). Keys are set in
 * the order the schema lists them: jansson keeps insertion order, and people and tests read
 * the output in that order. */
#include "api/json.h"

#include "api/jw.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "gpu/nvml.h"
#include "util/util.h"

static json_t *must(json_t *v)
{
    if (!v) /* the inputs are made valid below: only allocation can fail */
        cl_oom(0, __FILE__, __LINE__);
    return v;
}

static void set(json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, must(v)) < 0) cl_oom(0, __FILE__, __LINE__);
}

static void push(json_t *a, json_t *v)
{
    if (json_array_append_new(a, must(v)) < 0) cl_oom(0, __FILE__, __LINE__);
}

/* A string as JSON (jw.h: a byte that starts no valid UTF-8 sequence becomes U+FFFD). */
static json_t *str(const char *s)
{
    return must(cl_jw_string(s));
}

/* A string that is absent when empty. */
static json_t *str_or_null(const char *s)
{
    return s && s[0] ? str(s) : json_null();
}

/* A real; null when it is not a finite number (json_real refuses those). */
static json_t *real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A measurement that is 0 when it was not measured (energy without NVML, FLOPs a job did not
 * report): null then. */
static json_t *positive(double v)
{
    return v > 0 ? real(v) : json_null();
}

/* A point in time, seconds since the epoch; null when it has not happened (0). */
static json_t *when(double t)
{
    return t > 0 ? real(t) : json_null();
}

static json_t *integer(int64_t v)
{
    return json_integer((json_int_t)v);
}

/* A limit where -1 means none (TenantInfo's quota and borrowing limits): null then. */
static json_t *limit(int64_t v)
{
    return v < 0 ? json_null() : integer(v);
}

static json_t *strings(char *const *v, size_t n)
{
    json_t *a = must(json_array());
    for (size_t i = 0; i < n; i++)
        push(a, str(v[i]));
    return a;
}

json_t *cl_json_job(const Colossus__JobInfo *j)
{
    json_t *o = must(json_object());
    set(o, "id", integer((int64_t)j->id));
    set(o, "name", str(j->name));
    set(o, "state", str(j->state));
    set(o, "restarts", integer(j->restarts));
    set(o, "nodes", strings(j->nodes, j->n_nodes));
    set(o, "exit_code", j->has_exit_code ? integer(j->exit_code) : json_null());
    set(o, "submit_time", when(j->submit_time));
    set(o, "start_time", when(j->start_time));
    set(o, "end_time", when(j->end_time));
    set(o, "tenant", str(j->tenant));
    set(o, "user", str(j->user));
    set(o, "priority", integer(j->priority));
    set(o, "num_nodes", integer(j->nnodes));
    set(o, "gpus_per_node", integer(j->gpus_per_node));
    set(o, "incarnation", integer(j->incarnation));
    set(o, "max_restarts", integer(j->max_restarts));
    set(o, "argv", strings(j->argv, j->n_argv));
    set(o, "reason", str(j->reason));
    /* Only a pending job waits for something; an older controller sends no reason. */
    bool pending = j->state && !strcmp(j->state, "pending");
    set(o, "pending_reason", pending ? str_or_null(j->pending_reason) : json_null());
    set(o, "time_limit_min", j->time_limit_s > 0 ? real(j->time_limit_s / 60) : json_null());
    set(o, "running_time", when(j->running_time));
    set(o, "gpu_seconds", real(j->gpu_seconds));
    set(o, "energy_j", positive(j->energy_j));
    /* issue 15; never the job's environment, which no view shows */
    set(o, "ntasks_per_node", integer(j->ntasks_per_node));
    set(o, "cwd", str(j->cwd));
    set(o, "chdir", json_boolean(j->cwd_strict));
    set(o, "output", str_or_null(j->output));
    set(o, "error", str_or_null(j->error));
    set(o, "dependency", str_or_null(j->dependency));
    set(o, "held", json_boolean(j->held));
    bool task = j->array_job_id != 0; /* id 0 is no array: ids start at 1 */
    set(o, "array_job_id", task ? integer((int64_t)j->array_job_id) : json_null());
    set(o, "array_task_id", task ? integer((int64_t)j->array_task_id) : json_null());
    set(o, "array", task ? str(j->array) : json_null());
    json_t *at = json_null();
    if (j->array_tasks) {
        at = json_object();
        set(at, "pending", integer(j->array_tasks->pending));
        set(at, "running", integer(j->array_tasks->running));
        set(at, "ended", integer(j->array_tasks->ended));
    }
    set(o, "array_tasks", at);
    /* how it ended; an older controller's finished job: its state */
    bool live = !j->state || !strcmp(j->state, "pending") || !strcmp(j->state, "running");
    set(o, "ended", live ? json_null() : str(j->ended && j->ended[0] ? j->ended : j->state));
    /* issue 13: the projection admission counts, and what its GPUs drew */
    set(o, "power_w", positive(j->power_w));
    set(o, "power_measured_w", positive(j->power_measured_w));
    set(o, "exclusive", json_boolean(j->exclusive));
    set(o, "nodelist", str_or_null(j->nodelist));
    set(o, "exclude", str_or_null(j->exclude));
    set(o, "cpus_per_gpu", j->cpus_per_gpu ? integer(j->cpus_per_gpu) : json_null());
    set(o, "mem_per_gpu_mb",
        j->mem_per_gpu_mb ? integer((int64_t)j->mem_per_gpu_mb) : json_null());
    return o;
}

/* The node and its telemetry are written through jw.h, once for both outputs: the tree
 * (cl_json_node) and the text of the REST API's pages (cl_json_node_text). */

static void w_str_or_null(cl_jw_t *w, const char *key, const char *s)
{
    if (s && s[0])
        cl_jw_str(w, key, s);
    else
        cl_jw_null(w, key);
}

/* A telemetry field is meaningful when its bit of GpuTelemetry.valid is set; null if not. */
static void w_vreal(cl_jw_t *w, const char *key, uint32_t valid, uint32_t bit, double v)
{
    if (valid & bit)
        cl_jw_real(w, key, v);
    else
        cl_jw_null(w, key);
}

static void w_vint(cl_jw_t *w, const char *key, uint32_t valid, uint32_t bit, uint64_t v)
{
    if (valid & bit)
        cl_jw_int(w, key, (int64_t)v);
    else
        cl_jw_null(w, key);
}

static void w_vbool(cl_jw_t *w, const char *key, uint32_t valid, uint32_t bit, bool v)
{
    if (valid & bit)
        cl_jw_bool(w, key, v);
    else
        cl_jw_null(w, key);
}

static void gpu_w(cl_jw_t *w, const Colossus__GpuTelemetry *g)
{
    uint32_t v = g->valid;
    cl_jw_obj(w, NULL);
    cl_jw_int(w, "index", g->index);
    cl_jw_bool(w, "lost", g->lost);
    w_vreal(w, "power_w", v, CL_GPU_F_POWER, g->power_mw / 1000.0);
    w_vreal(w, "energy_j", v, CL_GPU_F_ENERGY, g->energy_mj / 1000.0);
    w_vint(w, "temp_c", v, CL_GPU_F_TEMP, g->temp_c);
    w_vint(w, "util_gpu_pct", v, CL_GPU_F_UTIL, g->util_gpu_pct);
    w_vint(w, "util_mem_pct", v, CL_GPU_F_UTIL, g->util_mem_pct);
    w_vint(w, "mem_used_bytes", v, CL_GPU_F_MEM, g->mem_used_bytes);
    w_vint(w, "mem_total_bytes", v, CL_GPU_F_MEM, g->mem_total_bytes);
    w_vint(w, "sm_clock_mhz", v, CL_GPU_F_CLOCKS, g->sm_clock_mhz);
    w_vint(w, "mem_clock_mhz", v, CL_GPU_F_CLOCKS, g->mem_clock_mhz);
    w_vint(w, "ecc_corrected", v, CL_GPU_F_ECC, g->ecc_corrected);
    w_vint(w, "ecc_uncorrected", v, CL_GPU_F_ECC, g->ecc_uncorrected);
    w_vint(w, "retired_pages", v, CL_GPU_F_RETIRED, g->retired_pages);
    w_vbool(w, "retired_pending", v, CL_GPU_F_RETIRED, g->retired_pending);
    w_vint(w, "remapped_rows", v, CL_GPU_F_REMAP, g->remapped_rows);
    w_vint(w, "remapped_rows_unc", v, CL_GPU_F_REMAP, g->remapped_rows_unc);
    w_vbool(w, "remap_pending", v, CL_GPU_F_REMAP, g->remap_pending);
    w_vbool(w, "remap_failure", v, CL_GPU_F_REMAP, g->remap_failure);
    w_vreal(w, "power_limit_w", v, CL_GPU_F_LIMIT, g->power_limit_mw / 1000.0);
    w_vreal(w, "power_default_w", v, CL_GPU_F_LIMIT, g->power_default_mw / 1000.0);
    w_vreal(w, "power_instant_w", v, CL_GPU_F_POWER_INSTANT, g->power_instant_mw / 1000.0);
    cl_jw_end(w);
}

static void xid_w(cl_jw_t *w, const Colossus__XidEvent *x)
{
    cl_jw_obj(w, NULL);
    cl_jw_int(w, "gpu", x->gpu == UINT32_MAX ? -1 : (int64_t)x->gpu);
    cl_jw_int(w, "xid", (int64_t)x->xid);
    cl_jw_str(w, "action", x->action);
    cl_jw_real(w, "time", x->time);
    cl_jw_end(w);
}

static void telemetry_w(cl_jw_t *w, const Colossus__NodeHealth *t, double age_s)
{
    cl_jw_obj(w, "telemetry");
    cl_jw_real(w, "time", t->time);
    cl_jw_real(w, "age_s", age_s);
    cl_jw_str(w, "action", t->action);
    cl_jw_str(w, "reason", t->reason);
    cl_jw_int(w, "gpus_expected", t->gpus_expected);
    cl_jw_int(w, "gpus_found", t->gpus_found);
    cl_jw_obj(w, "check");
    cl_jw_str(w, "result", t->check && t->check[0] ? t->check : "never");
    cl_jw_str(w, "reason", t->check_reason);
    cl_jw_real(w, "time", t->check_time);
    cl_jw_end(w);
    cl_jw_arr(w, "gpus");
    for (size_t i = 0; i < t->n_gpus; i++)
        gpu_w(w, t->gpus[i]);
    cl_jw_end(w);
    cl_jw_end(w);
}

static void node_w(cl_jw_t *w, const Colossus__NodeInfo *n)
{
    cl_jw_obj(w, NULL);
    cl_jw_int(w, "id", n->id);
    cl_jw_str(w, "name", n->name);
    cl_jw_str(w, "state", n->state);
    cl_jw_int(w, "gpus", n->gpus);
    cl_jw_int(w, "gpus_free", n->gpus_free);
    cl_jw_arr(w, "jobs");
    for (size_t k = 0; k < n->n_jobs; k++)
        cl_jw_int(w, NULL, (int64_t)n->jobs[k]);
    cl_jw_end(w);
    cl_jw_str(w, "reason", n->reason);
    cl_jw_bool(w, "connected", n->connected);
    /* "health" is the controller's latched verdict; "" when it has none (an unwatched node). */
    bool known = n->health && n->health[0];
    if (known) {
        cl_jw_str(w, "health", n->health);
        w_str_or_null(w, "health_reason", n->health_reason);
    } else {
        cl_jw_null(w, "health");
        cl_jw_null(w, "health_reason");
    }
    cl_jw_bool(w, "monitored", n->monitored);
    w_str_or_null(w, "nvlink_domain", n->nvlink_domain);
    cl_jw_arr(w, "xids");
    for (size_t i = 0; i < n->n_recent_xids; i++)
        xid_w(w, n->recent_xids[i]);
    cl_jw_end(w);
    if (n->telemetry)
        telemetry_w(w, n->telemetry, n->telemetry_age);
    else
        cl_jw_null(w, "telemetry");
    cl_jw_str(w, "pod", n->pod);
    cl_jw_str(w, "leaf", n->leaf);
    cl_jw_bool(w, "spare", n->spare);
    if (n->cpus)
        cl_jw_int(w, "cpus", n->cpus);
    else
        cl_jw_null(w, "cpus");
    if (n->mem_mb)
        cl_jw_int(w, "mem_mb", (int64_t)n->mem_mb);
    else
        cl_jw_null(w, "mem_mb");
    cl_jw_int(w, "cpus_used", n->cpus_used);
    cl_jw_int(w, "mem_used_mb", (int64_t)n->mem_used_mb);
    if (n->build[0])
        cl_jw_str(w, "build", n->build);
    else
        cl_jw_null(w, "build");
    if (n->via[0])
        cl_jw_str(w, "via", n->via);
    else
        cl_jw_null(w, "via");
    cl_jw_end(w);
}

json_t *cl_json_node(const Colossus__NodeInfo *n)
{
    cl_jw_t w;
    cl_jw_tree(&w);
    node_w(&w, n);
    return cl_jw_root(&w);
}

void cl_json_node_text(cl_buf_t *b, const Colossus__NodeInfo *n)
{
    cl_jw_t w;
    cl_jw_text(&w, b);
    node_w(&w, n);
}

json_t *cl_json_tenant(const Colossus__TenantInfo *t)
{
    json_t *o = must(json_object());
    set(o, "name", str(t->name));
    set(o, "shares", real(t->shares));
    set(o, "usage_gpu_s", real(t->usage_gpu_s));
    set(o, "fairshare", real(t->fairshare));
    set(o, "jobs_pending", integer(t->jobs_pending));
    set(o, "jobs_running", integer(t->jobs_running));
    set(o, "gpus_running", integer(t->gpus_running));
    set(o, "parent", str_or_null(t->parent));
    set(o, "quota_gpus", limit(t->quota_gpus));
    set(o, "cohort", str_or_null(t->cohort));
    set(o, "borrow_limit", limit(t->borrow_limit));
    set(o, "lend_limit", limit(t->lend_limit));
    set(o, "borrowed_gpus", integer((int64_t)t->borrowed_gpus));
    bool budget = t->budget_gpu_hours > 0;
    set(o, "budget_gpu_hours", budget ? real(t->budget_gpu_hours) : json_null());
    set(o, "budget_period", budget ? str_or_null(t->budget_period) : json_null());
    set(o, "budget_stop", json_boolean(budget && t->budget_stop));
    set(o, "budget_used_gpu_hours", real(t->budget_used_gpu_hours));
    set(o, "budget_left_gpu_hours", budget ? real(cl_json_budget_left(t)) : json_null());
    set(o, "budget_period_start", budget ? when(t->budget_period_start) : json_null());
    return o;
}

double cl_json_budget_left(const Colossus__TenantInfo *t)
{
    double left = t->budget_gpu_hours - t->budget_used_gpu_hours;
    return left > 0 ? left : 0;
}

json_t *cl_json_user(const Colossus__UserInfo *u)
{
    json_t *o = must(json_object()), *tenants = must(json_array());
    set(o, "name", str(u->name));
    for (size_t i = 0; i < u->n_tenants; i++) {
        json_t *t = must(json_object());
        set(t, "tenant", str(u->tenants[i]->tenant));
        set(t, "role",
            str(u->tenants[i]->role && u->tenants[i]->role[0] ? u->tenants[i]->role : "user"));
        push(tenants, t);
    }
    set(o, "tenants", tenants);
    set(o, "role", str_or_null(u->role));
    set(o, "uid", integer(u->uid));
    set(o, "gid", integer(u->gid));
    set(o, "qos", str_or_null(u->qos));
    set(o, "disabled", json_boolean(u->disabled));
    return o;
}

json_t *cl_json_qos(const Colossus__QosInfo *q)
{
    json_t *o = must(json_object());
    set(o, "name", str(q->name));
    set(o, "max_priority", integer(q->max_priority));
    set(o, "max_gpus_per_job",
        q->max_gpus_per_job ? integer(q->max_gpus_per_job) : json_null());
    set(o, "max_wall_s", positive(q->max_wall_s));
    set(o, "max_running_jobs",
        q->max_running_jobs ? integer(q->max_running_jobs) : json_null());
    set(o, "preemptible", json_boolean(q->preemptible));
    return o;
}

json_t *cl_json_token(const Colossus__TokenInfo *t)
{
    json_t *o = must(json_object());
    set(o, "id", str(t->id));
    set(o, "user", str_or_null(t->user));
    set(o, "scope", str(t->scope));
    set(o, "nodes", str_or_null(t->nodes));
    set(o, "created", when(t->created));
    set(o, "expires", when(t->expires));
    set(o, "revoked", json_boolean(t->revoked));
    return o;
}

int cl_json_signal(const char *ended, int32_t exit_code)
{
    /* The agent reports a rank killed by signal N as 128 + N (Exited.exit_code). */
    bool failed = ended && !strcmp(ended, "failed");
    return failed && exit_code > 128 && exit_code <= 128 + 64 ? exit_code - 128 : 0;
}

bool cl_json_coded(const char *ended)
{
    return ended && (!strcmp(ended, "succeeded") || !strcmp(ended, "failed"));
}

json_t *cl_json_usage_record(const Colossus__UsageRecord *r)
{
    json_t *o = must(json_object());
    set(o, "job", integer((int64_t)r->job));
    set(o, "incarnation", integer(r->incarnation));
    set(o, "name", str(r->name));
    set(o, "tenant", str(r->tenant));
    set(o, "user", str(r->user));
    set(o, "nodes", strings(r->nodes, r->n_nodes));
    set(o, "gpus", integer(r->gpus));
    set(o, "start", when(r->start));
    set(o, "end", when(r->end));
    set(o, "elapsed_s",
        r->start > 0 && r->end >= r->start ? real(r->end - r->start) : json_null());
    set(o, "gpu_seconds", real(r->gpu_seconds));
    set(o, "energy_j", positive(r->energy_j));
    set(o, "flops", positive(r->flops));
    set(o, "ended", str(r->ended));
    set(o, "reason", str(r->reason));
    int sig = cl_json_signal(r->ended, r->exit_code);
    set(o, "exit_code", cl_json_coded(r->ended) ? integer(r->exit_code) : json_null());
    set(o, "signal", sig ? integer(sig) : json_null());
    return o;
}

json_t *cl_json_usage_row(const Colossus__UsageRow *r)
{
    json_t *o = must(json_object());
    set(o, "key", str(r->key));
    set(o, "gpu_hours", real(r->gpu_hours));
    set(o, "energy_kwh", real(r->energy_kwh));
    set(o, "flops", real(r->flops));
    set(o, "runs", integer((int64_t)r->runs));
    return o;
}

json_t *cl_json_audit(const Colossus__AuditRecord *a)
{
    json_t *o = must(json_object());
    set(o, "time", when(a->time));
    set(o, "who", str(a->who));
    set(o, "op", str(a->op));
    set(o, "target", str(a->target));
    set(o, "ok", json_boolean(a->ok));
    set(o, "detail", str(a->detail));
    return o;
}

json_t *cl_json_whoami(const Colossus__Response *rs)
{
    json_t *o = must(json_object());
    set(o, "principal", str(rs->principal));
    set(o, "role", str_or_null(rs->role));
    set(o, "user", rs->n_users ? cl_json_user(rs->users[0]) : json_null());
    return o;
}

/* One level of the power tree: budget and headroom null without a budget. */
static json_t *power_level(const Colossus__PowerLevel *l, double cut_pct)
{
    json_t *o = must(json_object());
    set(o, "name", str(l->name));
    set(o, "budget_w", l->has_budget ? must(json_real(l->budget_w)) : json_null());
    set(o, "limit_w", l->has_budget ? must(json_real(l->limit_w)) : json_null());
    set(o, "draw_w", must(json_real(l->draw_w)));
    set(o, "headroom_w", l->has_budget ? must(json_real(l->headroom_w)) : json_null());
    set(o, "cut_pct", must(json_real(cut_pct)));
    set(o, "measured_w", must(json_real(l->measured_w)));
    set(o, "gpus", integer((json_int_t)l->gpus));
    set(o, "gpus_alloc", integer((json_int_t)l->gpus_alloc));
    set(o, "gpus_capped", integer((json_int_t)l->gpus_capped));
    return o;
}

json_t *cl_json_power(const Colossus__PowerInfo *p)
{
    static const Colossus__PowerLevel none = COLOSSUS__POWER_LEVEL__INIT;
    json_t *o = power_level(p->site ? p->site : &none, p->cut_pct);
    set(o, "cut_until", positive(p->cut_until));
    set(o, "gpu_min_w", must(json_real(p->gpu_min_w)));
    set(o, "gpu_max_w", must(json_real(p->gpu_max_w)));
    set(o, "budget_short", json_boolean(p->budget_short));
    set(o, "ramp_w_per_s", positive(p->ramp_w_per_s));
    set(o, "ramp_pct", positive(p->ramp_pct));
    set(o, "jobs_ramping", integer(p->jobs_ramping));
    set(o, "runs_held", integer(p->runs_held));
    set(o, "gpus_held", integer((json_int_t)p->gpus_held));
    set(o, "held_w", json_real(p->held_w));
    set(o, "floor_energy_j", json_real(p->floor_energy_j));
    json_t *lv = must(json_array());
    for (size_t i = 0; i < p->n_pods + p->n_leaves; i++) { /* every pod, the leaves budgeted */
        bool pod = i < p->n_pods;
        const Colossus__PowerLevel *l = pod ? p->pods[i] : p->leaves[i - p->n_pods];
        json_t *x = power_level(l, p->cut_pct);
        set(x, "level", str(pod ? "pod" : "leaf"));
        set(x, "pod", pod ? json_null() : str(l->pod));
        push(lv, x);
    }
    set(o, "levels", lv);
    json_t *caps = must(json_array());
    for (size_t i = 0; i < p->n_caps; i++) {
        const Colossus__PowerCap *c = p->caps[i];
        json_t *x = must(json_object());
        set(x, "job", integer((json_int_t)c->job));
        set(x, "limit_w", must(json_real(c->limit_w)));
        set(x, "gpus", integer(c->gpus));
        set(x, "nodes", integer(c->nodes));
        set(x, "nodes_acked", integer(c->nodes_acked));
        push(caps, x);
    }
    set(o, "caps", caps);
    const Colossus__PowerApply *a = p->apply;
    if (a && a->seq) {
        json_t *x = must(json_object());
        set(x, "seq", integer((json_int_t)a->seq));
        set(x, "at", must(json_real(a->at)));
        set(x, "nodes", integer(a->nodes));
        set(x, "acked", integer(a->acked));
        set(x, "failed", integer(a->failed));
        set(x, "p50_ms", a->acked ? must(json_real(a->p50_ms)) : json_null());
        set(x, "p99_ms", a->acked ? must(json_real(a->p99_ms)) : json_null());
        set(x, "max_ms", a->acked ? must(json_real(a->max_ms)) : json_null());
        set(o, "apply", x);
    } else {
        set(o, "apply", json_null());
    }
    return o;
}

#define LIST(fn, type, one)                                                                    \
    json_t *fn(type *const *v, size_t n)                                                       \
    {                                                                                          \
        json_t *a = must(json_array());                                                        \
        for (size_t i = 0; i < n; i++)                                                         \
            push(a, one(v[i]));                                                                \
        return a;                                                                              \
    }
LIST(cl_json_jobs, Colossus__JobInfo, cl_json_job)
LIST(cl_json_nodes, Colossus__NodeInfo, cl_json_node)
LIST(cl_json_tenants, Colossus__TenantInfo, cl_json_tenant)
LIST(cl_json_users, Colossus__UserInfo, cl_json_user)
LIST(cl_json_qoses, Colossus__QosInfo, cl_json_qos)
LIST(cl_json_tokens, Colossus__TokenInfo, cl_json_token)
LIST(cl_json_history, Colossus__UsageRecord, cl_json_usage_record)
LIST(cl_json_usage, Colossus__UsageRow, cl_json_usage_row)
LIST(cl_json_audits, Colossus__AuditRecord, cl_json_audit)
#undef LIST

int cl_json_write(FILE *f, const json_t *v)
{
    if (json_dumpf(v, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) < 0 || fputc('\n', f) == EOF)
        return -1;
    return 0;
}

json_t *cl_json_reservation(const Colossus__ReservationInfo *r)
{
    json_t *o = json_object();
    set(o, "id", integer((int64_t)r->id));
    set(o, "name", str(r->name));
    set(o, "state", str(r->state));
    set(o, "start", json_real(r->start));
    set(o, "end", json_real(r->end));
    set(o, "tenant", str_or_null(r->tenant));
    set(o, "pod", str_or_null(r->pod));
    set(o, "nodes", str(r->nodes));
    set(o, "num_nodes", integer(r->nnodes));
    set(o, "created_by", str(r->created_by));
    return o;
}
