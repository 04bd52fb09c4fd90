/* constraint.c - what a job may run on besides free GPUs: --exclusive, --nodelist,
 * --exclude and the node reservations' windows. Placement asks here; the cost follows the
 * job's own lists and the reservations that block it, never the size of the cluster. */
#include <math.h>
#include <string.h>

#include "core/internal.h"

struct jcons {
    cl_nodeid_t *list, *excl; /* sorted, no duplicates */
    uint32_t nlist, nexcl;
};

/* A node reservation. While applied (it blocks the job being placed), its nodes are
 * hidden from the index; ge[k-1] is what it took out of c->rhid_ge. */
struct nresv {
    uint64_t id;
    cl_time_t start, end;
    int32_t tenant;
    cl_nodeid_t *nodes; /* sorted, no duplicates */
    uint32_t n;
    uint8_t applied;
    uint32_t *ge;
};

static int cmp_node(const void *a, const void *b)
{
    cl_nodeid_t x = *(const cl_nodeid_t *)a, y = *(const cl_nodeid_t *)b;
    return x < y ? -1 : x > y;
}

/* A sorted copy without duplicates; *n is updated. */
static cl_nodeid_t *sorted_set(const cl_nodeid_t *v, uint32_t *n)
{
    cl_nodeid_t *s = cl__xmalloc(sizeof(cl_nodeid_t) * (*n ? *n : 1));
    if (*n) memcpy(s, v, sizeof(cl_nodeid_t) * *n);
    qsort(s, *n, sizeof(cl_nodeid_t), cmp_node);
    uint32_t m = 0;
    for (uint32_t i = 0; i < *n; i++)
        if (!m || s[m - 1] != s[i]) s[m++] = s[i];
    *n = m;
    return s;
}

static int in_set(const cl_nodeid_t *s, uint32_t n, cl_nodeid_t x)
{
    return n && bsearch(&x, s, n, sizeof(cl_nodeid_t), cmp_node) != NULL;
}

static int check_ids(const cl_cluster_t *c, const cl_nodeid_t *v, uint32_t n, const char *what,
                     cl_error_t *err)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] >= c->t->nnodes) {
            cl__err(err, "%s names node %u; the cluster has %u", what, v[i], c->t->nnodes);
            return -1;
        }
    return 0;
}

/* ------------------------------------------------------------ job constraints */

int cl__cons_make(const cl_cluster_t *c, const cl_job_spec_t *s, uint32_t nn,
                  struct jcons **out, cl_error_t *err)
{
    *out = NULL;
    if (!s->nnodelist && !s->nexclude) return 0;
    if ((s->nnodelist && !s->nodelist) || (s->nexclude && !s->exclude)) {
        cl__err(err, "a node list without its nodes");
        return -1;
    }
    if (check_ids(c, s->nodelist, s->nnodelist, "the nodelist", err) < 0 ||
        check_ids(c, s->exclude, s->nexclude, "the exclude list", err) < 0)
        return -1;
    struct jcons *k = cl__xcalloc(1, sizeof(*k));
    k->nlist = s->nnodelist;
    k->nexcl = s->nexclude;
    k->list = sorted_set(s->nodelist, &k->nlist);
    k->excl = sorted_set(s->exclude, &k->nexcl);
    uint32_t avail = k->nlist ? 0 : c->t->nnodes - k->nexcl;
    for (uint32_t i = 0; i < k->nlist; i++)
        avail += !in_set(k->excl, k->nexcl, k->list[i]);
    if (avail < nn) {
        cl__err(err, "can never run: needs %u nodes, its %s allow%s %u", nn,
                k->nlist ? "nodelist and exclude list" : "exclude list", k->nlist ? "" : "s",
                avail);
        free(k->list);
        free(k->excl);
        free(k);
        return -1;
    }
    *out = k;
    return 0;
}

void cl__cons_free(job_t *j)
{
    if (!j->cons) return;
    free(j->cons->list);
    free(j->cons->excl);
    free(j->cons);
    j->cons = NULL;
}

/* ------------------------------------------------------------ reservations */

/* Does reservation r keep job j (running from now until end) off its nodes? */
static int blocks(const cl_cluster_t *c, const struct nresv *r, const job_t *j, cl_time_t now,
                  cl_time_t end)
{
    if (r->end <= now || r->start >= end) return 0;
    return r->tenant < 0 ||
           ((uint32_t)r->tenant != j->tenant && (uint32_t)r->tenant != cl__top(c, j->tenant));
}

static cl_time_t job_end(const job_t *j, cl_time_t now)
{
    return j->limit > 0 ? now + j->limit : CL_TIME_INF;
}

static void hide(cl_cluster_t *c, cl_nodeid_t n, int on)
{
    c->nodes[n].xhide = (uint16_t)(c->nodes[n].xhide + (on ? 1 : -1));
    cl__node_update(c, n);
}

