/* test_core_random.c - 100,000s of random events (submit, cancel, finish, node and GPU
 * failure, recovery, drain, budget periods, reclaim probes) checked after every step
 * against a reference model of GPU ownership, tenants' quotas, cohorts, budgets and users'
 * limits written here, independently of the core. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core_helpers.h"

#define MAXJ 400000

typedef struct mjob {
    uint8_t state; /* cl_job_state_t; 0 also = unknown when !used */
    uint8_t used, preempt;
    uint32_t nn, k, max_sw, max_restarts, restarts, incarnation;
    uint32_t tenant, user;
    double limit, start;
    uint8_t excl;         /* --exclusive */
    uint64_t allow, deny; /* --nodelist (0: any node) and --exclude, as node masks */
} mjob_t;

/* A node reservation as the model keeps it (the clusters here have at most 64 nodes). */
typedef struct mresv {
    uint64_t id, mask;
    double start, end;
    int32_t tenant;
} mresv_t;
#define NRESV 6

/* The tenants of the run (fractions of the cluster's GPUs): the default tenant; a and b in
 * cohort 1 (a borrows at most 20% and lends at most 6%; b, with a third of the jobs, half
 * of them preemptible, borrows freely, lends at most 5%, and has a budget that stops its
 * jobs); c alone with a budget that does not; s a sub-tenant of a with its own cap. */
#define NT 5
#define NU 4
#define UNL CL_UNLIMITED
static const struct mten {
    int parent;
    double quota, borrow, lend; /* fractions; < 0: unlimited */
    uint32_t cohort;
    double budget; /* GPU-seconds per GPU of the cluster; 0: none */
    bool stop;
} mten[NT] = {
    {-1, -1, -1, -1, 0, 0, false},     {-1, 0.12, 0.2, 0.06, 1, 0, false},
    {-1, 0.1, -1, 0.05, 1, 700, true}, {-1, 0.2, -1, -1, 0, 400, false},
    {1, 0.06, -1, -1, 0, 0, false},
};
static const uint32_t ulimit[NU] = {0, 3, 2, 0}; /* users' running limits; 0: none */

typedef struct model {
    cl_cluster_t *c;
    const cl_topo_t *t;
    uint32_t nodes, gpn, domcap;
    cl_jobid_t *owner; /* [node*gpn+g] */
    uint8_t *down;
    mjob_t *jobs;
    cl_jobid_t maxid;
    cl_jobid_t *live; /* pending or running jobs; verified every step */
    uint32_t *pos, nlive;
    uint64_t rng;
    double now;
    uint64_t events, starts, restarts, requeues, fails, preempts, backfills, resv;
    uint64_t digest; /* FNV-1a over every decision, for the determinism test */
    /* tenants and users */
    uint64_t quota[NT], borrow[NT], lend[NT], gpus;
    double budget[NT], bused[NT];
    uint64_t own[NT]; /* GPUs of each tenant's running jobs */
    uint32_t urun[NU];
    cl_jobid_t probe;
    uint64_t probes, reclaims, budget_stops, refused, why[CL_PEND_RESV + 1];
    mresv_t rv[NRESV];
    uint32_t nrv;
    uint64_t rv_next, excl_starts, list_starts;
    int pass_preempted; /* the last pass stopped jobs (quota can have gone down) */
} model_t;

static uint64_t rnd(model_t *m, uint64_t n)
{
    m->rng = m->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (m->rng >> 33) % n;
}

static void live_add(model_t *m, cl_jobid_t id)
{
    m->pos[id] = m->nlive;
    m->live[m->nlive++] = id;
}

static void live_del(model_t *m, cl_jobid_t id)
{
    cl_jobid_t last = m->live[--m->nlive];
    m->live[m->pos[id]] = last;
    m->pos[last] = m->pos[id];
}

/* A job reached an end state: check the core agrees once, then stop watching it. */
static void m_run(model_t *m, cl_jobid_t id, int on);

static void ended(model_t *m, cl_jobid_t id, cl_job_state_t st)
{
    if (m->jobs[id].state == CL_JOB_RUNNING) m_run(m, id, 0);
    m->jobs[id].state = (uint8_t)st;
    live_del(m, id);
    cl_job_info_t ji;
    if (cl_job_get(m->c, id, &ji) < 0 || ji.state != st)
        fail_msg("job %llu should be %s", (unsigned long long)id, cl_job_state_name(st));
    size_t n;
    if (cl_job_alloc(m->c, id, &n))
        fail_msg("ended job %llu holds an allocation", (unsigned long long)id);
    if (cl_job_forget(m->c, id) < 0)
        fail_msg("cannot forget ended job %llu", (unsigned long long)id);
}

/* ------------------------------------------------------------ tenants' model */
static uint32_t top_of(uint32_t t)
{
    return mten[t].parent < 0 ? t : (uint32_t)mten[t].parent;
}

static uint64_t tree(const model_t *m, const uint64_t *own, uint32_t t)
{
    uint64_t g = own[t];
    for (uint32_t s = 0; s < NT; s++)
        if (mten[s].parent == (int)t) g += own[s];
    return g;
}

