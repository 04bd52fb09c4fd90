/* cluster.c - cluster state: nodes and their states, failures and hot-spare swaps. */
#include <math.h>
#include <string.h>

#include "core/internal.h"

void cl_cluster_opts_default(cl_cluster_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->policy = CL_POLICY_FAIRSHARE;
    o->spare_fraction = 0;
    o->fairshare_halflife_s = 7 * 86400.0;
    o->backfill_short_max = 64;
}

cl_cluster_t *cl_cluster_create(cl_topo_t *t, const cl_cluster_opts_t *opts, cl_error_t *err)
{
    cl_cluster_opts_t o;
    if (opts)
        o = *opts;
    else
        cl_cluster_opts_default(&o);
    if (!t) {
        cl__err(err, "no topology");
        return NULL;
    }
    if (!(o.spare_fraction >= 0 && o.spare_fraction <= 0.5)) {
        cl__err(err, "spare fraction must be between 0 and 0.5");
        cl_topo_destroy(t);
        return NULL;
    }
    if (!(o.fairshare_halflife_s > 0) || !isfinite(o.fairshare_halflife_s)) {
        /* kueue#11134: a zero half-life read as "default" silently disabled fair share */
        cl__err(err,
                "fair-share half-life must be a positive, finite number of seconds (got %g)",
                o.fairshare_halflife_s);
        cl_topo_destroy(t);
        return NULL;
    }
    if (o.policy > CL_POLICY_FIFO) {
        cl__err(err, "unknown queue policy %d", (int)o.policy);
        cl_topo_destroy(t);
        return NULL;
    }
    cl_cluster_t *c = cl__xcalloc(1, sizeof(*c));
    c->t = t;
    c->o = o;
    c->gpn = t->gpn;
    c->allmask = t->gpn == 64 ? ~0ull : ((1ull << t->gpn) - 1);
    c->nodes = cl__xcalloc(t->nnodes, sizeof(node_t));
    c->gpu_job = cl__xcalloc((size_t)t->nnodes * t->gpn, sizeof(uint32_t));
    c->free_slot = NIL;
    c->next_id = 1;
    c->resv_job = 0;
    cl__index_init(c);
    for (uint32_t i = 0; i < t->nnodes; i++) {
        node_t *n = &c->nodes[i];
        n->jprev = n->jnext = n->sprev = n->snext = NIL;
        cl__node_update(c, i);
        cl__node_usable_update(c, i);
    }
    cl__spares_init(c);
    cl__power_init(c);
    cl_tenant_add(c, "default", 1, NULL);
    return c;
}

void cl_cluster_destroy(cl_cluster_t *c)
{
    if (!c) return;
    for (uint32_t i = 0; i < c->njobs_cap; i++)
        if (c->jobs[i].live) {
            free(c->jobs[i].alloc);
            cl__cons_free(&c->jobs[i]);
        }
    cl__deps_destroy(c);
    cl__resv_free(c);
    for (uint32_t i = 0; i < c->npl; i++) {
        free(c->pl[i].t_head);
        free(c->pl[i].t_tail);
    }
    for (uint32_t i = 0; i < c->ntn; i++)
        free(c->tn[i].name);
    cl__index_free(c);
    cl__power_free(c);
    cl__res_free(c);
    free(c->pl);
    free(c->tn);
    free(c->co);
    free(c->users);
    free(c->jobs);
    free(c->id2slot);
    free(c->heap);
    free(c->sel);
    free(c->rel);
    free(c->resv);
    free(c->bf);
    free(c->spares);
    free(c->nodes);
    free(c->gpu_job);
    cl_topo_destroy(c->t);
    free(c);
}

const cl_topo_t *cl_cluster_topo(const cl_cluster_t *c)
{
    return c->t;
}

/* ------------------------------------------------------------------ nodes */
static cl_node_state_t node_state(const node_t *n)
{
    if (n->health == H_DOWN) return CL_NODE_DOWN;
    if (n->admin == A_MAINT) return CL_NODE_MAINT;
    if (n->admin == A_DRAIN) return n->alloc ? CL_NODE_DRAINING : CL_NODE_DRAINED;
    return CL_NODE_UP;
}

