/* launch.c - rank launcher: starts a job's local ranks (fork/exec, setsid, in a cgroup v2
 * when possible, logs to files), reaps them on SIGCHLD through the libuv loop, and stops
 * the whole launch with TERM then KILL. */
#include "agent/launch.h"
#include "agent/filepool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/cglimit.h"
#include "agent/keeper.h"
#include "agent/launch_util.h"
#include "util/iopat.h"

extern char **environ;

#define POLL_MS 20 /* while stopping: how often to look whether anything is left */
#define MAX_LOCAL_RANKS 1024

enum { ST_RUNNING, ST_TERM, ST_KILL, ST_DONE };

struct rank {
    uint32_t global;
    pid_t pid;  /* 0 once reaped (or never spawned) */
    pid_t pgid; /* the rank's process group, until it is known to hold nothing alive */
    int alive;  /* spawned and not reaped */
};

struct cl_launch {
    uv_loop_t *loop;
    cl_launch_done_f *cb;
    void *arg;
    uint32_t n;
    struct rank *ranks;
    uint32_t running;
    int grace_ms;
    int state;
    int stop_asked; /* cl_launch_stop() or a failure: leftovers are expected */
    int result, failed_rank;
    int failed_signal; /* the signal that killed that rank; 0: it exited */
    int switch_ids;    /* set_ids as root: each child becomes uid:gid (else they are ours) */
    int destroyed;     /* the caller let go: no callback, free when everything is closed */
    int closing;       /* handles closed (or being closed) */
    unsigned pending_close;
    uv_timer_t kill_timer, poll_timer;
    uv_signal_t sigchld; /* reaps the ranks: waitpid() on each of our pids, never -1 */
    char *cgroup;
    cl_cglimit_t *lim; /* CPU and memory limits (NULL: none asked) */
    int lim_enforced;
    cl_error_t lim_err;
    int oom;
    /* issue 14: the ranks' keeper (keeper.h), which reaps them and tells us */
    int keep_fd; /* -1: none (we are the ranks' parent) */
    uv_poll_t keep_poll;
    int frozen;   /* the keeper says the ranks are frozen (the lease lapsed) */
    int detached; /* let go: the ranks run on under their keeper */
};

static unsigned launch_seq; /* makes cgroup names unique within this process */

