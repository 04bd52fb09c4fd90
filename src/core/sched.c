/* sched.c - the scheduling pass: priority and fair-share order, limits and quotas, gang
 * starts, preemption, an EASY reservation for the first blocked gang and backfill that
 * never delays it, and why each job it visits waits. */
#include <string.h>

#include "core/internal.h"

static void set_reserved(cl_cluster_t *c, uint8_t on)
{
    if (on) { /* which reserved nodes could take a job now, for CL_PEND_HELD */
        for (uint32_t k = 0; k < c->gpn; k++)
            c->resv_ge[k] = 0;
        for (uint32_t i = 0; i < c->nresv; i++)
            for (uint32_t k = 0; k < c->nodes[c->resv[i]].eff; k++)
                c->resv_ge[k]++;
    }
    for (uint32_t i = 0; i < c->nresv; i++) {
        c->nodes[c->resv[i]].reserved = on;
        cl__node_update(c, c->resv[i]);
    }
}

static int try_place(cl_cluster_t *c, const job_t *j, cl_time_t now)
{
    return cl__place_job(c, j, now);
}

/* Placed (c->sel) but over a pod's power budget: it waits for power, holding nothing. */
static int pods_refuse(cl_cluster_t *c, job_t *j, cl_time_t now)
{
    if (cl__power_pods_ok(c, j) || cl__power_replace(c, j, now)) return 0;
    cl__pend(c, j, CL_PEND_POWER);
    return 1;
}

/* EASY: release running jobs in deadline order (virtually) until the gang fits; that time
 * is its shadow start and the nodes it would get are reserved for it. */
static int reserve(cl_cluster_t *c, uint32_t js, cl_time_t now)
{
    job_t *j = &c->jobs[js];
    uint32_t n = c->nheap;
    uint32_t *h = cl__xmalloc(sizeof(uint32_t) * (n ? n : 1));
    if (n) memcpy(h, c->heap, sizeof(uint32_t) * n);
    c->nrel = 0;
    int found = 0;
    double shadow = CL_TIME_INF;
    while (n && !found) {
        uint32_t top = h[0];
        h[0] = h[--n];
        for (uint32_t i = 0;;) { /* sift down on the copy */
            uint32_t l = 2 * i + 1, m = i;
            if (l < n && cl__deadline_before(c, h[l], h[m])) m = l;
            if (l + 1 < n && cl__deadline_before(c, h[l + 1], h[m])) m = l + 1;
            if (m == i) break;
            uint32_t tmp = h[i];
            h[i] = h[m];
            h[m] = tmp;
            i = m;
        }
        cl__virt_release(c, top, 0);
        if (c->tot[cl__job_need(c, j) - 1] >= j->nnodes && try_place(c, j, now) == 0) {
            found = 1;
            shadow = cl__deadline(&c->jobs[top]);
        }
    }
    free(h);
    if (found) {
        if (c->resv_cap < c->nsel) {
            c->resv_cap = c->nsel;
            c->resv = cl__xrealloc(c->resv, sizeof(uint32_t) * c->resv_cap);
        }
        memcpy(c->resv, c->sel, sizeof(uint32_t) * c->nsel);
        c->nresv = c->nsel;
    }
    for (uint32_t i = 0; i < c->nrel; i++)
        cl__virt_restore(c, c->rel[i], 0);
    c->nrel = 0;
    if (!found) return 0;
    c->resv_job = j->id;
    c->resv_shadow = shadow;
    set_reserved(c, 1);
    return 1;
}

static int by_factor(const void *a, const void *b, void *arg)
{
    const cl_cluster_t *c = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    double fx = c->tn[x].factor, fy = c->tn[y].factor;
    return fx > fy ? -1 : fx < fy ? 1 : (x < y ? -1 : x > y);
}

/* Tenants in decreasing fair-share factor. */
static uint32_t *tenant_order(cl_cluster_t *c, cl_time_t now, uint32_t *nt)
{
    int fs = c->o.policy == CL_POLICY_FAIRSHARE;
    *nt = fs ? c->ntn : 1;
    uint32_t *order = cl__xmalloc(sizeof(uint32_t) * *nt);
    for (uint32_t i = 0; i < *nt; i++)
        order[i] = i;
    if (fs) cl__tenant_factors(c, now);
    if (*nt > 1) qsort_r(order, *nt, sizeof(uint32_t), by_factor, c);
    return order;
}

