/* tenant.c - tenants: shares and decayed fair-share usage, nominal quotas and cohorts
 * (Kueue's borrowing and lending), GPU-second budgets, and per-user running limits. */
#include <math.h>
#include <string.h>

#include "core/internal.h"

/* Finite quotas and limits stay below 2^40 GPUs so that a cohort's sums fit an int64. */
#define FIGURE_MAX (1ull << 40)

void cl_tenant_conf_default(cl_tenant_conf_t *f)
{
    memset(f, 0, sizeof(*f));
    f->shares = 1;
    f->parent = -1;
    f->quota_gpus = CL_UNLIMITED;
    f->borrow_limit = CL_UNLIMITED;
    f->lend_limit = CL_UNLIMITED;
}

static int shares_arg(const char *name, double shares, cl_error_t *err)
{
    if (shares > 0 && shares <= 1e9) return 0;
    cl__err(err, "tenant '%s': shares must be a positive number", name);
    return -1;
}

int cl_tenant_add(cl_cluster_t *c, const char *name, double shares, cl_error_t *err)
{
    if (!name || !*name || strlen(name) > 64) {
        cl__err(err, "tenant name must be 1 to 64 characters");
        return -1;
    }
    if (shares_arg(name, shares, err) < 0) return -1;
    if (cl_tenant_find(c, name) >= 0) {
        cl__err(err, "tenant '%s' exists", name);
        return -1;
    }
    if (c->ntn >= 65536) {
        cl__err(err, "too many tenants (at most 65536)");
        return -1;
    }
    c->tn = cl__xrealloc(c->tn, sizeof(tenant_t) * (c->ntn + 1));
    tenant_t *t = &c->tn[c->ntn];
    memset(t, 0, sizeof(*t));
    t->name = cl__xstrdup(name);
    cl_tenant_conf_default(&t->conf);
    t->conf.shares = shares;
    t->cohort = NIL;
    t->rhead = t->rtail = t->phead = t->ptail = NIL;
    t->factor = 1;
    c->ntn++;
    for (uint32_t i = 0; i < c->npl; i++) {
        plevel_t *p = &c->pl[i];
        p->t_head = cl__xrealloc(p->t_head, sizeof(uint32_t) * c->ntn);
        p->t_tail = cl__xrealloc(p->t_tail, sizeof(uint32_t) * c->ntn);
        p->t_head[c->ntn - 1] = p->t_tail[c->ntn - 1] = NIL;
    }
    return (int)(c->ntn - 1);
}

int cl_tenant_find(const cl_cluster_t *c, const char *name)
{
    for (uint32_t i = 0; i < c->ntn; i++)
        if (!strcmp(c->tn[i].name, name)) return (int)i;
    return -1;
}

uint32_t cl_tenant_count(const cl_cluster_t *c)
{
    return c->ntn;
}

const char *cl_tenant_name(const cl_cluster_t *c, uint32_t t)
{
    return t < c->ntn ? c->tn[t].name : NULL;
}

double cl_tenant_shares(const cl_cluster_t *c, uint32_t t)
{
    return t < c->ntn ? c->tn[t].conf.shares : 0;
}

/* ------------------------------------------------------------------ fair share */

/* Usage decays with a half-life h; between events a tenant holds g GPUs, so exactly:
 * u(t+d) = u(t)*2^(-d/h) + g*(h/ln 2)*(1 - 2^(-d/h)). */
void cl__tenant_advance(cl_cluster_t *c, uint32_t ti, cl_time_t now)
{
    tenant_t *t = &c->tn[ti];
    double d = now - t->last;
    if (d <= 0) return;
    double h = c->o.fairshare_halflife_s, f = exp2(-d / h);
    t->usage = t->usage * f + (double)t->running_gpus * (h / M_LN2) * (1 - f);
    t->last = now;
}

double cl_tenant_usage(cl_cluster_t *c, uint32_t t, cl_time_t now)
{
    if (t >= c->ntn) return 0;
    cl__tenant_advance(c, t, now);
    return c->tn[t].usage;
}

/* Every tenant's factor, 2^-(usage share / shares share), into tn[].factor: one
 * O(tenants) sum for all of them. */
