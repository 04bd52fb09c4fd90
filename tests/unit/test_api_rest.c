/* test_api_rest.c - the REST API's pure parts (src/api/rest.c): routes (each resource, its
 * methods, 404 and 405 with the methods allowed, job ids and node names from the path), list
 * parameters (filters, the page and its cursor, each bad one named), a submission body to a
 * SubmitReq (defaults, every field, unknown fields and wrong types named), drain bodies, the
 * status of the controller's refusals, and the error body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/rest.h"

static int route(const char *method, const char *path, cl_rest_route_t *r, char *allow,
                 cl_error_t *err)
{
    return cl_rest_route(method, path, r, allow, err);
}

static void test_routes(void **state)
{
    (void)state;
    cl_rest_route_t r;
    char allow[32];
    cl_error_t err;
    assert_int_equal(route("GET", "/api/v1/whoami", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_WHOAMI);
    assert_int_equal(route("HEAD", "/api/v1/whoami", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_WHOAMI);
    assert_int_equal(route("GET", "/api/v1/jobs", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_JOBS);
    assert_false(r.body);
    assert_int_equal(route("POST", "/api/v1/jobs", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_SUBMIT);
    assert_true(r.body);
    assert_int_equal(route("GET", "/api/v1/jobs/42", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_JOB);
    assert_int_equal(r.job, 42);
    assert_int_equal(route("DELETE", "/api/v1/jobs/18446744073709551615", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_CANCEL);
    assert_true(r.job == UINT64_MAX);
    assert_int_equal(route("POST", "/api/v1/jobs/7/cancel", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_CANCEL);
    assert_int_equal(r.job, 7);
    assert_int_equal(route("GET", "/api/v1/nodes", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_NODES);
    assert_int_equal(route("GET", "/api/v1/nodes/n-1.a@b", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_NODE);
    assert_string_equal(r.node, "n-1.a@b");
    assert_int_equal(route("POST", "/api/v1/nodes/n1/drain", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_DRAIN);
    assert_true(r.body);
    assert_string_equal(r.node, "n1");
    assert_int_equal(route("POST", "/api/v1/nodes/n1/resume", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_RESUME);
    assert_int_equal(route("GET", "/api/v1/watch", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_WATCH);
    assert_false(r.body);
    assert_int_equal(route("POST", "/api/v1/watch", &r, allow, &err), 405);
    assert_string_equal(allow, "GET");
    assert_int_equal(route("GET", "/api/v1/watch/jobs", &r, allow, &err), 404);
}

/* A watch's one parameter: kinds (default both); the list parameters are not its. */
static void test_watch_kinds(void **state)
{
    (void)state;
    cl_rest_list_t l;
    cl_error_t err;
    assert_int_equal(cl_rest_list_parse(CL_REST_WATCH, NULL, 0, &l, &err), 0);
    assert_int_equal(l.kinds, CL_REST_KIND_JOBS | CL_REST_KIND_NODES);
    static const struct {
        const char *v;
        uint32_t kinds;
    } good[] = {{"jobs", CL_REST_KIND_JOBS},
                {"nodes", CL_REST_KIND_NODES},
                {"nodes,jobs", CL_REST_KIND_JOBS | CL_REST_KIND_NODES},
                {"jobs,jobs", CL_REST_KIND_JOBS}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cl_rest_kv_t kv = {"kinds", good[i].v};
        assert_int_equal(cl_rest_list_parse(CL_REST_WATCH, &kv, 1, &l, &err), 0);
        assert_int_equal(l.kinds, good[i].kinds);
    }
    static const struct {
        cl_rest_op_t op;
        cl_rest_kv_t kv;
        const char *named;
    } bad[] = {
        {CL_REST_WATCH, {"kinds", ""}, "'kinds'"},
        {CL_REST_WATCH, {"kinds", NULL}, "'kinds'"},
        {CL_REST_WATCH, {"kinds", "jobs,"}, "'kinds'"},
        {CL_REST_WATCH, {"kinds", "tenants"}, "'tenants'"},
        {CL_REST_WATCH, {"kinds", "Jobs"}, "'Jobs'"},
        {CL_REST_WATCH, {"limit", "5"}, "'limit'"},
        {CL_REST_WATCH, {"state", "up"}, "'state'"},
        {CL_REST_JOBS, {"kinds", "jobs"}, "'kinds'"},
        {CL_REST_NODES, {"kinds", "nodes"}, "'kinds'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l.kinds = 77;
        assert_int_equal(cl_rest_list_parse(bad[i].op, &bad[i].kv, 1, &l, &err), -1);
        assert_non_null(strstr(err.msg, bad[i].named));
        assert_int_equal(l.kinds, 77); /* untouched */
    }
    cl_rest_kv_t twice[] = {{"kinds", "jobs"}, {"kinds", "nodes"}};
    assert_int_equal(cl_rest_list_parse(CL_REST_WATCH, twice, 2, &l, &err), -1);
    assert_non_null(strstr(err.msg, "twice"));
}

static void test_route_errors(void **state)
{
    (void)state;
    cl_rest_route_t r;
    char allow[32];
    cl_error_t err;
    static const char *const missing[] = {"/",
                                          "/api/v2/jobs",
                                          "/api/v1",
                                          "/api/v1/",
                                          "/api/v1/job",
                                          "/api/v1/jobs/",
                                          "/api/v1//jobs",
                                          "/api/v1/jobs/1/x",
                                          "/api/v1/jobs/1/cancel/x",
                                          "/api/v1/nodes/n1/reboot",
                                          "/api/v1/jobs/0",
                                          "/api/v1/jobs/abc",
                                          "/api/v1/jobs/-1",
                                          "/api/v1/jobs/18446744073709551616",
                                          "/api/v1/jobs/1x"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        assert_int_equal(route("GET", missing[i], &r, allow, &err), 404);
        assert_non_null(strstr(err.msg, "no "));
    }
    assert_int_equal(route("GET", "/api/v1/jobs/abc", &r, allow, &err), 404);
    assert_non_null(strstr(err.msg, "'abc'"));
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "/api/v1/nodes/", 14);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(route("GET", longname, &r, allow, &err), 404);
    assert_int_equal(route("PUT", "/api/v1/jobs", &r, allow, &err), 405);
    assert_string_equal(allow, "GET, POST");
    assert_non_null(strstr(err.msg, "PUT"));
    assert_int_equal(route("POST", "/api/v1/jobs/3", &r, allow, &err), 405);
    assert_string_equal(allow, "GET, DELETE");
    assert_int_equal(route("GET", "/api/v1/jobs/3/cancel", &r, allow, &err), 405);
    assert_string_equal(allow, "POST");
    assert_int_equal(route("DELETE", "/api/v1/whoami", &r, allow, &err), 405);
    assert_string_equal(allow, "GET");
    assert_int_equal(route("GET", "/api/v1/nodes/n1/drain", &r, allow, &err), 405);
}

