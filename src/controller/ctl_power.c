/* ctl_power.c - power on the controller (issue 13, docs/power.md): the site's, the pods' and
 * the leaves' budgets and a grid cut as operators set them (`colossus power`, journaled as the
 * store object ("power", "site")), given to the core (admission), and the per-GPU limits the
 * core computes from them (cl_power_limits) sent to the nodes as PowerLimit; the nodes' reports
 * (PowerApplied) say when each has applied them, which `power show` reports as the latest
 * change's delivery (p50/p99/max from the operator's request to each node's report). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/prom.h"
#include "controller/ctl_acct.h"
#include "util/units.h"

#define JOURNAL_KIND "power"
#define JOURNAL_KEY "site"

typedef struct ctl_power {
    double cut_until;     /* wall s when the cut ends by itself; 0: none */
    bool capped;          /* some job has a limit below the default in force */
    bool dirty;           /* running jobs changed: limits to compute again */
    uint64_t seq;         /* of the last PowerLimit sent */
    uint64_t *node_seq;   /* per node: the last PowerLimit sent to it (0: none) */
    uint64_t *node_acked; /* per node: the last one it reported applied */
    /* the latest change that sent limits */
    uint64_t change_seq, change_ms;
    double change_at;
    uint32_t nsent, nacked, nfailed;
    uint32_t *lat_ms; /* [nacked]: from the change to each node's report */
    bool logged;
    double measure_at; /* ctl_now() of the next sample of the running jobs' draw */
    cl_jobid_t *running;
    size_t running_cap;
    /* what each (user, job name) drew when last measured (ctl_name_key: open addressing,
     * key 0 free); journaled as the "power-seen" objects */
    struct seen {
        uint64_t key;
        float w;
        double at;
    } * seen;
    uint32_t seen_mask, nseen;
    bool seen_full; /* logged that the table is full */
    /* the allowed ramp of starting jobs' limits (`power ramp set`): W/s, or % of the site's
     * budget per second */
    double ramp_w_per_s, ramp_pct;
    double ramp_at;    /* ctl_now() of the last ramp step */
    double ramp_next;  /* of the next */
    uint32_t nramping; /* running jobs still ramping after the last update */
    /* the floor between runs: ended runs' GPUs held by the agents' burn, brought down at
     * the allowed ramp (docs/power.md) */
    struct hold *holds;
    size_t nholds, holds_cap;
    double hold_at, hold_next; /* ctl_now() of the last step, of the next */
    double floor_j;            /* burnt above idle by the floor so far (planned) */
    uint32_t hold_steps;       /* steps since the holds began, and the slowest's time */
    uint64_t hold_step_max_us;
    uint64_t *start_mask; /* per node, scratch: a starting job's GPUs */
} ctl_power_t;

/* One ended run's GPUs held: its nodes, the GPUs still held on each (a job starting there
 * takes its own), and the draw each is held at. */
typedef struct hold {
    cl_jobid_t job;
    uint32_t n;
    uint32_t *node;
    uint64_t *gpus;
    uint64_t ngpus;
    double w;
} hold_t;

#define HOLD_MARGIN 0.05 /* the level starts this much above the measured draw (+10 W) */
#define HOLD_FOR_S 5.0   /* an agent releases a hold whose orders stopped this long ago */

#define RAMP_STEP_S 0.5 /* ramping limits are raised this often */

#define SEEN_KIND "power-seen"
#define SEEN_MAX 65536u /* names remembered; a new one past this is not (log once) */

#define POWER_MEASURE_S 5.0  /* a sample of every running job's draw this often */
#define POWER_TELL_FRAC 0.02 /* the core is told a mean that moved by more than this */

static bool budgets_in_force(ctl_t *c)
{
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    if (pc.site_budget_w > 0 || cl_power_cut_pct(c->cluster) > 0) return true;
    uint32_t npods = cl_topo_pods(cl_cluster_topo(c->cluster));
    for (uint32_t p = 0; p < npods; p++) {
        cl_power_level_t l;
        if (cl_power_level(c->cluster, p, &l) == 0 && l.budget_w > 0) return true;
    }
    uint32_t nleaves = cl_topo_leaves(cl_cluster_topo(c->cluster));
    for (uint32_t f = 0; f < nleaves; f++) {
        cl_power_level_t l;
        if (cl_power_leaf_level(c->cluster, f, &l) == 0 && l.budget_w > 0) return true;
    }
    return false;
}

/* The pods (or leaves) with a budget: their names in *names, budgets in *w (the caller frees
 * both); how many. */
static size_t budgeted(ctl_t *c, bool leaf, char ***names, double **w)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    uint32_t n = leaf ? cl_topo_leaves(t) : cl_topo_pods(t);
    size_t k = 0;
    *names = cl_xcalloc(n + 1, sizeof **names);
    *w = cl_xcalloc(n + 1, sizeof **w);
    for (uint32_t i = 0; i < n; i++) {
        cl_power_level_t l;
        int rc =
            leaf ? cl_power_leaf_level(c->cluster, i, &l) : cl_power_level(c->cluster, i, &l);
        if (rc == 0 && l.budget_w > 0) {
            (*names)[k] = (char *)(leaf ? cl_topo_leaf_name(t, i) : cl_topo_pod_name(t, i));
            (*w)[k++] = l.budget_w;
        }
    }
    return k;
}

static void journal(ctl_t *c)
{
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    char **pods, **leaves;
    double *w, *lw;
    size_t n = budgeted(c, false, &pods, &w), nl = budgeted(c, true, &leaves, &lw);
    Colossus__PowerState s = COLOSSUS__POWER_STATE__INIT;
    s.leaves = leaves;
    s.n_leaves = nl;
    s.leaf_budget_w = lw;
    s.n_leaf_budget_w = nl;
    s.site_budget_w = pc.site_budget_w;
    s.cut_pct = cl_power_cut_pct(c->cluster);
    s.cut_until = c->power->cut_until;
    s.pods = pods;
    s.n_pods = n;
    s.pod_budget_w = w;
    s.n_pod_budget_w = n;
    s.ramp_w_per_s = c->power->ramp_w_per_s;
    s.ramp_pct = c->power->ramp_pct;
    ctl_journal_obj(c, JOURNAL_KIND, JOURNAL_KEY, &s.base);
    free(pods);
    free(w);
    free(leaves);
    free(lw);
}

static int64_t pod_index(ctl_t *c, const char *name)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    uint32_t npods = cl_topo_pods(t);
    for (uint32_t p = 0; p < npods; p++)
        if (!strcmp(cl_topo_pod_name(t, p), name)) return p;
    return -1;
}

static int64_t leaf_index(ctl_t *c, const char *name)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    uint32_t n = cl_topo_leaves(t);
    for (uint32_t f = 0; f < n; f++)
        if (!strcmp(cl_topo_leaf_name(t, f), name)) return f;
    return -1;
}

