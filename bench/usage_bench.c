/* usage_bench.c - the journal at 10,000,000 finished jobs (issue 11): a journal filled through
 * the real batch and commit path (the committer, big batches) with finished jobs, their usage
 * records (one per run) and an audit record per submission, spread over 60 days, ~200 users
 * in ~50 tenants; then the usage query (by tenant, user, day, month; whole range and one week),
 * the history and audit queries, a controller start's load (finished_since = now - 300 s),
 * and a prune of the oldest week, each timed, and the journal's size on disk. SQLite in a
 * fresh directory under $TMPDIR (deleted afterwards unless --keep). Prints one JSON object.
 *
 *   usage_bench [--jobs N] [--days D] [--users U] [--tenants T] [--batch B] [--keep]
 *               [--no-full-load]
 *
 * Progress goes to stderr. The target (issue 11): every usage query <= 1 s. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "store/committer.h"
#include "util/util.h"

typedef struct opts {
    uint64_t jobs;
    uint32_t days, users, tenants, batch;
    bool keep, full_load;
} opts_t;

enum { LIVE_PENDING = 1000, LIVE_RUNNING = 500, NODE_CHARS = 12 };

/* The synthetic site: who submits, what, on how many nodes, and how it ends. */
typedef struct gen {
    const opts_t *o;
    uint64_t rng;
    double t0, now;          /* the journal's first end time; its last (now) */
    uint64_t next_job, jobs; /* ids count up; finished jobs made */
    uint64_t runs, audits;   /* usage and audit records made */
    char (*user)[24];        /* user names */
    uint32_t *home, *second; /* each user's tenant; a second one (or UINT32_MAX) */
    char (*tenant)[24];      /* tenant names */
    char *nodes;             /* one run's node list */
    char name[64], cwd[160], target[32], detail[64];
    const char *argv[6], *env[3];
} gen_t;

static double urand(gen_t *g)
{
    return (double)(cl_rand_next(&g->rng) >> 11) / 9007199254740992.0;
}

static void gen_init(gen_t *g, const opts_t *o)
{
    static const char *orgs[] = {"acme", "helix", "orbit", "univ", "lab", "nova", "quant"};
    memset(g, 0, sizeof *g);
    g->o = o;
    g->rng = 42;
    g->now = cl_wall_s();
    g->t0 = g->now - o->days * 86400.0;
    g->user = cl_xcalloc(o->users, sizeof *g->user);
    g->home = cl_xcalloc(o->users, sizeof *g->home);
    g->second = cl_xcalloc(o->users, sizeof *g->second);
    g->tenant = cl_xcalloc(o->tenants, sizeof *g->tenant);
    for (uint32_t t = 0; t < o->tenants; t++)
        snprintf(g->tenant[t], sizeof g->tenant[t], "%s-%s-%03u", orgs[t % 7],
                 t % 3 ? "research" : "prod", t);
    for (uint32_t u = 0; u < o->users; u++) {
        snprintf(g->user[u], sizeof g->user[u], "user%04u", u);
        g->home[u] = u % o->tenants;
        g->second[u] = u % 10 == 3 ? (u / 10) % o->tenants : UINT32_MAX;
    }
    g->nodes = cl_xmalloc(512 * NODE_CHARS + 1);
    g->next_job = 1;
}

static void gen_free(gen_t *g)
{
    free(g->user);
    free(g->home);
    free(g->second);
    free(g->tenant);
    free(g->nodes);
}

/* Most jobs are small; a few are big gangs (node lists of up to 6 KB). */
static uint32_t pick_nodes(gen_t *g)
{
    double r = urand(g);
    if (r < 0.70) return 1;
    if (r < 0.90) return 2 + (uint32_t)cl_rand_below(&g->rng, 7);
    if (r < 0.98) return 16 + (uint32_t)cl_rand_below(&g->rng, 49);
    return 128 + (uint32_t)cl_rand_below(&g->rng, 385);
}

