/* fakeburn.c - a fake CUDA burn-in library (the interface of src/gpu/burn.h) so that the tests
 * drive `colossus gpu check` through pass, fail and its JSON without a GPU.
 *
 * Its results are those of a healthy H100 unless $COLOSSUS_FAKE_BURN says otherwise, one
 * setting a line: "UUID KEY VALUE" for one GPU or "* KEY VALUE" for all, and "devices N"
 * (N < 0: no CUDA device). Keys: ok, error (rest of line), gemm_tflops, gemm_ref_tflops,
 * gemm_mismatches, repeatable, copy_gbps, copy_ref_gbps, copy_mismatches, mem_errors,
 * mem_first_bad, nvml (the rest of the line is appended to $COLOSSUS_FAKE_NVML while the
 * burn-in runs: an XID event or an ECC count that appears during the check).
 *
 * The floor burn (cl_burn_floor) is modelled for the fake NVML: each call rewrites the burn
 * file, the fake NVML's state file + ".burn" ($COLOSSUS_FAKE_NVML_STATE, else
 * $COLOSSUS_FAKE_NVML + ".state"), one line "UUID INTENSITY PID" per device burning, which
 * the fake NVML reads as load while process PID lives (a burn dies with its process, as on a
 * GPU: an agent's kill -9 stops it; docs/power.md). A UUID starting "GPU-nocuda" is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu/burn.h"

#define API __attribute__((visibility("default")))

API int cl_burn_abi(void)
{
    return CL_BURN_ABI;
}

static FILE *script(void)
{
    const char *p = getenv("COLOSSUS_FAKE_BURN");
    return p ? fopen(p, "r") : NULL;
}

API int cl_burn_devices(char *err, size_t errlen)
{
    int n = 8;
    FILE *f = script();
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        sscanf(line, "devices %d", &n);
    if (f) fclose(f);
    if (n < 0) snprintf(err, errlen, "no CUDA-capable device is detected");
    return n;
}

static void append_nvml(const char *text)
{
    const char *p = getenv("COLOSSUS_FAKE_NVML");
    FILE *f = p ? fopen(p, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
}

API int cl_burn_run(const char *uuid, const cl_burn_opts_t *o, cl_burn_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->ok = 1;
    r->gemm_n = 8192;
    r->gemm_tflops = 780;
    r->gemm_ref_tflops = 790;
    r->gemm_checked = 8192ull * 8192 + 256;
    r->gemm_repeatable = 1;
    r->copy_bytes = 4ull << 30;
    r->copy_gbps = 2950;
    r->copy_ref_gbps = 2900;
    r->mem_tested_bytes = 72ull << 30;
    r->mem_passes = o->mem_passes;
    r->seconds = o->gemm_s * 2 + o->copy_s * 2;
    FILE *f = script();
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char who[128], key[32];
        int off = 0;
        if (sscanf(line, "%127s %31s %n", who, key, &off) < 2 || !off) continue;
        if (strcmp(who, "*") && strcmp(who, uuid)) continue;
        const char *v = line + off;
        double d = atof(v);
        if (!strcmp(key, "ok"))
            r->ok = (int)d;
        else if (!strcmp(key, "error"))
            snprintf(r->error, sizeof(r->error), "%s", v);
        else if (!strcmp(key, "gemm_tflops"))
            r->gemm_tflops = d;
        else if (!strcmp(key, "gemm_ref_tflops"))
            r->gemm_ref_tflops = d;
        else if (!strcmp(key, "gemm_mismatches"))
            r->gemm_mismatches = (uint64_t)d;
        else if (!strcmp(key, "repeatable"))
            r->gemm_repeatable = (int)d;
        else if (!strcmp(key, "copy_gbps"))
            r->copy_gbps = d;
        else if (!strcmp(key, "copy_ref_gbps"))
            r->copy_ref_gbps = d;
        else if (!strcmp(key, "copy_mismatches"))
            r->copy_mismatches = (uint64_t)d;
        else if (!strcmp(key, "mem_errors"))
            r->mem_errors = (uint64_t)d;
        else if (!strcmp(key, "mem_first_bad"))
            r->mem_first_bad = strtoull(v, NULL, 0);
        else if (!strcmp(key, "nvml"))
            append_nvml(v);
    }
    if (f) fclose(f);
    return 0;
}

/* The devices burning and at what intensity, rewritten whole (through a rename) per call. */
#define FLOOR_MAX 64
static struct {
    char uuid[96];
    double x;
} floors[FLOOR_MAX];

static int burn_path(char *buf, size_t len)
{
    const char *st = getenv("COLOSSUS_FAKE_NVML_STATE"), *sc = getenv("COLOSSUS_FAKE_NVML");
    if (st && *st) return snprintf(buf, len, "%s.burn", st) < (int)len ? 0 : -1;
    if (!sc || !*sc) return -1;
    return snprintf(buf, len, "%s.state.burn", sc) < (int)len ? 0 : -1;
}

API int cl_burn_floor(const char *uuid, double intensity, char *err, size_t errlen)
{
    if (!strncmp(uuid, "GPU-nocuda", 10)) {
        snprintf(err, errlen, "no CUDA device %s", uuid);
        return -1;
    }
    int k, free_k = -1;
    for (k = 0; k < FLOOR_MAX && strcmp(floors[k].uuid, uuid); k++)
        if (free_k < 0 && !floors[k].uuid[0]) free_k = k;
    if (k == FLOOR_MAX) {
        if (!(intensity > 0)) return 0;
        if (free_k < 0) {
            snprintf(err, errlen, "too many devices");
            return -1;
        }
        k = free_k;
        snprintf(floors[k].uuid, sizeof floors[k].uuid, "%s", uuid);
    }
    floors[k].x = intensity > 1 ? 1 : intensity;
    if (!(intensity > 0)) floors[k].uuid[0] = '\0';
    char path[4200], tmp[4300];
    if (burn_path(path, sizeof path) < 0) return 0; /* no fake NVML: nothing to model */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s", tmp);
        return -1;
    }
    for (int i = 0; i < FLOOR_MAX; i++)
        if (floors[i].uuid[0])
            fprintf(f, "%s %.4f %ld\n", floors[i].uuid, floors[i].x, (long)getpid());
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    return 0;
}