/* What the journal holds, given to the core; a part the core refuses now (the topology
 * changed) is left out with a log line, the rest applied. */
static int load_obj(const char *kind, const char *key, const void *val, size_t len, void *arg)
{
    ctl_t *c = arg;
    if (strcmp(key, JOURNAL_KEY)) return 0;
    Colossus__PowerState *s = colossus__power_state__unpack(NULL, len, val);
    if (!s) {
        ctl_log(c, "power: the journal's power settings do not decode: ignored");
        return 0;
    }
    cl_error_t e;
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    pc.site_budget_w = s->site_budget_w;
    if (cl_power_set(c->cluster, &pc, &e) < 0)
        ctl_log(c, "power: the journal's site budget is refused now: %s", e.msg);
    for (size_t i = 0; i < s->n_pods && i < s->n_pod_budget_w; i++) {
        int64_t p = pod_index(c, s->pods[i]);
        if (p < 0 ||
            cl_power_pod_budget_set(c->cluster, (uint32_t)p, s->pod_budget_w[i], &e) < 0)
            ctl_log(c, "power: the journal's budget of pod %s is refused now: %s", s->pods[i],
                    p < 0 ? "no such pod" : e.msg);
    }
    for (size_t i = 0; i < s->n_leaves && i < s->n_leaf_budget_w; i++) {
        int64_t f = leaf_index(c, s->leaves[i]);
        if (f < 0 ||
            cl_power_leaf_budget_set(c->cluster, (uint32_t)f, s->leaf_budget_w[i], &e) < 0)
            ctl_log(c, "power: the journal's budget of leaf %s is refused now: %s",
                    s->leaves[i], f < 0 ? "no such leaf" : e.msg);
    }
    if (s->cut_pct > 0 && cl_power_cut(c->cluster, s->cut_pct, &e) < 0)
        ctl_log(c, "power: the journal's cut of %g%% is refused now: %s", s->cut_pct, e.msg);
    else
        c->power->cut_until = s->cut_pct > 0 ? s->cut_until : 0;
    c->power->ramp_w_per_s =
        isfinite(s->ramp_w_per_s) && s->ramp_w_per_s > 0 ? s->ramp_w_per_s : 0;
    c->power->ramp_pct = isfinite(s->ramp_pct) && s->ramp_pct > 0 ? s->ramp_pct : 0;
    colossus__power_state__free_unpacked(s, NULL);
    return 0;
}

/* The slot of key in the seen table: its own, else the free one it would take. */
static struct seen *seen_slot(ctl_power_t *pw, uint64_t key)
{
    for (uint32_t i = (uint32_t)(key * 0x9e3779b97f4a7c15ull >> 40) & pw->seen_mask;;
         i = (i + 1) & pw->seen_mask)
        if (pw->seen[i].key == key || !pw->seen[i].key) return &pw->seen[i];
}

/* Remember w for key; false when the table is full and key is new. */
static bool seen_put(ctl_power_t *pw, uint64_t key, float w, double at)
{
    struct seen *e = seen_slot(pw, key);
    if (!e->key) {
        if (pw->nseen >= SEEN_MAX) return false;
        pw->nseen++;
        e->key = key;
    }
    e->w = w;
    e->at = at;
    return true;
}

static int load_seen(const char *kind, const char *key, const void *val, size_t len, void *arg)
{
    ctl_t *c = arg;
    char *end;
    uint64_t k = strtoull(key, &end, 16);
    Colossus__PowerSeen *v = colossus__power_seen__unpack(NULL, len, val);
    if (!v || *end || !k || !(v->w > 0)) {
        ctl_log(c, "power: the journal's measured draw '%s' does not decode: ignored", key);
    } else if (!seen_put(c->power, k, (float)v->w, v->at)) {
        ctl_log(c, "power: more than %u measured names in the journal: the rest ignored",
                SEEN_MAX);
    }
    if (v) colossus__power_seen__free_unpacked(v, NULL);
    return 0;
}

int ctl_power_init(ctl_t *c, cl_error_t *err)
{
    c->power = cl_xcalloc(1, sizeof *c->power);
    c->power->node_seq = cl_xcalloc(c->nnodes + 1, sizeof *c->power->node_seq);
    c->power->node_acked = cl_xcalloc(c->nnodes + 1, sizeof *c->power->node_acked);
    c->power->lat_ms = cl_xcalloc(c->nnodes + 1, sizeof *c->power->lat_ms);
    c->power->dirty = true; /* recovered jobs: their limits go out again */
    c->power->seen_mask = 2 * SEEN_MAX - 1;
    c->power->seen = cl_xcalloc(2 * SEEN_MAX, sizeof *c->power->seen);
    c->power->start_mask = cl_xcalloc(c->nnodes + 1, sizeof *c->power->start_mask);
    if (cl_store_objs_load(c->store, JOURNAL_KIND, load_obj, c, err) < 0) return -1;
    return cl_store_objs_load(c->store, SEEN_KIND, load_seen, c, err);
}

void ctl_power_free(ctl_t *c)
{
    if (!c->power) return;
    free(c->power->node_seq);
    free(c->power->node_acked);
    free(c->power->lat_ms);
    free(c->power->running);
    free(c->power->seen);
    for (size_t i = 0; i < c->power->nholds; i++) {
        free(c->power->holds[i].node);
        free(c->power->holds[i].gpus);
    }
    free(c->power->holds);
    free(c->power->start_mask);
    free(c->power);
    c->power = NULL;
}

void ctl_power_dirty(ctl_t *c)
{
    if (c->power) c->power->dirty = true;
}

/* The allowed ramp in force, W/s: as set, or its share of the site's budget; 0: none. */
static double ramp_rate(ctl_t *c)
{
    if (c->power->ramp_w_per_s > 0) return c->power->ramp_w_per_s;
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    return c->power->ramp_pct * pc.site_budget_w / 100;
}

/* The GPUs of the starting job j leave the holds they were in (its own PowerLimit ends the
 * agents' burn on them); the highest draw they were held at, 0: none. */
static double take_over(ctl_t *c, const cl_alloc_t *a, size_t na)
{
    ctl_power_t *pw = c->power;
    double level = 0;
    if (!pw->nholds) return 0;
    for (size_t k = 0; k < na; k++)
        if (a[k].node < c->nnodes) pw->start_mask[a[k].node] = a[k].gpus;
    for (size_t h = 0; h < pw->nholds; h++) {
        hold_t *x = &pw->holds[h];
        for (uint32_t k = 0; k < x->n; k++) {
            uint64_t both = x->gpus[k] & pw->start_mask[x->node[k]];
            if (!both) continue;
            x->gpus[k] &= ~both;
            x->ngpus -= (uint64_t)__builtin_popcountll(both);
            if (x->w > level) level = x->w;
        }
    }
    for (size_t k = 0; k < na; k++)
        if (a[k].node < c->nnodes) pw->start_mask[a[k].node] = 0;
    return level; /* holds left with no GPU go at the next step */
}

