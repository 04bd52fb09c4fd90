/* test_api_rest.c - the REST API's pure parts (src/api/rest.c): routes (each resource, its
 * methods, 404 and 405 with the methods allowed, job ids and node names from the path), list
 * parameters (filters, the page and its cursor, each bad one named), a submission body to a
 * SubmitReq (defaults, every field, unknown fields and wrong types named), drain bodies, the
 * service routes (tenants, users, QOS, tokens, usage, history, audit, logs, the API's
 * description) with their query parameters, token and tenant bodies, the status of the
 * controller's refusals, and the error body. */
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

/* The list's parameters as the controller's page request: the state bits are the core's
 * state numbers, which the controller tests (tests/unit/test_ctl_pages.c). */
static void test_list_req(void **state)
{
    (void)state;
    cl_rest_kv_t q[] = {
        {"state", "running,pending"}, {"tenant", "A"}, {"after", "5"}, {"limit", "7"}};
    cl_rest_list_t l;
    cl_error_t err;
    assert_int_equal(cl_rest_list_parse(CL_REST_JOBS, q, 4, &l, &err), 0);
    Colossus__ListReq p;
    cl_rest_list_req(&l, &p);
    assert_int_equal(p.states, (1u << CL_JOB_RUNNING) | (1u << CL_JOB_PENDING));
    assert_string_equal(p.tenant, "A");
    assert_string_equal(p.user, "");
    assert_true(p.has_after);
    assert_int_equal(p.after, 5);
    assert_int_equal(p.limit, 7);
    assert_false(p.all);
    cl_rest_kv_t fin[] = {{"state", "succeeded"}};
    assert_int_equal(cl_rest_list_parse(CL_REST_JOBS, fin, 1, &l, &err), 0);
    cl_rest_list_req(&l, &p);
    assert_true(p.all); /* a finished state is only found among finished jobs */
    assert_int_equal(p.states, 1u << CL_JOB_SUCCEEDED);
    cl_rest_kv_t nq[] = {{"state", "down,drained"}};
    assert_int_equal(cl_rest_list_parse(CL_REST_NODES, nq, 1, &l, &err), 0);
    cl_rest_list_req(&l, &p);
    assert_int_equal(p.states, (1u << CL_NODE_DOWN) | (1u << CL_NODE_DRAINED));
    assert_false(p.has_after);
    assert_int_equal(p.limit, CL_REST_PAGE_DEFAULT);
    cl_rest_kv_t after0[] = {{"after", "0"}};
    assert_int_equal(cl_rest_list_parse(CL_REST_NODES, after0, 1, &l, &err), 0);
    cl_rest_list_req(&l, &p);
    assert_true(p.has_after); /* node 0 was on the page before */
    assert_int_equal(p.after, 0);
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

/* The fields of colossus submit's Slurm options (issue 15). */
static void test_submit_slurm_fields(void **state)
{
    (void)state;
    Colossus__SubmitReq s;
    json_t *doc;
    cl_error_t err;
    assert_int_equal(
        submit("{\"argv\": [\"x\"], \"ntasks_per_node\": 1, \"chdir\": \"/w\", "
               "\"output\": \"o.%j.%t\", \"error\": \"e.%%\", \"qos\": \"normal\", "
               "\"cpus_per_gpu\": 12, \"mem_per_gpu_mb\": 65536}",
               &s, &doc, &err),
        0);
    assert_int_equal(s.ntasks_per_node, 1);
    assert_string_equal(s.cwd, "/w");
    assert_true(s.cwd_strict);
    assert_string_equal(s.output, "o.%j.%t");
    assert_string_equal(s.error, "e.%%");
    assert_string_equal(s.qos, "normal");
    assert_int_equal(s.cpus_per_gpu, 12);
    assert_int_equal(s.mem_per_gpu_mb, 65536);
    free(s.argv);
    json_decref(doc);
    assert_int_equal(submit("{\"argv\": [\"x\"], \"cwd\": \"/w\"}", &s, &doc, &err), 0);
    assert_false(s.cwd_strict); /* a cwd is a default, not a demand */
    assert_int_equal(s.ntasks_per_node, 0);
    free(s.argv);
    json_decref(doc);
    /* placement constraints: a nodelist without num_nodes gives one node a name (Slurm's) */
    assert_int_equal(submit("{\"argv\": [\"x\"], \"exclusive\": true, \"nodelist\": "
                            "\"n[1-3]\", \"exclude\": \"n9\"}",
                            &s, &doc, &err),
                     0);
    assert_true(s.exclusive);
    assert_string_equal(s.nodelist, "n[1-3]");
    assert_string_equal(s.exclude, "n9");
    assert_int_equal(s.nodes, 3);
    free(s.argv);
    json_decref(doc);
    assert_int_equal(submit("{\"argv\": [\"x\"], \"num_nodes\": 2, \"nodelist\": \"n[1-3]\"}",
                            &s, &doc, &err),
                     0);
    assert_int_equal(s.nodes, 2);
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
        {"{\"argv\": [\"x\"], \"ntasks_per_node\": 0}", "'ntasks_per_node'"},
        {"{\"argv\": [\"x\"], \"ntasks_per_node\": 65}", "'ntasks_per_node'"},
        {"{\"argv\": [\"x\"], \"cpus_per_gpu\": 0}", "'cpus_per_gpu'"},
        {"{\"argv\": [\"x\"], \"mem_per_gpu_mb\": \"64G\"}", "'mem_per_gpu_mb'"},
        {"{\"argv\": [\"x\"], \"chdir\": \"rel\"}", "'chdir' must be an absolute path"},
        {"{\"argv\": [\"x\"], \"chdir\": \"/a\", \"cwd\": \"/b\"}", "not both"},
        {"{\"argv\": [\"x\"], \"output\": \"o.%q\"}", "field 'output': output 'o.%q': unknown"},
        {"{\"argv\": [\"x\"], \"error\": \"e.%B\"}", "field 'error'"},
        {"{\"argv\": [\"x\"], \"dependency\": \"after:1\"}", "field 'dependency'"},
        {"{\"argv\": [\"x\"], \"hold\": 1}", "field 'hold' must be true or false"},
        {"{\"argv\": [\"x\"], \"array\": \"5-1\"}", "field 'array': --array 5-1"},
        {"{\"argv\": [\"x\"], \"output\": \"\"}", "field 'output'"},
        {"{\"argv\": [\"x\"], \"qos\": 1}", "'qos'"},
        {"{\"argv\": [\"x\"], \"nodelist\": \"n[1-\"}", "field 'nodelist': 'n[1-' at byte"},
        {"{\"argv\": [\"x\"], \"exclude\": \"\"}", "field 'exclude'"},
        {"{\"argv\": [\"x\"], \"exclusive\": \"yes\"}", "field 'exclusive'"},
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

static void test_svc_routes(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path;
        cl_rest_op_t op;
        const char *name;
    } ok[] = {
        {"GET", "/api/v1/tenants", CL_REST_TENANTS, ""},
        {"GET", "/api/v1/tenants/research", CL_REST_TENANT, "research"},
        {"POST", "/api/v1/tenants", CL_REST_TENANT_ADD, ""},
        {"PATCH", "/api/v1/tenants/research", CL_REST_TENANT_SET, "research"},
        {"GET", "/api/v1/users", CL_REST_USERS, ""},
        {"GET", "/api/v1/qos", CL_REST_QOS, ""},
        {"GET", "/api/v1/tokens", CL_REST_TOKENS, ""},
        {"POST", "/api/v1/tokens", CL_REST_TOKEN_CREATE, ""},
        {"GET", "/api/v1/tokens/tk-0123456789abcdef", CL_REST_TOKEN, "tk-0123456789abcdef"},
        {"DELETE", "/api/v1/tokens/nd-0123456789abcdef", CL_REST_TOKEN_REVOKE,
         "nd-0123456789abcdef"},
        {"GET", "/api/v1/usage", CL_REST_USAGE, ""},
        {"GET", "/api/v1/history", CL_REST_HISTORY, ""},
        {"HEAD", "/api/v1/audit", CL_REST_AUDIT, ""},
        {"GET", "/api/v1/openapi.json", CL_REST_OPENAPI, ""},
        {"GET", "/api/v1/schema.json", CL_REST_SCHEMA, ""},
        {"GET", "/api/v1/power", CL_REST_POWER, ""},
        {"POST", "/api/v1/power/budget", CL_REST_POWER_BUDGET, ""},
        {"POST", "/api/v1/power/cut", CL_REST_POWER_CUT, ""},
        {"POST", "/api/v1/power/restore", CL_REST_POWER_RESTORE, ""},
    };
    cl_rest_route_t r;
    char allow[32];
    cl_error_t err;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(route(ok[i].method, ok[i].path, &r, allow, &err), 0);
        assert_int_equal(r.op, ok[i].op);
        assert_string_equal(r.node, ok[i].name);
        assert_true(cl_rest_op_svc(r.op));
        assert_int_equal(r.body,
                         r.op == CL_REST_TOKEN_CREATE || r.op == CL_REST_TENANT_ADD ||
                             r.op == CL_REST_TENANT_SET || r.op == CL_REST_POWER_BUDGET ||
                             r.op == CL_REST_POWER_CUT || r.op == CL_REST_POWER_RESTORE);
        assert_int_equal(cl_rest_op_public(r.op),
                         r.op == CL_REST_OPENAPI || r.op == CL_REST_SCHEMA);
    }
    assert_int_equal(route("GET", "/api/v1/jobs/9/logs", &r, allow, &err), 0);
    assert_int_equal(r.op, CL_REST_LOGS);
    assert_int_equal(r.job, 9);
    assert_false(cl_rest_op_svc(CL_REST_RESUME));
    /* a token id is checked in the path, as a job id is */
    assert_int_equal(route("DELETE", "/api/v1/tokens/tk-0123", &r, allow, &err), 404);
    assert_non_null(strstr(err.msg, "no token 'tk-0123'"));
    assert_int_equal(route("GET", "/api/v1/tokens/TK-0123456789ABCDEF", &r, allow, &err), 404);
    assert_int_equal(route("GET", "/api/v1/jobs/0/logs", &r, allow, &err), 404);
    assert_int_equal(route("POST", "/api/v1/tokens/tk-0123456789abcdef", &r, allow, &err), 405);
    assert_string_equal(allow, "GET, DELETE");
    assert_int_equal(route("DELETE", "/api/v1/tenants/x", &r, allow, &err), 405);
    assert_string_equal(allow, "GET, PATCH");
    assert_int_equal(route("POST", "/api/v1/openapi.json", &r, allow, &err), 405);
    assert_int_equal(route("GET", "/api/v1/tenants/x/y", &r, allow, &err), 404);
    assert_int_equal(route("PUT", "/api/v1/power", &r, allow, &err), 405);
    assert_string_equal(allow, "GET");
    assert_int_equal(route("GET", "/api/v1/power/cut", &r, allow, &err), 405);
    assert_string_equal(allow, "POST");
}

