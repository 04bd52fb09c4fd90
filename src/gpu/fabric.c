/* fabric.c - a node's NVLink domain from its GPUs' fabric cliques (pure), for the topology. */
#include <stdio.h>
#include <string.h>

#include "gpu/nvml.h"

int cl_gpu_nvlink_domain(const cl_gpu_inv_t *g, int n, char *key, size_t len)
{
    const char *first = NULL;
    int with = 0;
    if (key && len) key[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!g[i].clique[0]) continue;
        with++;
        if (!first)
            first = g[i].clique;
        else if (strcmp(first, g[i].clique))
            return -1;
    }
    if (!with) return 0;
    if (with != n)
        return -1; /* some GPUs registered with the fabric and some not: not one domain yet */
    if (key && len) snprintf(key, len, "%s", first);
    return 1;
}
