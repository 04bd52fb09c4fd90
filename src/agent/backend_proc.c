/* backend_proc.c - the process launch backend (backend.h): a Launch order becomes the ranks'
 * processes through the launcher (launch.h), with rank logs in one flat directory fed by a
 * pool of spare files, and the logs served back by job and rank. */
#include "agent/backend.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/filepool.h"
#include "agent/launch.h"
#include "util/util.h"

#define MAX_LOCAL_RANKS CL_MAX_GPUS_PER_NODE /* one rank per GPU */
#define GRACE_MS 3000                        /* SIGTERM -> SIGKILL on a stop */

static const char *WHO = "agent";

typedef struct proc {
    ag_backend_t base;
    uv_loop_t *loop;
    char work_dir[PATH_MAX], logs[PATH_MAX + 8], node[64];
    cl_filepool_t *pool; /* spare rank log files; NULL: plain creation */
} proc_t;

typedef struct proc_run {
    cl_launch_t *l; /* NULL once over */
    ag_run_done_f *done;
    void *arg;
    uint64_t job;
    uint32_t incarnation;
    bool stopping;
} proc_run_t;

static void log_prefix(uint64_t job, char *buf, size_t len)
{
    snprintf(buf, len, "job%llu.", (unsigned long long)job);
}

static void on_launch_done(cl_launch_t *l, int result, int failed_rank, void *arg)
{
    proc_run_t *r = arg;
    cl_daemon_log(WHO, "job %llu incarnation %u ended: %s%d%s", (unsigned long long)r->job,
                  r->incarnation, result ? "exit " : "success ", result,
                  r->stopping ? " (stopped)" : "");
    cl_launch_destroy(l);
    r->l = NULL;
    r->done(r->arg, result, failed_rank);
}

/* A launch that cannot start: the reason goes to the log of the node's first rank, where the
 * user looks for why the job failed with 127. */
static void note_failure(proc_t *p, const Colossus__Launch *L, const cl_error_t *err)
{
    char prefix[32], path[PATH_MAX + 64];
    log_prefix(L->job, prefix, sizeof prefix);
    uint32_t rank = L->node_rank * L->ranks_per_node;
    if (cl_launch_log_path(p->logs, prefix, rank, path, sizeof path) < 0 ||
        cl_mkdir_p(p->logs, 0755) < 0)
        return;
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "colossus: cannot launch: %s\n", err->msg);
        fclose(f);
    }
}

static int proc_start(ag_backend_t *b, const Colossus__Launch *L, ag_run_done_f *done,
                      void *arg, ag_run_t **out, cl_error_t *err)
{
    proc_t *p = (proc_t *)b;
    uint32_t nr = L->ranks_per_node;
    if (nr == 0 || nr > MAX_LOCAL_RANKS || L->n_gpus != nr || L->n_argv == 0) {
        cl_err(err, "bad launch order (%u ranks, %zu gpus, %zu args)", nr, L->n_gpus,
               L->n_argv);
        note_failure(p, L, err);
        return -1;
    }
    char **argv = cl_xcalloc(L->n_argv + 1, sizeof *argv);
    char **env = cl_xcalloc(L->n_env + 1, sizeof *env);
    memcpy(argv, L->argv, L->n_argv * sizeof *argv);
    if (L->n_env) memcpy(env, L->env, L->n_env * sizeof *env);
    /* The submitter's directory, or WORK/jobs/<ID> where it does not exist on this node
     * (made only then). */
    char dir[PATH_MAX + 64], prefix[32];
    snprintf(dir, sizeof dir, "%s/jobs/%llu", p->work_dir, (unsigned long long)L->job);
    const char *cwd = L->cwd[0] ? L->cwd : dir;
    struct stat sb;
    if (L->cwd[0] && (stat(L->cwd, &sb) < 0 || !S_ISDIR(sb.st_mode))) cwd = dir;
    log_prefix(L->job, prefix, sizeof prefix);
    cl_launch_spec_t sp = {
        .job_id = L->job,
        .incarnation = L->incarnation,
        .restart = L->restart,
        .node_rank = L->node_rank,
        .nnodes = L->nnodes,
        .local_ranks = nr,
        .gpus = L->gpus,
        .master_addr = L->master_addr,
        .master_port = (uint16_t)L->master_port,
        .argv = argv,
        .env_extra = env,
        .work_dir = cwd,
        .checkpoint_dir = L->checkpoint_dir[0] ? L->checkpoint_dir : NULL,
        .log_dir = p->logs,
        .log_prefix = prefix,
        .log_pool = p->pool,
        .grace_ms = GRACE_MS,
    };
    proc_run_t *r = cl_xcalloc(1, sizeof *r);
    r->done = done;
    r->arg = arg;
    r->job = L->job;
    r->incarnation = L->incarnation;
    int rc = cl_launch_start(p->loop, &sp, on_launch_done, r, &r->l, err);
    free(argv);
    free(env);
    if (rc < 0) {
        free(r);
        note_failure(p, L, err);
        return -1;
    }
    cl_daemon_log(WHO, "job %llu incarnation %u: started %u ranks (node rank %u of %u)",
                  (unsigned long long)L->job, L->incarnation, nr, L->node_rank, L->nnodes);
    *out = (ag_run_t *)r;
    return 0;
}

