/* store_bench.c - the journal's group commit, measured: job records committed per second
 * through the committer (a worker thread) with batches of 1, 10, 100 and 1,000 job puts, and
 * what the loop thread pays per put; next to it the same batches committed inline (on the
 * loop thread, as the controller did before the committer). SQLite in a fresh directory
 * under $TMPDIR. Prints one JSON object.
 *
 *   store_bench [--seconds S] [--sync full|normal]
 *
 * Through the committer the loop fills the next batch while one commits (double buffering,
 * as the controller does) and submits it from the callback. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "store/committer.h"
#include "util/util.h"

typedef struct run {
    uv_loop_t loop;
    cl_committer_t *cm;
    cl_store_batch_t *b[2];
    int batch;        /* puts a batch */
    uint64_t next_id; /* job ids count up: every record is a new row */
    double put_us;    /* loop thread time in puts */
    uint64_t puts;
    double deadline_ms; /* stop submitting */
    bool done, failed;
} run_t;

static void fill(run_t *r, cl_store_batch_t *b)
{
    static const char *argv[] = {"python3", "train.py", "--lr", "3e-4"};
    static const char *env[] = {"CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7"};
    cl_store_batch_clear(b);
    double t0 = cl_now_us();
    for (int i = 0; i < r->batch; i++) {
        cl_store_job_t j = {.id = ++r->next_id,
                            .state = 1,
                            .name = "train",
                            .tenant = "default",
                            .cwd = "/home/alice/run",
                            .reason = "",
                            .nodes = 4,
                            .gpus_per_node = 8,
                            .submit_time = cl_wall_s(),
                            .alloc = "gpu-0001,gpu-0002,gpu-0003,gpu-0004",
                            .argv = argv,
                            .argc = 4,
                            .env = env,
                            .envc = 1};
        cl_store_batch_job(b, &j);
    }
    r->put_us += cl_now_us() - t0;
    r->puts += (uint64_t)r->batch;
}

static void on_committed(void *arg, cl_store_batch_t *b, uint64_t seq, bool ok,
                         const cl_error_t *err)
{
    run_t *r = arg;
    if (!ok) {
        fprintf(stderr, "store_bench: %s\n", err->msg);
        r->failed = r->done = true;
        return;
    }
    if (cl_now_ms() >= r->deadline_ms) {
        r->done = true;
        return;
    }
    /* the other batch was filled while this one committed */
    if (cl_committer_submit(r->cm, r->b[(seq + 1) % 2], seq + 1) < 0) abort();
    fill(r, b);
}

static cl_store_t *fresh_store(bool sync_full, char *dir, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/cl-store-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("store_bench: mkdtemp");
        exit(1);
    }
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, sync_full, &err);
    if (!s) {
        fprintf(stderr, "store_bench: %s\n", err.msg);
        exit(1);
    }
    return s;
}

static void remove_dir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "store_bench: could not remove %s\n", dir);
}

/* One batch size through the committer; prints its JSON object. */
static int bench_committer(int batch, double seconds, bool sync_full)
{
    char dir[4096];
    cl_store_t *s = fresh_store(sync_full, dir, sizeof dir);
    run_t r = {.batch = batch};
    uv_loop_init(&r.loop);
    cl_error_t err;
    r.cm = cl_committer_create(&r.loop, s, on_committed, &r, &err);
    if (!r.cm) {
        fprintf(stderr, "store_bench: %s\n", err.msg);
        exit(1);
    }
    r.b[0] = cl_store_batch_new();
    r.b[1] = cl_store_batch_new();
    double t0 = cl_now_ms();
    r.deadline_ms = t0 + seconds * 1e3;
    fill(&r, r.b[0]);
    cl_committer_submit(r.cm, r.b[0], 0);
    fill(&r, r.b[1]);
    while (!r.done)
        uv_run(&r.loop, UV_RUN_ONCE);
    double dt = (cl_now_ms() - t0) / 1e3;
    cl_committer_stats_t st;
    cl_committer_stats(r.cm, &st);
    printf("    {\"mode\": \"committer\", \"batch\": %d, \"commits\": %" PRIu64
           ", \"records_per_s\": %.0f, \"commits_per_s\": %.1f, \"commit_us_mean\": %.0f, "
           "\"commit_us_max\": %.0f, \"submit_to_callback_us_mean\": %.0f, \"put_ns\": %.0f}",
           batch, st.commits, (double)st.records / dt, (double)st.commits / dt,
           st.total_us / (double)st.commits, st.max_us, st.total_wait_us / (double)st.commits,
           r.put_us * 1e3 / (double)r.puts);
    cl_committer_destroy(r.cm);
    uv_run(&r.loop, UV_RUN_NOWAIT);
    uv_loop_close(&r.loop);
    cl_store_batch_free(r.b[0]);
    cl_store_batch_free(r.b[1]);
    cl_store_close(s);
    remove_dir(dir);
    return r.failed ? -1 : 0;
}

