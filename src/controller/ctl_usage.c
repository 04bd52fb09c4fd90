/* ctl_usage.c - accounting and transparency: a usage record for every run (each incarnation
 * of each job: GPUs, GPU-seconds, why it ended, energy and FLOPs the nodes reported), the
 * audit log of every state-changing operation, retention, and the history, usage and audit
 * operations (ctl_acct.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"

/* A run that ended waits this long for its other nodes' exit reports (their energy and
 * FLOPs) before its record is journaled with what arrived. */
#define RUN_REPORT_WAIT_S 30.0
#define PRUNE_EVERY_S 3600.0
#define PRUNE_FIRST_S 60.0 /* after a start: not in the turns that recover */
#define HISTORY_LIMIT_MAX 100000

/* ---- audit ---- */

/* Who, as the audit log names it (buf for a node credential). */
static const char *who_of(const ctl_principal_t *p, char *buf, size_t len)
{
    if (!p) return "controller";
    if (p->kind == CTL_PRINCIPAL_USER) return p->user;
    if (p->kind != CTL_PRINCIPAL_NODE) return "cluster key";
    snprintf(buf, len, "node credential %s", p->cred);
    return buf;
}

const char *ctl_caller_name(const ctl_caller_t *k, char *buf, size_t len)
{
    return who_of(k ? k->p : NULL, buf, len);
}

void ctl_audit(ctl_t *c, const ctl_caller_t *k, const char *op, const char *target, bool ok,
               const char *detail)
{
    const ctl_principal_t *p = k ? k->p : NULL;
    const char *how = p ? p->name : ""; /* the credential and address */
    char wb[64], d[512];
    const char *who = who_of(p, wb, sizeof wb);
    snprintf(d, sizeof d, "%s%s%s", detail ? detail : "", detail && *detail && *how ? "; " : "",
             how);
    cl_store_audit_t a = {.time = ctl_now(c),
                          .who = who,
                          .op = op,
                          .target = target ? target : "",
                          .detail = d,
                          .ok = ok};
    cl_store_batch_audit(c->open->records, &a);
    if (!ok)
        ctl_log(c, "refused %s%s%.64s for %s: %s", op, target && *target ? " " : "",
                target ? target : "", how[0] ? how : who, detail ? detail : "");
}

/* ---- runs ---- */

void ctl_run_begin(ctl_t *c, ctl_job_t *j)
{
    free(j->run);
    j->run = cl_xcalloc(1, sizeof *j->run + j->nalloc * sizeof(bool));
    j->run->inc = j->inc;
    j->run->start = j->start_time;
    j->run->nalloc = j->nalloc;
    j->run->gpus = j->nalloc * j->gpus_per_node;
}

static char *nodes_csv(ctl_t *c, const ctl_job_t *j)
{
    size_t cap = 1;
    for (uint32_t i = 0; i < j->nalloc; i++)
        cap += strlen(c->nodes[j->alloc[i]].name) + 1;
    char *s = cl_xmalloc(cap), *p = s;
    *p = 0;
    for (uint32_t i = 0; i < j->nalloc; i++)
        p += sprintf(p, "%s%s", i ? "," : "", c->nodes[j->alloc[i]].name);
    return s;
}

const char *const ctl_run_ends[CTL_RUN_ENDS] = {"succeeded", "failed",    "cancelled",
                                                "timeout",   "node_fail", "preempted",
                                                "requeued",  "budget",    "out_of_memory"};

/* A run's GPU-seconds counted by how it ended (/metrics: goodput's floor). */
static void run_count(ctl_t *c, const char *ended, double gpu_s)
{
    for (int i = 0; i < CTL_RUN_ENDS; i++)
        if (!strcmp(ended, ctl_run_ends[i])) {
            c->count.run_gpu_s[i] += gpu_s;
            return;
        }
    cl_assert(!"a run ended in a way ctl_run_ends does not list");
}

static void run_journal(ctl_t *c, ctl_job_t *j, ctl_run_t *r)
{
    cl_store_usage_t u = {.job = j->id,
                          .incarnation = r->inc,
                          .name = j->name,
                          .tenant = j->tenant,
                          .user = j->user,
                          .nodes = r->nodes,
                          .ended = r->ended,
                          .reason = r->reason,
                          .gpus = r->gpus,
                          .start = r->start,
                          .end = r->end,
                          .gpu_s = r->gpus * (r->end - r->start),
                          .energy_j = r->energy_j,
                          .flops = r->flops,
                          .exit_code = r->exit_code,
                          .has_exit = r->has_exit};
    cl_store_batch_usage(c->open->records, &u);
    run_count(c, r->ended, u.gpu_s);
    j->energy_j += r->energy_j;
    j->flops += r->flops;
    ctl_tenant_t *t = ctl_tenant_ext(c, j->tenant_ix);
    t->gpu_s += u.gpu_s;
    t->energy_j += r->energy_j;
    ctl_tenant_usage_journal(c, j->tenant_ix); /* fair share survives a crash to the run */
}

