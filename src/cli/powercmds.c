/* powercmds.c - `colossus power show|budget set|cut|restore`: the site's and the pods' power
 * budgets, a grid cut, and the per-GPU limits in force (issue 13, docs/power.md). */
#include <stdio.h>
#include <string.h>

#include "api/json.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "cli/text.h"
#include "util/units.h"
#include "util/util.h"

enum { OPT_POD = CL_CLI_OPT_FIRST, OPT_FOR, OPT_LEAF };

static void usage_show(FILE *f)
{
    fprintf(f, "usage: colossus power show [OPTIONS]\n"
               "The power tree: at the site, each pod and each leaf with a budget (leaf:POD\n"
               "in the list), the budget (and after the cut),\n"
               "the projected draw admission counts, the headroom, the GPUs' measured power,\n"
               "and the per-GPU limits in force by job, with how the last change reached\n"
               "the nodes.\n"
               "  --json                  a JSON object (docs/api/README.md, power)\n");
    cl_cli_usage_common(f);
}

static void fmt_w(double w, bool has, char *buf, size_t len)
{
    if (!has)
        snprintf(buf, len, "-");
    else
        cl_fmt_watts(w, buf, len);
}

static void print_level(const Colossus__PowerLevel *l)
{
    char b[32], lim[32], d[32], h[32], m[32];
    fmt_w(l->budget_w, l->has_budget, b, sizeof b);
    fmt_w(l->limit_w, l->has_budget, lim, sizeof lim);
    fmt_w(l->draw_w, true, d, sizeof d);
    fmt_w(l->headroom_w, l->has_budget, h, sizeof h);
    fmt_w(l->measured_w, true, m, sizeof m);
    cl_text_cell(stdout, l->name, 16);
    printf(" %12s %12s %12s %12s %12s %8llu %8llu\n", b, lim, d, h, m,
           (unsigned long long)l->gpus, (unsigned long long)l->gpus_capped);
}

static void print_power(const Colossus__Response *rs)
{
    const Colossus__PowerInfo *p = rs->power;
    if (!p || !p->site) return;
    printf("cut: %g%%", p->cut_pct);
    if (p->cut_until > 0) {
        char t[64];
        cl_cli_fmt_local(p->cut_until, t, sizeof t);
        printf(" until %s", t);
    }
    printf("    GPU limits %g-%g W%s\n", p->gpu_min_w, p->gpu_max_w,
           p->budget_short ? "    (the budgets do not cover every GPU at its minimum)" : "");
    if (p->ramp_w_per_s > 0) {
        char w[32];
        printf("ramp: %s/s", cl_fmt_watts(p->ramp_w_per_s, w, sizeof w));
        if (p->ramp_pct > 0) printf(" (%g%%/s of the site budget)", p->ramp_pct);
        printf(", %u job%s ramping\n", p->jobs_ramping, p->jobs_ramping == 1 ? "" : "s");
    }
    if (p->runs_held || p->floor_energy_j > 0) {
        char w[32];
        printf(
            "floor: %u ended run%s, %llu GPUs held at %s, ramping down; %.3f kWh burnt above "
            "idle so far\n",
            p->runs_held, p->runs_held == 1 ? "" : "s", (unsigned long long)p->gpus_held,
            cl_fmt_watts(p->held_w, w, sizeof w), p->floor_energy_j / 3.6e6);
    }
    printf("%-16s %12s %12s %12s %12s %12s %8s %8s\n", "LEVEL", "BUDGET", "AFTER_CUT", "DRAW",
           "HEADROOM", "MEASURED", "GPUS", "CAPPED");
    print_level(p->site);
    for (size_t i = 0; i < p->n_pods; i++)
        if (p->pods[i]->has_budget || p->pods[i]->gpus_alloc || p->pods[i]->gpus_capped)
            print_level(p->pods[i]);
    for (size_t i = 0; i < p->n_leaves; i++) { /* "leaf:NAME" apart from the pods */
        Colossus__PowerLevel l = *p->leaves[i];
        char name[96];
        snprintf(name, sizeof name, "leaf:%s", l.name);
        l.name = name;
        print_level(&l);
    }
    if (p->n_caps) {
        printf("\n%-10s %10s %8s %8s %8s\n", "JOB", "LIMIT_W", "GPUS", "NODES", "APPLIED");
        for (size_t i = 0; i < p->n_caps; i++)
            printf("%-10llu %10.1f %8u %8u %8u\n", (unsigned long long)p->caps[i]->job,
                   p->caps[i]->limit_w, p->caps[i]->gpus, p->caps[i]->nodes,
                   p->caps[i]->nodes_acked);
    }
    const Colossus__PowerApply *a = p->apply;
    if (a && a->seq) {
        printf("\nlast change: %u nodes, %u applied (%u failed)", a->nodes, a->acked,
               a->failed);
        if (a->acked)
            printf(", p50 %.0f ms, p99 %.0f ms, max %.0f ms", a->p50_ms, a->p99_ms, a->max_ms);
        putchar('\n');
    }
}

