/* test_sim_tenants.c - `colossus sim --tenants`: the file's reader and its refusals, and
 * trace replays under the core's quotas, borrowing, reclaim and budgets, figure by figure. */
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

static cl_sim_tenants_t parse(const char *json)
{
    cl_sim_tenants_t ts;
    cl_error_t err;
    if (cl_sim_tenants_parse(json, strlen(json), "t.json", &ts, &err))
        fail_msg("parse: %s", err.msg);
    return ts;
}

static void reads_a_file(void **st)
{
    cl_sim_tenants_t ts =
        parse("{\"budget_period_days\": 2, \"tenants\": ["
              "{\"name\": \"org\", \"quota_gpus\": 64, \"cohort\": \"x\", \"borrow_limit\": 8,"
              " \"lend_limit\": 4, \"shares\": 3},"
              "{\"name\": \"lab\", \"parent\": \"org\", \"clusters\": [\"c1\", \"c2\"],"
              " \"quota_gpus\": 16, \"budget_gpu_hours\": 2.5, \"budget_stop\": true,"
              " \"preemptible\": true},"
              "{\"name\": \"other\", \"cohort\": \"y\", \"quota_gpus\": null},"
              "{\"name\": \"third\", \"cohort\": \"x\", \"quota_gpus\": 8}]}");
    assert_int_equal(ts.n, 4);
    assert_true(ts.budget_period_s == 2 * 86400.0);
    assert_string_equal(ts.file, "t.json");
    const cl_sim_tenant_t *o = &ts.v[0], *l = &ts.v[1];
    assert_true(o->conf.shares == 3 && o->conf.quota_gpus == 64 && o->conf.borrow_limit == 8 &&
                o->conf.lend_limit == 4 && o->conf.parent == -1 && o->conf.cohort == 1);
    assert_true(l->conf.parent == 0 && l->conf.quota_gpus == 16 && l->conf.budget_stop &&
                l->preemptible && fabs(l->conf.budget_gpu_s - 9000) < 1e-9);
    assert_int_equal(l->nclusters, 2);
    assert_string_equal(l->clusters[1], "c2");
    assert_int_equal(ts.v[2].conf.cohort, 2);
    assert_true(ts.v[2].conf.quota_gpus == CL_UNLIMITED);
    assert_int_equal(ts.v[3].conf.cohort, 1);
    cl_sim_tenants_free(&ts);
    cl_sim_tenants_free(&ts); /* twice is harmless */
}

