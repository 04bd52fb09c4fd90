/* up.c - `colossus up` / `colossus down`: a local cluster on 127.0.0.1 (a controller and N
 * agents with fake GPUs, detached), its key, address, pids, logs and state under one
 * directory ($COLOSSUS_DIR, else ~/.colossus); the local user made an admin with a token
 * there (DIR/token), and the agents given a node credential (DIR/node-token); the REST API's
 * base URL in DIR/http-address. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/clictx.h"
#include "cli/svc.h"
#include "util/util.h"

/* fork, setsid, redirect to log, exec this binary with args. Returns the pid or -1. */
static pid_t spawn_detached(char *const *args, const char *logpath)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setsid();
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0) _exit(127);
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
        if (nul > 2) close(nul);
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
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (!buf[i]) buf[i] = ' ';
    buf[n] = 0;
    return strstr(buf, "colossus") && strstr(buf, dir);
}

static bool alive(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) return false; /* our own child that exited */
    return kill(pid, 0) == 0;
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void usage_up(FILE *f)
{
    fprintf(
        f, "usage: colossus up [--nodes N] [--gpus-per-node G] [--dir DIR] [--store URL]\n"
           "                   [--standby] [--relays R]\n"
           "Start a local cluster on 127.0.0.1: a controller and N agents with simulated\n"
           "GPUs, detached; its key, address, logs and state go under DIR.\n"
           "  --nodes N               agents, 1..64 (default 2)\n"
           "  --gpus-per-node G       simulated GPUs per agent, 1..64 (default 2)\n"
           "  --dir DIR               default: $COLOSSUS_DIR, else ~/.colossus\n"
           "  --store URL             the controller's journal (default sqlite:DIR/state),\n"
           "                          e.g. postgresql://HOST/DB; give it at every up\n"
           "  --standby               a second controller, a standby on the same journal\n"
           "                          (needs --store postgresql://...): kill the leader and\n"
           "                          watch it take over (docs/standby.md)\n"
           "  --relays R              R relays (0..16) between the agents and the controller:\n"
           "                          agent i connects through relay i mod R, with the\n"
           "                          controller as its fallback (docs/relay.md)\n"
           "  -h, --help              this text\n");
}

static void usage_down(FILE *f)
{
    fprintf(f, "usage: colossus down [--dir DIR]\n"
               "Stop the local cluster `colossus up` started from DIR (agents first, then the\n"
               "controller); its state stays in DIR/state.\n"
               "  --dir DIR               default: $COLOSSUS_DIR, else ~/.colossus\n"
               "  -h, --help              this text\n");
}

/* Parse up's or down's flags (nodes and gpn NULL for down) and make the directory; 0 to go
 * on, or -1 to stop with *status. */