static void tenants_init(model_t *m)
{
    m->gpus = (uint64_t)m->nodes * m->gpn;
#define FRAC(f) ((f) < 0 ? UNL : (uint64_t)((f) * (double)m->gpus))
    for (uint32_t t = 0; t < NT; t++) {
        if (t) {
            char nm[16];
            snprintf(nm, sizeof(nm), "t%u", t);
            assert_int_equal(cl_tenant_add(m->c, nm, 1 + t, NULL), (int)t);
        }
        m->quota[t] = FRAC(mten[t].quota);
        m->borrow[t] = FRAC(mten[t].borrow);
        m->lend[t] = FRAC(mten[t].lend);
        m->budget[t] = mten[t].budget * (double)m->gpus;
        cl_tenant_conf_t f;
        cl_tenant_get(m->c, t, &f);
        f.parent = mten[t].parent;
        f.quota_gpus = m->quota[t];
        f.borrow_limit = m->borrow[t];
        f.lend_limit = m->lend[t];
        f.cohort = mten[t].cohort;
        f.budget_gpu_s = m->budget[t];
        f.budget_stop = mten[t].stop;
        cl_error_t err;
        if (cl_tenant_set(m->c, t, &f, &err) < 0) fail_msg("tenant %u: %s", t, err.msg);
    }
    for (uint32_t u = 1; u < NU; u++)
        assert_int_equal(cl_user_limit_set(m->c, u, ulimit[u], NULL), 0);
#undef FRAC
}

/* The rules as the issue states them, over the model's own counts: t (and its parent)
 * within nominal quota, or in a cohort borrowing at most its limit, with the cohort's
 * total borrowed never above its total lendable (min(lend limit, idle quota)). */
static int quota_ok(const model_t *m, const uint64_t *own, uint32_t t, uint64_t g)
{
    uint32_t T = top_of(t);
    if (T != t && m->quota[t] != UNL && own[t] + g > m->quota[t]) return 0;
    if (m->quota[T] == UNL) return 1;
    uint64_t u = tree(m, own, T) + g;
    if (!mten[T].cohort) return u <= m->quota[T];
    if (m->borrow[T] != UNL && u > m->quota[T] + m->borrow[T]) return 0;
    uint64_t borrowed = 0, lendable = 0;
    for (uint32_t x = 0; x < NT; x++) {
        if (mten[x].parent >= 0 || mten[x].cohort != mten[T].cohort) continue;
        uint64_t ux = tree(m, own, x) + (x == T ? g : 0), q = m->quota[x];
        uint64_t idle = ux < q ? q - ux : 0, l = m->lend[x] < idle ? m->lend[x] : idle;
        borrowed += ux > q ? ux - q : 0;
        lendable += l;
    }
    return borrowed <= lendable;
}

/* The most GPUs a job of t could ever hold (submit refuses more). */
static uint64_t quota_max(const model_t *m, uint32_t t)
{
    uint32_t T = top_of(t);
    uint64_t mx = m->quota[T];
    if (mx != UNL && mten[T].cohort) {
        uint64_t others = 0;
        for (uint32_t x = 0; x < NT; x++)
            if (x != T && mten[x].parent < 0 && mten[x].cohort == mten[T].cohort)
                others += m->lend[x] < m->quota[x] ? m->lend[x] : m->quota[x];
        mx += m->borrow[T] < others ? m->borrow[T] : others;
    }
    return T != t && m->quota[t] < mx ? m->quota[t] : mx;
}

/* Budget spent (own or parent's), with a margin for rounding: 1 surely, 0 surely not,
 * -1 too close to tell. */
static int spent(const model_t *m, uint32_t t)
{
    int r = 0;
    for (uint32_t x = t;; x = (uint32_t)mten[x].parent) {
        double b = m->budget[x], tol = 1e-6 * b;
        if (b > 0 && m->bused[x] >= b + tol) return 1;
        if (b > 0 && m->bused[x] > b - tol) r = -1;
        if (mten[x].parent < 0) return r;
    }
}

static void m_run(model_t *m, cl_jobid_t id, int on)
{
    mjob_t *j = &m->jobs[id];
    uint64_t g = (uint64_t)j->nn * j->k;
    if (on) {
        m->own[j->tenant] += g;
        m->urun[j->user]++;
        j->start = m->now;
    } else {
        m->own[j->tenant] -= g;
        m->urun[j->user]--;
    }
}

/* Job id on node n would run from now until end: is it kept off n? (its nodelist, its
 * exclude list, or a reservation it may not use whose window it would run into) */
static const char *node_refused(const model_t *m, cl_jobid_t id, cl_nodeid_t n, double end)
{
    const mjob_t *j = &m->jobs[id];
    if (j->allow && !(j->allow >> n & 1)) return "off its nodelist";
    if (j->deny >> n & 1) return "on an excluded node";
    for (uint32_t i = 0; i < m->nrv; i++) {
        const mresv_t *r = &m->rv[i];
        if (!(r->mask >> n & 1) || r->end <= m->now || r->start >= end) continue;
        if (r->tenant < 0 ||
            ((uint32_t)r->tenant != j->tenant && (uint32_t)r->tenant != top_of(j->tenant)))
            return "in a reservation it may not use";
    }
    return NULL;
}

static void check_nodes_allowed(model_t *m, cl_jobid_t id, double end)
{
    size_t n;
    const cl_alloc_t *a = cl_job_alloc(m->c, id, &n);
    for (size_t q = 0; q < n; q++) {
        const char *why = node_refused(m, id, a[q].node, end);
        if (why)
            fail_msg("event %llu: job %llu placed on node %u, %s",
                     (unsigned long long)m->events, (unsigned long long)id, a[q].node, why);
    }
}

