/* topo.c - the GPU -> node -> NVLink domain -> leaf -> pod -> cluster tree and its presets. */
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

_Noreturn void cl__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "colossus: internal invariant broken: %s (%s:%d)\n", expr, file, line);
    abort();
}

void cl__err(cl_error_t *err, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

void *cl__xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    CL_ASSERT(p != NULL);
    return p;
}

void *cl__xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    CL_ASSERT(p != NULL);
    return p;
}

void *cl__xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    CL_ASSERT(p != NULL);
    return p;
}

char *cl__xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(cl__xmalloc(n), s, n);
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

void cl_topo_destroy(cl_topo_t *t)
{
    if (!t) return;
    for (int lv = 0; lv < 4; lv++) {
        free(t->first[lv]);
        free(t->parent[lv]);
    }
    if (t->leaf_names)
        for (uint32_t i = 0; i < t->nlv[LV_LEAF]; i++)
            free(t->leaf_names[i]);
    if (t->pod_names)
        for (uint32_t i = 0; i < t->nlv[LV_POD]; i++)
            free(t->pod_names[i]);
    free(t->leaf_names);
    free(t->pod_names);
    free(t->names);
    free(t->name_off);
    free(t->hash);
    free(t);
}

static char **gen_names(uint32_t n, const char *fmt)
{
    char **v = cl__xcalloc(n, sizeof(char *));
    char buf[32];
    for (uint32_t i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), fmt, i);
        v[i] = cl__xstrdup(buf);
    }
    return v;
}

cl_topo_t *cl__topo_build(uint32_t nleaves, const uint32_t *leaf_nodes,
                          const uint32_t *pod_of_leaf, uint32_t npods, uint32_t gpn,
                          uint32_t npd, char **node_names, char **leaf_names, char **pod_names,
                          const char *prefix, cl_error_t *err)
{
    if (gpn < 1 || gpn > CL_MAX_GPUS_PER_NODE) {
        cl__err(err, "gpus per node must be 1..%d, not %u", CL_MAX_GPUS_PER_NODE, gpn);
        return NULL;
    }
    if (npd < 1) {
        cl__err(err, "nodes per NVLink domain must be at least 1");
        return NULL;
    }
    uint64_t nn = 0, nd = 0;
    for (uint32_t l = 0; l < nleaves; l++) {
        if (leaf_nodes[l] == 0) {
            cl__err(err, "leaf %u has no nodes", l);
            return NULL;
        }
        if (l && pod_of_leaf[l] < pod_of_leaf[l - 1]) {
            cl__err(err, "leaves are not grouped by pod");
            return NULL;
        }
        nn += leaf_nodes[l];
        nd += (leaf_nodes[l] + npd - 1) / npd;
    }
    if (nn == 0 || nn >= UINT32_MAX / 2) {
        cl__err(err, "a cluster needs 1 to %u nodes, not %llu", UINT32_MAX / 2 - 1,
                (unsigned long long)nn);
        return NULL;
    }
    cl_topo_t *t = cl__xcalloc(1, sizeof(*t));
    t->nnodes = (uint32_t)nn;
    t->gpn = gpn;
    t->nlv[LV_DOM] = (uint32_t)nd;
    t->nlv[LV_LEAF] = nleaves;
    t->nlv[LV_POD] = npods;
    t->first[LV_DOM] = cl__xcalloc(nd + 1, sizeof(uint32_t));
    t->first[LV_LEAF] = cl__xcalloc(nleaves + 1, sizeof(uint32_t));
    t->first[LV_POD] = cl__xcalloc(npods + 1, sizeof(uint32_t));
    t->parent[0] = cl__xcalloc(nn, sizeof(uint32_t));
    t->parent[LV_DOM] = cl__xcalloc(nd, sizeof(uint32_t));
    t->parent[LV_LEAF] = cl__xcalloc(nleaves, sizeof(uint32_t));

    uint32_t node = 0, dom = 0;
    for (uint32_t l = 0; l < nleaves; l++) {
        t->first[LV_LEAF][l] = dom;
        t->parent[LV_LEAF][l] = pod_of_leaf[l];
        for (uint32_t i = 0; i < leaf_nodes[l]; i += npd) {
            uint32_t sz = leaf_nodes[l] - i < npd ? leaf_nodes[l] - i : npd;
            t->first[LV_DOM][dom] = node;
            t->parent[LV_DOM][dom] = l;
            for (uint32_t j = 0; j < sz; j++)
                t->parent[0][node++] = dom;
            if (sz > t->cap[LV_DOM]) t->cap[LV_DOM] = sz;
            dom++;
        }
        if (leaf_nodes[l] > t->cap[LV_LEAF]) t->cap[LV_LEAF] = leaf_nodes[l];
    }
    t->first[LV_DOM][nd] = node;
    t->first[LV_LEAF][nleaves] = dom;
    uint32_t l = 0;
    for (uint32_t p = 0; p < npods; p++) {
        t->first[LV_POD][p] = l;
        uint32_t pn = 0;
        while (l < nleaves && pod_of_leaf[l] == p)
            pn += leaf_nodes[l++];
        if (pn > t->cap[LV_POD]) t->cap[LV_POD] = pn;
    }
    t->first[LV_POD][npods] = l;
    CL_ASSERT(l == nleaves);

    /* names */
    char **gn = NULL;
    if (!node_names) {
        char fmt[48];
        snprintf(fmt, sizeof(fmt), "%.24s%%06u", prefix ? prefix : "node");
        gn = gen_names(t->nnodes, fmt);
        node_names = gn;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < t->nnodes; i++)
        total += strlen(node_names[i]) + 1;
    t->names = cl__xmalloc(total);
    t->name_off = cl__xmalloc(sizeof(uint32_t) * t->nnodes);
    size_t off = 0;
    for (uint32_t i = 0; i < t->nnodes; i++) {
        size_t len = strlen(node_names[i]) + 1;
        memcpy(t->names + off, node_names[i], len);
        t->name_off[i] = (uint32_t)off;
        off += len;
    }
    if (gn) {
        for (uint32_t i = 0; i < t->nnodes; i++)
            free(gn[i]);
        free(gn);
    }
    uint32_t hs = 16;
    while (hs < 2 * t->nnodes)
        hs <<= 1;
    t->hmask = hs - 1;
    t->hash = cl__xmalloc(sizeof(uint32_t) * hs);
    memset(t->hash, 0xff, sizeof(uint32_t) * hs);
    for (uint32_t i = 0; i < t->nnodes; i++) {
        const char *nm = t->names + t->name_off[i];
        uint32_t h = hash_str(nm) & t->hmask;
        while (t->hash[h] != NIL) {
            if (!strcmp(t->names + t->name_off[t->hash[h]], nm)) {
                cl__err(err, "node name '%s' appears twice", nm);
                cl_topo_destroy(t);
                return NULL;
            }
            h = (h + 1) & t->hmask;
        }
        t->hash[h] = i;
    }
    /* Last, so that a failure above leaves the caller owning its name arrays. */
    t->leaf_names = leaf_names ? leaf_names : gen_names(nleaves, "leaf%05u");
    t->pod_names = pod_names ? pod_names : gen_names(npods, "pod%04u");
    return t;
}