/* The walk's state. */
typedef struct pass {
    cl_time_t now;
    cl_decisions_t *out;
    uint32_t li;
    int preempt_ok, have_resv, blocked;
    uint32_t nshort, *shortq;
} pass_t;

/* Waits for its budget, its user's limit or its quota (reclaiming first if it lends);
 * 0 when none of those holds it. */
static int held_by_limits(cl_cluster_t *c, pass_t *ps, uint32_t x)
{
    job_t *j = &c->jobs[x];
    cl_pend_t dep = cl__deps_block(c, j);
    if (dep != CL_PEND_NONE) {
        cl__pend(c, j, dep);
        return 1;
    }
    if (c->tn[j->tenant].spent) {
        cl__pend(c, j, CL_PEND_BUDGET);
        return 1;
    }
    if (cl__user_blocked(c, j)) {
        cl__pend(c, j, CL_PEND_QOS);
        return 1;
    }
    int q = cl__quota_check(c, j->tenant, cl__job_gpus(j));
    if (q == Q_OK) {
        if (cl__power_site_ok(c, j)) return 0;
        cl__pend(c, j, CL_PEND_POWER);
        return 1;
    }
    if (!(q == Q_RECLAIM && cl__try_reclaim(c, x, ps->now, ps->out, ps->have_resv)))
        cl__pend(c, j, CL_PEND_QUOTA);
    return 1;
}

/* Its --nodelist, --exclude, --exclusive or a node reservation, when they rather than a
 * lack of GPUs keep it waiting, is the reason it is given. */
static void pend_cons(cl_cluster_t *c, job_t *j, cl_pend_t why, cl_time_t now)
{
    if (why == CL_PEND_RESOURCES || why == CL_PEND_HELD) {
        cl_pend_t w = cl__cons_why(c, j, now);
        if (w != CL_PEND_NONE) why = w;
    }
    cl__pend(c, j, why);
}

/* One job of the walk: start it, make room for it, reserve for it, or say why it waits. */
static void visit(cl_cluster_t *c, pass_t *ps, uint32_t x)
{
    job_t *j = &c->jobs[x];
    if (held_by_limits(c, ps, x)) return;
    /* Nothing that runs could make room on nodes that are not there: no reservation. */
    int no_nodes = c->usable[cl__job_need(c, j) - 1] < j->nnodes;
    cl_pend_t why;
    if (!ps->have_resv) {
        if (!no_nodes && try_place(c, j, ps->now) == 0) {
            if (!pods_refuse(c, j, ps->now)) cl__start(c, x, ps->now, ps->out, 0);
            return;
        }
        if (!no_nodes && ps->preempt_ok && cl__try_preempt(c, ps->li, x, ps->now, ps->out))
            return;
        why = no_nodes ? CL_PEND_NODES : c->res_short ? CL_PEND_CPUMEM : CL_PEND_RESOURCES;
        if (c->o.policy == CL_POLICY_FIFO)
            ps->blocked = 1;
        else if (!no_nodes && (ps->have_resv = reserve(c, x, ps->now)) && why != CL_PEND_CPUMEM)
            why = CL_PEND_RESERVED; /* (it waits for CPUs or memory: that says more) */
    } else if (no_nodes) {
        why = CL_PEND_NODES;
    } else if (try_place(c, j, ps->now) == 0) {
        if (!pods_refuse(c, j, ps->now)) cl__start(c, x, ps->now, ps->out, 1);
        return;
    } else if (j->limit > 0 && ps->now + j->limit <= c->resv_shadow &&
               ps->nshort < c->o.backfill_short_max) {
        /* Ends before the shadow time: it may use the reserved nodes too; tried after
         * this walk, with the reservation lifted once. */
        ps->shortq[ps->nshort++] = x;
        why = CL_PEND_RESOURCES;
    } else {
        /* would the nodes held for the reservation have been enough? (counts only) */
        why = c->res_short ? CL_PEND_CPUMEM /* GPUs free, not with the CPUs or memory */
              : c->tot[j->k - 1] + c->resv_ge[j->k - 1] >= j->nnodes ? CL_PEND_HELD
                                                                     : CL_PEND_RESOURCES;
    }
    pend_cons(c, j, why, ps->now);
}

