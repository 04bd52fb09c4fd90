/* backend_proc.c - the process launch backend (backend.h): a Launch order becomes the ranks'
 * processes through the launcher (launch.h), run as the job's user (identity.h), with rank
 * logs in one flat directory fed by a pool of spare files, bounded while their ranks run
 * (ranklog.h), and served back by job and rank; the FLOPs the ranks report are summed at the
 * end (usage.h). */
#include "agent/backend.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cglimit.h"
#include "agent/filepool.h"
#include "agent/identity.h"
#include "agent/launch.h"
#include "agent/launch_util.h" /* cl__mkdir_owned() */
#include "agent/usage.h"
#include "util/util.h"

#define MAX_LOCAL_RANKS CL_MAX_GPUS_PER_NODE /* one rank per GPU */
#define GRACE_MS 3000                        /* SIGTERM -> SIGKILL on a stop */

static const char *WHO = "agent";

typedef struct proc_run proc_run_t;

typedef struct proc {
    ag_backend_t base;
    uv_loop_t *loop;
    char logs[PATH_MAX + 8], jobs[PATH_MAX + 8], node[64];
    ag_identity_policy_t policy; /* who ranks may run as */
    cl_filepool_t *pool;         /* spare rank log files; NULL: plain creation */
    ag_ranklog_limits_t lim;
    bool bounded;        /* rank logs have a limit */
    bool can_punch;      /* false once the file system said it cannot punch holes */
    bool said_unlimited; /* logged that CPU/memory limits cannot be enforced here */
    const char *v1_root; /* cgroup v1 hierarchies (NULL: /sys/fs/cgroup) */
    uv_timer_t check;    /* looks at the logs of running ranks */
    proc_run_t *runs;    /* running launches, whose logs are bounded */
    /* issue 14: launches under keepers, recorded in keep (WORK/keep) */
    bool keep, handover;
    int lease_fd;
    uint32_t abandon_ms;
    char keepdir[PATH_MAX + 8];
    int keep_fd;                 /* keepdir, open; -1 without keepers */
    unsigned long long dev, ino; /* of the work directory: keeper names are unique per agent */
} proc_t;

struct proc_run {
    proc_run_t *next, *prev; /* on p->runs while running */
    proc_t *p;
    cl_launch_t *l; /* NULL once over */
    ag_run_done_f *done;
    void *arg;
    uint64_t job;
    uint32_t incarnation, first_rank, nranks, nlogs;
    uint64_t mem_limit_mb;
    bool stopping;
    char key[64];     /* "job<ID>-inc<N>": its files in WORK/keep ("" without a keeper) */
    uid_t uid;        /* the ranks' */
    bool check_owner; /* their FLOPs files must be theirs (the agent is root) */
    char job_dir[PATH_MAX + 32];        /* WORK/jobs/<ID>: the ranks' FLOPs files */
    ag_ranklog_t logs[MAX_LOCAL_RANKS]; /* its ranks' logs, bounded */
};

static void log_prefix(uint64_t job, char *buf, size_t len)
{
    snprintf(buf, len, "job%llu.", (unsigned long long)job);
}

/* ------------------------------------------------------------------ kept launches ------- */

/* A launch's key, its files' names in WORK/keep, and (keeper not NULL) its keeper's name. */
static void keep_names(const proc_t *p, uint64_t job, uint32_t inc, char *key, size_t klen,
                       char *keeper, size_t kplen)
{
    snprintf(key, klen, "job%llu-inc%u", (unsigned long long)job, inc);
    if (keeper) snprintf(keeper, kplen, "colossus-keep:%llx:%llx:%s", p->dev, p->ino, key);
}

