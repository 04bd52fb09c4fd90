/* keeper.c - the keeper of one launch (keeper.h): forked from the agent, parent of the ranks,
 * reaps them, tells their statuses to whichever agent connects, and freezes them when the
 * node's lease lapses. Only system calls and the spawn in the keeper: no libuv, no agent
 * state (the fork copied it; none of it is used). */
#include "agent/keeper.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 50 /* how often the lease is looked at */
#define ABANDON_MS_DEFAULT 30000

static uint64_t boot_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static socklen_t keep_addr(const char *name, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n > sizeof sa->sun_path - 2) n = sizeof sa->sun_path - 2;
    memcpy(sa->sun_path + 1, name, n); /* abstract: a leading NUL, no file */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

int cl__keep_connect(const char *name, cl_error_t *err)
{
    struct sockaddr_un sa;
    socklen_t len = keep_addr(name, &sa);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return cl_err(err, "keeper %s: socket: %s", name, strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
        int e = errno;
        close(fd);
        return cl_err(err, "keeper %s: %s", name,
                      e == ECONNREFUSED ? "gone (no keeper listens)" : strerror(e));
    }
    fd = cl__high_fd(fd);
    if (fd < 0) return cl_err(err, "keeper %s: %s", name, strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* ------------------------------------------------------------------ the keeper process -- */

static char *title_at; /* the agent's command line (cl__keep_title_area()) */
static size_t title_room;

void cl__keep_title_area(int argc, char **argv)
{
    if (argc < 1 || !argv || !argv[0]) return;
    char *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc && argv[i] == end; i++) /* as the kernel laid them out */
        end = argv[i] + strlen(argv[i]) + 1;
    title_at = argv[0];
    title_room = (size_t)(end - argv[0]);
}

/* What ps and pgrep show of us: the agent's arguments replaced by the title. */
static void set_title(const char *title)
{
    if (!title_at || !title || title_room < 2) return;
    memset(title_at, 0, title_room);
    snprintf(title_at, title_room, "%s", title);
}

typedef struct keeper {
    const cl_keep_args_t *a;
    uint32_t n, alive;
    pid_t *pid;  /* 0 once reaped */
    pid_t *pgid; /* each rank's process group (its pid) */
    int *code, *sig, *done;
    int conn; /* the agent's connection, -1: none */
    int listen_fd;
    int frozen;
    int acked;
    int killed;
    uint64_t frozen_at, idle_since; /* boot ns */
    const char *cgroup;             /* the launch's cgroup, or NULL */
    const volatile uint64_t *lease; /* the lease page, mapped; NULL: none */
} keeper_t;

static void put(keeper_t *k, int fd, uint32_t type, uint32_t index, const char *text)
{
    struct cl_keep_msg m;
    memset(&m, 0, sizeof m);
    m.version = CL_KEEP_VERSION;
    m.type = type;
    m.index = index;
    if (index < k->n) {
        m.pid = k->pgid[index];
        m.code = k->code[index];
        m.sig = k->sig[index];
    }
    m.frozen = k->frozen;
    if (text) snprintf(m.text, sizeof m.text, "%s", text);
    if (fd >= 0 && send(fd, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof m &&
        fd == k->conn) {
        close(k->conn); /* the agent is gone or stuck: a new one hears everything again */
        k->conn = -1;
        k->idle_since = boot_ns();
    }
}

static void tell_all(keeper_t *k)
{
    for (uint32_t i = 0; i < k->n; i++)
        put(k, k->conn, k->done[i] ? CL_KEEP_EXIT : CL_KEEP_PID, i, NULL);
    put(k, k->conn, CL_KEEP_FROZEN, UINT32_MAX, NULL);
    put(k, k->conn, CL_KEEP_SYNC, UINT32_MAX, NULL);
}

static void write_file(const char *dir, const char *file, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t w = write(fd, text, strlen(text));
    (void)w;
    close(fd);
}

/* Freeze (on) or thaw every process of the launch. */
static void freeze(keeper_t *k, int on)
{
    if (k->cgroup)
        write_file(k->cgroup, "cgroup.freeze", on ? "1" : "0");
    else
        for (uint32_t i = 0; i < k->n; i++)
            if (k->pgid[i] > 0) kill(-k->pgid[i], on ? SIGSTOP : SIGCONT);
    k->frozen = on;
    k->frozen_at = boot_ns();
    put(k, k->conn, CL_KEEP_FROZEN, UINT32_MAX, NULL);
}

static void kill_all(keeper_t *k)
{
    k->killed = 1;
    if (k->cgroup) write_file(k->cgroup, "cgroup.kill", "1");
    for (uint32_t i = 0; i < k->n; i++)
        if (k->pgid[i] > 0) kill(-k->pgid[i], SIGKILL); /* SIGKILL ends stopped ones too */
}

static void reap(keeper_t *k)
{
    for (uint32_t i = 0; i < k->n; i++) {
        if (k->done[i]) continue;
        int st;
        pid_t got = waitpid(k->pid[i], &st, WNOHANG);
        if (got == 0 || (got < 0 && errno == EINTR)) continue;
        if (got > 0 && !WIFEXITED(st) && !WIFSIGNALED(st)) continue;
        k->done[i] = 1;
        k->alive--;
        if (got < 0)
            k->code[i] = 255;
        else if (WIFSIGNALED(st))
            k->code[i] = 128 + (k->sig[i] = WTERMSIG(st));
        else
            k->code[i] = WEXITSTATUS(st);
        k->pid[i] = 0;
        put(k, k->conn, CL_KEEP_EXIT, i, NULL);
        if (!k->alive && k->conn < 0) k->idle_since = boot_ns();
    }
}

/* No agent came for the statuses: leave them where a later agent looks, and go. */
__attribute__((noreturn)) static void leave(keeper_t *k)
{
    const cl_keep_args_t *a = k->a;
    if (a->keep_dir_fd >= 0 && a->exit_name) {
        char tmp[256], line[64];
        snprintf(tmp, sizeof tmp, "%s.tmp", a->exit_name);
        int fd = openat(a->keep_dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            for (uint32_t i = 0; i < k->n; i++) {
                int len = snprintf(line, sizeof line, "%u %d %d\n", i, k->code[i], k->sig[i]);
                if (write(fd, line, (size_t)len) != len) break;
            }
            fsync(fd);
            close(fd);
            renameat(a->keep_dir_fd, tmp, a->keep_dir_fd, a->exit_name);
        }
    }
    if (k->cgroup) {
        for (int i = 0; i < 100 && rmdir(k->cgroup) < 0 && errno == EBUSY; i++) {
            write_file(k->cgroup, "cgroup.kill", "1"); /* what the ranks left behind */
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    _exit(0);
}

/* How long (ns) frozen ranks, or statuses no agent took, are kept. */
static uint64_t abandon_ns(const cl_keep_args_t *a)
{
    return (uint64_t)(a->abandon_ms ? a->abandon_ms : ABANDON_MS_DEFAULT) * 1000000u;
}

static void check_lease(keeper_t *k, uint64_t now)
{
    const volatile uint64_t *lease = k->lease;
    uint64_t until = lease ? __atomic_load_n(lease, __ATOMIC_ACQUIRE) : 0;
    int lapsed = until != 0 && now > until;
    if (k->alive && lapsed && !k->frozen)
        freeze(k, 1);
    else if (k->frozen && !lapsed && !k->killed)
        freeze(k, 0);
    if (k->frozen && !k->killed && now > k->frozen_at + abandon_ns(k->a)) kill_all(k);
}

static int cmp_fd(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

/* Close every descriptor but keep[0..n) (sorted here). */
static void close_all_but(int *keep, size_t n)
{
    qsort(keep, n, sizeof *keep, cmp_fd);
    unsigned next = 3;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < (int)next) continue;
        if ((unsigned)keep[i] > next) close_range(next, (unsigned)keep[i] - 1, 0);
        next = (unsigned)keep[i] + 1;
    }
    close_range(next, ~0u, 0);
}

/* Nothing of the agent's handlers may run in a keeper or the zygote (libuv's would write to
 * its pipes); what an operator sends an agent (SIGTERM, SIGUSR2 ...) is not for them: only
 * SIGKILL ends one (a keeper's ranks with it: their PDEATHSIG). */
static void reset_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    static const int ign[] = {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof ign / sizeof ign[0]; i++)
        sigaction(ign[i], &sa, NULL);
}

__attribute__((noreturn)) static void keeper_main(const cl_keep_args_t *a, int conn)
{
    reset_signals();
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_SETMASK, &chld, NULL);
    prctl(PR_SET_NAME, "colossus-keep");
    set_title(a->title);
    setsid(); /* a session of its own (fails, harmlessly, where it leads one already) */

    size_t nkeep = 0, cap = 8 + (size_t)a->n * 6;
    int *keepfds = malloc(cap * sizeof *keepfds);
    if (!keepfds) _exit(1);
    keepfds[nkeep++] = conn;
    keepfds[nkeep++] = cl__devnull();
    if (a->keep_dir_fd >= 0) keepfds[nkeep++] = a->keep_dir_fd;
    if (a->lease_fd > 0) keepfds[nkeep++] = a->lease_fd;
    for (uint32_t i = 0; i < a->n; i++) {
        const struct cl__spawn_req *q = &a->reqs[i];
        keepfds[nkeep++] = q->log_fd;
        if (q->cgroup_fd >= 0) keepfds[nkeep++] = q->cgroup_fd;
        if (q->cgroup_dir_fd >= 0) keepfds[nkeep++] = q->cgroup_dir_fd;
        for (int j = 0; j < q->nlimit_fds && j < 2; j++)
            keepfds[nkeep++] = q->limit_fds[j];
    }
    close_all_but(keepfds, nkeep);
    free(keepfds);

    keeper_t k = {.a = a, .n = a->n, .conn = conn, .listen_fd = -1};
    k.cgroup = a->cgroup;
    if (a->lease_fd > 0) {
        void *page = mmap(NULL, 4096, PROT_READ, MAP_SHARED, a->lease_fd, 0);
        if (page != MAP_FAILED) k.lease = page;
        close(a->lease_fd);
    }
    k.pid = calloc(a->n, sizeof *k.pid);
    k.pgid = calloc(a->n, sizeof *k.pgid);
    k.code = calloc(a->n, sizeof *k.code);
    k.sig = calloc(a->n, sizeof *k.sig);
    k.done = calloc(a->n, sizeof *k.done);
    struct cl__spawn_req *reqs = calloc(a->n, sizeof *reqs);
    int *rfd = calloc(a->n, sizeof *rfd);
    if (!k.pid || !k.pgid || !k.code || !k.sig || !k.done || !reqs || !rfd) _exit(1);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    struct sockaddr_un sa;
    socklen_t salen = keep_addr(a->name, &sa);
    k.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sfd < 0 || k.listen_fd < 0 || bind(k.listen_fd, (struct sockaddr *)&sa, salen) < 0 ||
        listen(k.listen_fd, 4) < 0) {
        char why[200];
        snprintf(why, sizeof why, "the keeper cannot listen as %.100s: %s", a->name,
                 strerror(errno));
        put(&k, conn, CL_KEEP_FAIL, 0, why);
        _exit(1);
    }
    /* The ranks, as the agent would start them, but ours: they die with us (PDEATHSIG). */
    uint32_t forked = 0;
    cl_error_t err = {{0}};
    int failed = -1;
    for (; forked < a->n; forked++) {
        reqs[forked] = a->reqs[forked];
        reqs[forked].parent = getpid();
        pid_t p = cl__spawn_begin(&reqs[forked], &rfd[forked], &err);
        if (p < 0) {
            failed = (int)forked;
            break;
        }
        k.pid[forked] = k.pgid[forked] = p;
    }
    for (uint32_t i = 0; i < forked; i++) {
        cl_error_t why;
        if (cl__spawn_end(k.pid[i], rfd[i], &why) < 0) {
            if (failed < 0) {
                failed = (int)i;
                err = why;
            }
            k.pid[i] = k.pgid[i] = 0; /* reaped by the spawn */
        }
    }
    if (failed >= 0) {
        for (uint32_t i = 0; i < forked; i++)
            if (k.pid[i] > 0) {
                kill(-k.pid[i], SIGKILL);
                waitpid(k.pid[i], NULL, 0);
            }
        put(&k, conn, CL_KEEP_FAIL, (uint32_t)failed, err.msg);
        _exit(1);
    }
    for (uint32_t i = 0; i < a->n; i++) {
        const struct cl__spawn_req *q = &a->reqs[i];
        close(q->log_fd); /* the ranks have theirs */
        if (q->cgroup_fd >= 0) close(q->cgroup_fd);
        if (q->cgroup_dir_fd >= 0) close(q->cgroup_dir_fd);
        for (int j = 0; j < q->nlimit_fds && j < 2; j++)
            close(q->limit_fds[j]);
    }
    k.alive = a->n;
    tell_all(&k);
    for (;;) {
        struct pollfd pf[3] = {{sfd, POLLIN, 0}, {k.listen_fd, POLLIN, 0}, {k.conn, POLLIN, 0}};
        int np = k.conn >= 0 ? 3 : 2;
        if (poll(pf, (nfds_t)np, TICK_MS) < 0 && errno != EINTR) _exit(1);
        if (pf[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                ;
        }
        reap(&k); /* each tick too: a safety net, as in the agent */
        if (np == 3 && k.conn >= 0 && pf[2].revents) {
            char b[16];
            ssize_t got = recv(k.conn, b, sizeof b, MSG_DONTWAIT);
            if (got > 0 && memchr(b, CL_KEEP_ACK, (size_t)got)) k.acked = 1;
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                close(k.conn);
                k.conn = -1;
                k.idle_since = boot_ns();
            }
        }
        if (pf[1].revents & POLLIN) {
            int c = accept4(k.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c >= 0) {
                if (k.conn >= 0) { /* a new agent took over; the old one's ack counts */
                    char b[16];
                    ssize_t got = recv(k.conn, b, sizeof b, MSG_DONTWAIT);
                    if (got > 0 && memchr(b, CL_KEEP_ACK, (size_t)got)) k.acked = 1;
                    close(k.conn);
                }
                k.conn = c; /* an ack already heard stays: the statuses reached an agent */
                tell_all(&k);
            }
        }
        uint64_t now = boot_ns();
        check_lease(&k, now);
        if (!k.alive && k.acked) _exit(0);
        if (!k.alive && k.conn < 0 && now > k.idle_since + abandon_ns(a)) leave(&k);
    }
}