/* Unlink r from the controller's list of runs waiting for reports. */
static void waiting_del(ctl_t *c, ctl_run_t *r)
{
    for (ctl_run_t **p = &c->acct->waiting; *p; p = &(*p)->next_waiting)
        if (*p == r) {
            *p = r->next_waiting;
            return;
        }
}

static void done_flush(ctl_t *c, ctl_job_t *j)
{
    ctl_run_t *r = j->run_done;
    if (!r) return;
    waiting_del(c, r);
    run_journal(c, j, r);
    free(r->nodes);
    free(r->reason);
    free(r);
    j->run_done = NULL;
}

void ctl_usage_run_ended(ctl_t *c, ctl_job_t *j, const char *ended)
{
    ctl_run_t *r = j->run;
    if (!r || r->inc != j->inc) return; /* never started here (recovered without a start) */
    j->run = NULL;
    done_flush(c, j);
    r->end = ctl_now(c);
    r->ended = ended;
    r->nodes = nodes_csv(c, j);
    r->reason = cl_xstrdup(j->reason);
    r->exit_code = j->exit_code;
    r->has_exit = j->has_exit;
    j->gpu_s += r->gpus * (r->end - r->start);
    j->run_done = r;
    /* A node that is down (a node failure ended the run, say) will not report: its record
     * does not wait for it. */
    for (uint32_t i = 0; i < r->nalloc && i < j->nalloc; i++)
        if (!r->reported[i] && !c->nodes[j->alloc[i]].alive) {
            r->reported[i] = true;
            r->nreported++;
        }
    if (r->nreported >= r->nalloc) {
        done_flush(c, j);
        return;
    }
    r->job = j->id;
    r->deadline = r->end + RUN_REPORT_WAIT_S;
    r->next_waiting = c->acct->waiting;
    c->acct->waiting = r;
}

void ctl_usage_exit_report(ctl_t *c, ctl_job_t *j, uint32_t inc, int pos, double energy_j,
                           double flops)
{
    ctl_run_t *r = j->run && j->run->inc == inc             ? j->run
                   : j->run_done && j->run_done->inc == inc ? j->run_done
                                                            : NULL;
    if (!r || pos < 0 || (uint32_t)pos >= r->nalloc || r->reported[pos]) return;
    r->reported[pos] = true;
    r->nreported++;
    if (energy_j > 0 && energy_j < 1e15) r->energy_j += energy_j;
    if (flops > 0 && flops < 1e30) r->flops += flops;
    if (r == j->run_done && r->nreported >= r->nalloc) done_flush(c, j);
}

void ctl_usage_job_free(ctl_t *c, ctl_job_t *j)
{
    if (j->run_done) done_flush(c, j);
    free(j->run);
    j->run = NULL;
}

void ctl_usage_tick(ctl_t *c)
{
    double now = ctl_now(c);
    for (ctl_run_t *r = c->acct->waiting, *next; r; r = next) {
        next = r->next_waiting;
        ctl_job_t *j = ctl_job_get(c, r->job);
        if (j && now >= r->deadline) done_flush(c, j);
    }
    if (!c->acct->next_prune) c->acct->next_prune = now + PRUNE_FIRST_S;
    if (now < c->acct->next_prune) return;
    c->acct->next_prune = now + PRUNE_EVERY_S;
    const ctl_config_t *g = &c->cfg;
    if (g->keep_jobs_s || g->keep_history_s || g->keep_audit_s)
        cl_store_batch_prune(c->open->records, g->keep_jobs_s ? now - g->keep_jobs_s : 0,
                             g->keep_history_s ? now - g->keep_history_s : 0,
                             g->keep_audit_s ? now - g->keep_audit_s : 0);
}

/* ---- history and usage ---- */

/* The tenants a query covers: the one asked for (if the caller sees it), every tenant for
 * one who sees all, else the caller's own. n 0 with why: nothing the caller may see. */
