/* topo_cmd.c - `colossus topo`: load a preset or a Slurm topology.conf and describe it. */
#include <stdbool.h>
#include <stdio.h>

#include "util/flags.h"
#include "colossus/core.h"
#include "util/topo_load.h"
#include "util/util.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: colossus topo [--preset colossus2|hgx|nvl72 | --topology FILE] [--nodes N]\n"
        "                     [--gpus-per-node G] [--json]\n"
        "Build a topology (a preset, or a Slurm topology.conf) and describe it: nodes,\n"
        "GPUs, NVLink domains, leaf switches, pods.\n"
        "  --preset NAME           colossus2 (the default), hgx or nvl72\n"
        "  --topology FILE         a Slurm topology.conf\n"
        "  --nodes N               nodes of the preset, 1..100000000\n"
        "  --gpus-per-node G       1..%d\n"
        "  --json                  one JSON object\n"
        "  -h, --help              this text\n",
        CL_MAX_GPUS_PER_NODE);
}

int cmd_topo(int argc, char **argv)
{
    enum { O_PRESET = 1000, O_TOPOLOGY, O_NODES, O_GPN, O_JSON };
    static const struct option opts[] = {{"preset", required_argument, 0, O_PRESET},
                                         {"topology", required_argument, 0, O_TOPOLOGY},
                                         {"nodes", required_argument, 0, O_NODES},
                                         {"gpus-per-node", required_argument, 0, O_GPN},
                                         {"json", no_argument, 0, O_JSON},
                                         CL_FLAGS_HELP,
                                         {0, 0, 0, 0}};
    cl_flags_t f = {.cmd = "topo", .shorts = "h", .longs = opts, .usage = usage};
    const char *preset = NULL, *file = NULL;
    uint32_t nodes = 0, gpn = 0;
    bool json = false;
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        switch (o) {
        case CL_FLAGS_DONE:
            return f.exit;
        case O_PRESET:
            preset = optarg;
            break;
        case O_TOPOLOGY:
            file = optarg;
            break;
        case O_NODES:
            if (cl_flag_u32(f.cmd, "--nodes", optarg, 1, 100000000, &nodes) < 0) return 2;
            break;
        case O_GPN:
            if (cl_flag_u32(f.cmd, "--gpus-per-node", optarg, 1, CL_MAX_GPUS_PER_NODE, &gpn) <
                0)
                return 2;
            break;
        case O_JSON:
            json = true;
            break;
        }
    }
    if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return 2;
    if (preset && file) {
        fprintf(stderr, "colossus topo: give --preset or --topology, not both\n");
        return 2;
    }
    cl_error_t err;
    cl_topo_t *t = cl_topo_load(preset, file, "colossus2", nodes, gpn, &err);
    if (!t) {
        fprintf(stderr, "colossus topo: %s\n", err.msg);
        return 2;
    }
    uint32_t nl = cl_topo_leaves(t), np = cl_topo_pods(t);
    if (json)
        printf("{\"nodes\":%u,\"gpus\":%llu,\"gpus_per_node\":%u,\"domains\":%u,"
               "\"domain_nodes_max\":%u,\"leaves\":%u,\"pods\":%u}\n",
               cl_topo_nodes(t), (unsigned long long)cl_topo_gpus(t), cl_topo_gpus_per_node(t),
               cl_topo_domains(t), cl_topo_domain_nodes_max(t), nl, np);
    else
        printf("%u nodes x %u GPUs = %llu GPUs\n%u NVLink domains (up to %u nodes each)\n"
               "%u leaf switches, %u pods\nfirst node %s on %s in %s; last node %s on %s in "
               "%s\n",
               cl_topo_nodes(t), cl_topo_gpus_per_node(t), (unsigned long long)cl_topo_gpus(t),
               cl_topo_domains(t), cl_topo_domain_nodes_max(t), nl, np, cl_topo_node_name(t, 0),
               cl_topo_leaf_name(t, cl_topo_node_leaf(t, 0)),
               cl_topo_pod_name(t, cl_topo_node_pod(t, 0)),
               cl_topo_node_name(t, cl_topo_nodes(t) - 1),
               cl_topo_leaf_name(t, cl_topo_node_leaf(t, cl_topo_nodes(t) - 1)),
               cl_topo_pod_name(t, cl_topo_node_pod(t, cl_topo_nodes(t) - 1)));
    cl_topo_destroy(t);
    return 0;
}
