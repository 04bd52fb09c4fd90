/* cmd_gpu.c - `colossus gpu list` (inventory), `gpu stat` (telemetry) and `gpu check`
 * (burn-in, pass/fail). */
#include <dlfcn.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu/burn.h"
#include "gpu/check.h"
#include "gpu/health.h"
#include "gpu/nvml.h"
#include "util/flags.h"
#include "util/util.h"

int cmd_gpu(int argc, char **argv);

#define EXIT_NODRIVER 2
#define MISSING_REASON "NVML lists this GPU but cannot open it (lost or off the bus)"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: colossus gpu list [--json]\n"
        "       colossus gpu stat [--json]\n"
        "       colossus gpu check [--quick|--full] [--json]\n"
        "\n"
        "list   every GPU: index, name, UUID, PCI bus id, memory, power limit, ECC mode,\n"
        "       NVLink fabric clique where the hardware reports one\n"
        "stat   one telemetry sample per GPU (power, energy, temperature, utilisation,\n"
        "       memory, clocks, ECC, retired pages, remapped rows), as the agent reports it\n"
        "check  burn-in of every GPU (BF16 GEMM, copy bandwidth, memory patterns, ECC\n"
        "       counters), pass/fail with the reason; --quick (default) <= 15 s,\n"
        "       --full <= 60 s. Exit 0 all passed, 1 a GPU failed, 2 nothing to check.\n");
}

/* Options shared by the subcommands. */
struct opts {
    int json, full, quick;
};

enum { OPT_JSON = 1000, OPT_QUICK, OPT_FULL };

/* Bad usage of `colossus gpu SUB`: the problem, then the usage, on stderr. Returns -1. */
static int bad_usage(const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad_usage(const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "colossus gpu %s: ", sub);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    usage(stderr);
    return -1;
}

