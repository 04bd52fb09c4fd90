/* ctl_resv.c - node reservations on the controller (issue 15, docs/reservations.md):
 * `colossus reserve` windows made, listed and deleted by operators, journaled as store
 * objects ("resv", NAME), given to the core (cl_resv_add), which keeps jobs out of them; an
 * ended window is deleted at the next tick. Also: hostlists as node ids (--nodelist,
 * --exclude, reserve --nodes), costing the names listed, never the cluster. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"
#include "util/hostlist.h"

#define JOURNAL_KIND "resv"
#define RESV_MAX 256 /* reservations at once: each job placed compares its window with each */

typedef struct resv {
    uint64_t id;
    char *name, *nodes, *pod, *tenant, *by;
    double start, end;
    uint32_t nnodes;
} resv_t;

typedef struct ctl_resv {
    resv_t *v;
    size_t n, cap;
    uint64_t next_id;
    cl_nodeid_t *spec_ids; /* ctl_job_spec's lists, valid until its next call */
} ctl_resv_t;

/* ---- hostlists as node ids ---- */

typedef struct ids_acc {
    ctl_t *c;
    bool strict;
    cl_nodeid_t *v;
    size_t n, cap;
    char bad[64];
} ids_acc_t;

static int add_name(const char *name, void *arg)
{
    ids_acc_t *a = arg;
    ctl_node_t *nd = ctl_node_by_name(a->c, name);
    cl_nodeid_t id = nd ? nd->id : cl_topo_find_node(cl_cluster_topo(a->c->cluster), name);
    if (!nd && id != CL_NO_NODE && a->c->nodes[id].bound) id = CL_NO_NODE; /* renamed slot */
    if (id == CL_NO_NODE) {
        if (!a->strict) return 0;
        snprintf(a->bad, sizeof a->bad, "%s", name);
        return 1;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = cl_xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = id;
    return 0;
}

int ctl_hosts_ids(ctl_t *c, const char *what, const char *hl, bool strict, cl_nodeid_t **ids,
                  size_t *n, cl_error_t *err)
{
    *ids = NULL;
    *n = 0;
    cl_error_t e;
    if (cl_hostlist_check(hl, &e) < 0) return cl_err(err, "%s: %s", what, e.msg);
    if (cl_hostlist_count(hl) > (uint64_t)c->nnodes * 2 + 64)
        return cl_err(err, "%s names %" PRIu64 " nodes; the cluster has %u", what,
                      cl_hostlist_count(hl), c->nnodes);
    ids_acc_t a = {.c = c, .strict = strict};
    if (cl_hostlist_each(hl, add_name, &a, &e) != 0) {
        free(a.v);
        return cl_err(err, "%s: no node '%s' (colossus nodes lists them)", what, a.bad);
    }
    *ids = a.v;
    *n = a.n;
    return 0;
}

int ctl_job_cons_spec(ctl_t *c, const ctl_job_t *j, cl_job_spec_t *spec, bool strict,
                      cl_error_t *err)
{
    if (!c->resv) c->resv = cl_xcalloc(1, sizeof *c->resv);
    free(c->resv->spec_ids);
    c->resv->spec_ids = NULL;
    spec->exclusive = j->exclusive;
    cl_nodeid_t *l = NULL, *x = NULL;
    size_t nl = 0, nx = 0;
    if (j->nodelist && ctl_hosts_ids(c, "--nodelist", j->nodelist, strict, &l, &nl, err) < 0)
        return -1;
    if (j->exclude && ctl_hosts_ids(c, "--exclude", j->exclude, strict, &x, &nx, err) < 0) {
        free(l);
        return -1;
    }
    if (nl + nx) {
        cl_nodeid_t *v = cl_xmalloc((nl + nx) * sizeof *v);
        if (nl) memcpy(v, l, nl * sizeof *v);
        if (nx) memcpy(v + nl, x, nx * sizeof *v);
        c->resv->spec_ids = v;
        spec->nodelist = nl ? v : NULL;
        spec->nnodelist = (uint32_t)nl;
        spec->exclude = nx ? v + nl : NULL;
        spec->nexclude = (uint32_t)nx;
    }
    free(l);
    free(x);
    /* a nodelist that named only nodes now gone: nothing left to allow (never "any") */
    if (j->nodelist && !nl) return cl_err(err, "--nodelist: none of its nodes exists now");
    return 0;
}

/* ---- the reservations ---- */

static resv_t *find(ctl_t *c, const char *name_or_id)
{
    ctl_resv_t *r = c->resv;
    uint64_t id = 0;
    bool num = cl_parse_u64(name_or_id, 1, UINT32_MAX, &id) == 0;
    for (size_t i = 0; r && i < r->n; i++)
        if (!strcmp(r->v[i].name, name_or_id) || (num && r->v[i].id == id)) return &r->v[i];
    return NULL;
}

const char *ctl_resv_name(ctl_t *c, uint64_t id)
{
    for (size_t i = 0; c->resv && i < c->resv->n; i++)
        if (c->resv->v[i].id == id) return c->resv->v[i].name;
    return NULL;
}

static void fill_info(ctl_t *c, const resv_t *x, Colossus__ReservationInfo *o)
{
    colossus__reservation_info__init(o);
    o->id = x->id;
    o->name = x->name;
    o->nodes = x->nodes;
    o->nnodes = x->nnodes;
    o->start = x->start;
    o->end = x->end;
    o->tenant = x->tenant;
    o->pod = x->pod;
    o->created_by = x->by;
    double now = ctl_now(c);
    o->state = now < x->start ? "waiting" : now < x->end ? "active" : "ended";
}

static void journal(ctl_t *c, const resv_t *x, bool del)
{
    if (del) {
        ctl_journal_obj(c, JOURNAL_KIND, x->name, NULL);
        return;
    }
    Colossus__ReservationInfo o;
    fill_info(c, x, &o);
    o.state = "";
    ctl_journal_obj(c, JOURNAL_KIND, x->name, &o.base);
}

static void resv_free(resv_t *x)
{
    free(x->name);
    free(x->nodes);
    free(x->pod);
    free(x->tenant);
    free(x->by);
}

static void drop(ctl_t *c, resv_t *x)
{
    ctl_resv_t *r = c->resv;
    cl_resv_remove(c->cluster, x->id);
    resv_free(x);
    *x = r->v[--r->n];
    c->sched_needed = true; /* its nodes may take jobs now */
}

/* The nodes of a pod, or of a hostlist: ids (malloc'd) and the hostlist shown. */
static int resolve(ctl_t *c, const char *pod, const char *hosts, cl_nodeid_t **ids, size_t *n,
                   char **shown, bool strict, cl_error_t *err)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    *shown = NULL;
    if (pod[0]) {
        uint32_t np = cl_topo_pods(t), p = 0;
        while (p < np && strcmp(cl_topo_pod_name(t, p), pod))
            p++;
        if (p == np) return cl_err(err, "no pod '%.64s' (colossus nodes shows the pods)", pod);
        *n = 0;
        *ids = cl_xmalloc(sizeof **ids * (c->nnodes + 1));
        for (uint32_t i = 0; i < c->nnodes; i++) /* once, at the operator's request */
            if (cl_topo_node_pod(t, i) == p) (*ids)[(*n)++] = i;
    } else if (ctl_hosts_ids(c, "--nodes", hosts, strict, ids, n, err) < 0) {
        return -1;
    }
    if (!*n) {
        free(*ids);
        return cl_err(err, "the reservation has no nodes");
    }
    const char **names = cl_xmalloc(sizeof *names * *n);
    for (size_t i = 0; i < *n; i++)
        names[i] = c->nodes[(*ids)[i]].bound ? c->nodes[(*ids)[i]].name
                                             : cl_topo_node_name(t, (*ids)[i]);
    *shown = cl_hostlist_compress(names, *n);
    free(names);
    return 0;
}