static const char **query_tenants(ctl_t *c, const ctl_caller_t *k, const char *asked, size_t *n,
                                  cl_error_t *why)
{
    const char **v = NULL;
    *n = 0;
    if (asked[0]) {
        int t = cl_tenant_find(c->cluster, asked);
        if (t < 0 || !ctl_caller_sees_tenant(c, k, (uint32_t)t)) {
            cl_err(why, "no tenant %.63s%s", asked, t >= 0 ? " that you are in" : "");
            return NULL;
        }
        v = cl_xmalloc(sizeof *v);
        v[(*n)++] = asked;
        return v;
    }
    if (k->sees_all) {
        v = cl_xmalloc(sizeof *v);
        v[(*n)++] = ""; /* all */
        return v;
    }
    uint32_t nt = cl_tenant_count(c->cluster);
    v = cl_xcalloc(nt + 1, sizeof *v);
    for (uint32_t t = 0; t < nt; t++)
        if (ctl_caller_sees_tenant(c, k, t)) v[(*n)++] = cl_tenant_name(c->cluster, t);
    if (!*n) {
        free(v);
        cl_err(why, "you are in no tenant");
        return NULL;
    }
    return v;
}

typedef struct hist_ctx {
    Colossus__UsageRecord **v;
    size_t n, cap;
} hist_ctx_t;

static char *dup0(const char *s)
{
    return cl_xstrdup(s ? s : "");
}

static int hist_row(const cl_store_usage_t *u, void *arg)
{
    hist_ctx_t *h = arg;
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = cl_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    Colossus__UsageRecord *o = cl_xmalloc(sizeof *o);
    colossus__usage_record__init(o);
    o->job = u->job;
    o->incarnation = u->incarnation;
    o->name = dup0(u->name);
    o->tenant = dup0(u->tenant);
    o->user = dup0(u->user);
    o->gpus = u->gpus;
    o->start = u->start;
    o->end = u->end;
    o->gpu_seconds = u->gpu_s;
    o->ended = dup0(u->ended);
    o->reason = dup0(u->reason);
    o->energy_j = u->energy_j;
    o->flops = u->flops;
    o->exit_code = u->exit_code;
    /* nodes: one comma list in the journal, a list on the wire */
    const char *s = u->nodes ? u->nodes : "";
    size_t k = *s ? 1 : 0;
    for (const char *p = s; *p; p++)
        k += *p == ',';
    o->nodes = cl_xcalloc(k + 1, sizeof *o->nodes);
    char *copy = cl_xstrdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        o->nodes[o->n_nodes++] = cl_xstrdup(t);
    free(copy);
    h->v[h->n++] = o;
    return 0;
}

static int newest_first(const void *a, const void *b)
{
    const Colossus__UsageRecord *x = *(Colossus__UsageRecord *const *)a,
                                *y = *(Colossus__UsageRecord *const *)b;
    return x->end > y->end   ? -1
           : x->end < y->end ? 1
                             : (x->job > y->job ? -1 : x->job < y->job);
}

static void record_free(Colossus__UsageRecord *o)
{
    colossus__usage_record__free_unpacked(o, NULL); /* every field is malloc'd */
}

static void reply_store_error(ctl_t *c, ctl_sink_t *reply, uint64_t req, const char *op,
                              const cl_error_t *e)
{
    ctl_log(c, "%s: the journal could not answer: %s", op, e->msg);
    ctl_reply_error(c, reply, req, "%s: the journal could not answer: %s", op, e->msg);
}

void ctl_op_history(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    const Colossus__HistoryReq *q = r->history;
    cl_error_t why;
    size_t nt;
    const char **ts = query_tenants(c, k, q->tenant, &nt, &why);
    if (!ts) {
        ctl_reply_error(c, reply, r->req, "history: %s", why.msg);
        return;
    }
    uint32_t limit = q->limit ? q->limit : 1000;
    if (limit > HISTORY_LIMIT_MAX) limit = HISTORY_LIMIT_MAX;
    hist_ctx_t h = {0};
    int rc = 0;
    for (size_t i = 0; i < nt && rc == 0; i++) {
        cl_store_history_q_t sq = {.since = q->since,
                                   .until = q->until,
                                   .tenant = ts[i],
                                   .user = q->user,
                                   .ended = q->state,
                                   .limit = limit,
                                   .job = q->job};
        rc = cl_store_history_query(c->store, &sq, hist_row, &h, &why);
    }
    free(ts);
    if (rc < 0) {
        reply_store_error(c, reply, r->req, "history", &why);
    } else {
        if (h.n) qsort(h.v, h.n, sizeof *h.v, newest_first); /* h.v NULL when none: UB */
        size_t n = h.n < limit ? h.n : limit;
        ctl_reply_parts(c, reply, r->req, (void **)h.v, n, CTL_PART_HISTORY);
    }
    for (size_t i = 0; i < h.n; i++)
        record_free(h.v[i]);
    free(h.v);
}

/* The sums by key: a query gives each key once, and those of several tenants (the same day,
 * month or user) merge here. */