static void resv_set(cl_cluster_t *c, struct nresv *r, int on)
{
    if (on) {
        memset(r->ge, 0, sizeof(uint32_t) * c->gpn);
        for (uint32_t i = 0; i < r->n; i++)
            for (uint32_t k = 0; k < c->nodes[r->nodes[i]].eff; k++)
                r->ge[k]++;
    }
    for (uint32_t k = 0; k < c->gpn; k++)
        c->rhid_ge[k] += on ? r->ge[k] : -(uint64_t)r->ge[k];
    for (uint32_t i = 0; i < r->n; i++)
        hide(c, r->nodes[i], on);
    r->applied = (uint8_t)on;
}

/* Hide exactly the reservations that block j; those applied for the job before it and
 * blocking it too stay (successive jobs of a pass are mostly blocked by the same). */
static void resv_apply_for(cl_cluster_t *c, const job_t *j, cl_time_t now)
{
    cl_time_t end = job_end(j, now);
    for (uint32_t i = 0; i < c->nnr; i++) {
        int want = blocks(c, &c->nr[i], j, now, end);
        if (want != c->nr[i].applied) resv_set(c, &c->nr[i], want);
    }
}

void cl__resv_unapply_all(cl_cluster_t *c)
{
    for (uint32_t i = 0; i < c->nnr; i++)
        if (c->nr[i].applied) resv_set(c, &c->nr[i], 0);
}

int cl_resv_add(cl_cluster_t *c, const cl_resv_spec_t *r, cl_error_t *err)
{
    if (!r->id || r->id > UINT32_MAX) {
        cl__err(err, "a reservation's id must be 1..%u", UINT32_MAX);
        return -1;
    }
    for (uint32_t i = 0; i < c->nnr; i++)
        if (c->nr[i].id == r->id) {
            cl__err(err, "reservation id %llu is in use", (unsigned long long)r->id);
            return -1;
        }
    if (!isfinite(r->start) || !isfinite(r->end) || !(r->end > r->start)) {
        cl__err(err, "a reservation's window must end after it starts");
        return -1;
    }
    if (!r->n || r->n > UINT32_MAX) {
        cl__err(err, "a reservation needs at least one node");
        return -1;
    }
    if (check_ids(c, r->nodes, (uint32_t)r->n, "the reservation", err) < 0) return -1;
    if (r->tenant < -1 || (r->tenant >= 0 && (uint32_t)r->tenant >= c->ntn)) {
        cl__err(err, "unknown tenant %d", r->tenant);
        return -1;
    }
    if (c->nnr == c->nr_cap) {
        c->nr_cap = c->nr_cap ? 2 * c->nr_cap : 8;
        c->nr = cl__xrealloc(c->nr, sizeof(struct nresv) * c->nr_cap);
    }
    if (!c->rhid_ge) c->rhid_ge = cl__xcalloc(c->gpn, sizeof(uint64_t));
    struct nresv *x = &c->nr[c->nnr++];
    memset(x, 0, sizeof(*x));
    x->id = r->id;
    x->start = r->start;
    x->end = r->end;
    x->tenant = r->tenant;
    x->n = (uint32_t)r->n;
    x->nodes = sorted_set(r->nodes, &x->n);
    x->ge = cl__xcalloc(c->gpn, sizeof(uint32_t));
    return 0;
}

int cl_resv_remove(cl_cluster_t *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->nnr; i++)
        if (c->nr[i].id == id) {
            CL_ASSERT(!c->nr[i].applied); /* only a pass applies, and it lifts them */
            free(c->nr[i].nodes);
            free(c->nr[i].ge);
            c->nr[i] = c->nr[--c->nnr];
            return 0;
        }
    return -1;
}

uint32_t cl_resv_count(const cl_cluster_t *c)
{
    return c->nnr;
}

void cl__resv_free(cl_cluster_t *c)
{
    for (uint32_t i = 0; i < c->nnr; i++) {
        free(c->nr[i].nodes);
        free(c->nr[i].ge);
    }
    free(c->nr);
    free(c->rhid_ge);
}

cl_time_t cl__resv_wakeup(const cl_cluster_t *c, cl_time_t now)
{
    cl_time_t t = CL_TIME_INF;
    for (uint32_t i = 0; i < c->nnr; i++)
        if (c->nr[i].end > now && c->nr[i].end < t) t = c->nr[i].end;
    return t;
}

/* ------------------------------------------------------------ placement */

