/* cmd_sim.c - `colossus sim`: parse the flags, run the simulator, print the report. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static const char usage_text[] =
    "usage: colossus sim [--preset NAME | --nodes N --gpus-per-node G] [--days D] [--seed S]\n"
    "       [--workload frontier|trace|mixed] [--trace FILE.csv [--trace-cluster NAME]\n"
    "       [--trace-tenants cluster|none]]\n"
    "       [--policy naive|colossus] [--queue fifo|backfill|fairshare]\n"
    "       [--detect-s S|per-class] [--restart-s S] [--ckpt-interval-s S|auto] [--ckpt-cost-s "
    "S]\n"
    "       [--spares-pct P] [--hot-spares yes|no] [--replica-gpus N] [--stall-s S]\n"
    "       [--failure-scale X]"
    " [--repair-scale X] [--mfu F] [--mixed-frontier F] [--mixed-load F]\n"
    "       [--json] [--plot FILE.svg]\n"
    "\n"
    "Simulates a cluster, its component failures and repairs, and a workload, every\n"
    "decision taken by the scheduling core. Presets: colossus2 (550,000 x 2), hgx, nvl72.\n"
    "--policy sets the defaults of the recovery flags (see docs/simulation.md):\n"
    "  naive:    detect 600 s, restart 600 s, checkpoint every 3600 s costing 51 s, no\n"
    "            containment, 5% free nodes as headroom (--hot-spares no)\n"
    "  colossus: detect per failure class (5 s GPU, 3 s host, 60 s switch, 10 s\n"
    "            software), restart 200 s, Daly interval with a 0.59 s asynchronous\n"
    "            stall, 5% hot spares (--hot-spares yes),\n"
    "            replicas of 16384 GPUs\n"
    "--replica-gpus 0 turns containment off (whole-job restarts); --stall-s is the global\n"
    "stall per contained failure (default: the detection time).\n"
    "--trace-tenants cluster makes each value of the trace's cluster column a tenant with\n"
    "one share (fair share among them).\n"
    "--json ends the output with one JSON line (docs/simulation.md): sim_s is the simulated\n"
    "period in seconds, elapsed_s the real seconds the run took (the only field that differs\n"
    "between two runs of the same flags).\n";

static int bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "colossus sim: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n(run 'colossus sim --help' for the options)\n");
    return 2;
}

static int num(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi) {
        char range[96];
        snprintf(range, sizeof(range), "a number in [%g, %g]", lo, hi);
        fprintf(stderr, "colossus sim: %s wants %s, got '%s'\n", flag, range, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cmd_sim(int argc, char **argv)
{
    cl_sim_config_t cfg;
    const char *policy = "colossus", *workload = "frontier", *queue = NULL;
    const char *trace_path = NULL, *trace_cluster = NULL, *plot = NULL;
    bool json = false;
    /* values given on the command line, applied over the policy's defaults */
    enum { F_DETECT, F_RESTART, F_CKI, F_CKC, F_SPARES, F_REPLICA, F_STALL, F_N };
    double given[F_N] = {0};
    bool has[F_N] = {false};
    bool ckpt_auto = false, detect_class = false;
    int hot = -1;
    bool tenants = false;
    const char *preset = NULL;
    double nodes = 0, gpn = 0, days = 30, seed = 1, fscale = 1, rscale = 1, mfu = 0.40;
    double mfront = 0.75, mload = 0.90;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = true;
            continue;
        }
        if (strncmp(a, "--", 2)) return bad("unexpected argument '%s'%s", a, "");
        char name[64];
        const char *v = NULL;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a);
            if (i + 1 >= argc) return bad("%s needs a value%s", a, "");
            v = argv[++i];
        }
        double x;
#define NUM(flag, lo, hi, dst)                                                                 \
    if (!strcmp(name, flag)) {                                                                 \
        if (num(flag, v, lo, hi, &x)) return 2;                                                \
        dst = x;                                                                               \
        continue;                                                                              \
    }
