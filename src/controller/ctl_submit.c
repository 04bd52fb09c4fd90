/* ctl_submit.c - a job's way in: the submission checked (command, labels, sizes the cluster
 * can never run), the caller's tenant resolved and QOS applied (priority, GPUs, wall time,
 * preemptible), the record made with its user and uid/gid; and why a pending job waits, in
 * words, from the core's reason. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/ctl_acct.h"
#include "util/arrayspec.h"
#include "util/depend.h"
#include "util/iopat.h"

/* The tenant of a job read from the journal: one an older journal made on first use is
 * made explicit (and journaled) now. */
int ctl_tenant_index(ctl_t *c, const char *name, cl_error_t *err)
{
    int t = cl_tenant_find(c->cluster, name);
    if (t >= 0) return t;
    cl_error_t e;
    t = cl_tenant_add(c->cluster, name, 1.0, &e);
    if (t < 0) {
        cl_err(err, "tenant '%s': %s", name, e.msg);
        return -1;
    }
    ctl_log(c, "journal: tenant %s (made on first use by an older version) is now explicit",
            name);
    ctl_tenant_journal(c, (uint32_t)t);
    return t;
}

/* A name or tenant shown in logs, tables and JSON: bounded, printable, UTF-8. */
static int check_label(const char *what, const char *v, size_t max, cl_error_t *err)
{
    size_t n = strlen(v);
    if (n > max) return cl_err(err, "%s longer than %zu bytes (%zu)", what, max, n);
    if (cl_has_control(v)) return cl_err(err, "%s contains a control character", what);
    if (!cl_utf8_valid(v, n)) return cl_err(err, "%s is not valid UTF-8", what);
    return 0;
}

/* What a job carries to every node in its Launch must fit one frame with room to spare,
 * whatever else the Launch holds: a job whose Launch cannot be sent would close the
 * connection of every agent it is placed on, at every restart (issue 10, "poison pill"). */
static int check_command(const Colossus__SubmitReq *s, cl_error_t *err)
{
    if (s->n_argv > CTL_SUBMIT_MAX_ARGS)
        return cl_err(err, "%zu arguments; the limit is %u", s->n_argv, CTL_SUBMIT_MAX_ARGS);
    if (s->n_env > CTL_SUBMIT_MAX_ARGS)
        return cl_err(err, "%zu environment variables; the limit is %u", s->n_env,
                      CTL_SUBMIT_MAX_ARGS);
    size_t bytes = strlen(s->name) + strlen(s->cwd);
    for (size_t i = 0; i < s->n_argv; i++)
        bytes += strlen(s->argv[i]) + 1;
    for (size_t i = 0; i < s->n_env; i++) {
        if (!strchr(s->env[i], '=') || s->env[i][0] == '=')
            return cl_err(err, "environment entry %zu is not NAME=VALUE", i + 1);
        bytes += strlen(s->env[i]) + 1;
    }
    if (bytes > CTL_SUBMIT_MAX_BYTES)
        return cl_err(err,
                      "the command, its environment and working directory take %zu "
                      "bytes; the limit is %u (1 MiB)",
                      bytes, CTL_SUBMIT_MAX_BYTES);
    for (size_t i = 0; i < s->n_argv + s->n_env; i++) {
        const char *v = i < s->n_argv ? s->argv[i] : s->env[i - s->n_argv];
        if (strlen(v) > CTL_SUBMIT_MAX_STRING)
            return cl_err(err,
                          "%s %zu is %zu bytes; the limit is %u (Linux's MAX_ARG_STRLEN: "
                          "exec would refuse it)",
                          i < s->n_argv ? "argument" : "environment entry",
                          (i < s->n_argv ? i : i - s->n_argv) + 1, strlen(v),
                          CTL_SUBMIT_MAX_STRING);
    }
    if (s->cwd[0] && s->cwd[0] != '/')
        return cl_err(err, "the working directory must be an absolute path");
    if (s->cwd_strict && !s->cwd[0])
        return cl_err(err, "an asked working directory (--chdir) must not be empty");
    if ((s->output[0] && cl_iopat_check("--output", s->output, err) < 0) ||
        (s->error[0] && cl_iopat_check("--error", s->error, err) < 0))
        return -1;
    return 0;
}

