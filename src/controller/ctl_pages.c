/* ctl_pages.c - a page of the job or node list (Request.jobs_page, nodes_page: the REST API's
 * lists; docs/protocol.md): the walk starts at the cursor, in id order (the job table is an
 * array by id, the nodes are by id), and stops at the first match past the page, so that a
 * page costs its own items, not the cluster's size (the whole lists, jobs_all and nodes, are
 * the CLI's). The filters and the caller's tenants are applied here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"

#define PAGE_MAX 100000u /* items a page may ask for (the REST API asks 10,000 at most) */

static bool page_ok(ctl_t *c, ctl_sink_t *reply, uint64_t req, const Colossus__ListReq *p)
{
    if (p->limit >= 1 && p->limit <= PAGE_MAX) return true;
    ctl_reply_error(c, reply, req, "a page holds 1 to %u items, not %u", PAGE_MAX, p->limit);
    return false;
}

/* The first id of the page: past the cursor, or the list's first. */
static uint64_t page_start(const Colossus__ListReq *p, uint64_t first)
{
    if (!p->has_after) return first;
    return p->after == UINT64_MAX ? UINT64_MAX : p->after + 1;
}

static bool named(const char *filter, const char *value)
{
    return !filter || !filter[0] || !strcmp(filter, value);
}

static bool job_on_page(ctl_t *c, const ctl_caller_t *k, const ctl_job_t *j,
                        const Colossus__ListReq *p)
{
    return ctl_job_listed(c, k, j, p->all) && (!p->states || (p->states & (1u << j->state))) &&
           named(p->tenant, j->tenant) && named(p->user, j->user);
}

void ctl_op_jobs_page(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                      ctl_sink_t *reply)
{
    const Colossus__ListReq *p = r->jobs_page;
    if (!page_ok(c, reply, r->req, p)) return;
    /* the page's jobs first (ids in order), then their renderings: limit may be far above
     * what matches */
    ctl_job_t **sel = cl_xmalloc(p->limit * sizeof *sel);
    size_t n = 0;
    bool more = false;
    for (uint64_t id = page_start(p, 1); id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (!job_on_page(c, k, j, p)) continue;
        if (n == p->limit) {
            more = true;
            break;
        }
        sel[n++] = j;
    }
    Colossus__JobInfo **vp = ctl_items(n, sizeof **vp);
    for (size_t i = 0; i < n; i++)
        ctl_job_fill_info(c, sel[i], vp[i]);
    ctl_reply_page(c, reply, r->req, (void **)vp, n, CTL_PART_JOBS, more);
    for (size_t i = 0; i < n; i++)
        ctl_job_info_release(vp[i]);
    free(vp);
    free(sel);
}

static bool node_on_page(ctl_t *c, const ctl_node_t *n, uint32_t states)
{
    cl_node_info_t info;
    return n->bound && (!states || (cl_node_get(c->cluster, n->id, &info) == 0 &&
                                    (states & (1u << info.state))));
}

void ctl_op_nodes_page(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                       ctl_sink_t *reply)
{
    const Colossus__ListReq *p = r->nodes_page;
    if (!page_ok(c, reply, r->req, p)) return;
    uint32_t *sel = cl_xmalloc(p->limit * sizeof *sel);
    size_t n = 0;
    bool more = false;
    for (uint64_t i = page_start(p, 0); i < c->nnodes; i++) {
        if (!node_on_page(c, &c->nodes[i], p->states)) continue;
        if (n == p->limit) {
            more = true;
            break;
        }
        sel[n++] = (uint32_t)i;
    }
    Colossus__NodeInfo **vp = ctl_items(n, sizeof **vp);
    uint64_t *jobs = cl_xcalloc((n + 1) * 64, sizeof *jobs);
    for (size_t x = 0; x < n; x++)
        ctl_node_fill(c, k, &c->nodes[sel[x]], vp[x], jobs + x * 64);
    ctl_reply_page(c, reply, r->req, (void **)vp, n, CTL_PART_NODES, more);
    free(vp);
    free(jobs);
    free(sel);
}
