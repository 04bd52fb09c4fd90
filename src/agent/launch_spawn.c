/* launch_spawn.c - fork/exec of one rank: in the child, before exec, reset signals, setsid,
 * join the cgroup (so that nothing the rank forks can start outside it), redirect stdio and
 * chdir; exec errors come back to the parent through a close-on-exec pipe. */
#include "agent/launch_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* What failed in the child, sent to the parent before _exit(127). */
enum { STEP_SETSID = 1, STEP_CGROUP, STEP_STDIO, STEP_CHDIR, STEP_EXEC };

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
    case STEP_STDIO:
        return "cannot redirect stdio";
    case STEP_CHDIR:
        return "cannot enter the working directory";
    default:
        return "cannot execute";
    }
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

/* The child, between fork and exec: only async-signal-safe calls from here on. */
static void __attribute__((noreturn))
child(const struct cl__spawn_req *q, int devnull, int report_fd)
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
    /* Die with the agent: a rank nobody supervises any more must not run on beside the
     * job's next incarnation. getppid() catches an agent that died before prctl(). */
    if (q->parent_death_kill &&
        (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != q->parent)) {
        rep.step = STEP_SETSID;
        goto fail;
    }
    if (q->cgroup_fd >= 0 && write(q->cgroup_fd, "0", 1) != 1 && q->cgroup_required) {
        rep.step = STEP_CGROUP; /* "0": the writing process */
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
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(q->path, q->argv, q->env);
    if (errno == ENOEXEC) /* a script without #!: run it with sh, as execvp() does */
        execve("/bin/sh", q->sh_argv, q->env);
    rep.step = STEP_EXEC;
fail:
    rep.err = errno;
    while (write(report_fd, &rep, sizeof rep) < 0 && errno == EINTR)
        ;
    _exit(127);
}

pid_t cl__spawn_begin(const struct cl__spawn_req *q, int *report_fd, char *err, size_t errlen)
{
    int pipefd[2] = {-1, -1};
    int devnull = cl__high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (devnull < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        if (devnull >= 0) close(devnull);
        return -1;
    }
    pipefd[0] = cl__high_fd(pipefd[0]);
    pipefd[1] = cl__high_fd(pipefd[1]);
    if (pipefd[0] < 0 || pipefd[1] < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(devnull);
        if (pipefd[0] >= 0) close(pipefd[0]);
        if (pipefd[1] >= 0) close(pipefd[1]);
        return -1;
    }
    /* With every signal blocked across fork(), no handler of the agent (libuv's included)
     * can run in the child before it has reset them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) child(q, devnull, pipefd[1]);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(pipefd[1]);
    close(devnull);
    if (pid < 0) {
        close(pipefd[0]);
        snprintf(err, errlen, "fork: %s", strerror(fork_errno));
        return -1;
    }
    *report_fd = pipefd[0];
    return pid;
}

int cl__spawn_end(pid_t pid, int report_fd, char *err, size_t errlen)
{
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
        snprintf(err, errlen, "%s: %s", step_name(rep.step), strerror(rep.err));
        return -1;
    }
    return 0;
}

pid_t cl__spawn(const struct cl__spawn_req *q, char *err, size_t errlen)
{
    int fd;
    pid_t pid = cl__spawn_begin(q, &fd, err, errlen);
    if (pid < 0 || cl__spawn_end(pid, fd, err, errlen) < 0) return -1;
    return pid;
}
