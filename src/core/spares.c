/* spares.c - the hot-spare reserve: per pod, a fraction of nodes kept free for failed-node
 * swaps, never given to ordinary jobs, refilled as nodes come back. */
#include "core/internal.h"

static void make_spare(cl_cluster_t *c, cl_nodeid_t id)
{
    node_t *n = &c->nodes[id];
    pod_spares_t *ps = &c->spares[cl__topo_node_level(c->t, id, LV_POD)];
    n->spare = 1;
    n->sprev = NIL;
    n->snext = ps->head;
    if (ps->head != NIL) c->nodes[ps->head].sprev = id;
    ps->head = id;
    ps->nfree++;
    cl__node_update(c, id);
}

/* Takes a node out of the reserve; the caller re-derives its index entry. */
void cl__spare_unlink(cl_cluster_t *c, cl_nodeid_t id)
{
    node_t *n = &c->nodes[id];
    if (!n->spare) return;
    pod_spares_t *ps = &c->spares[cl__topo_node_level(c->t, id, LV_POD)];
    if (n->sprev != NIL)
        c->nodes[n->sprev].snext = n->snext;
    else
        ps->head = n->snext;
    if (n->snext != NIL) c->nodes[n->snext].sprev = n->sprev;
    n->sprev = n->snext = NIL;
    n->spare = 0;
    ps->nfree--;
}

static int fully_free_eligible(const cl_cluster_t *c, const node_t *n)
{
    return n->eff == c->gpn;
}

void cl__spares_init(cl_cluster_t *c)
{
    const cl_topo_t *t = c->t;
    uint32_t np = t->nlv[LV_POD];
    c->spares = cl__xcalloc(np, sizeof(pod_spares_t));
    c->spares_target_total = 0;
    for (uint32_t p = 0; p < np; p++) {
        pod_spares_t *ps = &c->spares[p];
        ps->head = NIL;
        ps->target = (uint32_t)(c->o.spare_fraction * cl__topo_nodes_in(t, LV_POD, p));
        c->spares_target_total += ps->target;
        /* Spread the reserve: the last node of each leaf in turn, then the one before... */
        uint32_t l0 = t->first[LV_POD][p], l1 = t->first[LV_POD][p + 1];
        for (uint32_t r = 0; ps->nfree < ps->target; r++) {
            int any = 0;
            for (uint32_t l = l0; l < l1 && ps->nfree < ps->target; l++) {
                uint32_t a = t->first[LV_DOM][t->first[LV_LEAF][l]];
                uint32_t b = t->first[LV_DOM][t->first[LV_LEAF][l + 1]];
                if (b - a <= r) continue;
                any = 1;
                if (fully_free_eligible(c, &c->nodes[b - 1 - r])) make_spare(c, b - 1 - r);
            }
            if (!any) break;
        }
    }
}

/* Top up a pod's reserve from its free nodes, taking from the leaf with the most free nodes
 * so spares stay spread over leaves. */
void cl__spare_refill(cl_cluster_t *c, uint32_t pod)
{
    pod_spares_t *ps = &c->spares[pod];
    uint32_t k = c->gpn;
    while (ps->nfree < ps->target) {
        uint32_t leaf = NIL;
        for (uint32_t cc = c->lv[LV_LEAF].cap; cc >= 1 && leaf == NIL; cc--)
            leaf = cl__bucket_head(c, LV_LEAF, k, pod, cc);
        if (leaf == NIL) return;
        uint32_t dom = NIL;
        for (uint32_t cc = c->lv[LV_DOM].cap; cc >= 1 && dom == NIL; cc--)
            dom = cl__bucket_head(c, LV_DOM, k, leaf, cc);
        CL_ASSERT(dom != NIL);
        const cl_topo_t *t = c->t;
        cl_nodeid_t pick = NIL;
        for (uint32_t n = t->first[LV_DOM][dom]; n < t->first[LV_DOM][dom + 1]; n++)
            if (fully_free_eligible(c, &c->nodes[n])) {
                pick = n;
                break;
            }
        CL_ASSERT(pick != NIL);
        make_spare(c, pick);
    }
}

/* A free spare for a node of this pod that the job may use, from the same leaf when there
 * is one. */
cl_nodeid_t cl__spare_take(cl_cluster_t *c, cl_nodeid_t near, const job_t *j, cl_time_t now)
{
    uint32_t pod = cl__topo_node_level(c->t, near, LV_POD);
    uint32_t leaf = cl__topo_node_level(c->t, near, LV_LEAF);
    cl_nodeid_t pick = NIL;
    for (cl_nodeid_t s = c->spares[pod].head; s != NIL; s = c->nodes[s].snext) {
        if (!cl__node_allowed(c, j, s, now)) continue;
        if (!cl__res_fits(c, s, j)) continue; /* too few CPUs or too little memory */
        uint32_t sl = cl__topo_node_level(c->t, s, LV_LEAF);
        if (sl != leaf && !cl__power_leaf_room(c, sl, j)) continue; /* over its leaf's power */
        if (pick == NIL) pick = s;
        if (sl == leaf) {
            pick = s;
            break;
        }
    }
    if (pick == NIL) return NIL;
    cl__spare_unlink(c, pick);
    cl__node_update(c, pick);
    return pick;
}
