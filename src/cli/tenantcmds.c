/* tenantcmds.c - `colossus tenant add|set|list|show` (and `tenants`, the old name of `tenant
 * list`): tenants with their fair share, quota, cohort and borrowing, and GPU-hour budget,
 * as a table, one tenant's lines, or the API's JSON. */
#include <stdio.h>
#include <string.h>

#include "api/json.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "util/util.h"

enum {
    OPT_PARENT = CL_CLI_OPT_FIRST,
    OPT_SHARES,
    OPT_QUOTA,
    OPT_COHORT,
    OPT_BORROW,
    OPT_LEND,
    OPT_BUDGET,
    OPT_PERIOD,
    OPT_STOP,
    OPT_NO_STOP,
};

/* The most GPUs a quota or limit may name (ten times Colossus 2). */
#define GPUS_MAX 100000000L

static void usage_spec(FILE *f, bool add)
{
    fprintf(f, "usage: colossus tenant %s NAME [OPTIONS]\n%s", add ? "add" : "set",
            add ? "Create a tenant (a name holds no ':', for user set --tenant T:manager).\n"
                  "Unless given: shares 1, no parent, no quota, no cohort, no borrow limit,\n"
                  "all of its idle quota lent, no budget.\n"
                : "Change a tenant: only the options given change ('' clears --parent or\n"
                  "--cohort).\n");
    fprintf(f,
            "  --parent P              its parent tenant, whose quota it shares (one level)\n"
            "  --shares S              fair-share allotment, a number in (0, 1000000]\n"
            "  --quota-gpus N|none     nominal GPU quota, 0..100000000\n"
            "  --cohort C              the cohort whose members borrow each other's idle\n"
            "                          quota\n"
            "  --borrow-limit N|none   most GPUs it may borrow beyond its quota\n"
            "  --lend-limit N|all      most GPUs of its idle quota the cohort may borrow\n"
            "  --budget-gpu-hours H    GPU-hours it may use per period, 0..1e12 (0: none)\n"
            "  --period month|DURATION the budget's period: a calendar month (UTC), or a\n"
            "                          duration (30d, 12h, 90m, 3600s, seconds); without\n"
            "                          one the budget is a fixed grant, never renewed\n"
            "  --budget-stop           when the budget is spent, running jobs stop (new\n"
            "                          jobs pend either way)\n"
            "  --no-budget-stop        when it is spent, running jobs finish (the default)\n");
    cl_cli_usage_change(f, "done");
}

static void usage_add(FILE *f)
{
    usage_spec(f, true);
}

static void usage_set(FILE *f)
{
    usage_spec(f, false);
}

static const struct option spec_opts[] = {
    {"parent", required_argument, 0, OPT_PARENT},
    {"shares", required_argument, 0, OPT_SHARES},
    {"quota-gpus", required_argument, 0, OPT_QUOTA},
    {"cohort", required_argument, 0, OPT_COHORT},
    {"borrow-limit", required_argument, 0, OPT_BORROW},
    {"lend-limit", required_argument, 0, OPT_LEND},
    {"budget-gpu-hours", required_argument, 0, OPT_BUDGET},
    {"period", required_argument, 0, OPT_PERIOD},
    {"budget-stop", no_argument, 0, OPT_STOP},
    {"no-budget-stop", no_argument, 0, OPT_NO_STOP},
    CL_CLI_COMMON_OPTS,
    {0, 0, 0, 0}};

/* One option of tenant add/set into t (its field named in set); 0, or -1 (bad, said). */
static int spec_opt(cl_cli_t *c, int o, bool add, Colossus__TenantSpec *t, cl_cli_set_t *set)
{
    const char *cmd = c->cmd;
    double d;
    switch (o) {
    case OPT_PARENT:
        if (cl_arg_name(cmd, "--parent", optarg, NULL, !add) < 0) return -1;
        t->parent = optarg;
        cl_cli_set_add(set, "parent");
        return 0;
    case OPT_SHARES:
        if (cl_flag_double(cmd, "--shares", optarg, 0, 1e6, &d) < 0) return -1;
        if (!(d > 0)) {
            fprintf(stderr, "colossus %s: --shares must be more than 0, not '%s'\n", cmd,
                    optarg);
            return -1;
        }
        t->shares = d;
        cl_cli_set_add(set, "shares");
        return 0;
    case OPT_QUOTA:
        cl_cli_set_add(set, "quota_gpus");
        return cl_arg_limit(cmd, "--quota-gpus", optarg, "none", GPUS_MAX, &t->quota_gpus);
    case OPT_COHORT:
        if (cl_arg_name(cmd, "--cohort", optarg, NULL, !add) < 0) return -1;
        t->cohort = optarg;
        cl_cli_set_add(set, "cohort");
        return 0;
    case OPT_BORROW:
        cl_cli_set_add(set, "borrow_limit");
        return cl_arg_limit(cmd, "--borrow-limit", optarg, "none", GPUS_MAX, &t->borrow_limit);
    case OPT_LEND:
        cl_cli_set_add(set, "lend_limit");
        return cl_arg_limit(cmd, "--lend-limit", optarg, "all", GPUS_MAX, &t->lend_limit);
    case OPT_BUDGET:
        cl_cli_set_add(set, "budget_gpu_hours");
        return cl_flag_double(cmd, "--budget-gpu-hours", optarg, 0, 1e12, &t->budget_gpu_hours);
    case OPT_PERIOD:
        if (strcmp(optarg, "month") && cl_arg_duration(cmd, "--period", optarg, 1, &d) < 0)
            return -1;
        t->budget_period = optarg;
        cl_cli_set_add(set, "budget_period");
        return 0;
    case OPT_STOP:
    case OPT_NO_STOP:
        return cl_arg_switch(cmd, set, "budget_stop", &t->budget_stop, o == OPT_STOP,
                             "--budget-stop", "--no-budget-stop");
    }
    cl_cli_common_opt(c, o);
    return 0;
}

