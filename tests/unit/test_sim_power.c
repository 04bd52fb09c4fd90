/* test_sim_power.c - the simulator's power model: the draw in 1 s bins against the GPUs'
 * states, smoothing within the allowed ramp, capping to the budget, a grid cut met within
 * 2 s, the FFT band fraction, and the Llama 3 sanity check (a 16,384-GPU job's swing is
 * about ten megawatts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim/sim.h"

/* Llama 3's scale: 2,156 HGX nodes, the frontier job on 16,384 GPUs (5% spares), the full
 * failure model, one day. */
static void llama3(cl_sim_config_t *c)
{
    cl_sim_config_default(c, CL_SIM_COLOSSUS);
    c->preset = "hgx";
    c->nodes = 2156;
    c->gpus_per_node = 8;
    c->replica_gpus = 0;
    c->spares_pct = 5; /* 2,156 - 108 = 2,048 nodes */
    c->days = 1;
    c->power.on = true;
}

static double max_jump(const float *v, size_t n, size_t skip_from, size_t skip_to, int up)
{
    double m = 0;
    for (size_t i = 1; i < n; i++) {
        if (i >= skip_from && i < skip_to) continue;
        double d = up ? v[i] - v[i - 1] : v[i - 1] - v[i];
        if (d > m) m = d;
    }
    return m;
}

static void run(const cl_sim_config_t *c, cl_sim_result_t *r)
{
    cl_error_t err;
    if (cl_sim_run(c, r, &err) < 0) fail_msg("sim: %s", err.msg);
    assert_int_equal(r->npower, (size_t)ceil(c->days * 86400));
}

/* The raw swing of a 16,384-GPU job: every failure stalls all of it (whole-job restarts),
 * 16,384 x (700 - 70) W = 10.3 MW at once: Llama 3's "tens of megawatts" in order of
 * magnitude (GPUs only). Smoothing keeps every ramp within 0.5% of the nameplate per second
 * at a cost in burnt energy. */
static void llama3_swing(void **st)
{
    cl_sim_config_t c;
    llama3(&c);
    c.power.smoothing = false;
    cl_sim_result_t r;
    run(&c, &r);
    assert_true(r.frontier_gpus == 16384);
    assert_true(r.power_raw.ramp_down_mw_s > 9 && r.power_raw.ramp_down_mw_s < 10.4);
    assert_true(fabs(r.power.ramp_down_mw_s - r.power_raw.ramp_down_mw_s) < 1e-9);
    assert_true(r.power.smoothing_mwh == 0);
    assert_true(r.power_raw.band_fraction > 0.05);
    cl_sim_result_free(&r);
    llama3(&c);
    run(&c, &r);
    double limit = 0.005 * 2156 * 8 * 700 / 1e6 + 1e-6;
    assert_true(r.power.ramp_up_mw_s <= limit);
    assert_true(r.power.ramp_down_mw_s <= limit);
    /* the series says the same as the figures */
    assert_true(max_jump(r.power_draw_mw, r.npower, 0, 0, 1) <= limit + 1e-3);
    assert_true(max_jump(r.power_draw_mw, r.npower, 0, 0, 0) <= limit + 1e-3);
    assert_true(r.power.smoothing_mwh > 0);
    assert_true(r.power.band_fraction < r.power_raw.band_fraction);
    assert_true(r.power.peak_mw <= 2156 * 8 * 700 / 1e6 + 1e-6);
    cl_sim_result_free(&r);
}

/* Capping: a budget under the draw is never exceeded and costs throughput along the curve;
 * a 30% grid cut is met within 2 s, and admission let the job start under the budget only
 * as oversubscribed (admit_frac). */
static void cap_and_cut(void **st)
{
    cl_sim_config_t c;
    llama3(&c);
    c.days = 0.25;
    c.power.budget_mw = 10.0; /* the job alone draws 11.5 MW at 700 W */
    c.power.admit_frac = 0.8;
    c.power.cut_pct = 30;
    c.power.cut_at_s = 10000;
    cl_sim_result_t r;
    run(&c, &r);
    assert_true(r.power.seconds_over == 0);
    assert_true(r.power_raw.seconds_over > 0);
    assert_true(r.power.cut_met_s > 0 && r.power.cut_met_s <= 2);
    assert_true(r.power.throughput_cost > 0.05 && r.power.throughput_cost < 0.6);
    for (size_t b = 0; b < r.npower; b++)
        assert_true(b < 10000 ? r.power_budget_mw[b] == 10.0f
                              : fabsf(r.power_budget_mw[b] - 7.0f) < 1e-5);
    assert_true(r.power_draw_mw[10001] <= 7.0f + 1e-5);
    assert_true(r.power_draw_mw[9999] > 9.0f);
    double limit = 0.005 * 10.0 + 1e-6;
    assert_true(r.power.ramp_up_mw_s <= limit && r.power.ramp_down_mw_s <= limit);
    cl_sim_result_free(&r);
    /* admitted at its full projection the job never fits: nothing computes */
    c.power.admit_frac = 1;
    run(&c, &r);
    assert_true(r.ettr == 0);
    assert_true(r.power.peak_mw < 2);
    cl_sim_result_free(&r);
}

/* The band fraction: a sine at 0.25 Hz is all in the band, one at 0.01 Hz none of it. */
static void band_fraction(void **st)
{
    size_t n = 4000;
    double *x = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = 5 + sin(2 * M_PI * 0.25 * (double)i);
    assert_true(cl_sim_band_fraction(x, n, 1.0, 0.1, 20) > 0.99);
    for (size_t i = 0; i < n; i++)
        x[i] = 5 + sin(2 * M_PI * 0.01 * (double)i);
    assert_true(cl_sim_band_fraction(x, n, 1.0, 0.1, 20) < 0.01);
    for (size_t i = 0; i < n; i++)
        x[i] = 5;
    assert_true(cl_sim_band_fraction(x, n, 1.0, 0.1, 20) == 0);
    free(x);
}

/* A budget for every leaf (--leaf-budget-mw): the core admits the frontier job only where
 * it fits each leaf. At 90% of a full leaf's 700 W draw the 2,048-node gang fits no
 * placement (each leaf takes ~90% of its nodes, ~1,940 in all); counted at 80% of its
 * projection (admit_frac 0.8) it fits every leaf and runs. */
static void leaf_budgets(void **st)
{
    cl_sim_config_t c;
    llama3(&c);
    c.days = 0.05;
    cl_topo_shape_t sh;
    cl_error_t err;
    assert_int_equal(cl_topo_preset_shape("hgx", c.nodes, c.gpus_per_node, &sh, &err), 0);
    double leaf_w = (double)sh.nodes_per_leaf * sh.gpus_per_node * 700;
    c.power.leaf_budget_mw = 0.9 * leaf_w / 1e6;
    cl_sim_result_t r;
    run(&c, &r);
    assert_true(r.ettr == 0);
    cl_sim_result_free(&r);
    c.power.admit_frac = 0.8;
    run(&c, &r);
    assert_true(r.ettr > 0.5);
    cl_sim_result_free(&r);
    /* below a leaf's GPUs' minimum limits: refused, named */
    c.power.leaf_budget_mw = 0.9 * (double)sh.nodes_per_leaf * sh.gpus_per_node * 200 / 1e6;
    assert_int_equal(cl_sim_run(&c, &r, &err), -1);
    assert_non_null(strstr(err.msg, "--leaf-budget-mw"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(llama3_swing),
        cmocka_unit_test(cap_and_cut),
        cmocka_unit_test(leaf_budgets),
        cmocka_unit_test(band_fraction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
