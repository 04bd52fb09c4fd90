/* check.c - recompute every counter, index and allocation from scratch and compare. */
#include <string.h>

#include "core/internal.h"

#define FAIL(...) return (cl__err(err, __VA_ARGS__), -1)

/* What the recount builds, compared piece by piece with what the cluster keeps. */
typedef struct recount {
    uint64_t *seen;   /* per node: GPUs that running jobs hold */
    uint32_t *cnt[4]; /* per level, k and entity: nodes with >= k free */
    uint64_t *tot;    /* per k: nodes with >= k free */
    uint32_t *spc;    /* per pod: nodes flagged spare */
} recount_t;

/* One running gang is complete and owns exactly its GPUs. */
static int check_gang(const cl_cluster_t *c, const job_t *j, uint32_t js, recount_t *r,
                      cl_error_t *err)
{
    const cl_topo_t *t = c->t;
    if (!j->alloc) FAIL("running job %llu has no allocation", (unsigned long long)j->id);
    if (j->hpos >= c->nheap || c->heap[j->hpos] != js)
        FAIL("running job %llu is not in the deadline heap", (unsigned long long)j->id);
    for (uint32_t i = 0; i < j->nnodes; i++) {
        cl_nodeid_t id = j->alloc[i].node;
        uint64_t m = j->alloc[i].gpus;
        if (id >= t->nnodes)
            FAIL("job %llu rank %u on node %u beyond the cluster", (unsigned long long)j->id, i,
                 id);
        const node_t *n = &c->nodes[id];
        if (cl__popc(m) != j->k)
            FAIL("job %llu holds %u GPUs on %s, wants %u", (unsigned long long)j->id,
                 cl__popc(m), cl_topo_node_name(t, id), j->k);
        if (m & r->seen[id]) FAIL("GPU allocated twice on %s", cl_topo_node_name(t, id));
        r->seen[id] |= m;
        if ((m & n->alloc) != m)
            FAIL("job %llu's GPUs on %s are not marked allocated", (unsigned long long)j->id,
                 cl_topo_node_name(t, id));
        if (n->health != H_UP || (m & n->failed))
            FAIL("job %llu runs on a failed node or GPU (%s)", (unsigned long long)j->id,
                 cl_topo_node_name(t, id));
        if (n->spare)
            FAIL("job %llu runs on spare %s", (unsigned long long)j->id,
                 cl_topo_node_name(t, id));
        if (j->excl && (!n->excl || n->alloc != m))
            FAIL("exclusive job %llu shares %s", (unsigned long long)j->id,
                 cl_topo_node_name(t, id));
        if (!cl__node_allowed_list(j, id))
            FAIL("job %llu runs on %s, excluded or off its nodelist", (unsigned long long)j->id,
                 cl_topo_node_name(t, id));
        for (uint64_t b = m; b; b &= b - 1)
            if (c->gpu_job[(size_t)id * c->gpn + (uint32_t)__builtin_ctzll(b)] != js + 1)
                FAIL("GPU map of %s disagrees with job %llu", cl_topo_node_name(t, id),
                     (unsigned long long)j->id);
    }
    return 0;
}

static int check_jobs(const cl_cluster_t *c, recount_t *r, cl_error_t *err)
{
    uint64_t npend = 0, nrun = 0;
    for (uint32_t js = 0; js < c->njobs_cap; js++) {
        const job_t *j = &c->jobs[js];
        if (!j->live) continue;
        if (c->id2slot[j->id] != js + 1)
            FAIL("job %llu: id map points elsewhere", (unsigned long long)j->id);
        if (j->state == CL_JOB_PENDING) npend++;
        if (j->state != CL_JOB_RUNNING) {
            if (j->alloc)
                FAIL("job %llu is %s but holds GPUs", (unsigned long long)j->id,
                     cl_job_state_name(j->state));
            continue;
        }
        nrun++;
        if (check_gang(c, j, js, r, err) < 0) return -1;
    }
    if (npend != c->npending || nrun != c->nrunning || nrun != c->nheap)
        FAIL("job counts: pending %llu vs %llu, running %llu vs %llu (heap %u)",
             (unsigned long long)npend, (unsigned long long)c->npending,
             (unsigned long long)nrun, (unsigned long long)c->nrunning, c->nheap);
    return 0;
}

