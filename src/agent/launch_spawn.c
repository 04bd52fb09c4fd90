/* launch_spawn.c - fork/exec of one rank: in the child, before exec, reset signals, setsid,
 * join the cgroup (so that nothing the rank forks can start outside it), become the job's
 * user, redirect stdio and chdir; exec errors come back to the parent through a close-on-exec
 * pipe.
 *
 * The child is born in its cgroup (clone3 with CLONE_INTO_CGROUP) where the kernel allows:
 * a write to cgroup.procs migrates a running process, and a migration takes the cgroup
 * threadgroup lock for writing, which waits for an RCU grace period and stalls every fork
 * and cgroup mkdir on the machine meanwhile. On 4 agents launching a 32-rank gang on 2 cores
 * that was 10 to 25 ms of the launch (docs/benchmarks.md). */
#include "agent/launch_util.h"
#include "agent/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What failed in the child, sent to the parent before _exit(127). */
enum {
    STEP_SETSID = 1,
    STEP_CGROUP,
    STEP_IDS,
    STEP_REGAIN,
    STEP_STDIO,
    STEP_CHDIR,
    STEP_OUTPUT,
    STEP_ERROR,
    STEP_EXEC
};

/* 32-bit ids where the kernel also has 16-bit ones (i386, arm). */
#ifdef SYS_setresuid32
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETGROUPS SYS_setgroups
#endif

struct child_report {
    int step;
    int err;
};

static const char *step_name(int step)
{
    switch (step) {
    case STEP_SETSID:
        return "cannot make a session";
    case STEP_CGROUP:
        return "cannot join the cgroup";
    case STEP_IDS:
        return "cannot become the job's user";
    case STEP_REGAIN:
        return "could become root again after switching to the job's user";
    case STEP_STDIO:
        return "cannot redirect stdio";
    case STEP_CHDIR:
        return "cannot enter the working directory";
    case STEP_OUTPUT:
        return "cannot open its --output file";
    case STEP_ERROR:
        return "cannot open its --error file";
    default:
        return "cannot execute";
    }
}

static void report(const struct child_report *rep, cl_error_t *err)
{
    if (rep->err)
        cl_err(err, "%s: %s", step_name(rep->step), strerror(rep->err));
    else
        cl_err(err, "%s", step_name(rep->step));
}

/* An fd above 2, close-on-exec, so that the child's dup2() onto 0..2 cannot clobber it even
 * when the agent runs with stdio closed. */
int cl__high_fd(int fd)
{
    if (fd < 0 || fd > 2) return fd;
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    errno = e;
    return h;
}

/* Become uid:gid with gid as the only group: 0, or the failed step (errno set; 0 when root
 * could be regained). Raw system calls: glibc's setresuid() would signal every thread of the
 * agent to change theirs too (POSIX's process-wide ids), which a child sharing the agent's
 * memory (CL__SPAWN_VFORK) must not do; and nothing here asks NSS about the user. */
__attribute__((no_sanitize("address", "undefined"))) static int drop_ids(uid_t uid, gid_t gid)
{
    if (syscall(SYS_SETGROUPS, 1, &gid) < 0 || syscall(SYS_SETRESGID, gid, gid, gid) < 0 ||
        syscall(SYS_SETRESUID, uid, uid, uid) < 0)
        return STEP_IDS;
    /* Saved ids included: a rank must not be able to switch back to root. */
    if ((uid != 0 && syscall(SYS_SETRESUID, -1, 0, -1) == 0) ||
        (gid != 0 && syscall(SYS_SETRESGID, -1, 0, -1) == 0)) {
        errno = 0;
        return STEP_REGAIN;
    }
    return 0;
}

/* Open path (append, made 0644) onto fd 1 or 2, or both with which 3: 0, or step. */
__attribute__((no_sanitize("address", "undefined"))) static int open_onto(const char *path,
                                                                          int which, int step)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_CLOEXEC, 0644);
    if (fd < 0) return step;
    int rc = 0;
    if ((which & 1) && dup2(fd, 1) < 0) rc = step;
    if ((which & 2) && dup2(fd, 2) < 0) rc = step;
    if (fd > 2) close(fd);
    return rc;
}

/* The child, between fork and exec: only async-signal-safe calls from here on. It may run
 * in the agent's memory on a stack of its own (CL__SPAWN_VFORK): no sanitizer bookkeeping. */