cl_topo_t *cl_topo_create(const cl_topo_shape_t *s, const char *prefix, cl_error_t *err)
{
    if (s->nodes == 0) {
        cl__err(err, "a cluster needs at least one node");
        return NULL;
    }
    uint32_t npd = s->nodes_per_domain ? s->nodes_per_domain : 1;
    uint32_t npl = s->nodes_per_leaf ? s->nodes_per_leaf : npd;
    uint32_t lpp = s->leaves_per_pod ? s->leaves_per_pod : 1;
    if (npl % npd) {
        cl__err(err, "nodes per leaf (%u) must be a multiple of nodes per NVLink domain (%u)",
                npl, npd);
        return NULL;
    }
    uint32_t nleaves = (s->nodes + npl - 1) / npl;
    uint32_t npods = (nleaves + lpp - 1) / lpp;
    uint32_t *ln = cl__xmalloc(sizeof(uint32_t) * nleaves);
    uint32_t *pl = cl__xmalloc(sizeof(uint32_t) * nleaves);
    for (uint32_t l = 0; l < nleaves; l++) {
        ln[l] = (l == nleaves - 1) ? s->nodes - l * npl : npl;
        pl[l] = l / lpp;
    }
    cl_topo_t *t = cl__topo_build(nleaves, ln, pl, npods, s->gpus_per_node, npd, NULL, NULL,
                                  NULL, prefix, err);
    free(ln);
    free(pl);
    return t;
}

/* Fan-outs: Colossus 2 as 550,000 nodes of 2 H100 each (as the issue states the machine);
 * a leaf switch serves 64 nodes (128 GPUs: 128 downlinks of a 64-port 800G switch split to
 * 400G), a pod is 64 leaves = 4,096 nodes = 8,192 GPUs, so 135 pods (the last partial). */
