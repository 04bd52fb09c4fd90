/* test_gpu_check.c - per-model expectations, burn-in options and the pass/fail judgement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpu/check.h"

static void test_expect_find(void **state)
{
    (void)state;
    const cl_gpu_expect_t *e = cl_gpu_expect_find("NVIDIA H100 80GB HBM3");
    assert_non_null(e);
    assert_string_equal(e->model, "H100 SXM");
    assert_true(e->gemm_tflops_min == 700 && e->copy_gbps_min == 2700);
    /* the specific names win over the generic "H100" */
    assert_string_equal(cl_gpu_expect_find("NVIDIA H100 PCIe")->model, "H100 PCIe");
    assert_string_equal(cl_gpu_expect_find("NVIDIA H100 NVL")->model, "H100 NVL");
    assert_string_equal(cl_gpu_expect_find("NVIDIA H200")->model, "H200");
    assert_string_equal(cl_gpu_expect_find("NVIDIA A100-SXM4-80GB")->model, "A100 SXM 80GB");
    assert_string_equal(cl_gpu_expect_find("NVIDIA A100-PCIE-40GB")->model, "A100");
    assert_null(cl_gpu_expect_find("NVIDIA GeForce RTX 4090"));
    assert_null(cl_gpu_expect_find(NULL));
}

static void test_opts(void **state)
{
    (void)state;
    cl_burn_opts_t q, f;
    cl_gpu_check_opts(0, &q);
    cl_gpu_check_opts(1, &f);
    /* the time budgets: quick <= 15 s and full <= 60 s leave room for start-up and memory */
    assert_true(2 * q.gemm_s + 2 * q.copy_s <= 5);
    assert_true(2 * f.gemm_s + 2 * f.copy_s <= 30);
    assert_true(f.mem_passes > q.mem_passes && q.mem_passes >= 4);
    assert_true(q.mem_frac >= 0.85 && q.mem_frac < 1);
}

static cl_burn_result_t healthy(void)
{
    cl_burn_result_t r;
    memset(&r, 0, sizeof(r));
    r.ok = 1;
    r.gemm_n = 8192;
    r.gemm_tflops = 790;
    r.gemm_ref_tflops = 800;
    r.gemm_checked = 1000;
    r.gemm_repeatable = 1;
    r.copy_gbps = 2900;
    r.copy_ref_gbps = 2950;
    r.mem_tested_bytes = 70ull << 30;
    r.mem_passes = 4;
    return r;
}

static const char *h100 = "NVIDIA H100 80GB HBM3";

static int judge(const cl_burn_result_t *r, char *reason)
{
    return cl_gpu_judge(h100, r, NULL, NULL, 0, reason, 512);
}

static void test_pass(void **state)
{
    (void)state;
    char reason[512];
    cl_burn_result_t r = healthy();
    assert_int_equal(judge(&r, reason), 1);
    assert_string_equal(reason, "");
    /* exactly at the limits still passes */
    r.gemm_tflops = 700, r.gemm_ref_tflops = 700 / 0.9, r.copy_gbps = 2700;
    assert_int_equal(judge(&r, reason), 1);
}

static void test_fail_each(void **state)
{
    (void)state;
    char reason[512];
    cl_burn_result_t r;

    r = healthy(), r.ok = 0, strcpy(r.error, "cudaMalloc A: out of memory");
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "burn-in did not finish: cudaMalloc A: out of memory");

    r = healthy(), r.gemm_mismatches = 3;
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "GEMM gave 3 wrong element(s) of 1000 checked");

    r = healthy(), r.gemm_checked = 0;
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "GEMM result not checked");

    r = healthy(), r.gemm_repeatable = 0;
    assert_int_equal(judge(&r, reason), 0);
    assert_non_null(strstr(reason, "not repeatable"));

    r = healthy(), r.copy_mismatches = 5;
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "copy kernel corrupted 5 word(s)");

    r = healthy(), r.mem_errors = 2, r.mem_first_bad = 0x40;
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "memory test: 2 bad word(s), first at offset 0x40");

    r = healthy(), r.gemm_tflops = 710, r.gemm_ref_tflops = 800;
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "GEMM 710 TFLOP/s below 90% of cuBLAS's 800");

    r = healthy(), r.gemm_tflops = 690, r.gemm_ref_tflops = 700;
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "GEMM 690 TFLOP/s below 700 expected of an H100 SXM");

    r = healthy(), r.copy_gbps = 2600;
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "copy 2600 GB/s below 2700 expected of an H100 SXM");

    r = healthy();
    assert_int_equal(cl_gpu_judge(h100, &r, NULL, NULL, 2, reason, sizeof(reason)), 0);
    assert_string_equal(reason, "2 XID error(s) during the burn-in");
}

