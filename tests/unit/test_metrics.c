/* test_metrics.c - /metrics: the Prometheus text writer (api/prom.h: HELP and TYPE lines,
 * escaping, numbers) and the controller's rendering (ctl_metrics_render) of a small cluster
 * whose counts the test knows: nodes and GPUs by state, jobs, decisions, failures, tenants;
 * the aggregates by pod of the telemetry its agents report, and XIDs counted by code and
 * by pod. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_test.h"

#include "api/prom.h"
#include "gpu/nvml.h"

static void test_prom_format(void **state)
{
    (void)state;
    cl_prom_t p = {0};
    cl_prom_family(&p, "x_total", "counter", "a \\ and a\nnewline; \"quotes\" stay");
    const char *l[] = {"tenant", "a\"b\\c\nd", "k", "v", NULL};
    cl_prom_sample(&p, "x_total", l, 3);
    cl_prom_sample(&p, "x_total", NULL, 0.25);
    cl_prom_sample1(&p, "x_total", "le", "+Inf", 1e300);
    cl_prom_sample(&p, "x_total", NULL, 9007199254740993.0);
    size_t len;
    char *s = cl_prom_take(&p, &len);
    assert_int_equal(len, strlen(s));
    assert_string_equal(s, "# HELP x_total a \\\\ and a\\nnewline; \"quotes\" stay\n"
                           "# TYPE x_total counter\n"
                           "x_total{tenant=\"a\\\"b\\\\c\\nd\",k=\"v\"} 3\n"
                           "x_total 0.25\n"
                           "x_total{le=\"+Inf\"} 1.0000000000000001e+300\n"
                           "x_total 9007199254740992\n");
    free(s);
    assert_int_equal(p.nsamples, 0);
    cl_prom_free(&p);
}

/* The value of the sample line that starts with `series ` in text; fails when absent. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
        if (!strncmp(l, series, n) && l[n] == ' ') return strtod(l + n + 1, NULL);
        if (!strchr(l, '\n')) break;
    }
    fail_msg("no sample %s in:\n%s", series, text);
    return -1;
}

/* Every sample's family was declared before it, with HELP then TYPE, once. */
static void check_families(const char *text)
{
    char fam[64][96];
    int nf = 0;
    const char *l = text;
    while (*l) {
        const char *e = strchr(l, '\n');
        assert_non_null(e);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(e - l), l);
        char name[96];
        if (!strncmp(line, "# HELP ", 7)) {
            sscanf(line + 7, "%95s", name);
            for (int i = 0; i < nf; i++)
                assert_string_not_equal(fam[i], name);
            assert_true(nf < 64);
            snprintf(fam[nf++], sizeof fam[0], "%s", name);
            const char *t = e + 1;
            char want[128];
            snprintf(want, sizeof want, "# TYPE %s ", name);
            assert_memory_equal(t, want, strlen(want));
        } else if (line[0] != '#') {
            sscanf(line, "%95[^{ ]", name);
            bool ok = false;
            for (int i = 0; i < nf && !ok; i++) {
                size_t k = strlen(fam[i]);
                ok = !strncmp(name, fam[i], k) &&
                     (!name[k] || !strcmp(name + k, "_bucket") || !strcmp(name + k, "_sum") ||
                      !strcmp(name + k, "_count"));
            }
            if (!ok) fail_msg("sample of no family: %s", line);
        }
        l = e + 1;
    }
}

/* Whether text has a sample line starting with `series` (a name, or a name and labels). */
static bool has_sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
        if (!strncmp(l, series, n) && (l[n] == ' ' || l[n] == '{' || l[n - 1] == ','))
            return true;
        if (!strchr(l, '\n')) break;
    }
    return false;
}

static char *render(t_ctl_t *t)
{
    size_t len;
    uint64_t n;
    ctl_metrics_srv_t srv = {.commits = 2, .commit_s = 0.5, .connections = 3};
    char *s = ctl_metrics_render(t->c, &srv, &len, &n);
    assert_int_equal(strlen(s), len);
    assert_true(n > 40);
    check_families(s);
    return s;
}