static json_t *power_json(const Colossus__Response *rs)
{
    static const Colossus__PowerInfo none = COLOSSUS__POWER_INFO__INIT;
    return cl_json_power(rs->power ? rs->power : &none);
}

static int power_show(int argc, char **argv)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_POWER_SHOW;
    r.power_show = true;
    return cl_cli_list("power show", argc, argv, usage_show, &r, power_json, print_power);
}

static void usage_budget(FILE *f)
{
    fprintf(f, "usage: colossus power budget set POWER [--pod POD | --leaf LEAF] [OPTIONS]\n"
               "Set the site's power budget, a pod's or a leaf's (a row under one leaf\n"
               "switch): POWER is a number and a unit (700MW, 550kW, 200W) or none. Refused\n"
               "when it is below its GPUs' minimum limits (after the cut in force). Operators\n"
               "and admins only.\n"
               "  --pod POD               a pod's budget (the pods as `colossus nodes` names\n"
               "                          them) instead of the site's\n"
               "  --leaf LEAF             a leaf's budget (the leaves as `colossus nodes`\n"
               "                          names them)\n");
    cl_cli_usage_change(f, "set");
}

static void usage_cut(FILE *f)
{
    fprintf(
        f, "usage: colossus power cut PCT [--for DURATION] [OPTIONS]\n"
           "A grid request: every budget lowered by PCT percent (30%%, more than 0, at most\n"
           "100) at once; running jobs' GPUs are capped to fit. Operators and admins only.\n"
           "  --for DURATION          the cut ends by itself after DURATION (30m, 2h, 3600s);\n"
           "                          else it lasts until `colossus power restore`\n");
    cl_cli_usage_change(f, "cut");
}

static void usage_ramp(FILE *f)
{
    fprintf(f, "usage: colossus power ramp set RATE [OPTIONS]\n"
               "The allowed ramp of a starting job's power: its GPUs' limits start at their\n"
               "minimum and are raised to what the budgets give it at RATE for the whole site\n"
               "(all starting jobs share it), so that a large gang does not swing the grid.\n"
               "RATE is power per second (400W/s, 3.85MW/s), a share of the site budget per\n"
               "second (0.5%%/s) or none (the default: full power at once). Operators and\n"
               "admins only.\n");
    cl_cli_usage_change(f, "set");
}

static void usage_restore(FILE *f)
{
    fprintf(f, "usage: colossus power restore [OPTIONS]\n"
               "Lift the cut: the budgets as set again. Operators and admins only.\n");
    cl_cli_usage_change(f, "restored");
}

