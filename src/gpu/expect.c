/* expect.c - per-model expectations and the pass/fail judgement of a GPU burn-in (pure). */
#include "gpu/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* First match wins, so the specific names come before the generic ones. The H100 SXM figures
 * are the measured ceilings less margin (800 TFLOP/s, 3,030 GB/s measured); the others
 * scale the datasheet peak by the same fractions of peak (700/989 and 2700/3350) and are not
 * measured here (docs/health.md). */
static const cl_gpu_expect_t expect[] = {
    {"H100 NVL", "H100 NVL", 590, 3150},
    {"H100 PCIe", "H100 PCIe", 535, 1620},
    {"H100", "H100 SXM", 700, 2700},
    {"H200", "H200", 700, 3880},
    {"A100-SXM4-80GB", "A100 SXM 80GB", 220, 1650},
    {"A100", "A100", 220, 1260},
};

const cl_gpu_expect_t *cl_gpu_expect_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(expect) / sizeof(expect[0]); i++)
        if (strstr(name, expect[i].match)) return &expect[i];
    return NULL;
}

void cl_gpu_check_opts(int full, cl_burn_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->mem_frac = 0.90;
    if (full) {
        o->gemm_s = 10.0;
        o->copy_s = 3.0;
        o->mem_passes = 64;
    } else {
        o->gemm_s = 1.5;
        o->copy_s = 0.5;
        o->mem_passes = 4;
    }
}

static void add(char *reason, size_t len, int *fails, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *reason, size_t len, int *fails, const char *fmt, ...)
{
    size_t used = strnlen(reason, len);
    if (*fails && used + 2 < len) {
        memcpy(reason + used, "; ", 3);
        used += 2;
    }
    (*fails)++;
    if (used + 1 >= len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason + used, len - used, fmt, ap);
    va_end(ap);
}

int cl_gpu_judge(const char *name, const cl_burn_result_t *r, const cl_gpu_sample_t *before,
                 const cl_gpu_sample_t *after, int bad_xids, char *reason, size_t len)
{
    int fails = 0;
    if (!reason || !len) return -1;
    reason[0] = '\0';
    if (!r->ok)
        add(reason, len, &fails, "burn-in did not finish: %s", r->error[0] ? r->error : "?");
    if (r->gemm_mismatches)
        add(reason, len, &fails, "GEMM gave %llu wrong element(s) of %llu checked",
            (unsigned long long)r->gemm_mismatches, (unsigned long long)r->gemm_checked);
    if (r->ok && !r->gemm_checked) add(reason, len, &fails, "GEMM result not checked");
    if (r->ok && !r->gemm_repeatable)
        add(reason, len, &fails, "GEMM not repeatable: the same product gave different bits");
    if (r->copy_mismatches)
        add(reason, len, &fails, "copy kernel corrupted %llu word(s)",
            (unsigned long long)r->copy_mismatches);
    if (r->mem_errors)
        add(reason, len, &fails, "memory test: %llu bad word(s), first at offset 0x%llx",
            (unsigned long long)r->mem_errors, (unsigned long long)r->mem_first_bad);
    if (r->ok && r->gemm_ref_tflops > 0 &&
        r->gemm_tflops < CL_GEMM_REF_RATIO * r->gemm_ref_tflops)
        add(reason, len, &fails, "GEMM %.0f TFLOP/s below %.0f%% of cuBLAS's %.0f",
            r->gemm_tflops, CL_GEMM_REF_RATIO * 100, r->gemm_ref_tflops);
    const cl_gpu_expect_t *e = cl_gpu_expect_find(name);
    if (r->ok && e && r->gemm_tflops < e->gemm_tflops_min)
        add(reason, len, &fails, "GEMM %.0f TFLOP/s below %.0f expected of an %s",
            r->gemm_tflops, e->gemm_tflops_min, e->model);
    if (r->ok && e && r->copy_gbps < e->copy_gbps_min)
        add(reason, len, &fails, "copy %.0f GB/s below %.0f expected of an %s", r->copy_gbps,
            e->copy_gbps_min, e->model);
    if (after && after->lost) add(reason, len, &fails, "GPU lost during the burn-in");
    if (before && after && (before->valid & after->valid & CL_GPU_F_ECC) &&
        after->ecc_uncorrected > before->ecc_uncorrected)
        add(reason, len, &fails, "%llu uncorrected ECC error(s) during the burn-in",
            (unsigned long long)(after->ecc_uncorrected - before->ecc_uncorrected));
    if (after && (after->valid & CL_GPU_F_REMAP) && after->remap_failure)
        add(reason, len, &fails, "row remapping failed");
    if (after && (after->valid & CL_GPU_F_REMAP) && after->remap_pending)
        add(reason, len, &fails, "row remap pending (GPU reset needed)");
    if (after && (after->valid & CL_GPU_F_RETIRED) && after->retired_pending)
        add(reason, len, &fails, "page retirement pending (driver reload needed)");
    if (bad_xids > 0) add(reason, len, &fails, "%d XID error(s) during the burn-in", bad_xids);
    return fails == 0;
}
