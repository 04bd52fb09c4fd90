/* cmd_sim.c - `colossus sim`: parse the flags, run the simulator, print the report. */
#include <stdlib.h>
#include <string.h>

#include "util/flags.h"
#include "sim/sim.h"
#include "util/util.h"

static const char usage_text[] =
    "usage: colossus sim [--preset NAME | --nodes N --gpus-per-node G] [--days D] [--seed S]\n"
    "       [--workload frontier|trace|mixed] [--trace FILE.csv [--trace-cluster NAME]\n"
    "       [--trace-tenants cluster|none | --tenants FILE.json]]\n"
    "       [--policy naive|colossus] [--queue fifo|backfill|fairshare]\n"
    "       [--detect-s S|per-class] [--restart-s S] [--ckpt-interval-s S|auto] [--ckpt-cost-s "
    "S]\n"
    "       [--spares-pct P] [--hot-spares yes|no] [--replica-gpus N] [--stall-s S]\n"
    "       [--net-detect-s S]\n"
    "       [--failure-scale X]"
    " [--repair-scale X] [--mfu F] [--mixed-frontier F] [--mixed-load F]\n"
    "       [--power-budget-mw MW] [--ramp-limit-pct-per-s P] [--smoothing on|off]\n"
    "       [--grid-cut-pct P --grid-cut-at-s T] [--power-admit-frac F] [--power-svg FILE]\n"
    "       [--leaf-budget-mw MW]\n"
    "       [--json] [--plot FILE.svg]\n"
    "\n"
    "Simulates a cluster, its component failures and repairs, and a workload, every\n"
    "decision taken by the scheduling core. Presets: colossus2 (550,000 x 2), hgx, nvl72.\n"
    "--policy sets the defaults of the recovery flags (see docs/simulation.md):\n"
    "  naive:    detect 600 s, restart 600 s, checkpoint every 3600 s costing 51 s, no\n"
    "            containment, 5% free nodes as headroom (--hot-spares no)\n"
    "  colossus: detect per failure class (5 s GPU, 3 s host, 1 s network link, 10 s\n"
    "            software), restart 200 s, Daly interval with a 0.59 s asynchronous\n"
    "            stall, 2% hot spares (--hot-spares yes),\n"
    "            replicas of 16384 GPUs\n"
    "--replica-gpus 0 turns containment off (whole-job restarts); --stall-s is the global\n"
    "stall per contained failure (default: the detection time). --net-detect-s sets the\n"
    "network class's detection time under per-class detection (default 1 s: the agent's\n"
    "link watch; 60 s was the cited active check before it).\n"
    "--trace-tenants cluster makes each value of the trace's cluster column a tenant with\n"
    "one share (fair share among them). --tenants FILE.json sets tenants up with the\n"
    "scheduler's quotas, cohorts (borrowing, lending, reclaim), budgets and sub-tenants, each\n"
    "taking the trace rows of its \"clusters\" (default: its name; the rest: the default\n"
    "tenant):\n"
    "  {\"budget_period_days\": 30, \"tenants\": [{\"name\": \"lab\", \"clusters\": "
    "[\"cluster04\"],\n"
    "   \"shares\": 2, \"quota_gpus\": 64, \"cohort\": \"research\", \"borrow_limit\": 32,\n"
    "   \"lend_limit\": 16, \"budget_gpu_hours\": 5000, \"budget_stop\": false,\n"
    "   \"preemptible\": true, \"parent\": \"org\"}, ...]}\n"
    "and the JSON line gains per-tenant GPU-hours and borrowed GPU-hours.\n"
    "Any power flag models the site's power each second (docs/power.md): a site budget in\n"
    "MW (capping; the core admits jobs against it, as if capped to --power-admit-frac of\n"
    "their 700 W), ramps held within P% of the budget per second (default 0.5; smoothing on\n"
    "by default), a grid cut of P% of the budget at T s, --leaf-budget-mw the same budget\n"
    "for every leaf (a row; admission only: the draw is capped to the site's); the JSON\n"
    "line gains the power_*\n"
    "keys and power_unsmoothed (the raw demand), --power-svg draws them.\n"
    "--json ends the output with one JSON line (docs/simulation.md): sim_s is the simulated\n"
    "period in seconds, elapsed_s the real seconds the run took (the only field that differs\n"
    "between two runs of the same flags).\n";