static void node_list(gen_t *g, uint32_t n)
{
    uint32_t base = (uint32_t)cl_rand_below(&g->rng, 550000 - n);
    char *at = g->nodes;
    for (uint32_t i = 0; i < n; i++)
        at += sprintf(at, "%snode-%06u", i ? "," : "", base + i);
}

/* How a run ended, and the job state it leaves (a requeued run leaves none: it runs again). */
static const char *pick_ended(gen_t *g, int *state)
{
    double r = urand(g);
    static const struct {
        double upto;
        const char *ended;
        int state;
    } mix[] = {{0.80, "succeeded", CL_JOB_SUCCEEDED}, {0.90, "failed", CL_JOB_FAILED},
               {0.95, "cancelled", CL_JOB_CANCELLED}, {0.98, "timeout", CL_JOB_FAILED},
               {0.99, "node_fail", CL_JOB_FAILED},    {1.01, "preempted", CL_JOB_CANCELLED}};
    size_t i = 0;
    while (r > mix[i].upto)
        i++;
    *state = mix[i].state;
    return mix[i].ended;
}

/* One finished job (its id is g->next_job), its runs (4% ran twice: a node failed under the
 * first) and the audit record of its submission, into b. */
static void gen_job(gen_t *g, cl_store_batch_t *b, double end)
{
    static const char *models[] = {"llama-70b", "moe-1t",  "vit-h14",  "whisper-xl",
                                   "sd3-8b",    "gpt-13b", "rlhf-ppo", "bert-ft"};
    static const char *kinds[] = {"pretrain", "finetune", "eval", "sweep"};
    uint64_t id = g->next_job++;
    uint32_t u = (uint32_t)(g->o->users * urand(g) * urand(g)); /* some users submit more */
    uint32_t t = g->second[u] != UINT32_MAX && urand(g) < 0.5 ? g->second[u] : g->home[u];
    uint32_t n = pick_nodes(g);
    double dur = exp(log(60) + urand(g) * (log(172800) - log(60)));
    double start = end - dur, submit = start - 600 * urand(g);
    int state;
    const char *ended = pick_ended(g, &state);
    snprintf(g->name, sizeof g->name, "%s-%s-run%05u-lr3e-4", models[id % 8], kinds[id % 4],
             (unsigned)(id % 100000));
    snprintf(g->cwd, sizeof g->cwd, "/home/%s/runs/%s", g->user[u], g->name);
    node_list(g, n);
    uint32_t runs = urand(g) < 0.04 ? 2 : 1;
    double run_start = start;
    for (uint32_t inc = 1; inc <= runs; inc++) {
        double run_end = inc < runs ? start + (end - start) * 0.3 : end;
        double gpu_s = n * 8.0 * (run_end - run_start);
        cl_store_usage_t r = {.job = id,
                              .incarnation = inc,
                              .name = g->name,
                              .tenant = g->tenant[t],
                              .user = g->user[u],
                              .nodes = g->nodes,
                              .ended = inc < runs ? "node_fail" : ended,
                              .reason = inc < runs ? "node lost: Xid 79" : "",
                              .gpus = n * 8,
                              .start = run_start,
                              .end = run_end,
                              .gpu_s = gpu_s,
                              .energy_j = gpu_s * 550 * (0.6 + 0.4 * urand(g)),
                              .flops = id % 3 ? gpu_s * 1.6e14 : 0,
                              .exit_code = state == CL_JOB_SUCCEEDED ? 0 : 1,
                              .has_exit = true};
        cl_store_batch_usage(b, &r);
        g->runs++;
        run_start = run_end;
    }
    cl_store_job_t j = {.id = id,
                        .state = state,
                        .name = g->name,
                        .tenant = g->tenant[t],
                        .cwd = g->cwd,
                        .reason = state == CL_JOB_SUCCEEDED ? "" : ended,
                        .nodes = n,
                        .gpus_per_node = 8,
                        .max_restarts = 3,
                        .time_limit_s = 172800,
                        .restarts = runs - 1,
                        .incarnation = runs,
                        .exit_code = state == CL_JOB_SUCCEEDED ? 0 : 1,
                        .has_exit = true,
                        .submit_time = submit,
                        .start_time = start,
                        .end_time = end,
                        .running_time = start + 2,
                        .alloc = g->nodes,
                        .argv = g->argv,
                        .argc = 6,
                        .env = g->env,
                        .envc = 3};
    cl_store_batch_job(b, &j);
    snprintf(g->target, sizeof g->target, "job %" PRIu64, id);
    snprintf(g->detail, sizeof g->detail, "tenant=%s nodes=%u", g->tenant[t], n);
    cl_store_batch_audit(b, &(cl_store_audit_t){.time = submit,
                                                .who = g->user[u],
                                                .op = "submit",
                                                .target = g->target,
                                                .detail = g->detail,
                                                .ok = true});
    g->audits++;
    g->jobs++;
}