const char *cl_node_state_name(cl_node_state_t s)
{
    static const char *n[] = {"up", "down", "draining", "drained", "maintenance"};
    return (unsigned)s < 5 ? n[s] : "unknown";
}

int cl_node_get(const cl_cluster_t *c, cl_nodeid_t id, cl_node_info_t *o)
{
    if (id >= c->t->nnodes) return -1;
    const node_t *n = &c->nodes[id];
    o->state = node_state(n);
    o->spare = n->spare;
    o->free = n->health == H_UP ? cl__node_free(c, n) : 0;
    o->failed = n->failed;
    o->njobs = 0;
    cl_jobid_t tmp[CL_MAX_GPUS_PER_NODE];
    o->njobs = (uint32_t)cl_node_jobs(c, id, tmp, CL_MAX_GPUS_PER_NODE);
    return 0;
}

size_t cl_node_jobs(const cl_cluster_t *c, cl_nodeid_t id, cl_jobid_t *out, size_t max)
{
    size_t n = 0;
    if (id >= c->t->nnodes) return 0;
    for (uint32_t g = 0; g < c->gpn; g++) {
        uint32_t s = c->gpu_job[(size_t)id * c->gpn + g];
        if (!s) continue;
        cl_jobid_t jid = c->jobs[s - 1].id;
        size_t m = 0;
        while (m < n && out[m] != jid)
            m++;
        if (m == n && n < max) out[n++] = jid;
    }
    return n;
}

static node_t *node_arg(cl_cluster_t *c, cl_nodeid_t id, cl_error_t *err)
{
    if (id >= c->t->nnodes) {
        cl__err(err, "no node %u (the cluster has %u)", id, c->t->nnodes);
        return NULL;
    }
    return &c->nodes[id];
}

static void refill_of(cl_cluster_t *c, cl_nodeid_t id)
{
    uint32_t pod = cl__topo_node_level(c->t, id, LV_POD);
    if (c->spares[pod].nfree < c->spares[pod].target) cl__spare_refill(c, pod);
}

/* A job lost node `bad` (or a GPU on it): swap in a hot spare of the same leaf or pod and
 * restart in place, else requeue at the head of its priority, else fail it. */
static void job_lost_node(cl_cluster_t *c, uint32_t js, cl_nodeid_t bad, cl_time_t now,
                          cl_decisions_t *out)
{
    job_t *j = &c->jobs[js];
    if (j->restarts >= j->max_restarts) {
        cl__job_terminal(c, js, CL_JOB_FAILED, now);
        cl__decide(out, j, CL_ACT_FAIL, CL_NO_NODE, CL_NO_NODE);
        return;
    }
    j->restarts++;
    cl_nodeid_t sp = cl__spare_take(c, bad, j, now);
    if (sp == NIL) {
        cl__job_requeue(c, js, now);
        cl__decide(out, j, CL_ACT_REQUEUE, CL_NO_NODE, CL_NO_NODE);
        return;
    }
    uint32_t i = 0;
    while (j->alloc[i].node != bad)
        i++;
    cl__node_give(c, bad, j->alloc[i].gpus);
    uint64_t nm = cl__node_take(c, sp, j->k, js);
    cl__power_move(c, js, bad, sp); /* a spare of the pod may be in another leaf */
    j->alloc[i] = (cl_alloc_t){sp, nm};
    j->incarnation++;
    cl__decide(out, j, CL_ACT_RESTART, bad, sp);
    refill_of(c, sp);
}

int cl_node_fail(cl_cluster_t *c, cl_nodeid_t id, cl_time_t now, cl_decisions_t *out,
                 cl_error_t *err)
{
    node_t *n = node_arg(c, id, err);
    if (!n) return -1;
    if (n->health == H_DOWN) return 0;
    int was_spare = n->spare;
    cl__spare_unlink(c, id);
    n->health = H_DOWN;
    cl__node_update(c, id);
    cl__node_usable_update(c, id);
    cl_jobid_t jobs[CL_MAX_GPUS_PER_NODE];
    size_t nj = cl_node_jobs(c, id, jobs, CL_MAX_GPUS_PER_NODE);
    for (size_t i = 0; i < nj; i++)
        job_lost_node(c, c->id2slot[jobs[i]] - 1, id, now, out);
    if (was_spare) refill_of(c, id);
    return 0;
}

