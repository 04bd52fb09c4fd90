/* up.c - `colossus up` / `colossus down`: a local cluster on 127.0.0.1 (a controller and N
 * agents with fake GPUs, detached), its key, address, pids, logs and state under one
 * directory ($COLOSSUS_DIR, else ~/.colossus). */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/clictx.h"

static int mkdir_p(const char *path)
{
    char b[4096];
    snprintf(b, sizeof b, "%s", path);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(b, 0755);
            *p = '/';
        }
    return mkdir(b, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* fork, setsid, redirect to log, exec this binary with args. Returns the pid or -1. */
static pid_t spawn_detached(char *const *args, const char *logpath)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid();
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0)
            _exit(127);
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
        if (nul > 2)
            close(nul);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    return pid;
}

/* Is pid a colossus daemon of this directory (guards against a reused pid)? */
static bool ours(pid_t pid, const char *dir)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (!buf[i])
            buf[i] = ' ';
    buf[n] = 0;
    return strstr(buf, "colossus") && strstr(buf, dir);
}

static bool alive(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid)
        return false; /* our own child that exited */
    return kill(pid, 0) == 0;
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int parse_num(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "colossus %s: %s must be %ld..%ld, not '%s'\n", cmd, opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int up_down_dir(const char *cmd, int argc, char **argv, char *dir, size_t len, long *nodes,
                       long *gpn)
{
    enum { O_DIR = 1000, O_NODES, O_GPN };
    static const struct option opts[] = {{"dir", required_argument, 0, O_DIR},
                                         {"nodes", required_argument, 0, O_NODES},
                                         {"gpus-per-node", required_argument, 0, O_GPN},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *d = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == O_DIR)
            d = optarg;
        else if (o == O_NODES && nodes) {
            if (parse_num(cmd, "--nodes", optarg, 1, 64, nodes) < 0)
                return -1;
        } else if (o == O_GPN && gpn) {
            if (parse_num(cmd, "--gpus-per-node", optarg, 1, 64, gpn) < 0)
                return -1;
        } else if (o == 'h') {
            printf(nodes ? "usage: colossus up [--nodes N] [--gpus-per-node G] [--dir DIR]\n"
                         : "usage: colossus down [--dir DIR]\n");
            return 1;
        } else {
            fprintf(stderr, nodes ? "usage: colossus up [--nodes N] [--gpus-per-node G] [--dir DIR]\n"
                                  : "usage: colossus down [--dir DIR]\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "colossus %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return -1;
    }
    char raw[2048];
    if (d)
        snprintf(raw, sizeof raw, "%s", d);
    else
        cl_cli_dir(raw, sizeof raw);
    if (mkdir_p(raw) < 0) {
        fprintf(stderr, "colossus %s: cannot create %s: %s\n", cmd, raw, strerror(errno));
        return -1;
    }
    char real[PATH_MAX];
    if (!realpath(raw, real) || strlen(real) >= len) {
        fprintf(stderr, "colossus %s: %s: %s\n", cmd, raw, errno ? strerror(errno) : "too long");
        return -1;
    }
    snprintf(dir, len, "%s", real);
    return 0;
}

static int count_up(const char *dir, long want)
{
    /* Ask the controller through the normal client path. */
    char cmd[4400];
    snprintf(cmd, sizeof cmd,
             "COLOSSUS_DIR='%s' COLOSSUS_CONTROLLER= COLOSSUS_KEY= /proc/%d/exe nodes --json "
             "2>/dev/null | grep -c '\"state\": \"up\"'",
             dir, (int)getpid());
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    int n = 0;
    if (fscanf(p, "%d", &n) != 1)
        n = 0;
    pclose(p);
    return n >= want;
}

int cmd_up(int argc, char **argv)
{
    char dir[2048], path[4400], addr[256] = "";
    long nodes = 2, gpn = 2;
    int rc = up_down_dir("up", argc, argv, dir, sizeof dir, &nodes, &gpn);
    if (rc)
        return rc < 0 ? 2 : 0;
    snprintf(path, sizeof path, "%s/pids", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char what[32], name[128];
        int pid;
        bool running = false;
        while (fscanf(f, "%31s %127s %d", what, name, &pid) == 3)
            running |= ours(pid, dir) && kill(pid, 0) == 0;
        fclose(f);
        if (running) {
            fprintf(stderr, "colossus up: a cluster already runs from %s (colossus down first)\n", dir);
            return 1;
        }
    }
    char key[4400];
    snprintf(key, sizeof key, "%s/key", dir);
    if (access(key, R_OK) != 0) {
        char line[128];
        if (cl_crypto_init() < 0 || cl_key_generate(line, sizeof line) < 0) {
            fprintf(stderr, "colossus up: cannot make a key\n");
            return 1;
        }
        int fd = open(key, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line) || close(fd) < 0) {
            fprintf(stderr, "colossus up: cannot write %s: %s\n", key, strerror(errno));
            return 1;
        }
    }
    char logs[2200], state[2200], addrfile[2200], gpns[24], nodess[24];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(addrfile, sizeof addrfile, "%s/address", dir);
    mkdir_p(logs);
    unlink(addrfile);
    snprintf(gpns, sizeof gpns, "%ld", gpn);
    snprintf(nodess, sizeof nodess, "%ld", nodes < 8 ? 8 : nodes);
    snprintf(path, sizeof path, "%s/controller.log", logs);
    char *cargs[] = {"colossus", "controller", "--state-dir", state, "--listen", "127.0.0.1:0",
                     "--key", key, "--address-file", addrfile, "--nodes", nodess,
                     "--gpus-per-node", gpns, "--heartbeat-ms", "300", "--dead-after-ms", "1500",
                     NULL};
    pid_t cpid = spawn_detached(cargs, path);
    FILE *pf = NULL;
    snprintf(path, sizeof path, "%s/pids", dir);
    if (cpid < 0 || !(pf = fopen(path, "w"))) {
        fprintf(stderr, "colossus up: cannot start the controller: %s\n", strerror(errno));
        return 1;
    }
    fprintf(pf, "controller controller %d\n", (int)cpid);
    fflush(pf);
    for (int i = 0; i < 100 && !addr[0]; i++) {
        FILE *a = fopen(addrfile, "r");
        if (a) {
            if (!fgets(addr, sizeof addr, a))
                addr[0] = 0;
            fclose(a);
            addr[strcspn(addr, "\n")] = 0;
        }
        if (!addr[0]) {
            if (!alive(cpid))
                break;
            msleep(100);
        }
    }
    if (!addr[0]) {
        fclose(pf);
        fprintf(stderr, "colossus up: the controller did not start; see %s/controller.log\n", logs);
        return 1;
    }
    for (long i = 0; i < nodes; i++) {
        char name[32], work[4400], fake[24];
        snprintf(name, sizeof name, "node%06ld", i);
        snprintf(work, sizeof work, "%s/agents/%s", dir, name);
        snprintf(fake, sizeof fake, "%ld", gpn);
        snprintf(path, sizeof path, "%s/agent-%s.log", logs, name);
        char *aargs[] = {"colossus", "agent", "--controller", addr, "--key", key, "--name", name,
                         "--work-dir", work, "--fake-gpus", fake, NULL};
        pid_t apid = spawn_detached(aargs, path);
        if (apid < 0) {
            fprintf(stderr, "colossus up: cannot start agent %s: %s\n", name, strerror(errno));
            fclose(pf);
            return 1;
        }
        fprintf(pf, "agent %s %d\n", name, (int)apid);
    }
    fclose(pf);
    bool ok = false;
    for (int i = 0; i < 150 && !(ok = count_up(dir, nodes)); i++)
        msleep(100);
    if (!ok) {
        fprintf(stderr, "colossus up: not every agent registered within 15 s; see %s\n", logs);
        return 1;
    }
    char def[2048], defreal[PATH_MAX];
    cl_cli_dir(def, sizeof def);
    bool is_default = realpath(def, defreal) && !strcmp(defreal, dir);
    printf("Colossus is up: controller at %s, %ld agents x %ld GPUs (simulated), state in %s\n\n",
           addr, nodes, gpn, dir);
    if (!is_default)
        printf("  export COLOSSUS_DIR=%s\n", dir);
    printf("  colossus nodes\n"
           "  colossus submit -N %ld --gpus-per-node %ld --name hello -- sh -c 'echo rank $RANK of $WORLD_SIZE'\n"
           "  colossus jobs --all\n"
           "  colossus logs JOB\n"
           "  colossus down\n\n"
           "Logs: %s\n",
           nodes, gpn, logs);
    return 0;
}

int cmd_down(int argc, char **argv)
{
    char dir[2048], path[4400];
    int rc = up_down_dir("down", argc, argv, dir, sizeof dir, NULL, NULL);
    if (rc)
        return rc < 0 ? 2 : 0;
    snprintf(path, sizeof path, "%s/pids", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "colossus down: no cluster runs from %s\n", dir);
        return 1;
    }
    pid_t ctl = 0, agents[256];
    int na = 0;
    char what[32], name[128];
    int pid;
    while (fscanf(f, "%31s %127s %d", what, name, &pid) == 3) {
        if (!ours(pid, dir))
            continue;
        if (!strcmp(what, "controller"))
            ctl = pid;
        else if (na < 256)
            agents[na++] = pid;
    }
    fclose(f);
    /* Agents first: they stop their ranks (TERM, then KILL after the grace period). */
    for (int i = 0; i < na; i++)
        kill(agents[i], SIGTERM);
    for (int t = 0; t < 100; t++) {
        bool any = false;
        for (int i = 0; i < na; i++)
            any |= kill(agents[i], 0) == 0;
        if (!any)
            break;
        msleep(100);
    }
    for (int i = 0; i < na; i++)
        if (kill(agents[i], 0) == 0)
            kill(agents[i], SIGKILL);
    if (ctl) {
        kill(ctl, SIGTERM);
        for (int t = 0; t < 50 && kill(ctl, 0) == 0; t++)
            msleep(100);
        if (kill(ctl, 0) == 0)
            kill(ctl, SIGKILL);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/address", dir);
    unlink(path);
    printf("Colossus is down (%d agents and %s stopped; state kept in %s/state)\n", na,
           ctl ? "the controller" : "no controller", dir);
    return 0;
}