/* Write WORK/keep/<key><ext> with data (tmp + rename). 0, or -1 with errno. */
static int keep_write(proc_t *p, const char *key, const char *ext, const void *data, size_t len)
{
    char tmp[160], name[128];
    snprintf(name, sizeof name, "%s%s", key, ext);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = openat(p->keep_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    ssize_t w = write(fd, data, len);
    int e = errno;
    close(fd);
    if (w != (ssize_t)len || renameat(p->keep_fd, tmp, p->keep_fd, name) < 0) {
        unlinkat(p->keep_fd, tmp, 0);
        errno = w != (ssize_t)len ? e : errno;
        return -1;
    }
    return 0;
}

static void keep_forget(proc_t *p, const char *key)
{
    char name[128];
    snprintf(name, sizeof name, "%s.launch", key);
    unlinkat(p->keep_fd, name, 0);
    snprintf(name, sizeof name, "%s.exit", key);
    unlinkat(p->keep_fd, name, 0);
}

/* How the run ended, for a later agent to report should this one die before the
 * controller acknowledged it: the keeper's format (keeper.c), the failing rank alone. */
static void keep_end(proc_t *p, const proc_run_t *r, const ag_run_end_t *end)
{
    char text[96];
    int n = snprintf(text, sizeof text, "%d %d %d\n",
                     end->failed_rank >= 0 ? end->failed_rank - (int)r->first_rank : 0,
                     end->result, end->signal);
    if (keep_write(p, r->key, ".exit", text, (size_t)n) < 0)
        cl_daemon_log(WHO, "job %llu: cannot record its end in %s: %s",
                      (unsigned long long)r->job, p->keepdir, strerror(errno));
}

/* ------------------------------------------------------------------ bounded logs -------- */

static void bound_logs(proc_t *p, proc_run_t *r)
{
    for (uint32_t i = 0; i < r->nlogs; i++) {
        cl_error_t err;
        bool could = p->can_punch;
        int rc = ag_ranklog_trim(&r->logs[i], &p->lim, &p->can_punch, &err);
        if (could && !p->can_punch)
            cl_daemon_log(WHO,
                          "the file system of %s cannot punch holes: a rank log past its "
                          "limit is cut back to its first %llu bytes instead of keeping its "
                          "last %llu",
                          p->logs, (unsigned long long)p->lim.head,
                          (unsigned long long)p->lim.tail);
        if (rc < 0) {
            cl_daemon_log(WHO, "job %llu rank %u: the log is not bounded any more: %s",
                          (unsigned long long)r->job, r->first_rank + i, err.msg);
            ag_ranklog_close(&r->logs[i]);
        }
    }
}

static void on_check(uv_timer_t *t)
{
    proc_t *p = t->data;
    for (proc_run_t *r = p->runs; r; r = r->next)
        bound_logs(p, r);
}

/* Open the logs of a launch that started, for bounding. */
static void track_logs(proc_t *p, proc_run_t *r, const char *prefix, uint32_t nr)
{
    r->p = p;
    r->nlogs = p->bounded ? nr : 0;
    for (uint32_t i = 0; i < r->nlogs; i++) {
        char path[PATH_MAX + 64];
        cl_error_t err;
        r->logs[i].fd = -1;
        if (cl_launch_log_path(p->logs, prefix, r->first_rank + i, path, sizeof path) == 0 &&
            ag_ranklog_open(&r->logs[i], path, &err) < 0)
            cl_daemon_log(WHO, "job %llu rank %u: the log cannot be bounded: %s",
                          (unsigned long long)r->job, r->first_rank + i, err.msg);
    }
    r->prev = NULL;
    r->next = p->runs;
    if (p->runs) p->runs->prev = r;
    p->runs = r;
}

static void untrack_logs(proc_run_t *r)
{
    if (!r->p) return;
    for (uint32_t i = 0; i < r->nlogs; i++)
        ag_ranklog_close(&r->logs[i]);
    if (r->prev)
        r->prev->next = r->next;
    else
        r->p->runs = r->next;
    if (r->next) r->next->prev = r->prev;
    r->p = NULL;
}

/* ------------------------------------------------------------------ job directory ------- */

static bool job_running(const proc_t *p, uint64_t job)
{
    for (const proc_run_t *r = p->runs; r; r = r->next)
        if (r->job == job) return true;
    return false;
}

/* WORK/jobs/<ID>, the job's on this node: made mode 0700 for the job's user when missing. One
 * that belongs to someone else is refused rather than handed over (a job of the same id from
 * another cluster's journal left it). 0, or -1 with err. */
static int make_job_dir(proc_t *p, uint64_t job, const ag_identity_t *id, char *dir, size_t len,
                        cl_error_t *err)
{
    struct stat st;
    snprintf(dir, len, "%s/%llu", p->jobs, (unsigned long long)job);
    if (cl__mkdir_owned(dir, id->switch_ids, id->uid, id->gid) < 0 || lstat(dir, &st) < 0)
        return cl_err(err, "cannot create %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return cl_err(err, "%s is not a directory", dir);
    if (st.st_uid != id->uid)
        return cl_err(err,
                      "refused: %s belongs to uid %u, not to the job's uid %u (left by a job "
                      "of the same id of another cluster?); remove it",
                      dir, (unsigned)st.st_uid, (unsigned)id->uid);
    return 0;
}

/* The sum of what the ranks wrote in their FLOPs files, which are removed, and the job
 * directory with them once it is empty and no other launch of the job runs here. */
static double collect_flops(proc_t *p, proc_run_t *r)
{
    double sum = 0;
    for (uint32_t i = 0; i < r->nranks; i++) {
        char path[PATH_MAX + 96];
        double v = 0;
        cl_error_t err;
        uint32_t rank = r->first_rank + i;
        if (cl_launch_flops_path(r->job_dir, r->incarnation, rank, path, sizeof path) < 0)
            continue;
        int rc = ag_flops_read(path, r->check_owner, r->uid, &v, &err);
        if (rc < 0)
            cl_daemon_log(WHO, "job %llu rank %u: its FLOPs figure is ignored: %s",
                          (unsigned long long)r->job, rank, err.msg);
        if (rc > 0) sum += v;
        if (rc != 0) unlink(path);
    }
    if (!job_running(p, r->job)) rmdir(r->job_dir); /* fails, quietly, when not empty */
    return sum;
}

/* ------------------------------------------------------------------ runs ---------------- */

static void on_launch_done(cl_launch_t *l, int result, int failed_rank, void *arg)
{
    proc_run_t *r = arg;
    proc_t *p = r->p;
    if (p) {
        bound_logs(p, r); /* what the ranks wrote since the last look */
        untrack_logs(r);
    }
    ag_run_end_t end = {.result = result,
                        .failed_rank = failed_rank,
                        .signal = cl_launch_failed_signal(l),
                        .flops = p ? collect_flops(p, r) : 0,
                        .energy_j = -1,
                        .oom = cl_launch_oom(l) != 0,
                        .mem_limit_mb = r->mem_limit_mb};
    if (end.oom)
        cl_daemon_log(WHO,
                      "job %llu incarnation %u: a rank was killed by the OOM killer at "
                      "its memory limit of %llu MB",
                      (unsigned long long)r->job, r->incarnation,
                      (unsigned long long)r->mem_limit_mb);
    cl_daemon_log(WHO, "job %llu incarnation %u ended: %s%d%s", (unsigned long long)r->job,
                  r->incarnation, result ? "exit " : "success ", result,
                  r->stopping ? " (stopped)" : "");
    if (p && r->key[0]) keep_end(p, r, &end); /* before the keeper hears the ack */
    cl_launch_destroy(l);
    r->l = NULL;
    r->done(r->arg, &end);
}

/* A launch that cannot start: the reason goes to the log of the node's first rank, where the
 * user looks for why the job failed with 127. */
static void note_failure(proc_t *p, const Colossus__Launch *L, const cl_error_t *err)
{
    char prefix[32], path[PATH_MAX + 64];
    log_prefix(L->job, prefix, sizeof prefix);
    uint32_t rank = L->node_rank * L->ranks_per_node;
    if (cl_launch_log_path(p->logs, prefix, rank, path, sizeof path) < 0 ||
        cl_mkdir_p(p->logs, 0700) < 0)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (f) {
        fprintf(f, "colossus: cannot launch: %s\n", err->msg);
        fclose(f);
    } else if (fd >= 0) {
        close(fd);
    }
}

/* What a later agent needs to adopt r (KeptLaunch): without it the ranks still run under
 * their keeper, but a restarted agent cannot report them (said in the log). */
static void keep_record(proc_t *p, proc_run_t *r, const Colossus__Launch *L, const char *keeper)
{
    Colossus__KeptLaunch k = COLOSSUS__KEPT_LAUNCH__INIT;
    Colossus__Launch one = *L;
    k.launch = &one;
    const char *cg = cl_launch_cgroup(r->l);
    k.cgroup = (char *)(cg ? cg : "");
    k.keeper = (char *)keeper;
    k.job_dir = r->job_dir;
    k.uid = (uint32_t)r->uid;
    k.check_owner = r->check_owner;
    size_t len = colossus__kept_launch__get_packed_size(&k);
    uint8_t *buf = cl_xmalloc(len ? len : 1);
    colossus__kept_launch__pack(&k, buf);
    if (keep_write(p, r->key, ".launch", buf, len) < 0)
        cl_daemon_log(WHO,
                      "job %llu: cannot record its launch in %s (an agent restarted "
                      "would not adopt it): %s",
                      (unsigned long long)r->job, p->keepdir, strerror(errno));
    free(buf);
}

static int proc_start(ag_backend_t *b, const Colossus__Launch *L, ag_run_done_f *done,
                      void *arg, ag_run_t **out, cl_error_t *err)
{
    proc_t *p = (proc_t *)b;
    uint32_t nr = L->ranks_per_node;
    if (nr == 0 || nr > MAX_LOCAL_RANKS || L->n_gpus == 0 || L->n_gpus > MAX_LOCAL_RANKS ||
        L->n_argv == 0) {
        cl_err(err, "bad launch order (%u ranks, %zu gpus, %zu args)", nr, L->n_gpus,
               L->n_argv);
        note_failure(p, L, err);
        return -1;
    }
    /* Who the ranks are, and their directory here, before anything starts: a refusal leaves
     * nothing behind but its reason in the first rank's log. */
    ag_identity_t id;
    proc_run_t *r = cl_xcalloc(1, sizeof *r);
    if (ag_identity_resolve(&p->policy, L->job, L->uid, L->gid, L->user, &id, err) < 0 ||
        make_job_dir(p, L->job, &id, r->job_dir, sizeof r->job_dir, err) < 0) {
        free(r);
        note_failure(p, L, err);
        return -1;
    }
    char **argv = cl_xcalloc(L->n_argv + 1, sizeof *argv);
    char **env = cl_xcalloc(L->n_env + 1, sizeof *env);
    memcpy(argv, L->argv, L->n_argv * sizeof *argv);
    if (L->n_env) memcpy(env, L->env, L->n_env * sizeof *env);
    /* The submitter's directory, or the job's here where it does not exist on this node;
     * one asked with --chdir or nothing (the launcher says it is missing). */
    char prefix[32];
    const char *cwd = r->job_dir;
    struct stat sb;
    if (L->cwd_strict || (L->cwd[0] && stat(L->cwd, &sb) == 0 && S_ISDIR(sb.st_mode)))
        cwd = L->cwd;
    log_prefix(L->job, prefix, sizeof prefix);
    cl_launch_spec_t sp = {
        .job_id = L->job,
        .incarnation = L->incarnation,
        .restart = L->restart,
        .node_rank = L->node_rank,
        .nnodes = L->nnodes,
        .local_ranks = nr,
        .gpus = L->gpus,
        .ngpus = (uint32_t)L->n_gpus,
        .master_addr = L->master_addr,
        .master_port = (uint16_t)L->master_port,
        .argv = argv,
        .env_extra = env,
        .work_dir = cwd,
        .work_dir_strict = L->cwd_strict,
        .output = L->output[0] ? L->output : NULL,
        .error = L->error[0] ? L->error : NULL,
        .node_name = p->node,
        .job_name = L->name,
        .array_job_id = L->array_job_id,
        .array_task = L->array_task,
        .checkpoint_dir = L->checkpoint_dir[0] ? L->checkpoint_dir : NULL,
        .flops_dir = r->job_dir,
        .set_ids = id.switch_ids,
        .uid = id.uid,
        .gid = id.gid,
        .user = id.user,
        .home = id.home[0] ? id.home : cwd,
        .log_dir = p->logs,
        .log_prefix = prefix,
        .log_pool = p->pool,
        .grace_ms = GRACE_MS,
        .mem_limit_mb = L->mem_per_gpu_mb * L->n_gpus,
        .cpu_limit_milli = L->cpus_per_gpu * (uint32_t)L->n_gpus * 1000,
        .cgroup_v1_root = p->v1_root,
    };
    char keeper[160], exit_name[96], title[PATH_MAX + 96];
    if (p->keep) {
        keep_names(p, L->job, L->incarnation, r->key, sizeof r->key, keeper, sizeof keeper);
        snprintf(exit_name, sizeof exit_name, "%s.exit", r->key);
        keep_forget(p, r->key); /* an older launch's files of the same ids */
        sp.keeper_name = keeper;
        sp.lease_fd = p->lease_fd;
        sp.abandon_ms = p->abandon_ms;
        sp.keep_dir_fd = p->keep_fd;
        sp.keep_exit_name = exit_name;
        snprintf(title, sizeof title, "keep %s %s", r->key, p->keepdir);
        sp.keeper_title = title;
    }
    r->done = done;
    r->arg = arg;
    r->job = L->job;
    r->incarnation = L->incarnation;
    r->first_rank = L->node_rank * nr;
    r->nranks = nr;
    r->mem_limit_mb = sp.mem_limit_mb;
    r->uid = id.uid;
    r->check_owner = id.switch_ids;
    int rc = cl_launch_start(p->loop, &sp, on_launch_done, r, &r->l, err);
    free(argv);
    free(env);
    if (rc < 0) {
        if (!job_running(p, L->job)) rmdir(r->job_dir);
        free(r);
        note_failure(p, L, err);
        return -1;
    }
    track_logs(p, r, prefix, nr);
    if (p->keep) keep_record(p, r, L, keeper);
    cl_error_t why;
    if (!cl_launch_limits_enforced(r->l, &why) && !p->said_unlimited) {
        p->said_unlimited = true; /* once: every launch here would say the same */
        cl_daemon_log(WHO, "job %llu: CPU and memory limits are not enforced on this node: %s",
                      (unsigned long long)L->job, why.msg);
    }
    cl_daemon_log(WHO,
                  "job %llu incarnation %u: started %u ranks (node rank %u of %u) as %s "
                  "(uid %u gid %u)",
                  (unsigned long long)L->job, L->incarnation, nr, L->node_rank, L->nnodes,
                  id.user, (unsigned)id.uid, (unsigned)id.gid);
    *out = (ag_run_t *)r;
    return 0;
}

static void proc_stop(ag_backend_t *b, ag_run_t *run, const char *why, bool now)
{
    proc_run_t *r = (proc_run_t *)run;
    if (!r->l || (r->stopping && !now)) return;
    r->stopping = true;
    cl_daemon_log(WHO, "stopping job %llu incarnation %u%s: %s", (unsigned long long)r->job,
                  r->incarnation, now ? " at once (SIGKILL)" : "", why);
    if (now)
        cl_launch_kill(r->l);
    else
        cl_launch_stop(r->l);
}

static void proc_release(ag_backend_t *b, ag_run_t *run)
{
    proc_t *p = (proc_t *)b;
    proc_run_t *r = (proc_run_t *)run;
    untrack_logs(r);
    if (p->handover && r->key[0]) { /* the next agent's: left as it is, record and all */
        cl_launch_detach(r->l);
        free(r);
        return;
    }
    if (r->l) collect_flops(p, r); /* never to be reported: removed */
    cl_launch_destroy(r->l);       /* still running: killed, its callback never called */
    if (r->key[0]) keep_forget(p, r->key);
    free(r);
}

static void proc_handover(ag_backend_t *b)
{
    ((proc_t *)b)->handover = true;
}

/* The end a keeper or an agent left in WORK/keep/<key>.exit ("RANK CODE SIG" lines): the
 * first failing rank's; 0 when every line says 0. -1 when there is none. */
static int read_end(proc_t *p, const proc_run_t *r, ag_run_end_t *end)
{
    char name[96], buf[4096];
    snprintf(name, sizeof name, "%s.exit", r->key);
    int fd = openat(p->keep_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) return -1;
    buf[n] = 0;
    end->result = 0;
    end->failed_rank = -1;
    for (char *line = buf, *nl; *line; line = nl + 1) {
        unsigned idx;
        int code, sig;
        nl = strchr(line, '\n');
        if (!nl) break;
        if (sscanf(line, "%u %d %d", &idx, &code, &sig) == 3 && code != 0 && end->result == 0) {
            end->result = code;
            end->failed_rank = (int)(r->first_rank + idx);
            end->signal = sig;
        }
    }
    return 0;
}

/* One record of WORK/keep: adopt its launch. The cgroup it holds goes in kept. */
static void adopt_one(proc_t *p, const char *file, ag_run_done_f *done, ag_adopt_f *cb,
                      void *arg, char **kept, size_t *nkept)
{
    uint8_t buf[1 << 16];
    int fd = openat(p->keep_fd, file, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    if (fd >= 0) close(fd);
    Colossus__KeptLaunch *k =
        n > 0 ? colossus__kept_launch__unpack(NULL, (size_t)n, buf) : NULL;
    const Colossus__Launch *L = k ? k->launch : NULL;
    if (!L || !L->ranks_per_node || L->ranks_per_node > MAX_LOCAL_RANKS || !k->keeper[0]) {
        cl_daemon_log(WHO, "%s/%s: not a launch record: removed", p->keepdir, file);
        unlinkat(p->keep_fd, file, 0);
        colossus__kept_launch__free_unpacked(k, NULL);
        return;
    }
    proc_run_t *r = cl_xcalloc(1, sizeof *r);
    r->job = L->job;
    r->incarnation = L->incarnation;
    r->first_rank = L->node_rank * L->ranks_per_node;
    r->nranks = L->ranks_per_node;
    r->mem_limit_mb = L->mem_per_gpu_mb * L->n_gpus;
    r->uid = (uid_t)k->uid;
    r->check_owner = k->check_owner;
    snprintf(r->job_dir, sizeof r->job_dir, "%s", k->job_dir);
    keep_names(p, r->job, r->incarnation, r->key, sizeof r->key, NULL, 0);
    r->done = done;
    cl_launch_adopt_t a = {.local_ranks = r->nranks,
                           .first_rank = r->first_rank,
                           .keeper_name = k->keeper,
                           .cgroup = k->cgroup[0] ? k->cgroup : NULL,
                           .grace_ms = GRACE_MS};
    cl_error_t err;
    char prefix[32];
    log_prefix(r->job, prefix, sizeof prefix);
    ag_run_end_t end = {.energy_j = -1, .mem_limit_mb = r->mem_limit_mb};
    if (cl_launch_adopt(p->loop, &a, on_launch_done, r, &r->l, &err) == 0) {
        r->arg = cb(arg, L, (ag_run_t *)r); /* before any callback: those come later */
        track_logs(p, r, prefix, r->nranks);
        if (k->cgroup[0] && *nkept < 255) kept[(*nkept)++] = cl_xstrdup(k->cgroup);
        cl_daemon_log(WHO, "job %llu incarnation %u: adopted %u ranks from their keeper",
                      (unsigned long long)r->job, r->incarnation, r->nranks);
    } else if (read_end(p, r, &end) == 0) {
        cl_daemon_log(WHO, "job %llu incarnation %u ended while no agent ran: %s%d",
                      (unsigned long long)r->job, r->incarnation,
                      end.result ? "exit " : "success ", end.result);
        r->arg = cb(arg, L, (ag_run_t *)r);
        end.flops = collect_flops(p, r);
        r->done(r->arg, &end);
    } else {
        /* Neither its keeper nor its end (the keeper was killed, or the node rebooted):
         * not ours any more; the controller, not hearing of it, restarts the job as after
         * a node failure (ctl_jobs_fence). */
        cl_daemon_log(WHO, "job %llu incarnation %u: %s, and no end recorded: lost",
                      (unsigned long long)r->job, r->incarnation, err.msg);
        collect_flops(p, r);
        keep_forget(p, r->key);
        free(r);
    }
    colossus__kept_launch__free_unpacked(k, NULL);
}

static int proc_adopt(ag_backend_t *b, ag_run_done_f *done, ag_adopt_f *cb, void *arg)
{
    proc_t *p = (proc_t *)b;
    char *kept[256];
    size_t nkept = 0;
    int adopted = 0;
    DIR *d = p->keep_fd >= 0 ? opendir(p->keepdir) : NULL;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (len > 7 && !strcmp(de->d_name + len - 7, ".launch")) {
                adopt_one(p, de->d_name, done, cb, arg, kept, &nkept);
                adopted++;
            }
        }
        closedir(d);
    }
    kept[nkept] = NULL;
    /* Ranks of an agent killed with -9 before keepers (or launched without one) died with
     * it; what they forked stays in its cgroups until swept here. */
    int swept = cl_launch_sweep_except(NULL, kept);
    cl_cglimit_sweep(p->v1_root); /* their v1 limit groups, emptied with them */
    if (swept > 0)
        cl_daemon_log(WHO, "removed %d cgroup%s left by agents that died", swept,
                      swept > 1 ? "s" : "");
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    return adopted;
}

static int proc_logs(ag_backend_t *b, uint64_t job, uint32_t rank, size_t max, bool follow,
                     uint64_t *at, uint8_t **data, size_t *len, cl_error_t *err)
{
    proc_t *p = (proc_t *)b;
    char prefix[32], path[PATH_MAX + 64];
    log_prefix(job, prefix, sizeof prefix);
    cl_error_t why;
    errno = ENOENT;
    if (cl_launch_log_path(p->logs, prefix, rank, path, sizeof path) == 0 &&
        (follow ? ag_ranklog_read_from(path, at, max, data, len, &why)
                : ag_ranklog_read(path, max, data, len, at, &why)) == 0)
        return 0;
    if (errno == ENOENT)
        return cl_err(err, "no log for rank %u of job %llu on node %s", rank,
                      (unsigned long long)job, p->node);
    return cl_err(err, "cannot read the log of rank %u of job %llu on node %s: %s", rank,
                  (unsigned long long)job, p->node, strerror(errno));
}

static void check_closed(uv_handle_t *h)
{
    free(h->data);
}

static void proc_destroy(ag_backend_t *b)
{
    proc_t *p = (proc_t *)b;
    if (p->keep_fd >= 0) close(p->keep_fd);
    cl_filepool_close(p->pool); /* spares of a refill still running: the next agent's */
    uv_close((uv_handle_t *)&p->check, check_closed); /* frees p */
}

static const ag_backend_ops_t proc_ops = {
    .name = "process",
    .start = proc_start,
    .stop = proc_stop,
    .release = proc_release,
    .logs = proc_logs,
    .destroy = proc_destroy,
    .adopt = proc_adopt,
    .handover = proc_handover,
};

ag_backend_t *ag_backend_proc_create(uv_loop_t *loop, const char *work_dir,
                                     const char *node_name, int ngpus, const ag_proc_opts_t *o,
                                     cl_error_t *err)
{
    ag_proc_opts_t dflt = {.log_max = AG_RANKLOG_MAX_DEFAULT};
    if (!o) o = &dflt;
    if (strlen(work_dir) >= PATH_MAX) {
        cl_err(err, "work dir %.100s...: path too long", work_dir);
        return NULL;
    }
    if (o->log_max && o->log_max < AG_RANKLOG_MIN) {
        cl_err(err, "a rank log limit of %llu bytes is below the smallest, %u",
               (unsigned long long)o->log_max, AG_RANKLOG_MIN);
        return NULL;
    }
    proc_t *p = cl_xcalloc(1, sizeof *p);
    p->base.ops = &proc_ops;
    p->loop = loop;
    snprintf(p->node, sizeof p->node, "%s", node_name);
    /* Rank logs: WORK/logs/job<ID>.rank-<R>.log, one flat directory, so that a launch creates
     * one file per rank and no directory (directory creation dominated the agent's CPU time
     * on short jobs; docs/benchmarks.md); a launch renames spares instead of creating files
     * (filepool.h). */
    if (o->log_root && (strlen(o->log_root) + strlen(node_name) + 2 >= sizeof p->logs ||
                        !node_name[0] || strchr(node_name, '/') || node_name[0] == '.')) {
        cl_err(err, "--log-root %.100s: no directory for node '%.64s' there", o->log_root,
               node_name);
        free(p);
        return NULL;
    }
    if (o->log_root) {
        size_t n = strlen(o->log_root);
        memcpy(p->logs, o->log_root, n); /* length checked above */
        p->logs[n] = '/';
        memcpy(p->logs + n + 1, node_name, strlen(node_name) + 1);
    } else
        snprintf(p->logs, sizeof p->logs, "%s/logs", work_dir);
    p->v1_root = o->cgroup_v1_root;
    snprintf(p->jobs, sizeof p->jobs, "%s/jobs", work_dir);
    /* The logs are the agent's to serve (0700); the job directories must be reachable by
     * their users, but no user lists the others' (0711). Older agents made both 0755. */
    if (cl_mkdir_p(p->jobs, 0711) < 0 || chmod(p->jobs, 0711) < 0 || /* first: WORK 0711 */
        cl_mkdir_p(p->logs, 0700) < 0 || chmod(p->logs, 0700) < 0) {
        cl_err(err, "cannot create %s and %s: %s", p->logs, p->jobs, strerror(errno));
        free(p);
        return NULL;
    }
    p->policy = ag_identity_policy_self(o->allow_root_jobs);
    p->pool = cl_filepool_new(loop, p->logs, (unsigned)(2 * (ngpus > 4 ? ngpus : 4)));
    p->bounded = o->log_max > 0;
    p->lim = ag_ranklog_limits(o->log_max);
    p->can_punch = !o->log_no_punch;
    uv_timer_init(loop, &p->check);
    p->check.data = p;
    if (p->bounded) {
        uint32_t ms = o->log_check_ms ? o->log_check_ms : AG_RANKLOG_CHECK_MS;
        uv_timer_start(&p->check, on_check, ms, ms);
        uv_unref((uv_handle_t *)&p->check); /* never keeps the loop alive by itself */
    }
    p->keep_fd = -1;
    if (o->keep) {
        struct stat wst;
        snprintf(p->keepdir, sizeof p->keepdir, "%s/keep", work_dir);
        if (stat(work_dir, &wst) < 0 || cl_mkdir_p(p->keepdir, 0700) < 0 ||
            (p->keep_fd = cl__high_fd(open(p->keepdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))) <
                0) {
            cl_err(err, "cannot create %s: %s", p->keepdir, strerror(errno));
            cl_filepool_close(p->pool);
            uv_close((uv_handle_t *)&p->check, check_closed); /* frees p */
            return NULL;
        }
        p->keep = true;
        p->dev = (unsigned long long)wst.st_dev;
        p->ino = (unsigned long long)wst.st_ino;
        p->lease_fd = o->lease_fd;
        p->abandon_ms = o->abandon_ms;
        return &p->base; /* the sweep waits for adopt(): it must spare what keepers hold */
    }
    /* Ranks of an agent killed with -9 are killed with it; what they forked stays in its
     * cgroups until a later agent sweeps them. */
    int swept = cl_launch_sweep(NULL);
    cl_cglimit_sweep(p->v1_root); /* their v1 limit groups, emptied with them */
    if (swept > 0)
        cl_daemon_log(WHO, "removed %d cgroup%s left by agents that died", swept,
                      swept > 1 ? "s" : "");
    return &p->base;
}