/* ------------------------------------------------------------------ the zygote ---------- */

/* Forking the agent for every launch cost it 2-3 ms of CPU: the fork, and above all
 * copy-on-write, every page the busy agent wrote copied while a keeper forked from it lived
 * (docs/benchmarks.md). So keepers are forked from a zygote instead: a process forked from
 * the agent once, that writes next to nothing, to which each launch's spawn requests and
 * descriptors go over a socket (SCM_RIGHTS); it forks the keeper, which runs keeper_main()
 * as before. The zygote dies with the agent (PDEATHSIG), its keepers do not (they go to
 * init). Launches of more ranks than one message's descriptors allow take the direct path. */

#define ZY_MAGIC 0x434c5a59u /* "CLZY" */
#define ZY_MAX_FDS 250       /* under the kernel's SCM_MAX_FD (253) */
#define ZY_NONE UINT32_MAX

static int zyg_fd = -1;
static pid_t zyg_pid;

typedef struct zbuf {
    char *p;
    size_t len, cap;
} zbuf_t;

static void zput(zbuf_t *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = cl_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void zput_u32(zbuf_t *b, uint32_t v)
{
    zput(b, &v, sizeof v);
}

static void zput_str(zbuf_t *b, const char *s)
{
    if (!s) {
        zput_u32(b, ZY_NONE);
        return;
    }
    size_t n = strlen(s) + 1;
    zput_u32(b, (uint32_t)n);
    zput(b, s, n);
}

static void zput_strv(zbuf_t *b, char *const *v)
{
    uint32_t n = 0;
    while (v && v[n])
        n++;
    zput_u32(b, n);
    for (uint32_t i = 0; i < n; i++)
        zput_str(b, v[i]);
}

/* The index of fd in fds (added when new), or ZY_NONE for a negative one. */
static uint32_t zfd(int *fds, uint32_t *nfds, int fd)
{
    if (fd < 0) return ZY_NONE;
    for (uint32_t i = 0; i < *nfds; i++)
        if (fds[i] == fd) return i;
    fds[*nfds] = fd;
    return (*nfds)++;
}

typedef struct zrd {
    char *p;
    size_t left;
    int bad;
} zrd_t;

static uint32_t zget_u32(zrd_t *r)
{
    uint32_t v = 0;
    if (r->left < sizeof v) {
        r->bad = 1;
        return 0;
    }
    memcpy(&v, r->p, sizeof v);
    r->p += sizeof v;
    r->left -= sizeof v;
    return v;
}

static char *zget_str(zrd_t *r)
{
    uint32_t n = zget_u32(r);
    if (n == ZY_NONE || r->bad) return NULL;
    if (!n || n > r->left || r->p[n - 1]) {
        r->bad = 1;
        return NULL;
    }
    char *s = r->p;
    r->p += n;
    r->left -= n;
    return s;
}

static char **zget_strv(zrd_t *r, size_t extra)
{
    uint32_t n = zget_u32(r);
    if (r->bad || n > r->left) {
        r->bad = 1;
        return NULL;
    }
    char **v = calloc((size_t)n + extra + 1, sizeof *v);
    if (!v) _exit(1);
    for (uint32_t i = 0; i < n && !r->bad; i++)
        v[i + extra] = zget_str(r);
    return v;
}

static int zget_fd(zrd_t *r, const int *fds, uint32_t nfds)
{
    uint32_t i = zget_u32(r);
    if (i == ZY_NONE) return -1;
    if (i >= nfds) {
        r->bad = 1;
        return -1;
    }
    return fds[i];
}

/* One request: keeper args, reqs and all, parsed into a (memory that lives in the keeper). */
static int zparse(zrd_t *r, const int *fds, uint32_t nfds, cl_keep_args_t *a, int *conn)
{
    memset(a, 0, sizeof *a);
    *conn = zget_fd(r, fds, nfds);
    a->n = zget_u32(r);
    a->first_rank = zget_u32(r);
    a->abandon_ms = zget_u32(r);
    a->keep_dir_fd = zget_fd(r, fds, nfds);
    a->lease_fd = zget_fd(r, fds, nfds);
    a->name = zget_str(r);
    a->cgroup = zget_str(r);
    a->exit_name = zget_str(r);
    a->title = zget_str(r);
    if (r->bad || *conn < 0 || !a->name || a->n < 1 || a->n > ZY_MAX_FDS) return -1;
    struct cl__spawn_req *q = calloc(a->n, sizeof *q);
    int(*lim)[2] = calloc(a->n, sizeof *lim);
    if (!q || !lim) _exit(1);
    for (uint32_t i = 0; i < a->n && !r->bad; i++) {
        q[i].path = zget_str(r);
        q[i].cwd = zget_str(r);
        q[i].out_path = zget_str(r);
        q[i].err_path = zget_str(r);
        q[i].argv = zget_strv(r, 0);
        q[i].env = zget_strv(r, 0);
        q[i].log_fd = zget_fd(r, fds, nfds);
        q[i].cgroup_fd = zget_fd(r, fds, nfds);
        q[i].cgroup_dir_fd = zget_fd(r, fds, nfds);
        q[i].nlimit_fds = (int)zget_u32(r);
        for (int j = 0; j < 2; j++)
            lim[i][j] = zget_fd(r, fds, nfds);
        q[i].limit_fds = lim[i];
        q[i].cgroup_required = (int)zget_u32(r);
        q[i].parent_death_kill = (int)zget_u32(r);
        q[i].set_ids = (int)zget_u32(r);
        q[i].uid = (uid_t)zget_u32(r);
        q[i].gid = (gid_t)zget_u32(r);
        if (r->bad || !q[i].path || !q[i].cwd || !q[i].argv || !q[i].argv[0] || !q[i].env ||
            q[i].log_fd < 0 || q[i].nlimit_fds < 0 || q[i].nlimit_fds > 2)
            return -1;
        /* {"/bin/sh", path, argv[1], ...}: a script without #! */
        size_t argc = 0;
        while (q[i].argv[argc])
            argc++;
        char **sh = calloc(argc + 2, sizeof *sh);
        if (!sh) _exit(1);
        sh[0] = "/bin/sh";
        sh[1] = (char *)q[i].path;
        for (size_t k = 1; k < argc; k++)
            sh[k + 1] = q[i].argv[k];
        q[i].sh_argv = sh;
    }
    a->reqs = q;
    return r->bad ? -1 : 0;
}

__attribute__((noreturn)) static void zygote_main(int sock, pid_t agent)
{
    reset_signals();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = SA_NOCLDWAIT; /* its keepers are reaped by the kernel */
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_NAME, "colossus-zygote");
    set_title("keep zygote"); /* not the agent's command line: pgrep -f finds agents alone */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != agent) _exit(0);
    int keep[2] = {sock, cl__devnull()};
    close_all_but(keep, 2);
    for (;;) {
        uint32_t hdr[3];
        union {
            char buf[CMSG_SPACE(sizeof(int) * (ZY_MAX_FDS + 8))];
            struct cmsghdr align;
        } u;
        struct iovec iov = {hdr, sizeof hdr};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof u.buf};
        ssize_t got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR) continue;
        if (got != (ssize_t)sizeof hdr) _exit(0); /* the agent is gone (or broke the wire) */
        int fds[ZY_MAX_FDS + 8];
        uint32_t nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < n && nfds < ZY_MAX_FDS + 8; i++)
                    memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            }
        if (hdr[0] != ZY_MAGIC || hdr[2] != nfds || hdr[1] > (64u << 20)) _exit(1);
        char *body = malloc(hdr[1] ? hdr[1] : 1);
        if (!body) _exit(1);
        size_t have = 0;
        while (have < hdr[1]) {
            ssize_t n = read(sock, body + have, hdr[1] - have);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) _exit(0);
            have += (size_t)n;
        }
        /* _Fork: no atfork handler runs (libuv's would close "its" descriptors, whose
         * numbers the received ones took after close_all_but) */
        pid_t kp = _Fork();
        if (kp == 0) { /* the keeper: the request is parsed in its own memory */
            close(sock);
            zrd_t r = {body, hdr[1], 0};
            cl_keep_args_t a;
            int conn;
            if (zparse(&r, fds, nfds, &a, &conn) < 0) {
                struct cl_keep_msg m;
                memset(&m, 0, sizeof m);
                m.version = CL_KEEP_VERSION;
                m.type = CL_KEEP_FAIL;
                m.index = UINT32_MAX;
                snprintf(m.text, sizeof m.text, "the keeper's request does not parse");
                if (conn >= 0) (void)send(conn, &m, sizeof m, MSG_NOSIGNAL);
                _exit(1);
            }
            keeper_main(&a, conn);
        }
        for (uint32_t i = 0; i < nfds; i++) /* the keeper has them; a failed fork: the */
            close(fds[i]);                  /* agent's end of conn sees it closed */
        free(body);
    }
}