/* The bodies of POST /power/budget, /cut and /restore: each form taken, each refusal named. */
static void test_power_body(void **state)
{
    (void)state;
    Colossus__PowerSpec s;
    json_t *doc;
    cl_error_t err;
    const char *b = "{\"budget\": \"700MW\", \"pod\": \"p1\"}";
    assert_int_equal(cl_rest_power_parse(CL_REST_POWER_BUDGET, b, strlen(b), &s, &doc, &err),
                     0);
    assert_int_equal(s.op, COLOSSUS__POWER_SPEC__OP__BUDGET);
    assert_true(s.budget_w == 700e6);
    assert_string_equal(s.pod, "p1");
    json_decref(doc);
    b = "{\"budget_w\": 0}";
    assert_int_equal(cl_rest_power_parse(CL_REST_POWER_BUDGET, b, strlen(b), &s, &doc, &err),
                     0);
    assert_true(s.budget_w == 0);
    assert_string_equal(s.pod, "");
    json_decref(doc);
    b = "{\"cut_pct\": 30, \"for_s\": 600}";
    assert_int_equal(cl_rest_power_parse(CL_REST_POWER_CUT, b, strlen(b), &s, &doc, &err), 0);
    assert_int_equal(s.op, COLOSSUS__POWER_SPEC__OP__CUT);
    assert_true(s.cut_pct == 30 && s.for_s == 600);
    json_decref(doc);
    assert_int_equal(cl_rest_power_parse(CL_REST_POWER_RESTORE, "", 0, &s, &doc, &err), 0);
    assert_int_equal(s.op, COLOSSUS__POWER_SPEC__OP__RESTORE);
    assert_null(doc);
    static const struct {
        cl_rest_op_t op;
        const char *body, *says;
    } bad[] = {
        {CL_REST_POWER_BUDGET, "", "a body is required"},
        {CL_REST_POWER_BUDGET, "{}", "field 'budget_w' (W, 0: none) or 'budget'"},
        {CL_REST_POWER_BUDGET, "{\"budget\": \"700\"}", "field 'budget': '700' has no unit"},
        {CL_REST_POWER_BUDGET, "{\"budget\": \"7XW\"}", "unknown unit 'XW'"},
        {CL_REST_POWER_BUDGET, "{\"budget_w\": -1}", "field 'budget_w' must be a number"},
        {CL_REST_POWER_BUDGET, "{\"budget_w\": 1, \"budget\": \"1W\"}", "not both"},
        {CL_REST_POWER_BUDGET, "{\"watts\": 1}", "watts"},
        {CL_REST_POWER_CUT, "{}", "field 'cut_pct' is required"},
        {CL_REST_POWER_CUT, "{\"cut_pct\": 101}",
         "field 'cut_pct' must be a number from 0 to 100"},
        {CL_REST_POWER_CUT, "{\"cut_pct\": 0}", "must be more than 0"},
        {CL_REST_POWER_CUT, "{\"cut_pct\": \"30%\"}", "field 'cut_pct' must be a number"},
        {CL_REST_POWER_CUT, "{\"cut_pct\": 30, \"for_s\": -1}", "field 'for_s'"},
        {CL_REST_POWER_RESTORE, "{\"x\": 1}", "'x'"},
        {CL_REST_POWER_RESTORE, "[", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc =
            cl_rest_power_parse(bad[i].op, bad[i].body, strlen(bad[i].body), &s, &doc, &err);
        if (rc != -1 || !strstr(err.msg, bad[i].says))
            fail_msg("power body '%s': rc %d, '%s'", bad[i].body, rc, rc ? err.msg : "");
    }
}

static int svc(cl_rest_op_t op, const char *k1, const char *v1, const char *k2, const char *v2,
               cl_rest_svc_t *s, cl_error_t *err)
{
    cl_rest_kv_t kv[2] = {{k1, v1}, {k2, v2}};
    return cl_rest_svc_parse(op, kv, k2 ? 2 : k1 ? 1 : 0, 1796083200.0, s, err);
}

static void test_svc_params(void **state)
{
    (void)state;
    cl_rest_svc_t s;
    cl_error_t err;
    /* 1796083200 is 2026-12-01T00:00:00Z */
    assert_int_equal(svc(CL_REST_HISTORY, "since", "7d", "until", "2026-12-01", &s, &err), 0);
    assert_true(s.since == 1796083200.0 - 7 * 86400 && s.until == 1796083200.0);
    assert_int_equal(
        svc(CL_REST_HISTORY, "since", "1700000000.5", "state", "node_fail", &s, &err), 0);
    assert_true(s.since == 1700000000.5);
    assert_string_equal(s.state, "node_fail");
    assert_int_equal(svc(CL_REST_HISTORY, "limit", "1000000", "tenant", "A", &s, &err), 0);
    assert_int_equal(s.limit, 1000000);
    assert_string_equal(s.tenant, "A");
    assert_int_equal(
        svc(CL_REST_HISTORY, "job", "18446744073709551615", "state", "requeued", &s, &err), 0);
    assert_true(s.job == UINT64_MAX);
    assert_int_equal(svc(CL_REST_HISTORY, "since", "6h", NULL, NULL, &s, &err), 0);
    assert_true(s.job == 0); /* not given: every job */
    assert_int_equal(svc(CL_REST_USAGE, "by", "month", "user", "ada", &s, &err), 0);
    assert_string_equal(s.by, "month");
    assert_string_equal(s.user, "ada");
    assert_int_equal(svc(CL_REST_AUDIT, "user", "ada", "limit", "5", &s, &err), 0);
    assert_int_equal(s.limit, 5);
    assert_int_equal(svc(CL_REST_LOGS, "rank", "3", NULL, NULL, &s, &err), 0);
    assert_true(s.has_rank && s.rank == 3);
    assert_int_equal(svc(CL_REST_LOGS, NULL, NULL, NULL, NULL, &s, &err), 0);
    assert_true(!s.has_rank && s.rank == 0 && s.since == 0 && !s.by[0]);
    /* each refusal names its parameter */
    static const struct {
        cl_rest_op_t op;
        const char *k, *v, *says;
    } bad[] = {
        {CL_REST_HISTORY, "since", "yesterday", "'since': 'yesterday' is not a time"},
        {CL_REST_HISTORY, "until", "", "'until'"},
        {CL_REST_HISTORY, "state", "running", "'state': 'running' is not one of succeeded"},
        {CL_REST_HISTORY, "limit", "0", "'limit' must be a number in 1..1000000"},
        {CL_REST_HISTORY, "by", "day", "unknown query parameter 'by'"},
        {CL_REST_HISTORY, "job", "0", "'job' must be a job id (a positive number), not '0'"},
        {CL_REST_HISTORY, "job", "7x", "'job' must be a job id (a positive number), not '7x'"},
        {CL_REST_HISTORY, "job", "", "'job' must be a job id"},
        {CL_REST_HISTORY, "job", "18446744073709551616", "'job' must be a job id"},
        {CL_REST_USAGE, "job", "3", "unknown query parameter 'job'"},
        {CL_REST_AUDIT, "job", "3", "unknown query parameter 'job'"},
        {CL_REST_USAGE, "by", "week", "'by': 'week' is not one of tenant, user, day or month"},
        {CL_REST_USAGE, "state", "failed", "unknown query parameter 'state'"},
        {CL_REST_USAGE, "tenant", "", "'tenant' must be a name of 1 to 64 bytes"},
        {CL_REST_AUDIT, "until", "now", "unknown query parameter 'until'"},
        {CL_REST_LOGS, "rank", "-1", "'rank' must be a number in 0..100000000"},
        {CL_REST_LOGS, "tail", "10", "unknown query parameter 'tail'"},
        {CL_REST_TENANTS, "all", NULL, "unknown query parameter 'all'"},
        {CL_REST_OPENAPI, "x", "1", "unknown query parameter 'x'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(svc(bad[i].op, bad[i].k, bad[i].v, NULL, NULL, &s, &err), -1);
        if (!strstr(err.msg, bad[i].says)) fail_msg("%s: '%s'", bad[i].says, err.msg);
    }
    char longname[70];
    memset(longname, 'a', 65);
    longname[65] = 0;
    assert_int_equal(svc(CL_REST_USAGE, "user", longname, NULL, NULL, &s, &err), -1);
    assert_int_equal(svc(CL_REST_AUDIT, "limit", "1", "limit", "2", &s, &err), -1);
    assert_non_null(strstr(err.msg, "'limit' is given twice"));
    assert_int_equal(
        svc(CL_REST_HISTORY, "since", "2026-12-01", "until", "2026-11-01", &s, &err), -1);
    assert_non_null(strstr(err.msg, "'until' must be later than 'since'"));
}

static void test_token_body(void **state)
{
    (void)state;
    Colossus__TokenReq t;
    json_t *doc;
    cl_error_t err;
    assert_int_equal(cl_rest_token_parse("", 0, &t, &doc, &err), 0);
    assert_null(doc);
    assert_string_equal(t.user, "");
    assert_string_equal(t.scope, "");
    assert_true(t.expires_in_s == 0 && !t.node);
    const char *b = "{\"user\": \"ada\", \"scope\": \"read\", \"expires_in_s\": 3600}";
    assert_int_equal(cl_rest_token_parse(b, strlen(b), &t, &doc, &err), 0);
    assert_string_equal(t.user, "ada");
    assert_string_equal(t.scope, "read");
    assert_true(t.expires_in_s == 3600);
    json_decref(doc);
    b = "{\"expires_in_s\": null}";
    assert_int_equal(cl_rest_token_parse(b, strlen(b), &t, &doc, &err), 0);
    assert_true(t.expires_in_s == 0);
    json_decref(doc);
    static const struct {
        const char *body, *says;
    } bad[] = {
        {"{\"scope\": \"root\"}", "field 'scope' must be read, submit or admin"},
        {"{\"scope\": 1}", "field 'scope' must be a string"},
        {"{\"user\": [\"a\"]}", "field 'user' must be a string"},
        {"{\"expires_in_s\": 0}", "field 'expires_in_s' must be a number of seconds from 1"},
        {"{\"expires_in_s\": \"30d\"}", "field 'expires_in_s'"},
        {"{\"expires_in_s\": 1e12}", "field 'expires_in_s'"},
        {"{\"node\": true}", "unknown field 'node'"},
        {"[]", "the body must be a JSON object"},
        {"{\"user\": \"a\", \"user\": \"b\"}", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cl_rest_token_parse(bad[i].body, strlen(bad[i].body), &t, &doc, &err),
                         -1);
        if (!strstr(err.msg, bad[i].says)) fail_msg("%s: '%s'", bad[i].says, err.msg);
    }
}

static bool has_set(const Colossus__TenantSpec *t, const char *f)
{
    for (size_t i = 0; i < t->n_set; i++)
        if (!strcmp(t->set[i], f)) return true;
    return false;
}

static void test_tenant_body(void **state)
{
    (void)state;
    Colossus__TenantSpec t;
    json_t *doc;
    cl_error_t err;
    const char *b = "{\"name\": \"C\"}";
    assert_int_equal(cl_rest_tenant_parse(b, strlen(b), NULL, &t, &doc, &err), 0);
    assert_string_equal(t.name, "C");
    assert_true(t.create && t.shares == 1 && t.quota_gpus == -1 && t.lend_limit == -1);
    assert_int_equal(t.n_set, 0);
    free(t.set);
    json_decref(doc);
    b = "{\"name\": \"C\", \"parent\": \"A\", \"shares\": 2.5, \"quota_gpus\": 8, "
        "\"cohort\": \"k\", \"borrow_limit\": null, \"lend_limit\": 4, "
        "\"budget_gpu_hours\": 100, \"budget_period\": \"30d\", \"budget_stop\": true}";
    assert_int_equal(cl_rest_tenant_parse(b, strlen(b), NULL, &t, &doc, &err), 0);
    assert_string_equal(t.parent, "A");
    assert_string_equal(t.cohort, "k");
    assert_string_equal(t.budget_period, "30d");
    assert_true(t.shares == 2.5 && t.quota_gpus == 8 && t.borrow_limit == -1 &&
                t.lend_limit == 4 && t.budget_gpu_hours == 100 && t.budget_stop);
    assert_int_equal(t.n_set, 9);
    assert_true(has_set(&t, "budget_stop") && !has_set(&t, "name"));
    free(t.set);
    json_decref(doc);
    /* a set: the name is the path's, only the fields given are in set */
    b = "{\"quota_gpus\": null, \"parent\": null}";
    assert_int_equal(cl_rest_tenant_parse(b, strlen(b), "research", &t, &doc, &err), 0);
    assert_string_equal(t.name, "research");
    assert_false(t.create);
    assert_true(t.quota_gpus == -1 && !t.parent[0]);
    assert_int_equal(t.n_set, 2);
    assert_true(has_set(&t, "quota_gpus") && has_set(&t, "parent"));
    free(t.set);
    json_decref(doc);
    static const struct {
        const char *body, *name, *says;
    } bad[] = {
        {"{}", NULL, "field 'name' is required"},
        {"{}", "x", "nothing to change"},
        {"{\"name\": \"y\"}", "x", "field 'name': a tenant is renamed by no request"},
        {"{\"name\": \"C\", \"shares\": 0}", NULL, "field 'shares' must be a number in (0"},
        {"{\"shares\": \"2\"}", "x", "field 'shares'"},
        {"{\"quota_gpus\": -1}", "x", "field 'quota_gpus' must be a number of GPUs in 0.."},
        {"{\"lend_limit\": 1.5}", "x", "field 'lend_limit'"},
        {"{\"parent\": \"\"}", "x", "field 'parent' must be a non-empty string, or null"},
        {"{\"budget_gpu_hours\": -1}", "x", "field 'budget_gpu_hours'"},
        {"{\"budget_period\": \"weekly\"}", "x", "field 'budget_period' must be month"},
        {"{\"budget_stop\": 1}", "x", "field 'budget_stop' must be true or false"},
        {"{\"name\": \"C\", \"budget_stop\": true}", NULL, "needs 'budget_gpu_hours'"},
        {"{\"quota\": 1}", "x", "unknown field 'quota'"},
        {"", "x", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            cl_rest_tenant_parse(bad[i].body, strlen(bad[i].body), bad[i].name, &t, &doc, &err),
            -1);
        assert_null(doc);
        if (!strstr(err.msg, bad[i].says)) fail_msg("%s: '%s'", bad[i].says, err.msg);
    }
}

static void test_svc_error_status(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        int status;
    } v[] = {
        {"no tenant A that you are in", 404},
        {"no tenant Z", 404},
        {"history: no tenant Z", 400}, /* a filter, not the path */
        {"token revoke refused: no token tk-0123456789abcdef of yours", 404},
        {"token revoke refused: only an admin may revoke tk-0123456789abcdef", 403},
        {"token create refused: only an admin may make tokens for another user", 403},
        {"token create refused: a read-scoped credential cannot make a submit-scoped token",
         403},
        {"token create refused: no user zed", 400},
        {"audit: only an admin or operator reads another user's records", 403},
        {"job 5 has not run yet: no logs", 409},
        {"job 5 has ranks 0..3, not 9", 400},
        {"no log for rank 0 of job 5 on node n1", 404},
        {"node n1 (holding rank 0) is not connected", 503},
        {"node n1 went away before sending the log", 503},
        {"tenant add C refused: tenant C exists (change it with tenant set)", 409},
        {"tenant add D refused: only an admin may add tenants", 403},
        {"tenant set Z refused: no tenant Z", 404},
        {"tenant set C refused: no tenant 'P' (the parent)", 400},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (cl_rest_error_status(v[i].msg) != v[i].status)
            fail_msg("'%s': %d, not %d", v[i].msg, cl_rest_error_status(v[i].msg), v[i].status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_route_errors),
        cmocka_unit_test(test_list_params),
        cmocka_unit_test(test_list_req),
        cmocka_unit_test(test_submit_body),
        cmocka_unit_test(test_submit_errors),
        cmocka_unit_test(test_admin_body),
        cmocka_unit_test(test_error_status),
        cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_svc_routes),
        cmocka_unit_test(test_svc_params),
        cmocka_unit_test(test_token_body),
        cmocka_unit_test(test_tenant_body),
        cmocka_unit_test(test_svc_error_status),
        cmocka_unit_test(test_power_body),
        cmocka_unit_test(test_watch_kinds),
        cmocka_unit_test(test_submit_slurm_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
