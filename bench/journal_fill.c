/* journal_fill.c - a journal of N jobs for a controller start to load (issue 14's figure: a
 * start from 1,000,000 journaled jobs, most finished, in <= 10 s): LIVE jobs pending (the
 * highest ids), the others finished over the DAYS before now (none within the controller's
 * keep-finished window, so a start reads them only through its indexes), each with its usage
 * record when --usage is given, committed in batches of B through cl_store_commit, on any
 * store URL. Prints one JSON object (the fill's rate).
 *
 *   journal_fill URL [--jobs N] [--live L] [--days D] [--batch B] [--usage]
 *                    (defaults 1000000, 10000, 30, 10000) */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/flags.h"
#include "util/util.h"

int main(int argc, char **argv)
{
    enum { O_JOBS = 1000, O_LIVE, O_DAYS, O_BATCH, O_USAGE };
    static const struct option lo[] = {
        {"jobs", required_argument, 0, O_JOBS}, {"live", required_argument, 0, O_LIVE},
        {"days", required_argument, 0, O_DAYS}, {"batch", required_argument, 0, O_BATCH},
        {"usage", no_argument, 0, O_USAGE},     {0, 0, 0, 0}};
    uint32_t jobs = 1000000, live = 10000, days = 30, batch = 10000;
    bool usage = false;
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        int rc = 0;
        if (c == O_JOBS) rc = cl_flag_u32("journal_fill", "--jobs", optarg, 1, 1u << 30, &jobs);
        if (c == O_LIVE) rc = cl_flag_u32("journal_fill", "--live", optarg, 0, 1u << 30, &live);
        if (c == O_DAYS) rc = cl_flag_u32("journal_fill", "--days", optarg, 1, 3650, &days);
        if (c == O_BATCH)
            rc = cl_flag_u32("journal_fill", "--batch", optarg, 1, 1000000, &batch);
        if (c == O_USAGE) usage = true;
        if (c == '?' || rc < 0) return 2;
    }
    if (optind != argc - 1 || live > jobs) {
        fprintf(stderr, "usage: journal_fill URL [--jobs N] [--live L] [--days D] [--batch B] "
                        "[--usage]\n");
        return 2;
    }
    cl_error_t err;
    cl_store_t *s = cl_store_open(argv[optind], NULL, &err);
    if (!s) {
        fprintf(stderr, "journal_fill: %s\n", err.msg);
        return 1;
    }
    static const char *av[] = {"python3", "train.py", "--config", "configs/model.yaml"};
    static const char *env[] = {"NCCL_DEBUG=WARN", "OMP_NUM_THREADS=8"};
    double now = cl_wall_s(), span = days * 86400.0, t0 = cl_now_us();
    cl_store_batch_t *b = cl_store_batch_new();
    uint64_t finished = jobs - live;
    char name[32], alloc[64];
    for (uint64_t id = 1; id <= jobs; id++) {
        bool fin = id <= finished;
        double end = now - 3600 - span + span * (double)id / (double)(finished + 1);
        snprintf(name, sizeof name, "train-%" PRIu64, id);
        snprintf(alloc, sizeof alloc, "node%06" PRIu64 ",node%06" PRIu64, id % 1000,
                 (id + 1) % 1000);
        cl_store_job_t j = {.id = id,
                            .state = fin ? CL_JOB_SUCCEEDED : CL_JOB_PENDING,
                            .name = name,
                            .tenant = "research",
                            .user = "alice",
                            .cwd = "/home/alice/run",
                            .reason = "",
                            .nodes = 2,
                            .gpus_per_node = 8,
                            .max_restarts = 3,
                            .submit_time = fin ? end - 600 : now - 60,
                            .start_time = fin ? end - 500 : 0,
                            .end_time = fin ? end : 0,
                            .running_time = fin ? end - 498 : 0,
                            .exit_code = 0,
                            .has_exit = fin,
                            .alloc = fin ? alloc : "",
                            .argv = av,
                            .argc = 4,
                            .env = env,
                            .envc = 2,
                            .uid = 1000,
                            .gid = 1000,
                            .gpu_s = fin ? 8000 : 0};
        cl_store_batch_job(b, &j);
        if (fin && usage)
            cl_store_batch_usage(b, &(cl_store_usage_t){.job = id,
                                                        .incarnation = 1,
                                                        .name = name,
                                                        .tenant = "research",
                                                        .user = "alice",
                                                        .nodes = alloc,
                                                        .ended = "succeeded",
                                                        .reason = "",
                                                        .gpus = 16,
                                                        .start = end - 500,
                                                        .end = end,
                                                        .gpu_s = 8000,
                                                        .energy_j = 2.4e6,
                                                        .has_exit = true});
        if (cl_store_batch_jobs(b) >= batch || id == jobs) {
            if (cl_store_commit(s, b, &err) < 0) {
                fprintf(stderr, "journal_fill: commit: %s\n", err.msg);
                return 1;
            }
            cl_store_batch_clear(b);
            if (id % 100000 < batch) fprintf(stderr, "journal_fill: %" PRIu64 " jobs\n", id);
        }
    }
    double secs = (cl_now_us() - t0) / 1e6;
    printf("{\"bench\": \"journal_fill\", \"store\": \"%s\", \"jobs\": %u, \"live\": %u, "
           "\"usage\": %s, \"seconds\": %.1f, \"jobs_per_s\": %.0f}\n",
           s->ops->name, jobs, live, usage ? "true" : "false", secs, jobs / secs);
    cl_store_batch_free(b);
    cl_store_close(s);
    return 0;
}