static int up_down_dir(const char *cmd, int argc, char **argv, char *dir, size_t len,
                       uint32_t *nodes, uint32_t *gpn, const char **store, bool *standby,
                       uint32_t *relays, int *status)
{
    enum { O_DIR = 1000, O_NODES, O_GPN, O_STORE, O_STANDBY, O_RELAYS };
    static const struct option up_opts[] = {{"dir", required_argument, 0, O_DIR},
                                            {"nodes", required_argument, 0, O_NODES},
                                            {"gpus-per-node", required_argument, 0, O_GPN},
                                            {"store", required_argument, 0, O_STORE},
                                            {"standby", no_argument, 0, O_STANDBY},
                                            {"relays", required_argument, 0, O_RELAYS},
                                            CL_FLAGS_HELP,
                                            {0, 0, 0, 0}};
    static const struct option down_opts[] = {
        {"dir", required_argument, 0, O_DIR}, CL_FLAGS_HELP, {0, 0, 0, 0}};
    cl_flags_t f = {.cmd = cmd,
                    .shorts = "h",
                    .longs = nodes ? up_opts : down_opts,
                    .usage = nodes ? usage_up : usage_down};
    const char *d = NULL;
    int o;
    *status = 2;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) {
            *status = f.exit;
            return -1;
        }
        if (o == O_DIR)
            d = optarg;
        else if (o == O_STORE)
            *store = optarg;
        else if (o == O_STANDBY)
            *standby = true;
        else if (o == O_NODES && cl_flag_u32(cmd, "--nodes", optarg, 1, 64, nodes) < 0)
            return -1;
        else if (o == O_GPN && cl_flag_u32(cmd, "--gpus-per-node", optarg, 1, 64, gpn) < 0)
            return -1;
        else if (o == O_RELAYS && cl_flag_u32(cmd, "--relays", optarg, 0, 16, relays) < 0)
            return -1;
    }
    if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return -1;
    if (standby && *standby &&
        (!*store ||
         (strncmp(*store, "postgresql://", 13) && strncmp(*store, "postgres://", 11)))) {
        cl_flags_fail(&f,
                      "--standby needs --store postgresql://... (standby controllers share a "
                      "PostgreSQL journal: docs/standby.md)");
        return -1;
    }
    char raw[2048];
    if (d && strlen(d) >= sizeof raw) {
        cl_flags_fail(&f, "--dir is longer than %zu bytes", sizeof raw - 1);
        return -1;
    }
    *status = 1;
    if (d)
        snprintf(raw, sizeof raw, "%s", d);
    else if (cl_cli_dir(cmd, raw, sizeof raw) < 0)
        return -1;
    if (cl_mkdir_p(raw, 0700) < 0) {
        fprintf(stderr, "colossus %s: cannot create %s: %s\n", cmd, raw, strerror(errno));
        return -1;
    }
    char real[PATH_MAX];
    if (!realpath(raw, real) || strlen(real) >= len) {
        fprintf(stderr, "colossus %s: %s: %s\n", cmd, raw,
                errno ? strerror(errno) : "too long");
        return -1;
    }
    snprintf(dir, len, "%s", real);
    return 0;
}

/* How many nodes are up, asked as any client would, quietly (the agents are still coming):
 * -1 when the controller does not answer. */
static int count_up(const char *addr, const uint8_t key[CL_KEY_BYTES])
{
    cl_error_t err;
    cl_client_t *c =
        cl_client_connect(addr, key, COLOSSUS__ROLE__ROLE_CLIENT, "up", 2000, &err);
    if (!c) return -1;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_NODES;
    r.nodes = true;
    Colossus__Msg *m = cl_client_call(c, &r, 5000, &err);
    cl_client_close(c);
    int n = -1;
    if (m && m->response->ok) {
        n = 0;
        for (size_t i = 0; i < m->response->n_nodes; i++)
            n += !strcmp(m->response->nodes[i]->state, "up");
    }
    cl_msg_free(m);
    return n;
}

/* Does a cluster of ours already run from dir (its pids file names a live daemon)? */
static bool already_up(const char *dir)
{
    char path[4400], what[32], name[128];
    int pid;
    bool running = false;
    snprintf(path, sizeof path, "%s/pids", dir);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    while (fscanf(f, "%31s %127s %d", what, name, &pid) == 3)
        running |= ours(pid, dir) && kill(pid, 0) == 0;
    fclose(f);
    return running;
}

/* The cluster key file key (DIR/key), made (mode 0600) when there is none. 0, or -1 after
 * saying why. */