static void usage(FILE *f)
{
    fputs(usage_text, f);
}

/* Real-valued flags first (their values live in sim_flags_t.real), then the others. */
enum {
    O_DAYS,
    O_FSCALE,
    O_RSCALE,
    O_MFU,
    O_MFRONT,
    O_MLOAD,
    O_DETECT, /* from here on: applied over the policy's defaults only when given */
    O_RESTART,
    O_CKI,
    O_CKC,
    O_SPARES,
    O_STALL,
    O_NETDET,
    O_PBUDGET,
    O_RAMP,
    O_CUTPCT,
    O_CUTAT,
    O_ADMIT,
    O_LBUDGET,
    O_NREAL,
    O_NODES = 1000,
    O_GPN,
    O_SEED,
    O_REPLICA,
    O_PRESET,
    O_WORKLOAD,
    O_POLICY,
    O_QUEUE,
    O_TRACE,
    O_TRACE_CLUSTER,
    O_TRACE_TENANTS,
    O_TENANTS,
    O_HOT,
    O_PLOT,
    O_JSON,
    O_SMOOTH,
    O_PSVG,
};

static const struct real_flag {
    const char *name;
    double lo, hi, dflt;
} reals[O_NREAL] = {
    [O_DAYS] = {"--days", 1e-6, 3650, 30},
    [O_FSCALE] = {"--failure-scale", 0, 1e6, 1},
    [O_RSCALE] = {"--repair-scale", 1e-6, 1e6, 1},
    [O_MFU] = {"--mfu", 1e-6, 1, 0.40},
    [O_MFRONT] = {"--mixed-frontier", 0, 0.99, 0.75},
    [O_MLOAD] = {"--mixed-load", 0, 10, 0.90},
    [O_DETECT] = {"--detect-s", 0, 1e7, 0},
    [O_RESTART] = {"--restart-s", 0, 1e7, 0},
    [O_CKI] = {"--ckpt-interval-s", 1e-3, 1e9, 0},
    [O_CKC] = {"--ckpt-cost-s", 0, 1e7, 0},
    [O_SPARES] = {"--spares-pct", 0, 50, 0},
    [O_STALL] = {"--stall-s", 0, 1e7, 0},
    [O_NETDET] = {"--net-detect-s", 0, 1e7, 0},
    [O_PBUDGET] = {"--power-budget-mw", 1e-6, 1e6, 0},
    [O_RAMP] = {"--ramp-limit-pct-per-s", 1e-6, 100, 0.5},
    [O_CUTPCT] = {"--grid-cut-pct", 1e-6, 100, 0},
    [O_CUTAT] = {"--grid-cut-at-s", 0, 1e9, 0},
    [O_ADMIT] = {"--power-admit-frac", 1e-6, 1, 1},
    [O_LBUDGET] = {"--leaf-budget-mw", 1e-6, 1e6, 0},
};

/* What the command line said, before the policy's defaults are applied. */
typedef struct sim_flags {
    const char *preset, *workload, *policy, *queue, *trace, *trace_cluster, *plot,
        *tenants_file, *power_svg;
    int smoothing; /* -1: not given */
    bool json, tenants, ckpt_auto, detect_class, has_replica;
    int hot; /* -1: not given */
    uint32_t nodes, gpn;
    long seed, replica;
    double real[O_NREAL];
    bool has[O_NREAL];
} sim_flags_t;

