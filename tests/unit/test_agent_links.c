/* test_agent_links.c - network links from a sysfs tree (agent/links.c, issue 16): auto finds
 * physical interfaces and InfiniBand ports and watches each once seen up; a listed link is
 * watched from the start and must exist; a carrier lost or a port not ACTIVE is named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/links.h"

static char root[64];

static void put(const char *rel, const char *text)
{
    char p[256], cmd[400];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", p);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void mkd(const char *rel)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", root, rel);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **st)
{
    (void)st;
    snprintf(root, sizeof root, "/tmp/links-test.XXXXXX");
    assert_non_null(mkdtemp(root));
    put("class/net/eth9/carrier", "1\n");
    mkd("class/net/eth9/device");
    put("class/net/br0/carrier", "1\n");  /* no device: virtual, not watched */
    put("class/net/eth8/carrier", "0\n"); /* never up: not a failure (auto) */
    mkd("class/net/eth8/device");
    put("class/infiniband/mlx5_0/ports/1/state", "4: ACTIVE\n");
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static void auto_mode(void **st)
{
    (void)st;
    cl_error_t err;
    ag_links_t *l = ag_links_open(root, "auto", &err);
    assert_non_null(l);
    assert_int_equal(ag_links_count(l), 3); /* eth9, eth8, mlx5_0/1: not br0 */
    char why[400];
    assert_int_equal(ag_links_poll(l, why, sizeof why), 0); /* eth8 never up: fine */
    put("class/net/eth9/carrier", "0\n");
    assert_int_equal(ag_links_poll(l, why, sizeof why), 1);
    assert_string_equal(why, "network link eth9 down (no carrier)");
    put("class/infiniband/mlx5_0/ports/1/state", "1: DOWN\n");
    assert_int_equal(ag_links_poll(l, why, sizeof why), 1);
    assert_string_equal(why, "network link eth9 down (no carrier); network link mlx5_0/1 down "
                             "(1: DOWN)");
    put("class/net/eth9/carrier", "1\n");
    put("class/infiniband/mlx5_0/ports/1/state", "4: ACTIVE\n");
    assert_int_equal(ag_links_poll(l, why, sizeof why), 0); /* back */
    put("class/net/eth8/carrier", "1\n");                   /* eth8 comes up: watched now */
    assert_int_equal(ag_links_poll(l, why, sizeof why), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/class/net/eth8/carrier", root);
    unlink(p); /* an interface set down: carrier unreadable */
    assert_int_equal(ag_links_poll(l, why, sizeof why), 1);
    assert_string_equal(why, "network link eth8 down (no carrier)");
    ag_links_free(l);
}

static void listed(void **st)
{
    (void)st;
    cl_error_t err;
    assert_null(ag_links_open(root, "none", &err));
    ag_links_t *l = ag_links_open(root, "eth8,mlx5_0/1", &err);
    assert_non_null(l);
    char why[400];
    assert_int_equal(ag_links_poll(l, why, sizeof why), 1); /* listed: down from the start */
    assert_string_equal(why, "network link eth8 down (no carrier)");
    ag_links_free(l);
    const char *bad[][2] = {{"eth7", "--links: no interface eth7"},
                            {"mlx5_1/1", "--links: no InfiniBand port mlx5_1/1"},
                            {"eth9,", NULL},
                            {"/1", "is not an interface"},
                            {"mlx5_0/", "is not an interface"},
                            {"a/b/c", "is not an interface"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        l = ag_links_open(root, bad[i][0], &err);
        if (!bad[i][1]) { /* a trailing comma is no entry */
            assert_non_null(l);
            ag_links_free(l);
            continue;
        }
        if (l) fail_msg("--links '%s' taken", bad[i][0]);
        if (!strstr(err.msg, bad[i][1])) fail_msg("--links '%s': %s", bad[i][0], err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(auto_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(listed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
