/* test_api_json.c - the JSON renderings of src/api/json.c: every field docs/api/schema.json
 * lists, in its order and nothing else; null where a value is absent (times not yet, exit code
 * before the end, telemetry a GPU does not answer, a limit of -1, a budget of 0, energy not
 * measured); input that jansson would refuse (bytes that are not UTF-8, NULL strings, reals
 * that are not finite) still renders; the text form. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/json.h"
#include "api/rest.h"

static json_t *schema;

/* The schema's object definition at a path of property names below $defs ("[]": items). */
static json_t *def(const char *const *path)
{
    json_t *d = json_object_get(json_object_get(schema, "$defs"), path[0]);
    for (size_t i = 1; d && path[i]; i++)
        d = strcmp(path[i], "[]") ? json_object_get(json_object_get(d, "properties"), path[i])
                                  : json_object_get(d, "items");
    assert_non_null(d);
    return d;
}

/* o has exactly the definition's properties, in its order, and the definition requires each
 * one and forbids others. */
static void assert_fields(const json_t *o, const char *const *path)
{
    json_t *d = def(path), *props = json_object_get(d, "properties");
    assert_true(json_is_object(o));
    assert_true(json_is_false(json_object_get(d, "additionalProperties")));
    assert_int_equal(json_array_size(json_object_get(d, "required")), json_object_size(props));
    assert_int_equal(json_object_size(o), json_object_size(props));
    void *a = json_object_iter((json_t *)o), *b = json_object_iter(props);
    for (; a && b;
         a = json_object_iter_next((json_t *)o, a), b = json_object_iter_next(props, b))
        assert_string_equal(json_object_iter_key(a), json_object_iter_key(b));
}

static int load_schema(void **state)
{
    (void)state;
    json_error_t e;
    schema = json_load_file("docs/api/schema.json", 0, &e);
    if (!schema)
        fprintf(stderr, "docs/api/schema.json: %s (run from the repository root)\n", e.text);
    return schema ? 0 : -1;
}

static int free_schema(void **state)
{
    (void)state;
    json_decref(schema);
    return 0;
}

#define P(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_job_pending_and_ended(void **state)
{
    (void)state;
    char *argv[] = {"python", "train.py"};
    Colossus__JobInfo j = COLOSSUS__JOB_INFO__INIT;
    j.id = 42;
    j.name = "train";
    j.state = "pending";
    j.tenant = "research";
    j.priority = -3;
    j.nnodes = 2;
    j.gpus_per_node = 8;
    j.max_restarts = 3;
    j.argv = argv;
    j.n_argv = 2;
    j.submit_time = 1700000000.25;
    j.user = "ada";
    j.pending_reason = "tenant research's quota of 16 GPUs is reached";
    json_t *o = cl_json_job(&j);
    assert_fields(o, P("job"));
    assert_string_equal(json_string_value(json_object_get(o, "user")), "ada");
    assert_string_equal(json_string_value(json_object_get(o, "pending_reason")),
                        j.pending_reason);
    assert_true(json_real_value(json_object_get(o, "gpu_seconds")) == 0);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 42);
    assert_int_equal(json_integer_value(json_object_get(o, "priority")), -3);
    assert_int_equal(json_integer_value(json_object_get(o, "num_nodes")), 2);
    assert_true(json_is_real(json_object_get(o, "submit_time")));
    const char *nulls[] = {"exit_code",    "start_time",     "end_time",
                           "running_time", "time_limit_min", "energy_j"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        assert_true(json_is_null(json_object_get(o, nulls[i])));
    assert_int_equal(json_array_size(json_object_get(o, "nodes")), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "argv"), 1)),
                        "train.py");
    json_decref(o);

    char *nodes[] = {"n1", "n2"};
    j.state = "failed";
    j.nodes = nodes;
    j.n_nodes = 2;
    j.has_exit_code = true;
    j.exit_code = 137;
    j.start_time = 1700000001;
    j.running_time = 1700000002;
    j.end_time = 1700000003;
    j.time_limit_s = 3;
    j.gpu_seconds = 48;
    j.energy_j = 1.5e6;
    o = cl_json_job(&j);
    assert_fields(o, P("job"));
    /* a reason left over from its pending days is not shown once it ended */
    assert_true(json_is_null(json_object_get(o, "pending_reason")));
    assert_true(json_real_value(json_object_get(o, "gpu_seconds")) == 48);
    assert_true(json_real_value(json_object_get(o, "energy_j")) == 1.5e6);
    assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 137);
    assert_true(json_real_value(json_object_get(o, "time_limit_min")) == 0.05);
    assert_true(json_real_value(json_object_get(o, "end_time")) == 1700000003);
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "nodes"), 1)),
                        "n2");
    json_decref(o);
}