static const struct option sim_opts[] = {
    {"days", required_argument, 0, O_DAYS},
    {"failure-scale", required_argument, 0, O_FSCALE},
    {"repair-scale", required_argument, 0, O_RSCALE},
    {"mfu", required_argument, 0, O_MFU},
    {"mixed-frontier", required_argument, 0, O_MFRONT},
    {"mixed-load", required_argument, 0, O_MLOAD},
    {"detect-s", required_argument, 0, O_DETECT},
    {"restart-s", required_argument, 0, O_RESTART},
    {"ckpt-interval-s", required_argument, 0, O_CKI},
    {"ckpt-cost-s", required_argument, 0, O_CKC},
    {"spares-pct", required_argument, 0, O_SPARES},
    {"stall-s", required_argument, 0, O_STALL},
    {"net-detect-s", required_argument, 0, O_NETDET},
    {"power-budget-mw", required_argument, 0, O_PBUDGET},
    {"ramp-limit-pct-per-s", required_argument, 0, O_RAMP},
    {"grid-cut-pct", required_argument, 0, O_CUTPCT},
    {"grid-cut-at-s", required_argument, 0, O_CUTAT},
    {"power-admit-frac", required_argument, 0, O_ADMIT},
    {"leaf-budget-mw", required_argument, 0, O_LBUDGET},
    {"smoothing", required_argument, 0, O_SMOOTH},
    {"power-svg", required_argument, 0, O_PSVG},
    {"nodes", required_argument, 0, O_NODES},
    {"gpus-per-node", required_argument, 0, O_GPN},
    {"seed", required_argument, 0, O_SEED},
    {"replica-gpus", required_argument, 0, O_REPLICA},
    {"preset", required_argument, 0, O_PRESET},
    {"workload", required_argument, 0, O_WORKLOAD},
    {"policy", required_argument, 0, O_POLICY},
    {"queue", required_argument, 0, O_QUEUE},
    {"trace", required_argument, 0, O_TRACE},
    {"trace-cluster", required_argument, 0, O_TRACE_CLUSTER},
    {"trace-tenants", required_argument, 0, O_TRACE_TENANTS},
    {"tenants", required_argument, 0, O_TENANTS},
    {"hot-spares", required_argument, 0, O_HOT},
    {"plot", required_argument, 0, O_PLOT},
    {"json", no_argument, 0, O_JSON},
    CL_FLAGS_HELP,
    {0, 0, 0, 0}};

/* One option into fl; 0, or 2 after saying what is wrong. */
static int sim_opt(const cl_flags_t *f, sim_flags_t *fl, int o, const char *v)
{
    if ((o == O_DETECT && !strcmp(v, "per-class")) || (o == O_CKI && !strcmp(v, "auto"))) {
        fl->detect_class |= o == O_DETECT;
        fl->ckpt_auto |= o == O_CKI;
        fl->has[o] = false;
        return 0;
    }
    int rc = 0;
    if (o >= 0 && o < O_NREAL) {
        fl->has[o] = true;
        rc = cl_flag_double(f->cmd, reals[o].name, v, reals[o].lo, reals[o].hi, &fl->real[o]);
        return rc < 0 ? 2 : 0;
    }
    switch (o) {
    case O_NODES:
        rc = cl_flag_u32(f->cmd, "--nodes", v, 1, 4000000, &fl->nodes);
        break;
    case O_GPN:
        rc = cl_flag_u32(f->cmd, "--gpus-per-node", v, 1, CL_MAX_GPUS_PER_NODE, &fl->gpn);
        break;
    case O_SEED:
        rc = cl_flag_long(f->cmd, "--seed", v, 0, 9007199254740992L, &fl->seed);
        break;
    case O_REPLICA:
        fl->has_replica = true;
        rc = cl_flag_long(f->cmd, "--replica-gpus", v, 0, 1000000000, &fl->replica);
        break;
    case O_TRACE_TENANTS:
        if (strcmp(v, "cluster") && strcmp(v, "none"))
            return cl_flags_fail(f, "--trace-tenants wants cluster or none, got '%s'", v);
        fl->tenants = !strcmp(v, "cluster");
        break;
    case O_HOT:
        if (strcmp(v, "yes") && strcmp(v, "no"))
            return cl_flags_fail(f, "--hot-spares wants yes or no, got '%s'", v);
        fl->hot = !strcmp(v, "yes");
        break;
    case O_PRESET:
        fl->preset = v;
        break;
    case O_WORKLOAD:
        fl->workload = v;
        break;
    case O_POLICY:
        fl->policy = v;
        break;
    case O_QUEUE:
        fl->queue = v;
        break;
    case O_TRACE:
        fl->trace = v;
        break;
    case O_TRACE_CLUSTER:
        fl->trace_cluster = v;
        break;
    case O_TENANTS:
        fl->tenants_file = v;
        break;
    case O_PLOT:
        fl->plot = v;
        break;
    case O_SMOOTH:
        if (strcmp(v, "on") && strcmp(v, "off"))
            return cl_flags_fail(f, "--smoothing wants on or off, got '%s'", v);
        fl->smoothing = !strcmp(v, "on");
        break;
    case O_PSVG:
        fl->power_svg = v;
        break;
    case O_JSON:
        fl->json = true;
        break;
    }
    return rc < 0 ? 2 : 0;
}