/* ---- the load: double-buffered through the committer, as the controller commits ---- */

typedef struct loader {
    uv_loop_t loop;
    cl_committer_t *cm;
    cl_store_batch_t *b[2];
    gen_t *g;
    bool done, failed;
} loader_t;

/* The next batch of finished jobs (false: all made). End times grow with the id, so the
 * indexes are appended to as in a real journal. */
static bool fill(loader_t *l, cl_store_batch_t *b)
{
    gen_t *g = l->g;
    cl_store_batch_clear(b);
    uint64_t n = g->o->jobs, before = g->jobs;
    for (uint32_t k = 0; k < g->o->batch && g->jobs < n; k++) {
        double end = g->t0 + (g->now - 1 - g->t0) * ((double)g->jobs + urand(g)) / (double)n;
        gen_job(g, b, end);
    }
    if (g->jobs / 1000000 != before / 1000000)
        fprintf(stderr, "usage_bench: %" PRIu64 " jobs made\n", g->jobs);
    return cl_store_batch_size(b) > 0;
}

static void on_committed(void *arg, cl_store_batch_t *b, uint64_t seq, bool ok,
                         const cl_error_t *err)
{
    loader_t *l = arg;
    if (!ok) {
        fprintf(stderr, "usage_bench: %s\n", err->msg);
        l->failed = l->done = true;
        return;
    }
    cl_store_batch_t *next = l->b[(seq + 1) % 2]; /* filled while this one committed */
    if (!cl_store_batch_size(next)) {
        l->done = true;
        return;
    }
    if (cl_committer_submit(l->cm, next, seq + 1) < 0) abort();
    fill(l, b);
}

/* The live jobs a controller start must find: pending and running, just submitted. */
static void live_jobs(gen_t *g, cl_store_batch_t *b)
{
    cl_store_batch_clear(b);
    for (int i = 0; i < LIVE_PENDING + LIVE_RUNNING; i++) {
        cl_store_job_t j = {.id = g->next_job++,
                            .state = i < LIVE_PENDING ? CL_JOB_PENDING : CL_JOB_RUNNING,
                            .name = "llama-70b-pretrain-live",
                            .tenant = g->tenant[i % g->o->tenants],
                            .cwd = "/home/user0001/runs/live",
                            .nodes = 4,
                            .gpus_per_node = 8,
                            .submit_time = g->now - 3600,
                            .start_time = i < LIVE_PENDING ? 0 : g->now - 1800,
                            .alloc = i < LIVE_PENDING ? "" : "node-000001,node-000002",
                            .argv = g->argv,
                            .argc = 6,
                            .env = g->env,
                            .envc = 3};
        cl_store_batch_job(b, &j);
    }
}

