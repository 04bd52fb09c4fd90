/* preempt.c - making room for a gang by stopping running jobs: priority preemption of
 * lower-priority preemptible jobs, and reclaim of a cohort's lent quota from borrowers.
 * Both release candidates virtually until the gang fits its quota and the nodes, then stop
 * only those it needs. */
#include "core/internal.h"

/* "What if this job had ended": give back its GPUs in the index only (its record and
 * gpu_job entries stay), and with hold also on its tenant's quota counters; restore puts
 * them back. Released slots are listed in c->rel. */
void cl__virt_release(cl_cluster_t *c, uint32_t js, int hold)
{
    job_t *j = &c->jobs[js];
    for (uint32_t i = 0; i < j->nnodes; i++) {
        c->nodes[j->alloc[i].node].alloc &= ~j->alloc[i].gpus;
        cl__node_update(c, j->alloc[i].node);
    }
    if (hold) cl__tenant_hold(c, j->tenant, -(int64_t)cl__job_gpus(j));
    if (c->nrel == c->rel_cap) {
        c->rel_cap = c->rel_cap ? c->rel_cap * 2 : 256;
        c->rel = cl__xrealloc(c->rel, sizeof(uint32_t) * c->rel_cap);
    }
    c->rel[c->nrel++] = js;
}

void cl__virt_restore(cl_cluster_t *c, uint32_t js, int hold)
{
    job_t *j = &c->jobs[js];
    for (uint32_t i = 0; i < j->nnodes; i++) {
        c->nodes[j->alloc[i].node].alloc |= j->alloc[i].gpus;
        cl__node_update(c, j->alloc[i].node);
    }
    if (hold) cl__tenant_hold(c, j->tenant, (int64_t)cl__job_gpus(j));
}

void cl__start(cl_cluster_t *c, uint32_t js, cl_time_t now, cl_decisions_t *out, int bf)
{
    cl__queue_remove(c, js);
    cl__commit(c, js);
    cl__job_running(c, js, now);
    c->jobs[js].requeued = 0;
    c->jobs[js].pend_pass = c->npass;
    cl__decide(out, &c->jobs[js], CL_ACT_START, CL_NO_NODE, CL_NO_NODE);
    if (bf) {
        if (c->nbf == c->bf_cap) {
            c->bf_cap = c->bf_cap ? c->bf_cap * 2 : 64;
            c->bf = cl__xrealloc(c->bf, sizeof(cl_jobid_t) * c->bf_cap);
        }
        c->bf[c->nbf++] = c->jobs[js].id;
    }
}

/* The gang fits its quota and the nodes as they are now (virtual releases included). */
static int fits(cl_cluster_t *c, const job_t *j)
{
    return cl__quota_check(c, j->tenant, cl__job_gpus(j)) == Q_OK &&
           c->tot[j->k - 1] >= j->nnodes && cl__place_job(c, j) == 0;
}

static void restore_all(cl_cluster_t *c)
{
    for (uint32_t i = 0; i < c->nrel; i++)
        cl__virt_restore(c, c->rel[i], 1);
    c->nrel = 0;
}

static int victim_put_back(cl_cluster_t *c, const job_t *j, uint32_t v)
{
    const job_t *vj = &c->jobs[v];
    for (uint32_t m = 0; m < vj->nnodes; m++)
        if (c->nodes[vj->alloc[m].node].reserved == 2) return 0;
    int64_t g = (int64_t)cl__job_gpus(vj);
    cl__tenant_hold(c, vj->tenant, g); /* does the gang still fit its quota with it back? */
    if (cl__quota_check(c, j->tenant, cl__job_gpus(j)) != Q_OK) {
        cl__tenant_hold(c, vj->tenant, -g);
        return 0;
    }
    cl__virt_restore(c, v, 0);
    return 1;
}

/* The gang fits with the jobs in c->rel released and c->sel chosen: keep running those it
 * needs neither for nodes nor for quota (tried in release order; for a reclaim, which
 * released the newest first, the reverse, so the oldest are kept first), stop the others
 * (pending for priority, or for quota after a reclaim) and start the gang. */
