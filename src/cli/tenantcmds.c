/* tenantcmds.c - `colossus tenants`: the tenants as the scheduler sees them (shares, decayed
 * usage, fair-share factor, their jobs), as a table or the API's JSON. */
#include <stdio.h>

#include "api/json.h"
#include "cli/clictx.h"

static void usage_tenants(FILE *f)
{
    fprintf(f,
            "usage: colossus tenants [OPTIONS]\n"
            "List the tenants: fair-share allotment, usage decayed with the scheduler's\n"
            "half-life (in GPU-hours), fair-share factor in (0, 1], pending and running jobs\n"
            "and the GPUs those hold.\n"
            "  --json                  a JSON array of tenants (docs/api/README.md)\n");
    cl_cli_usage_common(f);
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

int cmd_tenants(int argc, char **argv)
{
    static const struct option opts[] = {CL_CLI_JSON_OPT, CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "tenants"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_tenants};
    bool json = false, all = false;
    int status;
    if (cl_cli_view_flags(&c, &f, argc, argv, 0, NULL, &json, &all, &status) < 0) return status;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TENANTS;
    r.tenants = true;
    return cl_cli_view(&c, &r, json, tenants_json, print_table);
}