#define GIVEN(flag, lo, hi, k)                                                                 \
    if (!strcmp(name, flag)) {                                                                 \
        if (num(flag, v, lo, hi, &x)) return 2;                                                \
        given[k] = x;                                                                          \
        has[k] = true;                                                                         \
        continue;                                                                              \
    }
        if (!strcmp(name, "--preset")) {
            preset = v;
            continue;
        }
        if (!strcmp(name, "--workload")) {
            workload = v;
            continue;
        }
        if (!strcmp(name, "--policy")) {
            policy = v;
            continue;
        }
        if (!strcmp(name, "--queue")) {
            queue = v;
            continue;
        }
        if (!strcmp(name, "--trace")) {
            trace_path = v;
            continue;
        }
        if (!strcmp(name, "--trace-cluster")) {
            trace_cluster = v;
            continue;
        }
        if (!strcmp(name, "--trace-tenants")) {
            if (strcmp(v, "cluster") && strcmp(v, "none"))
                return bad("--trace-tenants wants cluster or none, got '%s'%s", v, "");
            tenants = !strcmp(v, "cluster");
            continue;
        }
        if (!strcmp(name, "--hot-spares")) {
            hot = !strcmp(v, "yes") ? 1 : !strcmp(v, "no") ? 0 : -2;
            if (hot == -2) return bad("--hot-spares wants yes or no, got '%s'%s", v, "");
            continue;
        }
        if (!strcmp(name, "--plot")) {
            plot = v;
            continue;
        }
        if (!strcmp(name, "--detect-s") && !strcmp(v, "per-class")) {
            detect_class = true;
            has[F_DETECT] = false;
            continue;
        }
        if (!strcmp(name, "--ckpt-interval-s") && !strcmp(v, "auto")) {
            ckpt_auto = true;
            has[F_CKI] = false;
            continue;
        }
        NUM("--nodes", 1, 4e6, nodes)
        NUM("--gpus-per-node", 1, CL_MAX_GPUS_PER_NODE, gpn)
        NUM("--days", 1e-6, 3650, days)
        NUM("--seed", 0, 9007199254740992.0, seed)
        NUM("--failure-scale", 0, 1e6, fscale)
        NUM("--repair-scale", 1e-6, 1e6, rscale)
        NUM("--mfu", 1e-6, 1, mfu)
        NUM("--mixed-frontier", 0, 0.99, mfront)
        NUM("--mixed-load", 0, 10, mload)
        GIVEN("--detect-s", 0, 1e7, F_DETECT)
        GIVEN("--restart-s", 0, 1e7, F_RESTART)
        GIVEN("--ckpt-interval-s", 1e-3, 1e9, F_CKI)
        GIVEN("--ckpt-cost-s", 0, 1e7, F_CKC)
        GIVEN("--spares-pct", 0, 50, F_SPARES)
        GIVEN("--replica-gpus", 0, 1e9, F_REPLICA)
        GIVEN("--stall-s", 0, 1e7, F_STALL)
