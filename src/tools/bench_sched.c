/* bench_sched.c - `colossus bench sched`: the scheduling core at Colossus 2 scale, as JSON. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/flags.h"
#include "colossus/core.h"
#include "util/util.h"

typedef struct bopt {
    const char *preset;
    uint32_t nodes, gpn;
    uint64_t pending;
    uint64_t seed;
    int json;
    double load;
    uint32_t resv_nodes; /* a maintenance window over nodes 0.. before the long pass */
} bopt_t;

static double sample_limit(uint64_t *rng)
{
    return 3600.0 * (1 + cl_rand_below(rng, 48));
}

/* A realistic pending mix in GPUs: most 8-64, some 128-512, some 1,024-16,384, a few
 * 131,072+ (frontier runs). */
static uint32_t sample_gpus(uint64_t *rng)
{
    uint64_t r = cl_rand_below(rng, 10000);
    if (r < 8000) return 8u << cl_rand_below(rng, 4);    /* 8..64 */
    if (r < 9500) return 128u << cl_rand_below(rng, 3);  /* 128..512 */
    if (r < 9990) return 1024u << cl_rand_below(rng, 5); /* 1,024..16,384 */
    return 131072u << cl_rand_below(rng, 2);             /* 131,072..262,144 */
}

static void spec_for(cl_job_spec_t *s, uint32_t gpus, uint32_t gpn, uint64_t *rng)
{
    memset(s, 0, sizeof(*s));
    if (gpus <= gpn) {
        s->nodes = 1;
        s->gpus_per_node = gpus;
    } else {
        s->nodes = (gpus + gpn - 1) / gpn;
        s->gpus_per_node = gpn;
    }
    s->tenant = (uint32_t)cl_rand_below(rng, 16) + 1;
    s->priority = (int32_t)cl_rand_below(rng, 3);
    s->preemptible = cl_rand_below(rng, 5) == 0;
    s->time_limit_s = sample_limit(rng);
    s->max_restarts = 3;
}

static cl_cluster_t *make_cluster(const bopt_t *o, uint32_t nodes, double *build_ms)
{
    cl_error_t err;
    double t0 = cl_now_ms();
    cl_topo_t *t = cl_topo_preset(o->preset, nodes, o->gpn, &err);
    if (!t) {
        fprintf(stderr, "colossus bench: %s\n", err.msg);
        return NULL;
    }
    cl_cluster_opts_t co;
    cl_cluster_opts_default(&co);
    cl_cluster_t *c = cl_cluster_create(t, &co, &err);
    if (!c) {
        fprintf(stderr, "colossus bench: %s\n", err.msg);
        return NULL;
    }
    for (int i = 1; i <= 16; i++) {
        char nm[32];
        snprintf(nm, sizeof(nm), "tenant%02d", i);
        cl_tenant_add(c, nm, 1 + (i % 4), NULL);
    }
    if (build_ms) *build_ms = cl_now_ms() - t0;
    return c;
}

/* Fill the cluster to `load` of its GPUs with a mix of small and mid-size gangs, then end
 * a random third of them, so placements search a fragmented machine. */
