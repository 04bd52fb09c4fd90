/* ctl_tenants.c - tenants as a service: explicit, journaled tenants with quotas, cohorts,
 * borrowing limits and GPU-hour budgets (the rules are the core's: cl_tenant_conf_t), budget
 * periods on the calendar, fair-share usage journaled so that it survives restarts, and the
 * tenant add/set, tenant show and tenants operations (ctl_acct.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/ctl_acct.h"
#include "util/when.h"

#define USAGE_SAVE_S 60.0 /* fair-share usage of busy tenants is journaled this often */

ctl_tenant_t *ctl_tenant_ext(ctl_t *c, uint32_t t)
{
    ctl_acct_t *a = c->acct;
    if (t >= a->ntenants) {
        uint32_t n = t + 1 > a->ntenants * 2 ? t + 1 : a->ntenants * 2;
        a->tenants = cl_xrealloc(a->tenants, n * sizeof *a->tenants);
        memset(a->tenants + a->ntenants, 0, (n - a->ntenants) * sizeof *a->tenants);
        a->ntenants = n;
    }
    return &a->tenants[t];
}

/* ---- budget periods ---- */

/* "month", "" (a fixed grant) or a duration (util/when.h) of 1 h to 10 years. Returns the
 * length in seconds (0 for month and a grant), or -1. */
static double period_len(const char *p)
{
    if (!*p || !strcmp(p, "month")) return 0;
    double v;
    if (cl_parse_duration(p, &v, NULL) < 0 || v < 3600 || v > 10 * 366 * 86400.0) return -1;
    return v;
}

/* The first second of the UTC month holding t, or of the month after it (next). */
static double month_start(double t, bool next)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (next) tm.tm_mon++;
    return (double)timegm(&tm);
}

/* When the tenant's current period ends (CL_TIME_INF: a fixed grant, or no budget). */
static double period_end(const ctl_tenant_t *x)
{
    if (!x->budget_gpu_h || !x->budget_period[0]) return CL_TIME_INF;
    if (!strcmp(x->budget_period, "month")) return month_start(x->period_start, true);
    return x->period_start + period_len(x->budget_period);
}

static void period_begin(ctl_tenant_t *x, double now)
{
    if (!strcmp(x->budget_period, "month")) {
        x->period_start = month_start(now, false);
        return;
    }
    double len = period_len(x->budget_period);
    if (len > 0 && x->period_start > 0 && now >= x->period_start)
        x->period_start += floor((now - x->period_start) / len) * len;
    else
        x->period_start = now;
}

/* ---- TenantInfo ---- */

static const char *cohort_name(ctl_t *c, uint32_t id)
{
    return id && id <= c->acct->ncohorts ? c->acct->cohorts[id - 1] : "";
}

static uint32_t cohort_id(ctl_t *c, const char *name)
{
    if (!*name) return 0;
    ctl_acct_t *a = c->acct;
    for (uint32_t i = 0; i < a->ncohorts; i++)
        if (!strcmp(a->cohorts[i], name)) return i + 1;
    a->cohorts = cl_xrealloc(a->cohorts, (a->ncohorts + 1) * sizeof *a->cohorts);
    a->cohorts[a->ncohorts++] = cl_xstrdup(name);
    return a->ncohorts;
}

static int64_t lim_out(uint64_t v)
{
    return v == CL_UNLIMITED ? -1 : (int64_t)v;
}

static uint64_t lim_in(int64_t v)
{
    return v < 0 ? CL_UNLIMITED : (uint64_t)v;
}

/* o borrows c's strings until the next change of the tenant table. */
static void fill_info(ctl_t *c, uint32_t t, double now, Colossus__TenantInfo *o)
{
    colossus__tenant_info__init(o);
    cl_tenant_conf_t conf;
    cl_tenant_state_t st;
    cl_tenant_get(c->cluster, t, &conf);
    cl_tenant_state(c->cluster, t, now, &st);
    ctl_tenant_t *x = ctl_tenant_ext(c, t);
    o->name = (char *)cl_tenant_name(c->cluster, t);
    o->shares = conf.shares;
    o->usage_gpu_s = cl_tenant_usage(c->cluster, t, now);
    o->fairshare = cl_tenant_factor(c->cluster, t, now);
    o->jobs_pending = st.jobs_pending;
    o->jobs_running = st.jobs_running;
    o->gpus_running = (uint32_t)st.gpus_running;
    o->parent =
        conf.parent >= 0 ? (char *)cl_tenant_name(c->cluster, (uint32_t)conf.parent) : "";
    o->quota_gpus = lim_out(conf.quota_gpus);
    o->cohort = (char *)cohort_name(c, conf.cohort);
    o->borrow_limit = lim_out(conf.borrow_limit);
    o->lend_limit = lim_out(conf.lend_limit);
    o->borrowed_gpus = st.borrowed;
    o->budget_gpu_hours = x->budget_gpu_h;
    o->budget_period = x->budget_period;
    o->budget_stop = x->budget_stop;
    o->budget_used_gpu_hours = st.budget_used_gpu_s / 3600;
    o->budget_period_start = x->period_start;
    o->usage_at = now;
    if (x->budget_gpu_h > o->budget_used_gpu_hours)
        o->budget_left_gpu_hours = x->budget_gpu_h - o->budget_used_gpu_hours;
}