/* Into the core and the table (the caller journals). tenant "": maintenance. */
static resv_t *add(ctl_t *c, uint64_t id, const char *name, const char *pod, const char *hosts,
                   double start, double end, const char *tenant, const char *by, bool strict,
                   cl_error_t *err)
{
    ctl_resv_t *r = c->resv;
    int t = -1;
    if (tenant[0] && (t = cl_tenant_find(c->cluster, tenant)) < 0)
        return cl_err(err, "no tenant '%.64s'", tenant), NULL;
    cl_nodeid_t *ids;
    size_t n;
    char *shown;
    if (resolve(c, pod, hosts, &ids, &n, &shown, strict, err) < 0) return NULL;
    cl_resv_spec_t s = {id, start, end, t, ids, n};
    cl_error_t e;
    if (cl_resv_add(c->cluster, &s, &e) < 0) {
        free(ids);
        free(shown);
        return cl_err(err, "%s", e.msg), NULL;
    }
    free(ids);
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->v = cl_xrealloc(r->v, r->cap * sizeof *r->v);
    }
    resv_t *x = &r->v[r->n++];
    *x = (resv_t){.id = id,
                  .name = cl_xstrdup(name),
                  .nodes = shown,
                  .pod = cl_xstrdup(pod),
                  .tenant = cl_xstrdup(tenant),
                  .by = cl_xstrdup(by),
                  .start = start,
                  .end = end,
                  .nnodes = (uint32_t)n};
    if (id >= r->next_id) r->next_id = id + 1;
    c->sched_needed = true;
    return x;
}

