/* nodehealth.c - `colossus nodes` columns and JSON for GPU health and telemetry. */
#include "cli/nodehealth.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* NVML field bits of GpuTelemetry.valid (CL_GPU_F_* in gpu/nvml.h). */
enum {
    F_POWER = 1,
    F_ENERGY = 2,
    F_TEMP = 4,
    F_UTIL = 8,
    F_MEM = 16,
    F_CLOCKS = 32,
    F_ECC = 64,
    F_RETIRED = 128,
    F_REMAP = 256
};

const char cl_cli_node_health_head[] = "HEALTH          TEMP_C POWER_W ECC_C/U";

static json_t *num(uint32_t valid, uint32_t bit, double v)
{
    return (valid & bit) ? json_real(v) : json_null();
}

static json_t *inum(uint32_t valid, uint32_t bit, uint64_t v)
{
    return (valid & bit) ? json_integer((json_int_t)v) : json_null();
}

static json_t *flag(uint32_t valid, uint32_t bit, int v)
{
    return (valid & bit) ? json_boolean(v) : json_null();
}

static json_t *gpu_json(const Colossus__GpuTelemetry *g)
{
    uint32_t v = g->valid;
    json_t *o = json_pack("{s:i, s:b}", "index", (int)g->index, "lost", g->lost);
    json_object_set_new(o, "power_w", num(v, F_POWER, g->power_mw / 1000.0));
    json_object_set_new(o, "energy_j", num(v, F_ENERGY, g->energy_mj / 1000.0));
    json_object_set_new(o, "temp_c", inum(v, F_TEMP, g->temp_c));
    json_object_set_new(o, "util_gpu_pct", inum(v, F_UTIL, g->util_gpu_pct));
    json_object_set_new(o, "util_mem_pct", inum(v, F_UTIL, g->util_mem_pct));
    json_object_set_new(o, "mem_used_bytes", inum(v, F_MEM, g->mem_used_bytes));
    json_object_set_new(o, "mem_total_bytes", inum(v, F_MEM, g->mem_total_bytes));
    json_object_set_new(o, "sm_clock_mhz", inum(v, F_CLOCKS, g->sm_clock_mhz));
    json_object_set_new(o, "mem_clock_mhz", inum(v, F_CLOCKS, g->mem_clock_mhz));
    json_object_set_new(o, "ecc_corrected", inum(v, F_ECC, g->ecc_corrected));
    json_object_set_new(o, "ecc_uncorrected", inum(v, F_ECC, g->ecc_uncorrected));
    json_object_set_new(o, "retired_pages", inum(v, F_RETIRED, g->retired_pages));
    json_object_set_new(o, "retired_pending", flag(v, F_RETIRED, g->retired_pending));
    json_object_set_new(o, "remapped_rows", inum(v, F_REMAP, g->remapped_rows));
    json_object_set_new(o, "remapped_rows_unc", inum(v, F_REMAP, g->remapped_rows_unc));
    json_object_set_new(o, "remap_pending", flag(v, F_REMAP, g->remap_pending));
    json_object_set_new(o, "remap_failure", flag(v, F_REMAP, g->remap_failure));
    return o;
}

void cl_cli_node_health_json(const Colossus__NodeInfo *n, json_t *obj)
{
    bool known = n->health && n->health[0];
    json_object_set_new(obj, "health", known ? json_string(n->health) : json_null());
    json_object_set_new(obj, "health_reason",
                        known && n->health_reason[0] ? json_string(n->health_reason)
                                                     : json_null());
    json_object_set_new(obj, "monitored", json_boolean(n->monitored));
    json_object_set_new(obj, "nvlink_domain",
                        n->nvlink_domain && n->nvlink_domain[0] ? json_string(n->nvlink_domain)
                                                                : json_null());
    json_t *xids = json_array();
    for (size_t i = 0; i < n->n_recent_xids; i++) {
        const Colossus__XidEvent *x = n->recent_xids[i];
        json_array_append_new(xids, json_pack("{s:i, s:I, s:s, s:f}", "gpu",
                                              x->gpu == UINT32_MAX ? -1 : (int)x->gpu, "xid",
                                              (json_int_t)x->xid, "action", x->action, "time",
                                              x->time));
    }
    json_object_set_new(obj, "xids", xids);
    const Colossus__NodeHealth *t = n->telemetry;
    if (!t) {
        json_object_set_new(obj, "telemetry", json_null());
        return;
    }
    json_t *gpus = json_array();
    for (size_t i = 0; i < t->n_gpus; i++)
        json_array_append_new(gpus, gpu_json(t->gpus[i]));
    json_t *check = json_pack("{s:s, s:s, s:f}", "result", t->check[0] ? t->check : "never",
                              "reason", t->check_reason, "time", t->check_time);
    json_object_set_new(obj, "telemetry",
                        json_pack("{s:f, s:f, s:s, s:s, s:i, s:i, s:o, s:o}", "time", t->time,
                                  "age_s", n->telemetry_age, "action", t->action, "reason",
                                  t->reason, "gpus_expected", (int)t->gpus_expected,
                                  "gpus_found", (int)t->gpus_found, "check", check, "gpus",
                                  gpus));
}

void cl_cli_node_health_cols(const Colossus__NodeInfo *n, char *buf, size_t len)
{
    const char *h = n->health && n->health[0] ? n->health : "-";
    if (!strcmp(h, "none")) h = "ok";
    const Colossus__NodeHealth *t = n->telemetry;
    char temp[16] = "-", power[16] = "-", ecc[40] = "-";
    if (t) {
        uint32_t tmax = 0, pw = 0;
        uint64_t ec = 0, eu = 0;
        bool ht = false, hp = false, he = false;
        for (size_t i = 0; i < t->n_gpus; i++) {
            const Colossus__GpuTelemetry *g = t->gpus[i];
            if (g->valid & F_TEMP) {
                ht = true;
                tmax = g->temp_c > tmax ? g->temp_c : tmax;
            }
            if (g->valid & F_POWER) {
                hp = true;
                pw += g->power_mw;
            }
            if (g->valid & F_ECC) {
                he = true;
                ec += g->ecc_corrected;
                eu += g->ecc_uncorrected;
            }
        }
        if (ht) snprintf(temp, sizeof temp, "%u", tmax);
        if (hp) snprintf(power, sizeof power, "%.0f", pw / 1000.0);
        if (he)
            snprintf(ecc, sizeof ecc, "%llu/%llu", (unsigned long long)ec,
                     (unsigned long long)eu);
    }
    snprintf(buf, len, "%-15s %6s %7s %-7s", h, temp, power, ecc);
}
