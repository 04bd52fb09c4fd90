/* res.c - CPUs and memory beside GPUs (issue 15): each node's inventory as its agent
 * registered it, a job's needs per GPU, and placement that honours both. A node's use is
 * summed from its allocated GPUs (each GPU's job and that job's needs), so nothing is
 * counted twice and virtual releases (reservations, preemption) free it as they free GPUs.
 * The GPU index (index.c) knows nothing of CPUs: placement asks it first and, only when a
 * job asks for CPUs or memory and some node has an inventory, checks the nodes it chose and
 * otherwise looks again over the nodes that fit, one scan of the cluster. */
#include "core/internal.h"

/* What node id's running jobs hold: CPUs and MiB. O(GPUs of the node). */
static void node_used(const cl_cluster_t *c, uint32_t id, uint64_t *cpus, uint64_t *mem)
{
    *cpus = *mem = 0;
    for (uint64_t b = c->nodes[id].alloc; b; b &= b - 1) {
        uint32_t js = c->gpu_job[(size_t)id * c->gpn + (uint32_t)__builtin_ctzll(b)];
        if (!js) continue; /* NEVER: an allocated GPU has its job */
        *cpus += c->jobs[js - 1].cpg;
        *mem += c->jobs[js - 1].mpg;
    }
}

/* Node id has room for k of j's GPUs' CPUs and memory (an inventory of 0: no limit). */
static int fits_node(const cl_cluster_t *c, uint32_t id, const job_t *j)
{
    uint32_t cap_c = c->inv_cpus[id];
    uint64_t cap_m = c->inv_mem[id];
    if ((!cap_c || !j->cpg) && (!cap_m || !j->mpg)) return 1;
    uint64_t uc, um;
    node_used(c, id, &uc, &um);
    return (!cap_c || uc + (uint64_t)j->k * j->cpg <= cap_c) &&
           (!cap_m || um + (uint64_t)j->k * j->mpg <= cap_m);
}

static int wants(const cl_cluster_t *c, const job_t *j)
{
    return c->ninv && (j->cpg || j->mpg);
}

int cl__res_fits(const cl_cluster_t *c, uint32_t id, const job_t *j)
{
    return !wants(c, j) || fits_node(c, id, j);
}

void cl_node_set_inventory(cl_cluster_t *c, cl_nodeid_t id, bool reported, uint32_t cpus,
                           uint64_t mem_mb)
{
    if (id >= c->t->nnodes) return;
    if (!reported) cpus = 0, mem_mb = 0;
    if (!c->inv_cpus) {
        c->inv_cpus = cl__xcalloc(c->t->nnodes, sizeof *c->inv_cpus);
        c->inv_mem = cl__xcalloc(c->t->nnodes, sizeof *c->inv_mem);
        c->inv_rep = cl__xcalloc(c->t->nnodes, 1);
    }
    int had = c->inv_cpus[id] || c->inv_mem[id], has = cpus || mem_mb;
    c->ninv += (uint32_t)(has - had);
    c->nrep += (uint32_t)((int)reported - (int)c->inv_rep[id]);
    c->inv_cpus[id] = cpus;
    c->inv_mem[id] = mem_mb;
    c->inv_rep[id] = reported;
    c->res_epoch++;
}

int cl_node_inventory(const cl_cluster_t *c, cl_nodeid_t id, cl_node_res_t *out)
{
    if (id >= c->t->nnodes) return -1;
    *out = (cl_node_res_t){0};
    if (c->inv_cpus) {
        out->cpus = c->inv_cpus[id];
        out->mem_mb = c->inv_mem[id];
    }
    node_used(c, id, &out->cpus_used, &out->mem_used_mb);
    return 0;
}