static int load_obj(const char *kind, const char *key, const void *val, size_t len, void *arg)
{
    ctl_t *c = arg;
    Colossus__ReservationInfo *o = colossus__reservation_info__unpack(NULL, len, val);
    if (!o) {
        ctl_log(c, "reserve: the journal's reservation %s does not decode: ignored", key);
        return 0;
    }
    cl_error_t e;
    if (!add(c, o->id, o->name, o->pod, o->nodes, o->start, o->end, o->tenant, o->created_by,
             false, &e))
        ctl_log(c, "reserve: the journal's reservation %s is refused now: %s", key, e.msg);
    colossus__reservation_info__free_unpacked(o, NULL);
    return 0;
}

int ctl_resv_init(ctl_t *c, cl_error_t *err)
{
    if (!c->resv) c->resv = cl_xcalloc(1, sizeof *c->resv);
    c->resv->next_id = 1;
    return cl_store_objs_load(c->store, JOURNAL_KIND, load_obj, c, err);
}

void ctl_resv_free(ctl_t *c)
{
    if (!c->resv) return;
    for (size_t i = 0; i < c->resv->n; i++)
        resv_free(&c->resv->v[i]);
    free(c->resv->v);
    free(c->resv->spec_ids);
    free(c->resv);
    c->resv = NULL;
}

void ctl_resv_tick(ctl_t *c)
{
    double now = ctl_now(c);
    for (size_t i = 0; c->resv && i < c->resv->n;) {
        resv_t *x = &c->resv->v[i];
        if (x->end > now) {
            i++;
            continue;
        }
        ctl_log(c, "reserve: %s ended: deleted", x->name);
        journal(c, x, true);
        drop(c, x);
    }
}

/* ---- the operations ---- */

static void reply_list(ctl_t *c, ctl_sink_t *reply, uint64_t req, const resv_t *only,
                       const char *text)
{
    size_t n = only ? 1 : c->resv->n;
    Colossus__ReservationInfo *v = cl_xcalloc(n + 1, sizeof *v);
    Colossus__ReservationInfo **p = cl_xcalloc(n + 1, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        fill_info(c, only ? only : &c->resv->v[i], &v[i]);
        p[i] = &v[i];
    }
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = req;
    rs.ok = true;
    rs.reservations = p;
    rs.n_reservations = n;
    rs.data.data = (uint8_t *)text;
    rs.data.len = text ? strlen(text) : 0;
    ctl_reply(c, reply, &rs);
    free(p);
    free(v);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 63) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return !(s[0] >= '0' && s[0] <= '9'); /* a number names an id */
}