/* tenant add / tenant set: one TenantSpec. */
static int tenant_spec(int argc, char **argv, bool add)
{
    cl_cli_t c = {.cmd = add ? "tenant add" : "tenant set"};
    cl_flags_t f = {
        .cmd = c.cmd, .shorts = "h", .longs = spec_opts, .usage = add ? usage_add : usage_set};
    Colossus__TenantSpec t = COLOSSUS__TENANT_SPEC__INIT;
    cl_cli_set_t set = {0};
    /* What a new tenant has unless told otherwise (TenantSpec's -1: none, no limit, all);
     * a set sends only what it changes (its set list). */
    if (add) {
        t.shares = 1;
        t.quota_gpus = t.borrow_limit = t.lend_limit = -1;
    }
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        if (spec_opt(&c, o, add, &t, &set) < 0) return 2;
    }
    if (cl_flags_args(&f, argc, argv, 1, 1, "NAME (the tenant's name)") < 0) return 2;
    t.name = argv[optind];
    if (cl_arg_name(c.cmd, "the tenant name", t.name, add ? ":" : NULL, false) < 0) return 2;
    if (add && cl_cli_set_has(&set, "budget_period") && !(t.budget_gpu_hours > 0))
        return cl_flags_fail(&f, "--period needs --budget-gpu-hours (more than 0)");
    if (add && t.budget_stop && !(t.budget_gpu_hours > 0))
        return cl_flags_fail(&f, "--budget-stop needs --budget-gpu-hours (more than 0)");
    if (!add && !set.n)
        return cl_flags_fail(&f, "nothing to change: give at least one option (see --help)");
    t.create = add;
    t.set = set.v;
    t.n_set = set.n;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TENANT;
    r.tenant = &t;
    return cl_cli_change(&c, &r, 30000,
                         "tenant %s may or may not have been %s (check with 'colossus tenant "
                         "show %s')",
                         t.name, add ? "created" : "changed", t.name);
}

static int tenant_add(int argc, char **argv)
{
    return tenant_spec(argc, argv, true);
}

static int tenant_set(int argc, char **argv)
{
    return tenant_spec(argc, argv, false);
}

static void usage_list_as(FILE *f, const char *cmd, const char *other)
{
    fprintf(f,
            "usage: colossus %s [OPTIONS]   (also: colossus %s)\n"
            "List the tenants: fair-share allotment, usage decayed with the scheduler's\n"
            "half-life (in GPU-hours), fair-share factor in (0, 1], pending and running jobs\n"
            "and the GPUs those hold (quotas, borrowing and budgets: tenant show, --json).\n"
            "  --json                  a JSON array of tenants (docs/api/README.md)\n",
            cmd, other);
    cl_cli_usage_common(f);
}

static void usage_list(FILE *f)
{
    usage_list_as(f, "tenant list", "tenants");
}

static void usage_tenants(FILE *f)
{
    usage_list_as(f, "tenants", "tenant list");
}

static void print_table(const Colossus__Response *rs)
{
    printf("%-20s %8s %12s %9s %7s %7s %7s\n", "NAME", "SHARES", "USAGE_GPU_H", "FAIRSHARE",
           "PENDING", "RUNNING", "GPUS");
    for (size_t i = 0; i < rs->n_tenants; i++) {
        const Colossus__TenantInfo *t = rs->tenants[i];
        cl_text_cell(stdout, t->name, 20);
        printf(" %8g %12.1f %9.4f %7u %7u %7u\n", t->shares, t->usage_gpu_s / 3600,
               t->fairshare, t->jobs_pending, t->jobs_running, t->gpus_running);
    }
}