/* Nodes agree with the jobs, spares are whole and free, and the counts are rebuilt. */
static int check_nodes(const cl_cluster_t *c, recount_t *r, cl_error_t *err)
{
    const cl_topo_t *t = c->t;
    uint32_t g = c->gpn;
    uint64_t *seen = r->seen;
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
        if (n->xhide) FAIL("node %s still hidden outside a pass", cl_topo_node_name(t, id));
        if (n->excl &&
            (!n->alloc ||
             !c->jobs[c->gpu_job[(size_t)id * g + (uint32_t)__builtin_ctzll(n->alloc)] - 1]
                  .excl))
            FAIL("node %s marked exclusive without an exclusive job", cl_topo_node_name(t, id));
        if (n->spare) {
            r->spc[cl__topo_node_level(t, id, LV_POD)]++;
            if (n->alloc || n->failed || n->health != H_UP || n->admin != A_NONE) {
                FAIL("spare %s is not a whole, free, up node", cl_topo_node_name(t, id));
            }
        }
        uint32_t e = cl__node_eff(c, n);
        if (e != n->eff) {
            FAIL("node %s counted with %u free, has %u", cl_topo_node_name(t, id), n->eff, e);
        }
        for (uint32_t k = 1; k <= e; k++) {
            r->tot[k - 1]++;
            for (int lv = LV_DOM; lv <= LV_POD; lv++)
                r->cnt[lv][(size_t)(k - 1) * c->lv[lv].n + cl__topo_node_level(t, id, lv)]++;
        }
    }
    return 0;
}

static int check_spares(const cl_cluster_t *c, const recount_t *r, cl_error_t *err)
{
    const cl_topo_t *t = c->t;
    const uint32_t *spc = r->spc;
    for (uint32_t p = 0; p < t->nlv[LV_POD]; p++) {
        uint32_t listed = 0;
        for (uint32_t s = c->spares[p].head; s != NIL; s = c->nodes[s].snext) {
            listed++;
            if (!c->nodes[s].spare || cl__topo_node_level(t, s, LV_POD) != p) break;
        }
        if (listed != spc[p] || listed != c->spares[p].nfree) {
            FAIL("pod %s: %u spares flagged, %u listed, %u counted", t->pod_names[p], spc[p],
                 listed, c->spares[p].nfree);
        }
    }
    return 0;
}

/* One level's counts for threshold k, and its global and per-parent buckets. */
static int check_level(const cl_cluster_t *c, const recount_t *r, int lv, uint32_t k,
                       cl_error_t *err)
{
    const cl_topo_t *t = c->t;
    uint32_t *const *cnt = r->cnt;
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
    return 0;
}

static int check_counts(const cl_cluster_t *c, const recount_t *r, cl_error_t *err)
{
    const cl_topo_t *t = c->t;
    uint32_t g = c->gpn;
    for (uint32_t k = 1; k <= g; k++) {
        if (r->tot[k - 1] != c->tot[k - 1])
            FAIL("cluster count of nodes with >= %u free: %llu, recomputed %llu", k,
                 (unsigned long long)c->tot[k - 1], (unsigned long long)r->tot[k - 1]);
        for (int lv = LV_DOM; lv <= LV_POD; lv++)
            if (check_level(c, r, lv, k, err) < 0) return -1;
    }
    for (uint32_t j = 1; j < g; j++)
        for (uint32_t x = c->jhead[j]; x != NIL; x = c->nodes[x].jnext)
            if (c->nodes[x].eff != j)
                FAIL("node %s on the %u-free list has %u free", cl_topo_node_name(t, x), j,
                     c->nodes[x].eff);
    return 0;
}

