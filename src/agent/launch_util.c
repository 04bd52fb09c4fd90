/* launch_util.c - helpers of the rank launcher: rank environment and arguments, command
 * lookup, cgroup v2 files (create, signal, kill, populated) and /proc scans. */
#include "agent/launch_util.h"
#include "util/jobenv.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

void cl__strv_free(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* --------------------------------------------------------------- environment ------------ */

/* The names the launcher sets: never inherited, never taken from env_extra. */
#define OWN(s)                                                                                 \
    {                                                                                          \
        s, sizeof s - 1                                                                        \
    }
static const struct {
    const char *s;
    size_t n;
} own_names[] = {
    OWN("COLOSSUS_JOB_ID"),
    OWN("COLOSSUS_RESTART"),
    OWN("COLOSSUS_INCARNATION"),
    OWN("COLOSSUS_CHECKPOINT_DIR"),
    OWN("COLOSSUS_FLOPS_FILE"),
    OWN("COLOSSUS_USER"),
    OWN("COLOSSUS_ARRAY_JOB_ID"),
    OWN("COLOSSUS_ARRAY_TASK_ID"),
    OWN("SLURM_ARRAY_JOB_ID"),
    OWN("SLURM_ARRAY_TASK_ID"),
    OWN("RANK"),
    OWN("WORLD_SIZE"),
    OWN("LOCAL_RANK"),
    OWN("LOCAL_WORLD_SIZE"),
    OWN("NODE_RANK"),
    OWN("MASTER_ADDR"),
    OWN("MASTER_PORT"),
    OWN("CUDA_VISIBLE_DEVICES"),
};
#undef OWN

static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int is_name(const char *entry, size_t n, const char *name, size_t name_n)
{
    return n == name_n && !memcmp(entry, name, n);
}

/* USER, LOGNAME and HOME are the launcher's only when the spec says who the ranks are. A
 * credential's variable (the agent's own, or one a submitter sent) is never passed on. n is
 * the length of entry's name. */
static int is_own(const char *entry, size_t n, const cl_launch_spec_t *sp)
{
    if (cl_env_secret_name(entry, n)) return 1;
    for (size_t i = 0; i < sizeof own_names / sizeof own_names[0]; i++)
        if (is_name(entry, n, own_names[i].s, own_names[i].n)) return 1;
    if (sp->user && (is_name(entry, n, "USER", 4) || is_name(entry, n, "LOGNAME", 7))) return 1;
    return sp->home && is_name(entry, n, "HOME", 4);
}

const char *cl__env_get(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = env; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

struct strv {
    char **v;
    size_t n, cap;
};

static void push(struct strv *s, char *str) /* takes str */
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = cl_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
}

static void pushf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pushf(struct strv *s, const char *fmt, ...)
{
    va_list ap;
    char *str = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&str, fmt, ap);
    va_end(ap);
    if (n < 0) cl_oom(strlen(fmt), __FILE__, __LINE__);
    push(s, str);
}

static char *gpu_list(const cl_launch_spec_t *sp)
{
    uint32_t n = sp->ngpus ? sp->ngpus : sp->local_ranks;
    size_t cap = (size_t)n * 11 + 1;
    char *buf = cl_xmalloc(cap), *p = buf;
    *p = '\0';
    for (uint32_t i = 0; sp->gpus && i < n; i++)
        p += sprintf(p, "%s%u", i ? "," : "", sp->gpus[i]);
    return buf;
}

/* An entry of the inherited environment or of env_extra, with its name's length. */
struct cand {
    const char *e;
    size_t n;
};

static uint64_t name_hash(const char *s, size_t n) /* FNV-1a */
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The entries of base and env_extra that reach the ranks, in order: not the launcher's own,
 * and one per name, the last one winning (env_extra comes after base, and may repeat a
 * name). Linear: a set of the names seen, walked from the end. */