/* The zygote, started when missing (or gone). 0, or -1 with errno. */
static int zygote_ensure(void)
{
    if (zyg_fd >= 0) return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    sv[0] = cl__high_fd(sv[0]);
    sv[1] = cl__high_fd(sv[1]);
    if (sv[0] < 0 || sv[1] < 0 || cl__devnull() < 0) {
        if (sv[0] >= 0) close(sv[0]);
        if (sv[1] >= 0) close(sv[1]);
        return -1;
    }
    pid_t agent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        zygote_main(sv[1], agent);
    }
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        errno = e;
        return -1;
    }
    zyg_fd = sv[0];
    zyg_pid = pid;
    return 0;
}

void cl__keep_zygote_stop(void)
{
    if (zyg_fd < 0) return;
    close(zyg_fd); /* it reads the end and exits */
    zyg_fd = -1;
    while (waitpid(zyg_pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Hand a's launch to the zygote, conn being the keeper's end of the agent's connection.
 * 0 once sent (the keeper answers on the agent's end), -1 when it cannot be (no zygote). */
static int zygote_spawn(const cl_keep_args_t *a, int conn)
{
    if (a->n > ZY_MAX_FDS - 8) return -1;
    int fds[ZY_MAX_FDS + 8];
    uint32_t nfds = 0;
    zbuf_t b = {0};
    zput_u32(&b, zfd(fds, &nfds, conn));
    zput_u32(&b, a->n);
    zput_u32(&b, a->first_rank);
    zput_u32(&b, a->abandon_ms);
    zput_u32(&b, zfd(fds, &nfds, a->keep_dir_fd));
    zput_u32(&b, zfd(fds, &nfds, a->lease_fd > 0 ? a->lease_fd : -1));
    zput_str(&b, a->name);
    zput_str(&b, a->cgroup);
    zput_str(&b, a->exit_name);
    zput_str(&b, a->title);
    for (uint32_t i = 0; i < a->n; i++) {
        const struct cl__spawn_req *q = &a->reqs[i];
        zput_str(&b, q->path);
        zput_str(&b, q->cwd);
        zput_str(&b, q->out_path);
        zput_str(&b, q->err_path);
        zput_strv(&b, q->argv);
        zput_strv(&b, q->env);
        zput_u32(&b, zfd(fds, &nfds, q->log_fd));
        zput_u32(&b, zfd(fds, &nfds, q->cgroup_fd));
        zput_u32(&b, zfd(fds, &nfds, q->cgroup_dir_fd));
        zput_u32(&b, (uint32_t)q->nlimit_fds);
        for (int j = 0; j < 2; j++)
            zput_u32(&b, zfd(fds, &nfds, j < q->nlimit_fds ? q->limit_fds[j] : -1));
        zput_u32(&b, (uint32_t)q->cgroup_required);
        zput_u32(&b, (uint32_t)q->parent_death_kill);
        zput_u32(&b, (uint32_t)q->set_ids);
        zput_u32(&b, (uint32_t)q->uid);
        zput_u32(&b, (uint32_t)q->gid);
    }
    int rc = -1;
    for (int tries = 0; tries < 2 && rc < 0; tries++) {
        if (zygote_ensure() < 0) break;
        uint32_t hdr[3] = {ZY_MAGIC, (uint32_t)b.len, nfds};
        union {
            char buf[CMSG_SPACE(sizeof(int) * (ZY_MAX_FDS + 8))];
            struct cmsghdr align;
        } u;
        memset(u.buf, 0, sizeof u.buf);
        struct iovec iov = {hdr, sizeof hdr};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = CMSG_SPACE(sizeof(int) * nfds)};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        ssize_t w = sendmsg(zyg_fd, &mh, MSG_NOSIGNAL);
        size_t off = 0;
        while (w == (ssize_t)sizeof hdr && off < b.len) {
            ssize_t n = write(zyg_fd, b.p + off, b.len - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            off += (size_t)n;
        }
        if (w == (ssize_t)sizeof hdr && off == b.len) {
            rc = 0;
        } else { /* the zygote died: a new one, once */
            close(zyg_fd);
            zyg_fd = -1;
            waitpid(zyg_pid, NULL, 0);
        }
    }
    free(b.p);
    return rc;
}

/* ------------------------------------------------------------------ the agent's side ---- */

static int keep_started(const cl_keep_args_t *a, int fd0, pid_t *pids, int *fd,
                        cl_error_t *err);

int cl__keep_spawn(const cl_keep_args_t *a, pid_t *pids, int *fd, cl_error_t *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return cl_err(err, "launch: keeper socket: %s", strerror(errno));
    sv[0] = cl__high_fd(sv[0]);
    sv[1] = cl__high_fd(sv[1]);
    if (sv[0] < 0 || sv[1] < 0 || cl__devnull() < 0) {
        if (sv[0] >= 0) close(sv[0]);
        if (sv[1] >= 0) close(sv[1]);
        return cl_err(err, "launch: keeper socket: %s", strerror(errno));
    }
    if (zygote_spawn(a, sv[1]) == 0) {
        close(sv[1]);
        return keep_started(a, sv[0], pids, fd, err);
    }
    /* No zygote (or a launch of too many ranks for one message): forked from here. No
     * handler of the agent may run in the children before the keeper resets them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t mid = fork();
    if (mid == 0) {
        /* the middle one: a session of its own for the keeper, which it leaves to init */
        setsid();
        pid_t kp = fork();
        if (kp == 0) {
            close(sv[0]);
            keeper_main(a, sv[1]);
        }
        _exit(kp < 0 ? 1 : 0);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    if (mid < 0) {
        close(sv[0]);
        return cl_err(err, "launch: cannot fork the keeper: %s", strerror(fork_errno));
    }
    int st;
    while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        close(sv[0]);
        return cl_err(err, "launch: cannot fork the keeper");
    }
    return keep_started(a, sv[0], pids, fd, err);
}

/* The keeper's word on the ranks, on the agent's end fd0: every PID then SYNC, or FAIL
 * (blocking: the execs take ms). */
static int keep_started(const cl_keep_args_t *a, int fd0, pid_t *pids, int *fd, cl_error_t *err)
{
    int sv[2] = {fd0, -1};
    uint32_t got = 0;
    for (;;) {
        struct cl_keep_msg m;
        ssize_t n = recv(sv[0], &m, sizeof m, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof m) {
            close(sv[0]);
            return cl_err(err, "launch: the keeper died before the ranks started");
        }
        if (m.type == CL_KEEP_FAIL) {
            close(sv[0]);
            if (m.index < a->n && strncmp(m.text, "the keeper", 10))
                return cl_err(err, "launch: cannot start rank %u (%s): %s",
                              a->first_rank + m.index, a->reqs[m.index].argv[0], m.text);
            return cl_err(err, "launch: %s", m.text);
        }
        if (m.type == CL_KEEP_PID && m.index < a->n) {
            pids[m.index] = m.pid;
            got++;
        }
        if (m.type == CL_KEEP_SYNC) break;
    }
    if (got != a->n) {
        close(sv[0]);
        return cl_err(err, "launch: the keeper told %u of %u ranks", got, a->n);
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    *fd = sv[0];
    return 0;
}
