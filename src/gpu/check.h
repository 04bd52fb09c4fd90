/* check.h - per-model expectations and the pass/fail judgement of `colossus gpu check` (pure).
 */
#ifndef COLOSSUS_GPU_CHECK_H
#define COLOSSUS_GPU_CHECK_H

#include <stddef.h>

#include "gpu/burn.h"
#include "gpu/nvml.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a healthy GPU of a model reaches in the burn-in (see docs/health.md for the sources). */
typedef struct cl_gpu_expect {
    const char *match; /* substring of the NVML name */
    const char *model;
    double gemm_tflops_min; /* dense BF16 through cuBLASLt */
    double copy_gbps_min;   /* own copy kernel, read + written */
} cl_gpu_expect_t;

/* The expectations for an NVML name, NULL for a model without any (then only correctness,
 * the memory test, the ratio to cuBLAS and the error counters are judged). */
const cl_gpu_expect_t *cl_gpu_expect_find(const char *name);

/* The burn-in library's path: $COLOSSUS_CUDA_LIB, else libcolossus-cuda.so beside the
 * binary (cmd_gpu.c; `gpu check` and the agent's floor burn). 0, or -1 with err. */
int cl_burn_lib_path(char *path, size_t len, cl_error_t *err);

/* Our GEMM must reach this fraction of cublasGemmEx's rate measured in the same run. */
#define CL_GEMM_REF_RATIO 0.90

/* Judge one GPU: 1 pass, 0 fail, with every reason for failing ("; "-separated) in reason.
 * before/after are NVML samples around the burn-in (either may be NULL when NVML gave none);
 * fatal_xids is the number of XIDs of class preventive or fatal seen during it. */
int cl_gpu_judge(const char *name, const cl_burn_result_t *r, const cl_gpu_sample_t *before,
                 const cl_gpu_sample_t *after, int bad_xids, char *reason, size_t len);

/* Burn-in options for --quick (<= 15 s) and --full (<= 60 s). */
void cl_gpu_check_opts(int full, cl_burn_opts_t *o);

#ifdef __cplusplus
}
#endif
#endif