/* Tenants' counters and lists, cohorts' slack and lists, users' counts, pending reasons. */
typedef struct tcount {
    uint64_t own, tree, npend, nrun, listed, subs;
} tcount_t;

static int check_cohorts(const cl_cluster_t *c, cl_error_t *err)
{
    for (uint32_t k = 0; k < c->nco; k++) {
        const cohort_t *co = &c->co[k];
        int64_t slack = 0;
        uint64_t lend = 0, members = 0;
        for (uint32_t t = 0; t < c->ntn; t++) {
            const tenant_t *x = &c->tn[t];
            if (x->cohort != k) continue;
            uint64_t q = x->conf.quota_gpus,
                     l = x->conf.lend_limit < q ? x->conf.lend_limit : q;
            int64_t idle = (int64_t)q - (int64_t)x->tree_gpus;
            int64_t s = idle < (int64_t)l ? idle : (int64_t)l;
            if (x->conf.parent >= 0 || x->conf.cohort != co->id || s != x->slack)
                FAIL("tenant '%s': cohort term %lld, recomputed %lld", x->name,
                     (long long)x->slack, (long long)s);
            slack += s;
            lend += l;
            members++;
        }
        if (slack != co->slack || lend != co->lend_total || members != co->members)
            FAIL("cohort %u: slack %lld (recomputed %lld), lendable %llu (%llu), members %u "
                 "(%llu)",
                 co->id, (long long)co->slack, (long long)slack,
                 (unsigned long long)co->lend_total, (unsigned long long)lend, co->members,
                 (unsigned long long)members);
    }
    return 0;
}

/* A tenant's running list holds only its running jobs of that kind. */
static int check_rlist(const cl_cluster_t *c, uint32_t t, uint32_t head, int preemptible,
                       uint64_t max, uint64_t *listed, cl_error_t *err)
{
    for (uint32_t js = head; js != NIL && *listed <= max; js = c->jobs[js].tnext) {
        const job_t *j = &c->jobs[js];
        if (j->tenant != t || j->state != CL_JOB_RUNNING || j->preemptible != preemptible)
            FAIL("tenant '%s' lists job %llu out of place", c->tn[t].name,
                 (unsigned long long)j->id);
        (*listed)++;
    }
    return 0;
}