static int list(cl_rest_op_t op, const cl_rest_kv_t *q, size_t n, cl_rest_list_t *l,
                cl_error_t *err)
{
    return cl_rest_list_parse(op, q, n, l, err);
}

static void test_list_params(void **state)
{
    (void)state;
    cl_rest_list_t l;
    cl_error_t err;
    assert_int_equal(list(CL_REST_JOBS, NULL, 0, &l, &err), 0);
    assert_int_equal(l.limit, CL_REST_PAGE_DEFAULT);
    assert_true(l.after == 0 && l.states == 0 && !l.all && !l.tenant && !l.user);
    cl_rest_kv_t q[] = {{"limit", "5"},  {"after", "12"}, {"state", "pending,running"},
                        {"tenant", "A"}, {"user", "bob"}, {"all", NULL}};
    assert_int_equal(list(CL_REST_JOBS, q, 6, &l, &err), 0);
    assert_int_equal(l.limit, 5);
    assert_int_equal(l.after, 12);
    assert_int_equal(l.states, (1u << CL_JOB_PENDING) | (1u << CL_JOB_RUNNING));
    assert_string_equal(l.tenant, "A");
    assert_string_equal(l.user, "bob");
    assert_true(l.all);
    cl_rest_kv_t done[] = {{"state", "succeeded"}};
    assert_int_equal(list(CL_REST_JOBS, done, 1, &l, &err), 0);
    assert_true(l.all); /* a finished state implies the finished jobs */
    cl_rest_kv_t nodes[] = {{"state", "drained,up"}, {"after", "3"}};
    assert_int_equal(list(CL_REST_NODES, nodes, 2, &l, &err), 0);
    assert_int_equal(l.states, (1u << CL_NODE_DRAINED) | (1u << CL_NODE_UP));

    static const struct {
        cl_rest_op_t op;
        cl_rest_kv_t kv;
        const char *named;
    } bad[] = {
        {CL_REST_JOBS, {"limit", "0"}, "'limit'"},
        {CL_REST_JOBS, {"limit", "10001"}, "'limit'"},
        {CL_REST_JOBS, {"limit", "x"}, "'limit'"},
        {CL_REST_JOBS, {"after", "-1"}, "'after'"},
        {CL_REST_NODES, {"after", "4294967296"}, "'after'"},
        {CL_REST_JOBS, {"state", "up"}, "'up'"},
        {CL_REST_NODES, {"state", "running"}, "'running'"},
        {CL_REST_JOBS, {"state", "running,"}, "'state'"},
        {CL_REST_JOBS, {"all", "maybe"}, "'all'"},
        {CL_REST_NODES, {"tenant", "A"}, "'tenant'"},
        {CL_REST_JOBS, {"sort", "id"}, "'sort'"},
        {CL_REST_JOB, {"limit", "1"}, "'limit'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l.limit = 77;
        assert_int_equal(list(bad[i].op, &bad[i].kv, 1, &l, &err), -1);
        assert_non_null(strstr(err.msg, bad[i].named));
        assert_int_equal(l.limit, 77); /* untouched */
    }
    cl_rest_kv_t twice[] = {{"limit", "1"}, {"limit", "2"}};
    assert_int_equal(list(CL_REST_JOBS, twice, 2, &l, &err), -1);
    assert_non_null(strstr(err.msg, "twice"));
}

static void test_matches(void **state)
{
    (void)state;
    cl_rest_kv_t q[] = {{"state", "running"}, {"tenant", "A"}, {"after", "5"}};
    cl_rest_list_t l;
    cl_error_t err;
    assert_int_equal(cl_rest_list_parse(CL_REST_JOBS, q, 3, &l, &err), 0);
    Colossus__JobInfo j = COLOSSUS__JOB_INFO__INIT;
    j.id = 6;
    j.state = "running";
    j.tenant = "A";
    assert_true(cl_rest_job_matches(&l, &j));
    j.id = 5;
    assert_false(cl_rest_job_matches(&l, &j)); /* the cursor is exclusive */
    j.id = 6;
    j.tenant = "B";
    assert_false(cl_rest_job_matches(&l, &j));
    j.tenant = "A";
    j.state = "pending";
    assert_false(cl_rest_job_matches(&l, &j));
    Colossus__NodeInfo n = COLOSSUS__NODE_INFO__INIT;
    cl_rest_kv_t nq[] = {{"state", "down"}};
    assert_int_equal(cl_rest_list_parse(CL_REST_NODES, nq, 1, &l, &err), 0);
    n.id = 0;
    n.state = "down";
    assert_true(cl_rest_node_matches(&l, &n));
    n.state = "up";
    assert_false(cl_rest_node_matches(&l, &n));
    cl_rest_kv_t after0[] = {{"after", "0"}};
    assert_int_equal(cl_rest_list_parse(CL_REST_NODES, after0, 1, &l, &err), 0);
    assert_false(cl_rest_node_matches(&l, &n)); /* node 0 was on the page before */
    n.id = 1;
    assert_true(cl_rest_node_matches(&l, &n));
}

static int submit(const char *body, Colossus__SubmitReq *s, json_t **doc, cl_error_t *err)
{
    return cl_rest_submit_parse(body, strlen(body), s, doc, err);
}

static void test_submit_body(void **state)
{
    (void)state;
    Colossus__SubmitReq s;
    json_t *doc;
    cl_error_t err;
    assert_int_equal(submit("{\"argv\": [\"/bin/echo\", \"hi\"]}", &s, &doc, &err), 0);
    assert_int_equal(s.n_argv, 2);
    assert_string_equal(s.argv[1], "hi");
    assert_string_equal(s.name, "echo"); /* the command's base name, as the CLI */
    assert_int_equal(s.nodes, 1);
    assert_int_equal(s.max_restarts, 3);
    assert_int_equal(s.gpus_per_node, 0);
    assert_true(s.time_limit_min == 0);
    assert_string_equal(s.tenant, "");
    free(s.argv);
    free(s.env);
    json_decref(doc);
    assert_int_equal(submit("{\"argv\": [\"train\"], \"name\": \"t\", \"tenant\": \"A\", "
                            "\"num_nodes\": 4, \"gpus_per_node\": 8, \"priority\": -5, "
                            "\"time_limit_min\": 1.5, \"max_restarts\": 0, \"env\": "
                            "[\"A=1\", \"B=2\"], \"cwd\": \"/w\"}",
                            &s, &doc, &err),
                     0);
    assert_string_equal(s.name, "t");
    assert_string_equal(s.tenant, "A");
    assert_int_equal(s.nodes, 4);
    assert_int_equal(s.gpus_per_node, 8);
    assert_int_equal(s.priority, -5);
    assert_true(s.time_limit_min == 1.5);
    assert_int_equal(s.max_restarts, 0);
    assert_int_equal(s.n_env, 2);
    assert_string_equal(s.env[1], "B=2");
    assert_string_equal(s.cwd, "/w");
    free(s.argv);
    free(s.env);
    json_decref(doc);
    assert_int_equal(submit("{\"argv\": [\"x\"], \"time_limit_min\": null}", &s, &doc, &err),
                     0);
    free(s.argv);
    json_decref(doc);
}

static void test_submit_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body, *named;
    } bad[] = {
        {"", "malformed JSON"},
        {"{\"argv\": [\"x\"]", "malformed JSON"},
        {"[1]", "JSON object"},
        {"{}", "'argv' is required"},
        {"{\"argv\": []}", "'argv' is required"},
        {"{\"argv\": [\"\"]}", "empty"},
        {"{\"argv\": \"ls\"}", "'argv' must be an array"},
        {"{\"argv\": [\"ls\", 3]}", "item 1"},
        {"{\"argv\": [\"x\"], \"nodes\": 2}", "unknown field 'nodes'"},
        {"{\"argv\": [\"x\"], \"num_nodes\": 0}", "'num_nodes'"},
        {"{\"argv\": [\"x\"], \"num_nodes\": \"2\"}", "'num_nodes'"},
        {"{\"argv\": [\"x\"], \"num_nodes\": 1.5}", "'num_nodes'"},
        {"{\"argv\": [\"x\"], \"gpus_per_node\": 65}", "'gpus_per_node'"},
        {"{\"argv\": [\"x\"], \"priority\": 1000001}", "'priority'"},
        {"{\"argv\": [\"x\"], \"max_restarts\": -1}", "'max_restarts'"},
        {"{\"argv\": [\"x\"], \"name\": 5}", "'name'"},
        {"{\"argv\": [\"x\"], \"env\": {\"A\": \"1\"}}", "'env'"},
        {"{\"argv\": [\"x\"], \"time_limit_min\": 0}", "'time_limit_min'"},
        {"{\"argv\": [\"x\"], \"time_limit_min\": \"1\"}", "'time_limit_min'"},
        {"{\"argv\": [\"x\"], \"time_limit_min\": 525601}", "'time_limit_min'"},
        {"{\"argv\": [\"x\"], \"cwd\": \"rel\"}", "'cwd'"},
        {"{\"argv\": [\"x\"], \"argv\": [\"y\"]}", "malformed JSON"}, /* a duplicate key */
        {"{\"argv\": [\"x\\u0000y\"]}", "malformed JSON"},            /* a NUL in a string */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Colossus__SubmitReq s;
        json_t *doc = (json_t *)1;
        cl_error_t err;
        assert_int_equal(submit(bad[i].body, &s, &doc, &err), -1);
        if (!strstr(err.msg, bad[i].named))
            fail_msg("body %s: '%s' does not say '%s'", bad[i].body, err.msg, bad[i].named);
        assert_null(s.argv);
    }
}