static const struct preset {
    const char *name;
    cl_topo_shape_t shape;
    const char *prefix;
} presets[] = {
    {"colossus2", {550000, 2, 1, 64, 64}, "c2n"},
    {"hgx", {1024, 8, 1, 32, 16}, "gpu"},
    {"nvl72", {1152, 4, 18, 72, 16}, "nvl"},
};

int cl_topo_preset_shape(const char *name, uint32_t nodes, uint32_t gpn, cl_topo_shape_t *out,
                         cl_error_t *err)
{
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcmp(name, presets[i].name)) continue;
        *out = presets[i].shape;
        if (nodes) out->nodes = nodes;
        if (gpn) out->gpus_per_node = gpn;
        return 0;
    }
    cl__err(err, "unknown preset '%s' (known: colossus2, hgx, nvl72)", name);
    return -1;
}

cl_topo_t *cl_topo_preset(const char *name, uint32_t nodes, uint32_t gpn, cl_error_t *err)
{
    cl_topo_shape_t s;
    if (cl_topo_preset_shape(name, nodes, gpn, &s, err) < 0) return NULL;
    const char *prefix = "node";
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (!strcmp(name, presets[i].name)) prefix = presets[i].prefix;
    return cl_topo_create(&s, prefix, err);
}

uint32_t cl_topo_nodes(const cl_topo_t *t)
{
    return t->nnodes;
}
uint32_t cl_topo_gpus_per_node(const cl_topo_t *t)
{
    return t->gpn;
}
uint64_t cl_topo_gpus(const cl_topo_t *t)
{
    return (uint64_t)t->nnodes * t->gpn;
}
uint32_t cl_topo_domains(const cl_topo_t *t)
{
    return t->nlv[LV_DOM];
}
uint32_t cl_topo_leaves(const cl_topo_t *t)
{
    return t->nlv[LV_LEAF];
}
uint32_t cl_topo_pods(const cl_topo_t *t)
{
    return t->nlv[LV_POD];
}
uint32_t cl_topo_domain_nodes_max(const cl_topo_t *t)
{
    return t->cap[LV_DOM];
}

uint32_t cl__topo_node_level(const cl_topo_t *t, cl_nodeid_t n, int lv)
{
    uint32_t e = t->parent[0][n];
    for (int l = LV_DOM; l < lv; l++)
        e = t->parent[l][e];
    return e;
}

uint32_t cl__topo_nodes_in(const cl_topo_t *t, int lv, uint32_t e)
{
    uint32_t a = e, b = e + 1;
    for (int l = lv; l >= LV_DOM; l--) {
        a = t->first[l][a];
        b = t->first[l][b];
    }
    return b - a;
}

uint32_t cl_topo_node_domain(const cl_topo_t *t, cl_nodeid_t n)
{
    return t->parent[0][n];
}
uint32_t cl_topo_node_leaf(const cl_topo_t *t, cl_nodeid_t n)
{
    return cl__topo_node_level(t, n, LV_LEAF);
}
uint32_t cl_topo_node_pod(const cl_topo_t *t, cl_nodeid_t n)
{
    return cl__topo_node_level(t, n, LV_POD);
}
const char *cl_topo_node_name(const cl_topo_t *t, cl_nodeid_t n)
{
    return n < t->nnodes ? t->names + t->name_off[n] : NULL;
}
const char *cl_topo_leaf_name(const cl_topo_t *t, uint32_t l)
{
    return l < t->nlv[LV_LEAF] ? t->leaf_names[l] : NULL;
}
const char *cl_topo_pod_name(const cl_topo_t *t, uint32_t p)
{
    return p < t->nlv[LV_POD] ? t->pod_names[p] : NULL;
}
uint32_t cl_topo_leaf_pod(const cl_topo_t *t, uint32_t l)
{
    uint32_t lo = 0, hi = t->nlv[LV_POD]; /* the pod p with first[p] <= l < first[p + 1] */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->first[LV_POD][mid] <= l)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

cl_nodeid_t cl_topo_find_node(const cl_topo_t *t, const char *name)
{
    uint32_t h = hash_str(name) & t->hmask;
    while (t->hash[h] != NIL) {
        if (!strcmp(t->names + t->name_off[t->hash[h]], name)) return t->hash[h];
        h = (h + 1) & t->hmask;
    }
    return CL_NO_NODE;
}