void ctl_tenant_journal(ctl_t *c, uint32_t t)
{
    Colossus__TenantInfo o;
    fill_info(c, t, ctl_now(c), &o);
    ctl_journal_obj(c, "tenant", o.name, &o.base);
}

/* Its decayed usage and budget used, as of now (ctl_acct.h: "tenant_usage"). */
static void journal_usage(ctl_t *c, uint32_t t, double now)
{
    Colossus__TenantInfo o = COLOSSUS__TENANT_INFO__INIT;
    cl_tenant_state_t st;
    cl_tenant_state(c->cluster, t, now, &st);
    o.name = (char *)cl_tenant_name(c->cluster, t);
    o.usage_gpu_s = cl_tenant_usage(c->cluster, t, now);
    o.budget_used_gpu_hours = st.budget_used_gpu_s / 3600;
    o.budget_period_start = ctl_tenant_ext(c, t)->period_start;
    o.usage_at = now;
    ctl_journal_obj(c, "tenant_usage", o.name, &o.base);
    ctl_tenant_ext(c, t)->usage_saved_at = now;
}

void ctl_tenant_usage_journal(ctl_t *c, uint32_t t)
{
    journal_usage(c, t, ctl_now(c));
}

/* ---- validation and application of a TenantSpec ---- */

static bool has(const Colossus__TenantSpec *s, const char *f)
{
    if (s->create) return true;
    for (size_t i = 0; i < s->n_set; i++)
        if (!strcmp(s->set[i], f)) return true;
    return false;
}

static const char *const fields[] = {"parent",           "shares",        "quota_gpus",
                                     "cohort",           "borrow_limit",  "lend_limit",
                                     "budget_gpu_hours", "budget_period", "budget_stop"};

/* A manager of a parent may split its quota: shares and quota of its sub-tenants. */
static bool manager_may(ctl_t *c, const ctl_caller_t *k, int t, const Colossus__TenantSpec *s)
{
    if (t < 0 || s->create) return false;
    cl_tenant_conf_t conf;
    cl_tenant_get(c->cluster, (uint32_t)t, &conf);
    if (conf.parent < 0 || !ctl_caller_manages(k, (uint32_t)conf.parent)) return false;
    for (size_t i = 0; i < s->n_set; i++)
        if (strcmp(s->set[i], "shares") && strcmp(s->set[i], "quota_gpus")) return false;
    return true;
}

static int spec_conf(ctl_t *c, const Colossus__TenantSpec *s, cl_tenant_conf_t *conf,
                     ctl_tenant_t *x, cl_error_t *why)
{
    for (size_t i = 0; i < s->n_set; i++) {
        bool known = false;
        for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
            known |= !strcmp(s->set[i], fields[f]);
        if (!known) return cl_err(why, "tenant set: unknown field '%.32s'", s->set[i]);
    }
    if (has(s, "parent")) {
        conf->parent = -1;
        if (s->parent[0]) {
            int p = cl_tenant_find(c->cluster, s->parent);
            if (p < 0) return cl_err(why, "no tenant '%.64s' (the parent)", s->parent);
            conf->parent = p;
        }
    }
    if (has(s, "shares")) conf->shares = s->create && s->shares == 0 ? 1 : s->shares;
    if (has(s, "quota_gpus")) conf->quota_gpus = lim_in(s->quota_gpus);
    if (has(s, "borrow_limit")) conf->borrow_limit = lim_in(s->borrow_limit);
    if (has(s, "lend_limit")) conf->lend_limit = lim_in(s->lend_limit);
    if (has(s, "cohort") && s->cohort[0] && strlen(s->cohort) > 63)
        return cl_err(why, "cohort name too long (at most 63 bytes)");
    if (has(s, "budget_gpu_hours")) {
        if (!(s->budget_gpu_hours >= 0) || s->budget_gpu_hours > 1e12)
            return cl_err(why, "budget must be 0 (none) to 1e12 GPU-hours");
        x->budget_gpu_h = s->budget_gpu_hours;
    }
    if (has(s, "budget_period")) {
        if (period_len(s->budget_period) < 0 ||
            strlen(s->budget_period) >= sizeof x->budget_period)
            return cl_err(why,
                          "budget period '%.32s': month, or a duration of 1 h to 10 years "
                          "(e.g. 30d)",
                          s->budget_period);
        snprintf(x->budget_period, sizeof x->budget_period, "%s", s->budget_period);
    }
    if (has(s, "budget_stop")) x->budget_stop = s->budget_stop;
    conf->budget_gpu_s = x->budget_gpu_h * 3600;
    conf->budget_stop = x->budget_stop;
    return 0;
}