/* The whole command line into fl; 0, or -1 to stop with *status. */
static int sim_parse(int argc, char **argv, sim_flags_t *fl, int *status)
{
    cl_flags_t f = {.cmd = "sim", .shorts = "h", .longs = sim_opts, .usage = usage};
    memset(fl, 0, sizeof *fl);
    fl->policy = "colossus";
    fl->workload = "frontier";
    fl->hot = -1;
    fl->smoothing = -1;
    fl->seed = 1;
    for (int i = 0; i < O_NREAL; i++)
        fl->real[i] = reals[i].dflt;
    int o;
    *status = 2;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) {
            *status = f.exit;
            return -1;
        }
        if (sim_opt(&f, fl, o, optarg)) return -1;
    }
    return cl_flags_args(&f, argc, argv, 0, 0, NULL);
}

static int bad(const char *fmt, const char *a)
{
    fprintf(stderr, "colossus sim: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n(run 'colossus sim --help' for the options)\n");
    return 2;
}

/* The power flags over the defaults; 0, or 2 after saying why. The budget must cover the
 * GPUs' minimum limits, also after the cut (the core refuses it otherwise). */
static int power_config(const sim_flags_t *fl, cl_sim_config_t *cfg)
{
    cl_sim_power_config_t *p = &cfg->power;
    p->on = fl->smoothing >= 0 || fl->power_svg;
    for (int o = O_PBUDGET; o <= O_LBUDGET; o++)
        p->on |= fl->has[o];
    if (!p->on) return 0;
    /* ~44 bytes a simulated second (the series, its managed copy, the SVG's): 1.4 GB a year */
    if (cfg->days > 366) {
        char d[32];
        snprintf(d, sizeof d, "%g", cfg->days);
        return bad("the power model keeps a 1 s series: at most 366 days, not --days %s", d);
    }
    if (fl->has[O_CUTPCT] != fl->has[O_CUTAT])
        return bad("give --grid-cut-pct and --grid-cut-at-s together%s", "");
    if (fl->has[O_CUTPCT] && !fl->has[O_PBUDGET])
        return bad("--grid-cut-pct needs --power-budget-mw (a cut is a share of a budget)%s",
                   "");
    p->budget_mw = fl->has[O_PBUDGET] ? fl->real[O_PBUDGET] : 0;
    p->ramp_pct = fl->real[O_RAMP];
    if (fl->smoothing >= 0) p->smoothing = fl->smoothing;
    p->cut_pct = fl->has[O_CUTPCT] ? fl->real[O_CUTPCT] : 0;
    p->cut_at_s = fl->real[O_CUTAT];
    p->admit_frac = fl->real[O_ADMIT];
    p->leaf_budget_mw = fl->has[O_LBUDGET] ? fl->real[O_LBUDGET] : 0;
    if (p->admit_frac < p->min_w / p->gpu_w)
        return bad("--power-admit-frac must be at least the GPUs' minimum limit over their "
                   "default (%s)",
                   "200/700");
    cl_topo_shape_t sh;
    cl_error_t e;
    if (p->leaf_budget_mw > 0 &&
        cl_topo_preset_shape(cfg->preset ? cfg->preset : "hgx", cfg->nodes, cfg->gpus_per_node,
                             &sh, &e) == 0) {
        double floor_mw = (double)sh.nodes_per_leaf * sh.gpus_per_node * p->min_w / 1e6;
        char msg[160];
        snprintf(msg, sizeof msg, "%.3f MW (%u nodes x %u GPUs at %.0f W)", floor_mw,
                 sh.nodes_per_leaf, sh.gpus_per_node, p->min_w);
        if (p->leaf_budget_mw < floor_mw)
            return bad("--leaf-budget-mw is below a leaf's GPUs' minimum power limits: %s",
                       msg);
    }
    if (p->budget_mw > 0 && cl_topo_preset_shape(cfg->preset ? cfg->preset : "hgx", cfg->nodes,
                                                 cfg->gpus_per_node, &sh, &e) == 0) {
        double floor_mw = (double)sh.nodes * sh.gpus_per_node * p->min_w / 1e6;
        char msg[160];
        snprintf(msg, sizeof msg, "%.1f MW (%.0f W each)", floor_mw, p->min_w);
        if (p->budget_mw * (1 - p->cut_pct / 100) < floor_mw)
            return bad("--power-budget-mw (after --grid-cut-pct) is below the GPUs' minimum "
                       "power limits: %s",
                       msg);
    }
    return 0;
}