void cl__tenant_factors(cl_cluster_t *c, cl_time_t now)
{
    double utot = 0, stot = 0;
    for (uint32_t i = 0; i < c->ntn; i++) {
        cl__tenant_advance(c, i, now);
        utot += c->tn[i].usage;
        stot += c->tn[i].conf.shares;
    }
    for (uint32_t i = 0; i < c->ntn; i++)
        c->tn[i].factor =
            utot > 0 ? exp2(-(c->tn[i].usage / utot) / (c->tn[i].conf.shares / stot)) : 1;
}

double cl_tenant_factor(cl_cluster_t *c, uint32_t ti, cl_time_t now)
{
    if (ti >= c->ntn) return 0;
    cl__tenant_factors(c, now);
    return c->tn[ti].factor;
}

static int tenant_arg(const cl_cluster_t *c, uint32_t t, cl_error_t *err)
{
    if (t < c->ntn) return 0;
    cl__err(err, "no tenant %u", t);
    return -1;
}

/* Restore a GPU-second figure of tenant t as of time at (the fair-share usage, or the
 * budget used): t exists, v >= 0 and both finite. */
static int figure_set(cl_cluster_t *c, uint32_t t, double v, cl_time_t at, int budget,
                      cl_error_t *err)
{
    if (tenant_arg(c, t, err) < 0) return -1;
    if (!(v >= 0 && isfinite(v) && isfinite(at))) {
        cl__err(err, "tenant '%s': %s must be a finite number of GPU-seconds >= 0",
                c->tn[t].name, budget ? "budget used" : "usage");
        return -1;
    }
    tenant_t *x = &c->tn[t];
    if (budget) {
        x->bused = v;
        x->bat = at;
    } else {
        x->usage = v;
        x->last = at;
    }
    return 0;
}

int cl_tenant_usage_set(cl_cluster_t *c, uint32_t t, double usage, cl_time_t at,
                        cl_error_t *err)
{
    return figure_set(c, t, usage, at, 0, err);
}

/* ------------------------------------------------------------------ quotas */

static uint64_t lendable_of(const tenant_t *x)
{
    return x->conf.lend_limit < x->conf.quota_gpus ? x->conf.lend_limit : x->conf.quota_gpus;
}

/* Its term of the cohort's slack were it to hold u GPUs: what it lends (idle quota up to
 * its lend limit), or, negative, what it borrows. */
static int64_t slack_at(const tenant_t *x, uint64_t u)
{
    int64_t idle = (int64_t)x->conf.quota_gpus - (int64_t)u, l = (int64_t)lendable_of(x);
    return idle < l ? idle : l;
}

void cl__tenant_hold(cl_cluster_t *c, uint32_t t, int64_t g)
{
    tenant_t *x = &c->tn[t];
    x->tree_gpus = (uint64_t)((int64_t)x->tree_gpus + g);
    if (x->conf.parent >= 0) {
        x = &c->tn[x->conf.parent];
        x->tree_gpus = (uint64_t)((int64_t)x->tree_gpus + g);
    }
    if (x->cohort != NIL) {
        int64_t s = slack_at(x, x->tree_gpus);
        c->co[x->cohort].slack += s - x->slack;
        x->slack = s;
    }
}

int cl__quota_check(const cl_cluster_t *c, uint32_t t, uint64_t g)
{
    const tenant_t *x = &c->tn[t];
    if (x->conf.parent >= 0) {
        if (x->conf.quota_gpus != CL_UNLIMITED && x->tree_gpus + g > x->conf.quota_gpus)
            return Q_FAIL;
        x = &c->tn[x->conf.parent];
    }
    uint64_t q = x->conf.quota_gpus, u = x->tree_gpus + g;
    if (q == CL_UNLIMITED) return Q_OK;
    if (x->cohort == NIL) return u <= q ? Q_OK : Q_FAIL;
    if (x->conf.borrow_limit != CL_UNLIMITED && u > q + x->conf.borrow_limit) return Q_FAIL;
    if (c->co[x->cohort].slack - x->slack + slack_at(x, u) >= 0) return Q_OK;
    return u <= q ? Q_RECLAIM : Q_FAIL;
}

uint64_t cl__quota_max(const cl_cluster_t *c, uint32_t t)
{
    const tenant_t *x = &c->tn[t];
    uint64_t cap = CL_UNLIMITED;
    if (x->conf.parent >= 0) {
        cap = x->conf.quota_gpus;
        x = &c->tn[x->conf.parent];
    }
    uint64_t m = x->conf.quota_gpus;
    if (m != CL_UNLIMITED && x->cohort != NIL) {
        uint64_t others = c->co[x->cohort].lend_total - lendable_of(x);
        m += x->conf.borrow_limit < others ? x->conf.borrow_limit : others;
    }
    return cap < m ? cap : m;
}