/* 0 to go on, 1 after --help (exit 0), -1 after a usage error (exit 2). */
static int parse(int argc, char **argv, struct opts *o, int allow_mode)
{
    static const struct option longs[] = {{"json", no_argument, NULL, OPT_JSON},
                                          {"quick", no_argument, NULL, OPT_QUICK},
                                          {"full", no_argument, NULL, OPT_FULL},
                                          CL_FLAGS_HELP,
                                          {NULL, 0, NULL, 0}};
    static const struct option longs_no_mode[] = {
        {"json", no_argument, NULL, OPT_JSON}, CL_FLAGS_HELP, {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    char cmd[32];
    snprintf(cmd, sizeof cmd, "gpu %s", argv[0]);
    cl_flags_t f = {.cmd = cmd,
                    .shorts = "+h",
                    .longs = allow_mode ? longs : longs_no_mode,
                    .usage = usage};
    int c;
    while ((c = cl_flags_next(&f, argc, argv)) != -1) {
        switch (c) {
        case CL_FLAGS_DONE:
            return f.exit ? -1 : 1;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_QUICK:
            o->quick = 1;
            break;
        case OPT_FULL:
            o->full = 1;
            break;
        }
    }
    if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return -1;
    if (o->quick && o->full) return bad_usage(argv[0], "--quick and --full exclude each other");
    return 0;
}

static int gpu_list(int argc, char **argv)
{
    struct opts o;
    int rc = parse(argc, argv, &o, 0);
    if (rc) return rc > 0 ? 0 : 2;
    static cl_gpu_inv_t g[CL_NVML_MAX_GPUS];
    cl_error_t err;
    int n = cl_nvml_inventory(g, CL_NVML_MAX_GPUS, &err);
    if (n < 0) {
        fprintf(stderr, "colossus gpu list: %s\n", err.msg);
        return EXIT_NODRIVER;
    }
    int listed = cl_nvml_count(NULL);
    if (o.json) {
        json_t *arr = json_array();
        for (int i = 0; i < n && i < CL_NVML_MAX_GPUS; i++) {
            json_t *e = json_pack(
                "{s:i, s:s, s:s, s:s, s:I, s:i}", "index", (int)g[i].index, "name", g[i].name,
                "uuid", g[i].uuid, "pci_bus_id", g[i].pci_bus_id, "memory_bytes",
                (json_int_t)g[i].mem_total_bytes, "power_limit_mw", (int)g[i].power_limit_mw);
            json_object_set_new(
                e, "ecc", g[i].ecc_enabled < 0 ? json_null() : json_boolean(g[i].ecc_enabled));
            json_object_set_new(e, "clique",
                                g[i].clique[0] ? json_string(g[i].clique) : json_null());
            json_array_append_new(arr, e);
        }
        json_t *root = json_pack("{s:o, s:i}", "gpus", arr, "listed_by_nvml", listed);
        char *s = json_dumps(root, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(root);
    } else {
        printf("%-3s %-26s %-42s %-16s %8s %7s %-4s %s\n", "IDX", "NAME", "UUID", "PCI",
               "MEM_GIB", "POWER_W", "ECC", "CLIQUE");
        for (int i = 0; i < n && i < CL_NVML_MAX_GPUS; i++)
            printf("%-3u %-26s %-42s %-16s %8.1f %7.0f %-4s %s\n", g[i].index, g[i].name,
                   g[i].uuid, g[i].pci_bus_id, g[i].mem_total_bytes / 1073741824.0,
                   g[i].power_limit_mw / 1000.0,
                   g[i].ecc_enabled < 0 ? "-"
                   : g[i].ecc_enabled   ? "on"
                                        : "off",
                   g[i].clique[0] ? g[i].clique : "-");
        if (listed > n) printf("(%d GPU(s) listed by NVML cannot be opened)\n", listed - n);
    }
    return 0;
}

/* One telemetry sample of every GPU NVML lists: what the agent reports, to compare with
 * nvidia-smi. Fields a GPU does not report are null (JSON) or "-" (table). */
static int gpu_stat(int argc, char **argv)
{
    struct opts o;
    int rc = parse(argc, argv, &o, 0);
    if (rc) return rc > 0 ? 0 : 2;
    cl_error_t err;
    int n = cl_nvml_count(&err);
    if (n < 0) {
        fprintf(stderr, "colossus gpu stat: %s\n", err.msg);
        return EXIT_NODRIVER;
    }
    json_t *arr = json_array();
    if (!o.json)
        printf("%-3s %-4s %8s %12s %5s %5s %5s %9s %6s %6s %9s %9s %6s %s\n", "IDX", "LOST",
               "POWER_W", "ENERGY_J", "TEMP", "UTIL", "MUTIL", "MEM_MIB", "SM_MHZ", "MEM_MHZ",
               "ECC_CORR", "ECC_UNC", "REMAP", "PENDING");
    for (int i = 0; i < n; i++) {
        cl_gpu_sample_t s;
        if (cl_nvml_sample((uint32_t)i, &s, NULL) < 0) continue;
        uint32_t v = s.valid;
#define NUM(bit, x) ((v & (bit)) ? json_integer((json_int_t)(x)) : json_null())
        json_t *e = json_pack("{s:i, s:b}", "index", i, "lost", s.lost);
        json_object_set_new(e, "power_mw", NUM(CL_GPU_F_POWER, s.power_mw));
        json_object_set_new(e, "energy_mj", NUM(CL_GPU_F_ENERGY, s.energy_mj));
        json_object_set_new(e, "temp_c", NUM(CL_GPU_F_TEMP, s.temp_c));
        json_object_set_new(e, "util_gpu_pct", NUM(CL_GPU_F_UTIL, s.util_gpu_pct));
        json_object_set_new(e, "util_mem_pct", NUM(CL_GPU_F_UTIL, s.util_mem_pct));
        json_object_set_new(e, "mem_used_bytes", NUM(CL_GPU_F_MEM, s.mem_used_bytes));
        json_object_set_new(e, "sm_clock_mhz", NUM(CL_GPU_F_CLOCKS, s.sm_clock_mhz));
        json_object_set_new(e, "mem_clock_mhz", NUM(CL_GPU_F_CLOCKS, s.mem_clock_mhz));
        json_object_set_new(e, "ecc_corrected", NUM(CL_GPU_F_ECC, s.ecc_corrected));
        json_object_set_new(e, "ecc_uncorrected", NUM(CL_GPU_F_ECC, s.ecc_uncorrected));
        json_object_set_new(e, "retired_pages",
                            NUM(CL_GPU_F_RETIRED, s.retired_sbe + s.retired_dbe));
        json_object_set_new(e, "retired_pending",
                            (v & CL_GPU_F_RETIRED) ? json_boolean(s.retired_pending)
                                                   : json_null());
        json_object_set_new(e, "remapped_rows",
                            NUM(CL_GPU_F_REMAP, s.remap_corr_rows + s.remap_unc_rows));
        json_object_set_new(e, "remap_pending",
                            (v & CL_GPU_F_REMAP) ? json_boolean(s.remap_pending) : json_null());
        json_object_set_new(e, "remap_failure",
                            (v & CL_GPU_F_REMAP) ? json_boolean(s.remap_failure) : json_null());
#undef NUM
        json_array_append_new(arr, e);
        if (o.json) continue;
        char f[14][24];
#define FMT(k, bit, ...)                                                                       \
    (v & (bit) ? snprintf(f[k], sizeof(f[k]), __VA_ARGS__) : snprintf(f[k], sizeof(f[k]), "-"))
        FMT(0, CL_GPU_F_POWER, "%.1f", s.power_mw / 1000.0);
        FMT(1, CL_GPU_F_ENERGY, "%.0f", s.energy_mj / 1000.0);
        FMT(2, CL_GPU_F_TEMP, "%u", s.temp_c);
        FMT(3, CL_GPU_F_UTIL, "%u", s.util_gpu_pct);
        FMT(4, CL_GPU_F_UTIL, "%u", s.util_mem_pct);
        FMT(5, CL_GPU_F_MEM, "%.0f", s.mem_used_bytes / 1048576.0);
        FMT(6, CL_GPU_F_CLOCKS, "%u", s.sm_clock_mhz);
        FMT(7, CL_GPU_F_CLOCKS, "%u", s.mem_clock_mhz);
        FMT(8, CL_GPU_F_ECC, "%llu", (unsigned long long)s.ecc_corrected);
        FMT(9, CL_GPU_F_ECC, "%llu", (unsigned long long)s.ecc_uncorrected);
        FMT(10, CL_GPU_F_REMAP, "%u", s.remap_corr_rows + s.remap_unc_rows);
        FMT(11, CL_GPU_F_REMAP, "%s", s.remap_pending ? "yes" : "no");
#undef FMT
        printf("%-3d %-4s %8s %12s %5s %5s %5s %9s %6s %6s %9s %9s %6s %s\n", i,
               s.lost ? "yes" : "no", f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8],
               f[9], f[10], f[11]);
    }
    if (o.json) {
        json_t *root = json_pack("{s:o}", "gpus", arr);
        char *js = json_dumps(root, JSON_INDENT(2));
        printf("%s\n", js);
        free(js);
        json_decref(root);
    } else {
        json_decref(arr);
    }
    return 0;
}

/* ------------------------------------------------------------------ check ------------------
 */

struct burn_lib {
    void *h;
    cl_burn_devices_f *devices;
    cl_burn_run_f *run;
};

int cl_burn_lib_path(char *path, size_t len, cl_error_t *err)
{
    const char *env = getenv(CL_BURN_ENV);
    if (env && *env) {
        snprintf(path, len, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return cl_err(err, "cannot find the colossus binary's directory");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(path, len, "%.*s/%s", (int)(len > 32 ? len - 32 : 0), exe, CL_BURN_LIB);
    return 0;
}

static int load_burn(struct burn_lib *b, cl_error_t *err)
{
    char path[PATH_MAX];
    if (cl_burn_lib_path(path, sizeof path, err) < 0) return -1;
    b->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!b->h) {
        return cl_err(err,
                      "CUDA burn-in library %.100s cannot be loaded (built only where nvcc "
                      "exists): %.100s",
                      path, dlerror());
    }
    cl_burn_abi_f *abi = (cl_burn_abi_f *)dlsym(b->h, "cl_burn_abi");
    b->devices = (cl_burn_devices_f *)dlsym(b->h, "cl_burn_devices");
    b->run = (cl_burn_run_f *)dlsym(b->h, "cl_burn_run");
    if (!abi || !b->devices || !b->run || abi() != CL_BURN_ABI) {
        cl_err(err, "%.200s is not a burn-in library of this version (ABI %d wanted)", path,
               CL_BURN_ABI);
        dlclose(b->h);
        b->h = NULL;
        return -1;
    }
    return 0;
}

struct job {
    const cl_gpu_inv_t *inv;
    const cl_burn_opts_t *opts;
    struct burn_lib *lib;
    cl_gpu_sample_t before, after;
    int have_before, have_after;
    cl_burn_result_t res;
    int found; /* the burn-in library knew the UUID */
    int bad_xids;
    uint64_t xids[8];
    int nxids;
    int passed;
    char reason[512];
};

static void *run_one(void *arg)
{
    struct job *j = arg;
    j->have_before = cl_nvml_sample(j->inv->index, &j->before, NULL) == 0;
    j->found = j->lib->run(j->inv->uuid, j->opts, &j->res) == 0;
    j->have_after = cl_nvml_sample(j->inv->index, &j->after, NULL) == 0;
    return NULL;
}

static json_t *job_json(const struct job *j)
{
    const cl_burn_result_t *r = &j->res;
    json_t *xids = json_array();
    for (int k = 0; k < j->nxids; k++)
        json_array_append_new(xids, json_integer((json_int_t)j->xids[k]));
    json_t *e =
        json_pack("{s:i, s:s, s:s, s:b, s:s, s:f,"
                  " s:{s:i, s:f, s:f, s:f, s:I, s:I, s:b},"
                  " s:{s:I, s:f, s:f, s:I},"
                  " s:{s:I, s:i, s:I, s:I},"
                  " s:o}",
                  "index", (int)j->inv->index, "name", j->inv->name, "uuid", j->inv->uuid,
                  "passed", j->passed, "reason", j->reason, "seconds", r->seconds, "gemm", "n",
                  r->gemm_n, "tflops", r->gemm_tflops, "cublas_tflops", r->gemm_ref_tflops,
                  "ratio", r->gemm_ref_tflops > 0 ? r->gemm_tflops / r->gemm_ref_tflops : 0.0,
                  "checked", (json_int_t)r->gemm_checked, "mismatches",
                  (json_int_t)r->gemm_mismatches, "repeatable", r->gemm_repeatable, "copy",
                  "buffer_bytes", (json_int_t)r->copy_bytes, "gbps", r->copy_gbps,
                  "memcpy_gbps", r->copy_ref_gbps, "mismatches", (json_int_t)r->copy_mismatches,
                  "memory", "tested_bytes", (json_int_t)r->mem_tested_bytes, "passes",
                  r->mem_passes, "errors", (json_int_t)r->mem_errors, "first_bad_offset",
                  (json_int_t)r->mem_first_bad, "xids", xids);
    if (j->have_before && j->have_after && (j->before.valid & j->after.valid & CL_GPU_F_ECC))
        json_object_set_new(e, "ecc",
                            json_pack("{s:I, s:I, s:I, s:I}", "corrected_before",
                                      (json_int_t)j->before.ecc_corrected, "corrected_after",
                                      (json_int_t)j->after.ecc_corrected, "uncorrected_before",
                                      (json_int_t)j->before.ecc_uncorrected,
                                      "uncorrected_after",
                                      (json_int_t)j->after.ecc_uncorrected));
    else
        json_object_set_new(e, "ecc", json_null());
    const cl_gpu_expect_t *x = cl_gpu_expect_find(j->inv->name);
    json_object_set_new(e, "expect",
                        x ? json_pack("{s:s, s:f, s:f, s:f}", "model", x->model,
                                      "gemm_tflops_min", x->gemm_tflops_min, "copy_gbps_min",
                                      x->copy_gbps_min, "gemm_cublas_ratio_min",
                                      CL_GEMM_REF_RATIO)
                          : json_null());
    if (!r->ok) json_object_set_new(e, "error", json_string(r->error));
    return e;
}

/* Burn every GPU in, one thread per GPU so that a node's check takes as long as one GPU's;
 * XIDs are watched for the whole burn-in: a GPU that logs a hardware XID under load fails. */
static void burn_all(struct job *jobs, const cl_gpu_inv_t *g, int n, const cl_burn_opts_t *bo,
                     struct burn_lib *lib)
{
    cl_nvml_events_t *ev = cl_nvml_events_create(NULL, NULL);
    pthread_t *th = cl_xcalloc((size_t)n, sizeof(*th));
    for (int i = 0; i < n; i++) {
        jobs[i].inv = &g[i];
        jobs[i].opts = bo;
        jobs[i].lib = lib;
    }
    int started = 0;
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, run_one, &jobs[started]) != 0) break;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int i = started; i < n; i++)
        run_one(&jobs[i]);
    free(th);
    cl_gpu_xid_t x;
    while (ev && cl_nvml_events_wait(ev, 0, &x, NULL) == 1)
        for (int i = 0; i < n; i++)
            if (g[i].index == x.index) {
                if (jobs[i].nxids < 8) jobs[i].xids[jobs[i].nxids++] = x.xid;
                if (cl_health_xid_class(x.xid) >= CL_XID_PREVENTIVE) jobs[i].bad_xids++;
            }
    cl_nvml_events_destroy(ev);
}

