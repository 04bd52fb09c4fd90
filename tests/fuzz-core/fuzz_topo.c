/* fuzz_topo.c - libFuzzer target: the Slurm topology.conf reader must refuse, never crash. */
#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cl_error_t err;
    cl_topo_t *t = cl_topo_parse_slurm((const char *)data, size, "fuzz.conf", 4, &err);
    if (t) {
        /* whatever was accepted must build a usable cluster */
        cl_cluster_t *c = cl_cluster_create(t, NULL, &err);
        cl_cluster_destroy(c);
    }
    return 0;
}