static void load_cluster(cl_cluster_t *c, double load, uint64_t *rng, double now)
{
    const cl_topo_t *t = cl_cluster_topo(c);
    uint32_t gpn = cl_topo_gpus_per_node(t);
    uint64_t target = (uint64_t)(load * 1.5 * (double)cl_topo_gpus(t)), sum = 0;
    cl_decisions_t d = {0};
    cl_job_spec_t s;
    while (sum < target) {
        uint32_t g = cl_rand_below(rng, 4) ? (1u + (uint32_t)cl_rand_below(rng, gpn))
                                           : (8u << cl_rand_below(rng, 5));
        spec_for(&s, g, gpn, rng);
        s.priority = 0;
        s.preemptible = 0;
        if (cl_job_submit(c, &s, now, NULL, NULL) < 0) break;
        sum += (uint64_t)s.nodes * s.gpus_per_node;
    }
    cl_schedule(c, now, &d);
    /* Pending leftovers are dropped; a third of the running end. */
    for (cl_jobid_t id = cl_jobs_next(c, 0); id; id = cl_jobs_next(c, id)) {
        cl_job_info_t ji;
        cl_job_get(c, id, &ji);
        if (ji.state == CL_JOB_PENDING)
            cl_job_cancel(c, id, now, NULL);
        else if (cl_rand_below(rng, 3) == 0)
            cl_job_finish(c, id, true, now, NULL);
    }
    for (cl_jobid_t id = cl_jobs_next(c, 0); id; id = cl_jobs_next(c, id)) {
        cl_job_info_t ji;
        cl_job_get(c, id, &ji);
        if (ji.state != CL_JOB_RUNNING && ji.state != CL_JOB_PENDING) cl_job_forget(c, id);
    }
    cl_decisions_free(&d);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Place `n` gangs of `gpus` one at a time (submit, one pass, end), in microseconds. */
static int placement_latency(cl_cluster_t *c, uint32_t gpus, int n, uint64_t *rng, double *p50,
                             double *p99, double *mean)
{
    uint32_t gpn = cl_topo_gpus_per_node(cl_cluster_topo(c));
    double *v = cl_xmalloc(sizeof(double) * (size_t)n);
    cl_decisions_t d = {0};
    int got = 0;
    double now = 1000;
    for (int i = 0; i < n; i++) {
        cl_job_spec_t s;
        spec_for(&s, gpus, gpn, rng);
        s.priority = 100;
        s.preemptible = 0;
        cl_jobid_t id;
        if (cl_job_submit(c, &s, now, &id, NULL) < 0) break;
        cl_decisions_clear(&d);
        double t0 = cl_now_us();
        cl_schedule(c, now, &d);
        double dt = cl_now_us() - t0;
        cl_job_info_t ji;
        cl_job_get(c, id, &ji);
        if (ji.state == CL_JOB_RUNNING) {
            v[got++] = dt;
            cl_job_finish(c, id, true, now, NULL);
        } else {
            cl_job_cancel(c, id, now, NULL);
        }
        cl_job_forget(c, id);
    }
    cl_decisions_free(&d);
    if (!got) {
        free(v);
        return -1;
    }
    qsort(v, (size_t)got, sizeof(double), cmp_d);
    double sum = 0;
    for (int i = 0; i < got; i++)
        sum += v[i];
    *p50 = v[got / 2];
    *p99 = v[(size_t)((got - 1) * 0.99)];
    *mean = sum / got;
    free(v);
    return got;
}

/* Tenants as a service: 4 cohorts of 4, each tenant with a nominal quota of 1/16 of the
 * GPUs, borrowing and lending up to half of it; tenant 4's budget spent; 64 users with a
 * running limit. Returns 0, or -1 if the core refused (it must not). */
static int configure_quotas(cl_cluster_t *c)
{
    uint64_t q = cl_topo_gpus(cl_cluster_topo(c)) / 16;
    for (uint32_t t = 1; t <= 16; t++) {
        cl_tenant_conf_t f;
        cl_error_t err;
        cl_tenant_get(c, t, &f);
        f.quota_gpus = q;
        f.cohort = (t - 1) / 4 + 1;
        f.borrow_limit = q / 2;
        f.lend_limit = q / 2;
        if (t == 4) f.budget_gpu_s = 1;
        if (cl_tenant_set(c, t, &f, &err) < 0 || cl_tenant_budget_set(c, t, 0, 0, &err) < 0) {
            fprintf(stderr, "colossus bench: %s\n", err.msg);
            return -1;
        }
    }
    for (uint32_t u = 1; u <= 64; u++)
        cl_user_limit_set(c, u, 5000, NULL);
    return 0;
}

/* The long pass again, under quotas; then every pending job's reason, timed. */
static double quota_pass(const bopt_t *o, uint64_t *rng, size_t *started, double *reason_ns)
{
    cl_cluster_t *c = make_cluster(o, o->nodes, NULL);
    if (!c || configure_quotas(c) < 0) {
        cl_cluster_destroy(c);
        return -1;
    }
    uint32_t nodes = cl_topo_nodes(cl_cluster_topo(c)),
             gpn = cl_topo_gpus_per_node(cl_cluster_topo(c));
    cl_decisions_t d = {0};
    cl_schedule(c, 1, &d); /* tenant 4's budget is spent from here on */
    load_cluster(c, 0.95, rng, 20);
    cl_job_spec_t s;
    for (uint64_t i = 0; i < o->pending; i++) {
        spec_for(&s, sample_gpus(rng), gpn, rng);
        if (s.nodes > nodes) s.nodes = nodes;
        s.user = 1 + (uint32_t)cl_rand_below(rng, 64);
        cl_job_submit(c, &s, 30, NULL, NULL);
    }
    cl_decisions_clear(&d);
    double t0 = cl_now_ms();
    *started = cl_schedule(c, 40, &d);
    double ms = cl_now_ms() - t0;
    uint64_t n = 0, counts[CL_PEND_CPUMEM + 1] = {0};
    t0 = cl_now_ms();
    for (cl_jobid_t id = cl_jobs_next(c, 0); id; id = cl_jobs_next(c, id)) {
        cl_pending_t p;
        cl_job_pending(c, id, &p);
        counts[p.why]++;
        n++;
    }
    *reason_ns = n ? (cl_now_ms() - t0) * 1e6 / (double)n : 0;
    if (!o->json) {
        printf("pass under quotas: %.0f ms (%zu started); pending reasons:", ms, *started);
        for (int w = CL_PEND_NEW; w <= CL_PEND_CPUMEM; w++)
            if (counts[w])
                printf(" %s %llu,", cl_pend_name((cl_pend_t)w), (unsigned long long)counts[w]);
        printf(" read at %.0f ns a job (with the walk over ids)\n", *reason_ns);
    }
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
    return ms;
}

/* Per-decision cost on a machine of `nodes`: a mix of single-node jobs and 8-GPU gangs at
 * the same load. Returns mean microseconds per decision. */
static double decision_cost(const bopt_t *o, uint32_t nodes)
{
    uint64_t rng = o->seed;
    cl_cluster_t *c = make_cluster(o, nodes, NULL);
    if (!c) return -1;
    load_cluster(c, o->load, &rng, 0);
    double p50, p99, m1, m8;
    uint32_t gpn = cl_topo_gpus_per_node(cl_cluster_topo(c));
    placement_latency(c, gpn, 4000, &rng, &p50, &p99, &m1);
    placement_latency(c, 8, 4000, &rng, &p50, &p99, &m8);
    cl_cluster_destroy(c);
    return (m1 + m8) / 2;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: colossus bench sched [--preset NAME] [--nodes N] [--gpus-per-node G]\n"
            "                            [--pending N] [--load F] [--seed S] [--json]\n"
            "The scheduling core at Colossus 2 scale: pass throughput, placement latency by\n"
            "gang size on a loaded machine, one pass over a long queue (also under tenants'\n"
            "quotas and cohorts), pending reasons, per-decision cost.\n"
            "  --preset NAME           colossus2 (default), hgx or nvl72\n"
            "  --nodes N               nodes of the preset, 1..100000000\n"
            "  --gpus-per-node G       1..%d\n"
            "  --pending N             jobs queued for the long pass, 0..100000000\n"
            "                          (default 1000000)\n"
            "  --load F                the machine's load for the latency test, in [0, 0.95]\n"
            "                          (default 0.6)\n"
            "  --seed S                the random stream (default 42)\n"
            "  --resv-nodes N          before the long pass, a maintenance window over the\n"
            "                          first N nodes from 30 minutes on, and tenant 1's over\n"
            "                          the next N (default 0: none)\n"
            "  --json                  only the JSON line\n"
            "  -h, --help              this text\n",
            CL_MAX_GPUS_PER_NODE);
}