/* Nodes from the job's list, in list (topology) order, each with >= need free. */
static int place_list(cl_cluster_t *c, const job_t *j, uint32_t need)
{
    const struct jcons *k = j->cons;
    c->nsel = 0;
    if (c->lv[LV_DOM].cap > 1 && j->nnodes <= c->lv[LV_DOM].cap) {
        /* fits one NVLink domain: never split it (the list is in id order, and a domain's
         * nodes are a range of ids) */
        for (uint32_t i = 0; i < k->nlist && c->nsel < j->nnodes;) {
            uint32_t dom = c->t->parent[0][k->list[i]];
            c->nsel = 0;
            for (; i < k->nlist && c->t->parent[0][k->list[i]] == dom; i++)
                if (c->nodes[k->list[i]].eff >= need && c->nsel < j->nnodes)
                    cl__sel_push(c, k->list[i]);
        }
    } else {
        for (uint32_t i = 0; i < k->nlist && c->nsel < j->nnodes; i++)
            if (c->nodes[k->list[i]].eff >= need) cl__sel_push(c, k->list[i]);
    }
    if (c->nsel < j->nnodes) {
        c->nsel = 0;
        return -1;
    }
    if (j->max_sw) {
        uint32_t leaves = 1, prev = cl__topo_node_level(c->t, c->sel[0], LV_LEAF);
        for (uint32_t i = 1; i < c->nsel; i++) {
            uint32_t l = cl__topo_node_level(c->t, c->sel[i], LV_LEAF);
            leaves += l != prev;
            prev = l;
        }
        if (leaves > j->max_sw) {
            c->nsel = 0;
            return -1;
        }
    }
    return 0;
}

int cl__place_job(cl_cluster_t *c, const job_t *j, cl_time_t now)
{
    if (c->nnr) resv_apply_for(c, j, now);
    c->res_short = 0;
    uint32_t need = cl__job_need(c, j);
    const struct jcons *k = j->cons;
    if (!k) return cl__place_res(c, j, need);
    for (uint32_t i = 0; i < k->nexcl; i++)
        hide(c, k->excl[i], 1);
    int rc = k->nlist ? place_list(c, j, need) : cl__place_res(c, j, need);
    for (uint32_t i = 0; i < k->nexcl; i++)
        hide(c, k->excl[i], 0);
    for (uint32_t i = 0; rc == 0 && k->nlist && i < c->nsel; i++)
        if (!cl__res_fits(c, c->sel[i], j)) { /* its listed nodes lack the CPUs or memory */
            c->nsel = 0;
            c->res_short = 1;
            rc = -1;
        }
    return rc;
}

/* Has reservation r a node that j's lists allow? (A window elsewhere is not its reason.)
 * Cost: the job's nodelist, else the window's nodes only when the exclude list could cover
 * them. */
static int resv_touches(const struct nresv *r, const job_t *j)
{
    const struct jcons *k = j->cons;
    if (!k) return 1;
    if (k->nlist) {
        for (uint32_t i = 0; i < k->nlist; i++)
            if (in_set(r->nodes, r->n, k->list[i]) && !in_set(k->excl, k->nexcl, k->list[i]))
                return 1;
        return 0;
    }
    if (r->n > k->nexcl) return 1;
    for (uint32_t i = 0; i < r->n; i++)
        if (!in_set(k->excl, k->nexcl, r->nodes[i])) return 1;
    return 0;
}

cl_pend_t cl__cons_why(const cl_cluster_t *c, const job_t *j, cl_time_t now)
{
    uint32_t need = cl__job_need(c, j);
    cl_time_t end = job_end(j, now);
    for (uint32_t i = 0; i < c->nnr; i++)
        if (c->nr[i].applied && blocks(c, &c->nr[i], j, now, end) &&
            c->tot[need - 1] + c->rhid_ge[need - 1] >= j->nnodes && resv_touches(&c->nr[i], j))
            return CL_PEND_RESV;
    if ((j->cons || j->excl) && c->tot[j->k - 1] >= j->nnodes) return CL_PEND_CONSTRAINT;
    return CL_PEND_NONE;
}

cl_jobid_t cl__resv_blocking(const cl_cluster_t *c, const job_t *j)
{
    cl_time_t end = job_end(j, c->pass_now);
    for (uint32_t i = 0; i < c->nnr; i++)
        if (blocks(c, &c->nr[i], j, c->pass_now, end) && resv_touches(&c->nr[i], j))
            return c->nr[i].id;
    return 0;
}

int cl__node_allowed_list(const job_t *j, cl_nodeid_t n)
{
    const struct jcons *k = j->cons;
    if (k && k->nlist && !in_set(k->list, k->nlist, n)) return 0;
    return !(k && in_set(k->excl, k->nexcl, n));
}

int cl__node_allowed(const cl_cluster_t *c, const job_t *j, cl_nodeid_t n, cl_time_t now)
{
    if (!cl__node_allowed_list(j, n)) return 0;
    cl_time_t end = cl__deadline(j);
    for (uint32_t i = 0; i < c->nnr; i++)
        if (blocks(c, &c->nr[i], j, now, end) && in_set(c->nr[i].nodes, c->nr[i].n, n))
            return 0;
    return 1;
}

void cl__cons_info(const job_t *j, cl_job_info_t *o)
{
    o->exclusive = j->excl;
    o->nnodelist = j->cons ? j->cons->nlist : 0;
    o->nexclude = j->cons ? j->cons->nexcl : 0;
}