static void take_room(cl_cluster_t *c, uint32_t js, cl_time_t now, cl_decisions_t *out,
                      int reclaim, int bf)
{
    job_t *j = &c->jobs[js];
    for (uint32_t i = 0; i < c->nsel; i++)
        c->nodes[c->sel[i]].reserved = 2; /* mark only: eff is not re-derived here */
    uint32_t nrel = c->nrel;
    for (uint32_t q = 0; q < nrel; q++) {
        uint32_t i = reclaim ? nrel - 1 - q : q;
        if (victim_put_back(c, j, c->rel[i])) c->rel[i] = NIL;
    }
    for (uint32_t i = 0; i < c->nsel; i++)
        c->nodes[c->sel[i]].reserved = 0;
    /* The victims' GPUs are already out of node->alloc and their tenants' counters: put
     * them all back first (the release path integrates budgets over the real counts), so
     * the ordinary release path does its whole bookkeeping, without refilling spares from
     * the gang's nodes before it takes them. */
    for (uint32_t i = 0; i < nrel; i++)
        if (c->rel[i] != NIL)
            cl__tenant_hold(c, c->jobs[c->rel[i]].tenant,
                            (int64_t)cl__job_gpus(&c->jobs[c->rel[i]]));
    for (uint32_t i = 0; i < nrel; i++) {
        if (c->rel[i] == NIL) continue;
        job_t *v = &c->jobs[c->rel[i]];
        for (uint32_t m = 0; m < v->nnodes; m++)
            c->nodes[v->alloc[m].node].alloc |= v->alloc[m].gpus;
        cl__job_release_norefill(c, c->rel[i], now);
        v->state = CL_JOB_PENDING;
        v->preemptions++;
        cl__queue_push(c, c->rel[i], 1);
        cl__pend(c, v, reclaim ? CL_PEND_QUOTA : CL_PEND_PRIORITY);
        cl__decide(out, v, CL_ACT_PREEMPT, CL_NO_NODE, CL_NO_NODE);
    }
    c->nrel = 0;
    /* sel is still valid: every node in it is free of the victims and of everyone else. */
    cl__start(c, js, now, out, bf);
    for (uint32_t p = 0; p < c->t->nlv[LV_POD]; p++)
        if (c->spares[p].nfree < c->spares[p].target) cl__spare_refill(c, p);
}

/* Lowest priority and latest started first. The gang already fits its quota (victims only
 * lower the counts), so quota never starts it over its limit here. */
int cl__try_preempt(cl_cluster_t *c, uint32_t li, uint32_t js, cl_time_t now,
                    cl_decisions_t *out)
{
    job_t *j = &c->jobs[js];
    c->nrel = 0;
    int found = 0;
    for (uint32_t l = c->npl; l-- > li + 1 && !found;)
        for (uint32_t v = c->pl[l].rp_tail; v != NIL && !found; v = c->jobs[v].qprev) {
            cl__virt_release(c, v, 1);
            found = fits(c, j);
        }
    if (!found) {
        restore_all(c);
        return 0;
    }
    take_room(c, js, now, out, 0, 0);
    return 1;
}

/* The newest of the cursors (start time, then id): reclaim takes borrowers' jobs newest
 * first across the cohort, merging its members' lists (they are few). */
static uint32_t newest(const cl_cluster_t *c, const uint32_t *cur, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++) {
        const job_t *a = &c->jobs[cur[2 * i + 1]], *b = &c->jobs[cur[2 * best + 1]];
        if (a->start > b->start || (a->start == b->start && a->id > b->id)) best = i;
    }
    return best;
}

/* Borrowers are the other members running beyond their nominal quota (counted as the
 * releases go: one back within its quota borrows no more, and its cursor is dropped); jobs
 * started in this pass are not taken back in it. A failure is remembered for the rest of
 * the pass, so that a lender's queue costs one walk, not one per job. */
int cl__try_reclaim(cl_cluster_t *c, uint32_t js, cl_time_t now, cl_decisions_t *out, int bf)
{
    job_t *j = &c->jobs[js];
    uint32_t top = cl__top(c, j->tenant);
    tenant_t *lender = &c->tn[top];
    uint64_t g = cl__job_gpus(j);
    if (lender->cohort == NIL) return 0;
    if (lender->rfail_pass == c->npass && g >= lender->rfail_g) return 0;
    uint32_t *cur = cl__xmalloc(sizeof(uint32_t) * 2 * c->ntn), n = 0; /* (tenant, job) */
    for (uint32_t t = 0; t < c->ntn; t++) {
        uint32_t bt = cl__top(c, t);
        if (bt == top || c->tn[bt].cohort != lender->cohort || c->tn[t].ptail == NIL) continue;
        cur[2 * n] = t;
        cur[2 * n++ + 1] = c->tn[t].ptail;
    }
    c->nrel = 0;
    int found = 0;
    while (n && !found) {
        uint32_t i = newest(c, cur, n), v = cur[2 * i + 1];
        const tenant_t *b = &c->tn[cl__top(c, cur[2 * i])];
        cur[2 * i + 1] = c->jobs[v].tprev;
        if (b->tree_gpus <= b->conf.quota_gpus || cur[2 * i + 1] == NIL) {
            n--;
            cur[2 * i] = cur[2 * n];
            cur[2 * i + 1] = cur[2 * n + 1];
        }
        /* a job this very pass started is left alone: a start and a stop in one list */
        if (b->tree_gpus <= b->conf.quota_gpus || c->jobs[v].pend_pass == c->npass) continue;
        cl__virt_release(c, v, 1);
        found = fits(c, j);
    }
    free(cur);
    if (!found) {
        restore_all(c);
        lender->rfail_pass = c->npass;
        lender->rfail_g = g;
        return 0;
    }
    take_room(c, js, now, out, 1, bf);
    return 1;
}
