/* sched.c - the scheduling pass: priority and fair-share order, gang starts, preemption,
 * an EASY reservation for the first blocked gang and backfill that never delays it. */
#include <string.h>

#include "core/internal.h"

/* "What if these jobs had ended": give back a job's GPUs in the index only (its record and
 * gpu_job entries stay) and put them back afterwards. */
static void virt_release(cl_cluster_t *c, uint32_t js)
{
    job_t *j = &c->jobs[js];
    for (uint32_t i = 0; i < j->nnodes; i++) {
        c->nodes[j->alloc[i].node].alloc &= ~j->alloc[i].gpus;
        cl__node_update(c, j->alloc[i].node);
    }
    if (c->nrel == c->rel_cap) {
        c->rel_cap = c->rel_cap ? c->rel_cap * 2 : 256;
        c->rel = cl__xrealloc(c->rel, sizeof(uint32_t) * c->rel_cap);
    }
    c->rel[c->nrel++] = js;
}

static void virt_restore(cl_cluster_t *c, uint32_t js)
{
    job_t *j = &c->jobs[js];
    for (uint32_t i = 0; i < j->nnodes; i++) {
        c->nodes[j->alloc[i].node].alloc |= j->alloc[i].gpus;
        cl__node_update(c, j->alloc[i].node);
    }
}

static void set_reserved(cl_cluster_t *c, uint8_t on)
{
    for (uint32_t i = 0; i < c->nresv; i++) {
        c->nodes[c->resv[i]].reserved = on;
        cl__node_update(c, c->resv[i]);
    }
}

static void start(cl_cluster_t *c, uint32_t js, cl_time_t now, cl_decisions_t *out, int bf)
{
    cl__queue_remove(c, js);
    cl__commit(c, js);
    cl__job_running(c, js, now);
    c->jobs[js].requeued = 0;
    cl__decide(out, &c->jobs[js], CL_ACT_START, CL_NO_NODE, CL_NO_NODE);
    if (bf) {
        if (c->nbf == c->bf_cap) {
            c->bf_cap = c->bf_cap ? c->bf_cap * 2 : 64;
            c->bf = cl__xrealloc(c->bf, sizeof(cl_jobid_t) * c->bf_cap);
        }
        c->bf[c->nbf++] = c->jobs[js].id;
    }
}

static int try_place(cl_cluster_t *c, const job_t *j)
{
    return cl__place(c, j->nnodes, j->k, j->max_sw);
}

/* Preempt preemptible jobs of lower priority, lowest priority and latest started first,
 * only as many as the gang needs: released jobs whose nodes the gang does not use are
 * put back. Returns 1 if the job started. */
static int try_preempt(cl_cluster_t *c, uint32_t li, uint32_t js, cl_time_t now,
                       cl_decisions_t *out)
{
    job_t *j = &c->jobs[js];
    c->nrel = 0;
    int found = 0;
    for (uint32_t l = c->npl; l-- > li + 1 && !found;)
        for (uint32_t v = c->pl[l].rp_tail; v != NIL && !found; v = c->jobs[v].qprev) {
            virt_release(c, v);
            found = c->tot[j->k - 1] >= j->nnodes && try_place(c, j) == 0;
        }
    if (!found) {
        for (uint32_t i = 0; i < c->nrel; i++)
            virt_restore(c, c->rel[i]);
        return 0;
    }
    for (uint32_t i = 0; i < c->nsel; i++)
        c->nodes[c->sel[i]].reserved = 2; /* mark only: eff is not re-derived here */
    uint32_t nrel = c->nrel;
    for (uint32_t i = 0; i < nrel; i++) {
        job_t *v = &c->jobs[c->rel[i]];
        int hit = 0;
        for (uint32_t m = 0; m < v->nnodes && !hit; m++)
            hit = c->nodes[v->alloc[m].node].reserved == 2;
        if (!hit) {
            virt_restore(c, c->rel[i]);
            c->rel[i] = NIL;
        }
    }
    for (uint32_t i = 0; i < c->nsel; i++)
        c->nodes[c->sel[i]].reserved = 0;
    /* The victims' GPUs are already out of node->alloc: put them back so the ordinary
     * release path does its whole bookkeeping, without refilling spares from the gang's
     * nodes before it takes them. */
    for (uint32_t i = 0; i < nrel; i++) {
        if (c->rel[i] == NIL) continue;
        job_t *v = &c->jobs[c->rel[i]];
        for (uint32_t m = 0; m < v->nnodes; m++)
            c->nodes[v->alloc[m].node].alloc |= v->alloc[m].gpus;
        cl__job_release_norefill(c, c->rel[i], now);
        v->state = CL_JOB_PENDING;
        v->preemptions++;
        cl__queue_push(c, c->rel[i], 1);
        cl__decide(out, v, CL_ACT_PREEMPT, CL_NO_NODE, CL_NO_NODE);
    }
    /* sel is still valid: every node in it is free of the victims and of everyone else. */
    start(c, js, now, out, 0);
    for (uint32_t p = 0; p < c->t->nlv[LV_POD]; p++)
        if (c->spares[p].nfree < c->spares[p].target) cl__spare_refill(c, p);
    return 1;
}