#define STALL_VAR "COLOSSUS_POWER_STALL"

char **ctl_power_launch_env(ctl_t *c, const ctl_job_t *j, size_t *n, char ***extra)
{
    *n = j->envc;
    *extra = NULL;
    if (!c->power || !(ramp_rate(c) > 0)) return j->env;
    for (size_t i = 0; i < j->envc; i++)
        if (!strncmp(j->env[i], STALL_VAR "=", sizeof STALL_VAR)) return j->env; /* its own */
    *extra = cl_xmalloc((j->envc + 1) * sizeof **extra);
    if (j->envc) memcpy(*extra, j->env, j->envc * sizeof **extra);
    (*extra)[(*n)++] = STALL_VAR "=burn";
    return *extra;
}

void ctl_power_job_started(ctl_t *c, ctl_job_t *j)
{
    j->power_ramp_w = 0;
    if (!c->power) return;
    if (j->power_gpus) ctl_power_job_released(c, j); /* a restart in place: the last run's */
    if (!(ramp_rate(c) > 0)) return;
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    size_t na = 0;
    const cl_alloc_t *a = cl_job_alloc(c->cluster, j->id, &na);
    j->power_nnodes = (uint32_t)na;
    j->power_nodes = cl_xmalloc((na + 1) * sizeof *j->power_nodes);
    j->power_gpus = cl_xmalloc((na + 1) * sizeof *j->power_gpus);
    for (size_t k = 0; k < na; k++) {
        j->power_nodes[k] = a[k].node;
        j->power_gpus[k] = a[k].gpus;
    }
    double held = take_over(c, a, na);
    j->power_send = true;
    /* from the floor, raised at the allowed rate; from a hold's draw when it takes held GPUs
     * (a restart: no drop to the floor and back) */
    j->power_ramp_w = held > pc.gpu_min_w ? held : pc.gpu_min_w;
    if (!c->power->nramping) c->power->ramp_at = ctl_now(c); /* its first step starts now */
    c->power->nramping++;
    c->power->dirty = true;
}

/* mW for the wire: 0 (the default) at or above the GPUs' default limit, or with nothing in
 * force. */
static uint32_t wire_mw(double w, const cl_power_conf_t *pc, bool in_force)
{
    if (!in_force || w >= pc->gpu_max_w - 0.5) return 0;
    return (uint32_t)lround(w * 1000);
}

/* One node of a job, by its carrier and GPUs: a job's nodes sorted so, one PowerLimit goes
 * to each run of a connection and GPU set (a hollow agent's or a relay's many nodes in one
 * message rather than one each: at 550,000 nodes the per-message cost was most of the time
 * a cut took, docs/benchmarks.md). */
typedef struct send_ent {
    uintptr_t conn;
    uint64_t gpus;
    uint32_t node;
} send_ent_t;

static int cmp_ent(const void *a, const void *b)
{
    const send_ent_t *x = a, *y = b;
    if (x->conn != y->conn) return x->conn < y->conn ? -1 : 1;
    if (x->gpus != y->gpus) return x->gpus < y->gpus ? -1 : 1;
    return (x->node > y->node) - (x->node < y->node);
}

#define NODES_PER_MSG 100000u /* ~0.5 MB of node ids: well inside a frame */

/* Send j's limit mw to its connected nodes; how many nodes it went to. */
static uint32_t send_job(ctl_t *c, ctl_job_t *j, uint32_t mw, uint64_t seq)
{
    size_t na = 0, n = 0;
    const cl_alloc_t *a = cl_job_alloc(c->cluster, j->id, &na);
    send_ent_t *v = cl_xmalloc((na + 1) * sizeof *v);
    for (size_t k = 0; a && k < na; k++)
        if (a[k].node < c->nnodes && c->nodes[a[k].node].conn)
            v[n++] = (send_ent_t){(uintptr_t)c->nodes[a[k].node].conn, a[k].gpus, a[k].node};
    qsort(v, n, sizeof *v, cmp_ent);
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    uint32_t *ids = cl_xmalloc((n + 1) * sizeof *ids);
    for (size_t k = 0; k < n;) {
        size_t e = k;
        while (e < n && e - k < NODES_PER_MSG && v[e].conn == v[k].conn &&
               v[e].gpus == v[k].gpus)
            e++;
        Colossus__GpuLimit gl[CL_MAX_GPUS_PER_NODE], *gp[CL_MAX_GPUS_PER_NODE];
        size_t ng = 0;
        for (uint32_t g = 0; g < CL_MAX_GPUS_PER_NODE; g++) {
            if (!(v[k].gpus & (1ull << g))) continue;
            colossus__gpu_limit__init(&gl[ng]);
            gl[ng].index = g;
            gl[ng].limit_mw = mw;
            gp[ng] = &gl[ng];
            ng++;
        }
        for (size_t x = k; x < e; x++) {
            ids[x - k] = v[x].node;
            c->power->node_seq[v[x].node] = seq;
        }
        Colossus__PowerLimit pl = COLOSSUS__POWER_LIMIT__INIT;
        pl.nodes = ids;
        pl.n_nodes = e - k;
        pl.seq = seq;
        pl.job = j->id;
        pl.gpus = gp;
        pl.n_gpus = ng;
        pl.hold_s = j->power_gpus && ramp_rate(c) > 0 ? HOLD_FOR_S : 0;
        pl.idle_mw = (uint32_t)lround(pc.gpu_idle_w * 1000);
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_POWER_LIMIT;
        m.power_limit = &pl;
        ctl_send(c, (ctl_sink_t *)v[k].conn, &m);
        k = e;
    }
    free(ids);
    free(v);
    return (uint32_t)n;
}

/* One step of the ramping jobs' limits (lim: the plan's, by job): each is raised toward the
 * plan's limit by its share of the allowed ramp since the last step (cl_power_ramp), and
 * lim[] says the limit to send; a job that reached the plan's limit stops ramping. A capped
 * job whose plan rises (a cut lifted, a budget raised) ramps from where it is. */