static void test_admin_body(void **state)
{
    (void)state;
    const char *reason;
    json_t *doc;
    cl_error_t err;
    assert_int_equal(cl_rest_admin_parse("", 0, &reason, &doc, &err), 0);
    assert_null(reason);
    assert_null(doc);
    assert_int_equal(cl_rest_admin_parse(" \n", 2, &reason, &doc, &err), 0);
    assert_null(reason);
    const char *b = "{\"reason\": \"fan\"}";
    assert_int_equal(cl_rest_admin_parse(b, strlen(b), &reason, &doc, &err), 0);
    assert_string_equal(reason, "fan");
    json_decref(doc);
    b = "{\"reason\": 1}";
    assert_int_equal(cl_rest_admin_parse(b, strlen(b), &reason, &doc, &err), -1);
    assert_non_null(strstr(err.msg, "'reason'"));
    b = "{\"why\": \"x\"}";
    assert_int_equal(cl_rest_admin_parse(b, strlen(b), &reason, &doc, &err), -1);
    assert_non_null(strstr(err.msg, "unknown field 'why'"));
    b = "{";
    assert_int_equal(cl_rest_admin_parse(b, strlen(b), &reason, &doc, &err), -1);
}

static void test_error_status(void **state)
{
    (void)state;
    assert_int_equal(cl_rest_error_status("drain: permission denied: only an operator or "
                                          "admin may do this"),
                     403);
    assert_int_equal(cl_rest_error_status("cancel refused: job 3 is another user's (its "
                                          "tenant's manager or an admin may cancel it)"),
                     403);
    assert_int_equal(cl_rest_error_status("submit refused: user alice is not in tenant B"),
                     403);
    assert_int_equal(cl_rest_error_status("submit refused: priority 9 is above what QOS q "
                                          "allows (0)"),
                     403);
    assert_int_equal(cl_rest_error_status("submit refused: 16 GPUs is more than QOS q allows "
                                          "per job (8)"),
                     403);
    assert_int_equal(cl_rest_error_status("no job 12"), 404);
    assert_int_equal(cl_rest_error_status("no node named 'x'"), 404);
    assert_int_equal(cl_rest_error_status("job 3 already succeeded"), 409);
    assert_int_equal(cl_rest_error_status("submit refused: no command given"), 400);
    assert_int_equal(cl_rest_error_status("submit refused: no tenant 'Z'"), 400);
}

static void test_error_body(void **state)
{
    (void)state;
    size_t n;
    char *b = cl_rest_error_body("no job \"7\"", &n);
    assert_string_equal(b, "{\"error\":\"no job \\\"7\\\"\"}\n");
    assert_int_equal(n, strlen(b));
    free(b);
    b = cl_rest_error_body("no node named '\xff'", &n);
    assert_string_equal(b, "{\"error\":\"no node named '?'\"}\n");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),      cmocka_unit_test(test_route_errors),
        cmocka_unit_test(test_list_params), cmocka_unit_test(test_matches),
        cmocka_unit_test(test_submit_body), cmocka_unit_test(test_submit_errors),
        cmocka_unit_test(test_admin_body),  cmocka_unit_test(test_error_status),
        cmocka_unit_test(test_error_body),  cmocka_unit_test(test_watch_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
