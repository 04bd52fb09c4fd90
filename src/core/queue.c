/* queue.c - the pending queue (priority levels x tenant FIFOs), running-preemptible lists
 * and the job lists they are made of. */
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

/* A job's link pair at byte offset off: [0] prev, [1] next. */
static inline uint32_t *link_of(job_t *jobs, size_t off, uint32_t js)
{
    return (uint32_t *)((char *)&jobs[js] + off);
}

void cl__list_push(job_t *jobs, size_t off, uint32_t *head, uint32_t *tail, uint32_t js)
{
    uint32_t *l = link_of(jobs, off, js);
    l[1] = NIL;
    l[0] = *tail;
    if (*tail != NIL)
        link_of(jobs, off, *tail)[1] = js;
    else
        *head = js;
    *tail = js;
}

void cl__list_remove(job_t *jobs, size_t off, uint32_t *head, uint32_t *tail, uint32_t js)
{
    uint32_t *l = link_of(jobs, off, js);
    if (l[0] != NIL)
        link_of(jobs, off, l[0])[1] = l[1];
    else
        *head = l[1];
    if (l[1] != NIL)
        link_of(jobs, off, l[1])[0] = l[0];
    else
        *tail = l[0];
    l[0] = l[1] = NIL;
}

/* Requeued jobs (at_head) go to their level's requeue list, served before new ones. */
void cl__queue_push(cl_cluster_t *c, uint32_t js, int at_head)
{
    job_t *j = &c->jobs[js];
    uint32_t li_ = cl__plevel(c, j->prio);
    plevel_t *p = &c->pl[li_];
    j->requeued = (uint8_t)(at_head != 0);
    uint32_t *tail, *head = list_of(c, j, p, &tail);
    cl__list_push(c->jobs, CL_LINK_Q, head, tail, js);
    p->npending++;
    c->npending++;
    c->tn[j->tenant].npending++;
}

void cl__queue_remove(cl_cluster_t *c, uint32_t js)
{
    job_t *j = &c->jobs[js];
    uint32_t li_ = cl__plevel(c, j->prio);
    plevel_t *p = &c->pl[li_];
    uint32_t *tail, *head = list_of(c, j, p, &tail);
    cl__list_remove(c->jobs, CL_LINK_Q, head, tail, js);
    p->npending--;
    c->npending--;
    c->tn[j->tenant].npending--;
}

void cl__rp_push(cl_cluster_t *c, uint32_t js)
{
    uint32_t li_ = cl__plevel(c, c->jobs[js].prio);
    plevel_t *p = &c->pl[li_];
    cl__list_push(c->jobs, CL_LINK_Q, &p->rp_head, &p->rp_tail, js);
    p->nrun_preempt++;
}

void cl__rp_remove(cl_cluster_t *c, uint32_t js)
{
    uint32_t li_ = cl__plevel(c, c->jobs[js].prio);
    plevel_t *p = &c->pl[li_];
    cl__list_remove(c->jobs, CL_LINK_Q, &p->rp_head, &p->rp_tail, js);
    p->nrun_preempt--;
}