typedef struct usage_key {
    UT_hash_handle hh;
    Colossus__UsageRow row; /* row.key is the table's key */
} usage_key_t;

static int usage_row(const cl_store_sum_t *u, void *arg)
{
    usage_key_t **keys = arg, *x = NULL;
    HASH_FIND_STR(*keys, u->key, x);
    if (!x) {
        x = cl_xmalloc(sizeof *x);
        colossus__usage_row__init(&x->row);
        x->row.key = cl_xstrdup(u->key);
        HASH_ADD_KEYPTR(hh, *keys, x->row.key, strlen(x->row.key), x);
    }
    x->row.gpu_hours += u->gpu_s / 3600;
    x->row.energy_kwh += u->energy_j / 3.6e6;
    x->row.flops += u->flops;
    x->row.runs += u->runs;
    return 0;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(Colossus__UsageRow *const *)a)->key,
                  (*(Colossus__UsageRow *const *)b)->key);
}

void ctl_op_usage(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply)
{
    const Colossus__HistoryReq *q = r->usage;
    cl_error_t why;
    cl_store_by_t by;
    if (cl_store_by_parse(q->by[0] ? q->by : "tenant", &by, &why) < 0) {
        ctl_reply_error(c, reply, r->req, "usage: %s", why.msg);
        return;
    }
    size_t nt;
    const char **ts = query_tenants(c, k, q->tenant, &nt, &why);
    if (!ts) {
        ctl_reply_error(c, reply, r->req, "usage: %s", why.msg);
        return;
    }
    usage_key_t *keys = NULL, *x, *tmp;
    int rc = 0;
    for (size_t i = 0; i < nt && rc == 0; i++) {
        cl_store_usage_q_t sq = {
            .by = by, .since = q->since, .until = q->until, .tenant = ts[i], .user = q->user};
        rc = cl_store_usage_query(c->store, &sq, usage_row, &keys, &why);
    }
    free(ts);
    if (rc < 0) {
        reply_store_error(c, reply, r->req, "usage", &why);
    } else {
        size_t n = 0;
        Colossus__UsageRow **v = cl_xcalloc(HASH_COUNT(keys) + 1, sizeof *v);
        for (x = keys; x; x = x->hh.next)
            v[n++] = &x->row;
        qsort(v, n, sizeof *v, by_key);
        Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
        rs.req = r->req;
        rs.ok = true;
        rs.usage = v;
        rs.n_usage = n;
        ctl_reply(c, reply, &rs);
        free(v);
    }
    HASH_ITER(hh, keys, x, tmp)
    {
        HASH_DEL(keys, x);
        free(x->row.key);
        free(x);
    }
}

typedef struct audit_ctx {
    Colossus__AuditRecord **v;
    size_t n, cap;
} audit_ctx_t;

static int audit_row(const cl_store_audit_t *a, void *arg)
{
    audit_ctx_t *x = arg;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 64;
        x->v = cl_xrealloc(x->v, x->cap * sizeof *x->v);
    }
    Colossus__AuditRecord *o = cl_xmalloc(sizeof *o);
    colossus__audit_record__init(o);
    o->time = a->time;
    o->who = dup0(a->who);
    o->op = dup0(a->op);
    o->target = dup0(a->target);
    o->ok = a->ok;
    o->detail = dup0(a->detail);
    x->v[x->n++] = o;
    return 0;
}

void ctl_op_audit(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply)
{
    const Colossus__AuditReq *q = r->audit;
    const char *who = q->user;
    if (!k->sees_all) {
        if (who[0] && (!k->user || strcmp(who, k->user->name))) {
            ctl_reply_error(c, reply, r->req,
                            "audit: only an admin or operator reads another user's records");
            return;
        }
        if (!k->user) {
            ctl_reply_error(c, reply, r->req, "audit: only a user or an admin reads it");
            return;
        }
        who = k->user->name;
    }
    uint32_t limit = q->limit ? q->limit : 1000;
    if (limit > HISTORY_LIMIT_MAX) limit = HISTORY_LIMIT_MAX;
    audit_ctx_t x = {0};
    cl_error_t why;
    cl_store_audit_q_t aq = {.since = q->since, .who = who, .limit = limit};
    if (cl_store_audit_query(c->store, &aq, audit_row, &x, &why) < 0) {
        reply_store_error(c, reply, r->req, "audit", &why);
    } else {
        ctl_reply_parts(c, reply, r->req, (void **)x.v, x.n, CTL_PART_AUDIT);
    }
    for (size_t i = 0; i < x.n; i++)
        colossus__audit_record__free_unpacked(x.v[i], NULL);
    free(x.v);
}