static void test_counters(void **state)
{
    (void)state;
    char reason[512];
    cl_burn_result_t r = healthy();
    cl_gpu_sample_t b, a;
    memset(&b, 0, sizeof(b));
    b.valid = CL_GPU_F_ECC | CL_GPU_F_REMAP | CL_GPU_F_RETIRED;
    b.ecc_corrected = 10;
    a = b;
    a.ecc_corrected = 20; /* corrected errors alone do not fail a check */
    assert_int_equal(cl_gpu_judge(h100, &r, &b, &a, 0, reason, sizeof(reason)), 1);
    a.ecc_uncorrected = 1;
    assert_int_equal(cl_gpu_judge(h100, &r, &b, &a, 0, reason, sizeof(reason)), 0);
    assert_string_equal(reason, "1 uncorrected ECC error(s) during the burn-in");
    a = b, a.remap_pending = 1;
    assert_int_equal(cl_gpu_judge(h100, &r, &b, &a, 0, reason, sizeof(reason)), 0);
    assert_string_equal(reason, "row remap pending (GPU reset needed)");
    a = b, a.remap_failure = 1;
    assert_int_equal(cl_gpu_judge(h100, &r, &b, &a, 0, reason, sizeof(reason)), 0);
    assert_string_equal(reason, "row remapping failed");
    a = b, a.retired_pending = 1;
    assert_int_equal(cl_gpu_judge(h100, &r, &b, &a, 0, reason, sizeof(reason)), 0);
    assert_non_null(strstr(reason, "page retirement pending"));
    a = b, a.lost = 1;
    assert_int_equal(cl_gpu_judge(h100, &r, &b, &a, 0, reason, sizeof(reason)), 0);
    assert_string_equal(reason, "GPU lost during the burn-in");
    /* a field the GPU did not report is not judged */
    a = b, a.valid = 0, a.remap_pending = 1, a.ecc_uncorrected = 9;
    assert_int_equal(cl_gpu_judge(h100, &r, &b, &a, 0, reason, sizeof(reason)), 1);
}

static void test_reasons_join_and_truncate(void **state)
{
    (void)state;
    char reason[512];
    cl_burn_result_t r = healthy();
    r.mem_errors = 1;
    r.copy_mismatches = 1;
    assert_int_equal(judge(&r, reason), 0);
    assert_string_equal(reason, "copy kernel corrupted 1 word(s); memory test: 1 bad word(s), "
                                "first at offset 0x0");
    char small[16];
    assert_int_equal(cl_gpu_judge(h100, &r, NULL, NULL, 0, small, sizeof(small)), 0);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(cl_gpu_judge(h100, &r, NULL, NULL, 0, NULL, 0), -1);
}

static void test_unknown_model(void **state)
{
    (void)state;
    char reason[512];
    cl_burn_result_t r = healthy();
    r.gemm_tflops = 95, r.gemm_ref_tflops = 100, r.copy_gbps = 10;
    assert_int_equal(cl_gpu_judge("NVIDIA L4", &r, NULL, NULL, 0, reason, sizeof(reason)), 1);
    assert_int_equal(judge(&r, reason), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expect_find),   cmocka_unit_test(test_opts),
        cmocka_unit_test(test_pass),          cmocka_unit_test(test_fail_each),
        cmocka_unit_test(test_counters),      cmocka_unit_test(test_reasons_join_and_truncate),
        cmocka_unit_test(test_unknown_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