/* A start keeps every rule: quotas and borrowing, budgets, users' limits. */
static void check_start(model_t *m, cl_jobid_t id)
{
    mjob_t *j = &m->jobs[id];
    uint32_t t = j->tenant, T = top_of(t);
    if (!quota_ok(m, m->own, t, 0))
        fail_msg("event %llu: job %llu of t%u started over quota (t%u holds %llu of %llu)",
                 (unsigned long long)m->events, (unsigned long long)id, t, T,
                 (unsigned long long)tree(m, m->own, T), (unsigned long long)m->quota[T]);
    if (spent(m, t) == 1)
        fail_msg("event %llu: job %llu of t%u started with its budget spent",
                 (unsigned long long)m->events, (unsigned long long)id, t);
    if (j->user && ulimit[j->user] && m->urun[j->user] > ulimit[j->user])
        fail_msg("user %u runs %u jobs, limit %u", j->user, m->urun[j->user], ulimit[j->user]);
}

static void free_job(model_t *m, cl_jobid_t id)
{
    for (size_t i = 0; i < (size_t)m->nodes * m->gpn; i++)
        if (m->owner[i] == id) m->owner[i] = 0;
}

static void take(model_t *m, cl_jobid_t id, const cl_alloc_t *a)
{
    for (uint32_t g = 0; g < m->gpn; g++)
        if (a->gpus >> g & 1) {
            if (m->owner[(size_t)a->node * m->gpn + g])
                fail_msg(
                    "event %llu: GPU %u of node %u given to job %llu while job %llu has it",
                    (unsigned long long)m->events, g, a->node, (unsigned long long)id,
                    (unsigned long long)m->owner[(size_t)a->node * m->gpn + g]);
            m->owner[(size_t)a->node * m->gpn + g] = id;
        }
}

static void check_gang(model_t *m, cl_jobid_t id)
{
    mjob_t *j = &m->jobs[id];
    size_t n;
    const cl_alloc_t *a = cl_job_alloc(m->c, id, &n);
    if (!a || n != j->nn)
        fail_msg("job %llu: gang of %zu nodes, wants %u", (unsigned long long)id, n, j->nn);
    for (size_t i = 0; i < n; i++) {
        if ((uint32_t)__builtin_popcountll(a[i].gpus) != j->k)
            fail_msg("job %llu: %d GPUs on a node, wants %u", (unsigned long long)id,
                     __builtin_popcountll(a[i].gpus), j->k);
        if (m->down[a[i].node])
            fail_msg("job %llu placed on down node %u", (unsigned long long)id, a[i].node);
        for (size_t q = 0; q < i; q++)
            if (a[q].node == a[i].node)
                fail_msg("job %llu twice on node %u", (unsigned long long)id, a[i].node);
    }
}

static void check_start_shape(model_t *m, cl_jobid_t id)
{
    mjob_t *j = &m->jobs[id];
    size_t n;
    const cl_alloc_t *a = cl_job_alloc(m->c, id, &n);
    if (m->domcap > 1 && j->nn <= m->domcap)
        for (size_t i = 1; i < n; i++)
            if (cl_topo_node_domain(m->t, a[i].node) != cl_topo_node_domain(m->t, a[0].node))
                fail_msg("job %llu of %u nodes split across NVLink domains",
                         (unsigned long long)id, j->nn);
    if (j->max_sw && leaves_of(m->c, id) > j->max_sw)
        fail_msg("job %llu spans %u leaves, max %u", (unsigned long long)id,
                 leaves_of(m->c, id), j->max_sw);
}

static void apply(model_t *m, const cl_decisions_t *d, size_t from)
{
    for (size_t i = from; i < d->n; i++) {
        cl_decision_t x = d->v[i];
        uint64_t words[4] = {x.job, x.action, x.incarnation,
                             ((uint64_t)x.node_old << 32) | x.node_new};
        for (int w = 0; w < 4; w++)
            m->digest = (m->digest ^ words[w]) * 1099511628211ull;
        size_t na;
        const cl_alloc_t *al = cl_job_alloc(m->c, x.job, &na);
        for (size_t q = 0; q < na; q++)
            m->digest = (m->digest ^ (al[q].node * 1000003ull + al[q].gpus)) * 1099511628211ull;
        mjob_t *j = &m->jobs[x.job];
        switch (x.action) {
        case CL_ACT_START: {
            if (j->state != CL_JOB_PENDING)
                fail_msg("start of job %llu that is %d", (unsigned long long)x.job, j->state);
            check_gang(m, x.job);
            check_start_shape(m, x.job);
            size_t n;
            const cl_alloc_t *a = cl_job_alloc(m->c, x.job, &n);
            for (size_t q = 0; q < n; q++)
                take(m, x.job, &a[q]);
            j->state = CL_JOB_RUNNING;
            m_run(m, x.job, 1);
            check_start(m, x.job);
            if (x.incarnation != j->incarnation + 1)
                fail_msg("job %llu incarnation %u after %u", (unsigned long long)x.job,
                         x.incarnation, j->incarnation);
            j->incarnation = x.incarnation;
            m->starts++;
            m->excl_starts += j->excl;
            m->list_starts += j->allow != 0;
            check_nodes_allowed(m, x.job, j->limit > 0 ? m->now + j->limit : CL_TIME_INF);
            break;
        }
        case CL_ACT_RESTART: {
            if (j->state != CL_JOB_RUNNING || j->restarts >= j->max_restarts)
                fail_msg("bad restart of job %llu", (unsigned long long)x.job);
            for (uint32_t g = 0; g < m->gpn; g++)
                if (m->owner[(size_t)x.node_old * m->gpn + g] == x.job)
                    m->owner[(size_t)x.node_old * m->gpn + g] = 0;
            size_t n;
            const cl_alloc_t *a = cl_job_alloc(m->c, x.job, &n);
            int found = 0;
            for (size_t q = 0; q < n; q++)
                if (a[q].node == x.node_new) {
                    take(m, x.job, &a[q]);
                    found = 1;
                }
            if (!found)
                fail_msg("restart onto node %u not in job %llu", x.node_new,
                         (unsigned long long)x.job);
            if (cl_topo_node_pod(m->t, x.node_new) != cl_topo_node_pod(m->t, x.node_old))
                fail_msg("hot spare from another pod");
            check_gang(m, x.job);
            if (node_refused(m, x.job, x.node_new,
                             j->limit > 0 ? j->start + j->limit : CL_TIME_INF))
                fail_msg("job %llu restarted on spare %u it may not use",
                         (unsigned long long)x.job, x.node_new);
            j->restarts++;
            j->incarnation = x.incarnation;
            m->restarts++;
            break;
        }
        case CL_ACT_REQUEUE:
        case CL_ACT_PREEMPT:
            if (j->state != CL_JOB_RUNNING)
                fail_msg("requeue/preempt of job %llu not running", (unsigned long long)x.job);
            if (x.action == CL_ACT_REQUEUE) {
                if (j->restarts >= j->max_restarts) fail_msg("requeue past max restarts");
                j->restarts++;
                m->requeues++;
            } else if (!j->preempt) { /* only a spent budget stops those */
                if (spent(m, j->tenant) == 0 ||
                    !(mten[j->tenant].stop || mten[top_of(j->tenant)].stop))
                    fail_msg("preempted job %llu that is not preemptible",
                             (unsigned long long)x.job);
                m->budget_stops++;
            } else {
                m->preempts++;
            }
            m->pass_preempted |= x.action == CL_ACT_PREEMPT;
            free_job(m, x.job);
            m_run(m, x.job, 0);
            j->state = CL_JOB_PENDING;
            break;
        case CL_ACT_FAIL:
            if (j->restarts < j->max_restarts)
                fail_msg("job %llu failed before max restarts", (unsigned long long)x.job);
            free_job(m, x.job);
            ended(m, x.job, CL_JOB_FAILED);
            m->fails++;
            break;
        case CL_ACT_DEP_NEVER:
            fail_msg("job %llu: a dependency, but the model submits none",
                     (unsigned long long)x.job);
            break;
        }
    }
}