static void test_not_utf8_null_and_not_finite(void **state)
{
    (void)state;
    /* a stray byte, an overlong NUL, a surrogate, a cut sequence; a valid 4-byte one stays */
    char *argv[] = {"a\xff"
                    "b",
                    "\xc0\x80", "\xed\xa0\x80", "\xf0\x9f\x98\x80", "x\xe2\x82"};
    const char *want[] = {"a\xef\xbf\xbd"
                          "b",
                          "\xef\xbf\xbd\xef\xbf\xbd", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
                          "\xf0\x9f\x98\x80", "x\xef\xbf\xbd\xef\xbf\xbd"};
    Colossus__JobInfo j = COLOSSUS__JOB_INFO__INIT;
    j.id = 1;
    j.name = NULL; /* filled in-process, not off the wire: NULL is "" */
    j.state = "running";
    j.argv = argv;
    j.n_argv = 5;
    j.submit_time = NAN;
    j.start_time = INFINITY;
    j.time_limit_s = NAN;
    json_t *o = cl_json_job(&j);
    assert_fields(o, P("job"));
    assert_string_equal(json_string_value(json_object_get(o, "name")), "");
    json_t *av = json_object_get(o, "argv");
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_array_get(av, i)), want[i]);
    assert_true(json_is_null(json_object_get(o, "submit_time")));
    assert_true(json_is_null(json_object_get(o, "start_time")));
    assert_true(json_is_null(json_object_get(o, "time_limit_min")));
    char *text = json_dumps(o, 0);
    assert_non_null(text);
    free(text);
    json_decref(o);
}

static void test_node_unwatched(void **state)
{
    (void)state;
    uint64_t jobs[] = {7, 9};
    Colossus__NodeInfo n = COLOSSUS__NODE_INFO__INIT;
    n.id = 3;
    n.name = "node000003";
    n.state = "up";
    n.gpus = 8;
    n.gpus_free = 6;
    n.jobs = jobs;
    n.n_jobs = 2;
    n.connected = true;
    n.health_reason = "stale"; /* no verdict: no reason either */
    json_t *o = cl_json_node(&n);
    assert_fields(o, P("node"));
    assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "jobs"), 1)), 9);
    assert_true(json_is_true(json_object_get(o, "connected")));
    assert_true(json_is_false(json_object_get(o, "monitored")));
    const char *nulls[] = {"health", "health_reason", "nvlink_domain", "telemetry"};
    for (size_t i = 0; i < 4; i++)
        assert_true(json_is_null(json_object_get(o, nulls[i])));
    assert_int_equal(json_array_size(json_object_get(o, "xids")), 0);
    json_decref(o);
}