static void ramp_step(ctl_t *c, cl_power_limit_t *lim, size_t n)
{
    ctl_power_t *pw = c->power;
    double now = ctl_now(c), dt = now - pw->ramp_at, rate = ramp_rate(c);
    pw->ramp_at = now;
    if (!(rate > 0) && !pw->nramping) return; /* no ramp set, none left to finish */
    if (dt < 0) dt = 0;
    if (dt > 2 * RAMP_STEP_S) dt = 2 * RAMP_STEP_S; /* a late tick is no licence to jump */
    double *tgt = cl_xmalloc((n + 1) * sizeof *tgt), *cur = cl_xmalloc((n + 1) * sizeof *cur);
    uint64_t *gpus = cl_xmalloc((n + 1) * sizeof *gpus);
    size_t *at = cl_xmalloc((n + 1) * sizeof *at), m = 0;
    bool was = pw->nramping > 0;
    for (size_t i = 0; i < n; i++) {
        ctl_job_t *j = ctl_job_get(c, lim[i].job);
        if (!j || j->state != CL_JOB_RUNNING) continue;
        if (!(j->power_ramp_w > 0) && rate > 0 && j->power_mw &&
            lim[i].w > j->power_mw / 1e3 + 0.5) {
            /* capped, and the plan gives it more (a cut lifted, a budget raised): raised
             * from where it is at the allowed rate, as a starting job is */
            j->power_ramp_w = j->power_mw / 1e3;
            if (!was) dt = 0; /* the first step of a ramp starts now */
        }
        if (!(j->power_ramp_w > 0)) continue;
        tgt[m] = lim[i].w;
        cur[m] = rate > 0 ? j->power_ramp_w : lim[i].w; /* the ramp lifted: at once */
        gpus[m] = (uint64_t)j->nodes * j->gpus_per_node;
        at[m++] = i;
    }
    cl_power_ramp(tgt, gpus, cur, m, rate * dt);
    pw->nramping = 0;
    for (size_t k = 0; k < m; k++) {
        ctl_job_t *j = ctl_job_get(c, lim[at[k]].job);
        bool done = cur[k] >= tgt[k] - 0.5;
        j->power_ramp_w = done ? 0 : cur[k];
        lim[at[k]].w = done ? tgt[k] : cur[k];
        pw->nramping += !done;
    }
    if (pw->nramping && pw->ramp_next <= now) pw->ramp_next = now + RAMP_STEP_S;
    free(tgt);
    free(cur);
    free(gpus);
    free(at);
}

/* Compute the limits again and send the ones that changed; t0_ms: when what changed them
 * was asked (monotonic), the start of the delivery figures. */