static int ensure_key(const char *key)
{
    if (access(key, R_OK) == 0) return 0;
    char line[128];
    cl_error_t err;
    if (cl_crypto_init() < 0 || cl_key_generate(line, sizeof line) < 0) {
        fprintf(stderr, "colossus up: cannot make a key\n");
        return -1;
    }
    if (cl_write_secret_file(key, line, &err) < 0) {
        fprintf(stderr, "colossus up: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* The first line of path into line (len bytes), "" when there is none (yet). */
static void first_line(const char *path, char *line, size_t len)
{
    FILE *a = fopen(path, "r");
    line[0] = 0;
    if (!a) return;
    if (!fgets(line, (int)len, a)) line[0] = 0;
    fclose(a);
    line[strcspn(line, "\n")] = 0;
}

/* The leader, or with --standby the second controller: a standby of the same journal with
 * the leader's identity, on a port chosen now (it listens only once it leads), writing
 * DIR/address-standby when it does and DIR/http-address (the dashboard moves with the lead). */
typedef struct up_ctl {
    bool standby;
    char listen[64];
    pid_t pid;
} up_ctl_t;

/* A port of 127.0.0.1 free a moment ago (the standby's: it binds it only once it leads). */
static int free_port(char *out, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int rc = fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
                     getsockname(fd, (struct sockaddr *)&sa, &sl) < 0
                 ? -1
                 : 0;
    if (rc == 0) snprintf(out, len, "127.0.0.1:%d", ntohs(sa.sin_port));
    if (fd >= 0) close(fd);
    return rc;
}

/* Start a controller (its pid goes to pf). */
static int spawn_controller(const char *dir, const char *key, const char *store, uint32_t nodes,
                            uint32_t gpn, FILE *pf, up_ctl_t *u)
{
    char state[2200], addrfile[2200], httpfile[2200], logpath[2200], gpns[24], nodess[24];
    char identity[2200], ranklogs[2200];
    const char *sfx = u->standby ? "-standby" : "";
    snprintf(state, sizeof state, "%s/state%s", dir, sfx);
    /* The agents' rank logs, where the controller reads a dead node's (--log-root). */
    snprintf(ranklogs, sizeof ranklogs, "%s/ranklogs", dir);
    snprintf(addrfile, sizeof addrfile, "%s/address%s", dir, sfx);
    snprintf(httpfile, sizeof httpfile, "%s/http-address", dir);
    snprintf(logpath, sizeof logpath, "%s/logs/controller%s.log", dir, sfx);
    snprintf(identity, sizeof identity, "%s/state/identity", dir);
    unlink(addrfile);
    if (!u->standby) unlink(httpfile);
    snprintf(gpns, sizeof gpns, "%u", gpn);
    /* Exactly the nodes asked for: a topology of spare slots (it was 8 at least) made the
     * controller accept a gang wider than the cluster, pending forever. */
    snprintf(nodess, sizeof nodess, "%u", nodes);
    char *args[] = {"colossus",
                    "controller",
                    "--state-dir",
                    state,
                    "--listen",
                    u->listen,
                    "--key",
                    (char *)key,
                    "--address-file",
                    addrfile,
                    "--http",
                    "127.0.0.1:0",
                    "--http-address-file",
                    httpfile,
                    "--nodes",
                    nodess,
                    "--gpus-per-node",
                    gpns,
                    "--heartbeat-ms",
                    "300",
                    "--dead-after-ms",
                    "1500",
                    "--log-root",
                    ranklogs,
                    store ? "--store" : NULL,
                    (char *)store,
                    u->standby ? "--identity" : NULL,
                    identity,
                    NULL};
    pid_t pid = spawn_detached(args, logpath);
    if (pid < 0) {
        fprintf(stderr, "colossus up: cannot start the controller: %s\n", strerror(errno));
        return -1;
    }
    fprintf(pf, "controller %s %d\n", u->standby ? "standby" : "controller", (int)pid);
    fflush(pf);
    u->pid = pid;
    return 0;
}

/* The standby started, waiting: its log says so. */
static int wait_standby(const char *dir, const up_ctl_t *u)
{
    char logpath[2200];
    snprintf(logpath, sizeof logpath, "%s/logs/controller-standby.log", dir);
    for (int i = 0; i < 100 && alive(u->pid); i++) {
        size_t n;
        cl_error_t err;
        char *text = cl_read_file(logpath, &n, &err);
        bool waiting = text && strstr(text, "standby: the journal");
        free(text);
        if (waiting) return 0;
        msleep(100);
    }
    fprintf(stderr, "colossus up: the standby controller did not start; see %s\n", logpath);
    return -1;
}

/* Start the controller and wait for the address it listens on and the base URL of its REST
 * API (DIR/address, DIR/http-address); with standby, the second controller too, and
 * DIR/address then lists both (the clients' and agents' list: docs/standby.md). */
static int start_controller(const char *dir, const char *key, const char *store, uint32_t nodes,
                            uint32_t gpn, bool standby, FILE *pf, char *addr, size_t len,
                            char *url, size_t urlen)
{
    char addrfile[2200], httpfile[2200], logpath[2200];
    snprintf(addrfile, sizeof addrfile, "%s/address", dir);
    snprintf(httpfile, sizeof httpfile, "%s/http-address", dir);
    snprintf(logpath, sizeof logpath, "%s/logs/controller.log", dir);
    up_ctl_t lead = {.listen = "127.0.0.1:0"}, sb = {.standby = true};
    if (spawn_controller(dir, key, store, nodes, gpn, pf, &lead) < 0) return -1;
    pid_t pid = lead.pid;
    addr[0] = url[0] = 0;
    for (int i = 0; i < 100 && !(addr[0] && url[0]); i++) {
        first_line(addrfile, addr, len);
        first_line(httpfile, url, urlen);
        if (!(addr[0] && url[0])) {
            if (!alive(pid)) break;
            msleep(100);
        }
    }
    if (!(addr[0] && url[0])) {
        fprintf(stderr, "colossus up: the controller did not start; see %s\n", logpath);
        return -1;
    }
    if (!standby) return 0;
    if (free_port(sb.listen, sizeof sb.listen) < 0 ||
        spawn_controller(dir, key, store, nodes, gpn, pf, &sb) < 0 ||
        wait_standby(dir, &sb) < 0)
        return -1;
    size_t n = strlen(addr);
    snprintf(addr + n, len - n, ",%s", sb.listen);
    FILE *f = fopen(addrfile, "w");
    bool bad = !f;
    if (f) bad = (fprintf(f, "%s\n", addr) < 0) | (fclose(f) != 0);
    if (bad) {
        fprintf(stderr, "colossus up: cannot write %s\n", addrfile);
        return -1;
    }
    return 0;
}

#define UP_MAX_RELAYS 16

/* Start relays relay0.. (pids to pf) in front of the controller at addr; their addresses
 * into raddr. */
static int start_relays(const char *dir, const char *key, const char *addr, uint32_t n,
                        FILE *pf, char raddr[][64])
{
    for (uint32_t i = 0; i < n; i++) {
        char name[32], afile[4400], logpath[4400];
        snprintf(name, sizeof name, "relay%u", i);
        snprintf(afile, sizeof afile, "%s/relay%u.address", dir, i);
        snprintf(logpath, sizeof logpath, "%s/logs/relay%u.log", dir, i);
        unlink(afile);
        char *args[] = {"colossus", "relay",       "--controller",   (char *)addr,
                        "--listen", "127.0.0.1:0", "--key",          (char *)key,
                        "--name",   name,          "--address-file", afile,
                        NULL};
        pid_t pid = spawn_detached(args, logpath);
        if (pid < 0) {
            fprintf(stderr, "colossus up: cannot start relay %s: %s\n", name, strerror(errno));
            return -1;
        }
        fprintf(pf, "relay %s %d\n", name, (int)pid);
        fflush(pf);
        raddr[i][0] = 0;
        for (int t = 0; t < 100 && !raddr[i][0] && alive(pid); t++) {
            first_line(afile, raddr[i], 64);
            if (!raddr[i][0]) msleep(100);
        }
        if (!raddr[i][0]) {
            fprintf(stderr, "colossus up: relay %s did not start; see %s\n", name, logpath);
            return -1;
        }
    }
    return 0;
}

/* Start the agents node000000.. with gpn simulated GPUs each (pids to pf), presenting the
 * node credential in node_token; with relays, agent i goes through relay i mod nrelays
 * (with the cluster key: relays take no node credential yet, docs/relay.md). */
static int start_agents(const char *dir, const char *node_token, const char *key,
                        const char *addr, char raddr[][64], uint32_t nrelays, uint32_t nodes,
                        uint32_t gpn, FILE *pf)
{
    for (uint32_t i = 0; i < nodes; i++) {
        char name[32], work[4400], fake[24], logpath[4400], ranklogs[4400], path[400];
        const char *to = addr, *cflag = "--node-token", *cred = node_token;
        if (nrelays) {
            snprintf(path, sizeof path, "%s,%s", raddr[i % nrelays], addr);
            to = path;
            cflag = "--key";
            cred = key;
        }
        snprintf(name, sizeof name, "node%06u", i);
        snprintf(ranklogs, sizeof ranklogs, "%s/ranklogs", dir);
        snprintf(work, sizeof work, "%s/agents/%s", dir, name);
        snprintf(fake, sizeof fake, "%u", gpn);
        snprintf(logpath, sizeof logpath, "%s/logs/agent-%s.log", dir, name);
        /* root's own machine: its jobs run as root (the agent refuses that by default) */
        char *root = geteuid() == 0 ? "--allow-root-jobs" : NULL;
        char *args[] = {"colossus",    "agent",      "--controller", (char *)to,
                        (char *)cflag, (char *)cred, "--name",       name,
                        "--work-dir",  work,         "--fake-gpus",  fake,
                        "--log-root",  ranklogs,     root, /* last: NULL when not root */
                        NULL};
        pid_t pid = spawn_detached(args, logpath);
        if (pid < 0) {
            fprintf(stderr, "colossus up: cannot start agent %s: %s\n", name, strerror(errno));
            return -1;
        }
        fprintf(pf, "agent %s %d\n", name, (int)pid);
    }
    return 0;
}

/* Wait until every agent registered (15 s at most). */
static int wait_up(const char *dir, const char *key, const char *addr, uint32_t nodes)
{
    uint8_t k[CL_KEY_BYTES];
    cl_error_t err;
    if (cl_key_load(key, k, &err) < 0) {
        fprintf(stderr, "colossus up: %s\n", err.msg);
        return -1;
    }
    for (int i = 0; i < 150; i++) {
        if (count_up(addr, k) >= (int)nodes) return 0;
        msleep(100);
    }
    fprintf(stderr, "colossus up: not every agent registered within 15 s; see %s/logs\n", dir);
    return -1;
}

static void print_welcome(const char *dir, const char *addr, const char *url, uint32_t nodes,
                          uint32_t gpn, const cl_up_creds_t *creds)
{
    char def[2048], defreal[PATH_MAX];
    bool is_default = cl_cli_dir(NULL, def, sizeof def) == 0 && realpath(def, defreal) &&
                      !strcmp(defreal, dir);
    printf("Colossus is up: controller at %s, %u agents x %u GPUs (simulated), state in %s\n\n",
           addr, nodes, gpn, dir);
    if (strchr(addr, ','))
        printf("The first controller leads; the second is its standby (logs/controller-standby"
               ".log). Watch a failover: kill -9 the first (its pid is in %s/pids) and run\n"
               "colossus nodes: the standby leads within a second, the jobs keep running.\n\n",
               dir);
    if (creds->token)
        printf("You are admin '%s'; your token is %s/token (colossus whoami).\n\n", creds->user,
               dir);
    printf("Dashboard: %s/ (log in with the token in %s/token)\n\n", url, dir);
    printf("REST API: %s/api/v1/ (its base URL is in %s/http-address), e.g.\n"
           "  curl -H \"Authorization: Bearer $(cat %s/token)\" %s/api/v1/jobs\n\n",
           url, dir, dir, url);
    if (!is_default) printf("  export COLOSSUS_DIR=%s\n", dir);
    printf("  colossus nodes\n"
           "  colossus submit -N %u --gpus-per-node %u --name hello -- sh -c 'echo rank $RANK "
           "of $WORLD_SIZE'\n"
           "  colossus jobs --all\n"
           "  colossus logs JOB\n"
           "  colossus down\n\n"
           "Logs: %s/logs\n",
           nodes, gpn, dir);
}

int cmd_up(int argc, char **argv)
{
    char dir[2048], path[4400], key[4400], addr[256], url[300];
    uint32_t nodes = 2, gpn = 2;
    const char *store = NULL;
    int status;
    bool standby = false;
    uint32_t nrelays = 0;
    char raddr[UP_MAX_RELAYS][64];
    if (up_down_dir("up", argc, argv, dir, sizeof dir, &nodes, &gpn, &store, &standby, &nrelays,
                    &status) < 0)
        return status;
    if (already_up(dir)) {
        fprintf(stderr, "colossus up: a cluster already runs from %s (colossus down first)\n",
                dir);
        return 1;
    }
    snprintf(key, sizeof key, "%s/key", dir);
    snprintf(path, sizeof path, "%s/logs", dir);
    if (ensure_key(key) < 0) return 1;
    if (cl_mkdir_p(path, 0700) < 0) {
        fprintf(stderr, "colossus up: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/pids", dir);
    FILE *pf = fopen(path, "w");
    if (!pf) {
        fprintf(stderr, "colossus up: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    cl_up_creds_t creds;
    char node_token[4400];
    snprintf(node_token, sizeof node_token, "%s/node-token", dir);
    int rc = start_controller(dir, key, store, nodes, gpn, standby, pf, addr, sizeof addr, url,
                              sizeof url);
    char lead[256]; /* the leader's address: the first of the list */
    snprintf(lead, sizeof lead, "%.*s", (int)strcspn(addr, ","), addr);
    if (rc == 0) rc = cl_up_credentials(dir, key, lead, nodes, &creds);
    if (rc == 0 && nrelays) rc = start_relays(dir, key, addr, nrelays, pf, raddr);
    if (rc == 0) rc = start_agents(dir, node_token, key, addr, raddr, nrelays, nodes, gpn, pf);
    if (fclose(pf) != 0 && rc == 0) {
        fprintf(stderr, "colossus up: cannot write %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    if (rc < 0 || wait_up(dir, key, lead, nodes) < 0) {
        fprintf(stderr, "colossus up: stop what did start with 'colossus down --dir %s'\n",
                dir);
        return 1;
    }
    print_welcome(dir, addr, url, nodes, gpn, &creds);
    if (nrelays)
        printf(
            "\n%u relays carry the agents (agent i through relay i mod %u; logs/relay*.log).\n"
            "colossus nodes --json shows each node's path (via); kill a relay and its agents\n"
            "go to the controller straight, their jobs running on (docs/relay.md).\n",
            nrelays, nrelays);
    return 0;
}

int cmd_down(int argc, char **argv)
{
    char dir[2048], path[4400];
    int status;
    if (up_down_dir("down", argc, argv, dir, sizeof dir, NULL, NULL, NULL, NULL, NULL,
                    &status) < 0)
        return status;
    snprintf(path, sizeof path, "%s/pids", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "colossus down: no cluster runs from %s\n", dir);
        return 1;
    }
    pid_t ctls[2] = {0, 0}, agents[256 + UP_MAX_RELAYS];
    int na = 0, nc = 0, nrelays = 0;
    char what[32], name[128];
    int pid;
    while (fscanf(f, "%31s %127s %d", what, name, &pid) == 3) {
        if (!ours(pid, dir)) continue;
        if (!strcmp(what, "controller") && nc < 2)
            ctls[nc++] = pid;
        else if (na < 256 + UP_MAX_RELAYS)
            agents[na++] = pid, nrelays += !strcmp(what, "relay");
    }
    fclose(f);
    /* Agents first: they stop their ranks (TERM, then KILL after the grace period). */
    for (int i = 0; i < na; i++)
        kill(agents[i], SIGTERM);
    for (int t = 0; t < 100; t++) {
        bool any = false;
        for (int i = 0; i < na; i++)
            any |= kill(agents[i], 0) == 0;
        if (!any) break;
        msleep(100);
    }
    for (int i = 0; i < na; i++)
        if (kill(agents[i], 0) == 0) kill(agents[i], SIGKILL);
    for (int i = 0; i < nc; i++) { /* a standby first: the leader's stop gives it the lead */
        pid_t ctl = ctls[nc - 1 - i];
        kill(ctl, SIGTERM);
        for (int t = 0; t < 50 && kill(ctl, 0) == 0; t++)
            msleep(100);
        if (kill(ctl, 0) == 0) kill(ctl, SIGKILL);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/address", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/http-address", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/address-standby", dir);
    unlink(path);
    printf("Colossus is down (%d agents%s and %s stopped; state kept in %s/state)\n",
           na - nrelays, nrelays ? ", the relays" : "",
           nc == 2 ? "both controllers"
           : nc    ? "the controller"
                   : "no controller",
           dir);
    return 0;
}