static int submit_check(ctl_t *c, const Colossus__SubmitReq *s, cl_error_t *err)
{
    if (!s->n_argv || !s->argv[0][0]) return cl_err(err, "no command given");
    if (check_label("job name", s->name, 128, err) < 0 ||
        check_label("tenant", s->tenant, 63, err) < 0 || check_command(s, err) < 0)
        return -1;
    if (!(s->time_limit_min >= 0) || s->time_limit_min > 525600)
        return cl_err(err, "time limit must be 0..525600 minutes");
    if (s->time_limit_min > 0 && s->time_limit_min * 60 < 1)
        return cl_err(err, "time limit must be at least 1 s (%.4g min), not %.3g s", 1.0 / 60,
                      s->time_limit_min * 60);
    if (s->nodes < 1) return cl_err(err, "a job needs at least one node");
    if (s->ntasks_per_node > CL_MAX_GPUS_PER_NODE)
        return cl_err(err, "--ntasks-per-node %u: at most %u tasks a node", s->ntasks_per_node,
                      CL_MAX_GPUS_PER_NODE);
    uint32_t per = s->gpus_per_node ? s->gpus_per_node : c->gpus_per_node;
    const char *ns = s->nodes == 1 ? "" : "s";
    if (per > c->gpus_per_node)
        return cl_err(err, "can never run: needs %u node%s of %u GPUs, nodes have %u", s->nodes,
                      ns, per, c->gpus_per_node);
    if (s->nodes > c->nnodes) /* the core's words (jobs.c) */
        return cl_err(err, "can never run: needs %u node%s of %u GPUs, the cluster has %u",
                      s->nodes, ns, per, c->nnodes);
    return 0;
}

/* The caller's QOS applied to a submission: -1 with err when it asks for more than the QOS
 * allows; else the time limit (the QOS's when none was asked) and preemptibility. */
static int qos_check(ctl_t *c, const ctl_caller_t *k, const Colossus__SubmitReq *s,
                     double *limit_s, bool *preemptible, cl_error_t *err)
{
    *limit_s = s->time_limit_min * 60.0;
    *preemptible = false;
    if (!k->user) {
        if (s->qos[0] && !ctl_qos_find(c, s->qos))
            return cl_err(err, "no QOS named '%s'", s->qos);
        return 0; /* the cluster key: the bootstrap credential, not capped */
    }
    ctl_qos_t *q = ctl_user_qos(c, k->user);
    if (s->qos[0] && (!q || strcmp(q->name, s->qos)))
        return cl_err(err,
                      "QOS '%s' is not user %s's: a job runs under its user's QOS (%s); an "
                      "admin changes it with 'colossus user set %s --qos Q'",
                      s->qos, k->user->name, q ? q->name : "none", k->user->name);
    if (!q) return 0;
    uint32_t per = s->gpus_per_node ? s->gpus_per_node : c->gpus_per_node;
    uint64_t gpus = (uint64_t)s->nodes * per;
    if (s->priority > q->max_priority)
        return cl_err(err, "priority %d is above what QOS %s allows (%d)", s->priority, q->name,
                      q->max_priority);
    if (q->max_gpus_per_job && gpus > q->max_gpus_per_job)
        return cl_err(err, "%" PRIu64 " GPUs is more than QOS %s allows per job (%u)", gpus,
                      q->name, q->max_gpus_per_job);
    if (q->max_wall_s > 0) {
        if (*limit_s > q->max_wall_s)
            return cl_err(err, "time limit %g min is above what QOS %s allows (%g min)",
                          s->time_limit_min, q->name, q->max_wall_s / 60);
        if (*limit_s == 0) *limit_s = q->max_wall_s;
    }
    *preemptible = q->preemptible;
    return 0;
}

uint64_t ctl_name_key(const char *user, const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over user, a NUL, name */
    for (const char *p = user;; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
        if (!*p) break;
    }
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h ? h : 1;
}