/* Everything the core says agrees with the model; counters agree with their sums. */
static void verify(model_t *m)
{
    cl_error_t err;
    if (cl_cluster_check(m->c, &err) < 0)
        fail_msg("event %llu: %s", (unsigned long long)m->events, err.msg);
    uint64_t owned = 0;
    for (cl_nodeid_t n = 0; n < m->nodes; n++) {
        cl_node_info_t ni;
        cl_node_get(m->c, n, &ni);
        uint64_t mine = 0;
        for (uint32_t g = 0; g < m->gpn; g++)
            if (m->owner[(size_t)n * m->gpn + g]) {
                mine |= 1ull << g;
                owned++;
            }
        uint64_t all = m->gpn == 64 ? ~0ull : (1ull << m->gpn) - 1;
        uint64_t want = m->down[n] ? 0 : all & ~mine & ~ni.failed;
        if (ni.free != want)
            fail_msg("event %llu: node %u free %llx, model says %llx",
                     (unsigned long long)m->events, n, (unsigned long long)ni.free,
                     (unsigned long long)want);
        if (ni.spare && (mine || ni.state != CL_NODE_UP || ni.failed))
            fail_msg("event %llu: spare node %u is used or unhealthy",
                     (unsigned long long)m->events, n);
        if ((ni.state == CL_NODE_DOWN) != (m->down[n] != 0))
            fail_msg("node %u down state disagrees", n);
    }
    cl_stats_t st;
    cl_cluster_stats(m->c, &st);
    if (st.gpus_alloc != owned)
        fail_msg("event %llu: %llu GPUs allocated, model %llu", (unsigned long long)m->events,
                 (unsigned long long)st.gpus_alloc, (unsigned long long)owned);
    uint64_t np = 0, nr = 0;
    for (uint32_t li = 0; li < m->nlive; li++) {
        cl_jobid_t id = m->live[li];
        mjob_t *j = &m->jobs[id];
        cl_job_info_t ji;
        if (cl_job_get(m->c, id, &ji) < 0) fail_msg("job %llu missing", (unsigned long long)id);
        if (ji.state != j->state)
            fail_msg("event %llu: job %llu is %s, model %s", (unsigned long long)m->events,
                     (unsigned long long)id, cl_job_state_name(ji.state),
                     cl_job_state_name(j->state));
        if (ji.restarts != j->restarts || ji.incarnation != j->incarnation)
            fail_msg("job %llu restarts/incarnation disagree", (unsigned long long)id);
        np += j->state == CL_JOB_PENDING;
        if (j->state == CL_JOB_RUNNING) {
            nr++;
            check_gang(m, id);
            size_t n;
            const cl_alloc_t *a = cl_job_alloc(m->c, id, &n);
            for (size_t q = 0; q < n; q++)
                for (uint32_t g = 0; g < m->gpn; g++) {
                    cl_jobid_t o = m->owner[(size_t)a[q].node * m->gpn + g];
                    if ((a[q].gpus >> g & 1) != (o == id))
                        fail_msg("job %llu allocation disagrees with model",
                                 (unsigned long long)id);
                    if (j->excl && o && o != id)
                        fail_msg("event %llu: exclusive job %llu shares node %u with job %llu",
                                 (unsigned long long)m->events, (unsigned long long)id,
                                 a[q].node, (unsigned long long)o);
                }
        }
    }
    if (np != st.jobs_pending || nr != st.jobs_running) fail_msg("job counts disagree");
}