static int check_tenants(const cl_cluster_t *c, cl_error_t *err)
{
    tcount_t *tc = cl__xcalloc(c->ntn, sizeof(tcount_t));
    uint32_t *urun = cl__xcalloc(c->nusers + 1, sizeof(uint32_t));
    int rc = -1;
    for (uint32_t js = 0; js < c->njobs_cap; js++) {
        const job_t *j = &c->jobs[js];
        if (!j->live) continue;
        if (j->state == CL_JOB_PENDING) {
            tc[j->tenant].npend++;
            if (j->pend_why == CL_PEND_NONE || j->pend_why > CL_PEND_CPUMEM) {
                cl__err(err, "pending job %llu has no reason", (unsigned long long)j->id);
                goto out;
            }
        }
        if (j->state != CL_JOB_RUNNING) continue;
        tc[j->tenant].nrun++;
        tc[j->tenant].own += cl__job_gpus(j);
        tc[j->tenant].tree += cl__job_gpus(j);
        if (c->tn[j->tenant].conf.parent >= 0)
            tc[c->tn[j->tenant].conf.parent].tree += cl__job_gpus(j);
        if (j->user) urun[j->user]++;
    }
    for (uint32_t t = 0; t < c->ntn; t++) {
        const tenant_t *x = &c->tn[t];
        if (check_rlist(c, t, x->rhead, 0, tc[t].nrun, &tc[t].listed, err) < 0 ||
            check_rlist(c, t, x->phead, 1, tc[t].nrun, &tc[t].listed, err) < 0)
            goto out;
        if (x->conf.parent >= 0) tc[x->conf.parent].subs++;
        if (x->cohort == NIL && x->slack) {
            cl__err(err, "tenant '%s' has a cohort term outside a cohort", x->name);
            goto out;
        }
    }
    for (uint32_t t = 0; t < c->ntn; t++) {
        const tenant_t *x = &c->tn[t];
        if (tc[t].own != x->running_gpus || tc[t].tree != x->tree_gpus ||
            tc[t].npend != x->npending || tc[t].nrun != x->nrunning ||
            tc[t].listed != x->nrunning || tc[t].subs != x->nsub) {
            cl__err(err,
                    "tenant '%s': GPUs %llu/%llu (recomputed %llu/%llu), jobs %llu pending "
                    "%llu running (%llu, %llu), %llu listed, %u sub-tenants (%llu)",
                    x->name, (unsigned long long)x->running_gpus,
                    (unsigned long long)x->tree_gpus, (unsigned long long)tc[t].own,
                    (unsigned long long)tc[t].tree, (unsigned long long)x->npending,
                    (unsigned long long)x->nrunning, (unsigned long long)tc[t].npend,
                    (unsigned long long)tc[t].nrun, (unsigned long long)tc[t].listed, x->nsub,
                    (unsigned long long)tc[t].subs);
            goto out;
        }
    }
    for (uint32_t u = 1; u < c->nusers; u++)
        if (urun[u] != c->users[u].running) {
            cl__err(err, "user %u runs %u jobs, counted %u", u, urun[u], c->users[u].running);
            goto out;
        }
    rc = check_cohorts(c, err);
out:
    free(urun);
    free(tc);
    return rc;
}

/* Nodes a job could ever use, per threshold. */
static int check_usable(const cl_cluster_t *c, cl_error_t *err)
{
    for (uint32_t k = 1; k <= c->gpn; k++) {
        uint64_t n = 0;
        for (cl_nodeid_t id = 0; id < c->t->nnodes; id++) {
            uint32_t u = cl__node_usable(c, &c->nodes[id]);
            if (u != c->nodes[id].usable)
                FAIL("node %s counted usable with %u GPUs, has %u", cl_topo_node_name(c->t, id),
                     c->nodes[id].usable, u);
            n += u >= k;
        }
        if (n != c->usable[k - 1])
            FAIL("usable nodes with >= %u GPUs: %llu, recomputed %llu", k,
                 (unsigned long long)c->usable[k - 1], (unsigned long long)n);
    }
    return 0;
}

int cl_cluster_check(const cl_cluster_t *c, cl_error_t *err)
{
    if (check_tenants(c, err) < 0 || check_usable(c, err) < 0 || cl__power_check(c, err) < 0)
        return -1;
    if (cl__res_check(c) < 0) {
        cl__err(err, "a node holds more CPUs or memory than its inventory, or the count of "
                     "nodes with one is wrong");
        return -1;
    }
    const cl_topo_t *t = c->t;
    recount_t r = {0};
    r.seen = cl__xcalloc(t->nnodes, sizeof(uint64_t));
    for (int lv = LV_DOM; lv <= LV_POD; lv++)
        r.cnt[lv] = cl__xcalloc((size_t)c->gpn * c->lv[lv].n, sizeof(uint32_t));
    r.tot = cl__xcalloc(c->gpn, sizeof(uint64_t));
    r.spc = cl__xcalloc(t->nlv[LV_POD], sizeof(uint32_t));
    int rc = check_jobs(c, &r, err) < 0 || check_nodes(c, &r, err) < 0 ||
                     check_spares(c, &r, err) < 0 || check_counts(c, &r, err) < 0
                 ? -1
                 : 0;
    free(r.spc);
    for (int lv = LV_DOM; lv <= LV_POD; lv++)
        free(r.cnt[lv]);
    free(r.tot);
    free(r.seen);
    return rc;
}