int ctl_job_deps(ctl_t *c, const ctl_caller_t *k, const char *text, cl_depend_t *d,
                 cl_error_t *err)
{
    if (cl_depend_parse(text, d, err) < 0) return -2;
    for (size_t i = 0; i < d->n; i++) {
        bool transient;
        ctl_job_t *on = ctl_job_lookup(c, d->v[i].job, &transient);
        bool seen = on && (!k || k->sees_all || ctl_caller_sees_tenant(c, k, on->tenant_ix));
        if (seen && cl_job_finished(on->state)) d->v[i].ended = on->state;
        if (transient) ctl_job_free(on);
        if (!seen) { /* bad input, as a node list naming no node: the CLI's exit 2 */
            cl_err(err, "--dependency: no job %" PRIu64 " (of your tenants)", d->v[i].job);
            return -2;
        }
    }
    return 0;
}

int ctl_job_spec(ctl_t *c, ctl_job_t *j, cl_job_spec_t *spec, cl_depend_t *d, cl_error_t *err)
{
    memset(d, 0, sizeof *d);
    cl_error_t e;
    int t = ctl_tenant_index(c, j->tenant, &e);
    j->tenant_ix = t < 0 ? 0 : (uint32_t)t;
    ctl_user_t *u = j->user[0] ? ctl_user_find(c, j->user) : NULL;
    ctl_qos_t *q = u ? ctl_user_qos(c, u) : NULL;
    j->preemptible = q && q->preemptible;
    *spec = (cl_job_spec_t){.nodes = j->nodes,
                            .gpus_per_node = j->gpus_per_node,
                            .tenant = j->tenant_ix,
                            .priority = j->priority,
                            .preemptible = j->preemptible,
                            .user = u ? u->core_id : 0,
                            .time_limit_s = j->time_limit_s,
                            .max_restarts = j->max_restarts > j->restarts_base
                                                ? j->max_restarts - j->restarts_base
                                                : 0,
                            .hold = j->held,
                            .cpus_per_gpu = j->cpus_per_gpu,
                            .mem_per_gpu_mb = j->mem_per_gpu_mb,
                            .name_key = ctl_name_key(j->user, j->name)};
    if (j->array_id) { /* its array's limit */
        spec->group_key = CTL_ARRAY_KEY(j->array_id);
        cl_arrayspec_t as = {0};
        if (j->arr)
            spec->group_max = j->arr->limit;
        else if (j->array && cl_arrayspec_parse(j->array, &as, &e) == 0)
            spec->group_max = as.limit;
        cl_arrayspec_free(&as);
    }
    if (j->dependency && ctl_job_deps(c, NULL, j->dependency, d, err) < 0) return -1;
    /* names no longer known are left out of its lists (a node removed since) */
    if (ctl_job_cons_spec(c, j, spec, false, err) < 0) return -1;
    spec->deps = d->v;
    spec->ndeps = (uint32_t)d->n;
    spec->singleton = d->singleton;
    return 0;
}

/* The other tasks of the array whose first task j has just been made: one job each, of
 * consecutive ids, sharing j's strings; in the open batch with j (their records without
 * argv and env). The core takes them as it took j: the same spec cannot be refused. */
static void array_tasks(ctl_t *c, ctl_job_t *j, const cl_job_spec_t *spec, const char *text,
                        const cl_arrayspec_t *as, double now)
{
    j->array_id = j->id;
    j->array_task = as->idx[0];
    j->array = cl_xstrdup(text);
    ctl_array_t *a = ctl_array_of(c, j->id); /* j's strings become the array's */
    for (size_t i = 1; i < as->n; i++) {
        cl_jobid_t id;
        cl_error_t e;
        if (cl_job_submit(c->cluster, spec, now, &id, &e) < 0 || id != j->id + i)
            cl_assert(!"the core refused an array's task it took the first of");
        ctl_job_t *t = cl_xmalloc(sizeof *t);
        *t = *j; /* a job just made holds nothing else of its own */
        t->id = id;
        t->array_task = as->idx[i];
        t->arr = a;
        a->refs++;
        ctl_job_insert(c, t);
        ctl_journal_job(c, t);
        ctl_power_job_new(c, t, spec->name_key);
    }
    ctl_array_unref(a); /* ctl_array_of's: the tasks hold theirs */
}