/* The same batches committed on the calling thread: what the loop was blocked for. */
static int bench_inline(int batch, double seconds, bool sync_full)
{
    char dir[4096];
    cl_store_t *s = fresh_store(sync_full, dir, sizeof dir);
    run_t r = {.batch = batch};
    cl_store_batch_t *b = cl_store_batch_new();
    double t0 = cl_now_ms(), commit_us = 0;
    uint64_t commits = 0;
    cl_error_t err;
    while (cl_now_ms() - t0 < seconds * 1e3) {
        fill(&r, b);
        double c0 = cl_now_us();
        if (cl_store_commit(s, b, &err) < 0) {
            fprintf(stderr, "store_bench: %s\n", err.msg);
            return -1;
        }
        commit_us += cl_now_us() - c0;
        commits++;
    }
    double dt = (cl_now_ms() - t0) / 1e3;
    printf("    {\"mode\": \"inline\", \"batch\": %d, \"commits\": %" PRIu64
           ", \"records_per_s\": %.0f, \"commits_per_s\": %.1f, \"commit_us_mean\": %.0f, "
           "\"loop_blocked_us_per_record\": %.1f, \"put_ns\": %.0f}",
           batch, commits, (double)r.puts / dt, (double)commits / dt,
           commit_us / (double)commits, commit_us / (double)r.puts,
           r.put_us * 1e3 / (double)r.puts);
    cl_store_batch_free(b);
    cl_store_close(s);
    remove_dir(dir);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: store_bench [--seconds S] [--sync full|normal]\n"
               "  --seconds S   time for each batch size and mode (default 1)\n"
               "  --sync MODE   SQLite synchronous: full (fsync each commit, the default) or "
               "normal\n");
}

int main(int argc, char **argv)
{
    enum { OPT_SECONDS = 256, OPT_SYNC };
    static const struct option opts[] = {{"seconds", required_argument, 0, OPT_SECONDS},
                                         {"sync", required_argument, 0, OPT_SYNC},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    double seconds = 1;
    bool sync_full = true;
    for (int o; (o = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (o) {
        case OPT_SECONDS:
            if (cl_flag_double("store_bench", "--seconds", optarg, 0.01, 3600, &seconds) < 0)
                return 2;
            break;
        case OPT_SYNC:
            if (strcmp(optarg, "full") && strcmp(optarg, "normal")) {
                fprintf(stderr, "colossus store_bench: --sync must be full or normal\n");
                return 2;
            }
            sync_full = !strcmp(optarg, "full");
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "colossus store_bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    static const int sizes[] = {1, 10, 100, 1000};
    printf("{\"bench\": \"store\", \"backend\": \"sqlite\", \"sync\": \"%s\", \"seconds\": %g, "
           "\"runs\": [\n",
           sync_full ? "full" : "normal", seconds);
    int rc = 0;
    for (size_t i = 0; i < 4; i++) {
        rc |= bench_committer(sizes[i], seconds, sync_full);
        printf(",\n");
        rc |= bench_inline(sizes[i], seconds, sync_full);
        printf(i < 3 ? ",\n" : "\n");
    }
    printf("]}\n");
    return rc ? 1 : 0;
}
