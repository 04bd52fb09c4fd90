/* topo_load.h - load a topology for a driver: a preset, or a Slurm topology.conf file. */
#ifndef COLOSSUS_TOOLS_TOPO_LOAD_H
#define COLOSSUS_TOOLS_TOPO_LOAD_H

#include <stddef.h>

#include "colossus/core.h"

/* file (Slurm topology.conf) wins over preset; preset NULL means "colossus2". Returns NULL
 * with a message in err ("FILE:LINE: ..." for a bad line). Caller destroys. */
cl_topo_t *cl_topo_load(const char *preset, const char *file, uint32_t nodes, uint32_t gpn,
                        char *err, size_t errlen);
/* Whole file into memory (at most 64 MiB); caller frees. */
char *cl_read_file(const char *path, size_t *len, char *err, size_t errlen);

#endif
