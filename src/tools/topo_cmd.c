/* topo_cmd.c - `colossus topo`: load a preset or a Slurm topology.conf and describe it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colossus/core.h"
#include "util/topo_load.h"
#include "util/util.h"

int cmd_topo(int argc, char **argv)
{
    const char *preset = NULL, *file = NULL;
    uint32_t nodes = 0, gpn = 0;
    int json = 0, ch, li = 0;
    static const struct option lo[] = {{"preset", 1, 0, 'p'},   {"topology", 1, 0, 't'},
                                       {"nodes", 1, 0, 'n'},    {"gpus-per-node", 1, 0, 'g'},
                                       {"json", 0, 0, 'j'},     {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", lo, &li)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'p': preset = optarg; break;
        case 't': file = optarg; break;
        case 'n': bad = cl_parse_u32(optarg, 1, 100000000, &nodes); break;
        case 'g': bad = cl_parse_u32(optarg, 1, CL_MAX_GPUS_PER_NODE, &gpn); break;
        case 'j': json = 1; break;
        case 'h':
            printf("usage: colossus topo [--preset colossus2|hgx|nvl72 | --topology FILE] "
                   "[--nodes N] [--gpus-per-node G] [--json]\n");
            return 0;
        default: return 2;
        }
        if (bad) {
            fprintf(stderr, "colossus topo: bad value '%s' for --%s\n", optarg, lo[li].name);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "colossus topo: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
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
               cl_topo_domains(t), cl_topo_domain_nodes_max(t), nl, np,
               cl_topo_node_name(t, 0), cl_topo_leaf_name(t, cl_topo_node_leaf(t, 0)),
               cl_topo_pod_name(t, cl_topo_node_pod(t, 0)),
               cl_topo_node_name(t, cl_topo_nodes(t) - 1),
               cl_topo_leaf_name(t, cl_topo_node_leaf(t, cl_topo_nodes(t) - 1)),
               cl_topo_pod_name(t, cl_topo_node_pod(t, cl_topo_nodes(t) - 1)));
    cl_topo_destroy(t);
    return 0;
}