int ctl_job_submit(ctl_t *c, const ctl_caller_t *k, const Colossus__SubmitReq *s, uint64_t *id,
                   cl_error_t *err)
{
    if (submit_check(c, s, err) < 0) return -1;
    int t = ctl_caller_tenant(c, k, s->tenant, err);
    if (t < 0) return -1;
    double limit_s;
    bool preemptible;
    if (qos_check(c, k, s, &limit_s, &preemptible, err) < 0) return -1;
    cl_job_spec_t spec = {.nodes = s->nodes,
                          .gpus_per_node = s->gpus_per_node,
                          .tenant = (uint32_t)t,
                          .priority = s->priority,
                          .preemptible = preemptible,
                          .time_limit_s = limit_s,
                          .max_restarts = s->max_restarts,
                          .user = k->user ? k->user->core_id : 0,
                          .hold = s->hold,
                          .cpus_per_gpu = s->cpus_per_gpu,
                          .mem_per_gpu_mb = s->mem_per_gpu_mb,
                          .name_key = ctl_name_key(k->user ? k->user->name : "",
                                                   s->name[0] ? s->name : s->argv[0])};
    cl_depend_t d = {0};
    int drc = s->dependency[0] ? ctl_job_deps(c, k, s->dependency, &d, err) : 0;
    if (drc < 0) {
        cl_depend_free(&d);
        return drc;
    }
    spec.deps = d.v;
    spec.ndeps = (uint32_t)d.n;
    spec.singleton = d.singleton;
    cl_arrayspec_t as = {0};
    if (s->array[0] && cl_arrayspec_parse(s->array, &as, err) < 0) {
        cl_arrayspec_free(&as);
        cl_depend_free(&d);
        return -1;
    }
    /* its node constraints: a name that is no node is the input's fault (-2) */
    ctl_job_t cons = {.exclusive = s->exclusive,
                      .nodelist = s->nodelist[0] ? s->nodelist : NULL,
                      .exclude = s->exclude[0] ? s->exclude : NULL};
    if (ctl_job_cons_spec(c, &cons, &spec, true, err) < 0) {
        cl_arrayspec_free(&as);
        cl_depend_free(&d);
        return -2;
    }
    cl_jobid_t jid = cl_job_next_id(c->cluster);
    spec.group_key = CTL_ARRAY_KEY(jid);
    spec.group_max = as.limit;
    double now = ctl_now(c);
    if (cl_job_submit(c->cluster, &spec, now, &jid, err) < 0) {
        cl_arrayspec_free(&as);
        cl_depend_free(&d);
        return -1;
    }
    ctl_job_t *j = cl_xcalloc(1, sizeof *j);
    j->id = jid;
    j->name = cl_xstrdup(s->name[0] ? s->name : s->argv[0]);
    j->tenant = cl_xstrdup(cl_tenant_name(c->cluster, (uint32_t)t));
    j->tenant_ix = (uint32_t)t;
    j->user = cl_xstrdup(k->user ? k->user->name : "");
    j->uid = k->user ? k->user->uid : 0;
    j->gid = k->user ? k->user->gid : 0;
    j->preemptible = preemptible;
    j->cwd = cl_xstrdup(s->cwd);
    j->argv = ctl_strv_dup((const char *const *)s->argv, s->n_argv);
    j->argc = s->n_argv;
    j->env = ctl_strv_dup((const char *const *)s->env, s->n_env);
    j->envc = s->n_env;
    j->ntasks = s->ntasks_per_node;
    j->cpus_per_gpu = s->cpus_per_gpu;
    j->mem_per_gpu_mb = s->mem_per_gpu_mb;
    ctl_power_job_new(c, j, spec.name_key);
    j->cwd_strict = s->cwd_strict;
    j->output = s->output[0] ? cl_xstrdup(s->output) : NULL; /* NULL: none (most jobs) */
    j->error = s->error[0] ? cl_xstrdup(s->error) : NULL;
    j->dependency = s->dependency[0] ? cl_xstrdup(s->dependency) : NULL;
    j->held = s->hold;
    j->exclusive = s->exclusive;
    j->nodelist = cons.nodelist ? cl_xstrdup(cons.nodelist) : NULL;
    j->exclude = cons.exclude ? cl_xstrdup(cons.exclude) : NULL;
    j->nodes = s->nodes;
    cl_job_info_t info;
    cl_job_get(c->cluster, jid, &info);
    j->gpus_per_node = info.gpus_per_node ? info.gpus_per_node : s->gpus_per_node;
    j->max_restarts = s->max_restarts;
    j->time_limit_s = limit_s;
    j->priority = s->priority;
    j->state = CL_JOB_PENDING;
    j->submit_time = now;
    ctl_job_insert(c, j);
    if (as.n) array_tasks(c, j, &spec, s->array, &as, now); /* spec.deps: d's, still */
    cl_depend_free(&d);
    ctl_journal_job(c, j);
    c->sched_new = true; /* a pass, when it can start something (ctl_turn_end) */
    c->count.submitted += as.n ? as.n : 1;
    cl_arrayspec_free(&as);
    *id = jid;
    return 0;
}