/* The flags into o; 0, or -1 to stop with *status. */
static int bench_flags(int argc, char **argv, bopt_t *o, int *status)
{
    enum { O_PRESET = 1000, O_NODES, O_GPN, O_PENDING, O_SEED, O_JSON, O_LOAD, O_RESV };
    static const struct option opts[] = {{"preset", required_argument, 0, O_PRESET},
                                         {"nodes", required_argument, 0, O_NODES},
                                         {"gpus-per-node", required_argument, 0, O_GPN},
                                         {"pending", required_argument, 0, O_PENDING},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"json", no_argument, 0, O_JSON},
                                         {"load", required_argument, 0, O_LOAD},
                                         {"resv-nodes", required_argument, 0, O_RESV},
                                         CL_FLAGS_HELP,
                                         {0, 0, 0, 0}};
    cl_flags_t f = {.cmd = "bench sched", .shorts = "h", .longs = opts, .usage = usage};
    long v;
    int ch, bad = 0;
    *status = 2;
    while (!bad && (ch = cl_flags_next(&f, argc, argv)) != -1) {
        switch (ch) {
        case CL_FLAGS_DONE:
            *status = f.exit;
            return -1;
        case O_PRESET:
            o->preset = optarg;
            break;
        case O_NODES:
            bad = cl_flag_u32(f.cmd, "--nodes", optarg, 1, 100000000, &o->nodes);
            break;
        case O_GPN:
            bad =
                cl_flag_u32(f.cmd, "--gpus-per-node", optarg, 1, CL_MAX_GPUS_PER_NODE, &o->gpn);
            break;
        case O_PENDING:
            bad = cl_flag_long(f.cmd, "--pending", optarg, 0, 100000000, &v);
            o->pending = (uint64_t)v;
            break;
        case O_SEED:
            bad = cl_flag_long(f.cmd, "--seed", optarg, 0, LONG_MAX, &v);
            o->seed = (uint64_t)v;
            break;
        case O_LOAD:
            bad = cl_flag_double(f.cmd, "--load", optarg, 0, 0.95, &o->load);
            break;
        case O_RESV:
            bad = cl_flag_u32(f.cmd, "--resv-nodes", optarg, 0, 50000000, &o->resv_nodes);
            break;
        case O_JSON:
            o->json = 1;
            break;
        }
    }
    if (bad || cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return -1;
    return 0;
}

