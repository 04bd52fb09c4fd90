/* cglimit.c - a launch's CPU and memory limits in cgroup v2 or v1, and its OOM kills
 * (cglimit.h). */
#include "agent/cglimit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/launch_util.h"
#include "util/util.h"

#define CPU_PERIOD_US 100000

struct cl_cglimit {
    uint64_t mem_mb;
    uint32_t cpu_milli;
    char v2[PATH_MAX];     /* the launch's v2 cgroup, "" none */
    int v2_mem;            /* memory.max was written there */
    char v1_mem[PATH_MAX]; /* v1 groups made for it, "" none */
    char v1_cpu[PATH_MAX];
    int fds[2];
    int nfds;
};

static int put(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX + 64];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return -1;
    return cl__write_file(path, text);
}

/* dir/file's first len - 1 bytes into buf, NUL-ended: 0, or -1 (no such file, empty). */
static int get(const char *dir, const char *file, char *buf, size_t len)
{
    char path[PATH_MAX + 64];
    if (!dir[0] || snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    return 0;
}

/* The number after "key " in dir/file (a flat keyed file such as memory.events), or -1. */
static long long keyed(const char *dir, const char *file, const char *key)
{
    char buf[4096];
    if (get(dir, file, buf, sizeof buf) < 0) return -1;
    size_t kl = strlen(key);
    for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, kl) && p[kl] == ' ') return strtoll(p + kl + 1, NULL, 10);
    return -1;
}

static long long number(const char *dir, const char *file)
{
    char buf[64];
    return get(dir, file, buf, sizeof buf) < 0 ? -1 : strtoll(buf, NULL, 10);
}

/* v2: the controller in the launch's cgroup, enabled on its parent when it is not yet. */
static int v2_has(const char *cg, const char *ctl, const char *probe)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", cg, probe);
    if (access(path, W_OK) == 0) return 1;
    char parent[PATH_MAX], plus[32];
    snprintf(parent, sizeof parent, "%s", cg);
    char *slash = strrchr(parent, '/');
    if (!slash) return 0;
    *slash = 0;
    snprintf(plus, sizeof plus, "+%s", ctl);
    put(parent, "cgroup.subtree_control", plus); /* fails where the parent lacks it */
    return access(path, W_OK) == 0;
}

/* v1: ROOT/HIER/colossus/NAME made, its procs file opened into g->fds. */
static int v1_make(cl_cglimit_t *g, const char *root, const char *hier, const char *name,
                   char *out, size_t len)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s/colossus", root, hier) >= (int)sizeof dir ||
        snprintf(out, len, "%s/%s", dir, name) >= (int)len)
        return -1;
    char procs[PATH_MAX + 32];
    snprintf(procs, sizeof procs, "%s/%s/cgroup.procs", root, hier);
    if (access(procs, W_OK) < 0) return -1; /* not a v1 hierarchy we may write */
    if ((mkdir(dir, 0755) < 0 && errno != EEXIST) || (mkdir(out, 0755) < 0 && errno != EEXIST))
        return -1;
    return 0;
}

static int v1_open(cl_cglimit_t *g, const char *dir)
{
    char procs[PATH_MAX + 32];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    int fd = cl__high_fd(open(procs, O_WRONLY | O_CLOEXEC));
    if (fd < 0) return -1;
    g->fds[g->nfds++] = fd;
    return 0;
}

static void v1_drop(char *dir)
{
    if (dir[0]) rmdir(dir);
    dir[0] = 0;
}