static int tenant_name_ok(const char *s, cl_error_t *why)
{
    size_t n = strlen(s);
    if (!n || n > 63) return cl_err(why, "tenant name must be 1 to 63 characters");
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return cl_err(why, "tenant name '%.63s': only letters, digits and - _ .", s);
    return 0;
}

void ctl_op_tenant(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                   ctl_sink_t *reply)
{
    const Colossus__TenantSpec *s = r->tenant;
    const char *op = k->op;
    int t = cl_tenant_find(c->cluster, s->name);
    cl_error_t why;
    int rc = -1;
    cl_tenant_conf_t conf;
    ctl_tenant_t x = {0};
    if (tenant_name_ok(s->name, &why) < 0)
        ;
    else if (!k->admin && !manager_may(c, k, t, s))
        cl_err(&why, "only an admin may %s (a manager: shares and quota of its sub-tenants)",
               s->create ? "add tenants" : "change this");
    else if (s->create && t >= 0)
        cl_err(&why, "tenant %s exists (change it with tenant set)", s->name);
    else if (!s->create && t < 0)
        cl_err(&why, "no tenant %.63s", s->name);
    else
        rc = 0;
    if (rc == 0) {
        if (t >= 0) {
            cl_tenant_get(c->cluster, (uint32_t)t, &conf);
            x = *ctl_tenant_ext(c, (uint32_t)t);
        } else {
            cl_tenant_conf_default(&conf);
        }
        rc = spec_conf(c, s, &conf, &x, &why);
    }
    if (rc == 0 && t < 0) {
        t = cl_tenant_add(c->cluster, s->name, conf.shares, &why);
        rc = t < 0 ? -1 : 0;
    }
    uint32_t cohort_was = rc == 0 ? conf.cohort : 0;
    if (rc == 0 && has(s, "cohort")) conf.cohort = cohort_id(c, s->cohort);
    if (rc == 0 && cl_tenant_set(c->cluster, (uint32_t)t, &conf, &why) < 0) {
        conf.cohort = cohort_was;
        rc = -1;
    }
    if (rc < 0) {
        ctl_audit(c, k, op, s->name, false, why.msg);
        ctl_reply_error(c, reply, r->req, "%s %.63s refused: %s", op, s->name, why.msg);
        return;
    }
    ctl_tenant_t *xp = ctl_tenant_ext(c, (uint32_t)t);
    *xp = x;
    if (s->create || has(s, "budget_period") || !xp->period_start) {
        xp->period_start = 0;
        period_begin(xp, ctl_now(c));
        cl_tenant_budget_set(c->cluster, (uint32_t)t, 0, ctl_now(c), NULL);
    }
    c->acct->next_period_end = 0; /* the tick looks again */
    ctl_tenant_journal(c, (uint32_t)t);
    journal_usage(c, (uint32_t)t, ctl_now(c));
    c->sched_needed = true;
    ctl_audit(c, k, op, s->name, true, NULL);
    ctl_reply_ok(c, reply, r->req, NULL);
}

/* ---- loading ---- */