static uint32_t cohort_index(cl_cluster_t *c, uint32_t id)
{
    for (uint32_t i = 0; i < c->nco; i++)
        if (c->co[i].id == id) return i;
    c->co = cl__xrealloc(c->co, sizeof(cohort_t) * (c->nco + 1));
    c->co[c->nco] = (cohort_t){.id = id};
    return c->nco++;
}

static int figure_ok(uint64_t v)
{
    return v == CL_UNLIMITED || v <= FIGURE_MAX;
}

/* The sub-tenant rules of cl_tenant_set. */
static int check_sub(const cl_cluster_t *c, uint32_t t, const cl_tenant_conf_t *f,
                     cl_error_t *err)
{
    const char *nm = c->tn[t].name;
    if (f->parent < -1 || f->parent >= (int32_t)c->ntn) {
        cl__err(err, "tenant '%s': no parent tenant %d", nm, f->parent);
        return -1;
    }
    if (f->parent < 0) return 0;
    const tenant_t *p = &c->tn[f->parent];
    if ((uint32_t)f->parent == t) {
        cl__err(err, "tenant '%s' cannot be its own parent", nm);
        return -1;
    }
    if (p->conf.parent >= 0) {
        cl__err(err, "tenant '%s': parent '%s' is itself a sub-tenant (nesting is one level)",
                nm, p->name);
        return -1;
    }
    if (c->tn[t].nsub) {
        cl__err(err, "tenant '%s' has sub-tenants: it cannot become one", nm);
        return -1;
    }
    if (f->cohort || f->borrow_limit != CL_UNLIMITED || f->lend_limit != CL_UNLIMITED) {
        cl__err(err,
                "tenant '%s': a sub-tenant lends and borrows through its parent '%s' (set "
                "cohort and limits there)",
                nm, p->name);
        return -1;
    }
    if (f->quota_gpus != CL_UNLIMITED && f->quota_gpus > p->conf.quota_gpus) {
        cl__err(err, "tenant '%s': its quota of %llu GPUs is above its parent '%s''s %llu", nm,
                (unsigned long long)f->quota_gpus, p->name,
                (unsigned long long)p->conf.quota_gpus);
        return -1;
    }
    return 0;
}

static int check_conf(const cl_cluster_t *c, uint32_t t, const cl_tenant_conf_t *f,
                      cl_error_t *err)
{
    const tenant_t *x = &c->tn[t];
    const char *nm = x->name;
    if (shares_arg(nm, f->shares, err) < 0) return -1;
    if (!figure_ok(f->quota_gpus) || !figure_ok(f->borrow_limit) || !figure_ok(f->lend_limit)) {
        cl__err(err, "tenant '%s': quota and limits are at most %llu GPUs (or none)", nm,
                (unsigned long long)FIGURE_MAX);
        return -1;
    }
    if (!(f->budget_gpu_s >= 0) || !isfinite(f->budget_gpu_s)) {
        cl__err(err, "tenant '%s': the budget must be 0 (none) or a number of GPU-seconds", nm);
        return -1;
    }
    if (check_sub(c, t, f, err) < 0) return -1;
    if (f->parent != x->conf.parent && x->tree_gpus) {
        cl__err(err,
                "tenant '%s' runs jobs on %llu GPUs: its parent can change only while it runs "
                "none",
                nm, (unsigned long long)x->tree_gpus);
        return -1;
    }
    if (f->cohort && f->quota_gpus == CL_UNLIMITED) {
        cl__err(err, "tenant '%s': a cohort member needs a quota (it lends and borrows quota)",
                nm);
        return -1;
    }
    if (f->parent < 0 && f->quota_gpus != CL_UNLIMITED)
        for (uint32_t s = 0; s < c->ntn; s++)
            if (c->tn[s].conf.parent == (int32_t)t &&
                c->tn[s].conf.quota_gpus != CL_UNLIMITED &&
                c->tn[s].conf.quota_gpus > f->quota_gpus) {
                cl__err(err,
                        "tenant '%s': sub-tenant '%s' has a quota of %llu GPUs, above %llu", nm,
                        c->tn[s].name, (unsigned long long)c->tn[s].conf.quota_gpus,
                        (unsigned long long)f->quota_gpus);
                return -1;
            }
    return 0;
}

