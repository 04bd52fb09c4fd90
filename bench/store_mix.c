/* store_mix.c - the job-rate benchmark's commit pattern in the journal alone: each commit holds
 * K submissions (a pending job and its audit record) and K job ends (the finished job, its
 * usage record, the tenant's usage object), as the controller writes them while jobs run.
 * Prints one JSON object: microseconds a commit, wall and CPU. What to leave out, to weigh
 * each part: VARIANT full (default), nousage, noobj, noaudit, jobs (job puts only).
 *
 *   store_mix DIR|URL [K [N [VARIANT]]]  (K 3, N 2000; DIR: a fresh directory; URL: a store
 *                                         URL, e.g. postgresql://... of an empty database)
 *
 * On tmpfs (/dev/shm) the figure is the CPU's; on a disk it has the fsyncs too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "util/util.h"

static void job(cl_store_batch_t *b, uint64_t id, int state, double end)
{
    static const char *av[] = {"true"};
    cl_store_job_t j = {0};
    j.id = id;
    j.state = state;
    j.name = "job";
    j.tenant = "default";
    j.user = "alice";
    j.cwd = "/tmp/x";
    j.reason = "";
    j.nodes = 1;
    j.gpus_per_node = 1;
    j.alloc = "n1";
    j.argv = av;
    j.argc = 1;
    j.submit_time = 1.7e9;
    j.start_time = end - 0.01;
    j.end_time = state ? end : 0;
    cl_store_batch_job(b, &j);
}

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: store_mix DIR|URL [K [N [full|nousage|noobj|noaudit|jobs]]]\n");
        return 2;
    }
    int k = argc > 2 ? atoi(argv[2]) : 3, n = argc > 3 ? atoi(argv[3]) : 2000;
    const char *v = argc > 4 ? argv[4] : "full";
    bool usage = !strcmp(v, "full") || !strcmp(v, "noobj") || !strcmp(v, "noaudit");
    bool obj = !strcmp(v, "full") || !strcmp(v, "nousage") || !strcmp(v, "noaudit");
    bool audit = !strcmp(v, "full") || !strcmp(v, "nousage") || !strcmp(v, "noobj");
    if (k < 1 || n < 1 || (!usage && !obj && !audit && strcmp(v, "jobs"))) {
        fprintf(stderr, "store_mix: bad K, N or variant\n");
        return 2;
    }
    cl_error_t err;
    char url[4200];
    /* a store URL (postgresql://..., sqlite:DIR), or a directory for SQLite */
    snprintf(url, sizeof url, "%s%s", strchr(argv[1], ':') ? "" : "sqlite:", argv[1]);
    cl_store_t *s = cl_store_open(url, &(cl_store_opts_t){.sync_full = true}, &err);
    if (!s) {
        fprintf(stderr, "store_mix: %s\n", err.msg);
        return 1;
    }
    cl_store_batch_t *b = cl_store_batch_new();
    uint64_t id = 1000, sub = 1000 + 2 * (uint64_t)k;
    for (uint64_t i = id; i < sub; i++)
        job(b, i, 0, 0);
    if (cl_store_commit(s, b, &err) < 0) {
        fprintf(stderr, "store_mix: %s\n", err.msg);
        return 1;
    }
    double wall = 0, cpu0 = cpu_us();
    for (int c = 0; c < n; c++) {
        cl_store_batch_clear(b);
        for (int i = 0; i < k; i++, id++, sub++) {
            double end = 1.7e9 + (double)id * 1e-3;
            job(b, sub, 0, 0);
            if (audit)
                cl_store_batch_audit(b, &(cl_store_audit_t){end, "cluster-key", "submit",
                                                            "job 12345",
                                                            "tenant default, 1 x 1 GPUs, "
                                                            "priority 0",
                                                            true});
            job(b, id, 2, end);
            if (usage)
                cl_store_batch_usage(b, &(cl_store_usage_t){.job = id,
                                                            .incarnation = 1,
                                                            .name = "job",
                                                            .tenant = "default",
                                                            .user = "alice",
                                                            .nodes = "n1",
                                                            .ended = "succeeded",
                                                            .reason = "",
                                                            .gpus = 1,
                                                            .start = end - 0.01,
                                                            .end = end,
                                                            .gpu_s = 0.01,
                                                            .energy_j = 5});
            if (obj) cl_store_batch_obj(b, "tenant_usage", "default", "0123456789abcdef", 16);
        }
        double t0 = cl_now_us();
        if (cl_store_commit(s, b, &err) < 0) {
            fprintf(stderr, "store_mix: %s\n", err.msg);
            return 1;
        }
        wall += cl_now_us() - t0;
    }
    printf("{\"bench\": \"store_mix\", \"variant\": \"%s\", \"k\": %d, \"commits\": %d, "
           "\"us_per_commit\": %.1f, \"cpu_us_per_commit\": %.1f}\n",
           v, k, n, wall / n, (cpu_us() - cpu0) / n);
    cl_store_batch_free(b);
    cl_store_close(s);
    return 0;
}