cl_cglimit_t *cl_cglimit_apply(const char *v2_cgroup, const char *name, uint64_t mem_mb,
                               uint32_t cpu_milli, const char *v1_root, int *enforced,
                               cl_error_t *err)
{
    cl_cglimit_t *g = cl_xcalloc(1, sizeof *g);
    g->mem_mb = mem_mb;
    g->cpu_milli = cpu_milli;
    if (v2_cgroup) snprintf(g->v2, sizeof g->v2, "%s", v2_cgroup);
    if (!v1_root) v1_root = "/sys/fs/cgroup";
    char num[64];
    int mem_done = !mem_mb, cpu_done = !cpu_milli;
    uint64_t bytes = mem_mb * 1024 * 1024;
    uint64_t quota = (uint64_t)cpu_milli * CPU_PERIOD_US / 1000;
    if (quota < 1000) quota = 1000; /* the kernel's least quota, 1 ms */
    if (g->v2[0] && !mem_done && v2_has(g->v2, "memory", "memory.max")) {
        snprintf(num, sizeof num, "%" PRIu64, bytes);
        if (put(g->v2, "memory.max", num) == 0) {
            put(g->v2, "memory.swap.max", "0"); /* absent without swap accounting: fine */
            g->v2_mem = mem_done = 1;
        }
    }
    if (g->v2[0] && !cpu_done && v2_has(g->v2, "cpu", "cpu.max")) {
        snprintf(num, sizeof num, "%" PRIu64 " %u", quota, CPU_PERIOD_US);
        cpu_done = put(g->v2, "cpu.max", num) == 0;
    }
    if (!mem_done && v1_make(g, v1_root, "memory", name, g->v1_mem, sizeof g->v1_mem) == 0) {
        snprintf(num, sizeof num, "%" PRIu64, bytes);
        if (put(g->v1_mem, "memory.limit_in_bytes", num) == 0 && v1_open(g, g->v1_mem) == 0) {
            put(g->v1_mem, "memory.memsw.limit_in_bytes", num); /* no swap either, where kept */
            mem_done = 1;
        } else {
            v1_drop(g->v1_mem);
        }
    }
    if (!cpu_done && v1_make(g, v1_root, "cpu", name, g->v1_cpu, sizeof g->v1_cpu) == 0) {
        snprintf(num, sizeof num, "%u", CPU_PERIOD_US);
        char q[32];
        snprintf(q, sizeof q, "%" PRIu64, quota);
        if (put(g->v1_cpu, "cpu.cfs_period_us", num) == 0 &&
            put(g->v1_cpu, "cpu.cfs_quota_us", q) == 0 && v1_open(g, g->v1_cpu) == 0) {
            cpu_done = 1;
        } else {
            v1_drop(g->v1_cpu);
        }
    }
    *enforced = mem_done && cpu_done;
    if (!*enforced)
        cl_err(err,
               "cannot write a %s limit in any cgroup (v2 %s, v1 under %s): the ranks run "
               "without it",
               !mem_done ? "memory" : "CPU", g->v2[0] ? g->v2 : "none", v1_root);
    return g;
}

int cl_cglimit_procs_fds(const cl_cglimit_t *g, int fds[2])
{
    if (!g) return 0;
    for (int i = 0; i < g->nfds; i++)
        fds[i] = g->fds[i];
    return g->nfds;
}

int cl_cglimit_oom(const cl_cglimit_t *g, int killed_by_sigkill)
{
    if (!g || !g->mem_mb) return 0;
    if (g->v2_mem) {
        long long k = keyed(g->v2, "memory.events", "oom_kill");
        if (k > 0) return 1;
        if (k < 0 && killed_by_sigkill && keyed(g->v2, "memory.events", "max") > 0) return 1;
        return 0;
    }
    if (g->v1_mem[0]) {
        long long k = keyed(g->v1_mem, "memory.oom_control", "oom_kill");
        if (k > 0) return 1;
        if (k < 0 && killed_by_sigkill && number(g->v1_mem, "memory.failcnt") > 0) return 1;
    }
    return 0;
}

uint64_t cl_cglimit_mem_mb(const cl_cglimit_t *g)
{
    return g ? g->mem_mb : 0;
}

void cl_cglimit_destroy(cl_cglimit_t *g)
{
    if (!g) return;
    int e = errno;
    for (int i = 0; i < g->nfds; i++)
        close(g->fds[i]);
    v1_drop(g->v1_mem);
    v1_drop(g->v1_cpu);
    free(g);
    errno = e;
}

int cl_cglimit_sweep(const char *v1_root)
{
    static const char *const hiers[] = {"memory", "cpu"};
    if (!v1_root) v1_root = "/sys/fs/cgroup";
    int removed = 0;
    for (size_t h = 0; h < 2; h++) {
        char dir[PATH_MAX], path[PATH_MAX + 300];
        snprintf(dir, sizeof dir, "%s/%s/colossus", v1_root, hiers[h]);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            long pid = cl__cgroup_name_pid(de->d_name);
            if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            /* its processes were the v2 group's too, killed by cl_launch_sweep() */
            if (rmdir(path) == 0) removed++;
        }
        closedir(d);
    }
    return removed;
}
