/* place.c - gang placement: all or nothing, fewest leaf switches (then pods), a job that
 * fits in one NVLink domain never split, best fit to keep fragmentation low. */
#include "core/internal.h"

void cl__sel_push(cl_cluster_t *c, uint32_t n)
{
    if (c->nsel == c->sel_cap) {
        c->sel_cap = c->sel_cap ? c->sel_cap * 2 : 1024;
        c->sel = cl__xrealloc(c->sel, sizeof(uint32_t) * c->sel_cap);
    }
    c->sel[c->nsel++] = n;
}

static inline uint32_t next_of(const cl_cluster_t *c, int lv, uint32_t k, uint32_t x,
                               int global)
{
    const level_t *L = &c->lv[lv];
    size_t i = (size_t)(k - 1) * L->n + x;
    return global ? L->gnext[i] : L->pnext[i];
}

/* Take t nodes with >= k free from a domain, those with the fewest free GPUs first. */
static void select_dom(cl_cluster_t *c, uint32_t dom, uint32_t t, uint32_t k)
{
    const cl_topo_t *tp = c->t;
    uint32_t a = tp->first[LV_DOM][dom], b = tp->first[LV_DOM][dom + 1];
    for (uint32_t f = k; f <= c->gpn && t; f++)
        for (uint32_t n = a; n < b && t; n++)
            if (c->nodes[n].eff == f) {
                cl__sel_push(c, n);
                t--;
            }
    CL_ASSERT(t == 0);
}

/* Take t nodes from entity e of level lv (LV_CLUSTER: the whole cluster). Children are
 * walked largest first, and the child that completes the gang is the smallest that can
 * (best fit): the fewest children, the least fragmentation. Reads only. */
static void select_ent(cl_cluster_t *c, int lv, uint32_t e, uint32_t t, uint32_t k)
{
    if (lv == LV_DOM) {
        select_dom(c, e, t, k);
        return;
    }
    int cl = lv - 1, global = (lv == LV_CLUSTER);
    uint32_t parent = global ? NIL : e;
    uint32_t rem = t;
    for (uint32_t cc = c->lv[cl].cap; cc >= 1 && rem; cc--) {
        for (uint32_t x = cl__bucket_head(c, cl, k, parent, cc); x != NIL && rem;) {
            uint32_t nx = next_of(c, cl, k, x, global || cl == LV_POD);
            if (cc >= rem) {
                for (uint32_t c2 = rem; c2 < cc; c2++) {
                    uint32_t h = cl__bucket_head(c, cl, k, parent, c2);
                    if (h != NIL) {
                        x = h;
                        break;
                    }
                }
                select_ent(c, cl, x, rem, k);
                rem = 0;
                break;
            }
            select_ent(c, cl, x, cc, k);
            rem -= cc;
            x = nx;
        }
    }
    CL_ASSERT(rem == 0);
}

static uint32_t best_global(const cl_cluster_t *c, int lv, uint32_t k, uint32_t n)
{
    for (uint32_t cc = n; cc <= c->lv[lv].cap; cc++) {
        uint32_t h = cl__bucket_head(c, lv, k, NIL, cc);
        if (h != NIL) return h;
    }
    return NIL;
}

static uint32_t best_child(const cl_cluster_t *c, int lv, uint32_t k, uint32_t parent,
                           uint32_t n)
{
    for (uint32_t cc = n; cc <= c->lv[lv].cap; cc++) {
        uint32_t h = cl__bucket_head(c, lv, k, parent, cc);
        if (h != NIL) return h;
    }
    return NIL;
}

int cl__place(cl_cluster_t *c, uint32_t nn, uint32_t k, uint32_t max_sw)
{
    c->nsel = 0;
    if (k < 1 || k > c->gpn || nn < 1 || c->tot[k - 1] < nn) return -1;
    if (nn == 1) {
        /* A partly used node first (packing), then a free node in the fullest leaf. */
        for (uint32_t j = k; j < c->gpn; j++)
            if (c->jhead[j] != NIL) {
                cl__sel_push(c, c->jhead[j]);
                return 0;
            }
        uint32_t leaf = best_global(c, LV_LEAF, k, 1);
        CL_ASSERT(leaf != NIL);
        uint32_t dom = best_child(c, LV_DOM, k, leaf, 1);
        CL_ASSERT(dom != NIL);
        select_dom(c, dom, 1, k);
        return 0;
    }
    uint32_t e;
    if (c->lv[LV_DOM].cap > 1 && nn <= c->lv[LV_DOM].cap) {
        /* Fits one NVLink domain: never split it, wait instead. */
        if ((e = best_global(c, LV_DOM, k, nn)) == NIL) return -1;
        select_ent(c, LV_DOM, e, nn, k);
    } else if (nn <= c->lv[LV_LEAF].cap && (e = best_global(c, LV_LEAF, k, nn)) != NIL) {
        select_ent(c, LV_LEAF, e, nn, k);
    } else if (max_sw == 1) {
        return -1;
    } else if (nn <= c->lv[LV_POD].cap && (e = best_global(c, LV_POD, k, nn)) != NIL) {
        select_ent(c, LV_POD, e, nn, k);
    } else {
        select_ent(c, LV_CLUSTER, NIL, nn, k);
    }
    CL_ASSERT(c->nsel == nn);
    if (max_sw) {
        uint32_t leaves = 1, prev = cl__topo_node_level(c->t, c->sel[0], LV_LEAF);
        for (uint32_t i = 1; i < c->nsel && leaves <= max_sw; i++) {
            uint32_t l = cl__topo_node_level(c->t, c->sel[i], LV_LEAF);
            leaves += l != prev;
            prev = l;
        }
        if (leaves > max_sw) {
            c->nsel = 0;
            return -1;
        }
    }
    return 0;
}

uint64_t cl__node_take(cl_cluster_t *c, cl_nodeid_t id, uint32_t k, uint32_t js)
{
    node_t *n = &c->nodes[id];
    uint64_t fr = cl__node_free(c, n), m = 0;
    for (uint32_t q = 0; q < k; q++) {
        CL_ASSERT(fr);
        uint64_t bit = fr & -fr;
        m |= bit;
        fr &= ~bit;
        c->gpu_job[(size_t)id * c->gpn + (uint32_t)__builtin_ctzll(bit)] = js + 1;
    }
    n->alloc |= m;
    if (c->jobs[js].excl) n->excl = 1;
    cl__node_update(c, id);
    return m;
}

void cl__node_give(cl_cluster_t *c, cl_nodeid_t id, uint64_t m)
{
    for (uint64_t b = m; b; b &= b - 1)
        c->gpu_job[(size_t)id * c->gpn + (uint32_t)__builtin_ctzll(b)] = 0;
    c->nodes[id].alloc &= ~m;
    if (!c->nodes[id].alloc) c->nodes[id].excl = 0; /* an exclusive job is alone there */
    cl__node_update(c, id);
}

void cl__commit(cl_cluster_t *c, uint32_t js)
{
    job_t *j = &c->jobs[js];
    CL_ASSERT(c->nsel == j->nnodes);
    j->alloc = cl__xmalloc(sizeof(cl_alloc_t) * j->nnodes);
    for (uint32_t i = 0; i < c->nsel; i++) {
        j->alloc[i].node = c->sel[i];
        j->alloc[i].gpus = cl__node_take(c, c->sel[i], j->k, js);
    }
}
