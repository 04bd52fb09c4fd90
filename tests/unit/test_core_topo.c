/* test_core_topo.c - topology presets, names, and Slurm topology.conf import and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "colossus/core.h"

static void presets(void **st)
{
    cl_error_t err;
    cl_topo_t *t = cl_topo_preset("colossus2", 0, 0, &err);
    assert_non_null(t);
    assert_int_equal(cl_topo_nodes(t), 550000);
    assert_int_equal(cl_topo_gpus(t), 1100000);
    assert_int_equal(cl_topo_gpus_per_node(t), 2);
    assert_int_equal(cl_topo_leaves(t), (550000 + 63) / 64);
    assert_int_equal(cl_topo_pods(t), 135);
    assert_int_equal(cl_topo_node_leaf(t, 63), 0);
    assert_int_equal(cl_topo_node_leaf(t, 64), 1);
    assert_int_equal(cl_topo_node_pod(t, 4095), 0);
    assert_int_equal(cl_topo_node_pod(t, 4096), 1);
    assert_int_equal(cl_topo_find_node(t, cl_topo_node_name(t, 123456)), 123456);
    assert_int_equal(cl_topo_find_node(t, "nope"), CL_NO_NODE);
    cl_topo_destroy(t);

    t = cl_topo_preset("nvl72", 40, 0, &err);
    assert_non_null(t);
    assert_int_equal(cl_topo_gpus_per_node(t), 4);
    assert_int_equal(cl_topo_domain_nodes_max(t), 18);
    assert_int_equal(cl_topo_domains(t), 3); /* 18 + 18 + 4 */
    assert_int_equal(cl_topo_node_domain(t, 17), 0);
    assert_int_equal(cl_topo_node_domain(t, 18), 1);
    cl_topo_destroy(t);

    t = cl_topo_preset("hgx", 10, 4, &err);
    assert_non_null(t);
    assert_int_equal(cl_topo_gpus(t), 40);
    cl_topo_destroy(t);

    assert_null(cl_topo_preset("dgx9000", 0, 0, &err));
    assert_non_null(strstr(err.msg, "unknown preset 'dgx9000'"));
    assert_null(cl_topo_preset("hgx", 4, 65, &err));
    assert_non_null(strstr(err.msg, "gpus per node"));
}

static const char good[] = "# a small fabric\n"
                           "SwitchName=leaf1 Nodes=gpu[0001-0004]\n"
                           "SwitchName=leaf2 Nodes=gpu[0005-0006],gpu0007 LinkSpeed=400\n"
                           "SwitchName=leaf3 Nodes=login1\n"
                           "SwitchName=spine1 Switches=leaf[1-2]\n"
                           "switchname=core Switches=spine1\n";

static void slurm_good(void **st)
{
    cl_error_t err;
    cl_topo_t *t = cl_topo_parse_slurm(good, strlen(good), "topo.conf", 8, &err);
    if (!t) fail_msg("%s", err.msg);
    assert_int_equal(cl_topo_nodes(t), 8);
    assert_int_equal(cl_topo_leaves(t), 3);
    assert_int_equal(cl_topo_pods(t), 2); /* spine1, and leaf3 alone */
    cl_nodeid_t n = cl_topo_find_node(t, "gpu0003");
    assert_int_not_equal(n, CL_NO_NODE);
    assert_string_equal(cl_topo_leaf_name(t, cl_topo_node_leaf(t, n)), "leaf1");
    assert_string_equal(cl_topo_pod_name(t, cl_topo_node_pod(t, n)), "spine1");
    n = cl_topo_find_node(t, "gpu0007");
    assert_string_equal(cl_topo_leaf_name(t, cl_topo_node_leaf(t, n)), "leaf2");
    n = cl_topo_find_node(t, "login1");
    assert_string_equal(cl_topo_pod_name(t, cl_topo_node_pod(t, n)), "leaf3");
    assert_int_equal(cl_topo_domains(t), 8);
    cl_topo_destroy(t);
}

static void expect_error(const char *text, const char *want)
{
    cl_error_t err = {{0}};
    cl_topo_t *t = cl_topo_parse_slurm(text, strlen(text), "t.conf", 8, &err);
    if (t) fail_msg("accepted bad input: %s", text);
    if (!strstr(err.msg, want)) fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static void slurm_errors(void **st)
{
    expect_error("SwitchName=a Nodes=n1\nSwitchName=b Colour=blue\n",
                 "t.conf:2: unknown key 'Colour'");
    expect_error("SwitchName=a Nodes=n[3-1]\n", "t.conf:1: bad range");
    expect_error("SwitchName=a Nodes=n[1-x]\n", "t.conf:1: bad range");
    expect_error("SwitchName=a Nodes=n[1-3\n", "t.conf:1: unclosed '['");
    expect_error("\n\nSwitchName=a Nodes=n1 Switches=b\n", "t.conf:3: switch 'a' has both");
    expect_error("SwitchName=a\n", "t.conf:1: switch 'a' has neither");
    expect_error("Nodes=n1\n", "t.conf:1: line has no SwitchName");
    expect_error("SwitchName=a Nodes=n1\nSwitchName=a Nodes=n2\n",
                 "t.conf:2: switch 'a' defined twice");
    expect_error("SwitchName=a Nodes=n1\nSwitchName=s Switches=a,zz\n",
                 "t.conf:2: switch 's' lists unknown switch 'zz'");
    expect_error("SwitchName=a Nodes=n1\nSwitchName=s Switches=a\nSwitchName=t Switches=a\n",
                 "t.conf:3: leaf switch 'a' is already under switch 's'");
    expect_error("SwitchName=a Nodes=n1\nSwitchName=b Nodes=n1\n", "appears twice");
    expect_error("# nothing\n", "no switches defined");
    expect_error("SwitchName=a Nodes=n[0-99999999]\n", "more than");
    /* found by libFuzzer: 3.8M names in one range took the fuzzer past its 1 GB */
    expect_error("SwitchName=leaf1 Nodes=gp[00000-03800000]\n", "more than 2097152 nodes");
    expect_error("SwitchName=a Nodes=a[0-1048575]\nSwitchName=b Nodes=b[0-1048576]\n",
                 "more than 2097152 nodes");
    expect_error("SwitchName=a Nodes=n1 bogus\n", "expected KEY=VALUE");
    /* found by libFuzzer: a number past ULONG_MAX made the range loop wrap for ever */
    expect_error("SwitchName=a Nodes=n[6666666666666666666666660]xhNaes=c\n", "longer than 9");
    expect_error("SwitchName=a Nodes=n[1-99999999999]\n", "longer than 9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(presets),
        cmocka_unit_test(slurm_good),
        cmocka_unit_test(slurm_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