int cl_launch_log_path(const char *log_dir, const char *prefix, uint32_t rank, char *buf,
                       size_t len)
{
    int n = snprintf(buf, len, "%s/%srank-%u.log", log_dir, prefix ? prefix : "", rank);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int cl_launch_flops_path(const char *dir, uint32_t incarnation, uint32_t rank, char *buf,
                         size_t len)
{
    int n = snprintf(buf, len, "%s/flops.inc%u.rank-%u", dir, incarnation, rank);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ------------------------------------------------------------------ teardown ------------ */

static void maybe_free(cl_launch_t *l)
{
    if (!l->closing || l->pending_close) return;
    free(l->cgroup);
    cl_cglimit_destroy(l->lim);
    free(l->ranks);
    free(l);
}

static void on_closed(uv_handle_t *h)
{
    cl_launch_t *l = h->data;
    l->pending_close--;
    maybe_free(l);
}

static void close_handles(cl_launch_t *l)
{
    if (l->closing) return;
    l->closing = 1;
    if (l->keep_fd >= 0) {
        /* Over and let go by its owner (who recorded how it ended first): the keeper may
         * go. Not when detached: the next agent hears it all. */
        char ack = CL_KEEP_ACK; /* a keeper already gone needs no word */
        if (l->state == ST_DONE && !l->detached)
            (void)send(l->keep_fd, &ack, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        l->pending_close++;
        uv_close((uv_handle_t *)&l->keep_poll, on_closed);
        close(l->keep_fd); /* the keeper goes on alone, or exits once acknowledged */
        l->keep_fd = -1;
    }
    l->pending_close += 3;
    uv_close((uv_handle_t *)&l->kill_timer, on_closed);
    uv_close((uv_handle_t *)&l->poll_timer, on_closed);
    uv_close((uv_handle_t *)&l->sigchld, on_closed);
}

/* Signal everything of the launch: every rank's process group, and every process of the
 * cgroup (which also holds those that left their group). */
static void signal_all(cl_launch_t *l, int sig)
{
    for (uint32_t i = 0; i < l->n; i++) {
        struct rank *r = &l->ranks[i];
        if (r->pgid > 0 && kill(-r->pgid, sig) < 0 && errno == ESRCH && !r->alive)
            r->pgid = 0; /* group gone: never signal that number again (pid reuse) */
    }
    if (l->cgroup) cl__cgroup_signal(l->cgroup, sig);
}

/* 1 while some process of the launch other than a zombie is alive. */
static int anything_left(cl_launch_t *l)
{
    if (l->running) return 1;
    int left = 0;
    if (l->cgroup && cl__cgroup_populated(l->cgroup) == 1) left = 1;
    pid_t groups[MAX_LOCAL_RANKS];
    size_t ng = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        struct rank *r = &l->ranks[i];
        if (r->pgid <= 0) continue;
        if (kill(-r->pgid, 0) < 0 && errno == ESRCH)
            r->pgid = 0;
        else
            groups[ng++] = r->pgid;
    }
    if (ng) {
        /* kill(-pgid, 0) also succeeds for a group of zombies (their parent, often init,
         * has not reaped them yet): look for a live member. */
        int live[MAX_LOCAL_RANKS];
        cl__pgroups_live(groups, ng, live);
        size_t k = 0;
        for (uint32_t i = 0; i < l->n; i++) {
            struct rank *r = &l->ranks[i];
            if (r->pgid <= 0) continue;
            if (!live[k++])
                r->pgid = 0;
            else
                left = 1;
        }
    }
    return left;
}

static void finish(cl_launch_t *l)
{
    l->state = ST_DONE;
    uv_timer_stop(&l->kill_timer);
    uv_timer_stop(&l->poll_timer);
    l->oom = cl_cglimit_oom(l->lim, l->failed_signal == SIGKILL);
    cl_cglimit_destroy(l->lim); /* the ranks are gone: their v1 groups are empty */
    l->lim = NULL;
    if (l->cgroup) {
        cl__cgroup_remove(l->cgroup);
        free(l->cgroup);
        l->cgroup = NULL;
    }
    if (l->keep_fd >= 0) uv_poll_stop(&l->keep_poll);
    if (l->destroyed) {
        close_handles(l);
        return;
    }
    /* The callback may destroy l (which only closes handles: l stays valid until the loop
     * runs the close callbacks), so nothing touches l after it. */
    l->cb(l, l->result, l->failed_rank, l->arg);
}

static void begin_stop(cl_launch_t *l, int grace_ms, int asked);

/* Called whenever something may have ended: a rank exit, a poll tick. */
static void progress(cl_launch_t *l)
{
    if (l->state == ST_DONE || l->running) return;
    if (!anything_left(l)) {
        finish(l);
        return;
    }
    if (l->state == ST_RUNNING) {
        /* Every rank exited 0 but left processes behind: stop them too (the job did not
         * fail and nobody asked for a stop: stop_asked stays 0). */
        begin_stop(l, l->grace_ms, 0);
    }
}

static void escalate(cl_launch_t *l)
{
    l->state = ST_KILL;
    signal_all(l, SIGKILL);
}

static void on_kill_timer(uv_timer_t *t)
{
    cl_launch_t *l = t->data;
    if (l->state == ST_TERM) escalate(l);
}

static void reap(cl_launch_t *l);

static void on_poll_timer(uv_timer_t *t)
{
    cl_launch_t *l = t->data;
    if (l->state == ST_KILL)
        signal_all(l, SIGKILL); /* catches what forked since the last round */
    reap(l);                    /* SIGCHLD is enough; this is a safety net */
    if (l->state != ST_DONE) progress(l);
}

static void begin_stop(cl_launch_t *l, int grace_ms, int asked)
{
    if (asked) l->stop_asked = 1;
    if (l->state != ST_RUNNING) return;
    l->state = ST_TERM;
    signal_all(l, SIGTERM);
    if (grace_ms <= 0) {
        escalate(l);
    } else {
        /* The loop's clock may be stale (it is read once per iteration): the grace period
         * starts now, not when the iteration began. */
        uv_update_time(l->loop);
        uv_timer_start(&l->kill_timer, on_kill_timer, (uint64_t)grace_ms, 0);
    }
    uv_timer_start(&l->poll_timer, on_poll_timer, POLL_MS, POLL_MS);
}

void cl_launch_stop(cl_launch_t *l)
{
    if (!l || l->destroyed) return;
    begin_stop(l, l->grace_ms, 1);
}

void cl_launch_destroy(cl_launch_t *l)
{
    if (!l) return;
    int saved = errno;
    if (!l->destroyed) {
        l->destroyed = 1;
        if (l->state == ST_DONE) {
            close_handles(l);
        } else {
            /* Still running: kill at once; finish() closes the handles once all is reaped. */
            begin_stop(l, 0, 1);
            if (l->state == ST_TERM) escalate(l);
        }
    }
    errno = saved;
}

static void rank_exited(cl_launch_t *l, struct rank *r, int code, int sig)
{
    r->alive = 0;
    r->pid = 0;
    l->running--;
    if (code != 0 && l->failed_rank < 0) {
        l->result = code;
        l->failed_rank = (int)r->global;
        l->failed_signal = sig;
    }
    if (code != 0) begin_stop(l, l->grace_ms, 1);
    progress(l);
}

/* Reap whichever ranks have exited. Only our own pids are waited for, so the agent's other
 * children (uv_spawn's included) are left to their owners. */
static void reap(cl_launch_t *l)
{
    if (l->keep_fd >= 0 || l->detached) return; /* the keeper's children: it reaps them */
    for (uint32_t i = 0; i < l->n && l->state != ST_DONE; i++) {
        struct rank *r = &l->ranks[i];
        if (!r->alive) continue;
        int st;
        pid_t got = waitpid(r->pid, &st, WNOHANG);
        if (got == 0 || (got < 0 && errno == EINTR)) continue;
        int code, sig = 0;
        if (got < 0) /* ECHILD: someone else reaped it; its status is lost */
            code = 255;
        else if (WIFSIGNALED(st))
            code = 128 + (sig = WTERMSIG(st));
        else if (WIFEXITED(st))
            code = WEXITSTATUS(st);
        else
            continue; /* stopped or continued: not an exit */
        rank_exited(l, r, code, sig);
    }
}

static void on_sigchld(uv_signal_t *h, int signum)
{
    (void)signum;
    reap(h->data);
}

/* The keeper went away without telling every exit (killed): the statuses are lost, and
 * whatever runs has no supervisor any more: stop it all. */
static void keeper_lost(cl_launch_t *l)
{
    uv_poll_stop(&l->keep_poll);
    for (uint32_t i = 0; i < l->n && l->state != ST_DONE; i++)
        if (l->ranks[i].alive) {
            l->ranks[i].alive = 0;
            l->ranks[i].pid = 0;
            l->running--;
            if (l->failed_rank < 0) {
                l->result = 255;
                l->failed_rank = (int)l->ranks[i].global;
            }
        }
    if (l->state == ST_DONE) return;
    begin_stop(l, 0, 1);
    progress(l);
}

/* One word of the keeper. 0, or -1 when l may be gone (the callback ran). */
static void keep_msg(cl_launch_t *l, const struct cl_keep_msg *m)
{
    struct rank *r = m->index < l->n ? &l->ranks[m->index] : NULL;
    switch (m->type) {
    case CL_KEEP_PID:
        if (r && !r->alive && m->pid > 0 && l->state == ST_RUNNING) {
            r->pid = r->pgid = m->pid;
            r->alive = 1;
            l->running++;
        }
        break;
    case CL_KEEP_EXIT:
        if (r && r->alive) rank_exited(l, r, m->code, m->sig);
        break;
    case CL_KEEP_FROZEN:
        l->frozen = m->frozen != 0;
        break;
    default:
        break;
    }
}

static void on_keeper(uv_poll_t *h, int status, int events)
{
    cl_launch_t *l = h->data;
    for (;;) {
        if (l->state == ST_DONE || l->keep_fd < 0) return;
        struct cl_keep_msg m;
        ssize_t n = recv(l->keep_fd, &m, sizeof m, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && status == 0) return;
        if (n <= 0 || n != (ssize_t)sizeof m) {
            keeper_lost(l);
            return;
        }
        keep_msg(l, &m); /* may finish l: the loop's next turn sees ST_DONE */
    }
}

/* ------------------------------------------------------------------ start --------------- */

static int check_spec(const cl_launch_spec_t *s, cl_error_t *err)
{
    if (!s) {
        cl_err(err, "launch: no spec");
        return -1;
    }
    if (s->local_ranks < 1 || s->local_ranks > MAX_LOCAL_RANKS) {
        cl_err(err, "launch: local_ranks %u is out of range 1..%d", s->local_ranks,
               MAX_LOCAL_RANKS);
        return -1;
    }
    if (s->nnodes < 1 || s->node_rank >= s->nnodes) {
        cl_err(err, "launch: node_rank %u is not below nnodes %u", s->node_rank, s->nnodes);
        return -1;
    }
    if ((uint64_t)s->nnodes * s->local_ranks > INT32_MAX) {
        cl_err(err, "launch: world size %u x %u is too large", s->nnodes, s->local_ranks);
        return -1;
    }
    uint32_t ngpus = s->ngpus ? s->ngpus : s->local_ranks;
    if (s->gpus) {
        for (uint32_t i = 0; i < ngpus; i++)
            for (uint32_t j = 0; j < i; j++)
                if (s->gpus[i] == s->gpus[j]) {
                    cl_err(err, "launch: GPU %u is listed twice", s->gpus[i]);
                    return -1;
                }
    }
    if (!s->master_addr || !*s->master_addr) {
        cl_err(err, "launch: no master address");
        return -1;
    }
    if (!s->master_port) {
        cl_err(err, "launch: no master port");
        return -1;
    }
    if (!s->argv || !s->argv[0] || !*s->argv[0]) {
        cl_err(err, "launch: no command");
        return -1;
    }
    if (!s->work_dir || !*s->work_dir) {
        cl_err(err, "launch: no working directory");
        return -1;
    }
    if (!s->log_dir || !*s->log_dir) {
        cl_err(err, "launch: no log directory");
        return -1;
    }
    if (s->checkpoint_dir && !*s->checkpoint_dir) {
        cl_err(err, "launch: empty checkpoint directory");
        return -1;
    }
    if (s->flops_dir && !*s->flops_dir) {
        cl_err(err, "launch: empty FLOPs directory");
        return -1;
    }
    if (s->set_ids && (s->uid == (uid_t)-1 || s->gid == (gid_t)-1)) {
        cl_err(err, "launch: uid and gid must not be %u", (unsigned)-1);
        return -1;
    }
    /* Only root can become someone else; as anyone else, only oneself. */
    if (s->set_ids && geteuid() != 0 && (s->uid != geteuid() || s->gid != getegid())) {
        cl_err(err,
               "launch: the agent runs as uid %u gid %u, not root: it cannot run ranks as "
               "uid %u gid %u",
               (unsigned)geteuid(), (unsigned)getegid(), (unsigned)s->uid, (unsigned)s->gid);
        return -1;
    }
    if (s->grace_ms < 0) {
        cl_err(err, "launch: negative grace period %d ms", s->grace_ms);
        return -1;
    }
    if (s->cgroup_mode != CL_LAUNCH_CGROUP_AUTO && s->cgroup_mode != CL_LAUNCH_CGROUP_OFF &&
        s->cgroup_mode != CL_LAUNCH_CGROUP_REQUIRE) {
        cl_err(err, "launch: unknown cgroup mode %d", (int)s->cgroup_mode);
        return -1;
    }
    cl_error_t why;
    if ((s->output && cl_iopat_check("--output", s->output, &why) < 0) ||
        (s->error && cl_iopat_check("--error", s->error, &why) < 0)) {
        cl_err(err, "launch: %s", why.msg);
        return -1;
    }
    for (char *const *e = s->env_extra; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e) {
            cl_err(err, "launch: environment entry '%s' is not NAME=VALUE", *e);
            return -1;
        }
    }
    return 0;
}

/* Make the launch's cgroup. Returns 0 (with *out NULL when cgroups are not used) or -1. */
static int make_cgroup(const cl_launch_spec_t *s, char **out, cl_error_t *err)
{
    *out = NULL;
    if (s->cgroup_mode == CL_LAUNCH_CGROUP_OFF) return 0;
    char parent[1024];
    if (s->cgroup_parent) {
        if (snprintf(parent, sizeof parent, "%s", s->cgroup_parent) >= (int)sizeof parent) {
            cl_err(err, "launch: cgroup parent path is too long");
            return -1;
        }
        /* A plain directory would take "cgroup.procs" as an ordinary file and contain
         * nothing: only a directory of a cgroup v2 file system will do. */
        if (!cl__is_cgroup2(parent)) {
            if (s->cgroup_mode == CL_LAUNCH_CGROUP_REQUIRE) {
                cl_err(err, "launch: %s is not in a cgroup v2 hierarchy", parent);
                return -1;
            }
            return 0;
        }
    } else if (cl__cgroup_default_parent(parent, sizeof parent) < 0) {
        if (s->cgroup_mode == CL_LAUNCH_CGROUP_REQUIRE) {
            cl_err(err, "launch: no cgroup v2 hierarchy found under /sys/fs/cgroup");
            return -1;
        }
        return 0;
    }
    char path[1200];
    int e = 0;
    for (int tries = 0; tries < 100; tries++) {
        snprintf(path, sizeof path, "%s/job%llu-inc%u-node%u-%ld-%u", parent,
                 (unsigned long long)s->job_id, s->incarnation, s->node_rank, (long)getpid(),
                 launch_seq++);
        e = cl__cgroup_make(path);
        if (e != EEXIST) break;
    }
    if (e) {
        if (s->cgroup_mode == CL_LAUNCH_CGROUP_REQUIRE) {
            cl_err(err, "launch: cannot create cgroup %s: %s", path, strerror(e));
            return -1;
        }
        return 0; /* AUTO: not writable here, use process groups */
    }
    *out = cl_xstrdup(path);
    return 0;
}

/* Everything the spawn of one rank needs, made by the agent (the keeper gets a copy). */
struct prep {
    struct cl__spawn_req q;
    char **env, **sh_argv;
    int limit_fds[2];
    char out[4096], errp[4096];
};

static void prep_free(struct prep *p)
{
    if (p->q.log_fd >= 0) close(p->q.log_fd);
    free(p->sh_argv);
    cl__strv_free(p->env);
}

/* Prepare local rank i: its log opened, its environment and paths made. 0, or -1 with err. */
static int prep_rank(cl_launch_t *l, const cl_launch_spec_t *s, uint32_t i, const char *path,
                     int cgroup_fd, int cgroup_dir_fd, struct prep *p, cl_error_t *err)
{
    memset(p, 0, sizeof *p);
    p->q.log_fd = -1;
    int nlimit = cl_cglimit_procs_fds(l->lim, p->limit_fds);
    struct rank *r = &l->ranks[i];
    char logpath[4096];
    if (cl_launch_log_path(s->log_dir, s->log_prefix, r->global, logpath, sizeof logpath) < 0)
        return cl_err(err, "launch: log directory path is too long");
    int fd = cl__high_fd(cl_filepool_open(s->log_pool, logpath, 0600));
    if (fd < 0)
        return cl_err(err, "launch: cannot open log file %s: %s", logpath, strerror(errno));
    if (l->switch_ids && fchown(fd, s->uid, s->gid) < 0) {
        cl_err(err, "launch: cannot give log file %s to uid %u: %s", logpath, (unsigned)s->uid,
               strerror(errno));
        close(fd);
        return -1;
    }
    cl_iopat_vars_t v = {.job = s->job_id,
                         .task = r->global,
                         .node_index = s->node_rank,
                         .node = s->node_name,
                         .user = s->user,
                         .name = s->job_name,
                         .array_job = s->array_job_id,
                         .array_task = s->array_task};
    if ((s->output && cl_iopat_expand(s->output, &v, p->out, sizeof p->out) < 0) ||
        (s->error && cl_iopat_expand(s->error, &v, p->errp, sizeof p->errp) < 0)) {
        cl_err(err, "launch: the --output or --error path of rank %u is too long", r->global);
        close(fd);
        return -1;
    }
    p->env = cl__rank_env(s, i, environ);
    size_t argc = 0;
    while (s->argv[argc])
        argc++;
    p->sh_argv = cl_xcalloc(argc + 2, sizeof *p->sh_argv);
    p->sh_argv[0] = "/bin/sh";
    p->sh_argv[1] = (char *)path;
    for (size_t k = 1; k < argc; k++)
        p->sh_argv[k + 1] = s->argv[k];
    p->q = (struct cl__spawn_req){
        .path = path,
        .argv = s->argv,
        .sh_argv = p->sh_argv,
        .env = p->env,
        .cwd = s->work_dir,
        .log_fd = fd,
        .out_path = s->output ? p->out : NULL,
        .err_path = s->error ? p->errp : NULL,
        .cgroup_fd = cgroup_fd,
        .cgroup_dir_fd = cgroup_dir_fd,
        .cgroup_required = s->cgroup_mode == CL_LAUNCH_CGROUP_REQUIRE,
        .limit_fds = p->limit_fds,
        .nlimit_fds = nlimit,
        /* with a keeper: its death kills them (it set parent to itself) */
        .parent_death_kill = s->keeper_name || !s->survive_agent,
        .parent = getpid(),
        .set_ids = l->switch_ids,
        .uid = s->uid,
        .gid = s->gid,
    };
    return 0;
}

/* Fork local rank i (it execs on its own: see finish_rank()). Returns the pid with the fd
 * to wait on in *report_fd, or -1 with err filled. */
static pid_t fork_rank(cl_launch_t *l, const cl_launch_spec_t *s, uint32_t i, const char *path,
                       int cgroup_fd, int cgroup_dir_fd, int *report_fd, cl_error_t *err)
{
    struct prep *p = cl_xmalloc(sizeof *p);
    if (prep_rank(l, s, i, path, cgroup_fd, cgroup_dir_fd, p, err) < 0) {
        free(p);
        return -1;
    }
    cl_error_t why;
    pid_t pid = cl__spawn_begin(&p->q, report_fd, &why);
    prep_free(p);
    free(p);
    if (pid < 0)
        cl_err(err, "launch: cannot start rank %u (%s): %s", l->ranks[i].global, s->argv[0],
               why.msg);
    return pid;
}

/* Start the ranks through a keeper (keeper.h): 0 with them running, or -1 with err. */
static int start_kept(cl_launch_t *l, const cl_launch_spec_t *s, const char *path,
                      int cgroup_fd, int cgroup_dir_fd, cl_error_t *err)
{
    struct prep *p = cl_xcalloc(l->n, sizeof *p);
    struct cl__spawn_req *q = cl_xcalloc(l->n, sizeof *q);
    pid_t *pids = cl_xcalloc(l->n, sizeof *pids);
    uint32_t made = 0;
    int rc = 0;
    for (; made < l->n; made++) {
        if (prep_rank(l, s, made, path, cgroup_fd, cgroup_dir_fd, &p[made], err) < 0) {
            rc = -1;
            break;
        }
        q[made] = p[made].q;
    }
    if (rc == 0) {
        cl_keep_args_t a = {.reqs = q,
                            .n = l->n,
                            .first_rank = l->ranks[0].global,
                            .name = s->keeper_name,
                            .cgroup = l->cgroup,
                            .lease_fd = s->lease_fd,
                            .abandon_ms = s->abandon_ms,
                            .keep_dir_fd = s->keep_dir_fd,
                            .exit_name = s->keep_exit_name,
                            .title = s->keeper_title};
        rc = cl__keep_spawn(&a, pids, &l->keep_fd, err);
    }
    for (uint32_t i = 0; i < made; i++)
        prep_free(&p[i]);
    if (rc == 0) {
        for (uint32_t i = 0; i < l->n; i++) {
            l->ranks[i].pid = l->ranks[i].pgid = pids[i];
            l->ranks[i].alive = 1;
        }
        l->running = l->n;
        uv_poll_init(l->loop, &l->keep_poll, l->keep_fd);
        l->keep_poll.data = l;
        uv_poll_start(&l->keep_poll, UV_READABLE, on_keeper);
    }
    free(pids);
    free(q);
    free(p);
    return rc;
}

/* Wait until forked rank i has exec'd. Returns 0 (the rank then runs), or -1 with err
 * filled (the child is reaped). */
static int finish_rank(cl_launch_t *l, const cl_launch_spec_t *s, uint32_t i, pid_t pid,
                       int report_fd, cl_error_t *err)
{
    struct rank *r = &l->ranks[i];
    cl_error_t why;
    if (cl__spawn_end(pid, report_fd, &why) < 0) {
        cl_err(err, "launch: cannot start rank %u (%s): %s", r->global, s->argv[0], why.msg);
        return -1;
    }
    r->pid = pid;
    r->pgid = pid; /* setsid(): the rank leads its own session and process group */
    r->alive = 1;
    l->running++;
    return 0;
}

int cl_launch_start(uv_loop_t *loop, const cl_launch_spec_t *spec, cl_launch_done_f *cb,
                    void *arg, cl_launch_t **out, cl_error_t *err)
{
    if (!loop || !cb || !out) {
        cl_err(err, "launch: loop, callback and result pointer are required");
        return -1;
    }
    if (check_spec(spec, err) < 0) return -1;
    /* The ranks' directories are theirs; the logs' is the agent's. */
    int switch_ids = spec->set_ids && geteuid() == 0; /* else the ids are ours already */
    struct stat st;
    if (spec->work_dir_strict && (stat(spec->work_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
        cl_err(err, "launch: the working directory %s (--chdir) %s on this node",
               spec->work_dir, errno == ENOENT ? "does not exist" : "is not a directory");
        return -1;
    }
    const char *dirs[] = {spec->log_dir, spec->work_dir, spec->checkpoint_dir, spec->flops_dir};
    for (size_t i = 0; i < 4; i++) {
        if (dirs[i] && !(i == 1 && spec->work_dir_strict) &&
            (i == 0 ? cl_mkdir_p(dirs[i], 0700)
                    : cl__mkdir_owned(dirs[i], switch_ids, spec->uid, spec->gid)) < 0) {
            cl_err(err, "launch: cannot create directory %s: %s", dirs[i], strerror(errno));
            return -1;
        }
    }
    /* Find the command now, in the ranks' PATH, so that a typo is an error here rather
     * than 127 in a log file. */
    char path[4096];
    int found = cl__find_command(spec->argv[0], cl__launch_path(spec, environ), spec->work_dir,
                                 path, sizeof path);
    if (found < 0) {
        cl_err(err, "launch: command not found or not executable: %s", spec->argv[0]);
        return -1;
    }

    cl_launch_t *l = cl_xcalloc(1, sizeof *l);
    struct rank *ranks = cl_xcalloc(spec->local_ranks, sizeof *ranks);
    l->loop = loop;
    l->cb = cb;
    l->arg = arg;
    l->n = spec->local_ranks;
    l->ranks = ranks;
    l->grace_ms = spec->grace_ms;
    l->failed_rank = -1;
    l->state = ST_RUNNING;
    l->switch_ids = switch_ids;
    for (uint32_t i = 0; i < l->n; i++)
        ranks[i].global = spec->node_rank * spec->local_ranks + i;
    if (make_cgroup(spec, &l->cgroup, err) < 0) {
        free(ranks);
        free(l);
        return -1;
    }
    l->lim_enforced = 1;
    if (spec->mem_limit_mb || spec->cpu_limit_milli) {
        char name[256];
        const char *slash = l->cgroup ? strrchr(l->cgroup, '/') : NULL;
        if (slash)
            snprintf(name, sizeof name, "%s", slash + 1);
        else
            snprintf(name, sizeof name, "job%llu-inc%u-node%u-%ld-%u",
                     (unsigned long long)spec->job_id, spec->incarnation, spec->node_rank,
                     (long)getpid(), launch_seq++);
        l->lim = cl_cglimit_apply(l->cgroup, name, spec->mem_limit_mb, spec->cpu_limit_milli,
                                  spec->cgroup_v1_root, &l->lim_enforced, &l->lim_err);
    }
    int cgroup_fd = -1, cgroup_dir_fd = -1;
    if (l->cgroup) {
        cgroup_dir_fd = cl__high_fd(open(l->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        char procs[1300];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", l->cgroup);
        cgroup_fd = cl__high_fd(open(procs, O_WRONLY | O_CLOEXEC));
        if (cgroup_fd < 0 && spec->cgroup_mode == CL_LAUNCH_CGROUP_REQUIRE) {
            cl_err(err, "launch: cannot open %s: %s", procs, strerror(errno));
            if (cgroup_dir_fd >= 0) close(cgroup_dir_fd);
            cl_cglimit_destroy(l->lim);
            cl__cgroup_remove(l->cgroup);
            free(l->cgroup);
            free(ranks);
            free(l);
            return -1;
        }
    }
    uv_timer_init(loop, &l->kill_timer);
    uv_timer_init(loop, &l->poll_timer);
    uv_signal_init(loop, &l->sigchld);
    l->kill_timer.data = l;
    l->poll_timer.data = l;
    l->sigchld.data = l;
    l->keep_fd = -1;
    if (spec->keeper_name) {
        int rc = start_kept(l, spec, path, cgroup_fd, cgroup_dir_fd, err);
        if (cgroup_fd >= 0) close(cgroup_fd);
        if (cgroup_dir_fd >= 0) close(cgroup_dir_fd);
        if (rc < 0) {
            cl_launch_destroy(l); /* nothing runs: the keeper killed what it started */
            progress(l);
            return -1;
        }
        *out = l;
        return 0;
    }
    /* Before the first fork: a rank that exits at once still raises a SIGCHLD we see. */
    uv_signal_start(&l->sigchld, on_sigchld, SIGCHLD);

    /* Fork every rank, then wait for their execs: they exec side by side, which matters on
     * a node of 8 GPUs (see cl__spawn_begin()). */
    pid_t pids[MAX_LOCAL_RANKS];
    int fds[MAX_LOCAL_RANKS];
    uint32_t forked = 0;
    int rc = 0;
    for (; forked < l->n; forked++) {
        pids[forked] =
            fork_rank(l, spec, forked, path, cgroup_fd, cgroup_dir_fd, &fds[forked], err);
        if (pids[forked] < 0) {
            rc = -1;
            break;
        }
    }
    if (cgroup_fd >= 0) close(cgroup_fd);
    if (cgroup_dir_fd >= 0) close(cgroup_dir_fd);
    cl_error_t why;
    for (uint32_t i = 0; i < forked; i++)
        if (finish_rank(l, spec, i, pids[i], fds[i], &why) < 0 && rc == 0) {
            rc = -1;
            if (err) *err = why; /* the first rank's failure is the one reported */
        }
    if (rc < 0) {
        /* No side effects on failure: kill what started; the loop reaps it and frees l
         * without calling cb. */
        cl_launch_destroy(l);
        if (l->running == 0) progress(l);
        return -1;
    }
    *out = l;
    return 0;
}

/* ------------------------------------------------------------------ adoption ------------ */

/* A launch adopted with every rank already gone: finished on the loop's next turn. */
static void on_adopt_tick(uv_timer_t *t)
{
    cl_launch_t *l = t->data;
    if (l->state == ST_RUNNING) progress(l);
}

int cl_launch_adopt(uv_loop_t *loop, const cl_launch_adopt_t *a, cl_launch_done_f *cb,
                    void *arg, cl_launch_t **out, cl_error_t *err)
{
    if (!a || !a->keeper_name || a->local_ranks < 1 || a->local_ranks > MAX_LOCAL_RANKS)
        return cl_err(err, "adopt: a keeper name and 1..%d ranks are needed", MAX_LOCAL_RANKS);
    int fd = cl__keep_connect(a->keeper_name, err);
    if (fd < 0) return -1;
    cl_launch_t *l = cl_xcalloc(1, sizeof *l);
    l->ranks = cl_xcalloc(a->local_ranks, sizeof *l->ranks);
    l->loop = loop;
    l->cb = cb;
    l->arg = arg;
    l->n = a->local_ranks;
    l->grace_ms = a->grace_ms;
    l->failed_rank = -1;
    l->state = ST_RUNNING;
    l->lim_enforced = 1;
    l->cgroup = a->cgroup && a->cgroup[0] ? cl_xstrdup(a->cgroup) : NULL;
    for (uint32_t i = 0; i < l->n; i++)
        l->ranks[i].global = a->first_rank + i;
    /* Its account of every rank, up to SYNC, at once (it answers within microseconds; a
     * keeper stopped would hold the agent's start for at most 2 s). */
    int synced = 0;
    while (!synced) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 2000) <= 0) break;
        struct cl_keep_msg m;
        ssize_t n = recv(fd, &m, sizeof m, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n != (ssize_t)sizeof m) break;
        if (m.type == CL_KEEP_SYNC) {
            synced = 1;
            continue;
        }
        if (m.type == CL_KEEP_EXIT && m.index < l->n) {
            struct rank *r = &l->ranks[m.index];
            r->pgid = m.pid; /* what it left in its group is still ours to stop */
            if (m.code != 0 && l->failed_rank < 0) {
                l->result = m.code;
                l->failed_rank = (int)r->global;
                l->failed_signal = m.sig;
            }
            continue;
        }
        keep_msg(l, &m); /* PID, FROZEN */
    }
    if (!synced) {
        close(fd);
        free(l->cgroup);
        free(l->ranks);
        free(l);
        return cl_err(err, "keeper %s: no account of the ranks", a->keeper_name);
    }
    l->keep_fd = fd;
    uv_timer_init(loop, &l->kill_timer);
    uv_timer_init(loop, &l->poll_timer);
    uv_signal_init(loop, &l->sigchld);
    l->kill_timer.data = l->poll_timer.data = l->sigchld.data = l;
    uv_poll_init(loop, &l->keep_poll, fd);
    l->keep_poll.data = l;
    uv_poll_start(&l->keep_poll, UV_READABLE, on_keeper);
    if (l->failed_rank >= 0)
        begin_stop(l, l->grace_ms, 1); /* a rank failed meanwhile: its poll finishes l */
    else if (!l->running)
        uv_timer_start(&l->poll_timer, on_adopt_tick, 0, 0);
    *out = l;
    return 0;
}

void cl_launch_detach(cl_launch_t *l)
{
    if (!l) return;
    if (l->keep_fd < 0 || l->state == ST_DONE) {
        cl_launch_destroy(l);
        return;
    }
    l->detached = 1;
    l->destroyed = 1;
    l->state = ST_DONE; /* nothing more is done here: no signal, no callback */
    uv_timer_stop(&l->kill_timer);
    uv_timer_stop(&l->poll_timer);
    uv_poll_stop(&l->keep_poll);
    cl_cglimit_destroy(l->lim); /* closes our descriptors only; the groups stay */
    l->lim = NULL;
    free(l->cgroup);
    l->cgroup = NULL;
    close_handles(l);
}

int cl_launch_frozen(const cl_launch_t *l)
{
    return l && l->frozen;
}

void cl_launch_kill(cl_launch_t *l)
{
    if (!l || l->destroyed) return;
    l->stop_asked = 1;
    if (l->state == ST_RUNNING) { /* no SIGTERM first: nothing of the ranks may run */
        l->state = ST_TERM;
        uv_timer_start(&l->poll_timer, on_poll_timer, POLL_MS, POLL_MS);
    }
    if (l->state == ST_TERM) escalate(l);
}

/* ------------------------------------------------------------------ sweep --------------- */

int cl_launch_sweep(const char *cgroup_parent)
{
    return cl_launch_sweep_except(cgroup_parent, NULL);
}

int cl_launch_sweep_except(const char *cgroup_parent, char *const *keep)
{
    char parent[1024];
    if (cgroup_parent) {
        if (snprintf(parent, sizeof parent, "%s", cgroup_parent) >= (int)sizeof parent)
            return -1;
    } else if (cl__cgroup_default_parent(parent, sizeof parent) < 0) {
        return 0;
    }
    return cl__cgroup_sweep(parent, keep);
}

/* ------------------------------------------------------------------ queries ------------- */

uint32_t cl_launch_running(const cl_launch_t *l)
{
    return l ? l->running : 0;
}

pid_t cl_launch_pid(const cl_launch_t *l, uint32_t local_rank)
{
    if (!l || local_rank >= l->n) return 0;
    return l->ranks[local_rank].pid;
}

int cl_launch_limits_enforced(const cl_launch_t *l, cl_error_t *err)
{
    if (!l || l->lim_enforced) return 1;
    if (err) *err = l->lim_err;
    return 0;
}

int cl_launch_oom(const cl_launch_t *l)
{
    return l ? l->oom : 0;
}

const char *cl_launch_cgroup(const cl_launch_t *l)
{
    return l ? l->cgroup : NULL;
}

int cl_launch_stopping(const cl_launch_t *l)
{
    return l && l->stop_asked;
}

int cl_launch_failed_signal(const cl_launch_t *l)
{
    return l ? l->failed_signal : 0;
}