static int load_journal(cl_store_t *s, gen_t *g, double *secs)
{
    static const char *argv[] = {"python3", "train.py", "--config", "configs/model.yaml",
                                 "--lr",    "3e-4"};
    static const char *env[] = {"WANDB_PROJECT=colossus", "NCCL_DEBUG=WARN",
                                "CUDA_DEVICE_MAX_CONNECTIONS=1"};
    memcpy(g->argv, argv, sizeof argv);
    memcpy(g->env, env, sizeof env);
    loader_t l = {.g = g};
    uv_loop_init(&l.loop);
    cl_error_t err;
    l.cm = cl_committer_create(&l.loop, s, on_committed, &l, &err);
    if (!l.cm) {
        fprintf(stderr, "usage_bench: %s\n", err.msg);
        return -1;
    }
    l.b[0] = cl_store_batch_new();
    l.b[1] = cl_store_batch_new();
    double t0 = cl_now_ms();
    fill(&l, l.b[0]);
    cl_committer_submit(l.cm, l.b[0], 0);
    fill(&l, l.b[1]);
    while (!l.done)
        uv_run(&l.loop, UV_RUN_ONCE);
    cl_committer_destroy(l.cm);
    uv_run(&l.loop, UV_RUN_NOWAIT);
    uv_loop_close(&l.loop);
    int rc = l.failed ? -1 : 0;
    live_jobs(g, l.b[0]);
    if (!rc && cl_store_commit(s, l.b[0], &err) < 0) {
        fprintf(stderr, "usage_bench: %s\n", err.msg);
        rc = -1;
    }
    *secs = (cl_now_ms() - t0) / 1e3;
    cl_store_batch_free(l.b[0]);
    cl_store_batch_free(l.b[1]);
    return rc;
}

/* ---- the queries ---- */

typedef struct tally {
    uint64_t rows, runs;
    double gpu_s;
} tally_t;

static int on_sum(const cl_store_sum_t *r, void *arg)
{
    tally_t *t = arg;
    t->rows++;
    t->runs += r->runs;
    t->gpu_s += r->gpu_s;
    return 0;
}

static int on_usage(const cl_store_usage_t *u, void *arg)
{
    ((tally_t *)arg)->rows++;
    return 0;
}

static int on_audit(const cl_store_audit_t *a, void *arg)
{
    ((tally_t *)arg)->rows++;
    return 0;
}

static int on_job(const cl_store_job_t *j, void *arg)
{
    ((tally_t *)arg)->rows++;
    return 0;
}

typedef enum { Q_USAGE, Q_HISTORY, Q_AUDIT, Q_LOAD } qkind_t;

typedef struct query {
    const char *what;
    qkind_t kind;
    cl_store_usage_q_t usage;
    cl_store_history_q_t history;
    cl_store_audit_q_t audit;
    double finished_since;
} query_t;

static int run_query(cl_store_t *s, const query_t *q, tally_t *t, cl_error_t *err)
{
    memset(t, 0, sizeof *t);
    switch (q->kind) {
    case Q_USAGE:
        return cl_store_usage_query(s, &q->usage, on_sum, t, err);
    case Q_HISTORY:
        return cl_store_history_query(s, &q->history, on_usage, t, err);
    case Q_AUDIT:
        return cl_store_audit_query(s, &q->audit, on_audit, t, err);
    case Q_LOAD:
        return cl_store_load(s, q->finished_since, on_job, NULL, t, err);
    }
    return -1;
}

/* Each query three times: the first (the store just reopened: SQLite's cache cold, the
 * kernel's page cache as the load left it) and the best. */
static int time_query(cl_store_t *s, const query_t *q, tally_t *t, bool last)
{
    double first = 0, best = 1e30;
    for (int i = 0; i < 3; i++) {
        cl_error_t err;
        double t0 = cl_now_us();
        if (run_query(s, q, t, &err) < 0) {
            fprintf(stderr, "usage_bench: %s: %s\n", q->what, err.msg);
            return -1;
        }
        double ms = (cl_now_us() - t0) / 1e3;
        if (!i) first = ms;
        if (ms < best) best = ms;
    }
    printf("    {\"query\": \"%s\", \"rows\": %" PRIu64
           ", \"ms_first\": %.2f, \"ms_best\": %.2f}%s\n",
           q->what, t->rows, first, best, last ? "" : ",");
    return 0;
}