size_t cl_schedule(cl_cluster_t *c, cl_time_t now, cl_decisions_t *out)
{
    size_t n0 = out ? out->n : 0;
    c->npass++;
    c->pass_now = now;
    c->resv_job = 0;
    c->resv_shadow = 0;
    c->nresv = 0;
    c->nbf = 0;
    cl__budgets(c, now, out);
    if (c->ndead) cl__deps_dead(c, now, out);
    if (!c->npending) return out ? out->n - n0 : 0;
    uint32_t nt;
    uint32_t *order = tenant_order(c, now, &nt);
    pass_t ps = {.now = now, .out = out};
    ps.shortq = cl__xmalloc(sizeof(uint32_t) * (c->o.backfill_short_max + 1));
    for (uint32_t li = 0; li < c->npl && !ps.blocked; li++) {
        if (!c->pl[li].npending) continue;
        ps.li = li;
        ps.preempt_ok = 0;
        for (uint32_t l = li + 1; l < c->npl; l++)
            ps.preempt_ok |= c->pl[l].nrun_preempt > 0;
        for (int32_t list = -1; list < (int32_t)nt && !ps.blocked; list++) {
            uint32_t x = list < 0 ? c->pl[li].rq_head : c->pl[li].t_head[order[list]];
            while (x != NIL && !ps.blocked) {
                uint32_t nx = c->jobs[x].qnext;
                visit(c, &ps, x);
                /* Nothing behind can start once every GPU is taken (those of windows hidden
                 * for the job just visited are not: another tenant's job may use them). */
                if (ps.have_resv && c->tot[0] == 0 && (!c->nnr || !c->rhid_ge[0]) &&
                    ps.nshort >= c->o.backfill_short_max)
                    ps.blocked = 1;
                x = nx;
            }
        }
    }
    if (ps.have_resv) set_reserved(c, 0);
    for (uint32_t i = 0; i < ps.nshort; i++) {
        job_t *j = &c->jobs[ps.shortq[i]];
        /* starts since its visit may have used its user's or its tenant's room */
        if (j->state != CL_JOB_PENDING) continue;
        cl_pend_t dep = cl__deps_block(c, j); /* a singleton's peer may have started */
        if (dep != CL_PEND_NONE)
            cl__pend(c, j, dep);
        else if (cl__user_blocked(c, j))
            cl__pend(c, j, CL_PEND_QOS);
        else if (cl__quota_check(c, j->tenant, cl__job_gpus(j)) != Q_OK)
            cl__pend(c, j, CL_PEND_QUOTA);
        else if (!cl__power_site_ok(c, j))
            cl__pend(c, j, CL_PEND_POWER);
        else if (try_place(c, j, now) == 0 && !pods_refuse(c, j, now))
            cl__start(c, ps.shortq[i], now, out, 1);
    }
    cl__resv_unapply_all(c);
    free(ps.shortq);
    free(order);
    return out ? out->n - n0 : 0;
}

int cl_sched_may_start(const cl_cluster_t *c)
{
    if (c->tot[0] > 0 || c->nco > 0) return 1;
    for (uint32_t l = 0; l < c->npl; l++)
        if (c->pl[l].nrun_preempt > 0) return 1;
    return 0;
}

void cl_reservation_get(const cl_cluster_t *c, cl_reservation_t *r)
{
    r->job = c->resv_job;
    r->shadow = c->resv_shadow;
    r->nodes = c->nresv ? c->resv : NULL;
    r->n = c->resv_job ? c->nresv : 0;
}

const cl_jobid_t *cl_backfilled(const cl_cluster_t *c, size_t *n)
{
    *n = c->nbf;
    return c->bf;
}