void ctl_op_reserve(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    const Colossus__ReserveReq *q = r->reserve;
    cl_error_t e = {{0}};
    char gen[32];
    const char *name = q->name;
    if (!name[0]) {
        snprintf(gen, sizeof gen, "resv%" PRIu64, c->resv->next_id);
        name = gen;
    }
    double now = ctl_now(c);
    resv_t *x = NULL;
    if (!name_ok(name))
        cl_err(&e,
               "a reservation's name is 1-63 letters, digits, '-', '_' or '.', not "
               "starting with a digit, not '%.64s'",
               name);
    else if (find(c, name))
        cl_err(&e, "there is a reservation %s already", name);
    else if (!!q->pod[0] == !!q->nodes[0])
        cl_err(&e, "give --nodes HOSTLIST or --pod POD (one of them)");
    else if (!isfinite(q->start) || !isfinite(q->duration_s) || !(q->duration_s > 0) ||
             q->duration_s > 3660.0 * 86400)
        cl_err(&e, "the duration must be more than 0 and at most 3660 days, not %g s",
               q->duration_s);
    else if (q->start < now - 60) /* a minute's slack for the clocks of client and controller */
        cl_err(&e, "the start is in the past (now is %.0f, the start %.0f)", now, q->start);
    else if (c->resv->n >= RESV_MAX)
        cl_err(&e, "%d reservations already: delete one first", RESV_MAX);
    else if (c->resv->next_id > UINT32_MAX)
        cl_err(&e, "reservation ids are used up");
    else
        x = add(c, c->resv->next_id, name, q->pod, q->nodes, q->start, q->start + q->duration_s,
                q->tenant,
                k->user ? k->user->name
                : k->p  ? k->p->name
                        : "?",
                true, &e);
    if (!x) {
        ctl_audit(c, k, "reserve", name, false, e.msg);
        Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
        char msg[400];
        snprintf(msg, sizeof msg, "reserve refused: %s", e.msg);
        rs.req = r->req;
        rs.error = msg;
        rs.bad_input = true; /* every refusal here is of the request's own input */
        ctl_reply(c, reply, &rs);
        return;
    }
    journal(c, x, false);
    char detail[200];
    snprintf(detail, sizeof detail, "%u nodes %.64s, %.0f s from %.0f, %s%.64s", x->nnodes,
             x->pod[0] ? x->pod : x->nodes, q->duration_s, x->start,
             x->tenant[0] ? "tenant " : "maintenance", x->tenant);
    ctl_audit(c, k, "reserve", x->name, true, detail);
    ctl_log(c, "reserve: %s: %s", x->name, detail);
    char text[128];
    snprintf(text, sizeof text, "reservation %s (id %" PRIu64 ")", x->name, x->id);
    reply_list(c, reply, r->req, x, text); /* leaves once it is journaled */
}

void ctl_op_reservations(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                         ctl_sink_t *reply)
{
    reply_list(c, reply, r->req, NULL, NULL);
}

void ctl_op_reserve_delete(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                           ctl_sink_t *reply)
{
    resv_t *x = find(c, r->reserve_delete);
    if (!x) {
        ctl_audit(c, k, "reserve delete", r->reserve_delete, false, "no such reservation");
        Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
        char msg[200];
        snprintf(msg, sizeof msg, "reserve delete refused: no reservation '%.64s'",
                 r->reserve_delete);
        rs.req = r->req;
        rs.error = msg;
        rs.bad_input = true;
        ctl_reply(c, reply, &rs);
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "%s", x->name);
    journal(c, x, true);
    drop(c, x);
    ctl_audit(c, k, "reserve delete", name, true, NULL);
    ctl_log(c, "reserve: %s deleted", name);
    char text[100];
    snprintf(text, sizeof text, "reservation %s deleted", name);
    ctl_reply_ok(c, reply, r->req, text);
}