static void proc_stop(ag_backend_t *b, ag_run_t *run, const char *why)
{
    proc_run_t *r = (proc_run_t *)run;
    if (!r->l || r->stopping) return;
    r->stopping = true;
    cl_daemon_log(WHO, "stopping job %llu incarnation %u: %s", (unsigned long long)r->job,
                  r->incarnation, why);
    cl_launch_stop(r->l);
}

static void proc_release(ag_backend_t *b, ag_run_t *run)
{
    proc_run_t *r = (proc_run_t *)run;
    cl_launch_destroy(r->l); /* still running: killed, its callback never called */
    free(r);
}

static int proc_logs(ag_backend_t *b, uint64_t job, uint32_t rank, size_t max, uint8_t **data,
                     size_t *len, cl_error_t *err)
{
    proc_t *p = (proc_t *)b;
    char prefix[32], path[PATH_MAX + 64];
    log_prefix(job, prefix, sizeof prefix);
    FILE *f = NULL;
    if (cl_launch_log_path(p->logs, prefix, rank, path, sizeof path) == 0) f = fopen(path, "r");
    if (!f)
        return cl_err(err, "no log for rank %u of job %llu on node %s", rank,
                      (unsigned long long)job, p->node);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    long from = size > (long)max ? size - (long)max : 0;
    if (size < 0 || fseek(f, from, SEEK_SET) < 0) {
        int e = errno;
        fclose(f);
        return cl_err(err, "cannot read the log of rank %u of job %llu on node %s: %s", rank,
                      (unsigned long long)job, p->node, strerror(e));
    }
    *data = cl_xmalloc((size_t)(size - from) + 1);
    *len = fread(*data, 1, (size_t)(size - from), f);
    fclose(f);
    return 0;
}

static void proc_destroy(ag_backend_t *b)
{
    proc_t *p = (proc_t *)b;
    cl_filepool_close(p->pool); /* spares of a refill still running: the next agent's */
    free(p);
}

static const ag_backend_ops_t proc_ops = {
    .name = "process",
    .start = proc_start,
    .stop = proc_stop,
    .release = proc_release,
    .logs = proc_logs,
    .destroy = proc_destroy,
};

ag_backend_t *ag_backend_proc_create(uv_loop_t *loop, const char *work_dir,
                                     const char *node_name, int ngpus, cl_error_t *err)
{
    if (strlen(work_dir) >= PATH_MAX) {
        cl_err(err, "work dir %.100s...: path too long", work_dir);
        return NULL;
    }
    proc_t *p = cl_xcalloc(1, sizeof *p);
    p->base.ops = &proc_ops;
    p->loop = loop;
    memcpy(p->work_dir, work_dir, strlen(work_dir) + 1);
    snprintf(p->node, sizeof p->node, "%s", node_name);
    /* Rank logs: WORK/logs/job<ID>.rank-<R>.log, one flat directory, so that a launch creates
     * one file per rank and no directory (directory creation dominated the agent's CPU time
     * on short jobs; docs/benchmarks.md); a launch renames spares instead of creating files
     * (filepool.h). */
    snprintf(p->logs, sizeof p->logs, "%s/logs", p->work_dir);
    if (cl_mkdir_p(p->logs, 0755) < 0) {
        cl_err(err, "cannot create %s: %s", p->logs, strerror(errno));
        free(p);
        return NULL;
    }
    p->pool = cl_filepool_new(loop, p->logs, (unsigned)(2 * (ngpus > 4 ? ngpus : 4)));
    /* Ranks of an agent killed with -9 are killed with it; what they forked stays in its
     * cgroups until a later agent sweeps them. */
    int swept = cl_launch_sweep(NULL);
    if (swept > 0)
        cl_daemon_log(WHO, "removed %d cgroup%s left by agents that died", swept,
                      swept > 1 ? "s" : "");
    return &p->base;
}