static void test_node_telemetry(void **state)
{
    (void)state;
    Colossus__GpuTelemetry g0 = COLOSSUS__GPU_TELEMETRY__INIT, g1 = g0, *gp[] = {&g0, &g1};
    g0.index = 0;
    g0.valid = 0x1ff & ~128u; /* everything but retired pages (an H100 remaps rows instead) */
    g0.power_mw = 612345;
    g0.energy_mj = 123456789;
    g0.temp_c = 77;
    g0.mem_total_bytes = 85520809984ull;
    g0.ecc_corrected = 3;
    g0.remap_pending = true;
    g1.index = 1;
    g1.lost = true; /* a lost GPU answers nothing */
    Colossus__XidEvent x0 = COLOSSUS__XID_EVENT__INIT, x1 = x0, *xp[] = {&x0, &x1};
    x0.gpu = UINT32_MAX;
    x0.xid = 999;
    x0.action = "none";
    x0.time = NAN;
    x1.gpu = 1;
    x1.xid = 79;
    x1.action = "drain-now";
    x1.time = 1700000000.5;
    Colossus__NodeHealth h = COLOSSUS__NODE_HEALTH__INIT;
    h.action = "drain-now";
    h.reason = "GPU 1 lost";
    h.gpus = gp;
    h.n_gpus = 2;
    h.time = 1700000001;
    h.gpus_expected = 2;
    h.gpus_found = 1;
    Colossus__NodeInfo n = COLOSSUS__NODE_INFO__INIT;
    n.name = "g";
    n.state = "draining";
    n.health = "drain-now";
    n.health_reason = "GPU 1: XID 79";
    n.monitored = true;
    n.nvlink_domain = "uuid/5";
    n.telemetry = &h;
    n.telemetry_age = 0.25;
    n.recent_xids = xp;
    n.n_recent_xids = 2;
    json_t *o = cl_json_node(&n);
    assert_fields(o, P("node"));
    assert_string_equal(json_string_value(json_object_get(o, "health")), "drain-now");
    assert_string_equal(json_string_value(json_object_get(o, "health_reason")),
                        "GPU 1: XID 79");
    json_t *xids = json_object_get(o, "xids");
    assert_fields(json_array_get(xids, 0), P("node", "xids", "[]"));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(xids, 0), "gpu")), -1);
    assert_true(json_is_null(json_object_get(json_array_get(xids, 0), "time")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(xids, 1), "xid")), 79);
    json_t *t = json_object_get(o, "telemetry");
    assert_fields(t, P("node", "telemetry"));
    assert_true(json_real_value(json_object_get(t, "age_s")) == 0.25);
    json_t *check = json_object_get(t, "check");
    assert_fields(check, P("node", "telemetry", "check"));
    assert_string_equal(json_string_value(json_object_get(check, "result")), "never");
    json_t *a = json_array_get(json_object_get(t, "gpus"), 0);
    json_t *b = json_array_get(json_object_get(t, "gpus"), 1);
    assert_fields(a, P("node", "telemetry", "gpus", "[]"));
    assert_fields(b, P("node", "telemetry", "gpus", "[]"));
    assert_true(json_real_value(json_object_get(a, "power_w")) == 612.345);
    assert_true(json_real_value(json_object_get(a, "energy_j")) == 123456.789);
    assert_int_equal(json_integer_value(json_object_get(a, "mem_total_bytes")), 85520809984ll);
    assert_true(json_is_true(json_object_get(a, "remap_pending")));
    assert_true(json_is_null(json_object_get(a, "retired_pages")));
    assert_true(json_is_null(json_object_get(a, "retired_pending")));
    assert_true(json_is_true(json_object_get(b, "lost")));
    void *it = json_object_iter_at(b, "power_w"); /* every field after "lost" is null */
    for (; it; it = json_object_iter_next(b, it))
        assert_true(json_is_null(json_object_iter_value(it)));
    json_decref(o);
}

/* The text form of a node is byte for byte jansson's dump of its tree. */
static void assert_text_is_dump(const Colossus__NodeInfo *n)
{
    json_t *o = cl_json_node(n);
    char *want = json_dumps(o, CL_REST_DUMP_FLAGS);
    cl_buf_t b = {0};
    cl_buf_append(&b, "x", 1); /* appended: what was there stays */
    cl_json_node_text(&b, n);
    assert_non_null(want);
    assert_int_equal(b.len, strlen(want) + 1);
    assert_memory_equal(b.p, "x", 1);
    assert_memory_equal(b.p + 1, want, b.len - 1);
    free(want);
    cl_buf_free(&b);
    json_decref(o);
}