/* budget set, cut, restore: their flags, then one round trip. */
static int power_change(int argc, char **argv, Colossus__PowerSpec__Op op, const char *cmd,
                        void (*usage)(FILE *f))
{
    static const struct option opts[] = {{"pod", required_argument, 0, OPT_POD},
                                         {"leaf", required_argument, 0, OPT_LEAF},
                                         {"for", required_argument, 0, OPT_FOR},
                                         CL_CLI_COMMON_OPTS,
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = cmd};
    cl_flags_t f = {.cmd = cmd, .shorts = "h", .longs = opts, .usage = usage};
    Colossus__PowerSpec s = COLOSSUS__POWER_SPEC__INIT;
    s.op = op;
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        if ((o == OPT_POD || o == OPT_LEAF) && op == COLOSSUS__POWER_SPEC__OP__BUDGET) {
            const char *flag = o == OPT_POD ? "--pod" : "--leaf";
            if (cl_arg_name(cmd, flag, optarg, NULL, false) < 0) return 2;
            *(o == OPT_POD ? &s.pod : &s.leaf) = optarg;
            if (s.pod[0] && s.leaf[0])
                return cl_flags_fail(&f, "%s takes --pod or --leaf, not both", cmd);
        } else if (o == OPT_FOR && op == COLOSSUS__POWER_SPEC__OP__CUT) {
            if (cl_arg_duration(cmd, "--for", optarg, 1, &s.for_s) < 0) return 2;
        } else if (o == OPT_POD || o == OPT_FOR || o == OPT_LEAF) {
            return cl_flags_fail(&f, "%s does not take --%s", cmd,
                                 o == OPT_POD    ? "pod"
                                 : o == OPT_LEAF ? "leaf"
                                                 : "for");
        } else {
            cl_cli_common_opt(&c, o);
        }
    }
    bool arg = op != COLOSSUS__POWER_SPEC__OP__RESTORE;
    if (cl_flags_args(&f, argc, argv, arg, arg,
                      op == COLOSSUS__POWER_SPEC__OP__BUDGET ? "POWER (700MW, or none)"
                      : op == COLOSSUS__POWER_SPEC__OP__RAMP ? "RATE (400W/s, 0.5%/s or none)"
                                                             : "PCT (30%)") < 0)
        return 2;
    cl_error_t err;
    if (op == COLOSSUS__POWER_SPEC__OP__RAMP &&
        cl_parse_ramp(argv[optind], &s.ramp_w_per_s, &s.ramp_pct, &err) < 0)
        return cl_flags_fail(&f, "%s", err.msg);
    if (op == COLOSSUS__POWER_SPEC__OP__BUDGET &&
        cl_parse_watts(argv[optind], &s.budget_w, &err) < 0)
        return cl_flags_fail(&f, "%s", err.msg);
    if (op == COLOSSUS__POWER_SPEC__OP__CUT && cl_parse_pct(argv[optind], &s.cut_pct, &err) < 0)
        return cl_flags_fail(&f, "%s", err.msg);
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_POWER;
    r.power = &s;
    return cl_cli_change(&c, &r, 30000,
                         "the power settings may or may not have changed (check with "
                         "'colossus power show')");
}

static int power_budget_set(int argc, char **argv)
{
    return power_change(argc, argv, COLOSSUS__POWER_SPEC__OP__BUDGET, "power budget set",
                        usage_budget);
}

static int power_budget(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"set", power_budget_set, "set the site's, a pod's or a leaf's power budget"},
    };
    return cl_cli_dispatch("power budget", argc, argv, subs, 1);
}

static int power_ramp_set(int argc, char **argv)
{
    return power_change(argc, argv, COLOSSUS__POWER_SPEC__OP__RAMP, "power ramp set",
                        usage_ramp);
}

static int power_ramp(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"set", power_ramp_set, "set the allowed ramp of starting jobs' power"},
    };
    return cl_cli_dispatch("power ramp", argc, argv, subs, 1);
}

static int power_cut(int argc, char **argv)
{
    return power_change(argc, argv, COLOSSUS__POWER_SPEC__OP__CUT, "power cut", usage_cut);
}

static int power_restore(int argc, char **argv)
{
    return power_change(argc, argv, COLOSSUS__POWER_SPEC__OP__RESTORE, "power restore",
                        usage_restore);
}

int cmd_power(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"show", power_show, "budgets, draw, headroom, cut and limits, by level"},
        {"budget", power_budget, "budget set POWER [--pod POD | --leaf LEAF]: a power budget"},
        {"cut", power_cut, "cut PCT [--for DURATION]: a grid request"},
        {"restore", power_restore, "lift the cut"},
        {"ramp", power_ramp, "ramp set RATE: how fast a starting job's power rises"},
    };
    return cl_cli_dispatch("power", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