static int queries(cl_store_t *s, const gen_t *g, const char *tenant, const char *user,
                   tally_t *all)
{
    /* every run: a long job's first run may end days before the first job's end */
    double all_since = 0, week = g->now - 7 * 86400.0;
    const query_t qs[] = {
        {"usage by tenant, all days", Q_USAGE, .usage = {CL_STORE_BY_TENANT, all_since, 0}},
        {"usage by user, all days", Q_USAGE, .usage = {CL_STORE_BY_USER, all_since, 0}},
        {"usage by day, all days", Q_USAGE, .usage = {CL_STORE_BY_DAY, all_since, 0}},
        {"usage by month, all days", Q_USAGE, .usage = {CL_STORE_BY_MONTH, all_since, 0}},
        {"usage by tenant, last week", Q_USAGE, .usage = {CL_STORE_BY_TENANT, week, g->now}},
        {"usage by user, last week", Q_USAGE, .usage = {CL_STORE_BY_USER, week, g->now}},
        {"usage by day, last week", Q_USAGE, .usage = {CL_STORE_BY_DAY, week, g->now}},
        {"usage by month, last week", Q_USAGE, .usage = {CL_STORE_BY_MONTH, week, g->now}},
        {"usage by day, one tenant, all days", Q_USAGE,
         .usage = {CL_STORE_BY_DAY, all_since, 0, .tenant = tenant}},
        {"usage by month, one user, all days", Q_USAGE,
         .usage = {CL_STORE_BY_MONTH, all_since, 0, .user = user}},
        {"history --limit 100", Q_HISTORY, .history = {.limit = 100}},
        {"history --tenant T --limit 100", Q_HISTORY,
         .history = {.tenant = tenant, .limit = 100}},
        {"history --user U --state failed --since 7d (all)", Q_HISTORY,
         .history = {.since = week, .user = user, .ended = "failed"}},
        {"history --state node_fail --limit 100", Q_HISTORY,
         .history = {.ended = "node_fail", .limit = 100}},
        /* a job's runs (the dashboard's timeline): the key's range, with the tenant the
         * controller always gives */
        {"history --job N", Q_HISTORY, .history = {.job = g->next_job / 2}},
        {"history --job N --tenant T", Q_HISTORY,
         .history = {.tenant = tenant, .job = g->next_job / 2}},
        {"audit --limit 100", Q_AUDIT, .audit = {.limit = 100}},
        {"audit --user U --limit 100", Q_AUDIT, .audit = {.who = user, .limit = 100}},
        {"load, finished_since now-300s", Q_LOAD, .finished_since = g->now - 300},
    };
    size_t n = sizeof qs / sizeof qs[0];
    for (size_t i = 0; i < n; i++) {
        tally_t t;
        if (time_query(s, &qs[i], &t, i + 1 == n) < 0) return -1;
        if (i == 0) *all = t;
    }
    return 0;
}

/* ---- the rest: size on disk, prune, the old journal's first open, a full load ---- */

static double file_mb(const char *dir, const char *suffix)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/colossus.db%s", dir, suffix);
    struct stat st;
    return stat(p, &st) == 0 ? (double)st.st_size / 1048576.0 : 0;
}

/* Prune the oldest week, one bounded commit after another, as a controller would. */
static int prune_week(cl_store_t *s, const gen_t *g)
{
    double cut = g->t0 + 7 * 86400.0, t0 = cl_now_ms(), max_ms = 0;
    cl_store_batch_t *b = cl_store_batch_new();
    uint64_t commits = 0, j0 = s->pruned_jobs, u0 = s->pruned_usage, a0 = s->pruned_audit;
    int rc = 0;
    do {
        cl_store_batch_clear(b);
        cl_store_batch_prune(b, cut, cut, cut);
        cl_error_t err;
        double c0 = cl_now_ms();
        if (cl_store_commit(s, b, &err) < 0) {
            fprintf(stderr, "usage_bench: prune: %s\n", err.msg);
            rc = -1;
            break;
        }
        double ms = cl_now_ms() - c0;
        if (ms > max_ms) max_ms = ms;
        commits++;
    } while (s->prune_more);
    cl_store_batch_free(b);
    double secs = (cl_now_ms() - t0) / 1e3;
    printf("  \"prune_week\": {\"commits\": %" PRIu64 ", \"jobs\": %" PRIu64
           ", \"usage_records\": %" PRIu64 ", \"audit_records\": %" PRIu64
           ", \"s\": %.2f, \"commit_ms_mean\": %.1f, \"commit_ms_max\": %.1f, "
           "\"rows_per_commit_max\": %d},\n",
           commits, s->pruned_jobs - j0, s->pruned_usage - u0, s->pruned_audit - a0, secs,
           secs * 1e3 / (double)commits, max_ms, CL_STORE_PRUNE_MAX);
    return rc;
}