static void test_node_text_is_the_dump(void **state)
{
    (void)state;
    Colossus__NodeInfo n = COLOSSUS__NODE_INFO__INIT;
    assert_text_is_dump(&n); /* every string NULL */
    uint64_t jobs[] = {0, 1, 18446744073709551615ull};
    n.id = 4294967295u;
    n.name = "n\"q\\b\x01\x1f\x7f\b\f\n\r\t/\u00e9\u4e2d\U0001F600";
    n.state = "\xff\xc3(\xe2\x82\xed\xa0\x80x\xf4\x90\x80\x80"; /* not UTF-8 */
    n.gpus = -1;
    n.gpus_free = 2147483647;
    n.jobs = jobs;
    n.n_jobs = 3;
    n.reason = "";
    n.health = "ok";
    n.health_reason = "";
    n.pod = "pod/0";
    n.leaf = "\xc0\x80"; /* an overlong NUL */
    n.spare = true;
    assert_text_is_dump(&n);
    const double reals[] = {0.0,     -0.0,       0.25,         612.345, 1e300,
                            -1e-300, 5e-324,     1e16,         1e17,    1e21,
                            1e-5,    123456.789, 1700000000.5, 3.0,     -7.0,
                            NAN,     INFINITY,   0.1,          2.5e-7,  1.7976931348623157e308};
    size_t nr = sizeof reals / sizeof reals[0];
    Colossus__GpuTelemetry g = COLOSSUS__GPU_TELEMETRY__INIT, *gp[] = {&g};
    g.valid = 0x1ff;
    g.mem_total_bytes = 85520809984ull;
    Colossus__XidEvent x = COLOSSUS__XID_EVENT__INIT, *xp[] = {&x};
    x.gpu = UINT32_MAX;
    x.xid = 79;
    x.action = "drain-now";
    Colossus__NodeHealth h = COLOSSUS__NODE_HEALTH__INIT;
    h.gpus = gp;
    h.n_gpus = 1;
    h.check = "passed";
    n.telemetry = &h;
    n.recent_xids = xp;
    n.n_recent_xids = 1;
    n.monitored = true;
    for (size_t i = 0; i < nr; i++) {
        x.time = h.time = h.check_time = n.telemetry_age = reals[i];
        g.power_mw = (uint64_t)(i * 1234567);
        g.energy_mj = (uint64_t)(i * 98765432109ull);
        assert_text_is_dump(&n);
    }
}

static void test_tenant(void **state)
{
    (void)state;
    Colossus__TenantInfo t = COLOSSUS__TENANT_INFO__INIT;
    t.name = "research";
    t.shares = 2;
    t.usage_gpu_s = 7200.5;
    t.fairshare = 0.5;
    t.jobs_pending = 1;
    t.jobs_running = 2;
    t.gpus_running = 16;
    t.quota_gpus = t.borrow_limit = t.lend_limit = -1;
    json_t *o = cl_json_tenant(&t);
    assert_fields(o, P("tenant"));
    assert_true(json_is_real(json_object_get(o, "shares")));
    assert_true(json_real_value(json_object_get(o, "usage_gpu_s")) == 7200.5);
    assert_int_equal(json_integer_value(json_object_get(o, "gpus_running")), 16);
    /* no parent, quota, cohort, limits or budget: null, and the budget's fields with it */
    const char *nulls[] = {"parent",
                           "quota_gpus",
                           "cohort",
                           "borrow_limit",
                           "lend_limit",
                           "budget_gpu_hours",
                           "budget_period",
                           "budget_left_gpu_hours",
                           "budget_period_start"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        assert_true(json_is_null(json_object_get(o, nulls[i])));
    assert_true(json_is_false(json_object_get(o, "budget_stop")));
    json_decref(o);

    t.parent = "lab";
    t.quota_gpus = 0; /* a quota of nothing is a quota, not "none" */
    t.cohort = "eu";
    t.borrow_limit = 8;
    t.lend_limit = 0;
    t.borrowed_gpus = 4;
    t.budget_gpu_hours = 1000;
    t.budget_period = "month";
    t.budget_stop = true;
    t.budget_used_gpu_hours = 1200.5; /* overspent: nothing left, not a negative */
    t.budget_period_start = 1793491200;
    o = cl_json_tenant(&t);
    assert_fields(o, P("tenant"));
    assert_string_equal(json_string_value(json_object_get(o, "parent")), "lab");
    assert_int_equal(json_integer_value(json_object_get(o, "quota_gpus")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "borrow_limit")), 8);
    assert_int_equal(json_integer_value(json_object_get(o, "lend_limit")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "borrowed_gpus")), 4);
    assert_string_equal(json_string_value(json_object_get(o, "budget_period")), "month");
    assert_true(json_is_true(json_object_get(o, "budget_stop")));
    assert_true(json_real_value(json_object_get(o, "budget_left_gpu_hours")) == 0);
    assert_true(json_real_value(json_object_get(o, "budget_period_start")) == 1793491200);
    t.budget_used_gpu_hours = 250;
    t.budget_period = ""; /* a fixed grant */
    json_decref(o);
    o = cl_json_tenant(&t);
    assert_true(json_real_value(json_object_get(o, "budget_left_gpu_hours")) == 750);
    assert_true(json_is_null(json_object_get(o, "budget_period")));
    json_decref(o);
}