static void print_check(const struct opts *o, const struct job *jobs, const cl_gpu_inv_t *g,
                        int n, const uint32_t *missing, int nmissing, int failed, double secs)
{
    if (o->json) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(arr, job_json(&jobs[i]));
        for (int i = 0; i < nmissing; i++)
            json_array_append_new(arr, json_pack("{s:i, s:b, s:s}", "index", (int)missing[i],
                                                 "passed", 0, "reason", MISSING_REASON));
        json_t *root =
            json_pack("{s:s, s:b, s:i, s:f, s:o}", "mode", o->full ? "full" : "quick", "passed",
                      failed == 0, "failed", failed, "seconds", secs, "gpus", arr);
        char *s = json_dumps(root, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(root);
    } else {
        printf("%-3s %-26s %-4s %9s %9s %9s %9s %8s  %s\n", "IDX", "NAME", "OK", "GEMM_TF",
               "CUBLAS_TF", "COPY_GBS", "MEMCPY", "MEM_ERR", "REASON");
        for (int i = 0; i < n; i++) {
            const cl_burn_result_t *r = &jobs[i].res;
            printf("%-3u %-26s %-4s %9.1f %9.1f %9.0f %9.0f %8llu  %s\n", g[i].index, g[i].name,
                   jobs[i].passed ? "pass" : "FAIL", r->gemm_tflops, r->gemm_ref_tflops,
                   r->copy_gbps, r->copy_ref_gbps, (unsigned long long)r->mem_errors,
                   jobs[i].passed ? "-" : jobs[i].reason);
        }
        for (int i = 0; i < nmissing; i++)
            printf("%-3u %-26s %-4s %9s %9s %9s %9s %8s  %s\n", missing[i], "?", "FAIL", "-",
                   "-", "-", "-", "-", MISSING_REASON);
        printf("%s check: %d of %d GPU(s) passed in %.1f s\n", o->full ? "full" : "quick",
               n + nmissing - failed, n + nmissing, secs);
    }
}