int cl__res_never(const cl_cluster_t *c, const cl_job_spec_t *s, uint32_t k, cl_error_t *err)
{
    if (!c->nrep || c->ninv < c->nrep || (!s->cpus_per_gpu && !s->mem_per_gpu_mb))
        return 0; /* a node that said no inventory takes anything */
    uint64_t need_c = (uint64_t)k * s->cpus_per_gpu, need_m = (uint64_t)k * s->mem_per_gpu_mb;
    uint32_t max_c = 0;
    uint64_t max_m = 0;
    for (uint32_t i = 0; i < c->t->nnodes; i++) {
        if (!c->inv_rep[i]) continue;
        uint32_t cc = c->inv_cpus[i];
        uint64_t cm = c->inv_mem[i];
        if ((!cc || cc >= need_c) && (!cm || cm >= need_m)) return 0;
        if (cc > max_c) max_c = cc;
        if (cm > max_m) max_m = cm;
    }
    cl__err(err,
            "can never run: needs %llu CPUs and %llu MB of memory on each node (%u GPUs x "
            "--cpus-per-gpu %u, --mem-per-gpu %llu MB); no node has that much (at most %u "
            "CPUs, %llu MB)",
            (unsigned long long)need_c, (unsigned long long)need_m, k, s->cpus_per_gpu,
            (unsigned long long)s->mem_per_gpu_mb, max_c, (unsigned long long)max_m);
    return -1;
}

/* The nodes of [a, b) that can take j now, fewest free GPUs first (packing), into c->sel
 * after what it holds; at most want of them. Returns how many were added. */
static uint32_t take_range(cl_cluster_t *c, const job_t *j, uint32_t a, uint32_t b,
                           uint32_t want, int dry)
{
    uint32_t got = 0;
    for (uint32_t f = c->res_need; f <= c->gpn && got < want; f++)
        for (uint32_t n = a; n < b && got < want; n++) {
            if (c->nodes[n].eff != f || !fits_node(c, n, j)) continue;
            got++;
            if (dry) continue;
            if (c->nsel == c->sel_cap) {
                c->sel_cap = c->sel_cap ? c->sel_cap * 2 : 1024;
                c->sel = cl__xrealloc(c->sel, sizeof(uint32_t) * c->sel_cap);
            }
            c->sel[c->nsel++] = n;
        }
    return got;
}

/* Nodes [a, b) of entity e of level lv (domains and leaves hold consecutive nodes). */
static void ent_nodes(const cl_topo_t *t, int lv, uint32_t e, uint32_t *a, uint32_t *b)
{
    uint32_t d0 = e, d1 = e + 1;
    if (lv == LV_LEAF) {
        d0 = t->first[LV_LEAF][e];
        d1 = t->first[LV_LEAF][e + 1];
    }
    *a = t->first[LV_DOM][d0];
    *b = t->first[LV_DOM][d1];
}

/* The slow path: the gang in an NVLink domain (when it fits one: never split) or a leaf
 * with enough nodes that fit, else across leaves, the fullest first, within max_sw. */
static int place_slow(cl_cluster_t *c, const job_t *j)
{
    const cl_topo_t *t = c->t;
    uint32_t nn = j->nnodes;
    if (nn == 1) {
        /* Next fit from where the last one was found: a stream of one-node jobs that fill
         * the nodes' CPUs before their GPUs would otherwise scan the full nodes from the
         * start each time (65,536 nodes: 74 s for a pass that filled them, measured). */
        c->nsel = 0;
        for (uint32_t i = 0, n = c->res_cursor; i < t->nnodes;
             i++, n = n + 1 < t->nnodes ? n + 1 : 0)
            if (c->nodes[n].eff >= c->res_need && fits_node(c, n, j)) {
                take_range(c, j, n, n + 1, 1, 0);
                c->res_cursor = n;
                return 0;
            }
        return -1;
    }
    int lv = c->lv[LV_DOM].cap > 1 && nn <= c->lv[LV_DOM].cap ? LV_DOM : LV_LEAF;
    /* The first domain or leaf from the last one taken that holds the gang (next fit, not
     * best fit: a stream of gangs short of CPUs must not scan the cluster each). */
    uint32_t best = NIL, a, b, ne = t->nlv[lv];
    for (uint32_t i = 0, e = c->res_ent_cursor[lv == LV_DOM] % ne; i < ne && best == NIL;
         i++, e = e + 1 < ne ? e + 1 : 0) {
        ent_nodes(t, lv, e, &a, &b);
        if (b - a >= nn && take_range(c, j, a, b, nn, 1) >= nn) best = e;
    }
    c->nsel = 0;
    if (best != NIL) {
        ent_nodes(t, lv, best, &a, &b);
        take_range(c, j, a, b, nn, 0);
        c->res_ent_cursor[lv == LV_DOM] = best;
        return 0;
    }
    if (lv == LV_DOM || j->max_sw == 1) return -1;
    uint32_t nl = t->nlv[LV_LEAF], *cnt = cl__xmalloc(sizeof(uint32_t) * (nl ? nl : 1));
    uint64_t total = 0;
    for (uint32_t e = 0; e < nl; e++) {
        ent_nodes(t, LV_LEAF, e, &a, &b);
        total += cnt[e] = take_range(c, j, a, b, UINT32_MAX, 1);
    }
    uint32_t leaves = 0;
    while (total >= nn && c->nsel < nn) { /* the fullest leaf left, each time */
        uint32_t m = 0;
        for (uint32_t e = 1; e < nl; e++)
            if (cnt[e] > cnt[m]) m = e;
        ent_nodes(t, LV_LEAF, m, &a, &b);
        take_range(c, j, a, b, nn - c->nsel, 0);
        cnt[m] = 0;
        leaves++;
    }
    free(cnt);
    if (c->nsel < nn || (j->max_sw && leaves > j->max_sw)) {
        c->nsel = 0;
        return -1;
    }
    return 0;
}