__attribute__((noreturn, no_sanitize("address", "undefined"))) static void
child(const struct cl__spawn_req *q, int devnull, int report_fd, int in_cgroup,
      struct child_report *shared)
{
    struct child_report rep = {0, 0};
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* fails for the few the C library reserves: fine */
    if (setsid() < 0) {
        rep.step = STEP_SETSID;
        goto fail;
    }
    if (!in_cgroup && q->cgroup_fd >= 0 && write(q->cgroup_fd, "0", 1) != 1 &&
        q->cgroup_required) {
        rep.step = STEP_CGROUP; /* "0": the writing process, while it is still root */
        goto fail;
    }
    for (int i = 0; i < q->nlimit_fds; i++)
        if (write(q->limit_fds[i], "0", 1) != 1) { /* its limits: never run without them */
            rep.step = STEP_CGROUP;
            goto fail;
        }
    if (q->set_ids && (rep.step = drop_ids(q->uid, q->gid)) != 0) goto fail;
    /* Die with the agent: a rank nobody supervises any more must not run on beside the
     * job's next incarnation. After the switch of ids, which clears it; getppid() catches an
     * agent that died before prctl(). */
    if (q->parent_death_kill &&
        (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != q->parent)) {
        rep.step = STEP_SETSID;
        goto fail;
    }
    if (dup2(devnull, 0) < 0 || dup2(q->log_fd, 1) < 0 || dup2(q->log_fd, 2) < 0) {
        rep.step = STEP_STDIO;
        goto fail;
    }
    if (chdir(q->cwd) < 0) {
        rep.step = STEP_CHDIR;
        goto fail;
    }
    /* As the job's user, in its directory: a path the user names is never opened as root. */
    if (q->out_path && (rep.step = open_onto(q->out_path, q->err_path ? 1 : 3, STEP_OUTPUT)))
        goto fail;
    if (q->err_path && (rep.step = open_onto(q->err_path, 2, STEP_ERROR))) goto fail;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(q->path, q->argv, q->env);
    if (errno == ENOEXEC) /* a script without #!: run it with sh, as execvp() does */
        execve("/bin/sh", q->sh_argv, q->env);
    rep.step = STEP_EXEC;
fail:
    rep.err = errno;
    if (shared) /* CL__SPAWN_VFORK: the suspended parent reads it when we _exit */
        *shared = rep;
    else
        while (write(report_fd, &rep, sizeof rep) < 0 && errno == EINTR)
            ;
    _exit(127);
}

/* How a rank is created. The fastest the kernel and CPU allow, unless a test asks:
 *  - CL__SPAWN_VFORK: clone3(CLONE_VM | CLONE_VFORK [| CLONE_INTO_CGROUP]), the child on a
 *    stack of its own (x86-64 only: the child's entry needs a few instructions of assembly).
 *    No copy of the agent's page tables and no copy-on-write faults: on 4 agents running
 *    short jobs on 2 cores, the copy and its teardown at exec were about a sixth of all CPU.
 *    The agent is suspended until the child has exec'd, as with vfork().
 *  - CL__SPAWN_CLONE3: clone3(CLONE_INTO_CGROUP) with fork semantics (Linux 5.7).
 *  - CL__SPAWN_FORK: fork(); the child moves itself into the cgroup.
 * A clone3 the kernel lacks (ENOSYS) or refuses for its flags (EINVAL, E2BIG) steps down once
 * for the life of the process. The child of a raw clone3 runs no atfork handlers: it only
 * makes system calls until exec. */
static int spawn_mode = CL__SPAWN_VFORK;

int cl__spawn_set_mode(int mode)
{
    int old = spawn_mode;
    if (mode >= CL__SPAWN_FORK && mode <= CL__SPAWN_VFORK) spawn_mode = mode;
    return old;
}

struct child_args {
    const struct cl__spawn_req *q;
    int devnull, report_fd, in_cgroup;
    struct child_report *shared; /* CL__SPAWN_VFORK: where a failing child reports */
};

#if defined(__x86_64__) && defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
/* Runs in the child, on its own stack, in the agent's memory: no instrumentation (the
 * sanitizers' bookkeeping belongs to the suspended parent). */
__attribute__((no_sanitize("address", "undefined"), noreturn)) static void
child_entry(struct child_args *a)
{
    child(a->q, a->devnull, a->report_fd, a->in_cgroup, a->shared);
}

/* clone3 whose child starts in child_entry(arg) on ca->stack. The parent gets the pid or
 * -errno. r12/r13 survive the system call (only rax, rcx and r11 do not) and reach the
 * child unchanged, which is how it finds its entry and argument. */
static long clone3_call(struct clone_args *ca, struct child_args *arg)
{
    register long rax __asm__("rax") = SYS_clone3;
    register void *entry __asm__("r12") = (void *)child_entry;
    register void *carg __asm__("r13") = arg;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "and $-16, %%rsp\n\t"
                     "mov %%r13, %%rdi\n\t"
                     "call *%%r12\n\t"
                     "hlt\n\t"
                     "1:\n\t"
                     : "+r"(rax)
                     : "D"(ca), "S"(sizeof *ca), "r"(entry), "r"(carg)
                     : "rcx", "r11", "memory");
    return rax;
}

/* One stack serves every child: the agent is suspended while a child uses it. */
static _Alignas(64) unsigned char child_stack[64 * 1024];
#endif

/* /dev/null for the ranks' stdin, opened once (close-on-exec, above 2). */
int cl__devnull(void)
{
    static int fd = -1;
    if (fd < 0) fd = cl__high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
    return fd;
}

