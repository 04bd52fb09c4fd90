/* topo_load.c - the topology of a daemon or driver (see topo_load.h). */
#include "util/topo_load.h"

#include <stdlib.h>

#include "util/util.h"

cl_topo_t *cl_topo_load(const char *preset, const char *file, const char *def_preset,
                        uint32_t nodes, uint32_t gpn, cl_error_t *err)
{
    if (file) {
        size_t len;
        char *text = cl_read_file(file, &len, err);
        if (!text) return NULL;
        cl_topo_t *t = cl_topo_parse_slurm(text, len, file, gpn ? gpn : 8, err);
        free(text);
        return t;
    }
    if (preset || def_preset)
        return cl_topo_preset(preset ? preset : def_preset, nodes, gpn, err);
    cl_topo_shape_t sh = {.nodes = nodes ? nodes : 64,
                          .gpus_per_node = gpn ? gpn : 8,
                          .nodes_per_domain = 1,
                          .nodes_per_leaf = 8,
                          .leaves_per_pod = 8};
    return cl_topo_create(&sh, "node", err);
}