static void update(ctl_t *c, uint64_t t0_ms)
{
    ctl_power_t *pw = c->power;
    pw->dirty = false;
    bool in_force = budgets_in_force(c) || pw->nramping || ramp_rate(c) > 0;
    if (!in_force && !pw->capped) return; /* every GPU at its default: nothing to send */
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    cl_power_limit_t *lim = NULL;
    size_t n = cl_power_limits(c->cluster, &lim, NULL);
    ramp_step(c, lim, n);
    uint64_t seq = pw->seq + 1;
    uint32_t sent = 0;
    bool capped = false;
    for (size_t i = 0; i < n; i++) {
        ctl_job_t *j = ctl_job_get(c, lim[i].job);
        if (!j || j->state != CL_JOB_RUNNING) continue;
        uint32_t mw = wire_mw(lim[i].w, &pc, in_force);
        capped |= mw != 0;
        if (mw == j->power_mw && !j->power_send) continue;
        j->power_send = false;
        j->power_mw = mw;
        j->power_seq = seq;
        sent += send_job(c, j, mw, seq);
    }
    free(lim);
    pw->capped = capped;
    if (!sent) return;
    pw->seq = seq;
    pw->change_seq = seq;
    pw->change_ms = t0_ms;
    pw->change_at = ctl_now(c);
    pw->nsent = sent;
    pw->nacked = pw->nfailed = 0;
    pw->logged = false;
    ctl_log(c, "power: limits change %" PRIu64 " sent to %u nodes", seq, sent);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The latest change's delivery: p50/p99/max of its nodes' reports so far. */
static void apply_fill(ctl_t *c, Colossus__PowerApply *a)
{
    ctl_power_t *pw = c->power;
    colossus__power_apply__init(a);
    a->seq = pw->change_seq;
    a->at = pw->change_at;
    a->nodes = pw->nsent;
    a->acked = pw->nacked;
    a->failed = pw->nfailed;
    if (!pw->nacked) return;
    uint32_t *v = cl_xmalloc(pw->nacked * sizeof *v);
    memcpy(v, pw->lat_ms, pw->nacked * sizeof *v);
    qsort(v, pw->nacked, sizeof *v, cmp_u32);
    a->p50_ms = v[(pw->nacked - 1) / 2];
    a->p99_ms = v[(size_t)ceil(0.99 * pw->nacked) - 1];
    a->max_ms = v[pw->nacked - 1];
    free(v);
}

/* One node's report: 1 when it counts for the latest change. */
static int applied_one(ctl_t *c, ctl_sink_t *conn, uint32_t n, const Colossus__PowerApplied *a,
                       uint64_t now)
{
    ctl_power_t *pw = c->power;
    if (n >= c->nnodes || c->nodes[n].conn != conn) return 0; /* not its carrier */
    if (a->seq != pw->node_seq[n] || pw->node_acked[n] >= a->seq) return 0; /* stale, twice */
    pw->node_acked[n] = a->seq;
    if (a->error[0])
        ctl_log(c, "power: node %s could not apply limits change %" PRIu64 ": %s",
                c->nodes[n].name, a->seq, a->error);
    if (a->seq < pw->change_seq || pw->nacked >= pw->nsent) return 0;
    pw->lat_ms[pw->nacked++] = (uint32_t)(now > pw->change_ms ? now - pw->change_ms : 0);
    pw->nfailed += a->error[0] != 0;
    return 1;
}

void ctl_power_applied(ctl_t *c, ctl_sink_t *conn, const Colossus__PowerApplied *a)
{
    ctl_power_t *pw = c->power;
    uint64_t now = ctl_mono_ms(c);
    int counted = 0;
    for (size_t i = 0; i < a->n_nodes; i++)
        counted |= applied_one(c, conn, a->nodes[i], a, now);
    if (counted && pw->nacked == pw->nsent && !pw->logged) {
        Colossus__PowerApply ap;
        apply_fill(c, &ap);
        pw->logged = true;
        ctl_log(c,
                "power: limits change %" PRIu64
                " applied on all %u nodes (%u failed): p50 %.0f "
                "ms, p99 %.0f ms, max %.0f ms",
                ap.seq, ap.nodes, ap.failed, ap.p50_ms, ap.p99_ms, ap.max_ms);
    }
}

/* The GPUs of mask on node n in its latest telemetry (fresh: no older than two samples): their
 * W added to *w, their number to *ng (none for hollow nodes, no NVML). */
static void node_draw(ctl_t *c, uint32_t n, uint64_t mask, double *w, uint32_t *ng)
{
    if (n >= c->nnodes || !c->nodes[n].alive) return;
    double age;
    const Colossus__NodeHealth *h = ctl_health_telemetry_at(c, n, &age);
    if (!h || age > 2 * POWER_MEASURE_S) return;
    for (size_t g = 0; g < h->n_gpus; g++) {
        const Colossus__GpuTelemetry *x = h->gpus[g];
        if (x->index >= CL_MAX_GPUS_PER_NODE || !(mask & (1ull << x->index)) || x->lost ||
            !(x->valid & 1u))
            continue;
        *w += x->power_mw / 1e3;
        (*ng)++;
    }
}

/* Job j's measured draw now, mean W per GPU over its GPUs in its nodes' telemetry; 0 when
 * none reported. */
static double job_draw(ctl_t *c, const ctl_job_t *j)
{
    size_t na = 0;
    const cl_alloc_t *a = cl_job_alloc(c->cluster, j->id, &na);
    double w = 0;
    uint32_t n = 0;
    for (size_t k = 0; a && k < na; k++)
        node_draw(c, a[k].node, a[k].gpus, &w, &n);
    return n ? w / n : 0;
}

/* ---- the floor between runs ---- */

/* Hold x's GPUs at w each in the core (0: ended), so admission counts the floor at every
 * level until the hold ends (a GPU a job has taken meanwhile is the job's). */
static void hold_core(ctl_t *c, const hold_t *x, double w)
{
    cl_error_t err;
    for (uint32_t k = 0; k < x->n; k++)
        if (x->gpus[k] && cl_power_hold(c->cluster, x->node[k], x->gpus[k], w, &err) < 0)
            ctl_log(c, "power: the core refused job %" PRIu64 "'s hold: %s", x->job, err.msg);
}

/* One PowerHold (draw mW, 0: release) to each connection carrying nodes of hold x. */
/* Node k of hold x's carrier now; NULL: nothing to send there (no GPU left, not connected). */
static ctl_sink_t *hold_conn(ctl_t *c, const hold_t *x, uint32_t k)
{
    return x->gpus[k] && x->node[k] < c->nnodes ? c->nodes[x->node[k]].conn : NULL;
}

/* One PowerHold (draw mW, 0: release) per run of x's nodes on one connection: x's nodes are
 * sorted by carrier when the hold is made (hold_sort), so a step is one pass with no sort; a
 * node that reconnected since only splits a run. */
static void hold_send(ctl_t *c, const hold_t *x, uint32_t draw_mw)
{
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    uint32_t *ids = cl_xmalloc((x->n + 1) * sizeof *ids);
    for (uint32_t k = 0; k < x->n;) {
        ctl_sink_t *conn = hold_conn(c, x, k), *o;
        if (!conn) {
            k++;
            continue;
        }
        size_t m = 0;
        uint32_t e = k;
        for (; e < x->n && m < NODES_PER_MSG; e++) {
            if (!(o = hold_conn(c, x, e))) continue;
            if (o != conn) break;
            ids[m++] = x->node[e];
        }
        Colossus__PowerHold ph = COLOSSUS__POWER_HOLD__INIT;
        ph.nodes = ids;
        ph.n_nodes = m;
        ph.job = x->job;
        ph.draw_mw = draw_mw;
        ph.idle_mw = (uint32_t)lround(pc.gpu_idle_w * 1000);
        ph.for_s = HOLD_FOR_S;
        Colossus__Msg msg = COLOSSUS__MSG__INIT;
        msg.body_case = COLOSSUS__MSG__BODY_POWER_HOLD;
        msg.power_hold = &ph;
        ctl_send(c, conn, &msg);
        k = e;
    }
    free(ids);
}

/* x's nodes (and their GPUs) in the order of their carriers now, for hold_send. */
static void hold_sort(ctl_t *c, hold_t *x)
{
    send_ent_t *v = cl_xmalloc((x->n + 1) * sizeof *v);
    for (uint32_t k = 0; k < x->n; k++) {
        uint32_t n = x->node[k];
        v[k] = (send_ent_t){n < c->nnodes ? (uintptr_t)c->nodes[n].conn : 0, x->gpus[k], n};
    }
    qsort(v, x->n, sizeof *v, cmp_ent);
    for (uint32_t k = 0; k < x->n; k++) {
        x->node[k] = v[k].node;
        x->gpus[k] = v[k].gpus;
    }
    free(v);
}

void ctl_power_job_released(ctl_t *c, ctl_job_t *j)
{
    ctl_power_t *pw = c->power;
    if (!pw || !j->power_gpus) return;
    hold_t x = {
        .job = j->id, .n = j->power_nnodes, .node = j->power_nodes, .gpus = j->power_gpus};
    j->power_nodes = NULL;
    j->power_gpus = NULL;
    j->power_nnodes = 0;
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    /* held from a little above what it drew (its GPUs' latest telemetry, which may lag)
     * within its limit, else from its limit: an agent never raises a held GPU, it stays at
     * its own draw until this level passes below it, so the draw never falls faster than
     * planned */
    double lim = j->power_mw ? j->power_mw / 1e3 : pc.gpu_max_w, w = 0;
    uint32_t ng = 0;
    for (uint32_t k = 0; k < x.n; k++) {
        node_draw(c, x.node[k], x.gpus[k], &w, &ng);
        x.ngpus += (uint64_t)__builtin_popcountll(x.gpus[k]);
    }
    x.w = ng ? w / ng * (1 + HOLD_MARGIN) + 10 : lim;
    if (x.w > lim) x.w = lim;
    hold_sort(c, &x);
    if (!x.ngpus || !(x.w > pc.gpu_idle_w + 0.5)) { /* nothing above idle to bring down */
        hold_send(c, &x, 0);
        free(x.node);
        free(x.gpus);
        return;
    }
    if (pw->nholds == pw->holds_cap) {
        pw->holds_cap = pw->holds_cap ? 2 * pw->holds_cap : 8;
        pw->holds = cl_xrealloc(pw->holds, pw->holds_cap * sizeof *pw->holds);
    }
    if (!pw->nholds) { /* the first step a step from now */
        pw->hold_at = ctl_now(c);
        pw->hold_next = pw->hold_at + RAMP_STEP_S;
    }
    pw->holds[pw->nholds++] = x;
    hold_core(c, &x, x.w);
    ctl_log(c, "power: job %" PRIu64 "'s %" PRIu64 " GPUs held at %.0f W, ramping down", x.job,
            x.ngpus, x.w);
}

/* One step of the holds: every held GPU brought down toward idle by its share of the allowed
 * ramp since the last step (evenly per GPU, cl_power_ramp on the negated draws); a hold that
 * reached idle is released, one whose GPUs all went to new jobs dropped; with no ramp in
 * force (lifted meanwhile) all are released at once. */
static void hold_step(ctl_t *c)
{
    ctl_power_t *pw = c->power;
    double t0_us = cl_now_us();
    double now = ctl_now(c), dt = now - pw->hold_at, rate = ramp_rate(c);
    pw->hold_at = now;
    pw->hold_next = now + RAMP_STEP_S;
    if (dt < 0) dt = 0;
    if (dt > 2 * RAMP_STEP_S) dt = 2 * RAMP_STEP_S; /* a late tick is no licence to drop */
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    size_t n = pw->nholds;
    double *tgt = cl_xmalloc((n + 1) * sizeof *tgt), *cur = cl_xmalloc((n + 1) * sizeof *cur);
    uint64_t *gpus = cl_xmalloc((n + 1) * sizeof *gpus);
    for (size_t i = 0; i < n; i++) {
        hold_t *x = &pw->holds[i];
        pw->floor_j += (x->w - pc.gpu_idle_w) * (double)x->ngpus * dt;
        tgt[i] = -pc.gpu_idle_w;
        cur[i] = rate > 0 ? -x->w : tgt[i];
        gpus[i] = x->ngpus;
    }
    cl_power_ramp(tgt, gpus, cur, n, rate * dt);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        hold_t *x = &pw->holds[i];
        x->w = -cur[i];
        bool done = x->w <= pc.gpu_idle_w + 0.5 || !x->ngpus;
        if (x->ngpus) hold_send(c, x, done ? 0 : (uint32_t)lround(x->w * 1000));
        if (x->ngpus) hold_core(c, x, done ? 0 : x->w);
        if (!done) {
            pw->holds[m++] = *x;
            continue;
        }
        if (x->ngpus) ctl_log(c, "power: job %" PRIu64 "'s GPUs released at idle", x->job);
        free(x->node);
        free(x->gpus);
    }
    pw->nholds = m;
    free(tgt);
    free(cur);
    free(gpus);
    uint64_t us = (uint64_t)(cl_now_us() - t0_us);
    pw->hold_steps++;
    if (us > pw->hold_step_max_us) pw->hold_step_max_us = us;
    if (!m) {
        ctl_log(c, "power: the floor's holds ended: %u steps, the slowest %.1f ms",
                pw->hold_steps, pw->hold_step_max_us / 1e3);
        pw->hold_steps = 0;
        pw->hold_step_max_us = 0;
    }
}