static void inherited_env(const cl_launch_spec_t *sp, char *const *base, struct strv *out)
{
    size_t n = 0, cap = 0;
    for (char *const *e = base; e && *e; e++)
        cap++;
    for (char *const *e = sp->env_extra; e && *e; e++)
        cap++;
    if (cap == 0) return;
    struct cand *c = cl_xmalloc(cap * sizeof *c);
    for (char *const *e = base; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq && !is_own(*e, (size_t)(eq - *e), sp))
            c[n++] = (struct cand){*e, (size_t)(eq - *e)};
    }
    for (char *const *e = sp->env_extra; e && *e; e++) {
        size_t len = name_len(*e);
        if (!is_own(*e, len, sp)) c[n++] = (struct cand){*e, len};
    }
    size_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    size_t *set = cl_xcalloc(slots, sizeof *set); /* index + 1 of a kept entry; 0: free */
    unsigned char *keep = cl_xcalloc(n ? n : 1, 1);
    for (size_t i = n; i-- > 0;) {
        size_t h = (size_t)name_hash(c[i].e, c[i].n) & (slots - 1);
        int seen = 0;
        for (; set[h]; h = (h + 1) & (slots - 1)) {
            const struct cand *o = &c[set[h] - 1];
            if (is_name(o->e, o->n, c[i].e, c[i].n)) {
                seen = 1;
                break;
            }
        }
        if (!seen) {
            set[h] = i + 1;
            keep[i] = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (keep[i]) push(out, cl_xstrdup(c[i].e));
    free(keep);
    free(set);
    free(c);
}

const char *cl__launch_path(const cl_launch_spec_t *sp, char *const *base)
{
    const char *path = NULL;
    for (char *const *e = sp->env_extra; e && *e; e++)
        if (!strncmp(*e, "PATH=", 5)) path = *e + 5; /* the last one wins */
    return path ? path : cl__env_get(base, "PATH");
}

char **cl__rank_env(const cl_launch_spec_t *sp, uint32_t local, char *const *base)
{
    struct strv s = {0};
    inherited_env(sp, base, &s);
    uint32_t rank = sp->node_rank * sp->local_ranks + local; /* checked to fit (launch.c) */
    pushf(&s, "COLOSSUS_JOB_ID=%llu", (unsigned long long)sp->job_id);
    pushf(&s, "COLOSSUS_RESTART=%u", sp->restart);
    pushf(&s, "COLOSSUS_INCARNATION=%u", sp->incarnation);
    if (sp->array_job_id) { /* a task of an array, under Colossus's names and Slurm's */
        pushf(&s, "COLOSSUS_ARRAY_JOB_ID=%llu", (unsigned long long)sp->array_job_id);
        pushf(&s, "COLOSSUS_ARRAY_TASK_ID=%u", sp->array_task);
        pushf(&s, "SLURM_ARRAY_JOB_ID=%llu", (unsigned long long)sp->array_job_id);
        pushf(&s, "SLURM_ARRAY_TASK_ID=%u", sp->array_task);
    }
    if (sp->checkpoint_dir) pushf(&s, "COLOSSUS_CHECKPOINT_DIR=%s", sp->checkpoint_dir);
    if (sp->flops_dir) {
        char path[4200];
        if (cl_launch_flops_path(sp->flops_dir, sp->incarnation, rank, path, sizeof path) == 0)
            pushf(&s, "COLOSSUS_FLOPS_FILE=%s", path);
    }
    if (sp->user) {
        pushf(&s, "USER=%s", sp->user);
        pushf(&s, "LOGNAME=%s", sp->user);
        pushf(&s, "COLOSSUS_USER=%s", sp->user);
    }
    if (sp->home) pushf(&s, "HOME=%s", sp->home);
    pushf(&s, "RANK=%u", rank);
    pushf(&s, "WORLD_SIZE=%llu", (unsigned long long)sp->nnodes * sp->local_ranks);
    pushf(&s, "LOCAL_RANK=%u", local);
    pushf(&s, "LOCAL_WORLD_SIZE=%u", sp->local_ranks);
    pushf(&s, "NODE_RANK=%u", sp->node_rank);
    pushf(&s, "MASTER_ADDR=%s", sp->master_addr);
    pushf(&s, "MASTER_PORT=%u", (unsigned)sp->master_port);
    char *gpus = gpu_list(sp);
    pushf(&s, "CUDA_VISIBLE_DEVICES=%s", gpus);
    free(gpus);
    /* The launcher's own names were filtered out above: the entries are one per name. */
    return s.v;
}

/* --------------------------------------------------------------- files ------------------ */

int cl__mkdir_owned(const char *path, int own, uid_t uid, gid_t gid)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        errno = ENOTDIR;
        return -1;
    }
    char dir[4096];
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') /* "a/b/" is "a/b" */
        len--;
    if (len == 0 || len >= sizeof dir) {
        errno = len ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(dir, path, len);
    dir[len] = '\0';
    int rc = mkdir(dir, 0700);
    char *slash = strrchr(dir, '/');
    if (rc < 0 && errno == ENOENT && slash && slash != dir) {
        *slash = '\0'; /* its parents (walked only when one is missing), then itself */
        if (cl_mkdir_p(dir, 0755) < 0) return -1;
        *slash = '/';
        rc = mkdir(dir, 0700);
    }
    if (rc < 0) {
        if (errno != EEXIST) return -1;
        return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
    }
    /* Most often what mkdir made is already right: the umask left 0700 and the owner is
     * the job's (the agent's own ids, or no setgid parent gave it another group). */
    if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700 &&
        (!own || (st.st_uid == uid && st.st_gid == gid)))
        return 0;
    /* Else mend what we made, not whatever replaced it meanwhile (O_NOFOLLOW): the umask may
     * have cut the mode, and the owner is the job's. */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0700) < 0 || (own && fchown(fd, uid, gid) < 0)) {
        int e = errno;
        if (fd >= 0) close(fd);
        rmdir(dir);
        errno = e;
        return -1;
    }
    close(fd);
    return 0;
}

