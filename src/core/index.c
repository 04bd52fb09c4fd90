/* index.c - free-capacity counters at every topology level, kept in count buckets so that
 * a placement descends the tree instead of scanning nodes (cost follows the job). */
#include <string.h>

#include "core/internal.h"

static uint32_t *nil_array(size_t n)
{
    uint32_t *a = cl__xmalloc(sizeof(uint32_t) * (n ? n : 1));
    memset(a, 0xff, sizeof(uint32_t) * (n ? n : 1));
    return a;
}

int cl__index_init(cl_cluster_t *c)
{
    const cl_topo_t *t = c->t;
    uint32_t g = c->gpn;
    for (int lv = LV_DOM; lv <= LV_POD; lv++) {
        level_t *L = &c->lv[lv];
        L->n = t->nlv[lv];
        L->cap = t->cap[lv];
        L->nparents = lv < LV_POD ? t->nlv[lv + 1] : 0;
        size_t ne = (size_t)g * L->n;
        L->cnt = cl__xcalloc(ne, sizeof(uint32_t));
        L->gprev = nil_array(ne);
        L->gnext = nil_array(ne);
        L->ghead = nil_array((size_t)g * (L->cap + 1));
        if (lv < LV_POD) {
            L->pprev = nil_array(ne);
            L->pnext = nil_array(ne);
            L->phead = nil_array((size_t)g * L->nparents * (L->cap + 1));
        }
    }
    c->tot = cl__xcalloc(g, sizeof(uint64_t));
    c->usable = cl__xcalloc(g, sizeof(uint64_t));
    c->resv_ge = cl__xcalloc(g, sizeof(uint64_t));
    c->jhead = nil_array(g + 1);
    return 0;
}

void cl__index_free(cl_cluster_t *c)
{
    for (int lv = LV_DOM; lv <= LV_POD; lv++) {
        level_t *L = &c->lv[lv];
        free(L->cnt);
        free(L->gprev);
        free(L->gnext);
        free(L->ghead);
        free(L->pprev);
        free(L->pnext);
        free(L->phead);
    }
    free(c->tot);
    free(c->usable);
    free(c->resv_ge);
    free(c->jhead);
}

uint32_t cl__node_eff(const cl_cluster_t *c, const node_t *n)
{
    if (n->health != H_UP || n->admin != A_NONE || n->spare || n->reserved || n->hidden ||
        n->xhide || n->excl)
        return 0;
    return cl__popc(cl__node_free(c, n));
}

static inline uint32_t *ghead_of(const cl_cluster_t *c, int lv, uint32_t k, uint32_t cnt)
{
    const level_t *L = &c->lv[lv];
    return &L->ghead[(size_t)(k - 1) * (L->cap + 1) + cnt];
}

static inline uint32_t *phead_of(const cl_cluster_t *c, int lv, uint32_t k, uint32_t p,
                                 uint32_t cnt)
{
    const level_t *L = &c->lv[lv];
    return &L->phead[((size_t)(k - 1) * L->nparents + p) * (L->cap + 1) + cnt];
}

uint32_t cl__bucket_head(const cl_cluster_t *c, int lv, uint32_t k, uint32_t parent,
                         uint32_t cnt)
{
    if (lv == LV_POD || parent == NIL) return *ghead_of(c, lv, k, cnt);
    return *phead_of(c, lv, k, parent, cnt);
}

uint32_t cl__cnt(const cl_cluster_t *c, int lv, uint32_t k, uint32_t e)
{
    return c->lv[lv].cnt[(size_t)(k - 1) * c->lv[lv].n + e];
}

/* Doubly linked lists over index arrays; head insertion. */
static inline void link(uint32_t *head, uint32_t *prev, uint32_t *next, uint32_t x)
{
    prev[x] = NIL;
    next[x] = *head;
    if (*head != NIL) prev[*head] = x;
    *head = x;
}

