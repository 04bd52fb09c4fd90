/* test_metrics.c - /metrics: the Prometheus text writer (api/prom.h: HELP and TYPE lines,
 * escaping, numbers) and the controller's rendering (ctl_metrics_render) of a small cluster
 * whose counts the test knows: nodes and GPUs by state, jobs, decisions, failures, tenants. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_test.h"

#include "api/prom.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_format),
        cmocka_unit_test(test_ctl_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