/* A clone3 error that means "not this way on this kernel": step down a mode. */
static int clone3_unsupported(int e)
{
    return e == ENOSYS || e == EINVAL || e == E2BIG;
}

/* CL__SPAWN_VFORK. Returns the pid of a child that has exec'd, -1 with err (the child that
 * could not exec reaped, or clone3 failed), or 0 when the kernel cannot do it (step down).
 * A failing child reports through memory it shares with us: no pipe. */
static pid_t spawn_vfork(const struct cl__spawn_req *q, int devnull, cl_error_t *err)
{
#if defined(__x86_64__) && defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
    struct child_report rep = {0, 0};
    struct child_args a = {q, devnull, -1, q->cgroup_dir_fd >= 0, &rep};
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_VM | CLONE_VFORK;
    ca.exit_signal = SIGCHLD;
    ca.stack = (uint64_t)(uintptr_t)child_stack;
    ca.stack_size = sizeof child_stack;
    if (q->cgroup_dir_fd >= 0) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = (uint64_t)q->cgroup_dir_fd;
    }
    long pid = clone3_call(&ca, &a);
    if (pid < 0) {
        if (clone3_unsupported((int)-pid)) return 0;
        cl_err(err, "clone3: %s", strerror((int)-pid));
        return -1;
    }
    if (rep.step) { /* it ran child() to _exit() before we resumed */
        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
            ;
        report(&rep, err);
        return -1;
    }
    return (pid_t)pid;
#else
    (void)q, (void)devnull, (void)err;
    return 0;
#endif
}

/* CL__SPAWN_CLONE3 and CL__SPAWN_FORK: the child returns 0 here and calls child(). */
static pid_t fork_into(int cgroup_dir_fd, int *in_cgroup)
{
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
    if (spawn_mode == CL__SPAWN_CLONE3 && cgroup_dir_fd >= 0) {
        struct clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = CLONE_INTO_CGROUP;
        ca.exit_signal = SIGCHLD;
        ca.cgroup = (uint64_t)cgroup_dir_fd;
        long pid = syscall(SYS_clone3, &ca, sizeof ca);
        if (pid >= 0) {
            *in_cgroup = 1;
            return (pid_t)pid;
        }
        if (!clone3_unsupported(errno)) return -1;
        spawn_mode = CL__SPAWN_FORK;
    }
#else
    (void)cgroup_dir_fd;
#endif
    *in_cgroup = 0;
    return fork();
}

pid_t cl__spawn_begin(const struct cl__spawn_req *q, int *report_fd, cl_error_t *err)
{
    int devnull = cl__devnull();
    if (devnull < 0) {
        cl_err(err, "/dev/null: %s", strerror(errno));
        return -1;
    }
    /* With every signal blocked across the clone, no handler of the agent (libuv's
     * included) can run in the child before it has reset them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (spawn_mode == CL__SPAWN_VFORK) {
        pid_t pid = spawn_vfork(q, devnull, err);
        if (pid != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            *report_fd = -1; /* nothing to wait for: it has exec'd */
            return pid;
        }
        spawn_mode = CL__SPAWN_CLONE3;
    }
    /* The other modes: the parent runs on while the child execs; exec errors come back
     * through a close-on-exec pipe. */
    int pipefd[2] = {-1, -1};
    if (pipe2(pipefd, O_CLOEXEC) < 0 || (pipefd[0] = cl__high_fd(pipefd[0])) < 0 ||
        (pipefd[1] = cl__high_fd(pipefd[1])) < 0) {
        cl_err(err, "%s", strerror(errno));
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (pipefd[0] >= 0) close(pipefd[0]);
        if (pipefd[1] >= 0) close(pipefd[1]);
        return -1;
    }
    int in_cgroup = 0;
    pid_t pid = fork_into(q->cgroup_dir_fd, &in_cgroup);
    if (pid == 0) child(q, devnull, pipefd[1], in_cgroup, NULL);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        cl_err(err, "fork: %s", strerror(fork_errno));
        return -1;
    }
    *report_fd = pipefd[0];
    return pid;
}

int cl__spawn_end(pid_t pid, int report_fd, cl_error_t *err)
{
    if (report_fd < 0) return 0; /* CL__SPAWN_VFORK: cl__spawn_begin() saw the exec */
    /* The pipe closes on a successful exec: wait for that or for the child's report. */
    struct child_report rep;
    ssize_t n;
    do
        n = read(report_fd, &rep, sizeof rep);
    while (n < 0 && errno == EINTR);
    close(report_fd);
    if (n == (ssize_t)sizeof rep) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        report(&rep, err);
        return -1;
    }
    return 0;
}

pid_t cl__spawn(const struct cl__spawn_req *q, cl_error_t *err)
{
    int fd;
    pid_t pid = cl__spawn_begin(q, &fd, err);
    if (pid < 0 || cl__spawn_end(pid, fd, err) < 0) return -1;
    return pid;
}