/* The configuration the flags make, over the policy's defaults; 0, or 2 after saying why. */
static int sim_config(const sim_flags_t *fl, cl_sim_config_t *cfg)
{
    if (!strcmp(fl->policy, "naive"))
        cl_sim_config_default(cfg, CL_SIM_NAIVE);
    else if (!strcmp(fl->policy, "colossus"))
        cl_sim_config_default(cfg, CL_SIM_COLOSSUS);
    else
        return bad("--policy must be naive or colossus, not '%s'", fl->policy);
    if (!strcmp(fl->workload, "frontier"))
        cfg->workload = CL_WL_FRONTIER;
    else if (!strcmp(fl->workload, "trace"))
        cfg->workload = CL_WL_TRACE;
    else if (!strcmp(fl->workload, "mixed"))
        cfg->workload = CL_WL_MIXED;
    else
        return bad("--workload must be frontier, trace or mixed, not '%s'", fl->workload);
    if (fl->queue && !strcmp(fl->queue, "fifo"))
        cfg->queue = CL_POLICY_FIFO;
    else if (fl->queue && !strcmp(fl->queue, "backfill"))
        cfg->queue = CL_POLICY_BACKFILL;
    else if (fl->queue && !strcmp(fl->queue, "fairshare"))
        cfg->queue = CL_POLICY_FAIRSHARE;
    else if (fl->queue)
        return bad("--queue must be fifo, backfill or fairshare, not '%s'", fl->queue);
    if (fl->trace && cfg->workload != CL_WL_TRACE)
        return bad("--trace needs --workload trace%s", "");
    if (cfg->workload == CL_WL_TRACE && !fl->trace)
        return bad("--workload trace needs --trace FILE.csv%s", "");
    if (fl->trace_cluster && !fl->trace) return bad("--trace-cluster needs --trace%s", "");
    if (fl->tenants && !fl->trace) return bad("--trace-tenants needs --trace%s", "");
    if (fl->tenants_file && !fl->trace) return bad("--tenants needs --trace%s", "");
    if (fl->tenants_file && fl->tenants)
        return bad("give --tenants FILE or --trace-tenants cluster, not both%s", "");
    if (!fl->preset && (fl->nodes == 0) != (fl->gpn == 0))
        return bad("give --nodes and --gpus-per-node together (or a --preset)%s", "");
    if (fl->real[O_DAYS] * 86400.0 < 1) return bad("--days is shorter than a second%s", "");
    cfg->preset = fl->preset || fl->nodes ? fl->preset : "colossus2";
    cfg->nodes = fl->nodes;
    cfg->gpus_per_node = fl->gpn;
    cfg->days = fl->real[O_DAYS];
    cfg->seed = (uint64_t)fl->seed;
    cfg->failure_scale = fl->real[O_FSCALE];
    cfg->repair_scale = fl->real[O_RSCALE];
    cfg->mfu = fl->real[O_MFU];
    cfg->mixed_frontier = fl->real[O_MFRONT];
    cfg->mixed_load = fl->real[O_MLOAD];
    if (fl->detect_class)
        cfg->detect_s = -1;
    else if (fl->has[O_DETECT])
        cfg->detect_s = fl->real[O_DETECT];
    if (fl->has[O_RESTART]) cfg->restart_s = fl->real[O_RESTART];
    if (fl->ckpt_auto)
        cfg->ckpt_interval_s = 0;
    else if (fl->has[O_CKI])
        cfg->ckpt_interval_s = fl->real[O_CKI];
    if (fl->has[O_CKC]) cfg->ckpt_cost_s = fl->real[O_CKC];
    if (fl->has[O_SPARES]) cfg->spares_pct = fl->real[O_SPARES];
    if (fl->has_replica) cfg->replica_gpus = (uint64_t)fl->replica;
    if (fl->hot >= 0) cfg->hot_spares = fl->hot;
    cfg->trace_tenants = fl->tenants;
    if (fl->has[O_STALL]) cfg->stall_s = fl->real[O_STALL];
    if (fl->has[O_NETDET]) cfg->net_detect_s = fl->real[O_NETDET];
    if (cfg->ckpt_interval_s == 0 && cfg->ckpt_cost_s <= 0)
        return bad("--ckpt-interval-s auto needs --ckpt-cost-s > 0%s", "");
    cfg->plot_points = fl->plot ? 400 : 0;
    return power_config(fl, cfg);
}

