/* topo_load.h - the topology a daemon or driver runs on: a preset, a Slurm topology.conf, or
 * (neither given) a small default shape. */
#ifndef COLOSSUS_UTIL_TOPO_LOAD_H
#define COLOSSUS_UTIL_TOPO_LOAD_H

#include <stdint.h>

#include "colossus/core.h"

/* file (Slurm topology.conf) wins over preset. With neither: def_preset when given, else
 * nodes (default 64) x gpn (default 8) GPUs in leaves of 8 nodes, 8 leaves a pod. nodes and
 * gpn 0 mean the preset's (or the file's: gpn 8). Returns NULL with a message in err
 * ("FILE:LINE: ..." for a bad line). Caller destroys. */
cl_topo_t *cl_topo_load(const char *preset, const char *file, const char *def_preset,
                        uint32_t nodes, uint32_t gpn, cl_error_t *err);

#endif