static int bench_sched(int argc, char **argv)
{
    bopt_t o = {.preset = "colossus2", .pending = 1000000, .seed = 42, .load = 0.6};
    int status;
    if (bench_flags(argc, argv, &o, &status) < 0) return status;
    uint64_t rng = o.seed;
    double build_ms;
    cl_cluster_t *c = make_cluster(&o, o.nodes, &build_ms);
    if (!c) return 2;
    const cl_topo_t *t = cl_cluster_topo(c);
    uint32_t nodes = cl_topo_nodes(t), gpn = cl_topo_gpus_per_node(t);
    if (!o.json)
        printf(
            "cluster: %u nodes x %u GPUs = %llu GPUs, %u leaves, %u pods; built in %.0f ms\n",
            nodes, gpn, (unsigned long long)cl_topo_gpus(t), cl_topo_leaves(t), cl_topo_pods(t),
            build_ms);

    /* 1. Throughput: one pass starting a single-node job on every node. */
    cl_job_spec_t s;
    cl_decisions_t d = {0};
    for (uint32_t i = 0; i < nodes; i++) {
        spec_for(&s, gpn, gpn, &rng);
        s.priority = 0;
        s.preemptible = 0;
        cl_job_submit(c, &s, 0, NULL, NULL);
    }
    double t0 = cl_now_ms();
    size_t nd = cl_schedule(c, 0, &d);
    double fill_ms = cl_now_ms() - t0;
    double dps = nd / (fill_ms / 1000);
    for (size_t i = 0; i < d.n; i++) {
        cl_job_finish(c, d.v[i].job, true, 1, NULL);
        cl_job_forget(c, d.v[i].job);
    }
    cl_decisions_clear(&d);
    if (!o.json)
        printf("throughput: %zu single-node jobs started in one pass of %.0f ms = %.0f/s\n", nd,
               fill_ms, dps);

    /* 2. Placement latency by gang size on a fragmented, loaded machine. */
    load_cluster(c, o.load, &rng, 10);
    static const uint32_t sizes[] = {8, 1024, 16384, 131072};
    static const int samples[] = {20000, 2000, 300, 60};
    double p50[4] = {0}, p99[4] = {0}, mean[4] = {0};
    int got[4] = {0};
    for (int i = 0; i < 4; i++) {
        got[i] = placement_latency(c, sizes[i], samples[i], &rng, &p50[i], &p99[i], &mean[i]);
        if (!o.json)
            printf("placement of %6u-GPU gangs: p50 %.1f us, p99 %.1f us (%d samples)\n",
                   sizes[i], p50[i], p99[i], got[i]);
    }

    /* 3. A million pending jobs behind a nearly full machine: one full pass. */
    load_cluster(c, 0.95 / 1.5 * 1.5, &rng, 20);
    for (uint64_t i = 0; i < o.pending; i++) {
        spec_for(&s, sample_gpus(&rng), gpn, &rng);
        if (s.nodes > nodes) s.nodes = nodes;
        cl_job_submit(c, &s, 30, NULL, NULL);
    }
    if (o.resv_nodes) {
        uint32_t n = o.resv_nodes * 2 <= nodes ? o.resv_nodes : nodes / 2;
        cl_nodeid_t *ids = malloc(sizeof *ids * (2 * (size_t)n + 1));
        for (uint32_t i = 0; i < 2 * n; i++)
            ids[i] = i;
        cl_resv_spec_t m = {1, 40 + 1800, 40 + 9000, -1, ids, n};
        cl_resv_spec_t tr = {2, 40, 40 + 9000, 1, ids + n, n};
        if (cl_resv_add(c, &m, NULL) < 0 || cl_resv_add(c, &tr, NULL) < 0) abort();
        free(ids);
    }
    cl_stats_t st;
    cl_cluster_stats(c, &st);
    t0 = cl_now_ms();
    size_t started = cl_schedule(c, 40, &d);
    double pass_ms = cl_now_ms() - t0;
    cl_reservation_t rv;
    cl_reservation_get(c, &rv);
    size_t nbf;
    cl_backfilled(c, &nbf);
    double rss = cl_peak_rss_mb();
    if (!o.json)
        printf("pass over %llu pending jobs: %.0f ms (%zu started, %zu backfilled, reservation "
               "for job %llu at +%.0f s on %zu nodes); peak RSS %.0f MB\n",
               (unsigned long long)st.jobs_pending, pass_ms, started, nbf,
               (unsigned long long)rv.job, rv.shadow - 40, rv.n, rss);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);

    /* 3b. The same under tenants' quotas, cohorts, a spent budget and users' limits. */
    size_t qstarted = 0;
    double reason_ns = 0, quota_ms = quota_pass(&o, &rng, &qstarted, &reason_ns);
    if (quota_ms < 0) return 1;

    /* 4. Scaling: the same per-decision work on 1/100 of the machine. */
    double big = decision_cost(&o, nodes),
           small = decision_cost(&o, nodes / 100 ? nodes / 100 : 1);
    double ratio = big / small;
    if (!o.json)
        printf("per-decision cost: %.2f us at %u nodes, %.2f us at %u nodes: ratio %.2f\n", big,
               nodes, small, nodes / 100, ratio);

    /* A gang size the machine cannot hold has no latency: null, not a made-up zero. */
    char lat[4][32];
    for (int i = 0; i < 4; i++)
        if (got[i] > 0)
            snprintf(lat[i], sizeof(lat[i]), "%.2f", p99[i]);
        else
            snprintf(lat[i], sizeof(lat[i]), "null");
    printf("{\"preset\":\"%s\",\"nodes\":%u,\"gpus\":%llu,\"pending_jobs\":%llu,"
           "\"build_ms\":%.1f,\"rss_mb\":%.1f,\"decisions_per_s\":%.0f,"
           "\"p50_us_8\":%.2f,\"p99_us_8\":%s,\"p99_us_1024\":%s,\"p99_us_16384\":%s,"
           "\"p99_us_131072\":%s,\"pass_ms\":%.1f,\"pass_ms_quota\":%.1f,"
           "\"reason_ns\":%.1f,\"scaling_ratio\":%.3f,"
           "\"decision_us_full\":%.3f,\"decision_us_1pct\":%.3f}\n",
           o.preset, nodes, (unsigned long long)nodes * gpn,
           (unsigned long long)st.jobs_pending, build_ms, rss, dps, p50[0], lat[0], lat[1],
           lat[2], lat[3], pass_ms, quota_ms, reason_ns, ratio, big, small);
    return 0;
}

static void usage_bench(FILE *f)
{
    fprintf(f, "usage: colossus bench BENCHMARK [OPTIONS]\n"
               "Benchmarks (`colossus bench BENCHMARK --help` for each one's options):\n"
               "  sched                   the scheduling core at Colossus 2 scale\n");
}

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "sched")) return bench_sched(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage_bench(stdout);
        return 0;
    }
    if (argc < 2)
        fprintf(stderr, "colossus bench: which benchmark? (known: sched)\n");
    else if (argv[1][0] == '-')
        fprintf(stderr, "colossus bench: unknown option '%s'\n", argv[1]);
    else
        fprintf(stderr, "colossus bench: unknown benchmark '%s' (known: sched)\n", argv[1]);
    usage_bench(stderr);
    return 2;
}