/* The memo below holds only for jobs that see the same nodes: none with constraints of its
 * own (--exclusive, --nodelist, --exclude) and no reservation hiding nodes per job. */
static int memo_ok(const cl_cluster_t *c, const job_t *j)
{
    return !j->cons && !j->excl && !c->nnr;
}

/* The slow path is a scan of the cluster: a pass over many pending jobs that ask for CPUs
 * would scan it once each. A job that asks at least what a failed search asked, in the same
 * mode, fails as well until some node gains room (res_epoch): not searched again. */
static int known_to_fail(const cl_cluster_t *c, const job_t *j, uint8_t dom)
{
    return memo_ok(c, j) && c->res_fail_epoch == c->res_epoch + 1 && c->res_fail_dom == dom &&
           c->res_fail_sw == j->max_sw && j->nnodes >= c->res_fail_nn &&
           j->k >= c->res_fail_k && j->cpg >= c->res_fail_cpg && j->mpg >= c->res_fail_mpg;
}

int cl__place_res(cl_cluster_t *c, const job_t *j, uint32_t need)
{
    c->res_short = 0;
    c->res_need = need;
    int rc = cl__place(c, j->nnodes, need, j->max_sw);
    if (rc < 0 || !wants(c, j)) return rc;
    uint32_t i = 0;
    while (i < c->nsel && fits_node(c, c->sel[i], j))
        i++;
    if (i == c->nsel) return 0;
    uint8_t dom = c->lv[LV_DOM].cap > 1 && j->nnodes <= c->lv[LV_DOM].cap;
    c->res_short = 1; /* the GPUs are there, the CPUs or memory are not */
    if (known_to_fail(c, j, dom)) {
        c->nsel = 0;
        return -1;
    }
    if (place_slow(c, j) == 0) {
        c->res_short = 0;
        return 0;
    }
    if (!memo_ok(c, j)) return -1;
    c->res_fail_epoch = c->res_epoch + 1; /* + 1: 0 is never a search's */
    c->res_fail_dom = dom;
    c->res_fail_sw = j->max_sw;
    c->res_fail_nn = j->nnodes;
    c->res_fail_k = j->k;
    c->res_fail_cpg = j->cpg;
    c->res_fail_mpg = j->mpg;
    return -1;
}

void cl__res_free(cl_cluster_t *c)
{
    free(c->inv_cpus);
    free(c->inv_mem);
    free(c->inv_rep);
}

/* check.c: no node holds more than its inventory (one that shrank under running jobs, which
 * stops nothing, would break this: the tests never shrink one), and the counts are right. */
int cl__res_check(const cl_cluster_t *c)
{
    if (!c->inv_cpus) return 0;
    uint32_t n = 0, r = 0;
    for (uint32_t i = 0; i < c->t->nnodes; i++) {
        r += c->inv_rep[i];
        if (!c->inv_rep[i] && (c->inv_cpus[i] || c->inv_mem[i])) return -1;
        uint64_t uc, um;
        node_used(c, i, &uc, &um);
        if ((c->inv_cpus[i] && uc > c->inv_cpus[i]) || (c->inv_mem[i] && um > c->inv_mem[i]))
            return -1;
        n += c->inv_cpus[i] || c->inv_mem[i];
    }
    return n == c->ninv && r == c->nrep ? 0 : -1;
}