/* A sample of every running job's draw: its mean over all the samples of all its runs is
 * what the core projects for it (cl_job_power_measured: admission at a restart, the limits'
 * plan), once it moved by more than POWER_TELL_FRAC. */
static void measure(ctl_t *c)
{
    ctl_power_t *pw = c->power;
    size_t n = cl_jobs_running(c->cluster, pw->running, pw->running_cap);
    if (n > pw->running_cap) {
        pw->running_cap = n + n / 2;
        pw->running = cl_xrealloc(pw->running, pw->running_cap * sizeof *pw->running);
        n = cl_jobs_running(c->cluster, pw->running, pw->running_cap);
    }
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    for (size_t i = 0; i < n; i++) {
        ctl_job_t *j = ctl_job_get(c, pw->running[i]);
        if (!j) continue;
        double w = job_draw(c, j);
        if (w <= 0) continue;
        j->power_sum_w += w;
        j->power_samples++;
        double mean = j->power_sum_w / j->power_samples;
        if (mean > pc.gpu_max_w) mean = pc.gpu_max_w;
        if (j->power_told_w > 0 &&
            fabs(mean - j->power_told_w) <= POWER_TELL_FRAC * j->power_told_w)
            continue;
        cl_error_t e;
        if (cl_job_power_measured(c->cluster, j->id, mean, &e) < 0) {
            ctl_log(c, "power: job %" PRIu64 "'s measured draw: %s", j->id, e.msg);
            continue;
        }
        j->power_told_w = (float)mean;
        pw->dirty = true;       /* its projection moved: the limits' plan again, */
        c->sched_needed = true; /* and admission's headroom */
    }
}

void ctl_power_job_new(ctl_t *c, ctl_job_t *j, uint64_t key)
{
    const struct seen *e = seen_slot(c->power, key);
    if (!e->key) return;
    cl_error_t err;
    if (cl_job_power_measured(c->cluster, j->id, e->w, &err) < 0)
        ctl_log(c, "power: job %" PRIu64 ": the draw of its name's last run: %s", j->id,
                err.msg);
}

void ctl_power_job_ended(ctl_t *c, ctl_job_t *j)
{
    ctl_power_job_released(c, j);
    if (!j->power_samples) return;
    uint64_t key = ctl_name_key(j->user, j->name);
    float w = (float)(j->power_sum_w / j->power_samples);
    double now = ctl_now(c);
    if (!seen_put(c->power, key, w, now)) {
        if (!c->power->seen_full)
            ctl_log(c, "power: %u job names' draws remembered: no more", SEEN_MAX);
        c->power->seen_full = true;
        return;
    }
    Colossus__PowerSeen v = COLOSSUS__POWER_SEEN__INIT;
    v.w = w;
    v.at = now;
    char k[24];
    snprintf(k, sizeof k, "%016" PRIx64, key);
    ctl_journal_obj(c, SEEN_KIND, k, &v.base);
}

void ctl_power_tick(ctl_t *c)
{
    ctl_power_t *pw = c->power;
    if (pw->cut_until > 0 && ctl_now(c) >= pw->cut_until) {
        cl_error_t e;
        if (cl_power_cut(c->cluster, 0, &e) == 0) {
            pw->cut_until = 0;
            journal(c);
            ctl_log(c, "power: the cut's time is up: budgets restored");
            c->sched_needed = true;
            pw->dirty = true;
        }
    }
    if (pw->nramping && ctl_now(c) >= pw->ramp_next) {
        pw->ramp_next = ctl_now(c) + RAMP_STEP_S;
        pw->dirty = true;
    }
    if (pw->nholds && ctl_now(c) >= pw->hold_next) hold_step(c);
    if (ctl_now(c) >= pw->measure_at) {
        pw->measure_at = ctl_now(c) + POWER_MEASURE_S;
        measure(c);
    }
    if (pw->dirty) update(c, ctl_mono_ms(c));
}

/* ---- power show ---- */

static void level_fill(const cl_power_level_t *l, const char *name, Colossus__PowerLevel *o)
{
    colossus__power_level__init(o);
    o->name = (char *)name;
    o->budget_w = l->budget_w;
    o->limit_w = l->limit_w;
    o->draw_w = l->draw_w;
    o->has_budget = l->budget_w > 0;
    o->headroom_w = o->has_budget && isfinite(l->headroom_w) ? l->headroom_w : 0;
    o->gpus = l->gpus;
    o->gpus_alloc = l->gpus_alloc;
}

/* The answer of show and of every change: o's arrays are the caller's to free with
 * ctl_power_info_release(). */
static bool cap_seen(ctl_t *c, const ctl_caller_t *k, const ctl_job_t *j)
{
    return j && j->state == CL_JOB_RUNNING && j->power_mw &&
           (!k || k->sees_all || ctl_caller_sees_tenant(c, k, j->tenant_ix));
}