#undef NUM
#undef GIVEN
        return bad("unknown option '%s'%s", name, "");
    }
    if (!strcmp(policy, "naive"))
        cl_sim_config_default(&cfg, CL_SIM_NAIVE);
    else if (!strcmp(policy, "colossus"))
        cl_sim_config_default(&cfg, CL_SIM_COLOSSUS);
    else
        return bad("--policy must be naive or colossus, not '%s'%s", policy, "");
    if (!strcmp(workload, "frontier"))
        cfg.workload = CL_WL_FRONTIER;
    else if (!strcmp(workload, "trace"))
        cfg.workload = CL_WL_TRACE;
    else if (!strcmp(workload, "mixed"))
        cfg.workload = CL_WL_MIXED;
    else
        return bad("--workload must be frontier, trace or mixed, not '%s'%s", workload, "");
    if (queue) {
        if (!strcmp(queue, "fifo"))
            cfg.queue = CL_POLICY_FIFO;
        else if (!strcmp(queue, "backfill"))
            cfg.queue = CL_POLICY_BACKFILL;
        else if (!strcmp(queue, "fairshare"))
            cfg.queue = CL_POLICY_FAIRSHARE;
        else
            return bad("--queue must be fifo, backfill or fairshare, not '%s'%s", queue, "");
    }
    if (trace_path && cfg.workload != CL_WL_TRACE)
        return bad("--trace needs --workload trace%s%s", "", "");
    if (cfg.workload == CL_WL_TRACE && !trace_path)
        return bad("--workload trace needs --trace FILE.csv%s%s", "", "");
    if (trace_cluster && !trace_path) return bad("--trace-cluster needs --trace%s%s", "", "");
    if (!preset && (nodes == 0) != (gpn == 0))
        return bad("give --nodes and --gpus-per-node together (or a --preset)%s%s", "", "");
    if (!preset && nodes == 0) preset = "colossus2";
    if (days * 86400.0 < 1) return bad("--days is shorter than a second%s%s", "", "");
    if (seed != floor(seed)) return bad("--seed must be a whole number%s%s", "", "");
    if (nodes != floor(nodes) || gpn != floor(gpn))
        return bad("--nodes and --gpus-per-node must be whole numbers%s%s", "", "");
    cfg.preset = preset;
    cfg.nodes = (uint32_t)nodes;
    cfg.gpus_per_node = (uint32_t)gpn;
    cfg.days = days;
    cfg.seed = (uint64_t)seed;
    cfg.failure_scale = fscale;
    cfg.repair_scale = rscale;
    cfg.mfu = mfu;
    cfg.mixed_frontier = mfront;
    cfg.mixed_load = mload;
    if (detect_class)
        cfg.detect_s = -1;
    else if (has[F_DETECT])
        cfg.detect_s = given[F_DETECT];
    if (has[F_RESTART]) cfg.restart_s = given[F_RESTART];
    if (ckpt_auto)
        cfg.ckpt_interval_s = 0;
    else if (has[F_CKI])
        cfg.ckpt_interval_s = given[F_CKI];
    if (has[F_CKC]) cfg.ckpt_cost_s = given[F_CKC];
    if (has[F_SPARES]) cfg.spares_pct = given[F_SPARES];
    if (has[F_REPLICA]) {
        if (given[F_REPLICA] != floor(given[F_REPLICA]))
            return bad("--replica-gpus must be a whole number%s%s", "", "");
        cfg.replica_gpus = (uint64_t)given[F_REPLICA];
    }
    if (hot >= 0) cfg.hot_spares = hot;
    cfg.trace_tenants = tenants;
    if (tenants && !trace_path) return bad("--trace-tenants needs --trace%s%s", "", "");
    if (has[F_STALL]) cfg.stall_s = given[F_STALL];
    if (cfg.ckpt_interval_s == 0 && cfg.ckpt_cost_s <= 0)
        return bad("--ckpt-interval-s auto needs --ckpt-cost-s > 0%s%s", "", "");
    cfg.plot_points = plot ? 400 : 0;

    cl_trace_t trace;
    memset(&trace, 0, sizeof(trace));
    cl_error_t err;
    if (trace_path) {
        if (cl_trace_load(trace_path, trace_cluster, &trace, &err)) {
            fprintf(stderr, "colossus sim: %s\n", err.msg);
            return 1;
        }
        cfg.trace = &trace;
    }
    cl_sim_result_t res;
    int rc = cl_sim_run(&cfg, &res, &err);
    cl_trace_free(&trace);
    if (rc) {
        fprintf(stderr, "colossus sim: %s\n", err.msg);
        return 1;
    }
    if (plot && cl_sim_plot_svg(plot, &cfg, &res, &err)) {
        fprintf(stderr, "colossus sim: %s\n", err.msg);
        cl_sim_result_free(&res);
        return 1;
    }
    if (res.core_refusals)
        fprintf(stderr, "colossus sim: warning: the core refused %llu calls (last: %s)\n",
                (unsigned long long)res.core_refusals, res.last_refusal);
    /* the time spent in the core goes to stderr only: the JSON stays the same for the same
     * inputs but for elapsed_s */
    fprintf(stderr,
            "colossus sim: simulated %.4g days, %llu events in %.2f s; in the core: "
            "%llu scheduling passes %.2f s (slowest %.3f s), failure calls %.2f s "
            "(slowest %.3f s)\n",
            res.days, (unsigned long long)res.events, res.elapsed_s,
            (unsigned long long)res.sched_passes, res.core_sched_s, res.core_sched_max_s,
            res.core_fail_s, res.core_fail_max_s);
    if (!json) cl_sim_summary(stdout, &res);
    cl_sim_json(stdout, &cfg, &res);
    cl_sim_result_free(&res);
    return 0;
}
