/* test_web_path.c - the dashboard's static paths (src/api/webpath.c): "/" and /web/ name
 * files of the web directory; "..", ".", hidden, empty, encoded ('%'), backslashed and
 * control-character parts are refused, so a request cannot leave the directory by its path
 * (symbolic links are the server's check: tests/integration/web_dashboard.sh); content types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/webpath.h"

static void test_names(void **state)
{
    (void)state;
    char rel[CL_WEB_PATH_MAX];
    cl_error_t err;
    assert_true(cl_web_is("/"));
    assert_true(cl_web_is("/web/app.js"));
    assert_false(cl_web_is("/api/v1/whoami"));
    assert_false(cl_web_is("/metrics"));
    assert_false(cl_web_is("/webx"));
    assert_false(cl_web_is("/web"));
    assert_int_equal(cl_web_path("/", rel, &err), 0);
    assert_string_equal(rel, "index.html");
    assert_int_equal(cl_web_path("/web/app.js", rel, &err), 0);
    assert_string_equal(rel, "app.js");
    assert_int_equal(cl_web_path("/web/img/a-b_c.v2.png", rel, &err), 0);
    assert_string_equal(rel, "img/a-b_c.v2.png");
    assert_int_equal(cl_web_path("/web/a..b", rel, &err), 0); /* dots inside a name */
    assert_string_equal(rel, "a..b");
}

static void test_refused(void **state)
{
    (void)state;
    char rel[CL_WEB_PATH_MAX];
    const char *bad[] = {
        "/web/",
        "/web/..",
        "/web/../etc/passwd",
        "/web/a/../../x",
        "/web/./app.js",
        "/web/a/./b",
        "/web/.hidden",
        "/web/a/.git/config",
        "/web//app.js",
        "/web/a/",
        "/web/%2e%2e/x",
        "/web/%252e%252e/x",
        "/web/a%2fb",
        "/web/..\\x",
        "/web/a\\b",
        "/web/a\tb",
        "/web/a\x7f",
        "/web/c:/x",
        "/etc/passwd",
        "/index.html",
        "/web/a/..",
        "/web/../web/app.js",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cl_error_t err = {{0}};
        strcpy(rel, "unchanged");
        if (cl_web_path(bad[i], rel, &err) != -1) fail_msg("%s was taken", bad[i]);
        assert_true(err.msg[0] != 0);
        assert_string_equal(rel, "unchanged"); /* no side effect on failure */
    }
    char longp[CL_WEB_PATH_MAX + 16];
    strcpy(longp, "/web/");
    memset(longp + 5, 'a', CL_WEB_PATH_MAX);
    longp[5 + CL_WEB_PATH_MAX] = 0;
    cl_error_t err;
    assert_int_equal(cl_web_path(longp, rel, &err), -1);
    longp[5 + CL_WEB_PATH_MAX - 1] = 0; /* CL_WEB_PATH_MAX - 1 bytes: the longest taken */
    assert_int_equal(cl_web_path(longp, rel, &err), 0);
    assert_int_equal(strlen(rel), CL_WEB_PATH_MAX - 1);
}

static void test_types(void **state)
{
    (void)state;
    assert_string_equal(cl_web_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(cl_web_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(cl_web_content_type("style.CSS"), "text/css; charset=utf-8");
    assert_string_equal(cl_web_content_type("a/b.png"), "image/png");
    assert_string_equal(cl_web_content_type("LICENSE"), "application/octet-stream");
    assert_string_equal(cl_web_content_type("v1.0/README"), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
