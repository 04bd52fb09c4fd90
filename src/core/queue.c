/* queue.c - the pending queue (priority levels x tenant FIFOs), running-preemptible lists
 * and tenants with decayed fair-share usage. */
#include <math.h>
#include <string.h>

#include "core/internal.h"

/* Index of the level for prio, created if absent (levels are few: one per priority). */
uint32_t cl__plevel(cl_cluster_t *c, int32_t prio)
{
    uint32_t lo = 0, hi = c->npl;
    while (lo < hi) { /* levels sorted by prio, highest first */
        uint32_t mid = (lo + hi) / 2;
        if (c->pl[mid].prio == prio) return mid;
        if (c->pl[mid].prio > prio)
            lo = mid + 1;
        else
            hi = mid;
    }
    c->pl = cl__xrealloc(c->pl, sizeof(plevel_t) * (c->npl + 1));
    memmove(&c->pl[lo + 1], &c->pl[lo], sizeof(plevel_t) * (c->npl - lo));
    c->npl++;
    plevel_t *p = &c->pl[lo];
    memset(p, 0, sizeof(*p));
    p->prio = prio;
    p->rq_head = p->rq_tail = p->rp_head = p->rp_tail = NIL;
    uint32_t nt = c->ntn ? c->ntn : 1;
    p->t_head = cl__xmalloc(sizeof(uint32_t) * nt);
    p->t_tail = cl__xmalloc(sizeof(uint32_t) * nt);
    memset(p->t_head, 0xff, sizeof(uint32_t) * nt);
    memset(p->t_tail, 0xff, sizeof(uint32_t) * nt);
    return lo;
}

static uint32_t *list_of(cl_cluster_t *c, job_t *j, plevel_t *p, uint32_t **tail)
{
    if (j->requeued) {
        *tail = &p->rq_tail;
        return &p->rq_head;
    }
    uint32_t t = c->o.policy == CL_POLICY_FAIRSHARE ? j->tenant : 0;
    *tail = &p->t_tail[t];
    return &p->t_head[t];
}

static void push_tail(job_t *jobs, uint32_t *head, uint32_t *tail, uint32_t js)
{
    jobs[js].qnext = NIL;
    jobs[js].qprev = *tail;
    if (*tail != NIL)
        jobs[*tail].qnext = js;
    else
        *head = js;
    *tail = js;
}

static void remove_(job_t *jobs, uint32_t *head, uint32_t *tail, uint32_t js)
{
    job_t *j = &jobs[js];
    if (j->qprev != NIL)
        jobs[j->qprev].qnext = j->qnext;
    else
        *head = j->qnext;
    if (j->qnext != NIL)
        jobs[j->qnext].qprev = j->qprev;
    else
        *tail = j->qprev;
    j->qprev = j->qnext = NIL;
}

/* Requeued jobs (at_head) go to their level's requeue list, served before new ones. */
void cl__queue_push(cl_cluster_t *c, uint32_t js, int at_head)
{
    job_t *j = &c->jobs[js];
    uint32_t li_ = cl__plevel(c, j->prio);
    plevel_t *p = &c->pl[li_];
    j->requeued = (uint8_t)(at_head != 0);
    uint32_t *tail, *head = list_of(c, j, p, &tail);
    push_tail(c->jobs, head, tail, js);
    p->npending++;
    c->npending++;
}

void cl__queue_remove(cl_cluster_t *c, uint32_t js)
{
    job_t *j = &c->jobs[js];
    uint32_t li_ = cl__plevel(c, j->prio);
    plevel_t *p = &c->pl[li_];
    uint32_t *tail, *head = list_of(c, j, p, &tail);
    remove_(c->jobs, head, tail, js);
    p->npending--;
    c->npending--;
}

void cl__rp_push(cl_cluster_t *c, uint32_t js)
{
    uint32_t li_ = cl__plevel(c, c->jobs[js].prio);
    plevel_t *p = &c->pl[li_];
    push_tail(c->jobs, &p->rp_head, &p->rp_tail, js);
    p->nrun_preempt++;
}

void cl__rp_remove(cl_cluster_t *c, uint32_t js)
{
    uint32_t li_ = cl__plevel(c, c->jobs[js].prio);
    plevel_t *p = &c->pl[li_];
    remove_(c->jobs, &p->rp_head, &p->rp_tail, js);
    p->nrun_preempt--;
}

/* ------------------------------------------------------------------ tenants */

int cl_tenant_add(cl_cluster_t *c, const char *name, double shares, cl_error_t *err)
{
    if (!name || !*name || strlen(name) > 64) {
        cl__err(err, "tenant name must be 1 to 64 characters");
        return -1;
    }
    if (!(shares > 0) || shares > 1e9) {
        cl__err(err, "tenant '%s': shares must be a positive number", name);
        return -1;
    }
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
    t->shares = shares;
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
    return t < c->ntn ? c->tn[t].shares : 0;
}

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

double cl_tenant_factor(cl_cluster_t *c, uint32_t ti, cl_time_t now)
{
    if (ti >= c->ntn) return 0;
    double utot = 0, stot = 0;
    for (uint32_t i = 0; i < c->ntn; i++) {
        cl__tenant_advance(c, i, now);
        utot += c->tn[i].usage;
        stot += c->tn[i].shares;
    }
    if (utot <= 0) return 1;
    return exp2(-(c->tn[ti].usage / utot) / (c->tn[ti].shares / stot));
}