static int is_exec_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int cl__find_command(const char *cmd, const char *path, const char *work_dir, char *buf,
                     size_t len)
{
    int n;
    if (strchr(cmd, '/')) {
        if (cmd[0] == '/')
            n = snprintf(buf, len, "%s", cmd);
        else
            n = snprintf(buf, len, "%s/%s", work_dir, cmd);
        return n < (int)len && is_exec_file(buf) ? 0 : -1;
    }
    if (!path) path = DEFAULT_PATH;
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        if (plen == 0) /* an empty entry is the current directory */
            n = snprintf(buf, len, "%s/%s", work_dir, cmd);
        else if (p[0] == '/')
            n = snprintf(buf, len, "%.*s/%s", (int)plen, p, cmd);
        else
            n = snprintf(buf, len, "%s/%.*s/%s", work_dir, (int)plen, p, cmd);
        if (n < (int)len && is_exec_file(buf)) return 0;
        if (!end) return -1;
        p = end + 1;
    }
}

/* --------------------------------------------------------------- cgroup v2 -------------- */

int cl__is_cgroup2(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC;
}

int cl__cgroup_default_parent(char *buf, size_t len)
{
    static const char *const mounts[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    for (size_t i = 0; i < 2; i++) {
        if (!cl__is_cgroup2(mounts[i]) || access(mounts[i], W_OK) < 0) continue;
        if (snprintf(buf, len, "%s/colossus", mounts[i]) >= (int)len) return -1;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) continue;
        return 0;
    }
    return -1;
}

int cl__cgroup_make(const char *path)
{
    return mkdir(path, 0755) < 0 ? errno : 0;
}

int cl__cgroup_remove(const char *path)
{
    return rmdir(path);
}

int cl__write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int cl__cgroup_populated(const char *path)
{
    char file[4200], buf[512];
    snprintf(file, sizeof file, "%s/cgroup.events", path);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, "populated ");
    if (!p) return -1;
    return p[10] == '1';
}