static void test_ctl_metrics(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    cl_error_t why;
    assert_int_equal(ctl_metrics_allowed(t->c, &t_admin, &why), 0);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    t_sink_t *cli = t_sink(t, "cli");
    char *s = render(t);
    assert_true(value_of(s, "colossus_node_slots") == 4);
    assert_true(value_of(s, "colossus_nodes{state=\"up\"}") == 2);
    assert_true(value_of(s, "colossus_nodes{state=\"down\"}") == 0); /* unregistered slots */
    assert_true(value_of(s, "colossus_gpus_capacity") == 16);
    assert_true(value_of(s, "colossus_gpus{state=\"free\"}") == 16);
    assert_true(value_of(s, "colossus_journal_commit_seconds_sum") == 0.5);
    assert_true(value_of(s, "colossus_connections") == 3);
    assert_true(value_of(s, "colossus_tenant_gpus_running{tenant=\"default\"}") == 0);
    assert_true(value_of(s, "colossus_metrics_render_seconds_count") == 0);
    free(s);
    s = render(t); /* the one before is counted */
    assert_true(value_of(s, "colossus_metrics_render_seconds_count") == 1);
    assert_true(value_of(s, "colossus_metrics_render_seconds_sum") > 0);
    free(s);

    t_submit(t, cli, 1, 8, 0);
    t_submit(t, cli, 2, 8, 0); /* waits for the first */
    t_turn(t);
    s = render(t);
    assert_true(value_of(s, "colossus_gpus{state=\"allocated\"}") == 8);
    assert_true(value_of(s, "colossus_gpus{state=\"free\"}") == 8);
    assert_true(value_of(s, "colossus_jobs{state=\"running\"}") == 1);
    assert_true(value_of(s, "colossus_jobs{state=\"pending\"}") == 1);
    assert_true(value_of(s, "colossus_jobs_pending{reason=\"reserved\"}") == 1);
    assert_true(value_of(s, "colossus_jobs_submitted_total") == 2);
    assert_true(value_of(s, "colossus_scheduler_decisions_total{action=\"start\"}") == 1);
    assert_true(value_of(s, "colossus_scheduler_pass_seconds_count") >= 1);
    assert_true(value_of(s, "colossus_scheduler_pass_seconds_bucket{le=\"+Inf\"}") ==
                value_of(s, "colossus_scheduler_pass_seconds_count"));
    assert_true(value_of(s, "colossus_tenant_gpus_running{tenant=\"default\"}") == 8);
    assert_true(value_of(s, "colossus_tenant_jobs_pending{tenant=\"default\"}") == 1);
    free(s);

    /* job 1 ends on whichever node it got: it succeeds; job 2 starts on both */
    t_sink_t *on = t_count(a, COLOSSUS__MSG__BODY_LAUNCH) ? a : b;
    t_started(t, on, 1, 1);
    t_advance(t, 1000);
    t_heartbeat(t, a);
    t_heartbeat(t, b);
    t_exited(t, on, 1, 1, 0, -1);
    t_turn(t);
    s = render(t);
    assert_true(value_of(s, "colossus_jobs_ended_total{state=\"succeeded\"}") == 1);
    assert_true(value_of(s, "colossus_jobs{state=\"running\"}") == 1);
    assert_true(value_of(s, "colossus_gpus{state=\"allocated\"}") == 16);
    assert_true(value_of(s, "colossus_tenant_gpu_seconds_total{tenant=\"default\"}") > 0);
    free(s);

    /* node2 falls silent: declared down by its heartbeat deadline */
    for (int i = 0; i < 5; i++) {
        t_advance(t, 1000);
        t_heartbeat(t, a);
    }
    s = render(t);
    assert_true(value_of(s, "colossus_nodes{state=\"down\"}") == 1);
    assert_true(value_of(s, "colossus_nodes_heartbeating") == 1);
    assert_true(value_of(s, "colossus_node_failures_total{detected_by=\"heartbeat\"}") == 1);
    /* job 2 had no restarts left */
    assert_true(value_of(s, "colossus_scheduler_decisions_total{action=\"fail\"}") == 1);
    assert_true(value_of(s, "colossus_jobs_ended_total{state=\"failed\"}") == 1);
    assert_true(value_of(s, "colossus_gpus{state=\"allocated\"}") == 0);
    free(s);
    t_close(t, cli);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* One GPU's sample: valid bits of power, temperature and utilisation (gpu/nvml.h). */
typedef struct t_gpu {
    uint32_t valid, power_mw, temp_c, util;
    bool lost;
} t_gpu_t;

/* A heartbeat of agent a carrying its health report: GPUs' telemetry and XIDs (on GPU 0). */
static void t_health(t_ctl_t *t, t_sink_t *a, const t_gpu_t *g, size_t ng, const uint64_t *xid,
                     size_t nx)
{
    Colossus__GpuTelemetry gt[4], *gp[4];
    for (size_t i = 0; i < ng && i < 4; i++) {
        colossus__gpu_telemetry__init(&gt[i]);
        gt[i].index = (uint32_t)i;
        gt[i].valid = g[i].valid;
        gt[i].lost = g[i].lost;
        gt[i].power_mw = g[i].power_mw;
        gt[i].temp_c = g[i].temp_c;
        gt[i].util_gpu_pct = g[i].util;
        gp[i] = &gt[i];
    }
    Colossus__XidEvent xe[64], *xp[64];
    for (size_t i = 0; i < nx && i < 64; i++) {
        colossus__xid_event__init(&xe[i]);
        xe[i].xid = xid[i];
        xe[i].action = "none";
        xp[i] = &xe[i];
    }
    Colossus__NodeHealth h = COLOSSUS__NODE_HEALTH__INIT;
    h.node = a->node;
    h.action = "none";
    h.gpus = gp;
    h.n_gpus = ng;
    h.xids = xp;
    h.n_xids = nx;
    h.gpus_expected = h.gpus_found = (uint32_t)ng;
    t_heartbeat_health(t, a, &h);
}

#define ALL (CL_GPU_F_POWER | CL_GPU_F_TEMP | CL_GPU_F_UTIL)

static void test_ctl_metrics_pods(void **state)
{
    (void)state;
    /* pods of 64 nodes (ctl_test.h: leaves of 8, 8 leaves a pod): node000001 and node000002
     * in pod0000, node000100 in pod0001 */
    t_ctl_t *t = t_setup(128, 2);
    t_sink_t *a = t_agent(t, "node000001", 2), *b = t_agent(t, "node000002", 2),
             *d = t_agent(t, "node000100", 2);
    char *s = render(t);
    assert_false(has_sample(s, "colossus_pod_power_watts")); /* nobody reported telemetry */
    assert_false(has_sample(s, "colossus_gpu_xid_total"));
    assert_false(has_sample(s, "colossus_pod_xid_total"));
    free(s);

    const uint64_t x79 = 79, x13 = 13;
    const t_gpu_t ga[] = {{ALL, 300000, 40, 50, false}, {ALL, 350000, 60, 100, false}},
                  gb[] = {{ALL, 100000, 50, 0, false}, {ALL, 999000, 99, 99, true}},
                  gd[] = {{CL_GPU_F_POWER, 200000, 0, 0, false}, {0, 0, 0, 0, false}};
    t_health(t, a, ga, 2, &x79, 1);
    t_health(t, b, gb, 2, NULL, 0);
    t_health(t, d, gd, 2, &x13, 1);
    t_health(t, d, gd, 2, &x13, 1);
    s = render(t);
    /* pod0000: 3 GPUs (b's second is lost), 300 + 350 + 100 W, temperatures 40, 60, 50 */
    assert_true(value_of(s, "colossus_pod_gpus_reporting{pod=\"pod0000\"}") == 3);
    assert_true(value_of(s, "colossus_pod_power_watts{pod=\"pod0000\"}") == 750);
    assert_true(value_of(s, "colossus_pod_gpu_temperature_max_celsius{pod=\"pod0000\"}") == 60);
    assert_true(value_of(s, "colossus_pod_gpu_temperature_mean_celsius{pod=\"pod0000\"}") ==
                50);
    assert_true(value_of(s, "colossus_pod_gpu_utilization_ratio{pod=\"pod0000\"}") == 0.5);
    /* pod0001: d's two GPUs count (the second with no field valid), only power reported */
    assert_true(value_of(s, "colossus_pod_gpus_reporting{pod=\"pod0001\"}") == 2);
    assert_true(value_of(s, "colossus_pod_power_watts{pod=\"pod0001\"}") == 200);
    assert_false(has_sample(s, "colossus_pod_gpu_temperature_max_celsius{pod=\"pod0001\"}"));
    assert_false(has_sample(s, "colossus_pod_gpu_utilization_ratio{pod=\"pod0001\"}"));
    /* XIDs counted as they came, not the last one: d's two reports of XID 13 are 2 */
    assert_true(value_of(s, "colossus_gpu_xid_total{code=\"13\"}") == 2);
    assert_true(value_of(s, "colossus_gpu_xid_total{code=\"79\"}") == 1);
    assert_true(value_of(s, "colossus_pod_xid_total{pod=\"pod0000\"}") == 1);
    assert_true(value_of(s, "colossus_pod_xid_total{pod=\"pod0001\"}") == 2);
    assert_false(has_sample(s, "colossus_gpu_xid_total{code=\"other\"}"));
    /* codes in ascending order */
    assert_true(strstr(s, "{code=\"13\"}") < strstr(s, "{code=\"79\"}"));
    free(s);

    /* a burst of 40 more codes: 30 get a series of their own (32 in all), 10 go to "other" */
    uint64_t many[40];
    for (int i = 0; i < 40; i++)
        many[i] = 100 + (uint64_t)i;
    t_health(t, b, gb, 2, many, 40);
    s = render(t);
    assert_true(value_of(s, "colossus_gpu_xid_total{code=\"129\"}") == 1);
    assert_false(has_sample(s, "colossus_gpu_xid_total{code=\"130\"}"));
    assert_true(value_of(s, "colossus_gpu_xid_total{code=\"other\"}") == 10);
    assert_true(value_of(s, "colossus_pod_xid_total{pod=\"pod0000\"}") == 41);
    /* a new report replaces the last: b's GPU 0 is the same sample, the sums are unchanged */
    assert_true(value_of(s, "colossus_pod_power_watts{pod=\"pod0000\"}") == 750);
    free(s);

    /* d falls silent and is declared down: its stale telemetry leaves pod0001's sums; the
     * XID counters keep their counts */
    for (int i = 0; i < 5; i++) {
        t_advance(t, 1000);
        t_heartbeat(t, a);
        t_heartbeat(t, b);
    }
    s = render(t);
    assert_true(value_of(s, "colossus_nodes{state=\"down\"}") == 1);
    assert_false(has_sample(s, "colossus_pod_gpus_reporting{pod=\"pod0001\"}"));
    assert_false(has_sample(s, "colossus_pod_power_watts{pod=\"pod0001\"}"));
    assert_true(value_of(s, "colossus_pod_power_watts{pod=\"pod0000\"}") == 750);
    assert_true(value_of(s, "colossus_pod_xid_total{pod=\"pod0001\"}") == 2);
    assert_true(value_of(s, "colossus_gpu_xid_total{code=\"13\"}") == 2);
    free(s);
    t_close(t, a);
    t_close(t, b);
    t_close(t, d);
    t_teardown(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_format),
        cmocka_unit_test(test_ctl_metrics),
        cmocka_unit_test(test_ctl_metrics_pods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