static inline void unlink_(uint32_t *head, uint32_t *prev, uint32_t *next, uint32_t x)
{
    if (prev[x] != NIL)
        next[prev[x]] = next[x];
    else
        *head = next[x];
    if (next[x] != NIL) prev[next[x]] = prev[x];
    prev[x] = next[x] = NIL;
}

static void adjust(cl_cluster_t *c, int lv, uint32_t k, uint32_t e, int delta)
{
    level_t *L = &c->lv[lv];
    size_t base = (size_t)(k - 1) * L->n;
    uint32_t *cnt = &L->cnt[base + e];
    uint32_t parent = lv < LV_POD ? c->t->parent[lv][e] : NIL;
    if (*cnt) {
        unlink_(ghead_of(c, lv, k, *cnt), L->gprev + base, L->gnext + base, e);
        if (parent != NIL)
            unlink_(phead_of(c, lv, k, parent, *cnt), L->pprev + base, L->pnext + base, e);
    }
    *cnt = (uint32_t)((int)*cnt + delta);
    CL_ASSERT(*cnt <= L->cap);
    if (*cnt) {
        link(ghead_of(c, lv, k, *cnt), L->gprev + base, L->gnext + base, e);
        if (parent != NIL)
            link(phead_of(c, lv, k, parent, *cnt), L->pprev + base, L->pnext + base, e);
    }
}

static void jlist(cl_cluster_t *c, cl_nodeid_t id, uint32_t j, int add)
{
    if (j == 0 || j >= c->gpn) return;
    node_t *nd = c->nodes;
    node_t *n = &nd[id];
    if (add) {
        n->jprev = NIL;
        n->jnext = c->jhead[j];
        if (c->jhead[j] != NIL) nd[c->jhead[j]].jprev = id;
        c->jhead[j] = id;
    } else {
        if (n->jprev != NIL)
            nd[n->jprev].jnext = n->jnext;
        else
            c->jhead[j] = n->jnext;
        if (n->jnext != NIL) nd[n->jnext].jprev = n->jprev;
        n->jprev = n->jnext = NIL;
    }
}

uint32_t cl__node_usable(const cl_cluster_t *c, const node_t *n)
{
    if (n->health != H_UP || n->admin != A_NONE) return 0;
    return cl__popc(c->allmask & ~n->failed);
}

/* The nodes a job could ever use now (for CL_PEND_NODES), counted per threshold. Called
 * where health, drain state or failed GPUs change, not from cl__node_update: that one runs
 * at every allocation, and popcount is a library call on the baseline ISA. */
void cl__node_usable_update(cl_cluster_t *c, cl_nodeid_t id)
{
    node_t *n = &c->nodes[id];
    uint32_t a = n->usable, b = cl__node_usable(c, n);
    if (a == b) return;
    for (uint32_t k = (a < b ? a : b) + 1; k <= (a < b ? b : a); k++)
        c->usable[k - 1] += b > a ? 1 : (uint64_t)-1;
    n->usable = (uint8_t)b;
}

void cl__node_update(cl_cluster_t *c, cl_nodeid_t id)
{
    node_t *n = &c->nodes[id];
    uint32_t a = n->eff, b = cl__node_eff(c, n);
    if (a == b) return;
    if (b > a) c->res_epoch++; /* room may have grown: res.c's failed search is stale */
    const cl_topo_t *t = c->t;
    uint32_t dom = t->parent[0][id], leaf = t->parent[LV_DOM][dom],
             pod = t->parent[LV_LEAF][leaf];
    uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
    int delta = b > a ? 1 : -1;
    for (uint32_t k = lo + 1; k <= hi; k++) {
        c->tot[k - 1] = (uint64_t)((int64_t)c->tot[k - 1] + delta);
        adjust(c, LV_DOM, k, dom, delta);
        adjust(c, LV_LEAF, k, leaf, delta);
        adjust(c, LV_POD, k, pod, delta);
    }
    jlist(c, id, a, 0);
    jlist(c, id, b, 1);
    n->eff = (uint8_t)b;
}