/* k (NULL: everything) sees the caps of the jobs it may see; the levels count every GPU. */
static void info_fill(ctl_t *c, const ctl_caller_t *k, Colossus__PowerInfo *o)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    uint32_t npods = cl_topo_pods(t);
    colossus__power_info__init(o);
    cl_power_conf_t pc;
    cl_power_get(c->cluster, &pc);
    Colossus__PowerLevel **pp = ctl_items(npods + 1, sizeof **pp);
    cl_power_level_t l;
    cl_power_level(c->cluster, -1, &l);
    level_fill(&l, "site", pp[0]);
    pp[0]->level = "site";
    for (uint32_t p = 0; p < npods; p++) {
        cl_power_level(c->cluster, p, &l);
        level_fill(&l, cl_topo_pod_name(t, p), pp[p + 1]);
        pp[p + 1]->level = "pod";
    }
    /* the leaves with a budget (a leaf's index by its place in the list: -1 none) */
    uint32_t nleaves = cl_topo_leaves(t), nlb = 0;
    int32_t *leaf_at = cl_xmalloc((nleaves + 1) * sizeof *leaf_at);
    for (uint32_t f = 0; f < nleaves; f++) {
        leaf_at[f] = -1;
        if (cl_power_leaf_level(c->cluster, f, &l) == 0 && l.budget_w > 0)
            leaf_at[f] = (int32_t)nlb++;
    }
    Colossus__PowerLevel **lv = ctl_items(nlb, sizeof **lv);
    for (uint32_t f = 0; f < nleaves; f++) {
        if (leaf_at[f] < 0) continue;
        cl_power_leaf_level(c->cluster, f, &l);
        Colossus__PowerLevel *x = lv[leaf_at[f]];
        level_fill(&l, cl_topo_leaf_name(t, f), x);
        x->level = "leaf";
        x->pod = (char *)cl_topo_pod_name(t, cl_topo_leaf_pod(t, f));
    }
    /* measured: the nodes' latest telemetry */
    for (uint32_t i = 0; i < c->nnodes; i++) {
        const Colossus__NodeHealth *h = c->nodes[i].alive ? ctl_health_telemetry(c, i) : NULL;
        if (!h) continue;
        double w = 0;
        for (size_t g = 0; g < h->n_gpus; g++)
            if (!h->gpus[g]->lost && (h->gpus[g]->valid & 1u)) w += h->gpus[g]->power_mw / 1e3;
        pp[0]->measured_w += w;
        pp[1 + cl_topo_node_pod(t, i)]->measured_w += w;
        int32_t at = nlb ? leaf_at[cl_topo_node_leaf(t, i)] : -1;
        if (at >= 0) lv[at]->measured_w += w;
    }
    /* the caps in force, by job */
    size_t ncap = 0;
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ncap += cap_seen(c, k, ctl_job_get(c, id));
    }
    Colossus__PowerCap **caps = ctl_items(ncap, sizeof **caps);
    size_t m = 0;
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (!j || j->state != CL_JOB_RUNNING || !j->power_mw) continue;
        bool seen = cap_seen(c, k, j);
        Colossus__PowerCap tmp, *x = seen ? caps[m++] : &tmp;
        colossus__power_cap__init(x);
        x->job = id;
        x->limit_w = j->power_mw / 1e3;
        size_t na = 0;
        const cl_alloc_t *a = cl_job_alloc(c->cluster, id, &na);
        for (size_t q = 0; a && q < na; q++) {
            uint32_t g = (uint32_t)__builtin_popcountll(a[q].gpus);
            x->gpus += g;
            x->nodes++;
            x->nodes_acked +=
                a[q].node < c->nnodes && c->power->node_acked[a[q].node] >= j->power_seq;
            pp[0]->gpus_capped += g;
            pp[1 + cl_topo_node_pod(t, a[q].node)]->gpus_capped += g;
            int32_t at = nlb ? leaf_at[cl_topo_node_leaf(t, a[q].node)] : -1;
            if (at >= 0) lv[at]->gpus_capped += g;
        }
    }
    free(leaf_at);
    o->site = pp[0];
    o->pods = pp + 1;
    o->n_pods = npods;
    o->leaves = lv;
    o->n_leaves = nlb;
    o->cut_pct = cl_power_cut_pct(c->cluster);
    o->cut_until = c->power->cut_until;
    o->caps = caps;
    o->n_caps = m;
    o->gpu_min_w = pc.gpu_min_w;
    o->gpu_max_w = pc.gpu_max_w;
    o->ramp_w_per_s = ramp_rate(c);
    o->ramp_pct = c->power->ramp_pct;
    o->jobs_ramping = c->power->nramping;
    o->runs_held = (uint32_t)c->power->nholds;
    for (size_t i = 0; i < c->power->nholds; i++) {
        o->gpus_held += c->power->holds[i].ngpus;
        o->held_w += c->power->holds[i].w * (double)c->power->holds[i].ngpus;
    }
    o->floor_energy_j = c->power->floor_j;
    Colossus__PowerApply *ap = cl_xmalloc(sizeof *ap);
    apply_fill(c, ap);
    o->apply = ap;
    int short_ = 0;
    cl_power_limit_t *lim = NULL;
    cl_power_limits(c->cluster, &lim, &short_);
    free(lim);
    o->budget_short = short_;
}

static void info_release(Colossus__PowerInfo *o)
{
    free(o->pods - 1); /* the levels' array, the site's first (ctl_items: one block) */
    free(o->leaves);
    free(o->caps);
    free(o->apply);
}

static void reply_info(ctl_t *c, const ctl_caller_t *k, ctl_sink_t *reply, uint64_t req,
                       const char *text)
{
    Colossus__PowerInfo info;
    info_fill(c, k, &info);
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = req;
    rs.ok = true;
    rs.power = &info;
    rs.data.data = (uint8_t *)text;
    rs.data.len = text ? strlen(text) : 0;
    ctl_reply(c, reply, &rs);
    info_release(&info);
}

void ctl_op_power_show(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                       ctl_sink_t *reply)
{
    reply_info(c, k, reply, r->req, NULL);
}

const char *ctl_power_op_label(const Colossus__Request *r, char *target, size_t len)
{
    const Colossus__PowerSpec *s = r->power;
    switch (s->op) {
    case COLOSSUS__POWER_SPEC__OP__CUT:
        snprintf(target, len, "%g%%", s->cut_pct);
        return "power cut";
    case COLOSSUS__POWER_SPEC__OP__RESTORE:
        snprintf(target, len, "site");
        return "power restore";
    case COLOSSUS__POWER_SPEC__OP__RAMP:
        snprintf(target, len, "site");
        return "power ramp set";
    default:
        if (s->leaf[0])
            snprintf(target, len, "leaf %.64s", s->leaf);
        else
            snprintf(target, len, "%.64s", s->pod[0] ? s->pod : "site");
        return "power budget set";
    }
}