static int gpu_check(int argc, char **argv)
{
    struct opts o;
    int rc = parse(argc, argv, &o, 1);
    if (rc) return rc > 0 ? 0 : 2;
    double t0 = cl_now_ms() / 1000.0;
    static cl_gpu_inv_t g[CL_NVML_MAX_GPUS];
    cl_error_t err;
    int n = cl_nvml_inventory(g, CL_NVML_MAX_GPUS, &err);
    if (n < 0) {
        fprintf(stderr, "colossus gpu check: %s\n", err.msg);
        return EXIT_NODRIVER;
    }
    if (n == 0) {
        int listed = cl_nvml_count(NULL);
        if (listed > 0) {
            fprintf(stderr,
                    "colossus gpu check: none of the %d GPU(s) NVML lists can be opened\n",
                    listed);
            return 1;
        }
        fprintf(stderr, "colossus gpu check: NVML lists no GPU\n");
        return EXIT_NODRIVER;
    }
    if (n > CL_NVML_MAX_GPUS) n = CL_NVML_MAX_GPUS;
    struct burn_lib lib = {0};
    if (load_burn(&lib, &err) < 0) {
        fprintf(stderr, "colossus gpu check: %s\n", err.msg);
        return EXIT_NODRIVER;
    }
    /* The burn-in library's C ABI takes a plain buffer (burn.h). */
    if (lib.devices(err.msg, sizeof(err.msg)) < 0) {
        fprintf(stderr, "colossus gpu check: no usable CUDA device: %s\n", err.msg);
        dlclose(lib.h);
        return EXIT_NODRIVER;
    }
    cl_burn_opts_t bo;
    cl_gpu_check_opts(o.full, &bo);
    struct job *jobs = cl_xcalloc((size_t)n, sizeof(*jobs));
    burn_all(jobs, g, n, &bo, &lib);

    /* GPUs NVML lists but cannot open (lost, off the bus) fail the check without a burn-in. */
    int listed = cl_nvml_count(NULL), nmissing = 0;
    uint32_t missing[CL_NVML_MAX_GPUS];
    for (int idx = 0; idx < listed && idx < CL_NVML_MAX_GPUS; idx++) {
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= g[i].index == (uint32_t)idx;
        if (!seen) missing[nmissing++] = (uint32_t)idx;
    }
    int failed = nmissing;
    for (int i = 0; i < n; i++) {
        struct job *j = &jobs[i];
        if (!j->found) {
            j->res.ok = 0;
            snprintf(j->res.error, sizeof(j->res.error), "no CUDA device has UUID %s",
                     g[i].uuid);
        }
        j->passed = cl_gpu_judge(g[i].name, &j->res, j->have_before ? &j->before : NULL,
                                 j->have_after ? &j->after : NULL, j->bad_xids, j->reason,
                                 sizeof(j->reason));
        failed += !j->passed;
    }
    print_check(&o, jobs, g, n, missing, nmissing, failed, cl_now_ms() / 1000.0 - t0);
    free(jobs);
    /* The CUDA library stays loaded: unloading the CUDA runtime while its exit handlers are
     * registered is a known way to crash at exit, and the process ends here anyway. */
    return failed ? 1 : 0;
}

int cmd_gpu(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    int rc;
    if (!strcmp(argv[1], "list"))
        rc = gpu_list(argc - 1, argv + 1);
    else if (!strcmp(argv[1], "stat"))
        rc = gpu_stat(argc - 1, argv + 1);
    else if (!strcmp(argv[1], "check"))
        rc = gpu_check(argc - 1, argv + 1);
    else {
        fprintf(stderr, "colossus gpu: unknown subcommand '%s' (list, stat, check)\n", argv[1]);
        return 2;
    }
    cl_nvml_close();
    return rc;
}
