/* upgrade.c - `colossus upgrade`: roll a new agent build across a running cluster, a batch of
 * nodes at a time, without stopping jobs (docs/standby.md, "Rolling upgrades"). The new
 * binary is installed on each node first (a package, a shared file system); each agent of a
 * batch is then ordered to re-execute it, keeping its ranks under their keepers, and the next
 * batch goes once every node of this one is up again with a build other than its old one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/clictx.h"
#include "util/hostlist.h"
#include "util/util.h"

enum { OPT_BATCH = CL_CLI_OPT_FIRST, OPT_TIMEOUT };

static void usage(FILE *f)
{
    fprintf(f, "usage: colossus upgrade [OPTIONS] [NODE|POD|LEAF|HOSTLIST]\n"
               "Re-execute the agents of the nodes named (default: every node) with the\n"
               "binary now at their path, a batch at a time, keeping their jobs' ranks\n"
               "running: install the new build on the nodes first. A batch is done when\n"
               "each of its nodes is up again with a build other than the one it had.\n"
               "  --batch N               nodes per batch (default 1)\n"
               "  --timeout SEC           most seconds a batch may take (default 60)\n");
    cl_cli_usage_common(f);
    fprintf(f, "Exit status: 0 every node upgraded, 1 a batch failed or timed out (the nodes\n"
               "named), 2 bad usage (see colossus --help).\n");
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The node list, or NULL (said). */
static Colossus__Msg *list_nodes(cl_cli_t *c)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_NODES;
    r.nodes = true;
    return cl_cli_ask(c, &r, 30000);
}

static bool named(const char *target, const Colossus__NodeInfo *n)
{
    if (!target) return true;
    return !strcmp(target, n->name) || !strcmp(target, n->pod) || !strcmp(target, n->leaf) ||
           (cl_hostlist_check(target, &(cl_error_t){{0}}) == 0 &&
            cl_hostlist_match(target, n->name));
}

static const Colossus__NodeInfo *find(const Colossus__Msg *m, const char *name)
{
    for (size_t i = 0; i < m->response->n_nodes; i++)
        if (!strcmp(m->response->nodes[i]->name, name)) return m->response->nodes[i];
    return NULL;
}

typedef struct target {
    char *name;
    char old[32];
    bool done;
} target_t;

/* Order batch [b, e) and wait until each node is back with another build. 0, or 1. */
static int one_batch(cl_cli_t *c, target_t *t, size_t b, size_t e, uint32_t timeout_s,
                     size_t nb, size_t bi)
{
    const char **names = cl_xcalloc(e - b + 1, sizeof *names);
    for (size_t i = b; i < e; i++)
        names[i - b] = t[i].name;
    char *hl = cl_hostlist_compress(names, e - b);
    free(names);
    Colossus__NodeAdmin na = COLOSSUS__NODE_ADMIN__INIT;
    na.node = hl;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_UPGRADE;
    r.upgrade = &na;
    double t0 = mono_s();
    Colossus__Msg *m = cl_cli_ask(c, &r, 30000);
    if (!m) {
        free(hl);
        return 1;
    }
    cl_msg_free(m);
    size_t left = e - b;
    while (left) {
        if (mono_s() - t0 > timeout_s) {
            fprintf(stderr,
                    "colossus upgrade: batch %zu of %zu (%s): not back with a new build "
                    "after %u s:",
                    bi, nb, hl, timeout_s);
            for (size_t i = b; i < e; i++)
                if (!t[i].done) fprintf(stderr, " %s", t[i].name);
            fprintf(stderr, " (see 'colossus nodes --json', field build, and their agents' "
                            "logs)\n");
            free(hl);
            return 1;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (!(m = list_nodes(c))) {
            free(hl);
            return 1;
        }
        for (size_t i = b; i < e; i++) {
            const Colossus__NodeInfo *n = find(m, t[i].name);
            if (t[i].done || !n || !n->connected || strcmp(n->state, "down") == 0 ||
                !n->build[0] || !strcmp(n->build, t[i].old))
                continue;
            t[i].done = true;
            left--;
        }
        cl_msg_free(m);
    }
    printf("batch %zu of %zu: %s upgraded in %.1f s\n", bi, nb, hl, mono_s() - t0);
    fflush(stdout);
    free(hl);
    return 0;
}

int cmd_upgrade(int argc, char **argv)
{
    static const struct option opts[] = {{"batch", required_argument, 0, OPT_BATCH},
                                         {"timeout", required_argument, 0, OPT_TIMEOUT},
                                         CL_CLI_COMMON_OPTS,
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "upgrade"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage};
    uint32_t batch = 1, timeout_s = 60;
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        if (o == OPT_BATCH) {
            if (cl_flag_u32("upgrade", "--batch", optarg, 1, 1u << 20, &batch) < 0) return 2;
        } else if (o == OPT_TIMEOUT) {
            if (cl_flag_u32("upgrade", "--timeout", optarg, 1, 86400, &timeout_s) < 0) return 2;
        } else {
            cl_cli_common_opt(&c, o);
        }
    }
    if (cl_flags_args(&f, argc, argv, 0, 1, "NODE (a node, a pod, a leaf or a hostlist)") < 0)
        return 2;
    const char *target = optind < argc ? argv[optind] : NULL;
    Colossus__Msg *m = list_nodes(&c);
    if (!m) return c.status;
    target_t *t = cl_xcalloc(m->response->n_nodes + 1, sizeof *t);
    size_t n = 0, down = 0;
    for (size_t i = 0; i < m->response->n_nodes; i++) {
        const Colossus__NodeInfo *x = m->response->nodes[i];
        if (!named(target, x)) continue;
        if (!x->connected || !strcmp(x->state, "down")) {
            fprintf(stderr, "colossus upgrade: %s is not up and connected: skipped\n", x->name);
            down++;
            continue;
        }
        t[n].name = cl_xstrdup(x->name);
        snprintf(t[n].old, sizeof t[n].old, "%s", x->build);
        n++;
    }
    cl_msg_free(m);
    int rc = 0;
    if (!n) {
        fprintf(stderr, "colossus upgrade: no node %s%s%s up and connected\n",
                target ? "named '" : "", target ? target : "", target ? "' is" : "is");
        rc = 1;
    }
    size_t nb = (n + batch - 1) / batch;
    for (size_t b = 0, bi = 1; rc == 0 && b < n; b += batch, bi++)
        rc = one_batch(&c, t, b, b + batch < n ? b + batch : n, timeout_s, nb, bi);
    if (rc == 0 && n)
        printf("upgraded %zu node%s%s\n", n, n > 1 ? "s" : "",
               down ? " (some were skipped: not up)" : "");
    for (size_t i = 0; i < n; i++)
        free(t[i].name);
    free(t);
    return rc;
}
