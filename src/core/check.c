/* check.c - recompute every counter, index and allocation from scratch and compare. */
#include <string.h>

#include "core/internal.h"

#define FAIL(...)                                                                          \
    do {                                                                                   \
        cl__err(err, __VA_ARGS__);                                                         \
        rc = -1;                                                                           \
        goto out;                                                                          \
    } while (0)

int cl_cluster_check(const cl_cluster_t *c, cl_error_t *err)
{
    const cl_topo_t *t = c->t;
    uint32_t g = c->gpn;
    int rc = 0;
    uint32_t *cnt[4] = {0};
    uint64_t *seen = cl__xcalloc(t->nnodes, sizeof(uint64_t));
    for (int lv = LV_DOM; lv <= LV_POD; lv++)
        cnt[lv] = cl__xcalloc((size_t)g * c->lv[lv].n, sizeof(uint32_t));
    uint64_t *tot = cl__xcalloc(g, sizeof(uint64_t));
    uint64_t npend = 0, nrun = 0;
    uint32_t *spc = NULL;

    /* Every running gang is complete and owns exactly its GPUs. */
    for (uint32_t js = 0; js < c->njobs_cap; js++) {
        const job_t *j = &c->jobs[js];
        if (!j->live)
            continue;
        if (c->id2slot[j->id] != js + 1)
            FAIL("job %llu: id map points elsewhere", (unsigned long long)j->id);
        if (j->state == CL_JOB_PENDING)
            npend++;
        if (j->state != CL_JOB_RUNNING) {
            if (j->alloc)
                FAIL("job %llu is %s but holds GPUs", (unsigned long long)j->id,
                     cl_job_state_name(j->state));
            continue;
        }
        nrun++;
        if (!j->alloc)
            FAIL("running job %llu has no allocation", (unsigned long long)j->id);
        if (j->hpos >= c->nheap || c->heap[j->hpos] != js)
            FAIL("running job %llu is not in the deadline heap", (unsigned long long)j->id);
        for (uint32_t i = 0; i < j->nnodes; i++) {
            cl_nodeid_t id = j->alloc[i].node;
            uint64_t m = j->alloc[i].gpus;
            if (id >= t->nnodes)
                FAIL("job %llu rank %u on node %u beyond the cluster",
                     (unsigned long long)j->id, i, id);
            const node_t *n = &c->nodes[id];
            if (cl__popc(m) != j->k)
                FAIL("job %llu holds %u GPUs on %s, wants %u", (unsigned long long)j->id,
                     cl__popc(m), cl_topo_node_name(t, id), j->k);
            if (m & seen[id])
                FAIL("GPU allocated twice on %s", cl_topo_node_name(t, id));
            seen[id] |= m;
            if ((m & n->alloc) != m)
                FAIL("job %llu's GPUs on %s are not marked allocated",
                     (unsigned long long)j->id, cl_topo_node_name(t, id));
            if (n->health != H_UP || (m & n->failed))
                FAIL("job %llu runs on a failed node or GPU (%s)", (unsigned long long)j->id,
                     cl_topo_node_name(t, id));
            if (n->spare)
                FAIL("job %llu runs on spare %s", (unsigned long long)j->id,
                     cl_topo_node_name(t, id));
            for (uint64_t b = m; b; b &= b - 1)
                if (c->gpu_job[(size_t)id * g + (uint32_t)__builtin_ctzll(b)] != js + 1)
                    FAIL("GPU map of %s disagrees with job %llu", cl_topo_node_name(t, id),
                         (unsigned long long)j->id);
        }
    }
    if (npend != c->npending || nrun != c->nrunning || nrun != c->nheap)
        FAIL("job counts: pending %llu vs %llu, running %llu vs %llu (heap %u)",
             (unsigned long long)npend, (unsigned long long)c->npending,
             (unsigned long long)nrun, (unsigned long long)c->nrunning, c->nheap);

    spc = cl__xcalloc(t->nlv[LV_POD], sizeof(uint32_t));
    for (cl_nodeid_t id = 0; id < t->nnodes; id++) {
        const node_t *n = &c->nodes[id];
        if (seen[id] != n->alloc) {
            FAIL("node %s: allocated GPUs %llx, jobs hold %llx", cl_topo_node_name(t, id),
                 (unsigned long long)n->alloc, (unsigned long long)seen[id]);
        }
        for (uint32_t b = 0; b < g; b++)
            if (!(n->alloc >> b & 1) && c->gpu_job[(size_t)id * g + b]) {
                    FAIL("node %s GPU %u free but mapped to a job", cl_topo_node_name(t, id), b);
            }
        if (n->reserved) {
            FAIL("node %s still reserved outside a pass", cl_topo_node_name(t, id));
        }
        if (n->spare) {
            spc[cl__topo_node_level(t, id, LV_POD)]++;
            if (n->alloc || n->failed || n->health != H_UP || n->admin != A_NONE) {
                    FAIL("spare %s is not a whole, free, up node", cl_topo_node_name(t, id));
            }
        }
        uint32_t e = cl__node_eff(c, n);
        if (e != n->eff) {
            FAIL("node %s counted with %u free, has %u", cl_topo_node_name(t, id), n->eff, e);
        }
        for (uint32_t k = 1; k <= e; k++) {
            tot[k - 1]++;
            cnt[LV_DOM][(size_t)(k - 1) * c->lv[LV_DOM].n + cl__topo_node_level(t, id, LV_DOM)]++;
            cnt[LV_LEAF][(size_t)(k - 1) * c->lv[LV_LEAF].n + cl__topo_node_level(t, id, LV_LEAF)]++;
            cnt[LV_POD][(size_t)(k - 1) * c->lv[LV_POD].n + cl__topo_node_level(t, id, LV_POD)]++;
        }
    }
    for (uint32_t p = 0; p < t->nlv[LV_POD]; p++) {
        uint32_t listed = 0;
        for (uint32_t s = c->spares[p].head; s != NIL; s = c->nodes[s].snext) {
            listed++;
            if (!c->nodes[s].spare || cl__topo_node_level(t, s, LV_POD) != p)
                break;
        }
        if (listed != spc[p] || listed != c->spares[p].nfree) {
            FAIL("pod %s: %u spares flagged, %u listed, %u counted", t->pod_names[p], spc[p],
                 listed, c->spares[p].nfree);
        }
    }

    for (uint32_t k = 1; k <= g; k++) {
        if (tot[k - 1] != c->tot[k - 1])
            FAIL("cluster count of nodes with >= %u free: %llu, recomputed %llu", k,
                 (unsigned long long)c->tot[k - 1], (unsigned long long)tot[k - 1]);
        for (int lv = LV_DOM; lv <= LV_POD; lv++) {
            const level_t *L = &c->lv[lv];
            size_t base = (size_t)(k - 1) * L->n;
            uint64_t linked = 0, positive = 0;
            for (uint32_t e = 0; e < L->n; e++) {
                if (cnt[lv][base + e] != L->cnt[base + e])
                    FAIL("level %d entity %u count (>= %u free): %u, recomputed %u", lv, e, k,
                         L->cnt[base + e], cnt[lv][base + e]);
                positive += L->cnt[base + e] > 0;
            }
            for (uint32_t cc = 1; cc <= L->cap; cc++)
                for (uint32_t x = cl__bucket_head(c, lv, k, NIL, cc); x != NIL;
                     x = L->gnext[base + x]) {
                    if (L->cnt[base + x] != cc)
                        FAIL("level %d entity %u in bucket %u with count %u", lv, x, cc,
                             L->cnt[base + x]);
                    linked++;
                }
            if (linked != positive)
                FAIL("level %d: %llu entities linked, %llu with capacity", lv,
                     (unsigned long long)linked, (unsigned long long)positive);
            if (lv < LV_POD) {
                linked = 0;
                for (uint32_t p = 0; p < L->nparents; p++)
                    for (uint32_t cc = 1; cc <= L->cap; cc++)
                        for (uint32_t x = cl__bucket_head(c, lv, k, p, cc); x != NIL;
                             x = L->pnext[base + x]) {
                            if (L->cnt[base + x] != cc || t->parent[lv][x] != p)
                                FAIL("level %d entity %u misfiled under parent %u", lv, x, p);
                            linked++;
                        }
                if (linked != positive)
                    FAIL("level %d: %llu linked under parents, %llu with capacity", lv,
                         (unsigned long long)linked, (unsigned long long)positive);
            }
        }
    }
    for (uint32_t j = 1; j < g; j++)
        for (uint32_t x = c->jhead[j]; x != NIL; x = c->nodes[x].jnext)
            if (c->nodes[x].eff != j)
                FAIL("node %s on the %u-free list has %u free", cl_topo_node_name(t, x), j,
                     c->nodes[x].eff);
out:
    free(spc);
    for (int lv = LV_DOM; lv <= LV_POD; lv++)
        free(cnt[lv]);
    free(tot);
    free(seen);
    return rc;
}