static void test_user_qos_token(void **state)
{
    (void)state;
    Colossus__UserTenant a = COLOSSUS__USER_TENANT__INIT, b = a, *tv[] = {&a, &b};
    a.tenant = "research";
    a.role = "manager";
    b.tenant = "default";
    b.role = ""; /* an older record: a plain user */
    Colossus__UserInfo u = COLOSSUS__USER_INFO__INIT;
    u.name = "ada";
    u.tenants = tv;
    u.n_tenants = 2;
    u.uid = 1000;
    u.gid = 100;
    json_t *o = cl_json_user(&u);
    assert_fields(o, P("user"));
    assert_fields(json_array_get(json_object_get(o, "tenants"), 0), P("user", "tenants", "[]"));
    json_t *t1 = json_array_get(json_object_get(o, "tenants"), 1);
    assert_string_equal(json_string_value(json_object_get(t1, "role")), "user");
    assert_true(json_is_null(json_object_get(o, "role")));
    assert_true(json_is_null(json_object_get(o, "qos")));
    assert_int_equal(json_integer_value(json_object_get(o, "uid")), 1000);
    json_decref(o);

    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.principal = "cluster-key";
    rs.role = "admin";
    o = cl_json_whoami(&rs);
    assert_fields(o, P("whoami"));
    assert_true(json_is_null(json_object_get(o, "user")));
    json_decref(o);
    Colossus__UserInfo *uv[] = {&u};
    u.role = "admin";
    u.qos = "gold";
    u.disabled = true;
    rs.principal = "user ada";
    rs.users = uv;
    rs.n_users = 1;
    o = cl_json_whoami(&rs);
    assert_fields(o, P("whoami"));
    assert_fields(json_object_get(o, "user"), P("whoami", "user"));
    assert_fields(json_object_get(o, "user"), P("user")); /* the same object both places */
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "user"), "qos")),
                        "gold");
    json_decref(o);

    Colossus__QosInfo q = COLOSSUS__QOS_INFO__INIT;
    q.name = "normal";
    q.max_priority = 100;
    o = cl_json_qos(&q);
    assert_fields(o, P("qos"));
    const char *nulls[] = {"max_gpus_per_job", "max_wall_s", "max_running_jobs"};
    for (size_t i = 0; i < 3; i++)
        assert_true(json_is_null(json_object_get(o, nulls[i])));
    json_decref(o);
    q.max_gpus_per_job = 64;
    q.max_wall_s = 86400;
    q.max_running_jobs = 4;
    q.preemptible = true;
    o = cl_json_qos(&q);
    assert_int_equal(json_integer_value(json_object_get(o, "max_gpus_per_job")), 64);
    assert_true(json_real_value(json_object_get(o, "max_wall_s")) == 86400);
    assert_true(json_is_true(json_object_get(o, "preemptible")));
    json_decref(o);

    Colossus__TokenInfo k = COLOSSUS__TOKEN_INFO__INIT;
    k.id = "nd-0123456789abcdef";
    k.scope = "node";
    k.nodes = "n[1-4]";
    k.created = 1793491200;
    o = cl_json_token(&k);
    assert_fields(o, P("token"));
    assert_true(json_is_null(json_object_get(o, "user")));
    assert_true(json_is_null(json_object_get(o, "expires"))); /* never */
    assert_string_equal(json_string_value(json_object_get(o, "nodes")), "n[1-4]");
    json_decref(o);
}