/* Backfilled jobs end before the shadow time or stay off the reserved nodes. */
static void verify_backfill(model_t *m)
{
    cl_reservation_t rv;
    cl_reservation_get(m->c, &rv);
    size_t nb;
    const cl_jobid_t *bf = cl_backfilled(m->c, &nb);
    if (nb && !rv.job) fail_msg("backfill without a reservation");
    if (rv.job) m->resv++;
    m->backfills += nb;
    for (size_t i = 0; i < nb; i++) {
        mjob_t *j = &m->jobs[bf[i]];
        if (j->limit > 0 && m->now + j->limit <= rv.shadow) continue;
        size_t n;
        const cl_alloc_t *a = cl_job_alloc(m->c, bf[i], &n);
        for (size_t q = 0; q < n; q++)
            for (size_t r = 0; r < rv.n; r++)
                if (a[q].node == rv.nodes[r])
                    fail_msg("event %llu: backfilled job %llu (limit %.0f) on node %u reserved "
                             "for job %llu until %.0f",
                             (unsigned long long)m->events, (unsigned long long)bf[i], j->limit,
                             a[q].node, (unsigned long long)rv.job, rv.shadow);
    }
    if (rv.job && m->jobs[rv.job].state != CL_JOB_PENDING)
        fail_msg("reserved job is not pending");
}

/* After a pass: every pending job has a reason the model agrees with; a spent budget that
 * stops has stopped everything; the next wake-up is when the stopping budget runs out. */
static void verify_after_pass(model_t *m)
{
    cl_reservation_t rv;
    cl_reservation_get(m->c, &rv);
    for (uint32_t li = 0; li < m->nlive; li++) {
        cl_jobid_t id = m->live[li];
        mjob_t *j = &m->jobs[id];
        cl_pending_t p;
        assert_int_equal(cl_job_pending(m->c, id, &p), 0);
        if (j->state != CL_JOB_PENDING) {
            if (p.why != CL_PEND_NONE)
                fail_msg("running job %llu has a pending reason", (unsigned long long)id);
            continue;
        }
        if (p.why == CL_PEND_NONE || p.why == CL_PEND_NEW || p.why > CL_PEND_RESV)
            fail_msg("event %llu: pending job %llu has reason %d after a pass",
                     (unsigned long long)m->events, (unsigned long long)id, p.why);
        m->why[p.why]++;
        uint64_t g = (uint64_t)j->nn * j->k;
        int bad = 0;
        switch (p.why) {
        case CL_PEND_RESERVED:
            bad = p.job != id || rv.job != id || p.until != rv.shadow;
            break;
        case CL_PEND_HELD:
            bad = !rv.job || p.job != rv.job || p.until != rv.shadow;
            break;
        case CL_PEND_BUDGET:
            bad = spent(m, j->tenant) == 0;
            break;
        case CL_PEND_QOS:
            bad = !j->user || !ulimit[j->user] ||
                  (!m->pass_preempted && m->urun[j->user] < ulimit[j->user]);
            break;
        case CL_PEND_RESV: { /* names a reservation that exists and does block it */
            bad = 1;
            for (uint32_t r = 0; r < m->nrv; r++)
                if (m->rv[r].id == p.job && m->rv[r].end > m->now &&
                    (m->rv[r].tenant < 0 || ((uint32_t)m->rv[r].tenant != j->tenant &&
                                             (uint32_t)m->rv[r].tenant != top_of(j->tenant))))
                    bad = 0;
            break;
        }
        case CL_PEND_CONSTRAINT:
            bad = !j->excl && !j->allow && !j->deny;
            break;
        case CL_PEND_QUOTA: /* quotas are nominal: whatever capacity is lost, it must not fit */
            bad = !m->pass_preempted && quota_ok(m, m->own, j->tenant, g);
            break;
        default:
            break;
        }
        if (bad)
            fail_msg("event %llu: job %llu of t%u (%llu GPUs, user %u) pends with '%s' wrongly",
                     (unsigned long long)m->events, (unsigned long long)id, j->tenant,
                     (unsigned long long)g, j->user, cl_pend_name(p.why));
    }
    cl_time_t w = cl_next_wakeup(m->c, m->now);
    uint64_t t2 = tree(m, m->own, 2);
    if (spent(m, 2) == 1 && t2)
        fail_msg("t2's budget is spent and it still runs %llu GPUs", (unsigned long long)t2);
    double rw = CL_TIME_INF; /* or a reservation's window ends */
    for (uint32_t r = 0; r < m->nrv; r++)
        if (m->rv[r].end > m->now && m->rv[r].end < rw) rw = m->rv[r].end;
    if (!t2 && w != rw) fail_msg("a wake-up with no stopping budget running nor window");
    if (t2 && spent(m, 2) == 0) {
        double want = m->now + (m->budget[2] - m->bused[2]) / (double)t2;
        if (rw < want) want = rw;
        if (fabs(w - want) > 1e-6 * (1 + want - m->now))
            fail_msg("next wake-up %.6f, the budget runs out at %.6f", w, want);
    }
}

/* A lender asks for part of its own nominal quota (the highest priority, one node): when
 * a node has room and the borrowers' preemptible jobs would give back enough quota, it
 * starts in this very pass. The model counts the least a reclaim gives back: each borrower
 * down to its quota, or all its preemptible GPUs if fewer. */