int cl_gpu_fail(cl_cluster_t *c, cl_nodeid_t id, uint32_t gpu, cl_time_t now,
                cl_decisions_t *out, cl_error_t *err)
{
    node_t *n = node_arg(c, id, err);
    if (!n) return -1;
    if (gpu >= c->gpn) {
        cl__err(err, "no GPU %u on node %s", gpu, cl_topo_node_name(c->t, id));
        return -1;
    }
    uint64_t bit = 1ull << gpu;
    if (n->failed & bit) return 0;
    uint32_t s = c->gpu_job[(size_t)id * c->gpn + gpu];
    if (s) job_lost_node(c, s - 1, id, now, out);
    n->failed |= bit;
    int was_spare = n->spare;
    if (was_spare) /* a spare must be whole */
        cl__spare_unlink(c, id);
    cl__node_update(c, id);
    cl__node_usable_update(c, id);
    if (was_spare) refill_of(c, id);
    return 0;
}

int cl_node_recover(cl_cluster_t *c, cl_nodeid_t id, cl_time_t now, cl_error_t *err)
{
    node_t *n = node_arg(c, id, err);
    if (!n) return -1;
    if (n->health == H_UP && !n->failed) return 0;
    n->health = H_UP;
    n->failed = 0;
    cl__node_update(c, id);
    cl__node_usable_update(c, id);
    refill_of(c, id);
    return 0;
}

static int set_admin(cl_cluster_t *c, cl_nodeid_t id, uint8_t admin, cl_error_t *err)
{
    node_t *n = node_arg(c, id, err);
    if (!n) return -1;
    if (n->admin == admin) return 0;
    int was_spare = n->spare;
    cl__spare_unlink(c, id);
    n->admin = admin;
    cl__node_update(c, id);
    cl__node_usable_update(c, id);
    if (was_spare || admin == A_NONE) refill_of(c, id);
    return 0;
}

int cl_node_drain(cl_cluster_t *c, cl_nodeid_t id, cl_time_t now, cl_error_t *err)
{
    return set_admin(c, id, A_DRAIN, err);
}

int cl_node_maintenance(cl_cluster_t *c, cl_nodeid_t id, cl_time_t now, cl_error_t *err)
{
    return set_admin(c, id, A_MAINT, err);
}

int cl_node_resume(cl_cluster_t *c, cl_nodeid_t id, cl_time_t now, cl_error_t *err)
{
    return set_admin(c, id, A_NONE, err);
}

void cl_cluster_stats(const cl_cluster_t *c, cl_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->nodes = c->t->nnodes;
    st->gpus = (uint64_t)c->t->nnodes * c->gpn;
    for (uint32_t i = 0; i < c->t->nnodes; i++) {
        const node_t *n = &c->nodes[i];
        switch (node_state(n)) {
        case CL_NODE_UP:
            st->nodes_up++;
            break;
        case CL_NODE_DOWN:
            st->nodes_down++;
            break;
        case CL_NODE_DRAINING:
            st->nodes_draining++;
            break;
        case CL_NODE_DRAINED:
            st->nodes_drained++;
            break;
        case CL_NODE_MAINT:
            st->nodes_maint++;
            break;
        }
        st->gpus_alloc += cl__popc(n->alloc);
        st->gpus_failed += cl__popc(n->failed);
        if (n->health == H_UP) st->gpus_free += cl__popc(cl__node_free(c, n));
    }
    for (uint32_t p = 0; p < c->t->nlv[LV_POD]; p++)
        st->spares_free += c->spares[p].nfree;
    st->spares_target = c->spares_target_total;
    st->jobs_pending = c->npending;
    st->jobs_running = c->nrunning;
}