static void test_accounting(void **state)
{
    (void)state;
    char *nodes[] = {"n1", "n2"};
    Colossus__UsageRecord r = COLOSSUS__USAGE_RECORD__INIT;
    r.job = 7;
    r.incarnation = 2;
    r.name = "train";
    r.tenant = "research";
    r.user = "ada";
    r.nodes = nodes;
    r.n_nodes = 2;
    r.gpus = 16;
    r.start = 1793491200;
    r.end = 1793494800;
    r.gpu_seconds = 57600;
    r.ended = "failed";
    r.exit_code = 137;
    json_t *o = cl_json_usage_record(&r);
    assert_fields(o, P("usage_record"));
    assert_true(json_real_value(json_object_get(o, "elapsed_s")) == 3600);
    assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 137);
    assert_int_equal(json_integer_value(json_object_get(o, "signal")), 9);
    assert_true(json_is_null(json_object_get(o, "energy_j"))); /* not measured */
    assert_true(json_is_null(json_object_get(o, "flops")));    /* not reported */
    json_decref(o);
    r.ended = "node_fail"; /* no rank's code: null, and no signal either */
    r.energy_j = 3.6e6;
    r.flops = 1.2e18;
    o = cl_json_usage_record(&r);
    assert_true(json_is_null(json_object_get(o, "exit_code")));
    assert_true(json_is_null(json_object_get(o, "signal")));
    assert_true(json_real_value(json_object_get(o, "energy_j")) == 3.6e6);
    json_decref(o);
    r.ended = "failed";
    r.exit_code = 3; /* a code of its own, no signal */
    assert_int_equal(cl_json_signal(r.ended, r.exit_code), 0);
    assert_int_equal(cl_json_signal("cancelled", 143), 0);
    assert_int_equal(cl_json_signal("failed", 143), 15);
    r.start = 0; /* never started: no elapsed time */
    o = cl_json_usage_record(&r);
    assert_true(json_is_null(json_object_get(o, "start")));
    assert_true(json_is_null(json_object_get(o, "elapsed_s")));
    json_decref(o);

    Colossus__UsageRow w = COLOSSUS__USAGE_ROW__INIT, *wv[] = {&w};
    w.key = "2026-11";
    w.gpu_hours = 16;
    w.runs = 3;
    json_t *l = cl_json_usage(wv, 1);
    assert_fields(json_array_get(l, 0), P("usage_row"));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "runs")), 3);
    json_decref(l);

    Colossus__AuditRecord a = COLOSSUS__AUDIT_RECORD__INIT;
    a.time = 1793491200.5;
    a.who = "user ada";
    a.op = "cancel";
    a.target = "job 7";
    a.detail = "not a job of your tenants";
    o = cl_json_audit(&a);
    assert_fields(o, P("audit_record"));
    assert_true(json_is_false(json_object_get(o, "ok")));
    json_decref(o);
}

static void test_lists_and_text(void **state)
{
    (void)state;
    Colossus__TenantInfo a = COLOSSUS__TENANT_INFO__INIT, b = a, *v[] = {&a, &b};
    a.name = "default";
    a.shares = 1;
    a.fairshare = 1;
    b.name = "x";
    b.shares = 3;
    b.usage_gpu_s = 0.1;
    b.fairshare = 0.05;
    json_t *l = cl_json_tenants(v, 2);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "name")), "x");
    Colossus__UsageRow r = COLOSSUS__USAGE_ROW__INIT;
    r.key = "x";
    r.gpu_hours = 3;
    r.energy_kwh = 0.1;
    r.flops = 0.05;
    json_t *row = cl_json_usage_row(&r);
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    assert_int_equal(cl_json_write(f, row), 0);
    fclose(f);
    json_decref(row);
    /* two-space indent, 17 digits (0.1 reads back as the same double), a final newline */
    assert_string_equal(buf, "{\n  \"key\": \"x\",\n  \"gpu_hours\": 3.0,\n"
                             "  \"energy_kwh\": 0.10000000000000001,\n"
                             "  \"flops\": 0.050000000000000003,\n  \"runs\": 0\n}\n");
    json_t *empty = cl_json_jobs(NULL, 0);
    assert_int_equal(json_array_size(empty), 0);
    json_decref(empty);
    f = fopen("/dev/full", "w");
    if (f) { /* a full disk: the write error is reported */
        setvbuf(f, NULL, _IONBF, 0);
        assert_int_equal(cl_json_write(f, l), -1);
        fclose(f);
    }
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_pending_and_ended),
        cmocka_unit_test(test_not_utf8_null_and_not_finite),
        cmocka_unit_test(test_node_unwatched),
        cmocka_unit_test(test_node_telemetry),
        cmocka_unit_test(test_node_text_is_the_dump),
        cmocka_unit_test(test_tenant),
        cmocka_unit_test(test_user_qos_token),
        cmocka_unit_test(test_accounting),
        cmocka_unit_test(test_lists_and_text),
    };
    return cmocka_run_group_tests(tests, load_schema, free_schema);
}