static void probe(model_t *m, cl_decisions_t *d)
{
    if (m->probe && m->jobs[m->probe].state <= CL_JOB_RUNNING) {
        assert_int_equal(cl_job_cancel(m->c, m->probe, m->now, NULL), 0);
        free_job(m, m->probe);
        ended(m, m->probe, CL_JOB_CANCELLED);
    }
    m->probe = 0;
    uint32_t L = rnd(m, 4) ? 1 : 2, k = 1 + (uint32_t)rnd(m, m->gpn);
    uint64_t tl = tree(m, m->own, L);
    if (spent(m, L) != 0 || tl >= m->quota[L] || m->nlive >= 200 || m->maxid + 1 >= MAXJ)
        return;
    if (k > m->quota[L] - tl) k = (uint32_t)(m->quota[L] - tl);
    uint64_t own[NT], pre[NT] = {0};
    memcpy(own, m->own, sizeof(own));
    for (uint32_t li = 0; li < m->nlive; li++) {
        mjob_t *j = &m->jobs[m->live[li]];
        if (j->state == CL_JOB_RUNNING && j->preempt) pre[j->tenant] += (uint64_t)j->nn * j->k;
    }
    int reclaim = !quota_ok(m, own, L, k);
    for (uint32_t b = 0; b < NT; b++) {
        uint32_t B = top_of(b);
        if (B == L || !mten[B].cohort) continue;
        uint64_t tb = tree(m, own, B), give = tb > m->quota[B] ? tb - m->quota[B] : 0;
        own[b] -= give < pre[b] ? give : pre[b];
    }
    int room = 0;
    for (cl_nodeid_t n = 0; n < m->nodes && !room; n++) {
        cl_node_info_t ni;
        cl_node_get(m->c, n, &ni);
        room =
            ni.state == CL_NODE_UP && !ni.spare && (uint32_t)__builtin_popcountll(ni.free) >= k;
        for (uint32_t g = 0; g < m->gpn && room; g++) /* an exclusive job's node has none */
            room = !m->jobs[m->owner[(size_t)n * m->gpn + g]].excl;
        for (uint32_t r = 0; r < m->nrv && room; r++) /* nor one reserved for another */
            room = !(m->rv[r].mask >> n & 1) || m->rv[r].end <= m->now ||
                   (m->rv[r].tenant >= 0 && (uint32_t)m->rv[r].tenant == L);
    }
    int can = room && quota_ok(m, own, L, k);
    cl_job_spec_t s = {.nodes = 1, .gpus_per_node = k, .tenant = L, .priority = 10};
    cl_jobid_t id;
    if (cl_job_submit(m->c, &s, m->now, &id, NULL) < 0) fail_msg("probe refused");
    m->jobs[id] = (mjob_t){.state = CL_JOB_PENDING, .used = 1, .nn = 1, .k = k, .tenant = L};
    m->maxid = id;
    live_add(m, id);
    m->probe = id;
    m->pass_preempted = 0;
    cl_schedule(m->c, m->now, d);
    apply(m, d, 0);
    verify_after_pass(m);
    m->probes++;
    if (!can) return;
    if (m->jobs[id].state != CL_JOB_RUNNING)
        fail_msg("event %llu: lender t%u asked for %u of its quota, reclaim could give it, "
                 "and it did not start",
                 (unsigned long long)m->events, L, k);
    m->reclaims += reclaim;
}

/* A new budget period for the tenants that have one. */
static void budget_period(model_t *m)
{
    for (uint32_t t = 0; t < NT; t++)
        if (m->budget[t] > 0) {
            assert_int_equal(cl_tenant_budget_set(m->c, t, 0, m->now, NULL), 0);
            m->bused[t] = 0;
        }
}

/* Add a node reservation (maintenance or a tenant's; now or later) or delete one. */
static void resv_event(model_t *m)
{
    if (m->nrv == NRESV || (m->nrv && rnd(m, 2))) {
        uint32_t i = (uint32_t)rnd(m, m->nrv);
        assert_int_equal(cl_resv_remove(m->c, m->rv[i].id), 0);
        m->rv[i] = m->rv[--m->nrv];
        return;
    }
    mresv_t r = {.id = ++m->rv_next,
                 .start = m->now + (double)rnd(m, 1500),
                 .tenant = rnd(m, 3) == 0 ? -1 : (int32_t)rnd(m, NT)};
    r.end = r.start + 50 + (double)rnd(m, 1500);
    cl_nodeid_t nodes[64];
    size_t n = 0;
    for (uint32_t a = (uint32_t)rnd(m, m->nodes), len = 1 + (uint32_t)rnd(m, 8);
         n < len && a + n < m->nodes; n++) {
        nodes[n] = a + (cl_nodeid_t)n;
        r.mask |= 1ull << nodes[n];
    }
    cl_resv_spec_t s = {r.id, r.start, r.end, r.tenant, nodes, n};
    assert_int_equal(cl_resv_add(m->c, &s, NULL), 0);
    m->rv[m->nrv++] = r;
}

static cl_jobid_t pick(model_t *m, int running_only)
{
    for (int tries = 0; tries < 20 && m->nlive; tries++) {
        cl_jobid_t id = m->live[rnd(m, m->nlive)];
        if (!running_only || m->jobs[id].state == CL_JOB_RUNNING) return id;
    }
    return 0;
}