void ctl_op_power(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply)
{
    uint64_t t0 = ctl_mono_ms(c);
    const Colossus__PowerSpec *s = r->power;
    char target[80], detail[160], wb[32];
    const char *label = ctl_power_op_label(r, target, sizeof target);
    cl_error_t e = {{0}};
    int rc = -1;
    double until = c->power->cut_until;
    switch (s->op) {
    case COLOSSUS__POWER_SPEC__OP__BUDGET: {
        if (!isfinite(s->budget_w) || s->budget_w < 0 || s->budget_w > 1e11) {
            cl_err(&e, "a budget is 0 (none) to 100 GW, not %g W", s->budget_w);
            break;
        }
        if (s->pod[0] && s->leaf[0]) {
            cl_err(&e, "a budget is for a pod or for a leaf, not both");
            break;
        }
        if (s->leaf[0]) {
            int64_t f = leaf_index(c, s->leaf);
            rc = f < 0
                     ? cl_err(&e, "no leaf '%.64s' (colossus nodes shows the leaves)", s->leaf)
                     : cl_power_leaf_budget_set(c->cluster, (uint32_t)f, s->budget_w, &e);
        } else if (s->pod[0]) {
            int64_t p = pod_index(c, s->pod);
            rc = p < 0 ? cl_err(&e, "no pod '%.64s' (colossus nodes shows the pods)", s->pod)
                       : cl_power_pod_budget_set(c->cluster, (uint32_t)p, s->budget_w, &e);
        } else {
            cl_power_conf_t pc;
            cl_power_get(c->cluster, &pc);
            pc.site_budget_w = s->budget_w;
            rc = cl_power_set(c->cluster, &pc, &e);
        }
        if (s->budget_w > 0)
            snprintf(detail, sizeof detail, "budget %s",
                     cl_fmt_watts(s->budget_w, wb, sizeof wb));
        else
            snprintf(detail, sizeof detail, "no budget");
        break;
    }
    case COLOSSUS__POWER_SPEC__OP__CUT:
        if (!isfinite(s->for_s) || s->for_s < 0 || s->for_s > 366 * 86400.0) {
            cl_err(&e, "a cut's duration is up to 366 days, not %g s", s->for_s);
            break;
        }
        if (!(s->cut_pct > 0)) {
            cl_err(&e, "a cut must be more than 0%% (power restore lifts one)");
            break;
        }
        rc = cl_power_cut(c->cluster, s->cut_pct, &e);
        until = s->for_s > 0 ? ctl_now(c) + s->for_s : 0;
        if (s->for_s > 0)
            snprintf(detail, sizeof detail, "cut %g%% for %g s", s->cut_pct, s->for_s);
        else
            snprintf(detail, sizeof detail, "cut %g%% until restored", s->cut_pct);
        break;
    case COLOSSUS__POWER_SPEC__OP__RESTORE:
        rc = cl_power_cut(c->cluster, 0, &e);
        until = 0;
        snprintf(detail, sizeof detail, "cut lifted");
        break;
    case COLOSSUS__POWER_SPEC__OP__RAMP: {
        cl_power_conf_t pc;
        cl_power_get(c->cluster, &pc);
        if (!isfinite(s->ramp_w_per_s) || s->ramp_w_per_s < 0 || s->ramp_w_per_s > 1e11 ||
            !isfinite(s->ramp_pct) || s->ramp_pct < 0 || s->ramp_pct > 100) {
            cl_err(&e, "a ramp is 0 (none) to 100 GW/s or to 100%%/s");
            break;
        }
        if (s->ramp_w_per_s > 0 && s->ramp_pct > 0) {
            cl_err(&e, "a ramp is in W/s or in %% of the budget per second, not both");
            break;
        }
        if (s->ramp_pct > 0 && !(pc.site_budget_w > 0)) {
            cl_err(&e, "a ramp in %% of the budget needs a site budget (power budget set)");
            break;
        }
        c->power->ramp_w_per_s = s->ramp_w_per_s;
        c->power->ramp_pct = s->ramp_pct;
        rc = 0;
        if (s->ramp_pct > 0)
            snprintf(detail, sizeof detail, "ramp %g%%/s of the site budget (%s/s)",
                     s->ramp_pct, cl_fmt_watts(ramp_rate(c), wb, sizeof wb));
        else if (s->ramp_w_per_s > 0)
            snprintf(detail, sizeof detail, "ramp %s/s",
                     cl_fmt_watts(s->ramp_w_per_s, wb, sizeof wb));
        else
            snprintf(detail, sizeof detail, "no ramp");
        break;
    }
    default:
        cl_err(&e, "unknown power operation %d", s->op);
        break;
    }
    if (rc < 0) {
        ctl_audit(c, k, label, target, false, e.msg);
        ctl_reply_error(c, reply, r->req, "%s refused: %s", label, e.msg);
        return;
    }
    c->power->cut_until = until;
    journal(c);
    ctl_audit(c, k, label, target, true, detail);
    ctl_log(c, "power: %s %s: %s", label, target, detail);
    c->sched_needed = true; /* a larger budget may admit what pends for power */
    update(c, t0);
    char text[300];
    snprintf(text, sizeof text, "%s %s: %s", label, target, detail);
    reply_info(c, k, reply, r->req, text); /* leaves once the change is journaled */
}

/* ---- /metrics ---- */

void ctl_power_metrics(ctl_t *c, cl_prom_t *p)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    cl_power_level_t l;
    cl_power_level(c->cluster, -1, &l);
    cl_prom_family(p, "colossus_power_budget_watts", "gauge",
                   "Power budgets as set (before a cut): the site's (level=\"site\", 0: none) "
                   "and each pod's and leaf's that has one.");
    cl_prom_sample1(p, "colossus_power_budget_watts", "level", "site", l.budget_w);
    uint32_t npods = cl_topo_pods(t);
    for (uint32_t i = 0; i < npods; i++) {
        cl_power_level_t pl;
        if (cl_power_level(c->cluster, i, &pl) < 0 || !(pl.budget_w > 0)) continue;
        const char *labels[] = {"level", "pod", "pod", cl_topo_pod_name(t, i), NULL};
        /* pods: level="pod" beside the pod's name, so that level="site" selects the site */
        cl_prom_sample(p, "colossus_power_budget_watts", labels, pl.budget_w);
    }
    uint32_t nleaves = cl_topo_leaves(t);
    for (uint32_t f = 0; f < nleaves; f++) {
        cl_power_level_t pl;
        if (cl_power_leaf_level(c->cluster, f, &pl) < 0 || !(pl.budget_w > 0)) continue;
        const char *labels[] = {"level", "leaf", "leaf", cl_topo_leaf_name(t, f), NULL};
        cl_prom_sample(p, "colossus_power_budget_watts", labels, pl.budget_w);
    }
    cl_prom_family(p, "colossus_power_draw_watts", "gauge",
                   "The site's projected draw, as admission counts it: running jobs' "
                   "projected power plus idle GPUs' (measured: colossus_pod_power_watts).");
    cl_prom_sample(p, "colossus_power_draw_watts", NULL, l.draw_w);
    cl_prom_family(p, "colossus_power_cut_ratio", "gauge",
                   "The grid cut in force, 0 to 1 (every budget lowered by it).");
    cl_prom_sample(p, "colossus_power_cut_ratio", NULL, cl_power_cut_pct(c->cluster) / 100.0);
}