void cl__cgroup_signal(const char *path, int sig)
{
    char file[4200];
    if (sig == SIGKILL) {
        snprintf(file, sizeof file, "%s/cgroup.kill", path);
        if (cl__write_file(file, "1") == 0) return;
    }
    snprintf(file, sizeof file, "%s/cgroup.procs", path);
    FILE *f = fopen(file, "re");
    if (!f) return;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1)
        if (pid > 0) kill((pid_t)pid, sig);
    fclose(f);
}

/* Agent pid in a launch cgroup name "job<id>-inc<n>-node<n>-<pid>-<seq>", or 0. */
long cl__cgroup_name_pid(const char *name)
{
    if (strncmp(name, "job", 3)) return 0;
    const char *seq = strrchr(name, '-');
    if (!seq || seq == name) return 0;
    const char *p = seq - 1;
    while (p > name && isdigit((unsigned char)*p))
        p--;
    if (*p != '-' || p + 1 == seq) return 0;
    return strtol(p + 1, NULL, 10);
}

/* Whether a process of the cgroup at path is the child of a live keeper (keeper.h), whose
 * launch outlives the agent named in the cgroup's name. */
static bool keeper_holds(const char *path)
{
    char file[4400];
    snprintf(file, sizeof file, "%s/cgroup.procs", path);
    FILE *f = fopen(file, "re");
    if (!f) return false;
    long pid;
    bool held = false;
    while (!held && fscanf(f, "%ld", &pid) == 1) {
        char stat[64], buf[512], comm[32] = "";
        snprintf(stat, sizeof stat, "/proc/%ld/stat", pid);
        int fd = open(stat, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0) close(fd);
        if (n <= 0) continue;
        buf[n] = 0;
        const char *p = strrchr(buf, ')');
        long ppid;
        char st;
        if (!p || sscanf(p + 1, " %c %ld", &st, &ppid) != 2 || ppid <= 1) continue;
        snprintf(stat, sizeof stat, "/proc/%ld/comm", ppid);
        fd = open(stat, O_RDONLY | O_CLOEXEC);
        n = fd >= 0 ? read(fd, comm, sizeof comm - 1) : -1;
        if (fd >= 0) close(fd);
        held = n > 0 && !strncmp(comm, "colossus-keep", 13);
    }
    fclose(f);
    return held;
}

int cl__cgroup_sweep(const char *parent, char *const *keep)
{
    DIR *d = opendir(parent);
    if (!d) return -1;
    int removed = 0;
    struct dirent *de;
    char path[4200];
    while ((de = readdir(d))) {
        long pid = cl__cgroup_name_pid(de->d_name);
        if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue; /* not ours, or its agent is alive */
        if (snprintf(path, sizeof path, "%s/%s", parent, de->d_name) >= (int)sizeof path)
            continue;
        bool kept = false;
        for (char *const *k = keep; k && *k && !kept; k++)
            kept = !strcmp(*k, path);
        if (kept || keeper_holds(path)) continue; /* a keeper lives on: not left behind */
        cl__cgroup_signal(path, SIGKILL);
        for (int i = 0; i < 100 && cl__cgroup_populated(path) == 1; i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (rmdir(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}

/* --------------------------------------------------------------- /proc ------------------ */

void cl__pgroups_live(const pid_t *groups, size_t n, int *live)
{
    memset(live, 0, n * sizeof *live);
    DIR *d = opendir("/proc");
    if (!d) {
        for (size_t i = 0; i < n; i++)
            live[i] = 1; /* cannot tell: assume alive, the caller keeps signalling */
        return;
    }
    struct dirent *de;
    char file[64], buf[1024];
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        snprintf(file, sizeof file, "/proc/%.20s/stat", de->d_name);
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0) continue;
        buf[len] = '\0';
        /* "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses. */
        const char *p = strrchr(buf, ')');
        char state;
        long ppid, pgrp;
        if (!p || sscanf(p + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) continue;
        if (state == 'Z' || state == 'X' || state == 'x') continue;
        for (size_t i = 0; i < n; i++)
            if (groups[i] == (pid_t)pgrp) live[i] = 1;
    }
    closedir(d);
}