static uint64_t run(cl_cluster_t *c, uint64_t seed, uint64_t nevents)
{
    model_t m = {
        .c = c, .t = cl_cluster_topo(c), .rng = seed, .digest = 14695981039346656037ull};
    m.nodes = cl_topo_nodes(m.t);
    m.gpn = cl_topo_gpus_per_node(m.t);
    m.domcap = cl_topo_domain_nodes_max(m.t);
    m.owner = calloc((size_t)m.nodes * m.gpn, sizeof(cl_jobid_t));
    m.down = calloc(m.nodes, 1);
    m.jobs = calloc(MAXJ, sizeof(mjob_t));
    m.live = calloc(MAXJ, sizeof(cl_jobid_t));
    m.pos = calloc(MAXJ, sizeof(uint32_t));
    tenants_init(&m);
    cl_decisions_t d = {0};
    for (m.events = 0; m.events < nevents; m.events++) {
        double dt = (double)rnd(&m, 30);
        for (uint32_t t = 0; t < NT; t++)
            m.bused[t] += (double)tree(&m, m.own, t) * dt;
        m.now += dt;
        uint64_t r = rnd(&m, 100), r2 = rnd(&m, 1000);
        cl_decisions_clear(&d);
        if (r2 < 3) {
            budget_period(&m);
        } else if (r2 >= 8 && r2 < 11) {
            resv_event(&m);
        } else if (r2 < 8) {
            probe(&m, &d);
        } else if (r < 30 && m.nlive < 150 && m.maxid + 1 < MAXJ) {
            cl_job_spec_t s = {0};
            s.nodes = 1 + (uint32_t)(rnd(&m, 4) ? rnd(&m, 3) : rnd(&m, m.nodes / 2));
            s.gpus_per_node = 1 + (uint32_t)rnd(&m, m.gpn);
            s.priority = (int32_t)rnd(&m, 4);
            static const uint8_t pick_tenant[20] = {0, 0, 0, 0, 2, 2, 2, 2, 2, 2,
                                                    2, 1, 1, 1, 1, 1, 3, 3, 4, 4};
            s.tenant = pick_tenant[rnd(&m, 20)];
            s.user = (uint32_t)rnd(&m, NU);
            s.preemptible = rnd(&m, 5) == 0 || (s.tenant == 2 && rnd(&m, 2));
            s.time_limit_s = rnd(&m, 5) ? 10.0 + (double)rnd(&m, 2000) : 0;
            s.max_switches = rnd(&m, 4) ? 0 : 1 + (uint32_t)rnd(&m, 3);
            s.max_restarts = (uint32_t)rnd(&m, 4);
            /* constraints: exclusive, a nodelist (a range a little larger than the gang,
             * sometimes smaller: refused), an exclude list */
            s.exclusive = rnd(&m, 8) == 0;
            cl_nodeid_t list[64], excl[64];
            uint64_t allow = 0, deny = 0;
            if (rnd(&m, 10) == 0) {
                uint32_t a = (uint32_t)rnd(&m, m.nodes), len = s.nodes + (uint32_t)rnd(&m, 6);
                if (rnd(&m, 10) == 0 && s.nodes > 1) len = s.nodes - 1;
                for (uint32_t i = 0; i < len && a + i < m.nodes; i++) {
                    list[s.nnodelist++] = a + i;
                    allow |= 1ull << (a + i);
                }
                if (s.nnodelist) list[s.nnodelist++] = list[0]; /* a duplicate is dropped */
                s.nodelist = list;
            }
            if (rnd(&m, 10) == 0) {
                for (uint32_t i = 0, ne = 1 + (uint32_t)rnd(&m, 6); i < ne; i++) {
                    excl[s.nexclude] = (cl_nodeid_t)rnd(&m, m.nodes);
                    deny |= 1ull << excl[s.nexclude++];
                }
                s.exclude = excl;
            }
            uint32_t avail = (uint32_t)__builtin_popcountll(allow ? allow & ~deny : ~deny) -
                             (allow ? 0 : 64 - m.nodes);
            cl_jobid_t id;
            int ok = cl_job_submit(c, &s, m.now, &id, NULL) == 0;
            if (avail < s.nodes) {
                if (ok)
                    fail_msg("job of %u nodes accepted, its lists allow %u", s.nodes, avail);
                m.refused++;
            } else if (ok != ((uint64_t)s.nodes * s.gpus_per_node <= quota_max(&m, s.tenant)))
                fail_msg("job of %u GPUs for t%u %s", s.nodes * s.gpus_per_node, s.tenant,
                         ok ? "accepted over its quota and borrowing" : "refused");
            m.refused += !ok;
            if (ok) {
                mjob_t *j = &m.jobs[id];
                *j = (mjob_t){.state = CL_JOB_PENDING,
                              .used = 1,
                              .preempt = s.preemptible,
                              .nn = s.nodes,
                              .k = s.gpus_per_node,
                              .max_sw = s.max_switches,
                              .max_restarts = s.max_restarts,
                              .tenant = s.tenant,
                              .user = s.user,
                              .limit = s.time_limit_s,
                              .excl = s.exclusive,
                              .allow = allow,
                              .deny = deny};
                m.maxid = id;
                live_add(&m, id);
            }
        } else if (r < 34) {
            cl_jobid_t id = pick(&m, 0);
            if (id) {
                assert_int_equal(cl_job_cancel(c, id, m.now, NULL), 0);
                free_job(&m, id);
                ended(&m, id, CL_JOB_CANCELLED);
            }
        } else if (r < 48) {
            cl_jobid_t id = pick(&m, 1);
            if (id) {
                int ok = (int)rnd(&m, 4) != 0;
                assert_int_equal(cl_job_finish(c, id, ok, m.now, NULL), 0);
                free_job(&m, id);
                ended(&m, id, ok ? CL_JOB_SUCCEEDED : CL_JOB_FAILED);
            }
        } else if (r < 52) {
            cl_nodeid_t n = (cl_nodeid_t)rnd(&m, m.nodes);
            assert_int_equal(cl_node_fail(c, n, m.now, &d, NULL), 0);
            apply(&m, &d, 0);
            m.down[n] = 1;
            for (uint32_t g = 0; g < m.gpn; g++)
                if (m.owner[(size_t)n * m.gpn + g]) fail_msg("job left on failed node %u", n);
        } else if (r < 55) {
            cl_nodeid_t n = (cl_nodeid_t)rnd(&m, m.nodes);
            uint32_t g = (uint32_t)rnd(&m, m.gpn);
            assert_int_equal(cl_gpu_fail(c, n, g, m.now, &d, NULL), 0);
            apply(&m, &d, 0);
            if (m.owner[(size_t)n * m.gpn + g]) fail_msg("job left on failed GPU");
        } else if (r < 62) {
            cl_nodeid_t n = (cl_nodeid_t)rnd(&m, m.nodes);
            assert_int_equal(cl_node_recover(c, n, m.now, NULL), 0);
            m.down[n] = 0;
        } else if (r < 65) {
            cl_nodeid_t n = (cl_nodeid_t)rnd(&m, m.nodes);
            if (rnd(&m, 4))
                assert_int_equal(cl_node_drain(c, n, m.now, NULL), 0);
            else
                assert_int_equal(cl_node_maintenance(c, n, m.now, NULL), 0);
        } else if (r < 70) {
            assert_int_equal(cl_node_resume(c, (cl_nodeid_t)rnd(&m, m.nodes), m.now, NULL), 0);
        } else {
            /* a driver's pass: stop jobs past their limit, then schedule */
            cl_jobid_t ex[64];
            size_t ne = cl_jobs_expired(c, m.now, ex, 64);
            for (size_t i = 0; i < ne; i++) {
                assert_int_equal(cl_job_finish(c, ex[i], false, m.now, NULL), 0);
                free_job(&m, ex[i]);
                ended(&m, ex[i], CL_JOB_FAILED);
            }
            m.pass_preempted = 0;
            cl_schedule(c, m.now, &d);
            apply(&m, &d, 0);
            verify_backfill(&m);
            verify_after_pass(&m);
        }
        verify(&m);
    }
    printf("%llu events: %llu starts, %llu spare restarts, %llu requeues, %llu failed, "
           "%llu preemptions, %llu reservations, %llu backfilled\n",
           (unsigned long long)m.events, (unsigned long long)m.starts,
           (unsigned long long)m.restarts, (unsigned long long)m.requeues,
           (unsigned long long)m.fails, (unsigned long long)m.preempts,
           (unsigned long long)m.resv, (unsigned long long)m.backfills);
    printf("  %llu exclusive and %llu nodelist starts\n", (unsigned long long)m.excl_starts,
           (unsigned long long)m.list_starts);
    printf("  %llu probes (%llu by reclaim), %llu budget stops, %llu refused at submit; "
           "reasons:",
           (unsigned long long)m.probes, (unsigned long long)m.reclaims,
           (unsigned long long)m.budget_stops, (unsigned long long)m.refused);
    for (int w = 0; w <= CL_PEND_RESV; w++)
        printf(" %s %llu,", cl_pend_name((cl_pend_t)w), (unsigned long long)m.why[w]);
    printf("\n");
    /* the run must have exercised every path, or it proves little */
    assert_true(m.starts > 1000 && m.restarts > 10 && m.requeues > 10 && m.preempts > 10 &&
                m.backfills > 10 && m.fails > 0);
    if (nevents >= 100000)
        assert_true(m.reclaims > 5 && m.budget_stops > 5 && m.refused > 10 &&
                    m.why[CL_PEND_QUOTA] && m.why[CL_PEND_BUDGET] && m.why[CL_PEND_QOS] &&
                    m.why[CL_PEND_HELD] && m.why[CL_PEND_RESERVED] && m.why[CL_PEND_NODES] &&
                    m.why[CL_PEND_PRIORITY] && m.why[CL_PEND_RESOURCES] &&
                    m.why[CL_PEND_RESV] && m.why[CL_PEND_CONSTRAINT] && m.excl_starts > 10 &&
                    m.list_starts > 10);
    cl_decisions_free(&d);
    free(m.owner);
    free(m.down);
    free(m.jobs);
    free(m.live);
    free(m.pos);
    return m.digest;
}