/* EASY: release running jobs in deadline order (virtually) until the gang fits; that time
 * is its shadow start and the nodes it would get are reserved for it. */
static int reserve(cl_cluster_t *c, uint32_t js)
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
        virt_release(c, top);
        if (c->tot[j->k - 1] >= j->nnodes && try_place(c, j) == 0) {
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
        virt_restore(c, c->rel[i]);
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

size_t cl_schedule(cl_cluster_t *c, cl_time_t now, cl_decisions_t *out)
{
    size_t n0 = out ? out->n : 0;
    c->resv_job = 0;
    c->resv_shadow = 0;
    c->nresv = 0;
    c->nbf = 0;
    if (!c->npending) return 0;
    uint32_t nt = c->o.policy == CL_POLICY_FAIRSHARE ? c->ntn : 1;
    uint32_t *order = cl__xmalloc(sizeof(uint32_t) * nt);
    for (uint32_t i = 0; i < nt; i++) {
        order[i] = i;
        if (c->o.policy == CL_POLICY_FAIRSHARE) c->tn[i].factor = cl_tenant_factor(c, i, now);
    }
    if (nt > 1) qsort_r(order, nt, sizeof(uint32_t), by_factor, c);

    int have_resv = 0, blocked = 0;
    uint32_t nshort = 0;
    uint32_t *shortq = cl__xmalloc(sizeof(uint32_t) * (c->o.backfill_short_max + 1));
    for (uint32_t li = 0; li < c->npl && !blocked; li++) {
        plevel_t *p = &c->pl[li];
        if (!p->npending) continue;
        int preempt_ok = 0;
        for (uint32_t l = li + 1; l < c->npl; l++)
            preempt_ok |= c->pl[l].nrun_preempt > 0;
        for (int32_t list = -1; list < (int32_t)nt && !blocked; list++) {
            uint32_t x = list < 0 ? p->rq_head : p->t_head[order[list]];
            while (x != NIL && !blocked) {
                p = &c->pl[li]; /* levels do not move during a pass, but stay safe */
                uint32_t nx = c->jobs[x].qnext;
                job_t *j = &c->jobs[x];
                if (!have_resv) {
                    if (try_place(c, j) == 0)
                        start(c, x, now, out, 0);
                    else if (preempt_ok && try_preempt(c, li, x, now, out))
                        ;
                    else if (c->o.policy == CL_POLICY_FIFO)
                        blocked = 1;
                    else
                        have_resv = reserve(c, x);
                } else if (try_place(c, j) == 0) {
                    start(c, x, now, out, 1);
                } else if (j->limit > 0 && now + j->limit <= c->resv_shadow &&
                           nshort < c->o.backfill_short_max) {
                    /* Ends before the shadow time: it may use the reserved nodes too;
                     * tried after this walk, with the reservation lifted once. */
                    shortq[nshort++] = x;
                }
                /* Nothing behind can start once every GPU is taken. */
                if (have_resv && c->tot[0] == 0 && nshort >= c->o.backfill_short_max)
                    blocked = 1;
                x = nx;
            }
        }
    }
    if (have_resv) set_reserved(c, 0);
    for (uint32_t i = 0; i < nshort; i++)
        if (c->jobs[shortq[i]].state == CL_JOB_PENDING &&
            try_place(c, &c->jobs[shortq[i]]) == 0)
            start(c, shortq[i], now, out, 1);
    free(shortq);
    free(order);
    return out ? out->n - n0 : 0;
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