static void utc(double t, char *buf, size_t len)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void ctl_job_pending_text(ctl_t *c, const ctl_job_t *j, char *buf, size_t len)
{
    cl_pending_t p;
    if (cl_job_pending(c->cluster, j->id, &p) < 0) {
        snprintf(buf, len, "%s", c->recovering ? "the controller is recovering" : "");
        return;
    }
    char when[40] = "";
    if (p.until > 0 && p.until < CL_TIME_INF) utc(p.until, when, sizeof when);
    const char *t = j->tenant;
    switch (p.why) {
    case CL_PEND_RESOURCES:
        snprintf(buf, len, "not enough free GPUs (it needs %u x %u)", j->nodes,
                 j->gpus_per_node);
        break;
    case CL_PEND_RESERVED:
        snprintf(buf, len, "next to start: nodes are reserved for it%s%s",
                 when[0] ? ", at the latest at " : "", when);
        break;
    case CL_PEND_HELD:
        snprintf(buf, len, "held for job %" PRIu64 "'s reservation%s%s", p.job,
                 when[0] ? " until " : "", when);
        break;
    case CL_PEND_QUOTA:
        snprintf(buf, len, "tenant %s's GPU quota is reached (with what it may borrow)", t);
        break;
    case CL_PEND_BUDGET:
        snprintf(buf, len, "tenant %s's GPU-hour budget is spent%s%s", t,
                 when[0] ? " until " : "", when);
        break;
    case CL_PEND_QOS: {
        ctl_user_t *u = ctl_user_find(c, j->user);
        ctl_qos_t *q = ctl_user_qos(c, u);
        snprintf(buf, len, "QOS %s: at most %u running jobs per user", q ? q->name : "?",
                 q ? q->max_running : 0);
        break;
    }
    case CL_PEND_DEPENDENCY:
        snprintf(buf, len, "Dependency: waiting for %s", j->dependency ? j->dependency : "?");
        break;
    case CL_PEND_ARRAY:
        snprintf(buf, len,
                 "JobArrayTaskLimit: array %" PRIu64 " runs as many tasks as it may (%s)",
                 j->array_id, j->array ? j->array : "?");
        break;
    case CL_PEND_HOLD:
        snprintf(buf, len, "held: 'colossus release %" PRIu64 "' lets it start", j->id);
        break;
    case CL_PEND_RESV: {
        const char *rn = ctl_resv_name(c, p.job);
        snprintf(buf, len, "ReqNodeNotAvail: nodes it could use are in reservation %s",
                 rn ? rn : "(deleted)");
        break;
    }
    case CL_PEND_CONSTRAINT: {
        const char *w[3];
        int n = 0;
        if (j->nodelist) w[n++] = "--nodelist";
        if (j->exclude) w[n++] = "--exclude";
        if (j->exclusive) w[n++] = "--exclusive";
        snprintf(buf, len, "free GPUs are not on nodes its %s%s%s%s%s allow%s",
                 n > 0 ? w[0] : "constraints", n > 1 ? " and " : "", n > 1 ? w[1] : "",
                 n > 2 ? " and " : "", n > 2 ? w[2] : "", n > 1 ? "" : "s");
        break;
    }
    case CL_PEND_CPUMEM:
        snprintf(buf, len,
                 "Resources (cpu/mem): no node with %u free GPUs has %u CPUs and %" PRIu64
                 " MB of memory free for them (--cpus-per-gpu %u, --mem-per-gpu %" PRIu64 "M)",
                 j->gpus_per_node, j->gpus_per_node * j->cpus_per_gpu,
                 (uint64_t)j->gpus_per_node * j->mem_per_gpu_mb, j->cpus_per_gpu,
                 j->mem_per_gpu_mb);
        break;
    default:
        snprintf(buf, len, "%s", cl_pend_name(p.why));
    }
}