static void random_fairshare_nvl(void **st)
{
    /* 48 nodes x 4 GPUs, NVLink domains of 4, leaves of 8, 3 leaves per pod, 10% spares */
    cl_cluster_t *c = mk(48, 4, 4, 8, 3, 0.10, CL_POLICY_FAIRSHARE);
    run(c, 1, 100000);
    cl_cluster_destroy(c);
}

static void random_backfill_2gpu(void **st)
{
    /* Colossus-2-like nodes of 2 GPUs, leaves of 5, 2 leaves per pod, 10% spares */
    cl_cluster_t *c = mk(40, 2, 1, 5, 2, 0.10, CL_POLICY_BACKFILL);
    run(c, 2, 100000);
    cl_cluster_destroy(c);
}

/* The same event sequence gives the same decisions, placements included. */
static void deterministic(void **st)
{
    uint64_t h[3];
    for (int i = 0; i < 3; i++) {
        cl_cluster_t *c = mk(48, 4, 4, 8, 3, 0.10, CL_POLICY_FAIRSHARE);
        h[i] = run(c, i < 2 ? 7 : 8, 30000);
        cl_cluster_destroy(c);
    }
    assert_true(h[0] == h[1]);
    assert_true(h[0] != h[2]); /* and the digest does see a different sequence */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deterministic),
        cmocka_unit_test(random_fairshare_nvl),
        cmocka_unit_test(random_backfill_2gpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