static json_t *tenants_json(const Colossus__Response *rs)
{
    return cl_json_tenants(rs->tenants, rs->n_tenants);
}

static int tenant_list_as(const char *cmd, int argc, char **argv)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TENANTS;
    r.tenants = true;
    return cl_cli_list(cmd, argc, argv, strcmp(cmd, "tenants") ? usage_list : usage_tenants, &r,
                       tenants_json, print_table);
}

static int tenant_list(int argc, char **argv)
{
    return tenant_list_as("tenant list", argc, argv);
}

int cmd_tenants(int argc, char **argv)
{
    return tenant_list_as("tenants", argc, argv);
}

static void usage_show(FILE *f)
{
    fprintf(f, "usage: colossus tenant show [OPTIONS] NAME\n"
               "Show one tenant: shares, decayed usage and fair-share factor, quota, cohort,\n"
               "borrowing, budget and what is left of it in this period, its jobs.\n"
               "  --json                  the tenant as a JSON object (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

/* "label:        " then the value escaped (NULL or "" as "-"). */
static void field(const char *label, const char *value)
{
    printf("%-15s", label);
    cl_text_put(stdout, value && value[0] ? value : "-");
    putchar('\n');
}

static void limit_text(int64_t v, const char *none, char *buf, size_t len)
{
    if (v < 0)
        snprintf(buf, len, "%s", none);
    else
        snprintf(buf, len, "%lld GPUs", (long long)v);
}

static void print_tenant(const Colossus__TenantInfo *t)
{
    char q[48], b[48], l[48], start[40];
    field("name:", t->name);
    field("parent:", t->parent);
    printf("%-15s%g\n%-15s%.1f GPU-hours (decayed)\n%-15s%.4f\n", "shares:", t->shares,
           "usage:", t->usage_gpu_s / 3600, "fair share:", t->fairshare);
    limit_text(t->quota_gpus, "none", q, sizeof q);
    limit_text(t->borrow_limit, "no limit", b, sizeof b);
    limit_text(t->lend_limit, "all of its idle quota", l, sizeof l);
    printf("%-15s%s\n", "quota:", q);
    field("cohort:", t->cohort);
    printf("%-15s%s\n%-15s%s\n%-15s%llu GPUs\n", "borrow limit:", b, "lend limit:", l,
           "borrowed:", (unsigned long long)t->borrowed_gpus);
    if (t->budget_gpu_hours > 0) {
        printf("%-15s%g GPU-hours ", "budget:", t->budget_gpu_hours);
        if (t->budget_period && t->budget_period[0]) {
            fputs(!strcmp(t->budget_period, "month") ? "per calendar month" : "every ", stdout);
            if (strcmp(t->budget_period, "month")) cl_text_put(stdout, t->budget_period);
        } else {
            fputs("(a fixed grant)", stdout);
        }
        printf("; when spent, running jobs %s\n", t->budget_stop ? "stop" : "finish");
        cl_cli_fmt_utc(t->budget_period_start, start, sizeof start);
        printf("%-15s%.1f GPU-hours since %s, %.1f left\n",
               "budget used:", t->budget_used_gpu_hours, start, cl_json_budget_left(t));
    } else {
        printf("%-15snone\n", "budget:");
    }
    printf("%-15s%u pending, %u running on %u GPUs\n", "jobs:", t->jobs_pending,
           t->jobs_running, t->gpus_running);
}

static int tenant_show(int argc, char **argv)
{
    static const struct option opts[] = {CL_CLI_JSON_OPT, CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "tenant show"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_show};
    bool json = false;
    int status;
    if (cl_cli_view_flags(&c, &f, argc, argv, 1, "NAME (a tenant's name)", &json, NULL,
                          &status) < 0)
        return status;
    if (cl_arg_name(c.cmd, "the tenant name", argv[optind], NULL, false) < 0) return 2;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TENANT_SHOW;
    r.tenant_show = argv[optind];
    Colossus__Msg *m = cl_cli_ask(&c, &r, 30000);
    if (!m) return c.status;
    int rc = 0;
    if (m->response->n_tenants != 1) {
        fprintf(stderr, "colossus %s: the controller answered with %zu tenants, not one\n",
                c.cmd, m->response->n_tenants);
        rc = 1;
    } else if (json) {
        rc = cl_cli_json_out(&c, cl_json_tenant(m->response->tenants[0]));
    } else {
        print_tenant(m->response->tenants[0]);
    }
    cl_msg_free(m);
    return rc;
}

int cmd_tenant(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"add", tenant_add, "create a tenant (quota, cohort, budget)"},
        {"set", tenant_set, "change a tenant (only the options given)"},
        {"list", tenant_list, "list the tenants (also: colossus tenants)"},
        {"show", tenant_show, "one tenant: usage, quota, borrowing, budget left"},
    };
    return cl_cli_dispatch("tenant", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