static void refuses(void **st)
{
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"tenants\": [", "t.json: line 1: "},
        {"[]", "t.json: wants {\"tenants\": [{\"name\": ...}, ...]}"},
        {"{\"tenants\": []}", "t.json: wants {\"tenants\""},
        {"{\"tenants\": [{\"name\": \"a\"}], \"x\": 1}", "t.json: unknown key 'x'"},
        {"{\"tenants\": [{\"name\": \"a\"}], \"budget_period_days\": 0}",
         "t.json: budget_period_days must be a number > 0"},
        {"{\"tenants\": [{\"shares\": 1}]}", "t.json: tenants[0] needs a name"},
        {"{\"tenants\": [7]}", "t.json: tenants[0] is not an object"},
        {"{\"tenants\": [{\"name\": \"a\", \"quota\": 1}]}",
         "t.json: tenant 'a': unknown key 'quota'"},
        {"{\"tenants\": [{\"name\": \"a\", \"quota_gpus\": 1.5}]}",
         "t.json: tenant 'a': quota_gpus must be a whole number of GPUs or null"},
        {"{\"tenants\": [{\"name\": \"a\", \"lend_limit\": -1}]}",
         "t.json: tenant 'a': lend_limit must be a whole number"},
        {"{\"tenants\": [{\"name\": \"a\", \"shares\": 0}]}",
         "t.json: tenant 'a': shares must be a number >= 1e-09"},
        {"{\"tenants\": [{\"name\": \"a\", \"budget_stop\": 1}]}",
         "t.json: tenant 'a': budget_stop and preemptible are true or false"},
        {"{\"tenants\": [{\"name\": \"a\", \"cohort\": 3}]}",
         "t.json: tenant 'a': cohort must be a name"},
        {"{\"tenants\": [{\"name\": \"a\", \"clusters\": \"c\"}]}",
         "t.json: tenant 'a': clusters must be a list of names"},
        {"{\"tenants\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}",
         "t.json: tenant 'a' appears twice"},
        {"{\"tenants\": [{\"name\": \"a\", \"parent\": \"p\"}]}",
         "t.json: tenant 'a': parent 'p' is not in the file"},
        {"{\"tenants\": [{\"name\": \"a\", \"clusters\": [\"c\"]},"
         " {\"name\": \"b\", \"clusters\": [\"d\", \"c\"]}]}",
         "t.json: cluster 'c' is mapped to two tenants"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cl_sim_tenants_t ts;
        cl_error_t err;
        assert_int_equal(
            cl_sim_tenants_parse(bad[i].json, strlen(bad[i].json), "t.json", &ts, &err), -1);
        if (strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)))
            fail_msg("%s: '%s', want '%s'", bad[i].json, err.msg, bad[i].msg);
    }
    cl_sim_tenants_t ts;
    cl_error_t err;
    assert_int_equal(cl_sim_tenants_load("/nonexistent/t.json", &ts, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/t.json"));
}

/* One run of a trace on a small cluster, no failures, fixed times. */
static int run(const char *csv, const char *json, uint32_t nodes, double days,
               cl_sim_result_t *r, cl_error_t *err)
{
    cl_trace_t t;
    cl_sim_tenants_t ts = parse(json);
    assert_int_equal(cl_trace_parse(csv, strlen(csv), "q.csv", NULL, &t, err), 0);
    cl_sim_config_t c;
    cl_sim_config_default(&c, CL_SIM_NAIVE);
    c.preset = "hgx";
    c.nodes = nodes;
    c.gpus_per_node = 8;
    c.workload = CL_WL_TRACE;
    c.trace = &t;
    c.tenants = &ts;
    c.spares_pct = 0;
    c.failure_scale = 0;
    c.restart_s = 0;
    c.ckpt_interval_s = 1e9;
    c.days = days;
    c.check_core = true;
    int rc = cl_sim_run(&c, r, err);
    cl_trace_free(&t);
    cl_sim_tenants_free(&ts);
    return rc;
}

static const cl_sim_tenant_result_t *tenant(const cl_sim_result_t *r, const char *name)
{
    for (size_t i = 0; i < r->ntenants; i++)
        if (!strcmp(r->tenants[i].name, name)) return &r->tenants[i];
    fail_msg("no tenant %s in the result", name);
    return NULL;
}

/* a borrows b's idle quota from 0; b's job at 500 reclaims it (the newest of a's jobs is
 * preempted and loses its work); a's second job runs again once its first ends. */
static void borrow_and_reclaim(void **st)
{
    cl_sim_result_t r;
    cl_error_t err;
    int rc =
        run("job_id,submit_time_s,duration_s,num_gpus,cluster\n"
            "a1,0,1000,8,A\na2,0,1000,8,A\nb1,500,1000,8,B\nx,1600,100,1,C\n",
            "{\"tenants\": [{\"name\": \"a\", \"clusters\": [\"A\"], \"quota_gpus\": 8,"
            " \"cohort\": \"k\", \"preemptible\": true},"
            " {\"name\": \"b\", \"clusters\": [\"B\"], \"quota_gpus\": 8, \"cohort\": \"k\"}]}",
            2, 1, &r, &err);
    if (rc) fail_msg("run: %s", err.msg);
    assert_int_equal(r.ntenants, 3);
    const cl_sim_tenant_result_t *a = tenant(&r, "a"), *b = tenant(&r, "b"),
                                 *d = tenant(&r, "default");
    assert_true(fabs(a->gpu_s - (8000 + 4000 + 8000)) < 1e-6);
    assert_true(fabs(a->borrowed_gpu_s - 4000) < 1e-6);
    assert_int_equal(a->preemptions, 1);
    assert_int_equal(a->jobs_completed, 2);
    assert_true(fabs(b->gpu_s - 8000) < 1e-6 && b->borrowed_gpu_s == 0);
    assert_int_equal(d->jobs_submitted, 1); /* cluster C is nobody's: the default tenant */
    assert_int_equal(r.jobs_completed, 4);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cl_sim_config_t c;
    cl_sim_config_default(&c, CL_SIM_NAIVE);
    cl_sim_json(f, &c, &r);
    fclose(f);
    assert_non_null(strstr(buf, "\"tenants\":[{\"name\":\"default\",\"gpu_hours\":"));
    assert_non_null(strstr(buf, "{\"name\":\"a\",\"gpu_hours\":5.6,\"borrowed_gpu_hours\":1.1,"
                                "\"jobs_submitted\":2,\"jobs_started\":2,\"jobs_completed\":2,"
                                "\"preemptions\":1},{\"name\":\"b\""));
    assert_non_null(strstr(buf, "\"preemptions\":0}]}\n"));
    free(buf);
    cl_sim_result_free(&r);
}

/* A budget of one GPU-hour that stops: the job runs 450 s on 8 GPUs, is stopped then (no
 * event but the core's wake-up), and again 450 s after the next period begins. */
static void budget_periods(void **st)
{
    cl_sim_result_t r;
    cl_error_t err;
    int rc = run("job_id,submit_time_s,duration_s,num_gpus,cluster\na,0,10000,8,A\n",
                 "{\"budget_period_days\": 1, \"tenants\": [{\"name\": \"A\","
                 " \"budget_gpu_hours\": 1, \"budget_stop\": true}]}",
                 1, 2, &r, &err);
    if (rc) fail_msg("run: %s", err.msg);
    const cl_sim_tenant_result_t *a = tenant(&r, "A");
    assert_true(fabs(a->gpu_s - 2 * 3600) < 1e-3);
    assert_int_equal(a->preemptions, 2);
    assert_int_equal(a->jobs_completed, 0);
    assert_true(fabs(r.alloc_gpu_s - 2 * 3600) < 1e-3);
    cl_sim_result_free(&r);
}

/* What the core refuses in the file is refused with the file's name. */
static void core_refusals(void **st)
{
    cl_sim_result_t r;
    cl_error_t err;
    int rc = run("job_id,submit_time_s,duration_s,num_gpus,cluster\na,0,10,8,A\n",
                 "{\"tenants\": [{\"name\": \"p\", \"quota_gpus\": 8},"
                 " {\"name\": \"A\", \"parent\": \"p\", \"quota_gpus\": 16}]}",
                 1, 1, &r, &err);
    assert_int_equal(rc, -1);
    assert_string_equal(err.msg, "t.json: tenant 'A': its quota of 16 GPUs is above its "
                                 "parent 'p''s 8");
    rc = run("job_id,submit_time_s,duration_s,num_gpus,cluster\na,0,10,16,A\n",
             "{\"tenants\": [{\"name\": \"A\", \"quota_gpus\": 8}]}", 2, 1, &r, &err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "q.csv:2: job refused: the job needs 16 GPUs; tenant 'A' "
                                    "may hold at most 8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_a_file),       cmocka_unit_test(refuses),
        cmocka_unit_test(borrow_and_reclaim), cmocka_unit_test(budget_periods),
        cmocka_unit_test(core_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