/* A journal made by the code before (issue 11's first form included) has its finished jobs
 * in the jobs table: its first open moves them into jobs_done. Measured by putting them back
 * and opening again. */
static double migration_open_s(cl_store_t **s, const char *dir)
{
    cl_store_close(*s);
    *s = NULL;
    char p[4200];
    snprintf(p, sizeof p, "%s/colossus.db", dir);
    sqlite3 *db;
    if (sqlite3_open(p, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "BEGIN; INSERT INTO jobs SELECT * FROM jobs_done; DROP TABLE jobs_done;"
                     " COMMIT;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "usage_bench: %s: %s\n", p, sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    sqlite3_close(db);
    double t0 = cl_now_ms();
    cl_error_t err;
    *s = cl_store_open_sqlite(dir, true, &err);
    if (!*s) fprintf(stderr, "usage_bench: %s\n", err.msg);
    return *s ? (cl_now_ms() - t0) / 1e3 : -1;
}

static int bench(const opts_t *o, const char *dir)
{
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
    if (!s) {
        fprintf(stderr, "usage_bench: %s\n", err.msg);
        return -1;
    }
    gen_t g;
    gen_init(&g, o);
    double load_s = 0;
    int rc = load_journal(s, &g, &load_s);
    uint64_t rows = g.jobs + LIVE_PENDING + LIVE_RUNNING + g.runs + g.audits;
    printf("{\"bench\": \"usage\", \"backend\": \"sqlite\", \"jobs\": %" PRIu64
           ", \"usage_records\": %" PRIu64 ", \"audit_records\": %" PRIu64
           ", \"live_jobs\": %d, \"days\": %u, \"users\": %u, \"tenants\": %u, "
           "\"batch_jobs\": %u,\n  \"load_s\": %.1f, \"load_jobs_per_s\": %.0f, "
           "\"load_records_per_s\": %.0f,\n",
           g.jobs, g.runs, g.audits, LIVE_PENDING + LIVE_RUNNING, o->days, o->users, o->tenants,
           o->batch, load_s, (double)g.jobs / load_s, (double)rows / load_s);
    cl_store_close(s); /* reopened: the queries start with SQLite's cache empty */
    s = rc ? NULL : cl_store_open_sqlite(dir, true, &err);
    if (!s) rc = -1;
    printf("  \"db_mb\": %.0f, \"wal_mb\": %.0f,\n  \"queries\": [\n", file_mb(dir, ""),
           file_mb(dir, "-wal"));
    tally_t all = {0};
    if (!rc) rc = queries(s, &g, g.tenant[1], g.user[3], &all);
    printf("  ],\n  \"rollup_runs_total\": %" PRIu64 ", \"rollups_match_records\": %s,\n",
           all.runs, all.runs == g.runs ? "true" : "false");
    if (all.runs != g.runs) rc = -1;
    if (!rc && o->full_load) {
        tally_t t;
        query_t q = {.what = "load, every job", .kind = Q_LOAD};
        double t0 = cl_now_ms();
        rc = run_query(s, &q, &t, &err);
        printf("  \"full_load\": {\"jobs\": %" PRIu64 ", \"s\": %.1f},\n", t.rows,
               (cl_now_ms() - t0) / 1e3);
    }
    if (!rc) rc = prune_week(s, &g);
    if (!rc) {
        tally_t t;
        query_t q = {.what = "after prune",
                     .kind = Q_USAGE,
                     .usage = {CL_STORE_BY_TENANT, 0, 0}}; /* every run, as "all days" */
        rc = run_query(s, &q, &t, &err);
        printf("  \"rollups_kept_after_prune\": %s,\n",
               !rc && t.runs == all.runs ? "true" : "false");
        if (t.runs != all.runs) rc = -1;
    }
    double mig = rc ? -1 : migration_open_s(&s, dir);
    printf("  \"old_journal_first_open_s\": %.1f, \"db_mb_after_prune\": %.0f, "
           "\"wal_mb_after_prune\": %.0f, \"ok\": %s}\n",
           mig, file_mb(dir, ""), file_mb(dir, "-wal"), rc || mig < 0 ? "false" : "true");
    cl_store_close(s);
    gen_free(&g);
    return rc || mig < 0 ? -1 : 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: usage_bench [--jobs N] [--days D] [--users U] [--tenants T] [--batch B]\n"
            "                   [--keep] [--no-full-load]\n"
            "  --jobs N        finished jobs to journal (default 10000000)\n"
            "  --days D        over this many days up to now (default 60)\n"
            "  --users U       users (default 200), in --tenants T tenants (default 50)\n"
            "  --batch B       jobs per group commit (default 50000)\n"
            "  --keep          leave the journal in $TMPDIR (its path on stderr)\n"
            "  --no-full-load  skip the load of every job (as a start did before issue 11)\n");
}

static int parse(int argc, char **argv, opts_t *o)
{
    enum { O_JOBS = 256, O_DAYS, O_USERS, O_TENANTS, O_BATCH, O_KEEP, O_NOFULL };
    static const struct option lo[] = {{"jobs", required_argument, 0, O_JOBS},
                                       {"days", required_argument, 0, O_DAYS},
                                       {"users", required_argument, 0, O_USERS},
                                       {"tenants", required_argument, 0, O_TENANTS},
                                       {"batch", required_argument, 0, O_BATCH},
                                       {"keep", no_argument, 0, O_KEEP},
                                       {"no-full-load", no_argument, 0, O_NOFULL},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    *o = (opts_t){.jobs = 10000000,
                  .days = 60,
                  .users = 200,
                  .tenants = 50,
                  .batch = 50000,
                  .full_load = true};
    long v;
    for (int c; (c = getopt_long(argc, argv, "h", lo, NULL)) != -1;) {
        switch (c) {
        case O_JOBS:
            if (cl_flag_long("usage_bench", "--jobs", optarg, 1, 100000000, &v) < 0) return 2;
            o->jobs = (uint64_t)v;
            break;
        case O_DAYS:
            if (cl_flag_u32("usage_bench", "--days", optarg, 1, 3650, &o->days) < 0) return 2;
            break;
        case O_USERS:
            if (cl_flag_u32("usage_bench", "--users", optarg, 1, 1000000, &o->users) < 0)
                return 2;
            break;
        case O_TENANTS:
            if (cl_flag_u32("usage_bench", "--tenants", optarg, 1, 100000, &o->tenants) < 0)
                return 2;
            break;
        case O_BATCH:
            if (cl_flag_u32("usage_bench", "--batch", optarg, 1, 1000000, &o->batch) < 0)
                return 2;
            break;
        case O_KEEP:
            o->keep = true;
            break;
        case O_NOFULL:
            o->full_load = false;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "colossus usage_bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cl-usage-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("usage_bench: mkdtemp");
        return 1;
    }
    /* ~0.9 KB a job with its runs, audit record and indexes (measured), and room to spare */
    struct statvfs vfs;
    double need_gb = (double)o.jobs * 1.5e3 / 1e9;
    if (statvfs(dir, &vfs) == 0 && (double)vfs.f_bavail * vfs.f_frsize / 1e9 < need_gb) {
        fprintf(stderr, "usage_bench: %s has %.1f GB free; %" PRIu64 " jobs need ~%.1f GB\n",
                dir, (double)vfs.f_bavail * vfs.f_frsize / 1e9, o.jobs, need_gb);
        rmdir(dir);
        return 1;
    }
    fprintf(stderr, "usage_bench: journal in %s\n", dir);
    rc = bench(&o, dir);
    if (!o.keep) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "usage_bench: could not remove %s\n", dir);
    }
    return rc ? 1 : 0;
}