int cl_tenant_set(cl_cluster_t *c, uint32_t t, const cl_tenant_conf_t *f, cl_error_t *err)
{
    if (tenant_arg(c, t, err) < 0 || check_conf(c, t, f, err) < 0) return -1;
    tenant_t *x = &c->tn[t];
    if (x->conf.parent >= 0) c->tn[x->conf.parent].nsub--;
    if (f->parent >= 0) c->tn[f->parent].nsub++;
    uint32_t from = x->cohort,
             to = f->parent < 0 && f->cohort ? cohort_index(c, f->cohort) : NIL;
    x = &c->tn[t]; /* cohort_index does not move tenants, but stay plain */
    if (from != NIL) {
        c->co[from].slack -= x->slack;
        c->co[from].lend_total -= lendable_of(x);
        c->co[from].members--;
    }
    c->nbudget += (f->budget_gpu_s > 0) - (x->conf.budget_gpu_s > 0);
    x->conf = *f;
    x->cohort = to;
    x->slack = 0;
    if (to != NIL) {
        x->slack = slack_at(x, x->tree_gpus);
        c->co[to].slack += x->slack;
        c->co[to].lend_total += lendable_of(x);
        c->co[to].members++;
    }
    return 0;
}

int cl_tenant_get(const cl_cluster_t *c, uint32_t t, cl_tenant_conf_t *f)
{
    if (t >= c->ntn) return -1;
    *f = c->tn[t].conf;
    return 0;
}

/* ------------------------------------------------------------------ budgets */

static void budget_advance(tenant_t *x, cl_time_t now)
{
    double d = now - x->bat;
    if (d <= 0) return;
    x->bused += (double)x->tree_gpus * d;
    x->bat = now;
}

/* Spent as of now. The time comparison is the very expression cl_next_wakeup returns, so a
 * pass at that time sees the budget spent, whatever the rounding. */
static int budget_spent_at(const tenant_t *x, cl_time_t now)
{
    double b = x->conf.budget_gpu_s;
    if (!(b > 0)) return 0;
    if (x->bused >= b) return 1;
    return x->tree_gpus && now >= x->bat + (b - x->bused) / (double)x->tree_gpus;
}

int cl_tenant_budget_set(cl_cluster_t *c, uint32_t t, double used, cl_time_t now,
                         cl_error_t *err)
{
    return figure_set(c, t, used, now, 1, err);
}

cl_time_t cl_next_wakeup(const cl_cluster_t *c, cl_time_t now)
{
    cl_time_t w = CL_TIME_INF;
    for (uint32_t i = 0; i < c->ntn; i++) {
        const tenant_t *x = &c->tn[i];
        if (!x->conf.budget_stop || !(x->conf.budget_gpu_s > 0) || !x->tree_gpus) continue;
        if (budget_spent_at(x, now)) return now;
        cl_time_t at = x->bat + (x->conf.budget_gpu_s - x->bused) / (double)x->tree_gpus;
        if (at < w) w = at;
    }
    return w;
}

/* Stop every running job of tenant t: back in the queue at the head of its priority,
 * pending for the budget. */
static void stop_spent(cl_cluster_t *c, uint32_t t, cl_time_t now, cl_decisions_t *out)
{
    while (c->tn[t].rhead != NIL || c->tn[t].phead != NIL) {
        uint32_t js = c->tn[t].rhead != NIL ? c->tn[t].rhead : c->tn[t].phead;
        job_t *j = &c->jobs[js];
        cl__job_release(c, js, now);
        j->state = CL_JOB_PENDING;
        j->preemptions++;
        cl__queue_push(c, js, 1);
        cl__pend(c, j, CL_PEND_BUDGET);
        cl__decide(out, j, CL_ACT_PREEMPT, CL_NO_NODE, CL_NO_NODE);
    }
}

