/* burn.h - interface of the CUDA burn-in library (src/gpu/burn.cu -> bin/libcolossus-cuda.so),
 * which `colossus gpu check` opens with dlopen. Plain C types only: the library is built by
 * nvcc, the binary by cc, and neither links the other. Bump CL_BURN_ABI on any change here. */
#ifndef COLOSSUS_GPU_BURN_H
#define COLOSSUS_GPU_BURN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CL_BURN_ABI 2
#define CL_BURN_LIB "libcolossus-cuda.so"
#define CL_BURN_ENV                                                                            \
    "COLOSSUS_CUDA_LIB" /* path of the library, instead of next to the binary                  \
                         */

typedef struct cl_burn_opts {
    double gemm_s;   /* seconds of timed GEMM for each of the two cuBLAS paths */
    double copy_s;   /* seconds of timed copies for each of the two copy paths */
    double mem_frac; /* fraction of free memory the pattern test covers (0.9) */
    int mem_passes;  /* write/verify passes, each with its own address-dependent pattern */
} cl_burn_opts_t;

typedef struct cl_burn_result {
    int ok;          /* the burn-in ran to its end (which is not: passed) */
    char error[256]; /* when !ok: what stopped it */
    char cuda_name[96];
    int cuda_device;
    int gemm_n;               /* n of the n x n x n BF16 products */
    double gemm_tflops;       /* cuBLASLt matmul, fastest of the heuristic's first 4 */
    double gemm_ref_tflops;   /* cublasGemmEx, cuBLAS's own choice, same run */
    uint64_t gemm_checked;    /* elements compared with the exact product */
    uint64_t gemm_mismatches; /* of which wrong */
    int gemm_repeatable;      /* every repetition gave a bit-identical result */
    uint64_t copy_bytes;      /* size of one buffer */
    double copy_gbps;         /* own copy kernel, (read + written) bytes per second / 1e9 */
    double copy_ref_gbps;     /* cudaMemcpyAsync device to device, same measure */
    uint64_t copy_mismatches;
    uint64_t mem_tested_bytes;
    int mem_passes;
    uint64_t mem_errors;    /* words read back different from what was written */
    uint64_t mem_first_bad; /* byte offset of the first bad word in the tested area */
    double seconds;         /* wall time of the whole burn-in */
} cl_burn_result_t;

/* Exported by the library. */
typedef int cl_burn_abi_f(void);
/* CUDA devices visible (>= 0), or -1 with err set (no driver, no device). A plain buffer, not
 * the project's cl_error_t: this is the C ABI of a library that nvcc builds from burn.cu
 * without the project's headers, and changing it would need CL_BURN_ABI bumped. */
typedef int cl_burn_devices_f(char *err, size_t errlen);
/* Run the burn-in on the CUDA device whose UUID is `uuid` (NVML's "GPU-..." form). Returns 0
 * with *r filled (r->ok says whether it finished); -1 when no device has that UUID. Safe to
 * call from several threads at once, one per device. */
typedef int cl_burn_run_f(const char *uuid, const cl_burn_opts_t *o, cl_burn_result_t *r);

/* The floor between runs (docs/power.md, the agent's power.c): a background burn on the CUDA
 * device whose UUID is `uuid` that keeps its SMs busy `intensity` (0 to 1) of the time (FMA
 * kernels of ~1 ms in a 20 ms period), started by the first call with intensity > 0, changed
 * by the next ones, stopped by 0 (its thread joined). Returns 0, or -1 with err set (no such
 * device, CUDA's refusal). Returns at once: the burn runs in its own thread, one per device.
 * A GPU draws about idle + intensity x (full - idle), the power limit capping it: the agent
 * sets the limit for the draw above the GPU's minimum limit and the intensity below it. */
typedef int cl_burn_floor_f(const char *uuid, double intensity, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