int cmd_sim(int argc, char **argv)
{
    sim_flags_t fl;
    cl_sim_config_t cfg;
    int status;
    if (sim_parse(argc, argv, &fl, &status) < 0) return status;
    if ((status = sim_config(&fl, &cfg)) != 0) return status;
    cl_trace_t trace;
    memset(&trace, 0, sizeof(trace));
    cl_sim_tenants_t tenants;
    memset(&tenants, 0, sizeof(tenants));
    cl_error_t err;
    if (fl.tenants_file) {
        if (cl_sim_tenants_load(fl.tenants_file, &tenants, &err)) {
            fprintf(stderr, "colossus sim: %s\n", err.msg);
            return 1;
        }
        cfg.tenants = &tenants;
    }
    if (fl.trace) {
        if (cl_trace_load(fl.trace, fl.trace_cluster, &trace, &err)) {
            fprintf(stderr, "colossus sim: %s\n", err.msg);
            cl_sim_tenants_free(&tenants);
            return 1;
        }
        cfg.trace = &trace;
    }
    cl_sim_result_t res;
    int rc = cl_sim_run(&cfg, &res, &err);
    cl_trace_free(&trace);
    cl_sim_tenants_free(&tenants);
    if (rc) {
        fprintf(stderr, "colossus sim: %s\n", err.msg);
        return 1;
    }
    if (fl.plot && cl_sim_plot_svg(fl.plot, &cfg, &res, &err)) {
        fprintf(stderr, "colossus sim: %s\n", err.msg);
        cl_sim_result_free(&res);
        return 1;
    }
    if (fl.power_svg && cl_sim_power_svg(fl.power_svg, &cfg, &res, &err)) {
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
    if (!fl.json) cl_sim_summary(stdout, &res);
    cl_sim_json(stdout, &cfg, &res);
    cl_sim_result_free(&res);
    return 0;
}