void cl__budgets(cl_cluster_t *c, cl_time_t now, cl_decisions_t *out)
{
    if (!c->nbudget && !c->spent_any) return; /* the common case costs nothing per tenant */
    c->spent_any = 0;
    for (uint32_t i = 0; i < c->ntn; i++) {
        tenant_t *x = &c->tn[i];
        x->spent = (uint8_t)budget_spent_at(x, now);
        c->spent_any |= x->spent;
        if (x->spent && x->bused < x->conf.budget_gpu_s) {
            /* pin it at spent: later rounding must not give a sliver back */
            budget_advance(x, now);
            if (x->bused < x->conf.budget_gpu_s) x->bused = x->conf.budget_gpu_s;
        }
    }
    for (uint32_t i = 0; i < c->ntn; i++) {
        tenant_t *x = &c->tn[i];
        const tenant_t *p = x->conf.parent >= 0 ? &c->tn[x->conf.parent] : NULL;
        int stop = (x->spent & 1) && x->conf.budget_stop;
        if (p && (p->spent & 1)) {
            x->spent |= 2;
            stop |= p->conf.budget_stop;
        }
        if (stop && x->nrunning) stop_spent(c, i, now, out);
    }
}

/* ------------------------------------------------------------------ accounting */

void cl__tenant_run(cl_cluster_t *c, uint32_t js, cl_time_t now, int on)
{
    job_t *j = &c->jobs[js];
    uint32_t t = j->tenant, top = cl__top(c, t);
    tenant_t *x = &c->tn[t];
    int64_t g = (int64_t)cl__job_gpus(j) * (on ? 1 : -1);
    cl__tenant_advance(c, t, now);
    budget_advance(x, now);
    if (top != t) budget_advance(&c->tn[top], now);
    x->running_gpus = (uint64_t)((int64_t)x->running_gpus + g);
    cl__tenant_hold(c, t, g);
    uint32_t *head = j->preemptible ? &x->phead : &x->rhead;
    uint32_t *tail = j->preemptible ? &x->ptail : &x->rtail;
    if (on) {
        x->nrunning++;
        cl__list_push(c->jobs, CL_LINK_T, head, tail, js);
    } else {
        x->nrunning--;
        cl__list_remove(c->jobs, CL_LINK_T, head, tail, js);
    }
    if (j->user) c->users[j->user].running += on ? 1 : -1;
}

size_t cl_jobs_running(const cl_cluster_t *c, cl_jobid_t *out, size_t max)
{
    size_t n = 0;
    for (uint32_t t = 0; t < c->ntn; t++) {
        uint32_t heads[2] = {c->tn[t].rhead, c->tn[t].phead};
        for (int h = 0; h < 2; h++)
            for (uint32_t js = heads[h]; js != NIL; js = c->jobs[js].tnext, n++)
                if (n < max) out[n] = c->jobs[js].id;
    }
    return n;
}

int cl_tenant_state(const cl_cluster_t *c, uint32_t t, cl_time_t now, cl_tenant_state_t *st)
{
    if (t >= c->ntn) return -1;
    const tenant_t *x = &c->tn[t];
    memset(st, 0, sizeof(*st));
    st->gpus_running = x->tree_gpus;
    st->gpus_own = x->running_gpus;
    if (x->conf.parent < 0 && x->conf.quota_gpus != CL_UNLIMITED &&
        x->tree_gpus > x->conf.quota_gpus)
        st->borrowed = x->tree_gpus - x->conf.quota_gpus;
    st->jobs_pending = x->npending;
    st->jobs_running = x->nrunning;
    double d = now > x->bat ? now - x->bat : 0;
    st->budget_used_gpu_s = x->bused + (double)x->tree_gpus * d;
    st->budget_spent = budget_spent_at(x, now) ||
                       (x->conf.parent >= 0 && budget_spent_at(&c->tn[x->conf.parent], now));
    return 0;
}

/* ------------------------------------------------------------------ users */

int cl__user_slot(cl_cluster_t *c, uint32_t u, cl_error_t *err)
{
    if (u > CL_USER_MAX) {
        cl__err(err, "user id %u out of range (at most %u)", u, CL_USER_MAX);
        return -1;
    }
    if (u >= c->nusers) {
        uint32_t n = c->nusers ? c->nusers : 64;
        while (n <= u)
            n *= 2;
        c->users = cl__xrealloc(c->users, sizeof(user_t) * n);
        memset(c->users + c->nusers, 0, sizeof(user_t) * (n - c->nusers));
        c->nusers = n;
    }
    return 0;
}

int cl_user_limit_set(cl_cluster_t *c, uint32_t u, uint32_t max_running, cl_error_t *err)
{
    if (u == 0) {
        cl__err(err, "user id 0 means no user: it has no limit");
        return -1;
    }
    if (cl__user_slot(c, u, err) < 0) return -1;
    c->users[u].max_running = max_running;
    return 0;
}