int ctl_tenants_load(ctl_t *c, const char *kind, const char *key, const void *val, size_t len,
                     cl_error_t *err)
{
    Colossus__TenantInfo *o = colossus__tenant_info__unpack(NULL, len, val);
    if (!o) return cl_err(err, "journal: %s '%.64s' does not decode", kind, key);
    int rc = 0;
    int t = cl_tenant_find(c->cluster, o->name);
    if (!strcmp(kind, "tenant")) {
        cl_tenant_conf_t conf;
        cl_tenant_conf_default(&conf);
        if (t < 0) t = cl_tenant_add(c->cluster, o->name, o->shares > 0 ? o->shares : 1, err);
        if (t < 0) {
            rc = -1;
        } else {
            conf.shares = o->shares > 0 ? o->shares : 1;
            conf.parent = o->parent[0] ? cl_tenant_find(c->cluster, o->parent) : -1;
            conf.quota_gpus = lim_in(o->quota_gpus);
            conf.cohort = cohort_id(c, o->cohort);
            conf.borrow_limit = lim_in(o->borrow_limit);
            conf.lend_limit = lim_in(o->lend_limit);
            conf.budget_gpu_s = o->budget_gpu_hours * 3600;
            conf.budget_stop = o->budget_stop;
            ctl_tenant_t *x = ctl_tenant_ext(c, (uint32_t)t);
            x->budget_gpu_h = o->budget_gpu_hours;
            snprintf(x->budget_period, sizeof x->budget_period, "%s", o->budget_period);
            x->budget_stop = o->budget_stop;
            x->period_start = o->budget_period_start;
            cl_error_t e;
            if (cl_tenant_set(c->cluster, (uint32_t)t, &conf, &e) < 0)
                ctl_log(c, "journal: tenant %s: %s (its defaults kept)", o->name, e.msg);
        }
    } else if (t >= 0) { /* tenant_usage */
        double now = ctl_now(c);
        cl_error_t e;
        if (cl_tenant_usage_set(c->cluster, (uint32_t)t, o->usage_gpu_s,
                                o->usage_at > 0 && o->usage_at <= now ? o->usage_at : now,
                                &e) < 0)
            ctl_log(c, "journal: tenant %s's usage: %s (0 kept)", o->name, e.msg);
        ctl_tenant_t *x = ctl_tenant_ext(c, (uint32_t)t);
        /* The budget used counts only if it is of the current period. */
        bool same = o->budget_period_start == x->period_start;
        if (cl_tenant_budget_set(c->cluster, (uint32_t)t,
                                 same ? o->budget_used_gpu_hours * 3600 : 0, now, &e) < 0)
            ctl_log(c, "journal: tenant %s's budget used: %s (0 kept)", o->name, e.msg);
        x->usage_saved_at = now;
    }
    colossus__tenant_info__free_unpacked(o, NULL);
    return rc;
}

/* ---- time ---- */

void ctl_tenants_tick(ctl_t *c)
{
    double now = ctl_now(c);
    uint32_t n = cl_tenant_count(c->cluster);
    /* A budget running out needs a pass then, with no event to cause it. */
    if (cl_next_wakeup(c->cluster, now) <= now) c->sched_needed = true;
    bool save = now >= c->acct->next_usage_save;
    if (!save && now < c->acct->next_period_end) return;
    if (save) c->acct->next_usage_save = now + USAGE_SAVE_S;
    c->acct->next_period_end = CL_TIME_INF;
    for (uint32_t t = 0; t < n; t++) {
        ctl_tenant_t *x = ctl_tenant_ext(c, t);
        if (x->budget_gpu_h > 0 && now >= period_end(x)) {
            period_begin(x, now);
            cl_tenant_budget_set(c->cluster, t, 0, now, NULL);
            ctl_tenant_journal(c, t);
            journal_usage(c, t, now);
            c->sched_needed = true;
            ctl_log(c, "tenant %s: a new budget period began (%.1f GPU-hours)",
                    cl_tenant_name(c->cluster, t), x->budget_gpu_h);
        }
        double end = period_end(x);
        if (end < c->acct->next_period_end) c->acct->next_period_end = end;
        if (!save) continue;
        cl_tenant_state_t st;
        cl_tenant_state(c->cluster, t, now, &st);
        if (st.gpus_running) journal_usage(c, t, now);
    }
}

/* ---- views ---- */

void ctl_op_tenant_show(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                        ctl_sink_t *reply)
{
    int t = cl_tenant_find(c->cluster, r->tenant_show);
    if (t < 0 || !ctl_caller_sees_tenant(c, k, (uint32_t)t)) {
        ctl_reply_error(c, reply, r->req, "no tenant %.63s%s", r->tenant_show,
                        t >= 0 ? " that you are in" : "");
        return;
    }
    Colossus__TenantInfo o, *op = &o;
    fill_info(c, (uint32_t)t, ctl_now(c), &o);
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = r->req;
    rs.ok = true;
    rs.tenants = &op;
    rs.n_tenants = 1;
    ctl_reply(c, reply, &rs);
}

void ctl_op_tenants(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    uint32_t n = cl_tenant_count(c->cluster);
    Colossus__TenantInfo **vp = ctl_items(n, sizeof **vp);
    double now = ctl_now(c);
    size_t m = 0;
    for (uint32_t t = 0; t < n; t++)
        if (ctl_caller_sees_tenant(c, k, t)) fill_info(c, t, now, vp[m++]);
    ctl_reply_parts(c, reply, r->req, (void **)vp, m, CTL_PART_TENANTS);
    free(vp);
}
