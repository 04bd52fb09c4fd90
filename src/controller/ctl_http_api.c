/* ctl_http_api.c - the REST API's resources as the controller's operations: a route becomes the
 * Request the CLI would send (src/cli/jobcmds.c, jobview.c, nodecmds.c), given to
 * ctl_request() with the HTTP request as its sink, and the Responses become the shared JSON
 * renderings (api/json.h) the CLI's --json prints. A list is a page request (ListReq): the
 * controller walks from the cursor and applies the filters (ctl_pages.c); here its items are
 * rendered and `next` is the last one's id when the controller says more match. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "controller/ctl_http.h"
#include "controller/ctl_http_lib.h"

void http_answer_json(http_req_t *q, unsigned status, json_t *v)
{
    free(q->text);
    q->text = cl_rest_dump(v, &q->len);
    json_decref(v);
    q->status = status;
    q->done = true;
}

void http_answer_error(http_req_t *q, unsigned status, const char *msg)
{
    free(q->text);
    q->text = cl_rest_error_body(msg, &q->len);
    q->status = status;
    q->done = true;
}

static void dispatch_submit(http_req_t *q, Colossus__Request *r)
{
    Colossus__SubmitReq s;
    json_t *doc;
    cl_error_t err;
    if (cl_rest_submit_parse(q->body.p ? (char *)q->body.p : "", q->body.len, &s, &doc, &err) <
        0) {
        http_answer_error(q, 400, err.msg);
        return;
    }
    /* a retry of a submission whose answer was lost (a failover, a dropped connection) sends
     * the same Idempotency-Key header (as draft-ietf-httpapi-idempotency-key-header): one job
     * (the controller checks the key: ctl_idem.c) */
    const char *key = mhd.lookup_connection_value(q->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (key) s.idempotency_key = (char *)key;
    r->body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r->submit = &s;
    q->dispatched = true;
    ctl_request(q->ctl, &q->who, r, &q->sink);
    free(s.argv);
    free(s.env);
    json_decref(doc);
}

static void dispatch_admin(http_req_t *q, Colossus__Request *r, bool drain)
{
    const char *reason;
    json_t *doc;
    cl_error_t err;
    if (cl_rest_admin_parse(q->body.p ? (char *)q->body.p : "", q->body.len, &reason, &doc,
                            &err) < 0) {
        http_answer_error(q, 400, err.msg);
        return;
    }
    Colossus__NodeAdmin a = COLOSSUS__NODE_ADMIN__INIT;
    a.node = q->route.node;
    a.reason = (char *)(reason ? reason : "");
    r->body_case = drain ? COLOSSUS__REQUEST__BODY_DRAIN : COLOSSUS__REQUEST__BODY_RESUME;
    *(drain ? &r->drain : &r->resume) = &a;
    q->dispatched = true;
    ctl_request(q->ctl, &q->who, r, &q->sink);
    json_decref(doc);
}

void http_api_dispatch(http_req_t *q)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    Colossus__ListReq page;
    cl_rest_list_req(&q->list, &page);
    r.req = 1; /* one request per sink */
    switch (q->route.op) {
    case CL_REST_SUBMIT:
        dispatch_submit(q, &r);
        return;
    case CL_REST_DRAIN:
    case CL_REST_RESUME:
        dispatch_admin(q, &r, q->route.op == CL_REST_DRAIN);
        return;
    case CL_REST_WATCH:
        http_watch_start(q);
        return;
    case CL_REST_WHOAMI:
        r.body_case = COLOSSUS__REQUEST__BODY_WHOAMI;
        r.whoami = true;
        break;
    case CL_REST_JOBS:
        r.body_case = COLOSSUS__REQUEST__BODY_JOBS_PAGE;
        r.jobs_page = &page;
        break;
    case CL_REST_JOB:
        r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
        r.show = q->route.job;
        break;
    case CL_REST_CANCEL:
        r.body_case = COLOSSUS__REQUEST__BODY_CANCEL;
        r.cancel = q->route.job;
        break;
    case CL_REST_HOLD:
        r.body_case = COLOSSUS__REQUEST__BODY_HOLD;
        r.hold = q->route.job;
        break;
    case CL_REST_RELEASE:
        r.body_case = COLOSSUS__REQUEST__BODY_RELEASE;
        r.release = q->route.job;
        break;
    case CL_REST_REQUEUE:
        r.body_case = COLOSSUS__REQUEST__BODY_REQUEUE;
        r.requeue = q->route.job;
        break;
    case CL_REST_NODES:
        r.body_case = COLOSSUS__REQUEST__BODY_NODES_PAGE;
        r.nodes_page = &page;
        break;
    case CL_REST_NODE:
        r.body_case = COLOSSUS__REQUEST__BODY_NODES;
        r.nodes = true;
        q->items = json_array();
        break;
    default: /* the service routes */
        http_svc_dispatch(q, &r);
        return;
    }
    if (q->route.op == CL_REST_NODE && !q->items) cl_oom(0, __FILE__, __LINE__);
    q->dispatched = true;
    ctl_request(q->ctl, &q->who, &r, &q->sink);
}

static void page_add(http_req_t *q, json_t *v, uint64_t id)
{
    if (json_array_append_new(q->items, v) < 0) cl_oom(0, __FILE__, __LINE__);
    q->last_id = id;
}

static int text_put(const char *p, size_t n, void *arg)
{
    if (cl_buf_append(arg, p, n) < 0) cl_oom(n, __FILE__, __LINE__);
    return 0;
}

/* {"KEY":[items],"next":N|null}, as cl_rest_dump writes it */
static void page_end(http_req_t *q, const char *key)
{
    char head[32], tail[48], next[24] = "null";
    snprintf(head, sizeof head, "{\"%s\":", key);
    if (q->more && q->page.len) snprintf(next, sizeof next, "%" PRIu64, q->last_id);
    snprintf(tail, sizeof tail, "%s],\"next\":%s}\n", q->page.len ? "" : "[", next);
    size_t hl = strlen(head), tl = strlen(tail);
    char *t = cl_xmalloc(hl + q->page.len + tl + 1);
    memcpy(t, head, hl);
    if (q->page.len) memcpy(t + hl, q->page.p, q->page.len);
    memcpy(t + hl + q->page.len, tail, tl + 1);
    free(q->text);
    q->text = t;
    q->len = hl + q->page.len + tl;
    cl_buf_free(&q->page);
    q->status = 200;
    q->done = true;
}

/* A part of a page of jobs or nodes, as the sink's encode writes it: this header, then the
 * items' JSON, each after a comma. Rendered when the controller answers (straight to text for
 * nodes, api/jw.h), so that 550,000 nodes are never packed and unpacked again on their way. */
typedef struct page_part {
    bool more;      /* Response.more: another part follows */
    bool page_more; /* Response.page_more: the list goes on past this page */
    uint64_t last_id;
    size_t items;
} page_part_t;

bool http_api_encode(http_req_t *q, const Colossus__Response *rs, cl_buf_t *out)
{
    bool jobs = q->route.op == CL_REST_JOBS;
    if (!rs->ok || (!jobs && q->route.op != CL_REST_NODES)) return false;
    page_part_t h = {rs->more, rs->page_more, 0, jobs ? rs->n_jobs : rs->n_nodes};
    size_t at = out->len;
    text_put((const char *)&h, sizeof h, out);
    for (size_t i = 0; i < h.items; i++) {
        text_put(",", 1, out);
        if (!jobs) {
            cl_json_node_text(out, rs->nodes[i]);
            h.last_id = rs->nodes[i]->id;
            continue;
        }
        json_t *v = cl_json_job(rs->jobs[i]);
        if (json_dump_callback(v, text_put, out, CL_REST_DUMP_FLAGS) < 0)
            cl_oom(0, __FILE__, __LINE__);
        json_decref(v);
        h.last_id = rs->jobs[i]->id;
    }
    memcpy(out->p + at, &h, sizeof h); /* with the last id */
    return true;
}

void http_api_page_part(http_req_t *q, const uint8_t *p, size_t len)
{
    if (q->done || len < sizeof(page_part_t)) return; /* a later part of an answer refused */
    page_part_t h;
    memcpy(&h, p, sizeof h);
    p += sizeof h, len -= sizeof h;
    if (h.items) {
        /* the page's first item has no comma before it: the page's "[" instead */
        text_put(q->page.len ? "," : "[", 1, &q->page);
        text_put((const char *)p + 1, len - 1, &q->page);
        q->last_id = h.last_id;
    }
    if (h.more) return;
    q->more = h.page_more;
    page_end(q, q->route.op == CL_REST_JOBS ? "jobs" : "nodes");
}

/* GET /nodes/NAME: the node of that name, from the list's parts */
static void node_part(http_req_t *q, const Colossus__Response *rs)
{
    for (size_t i = 0; i < rs->n_nodes && !json_array_size(q->items); i++)
        if (!strcmp(rs->nodes[i]->name, q->route.node))
            page_add(q, cl_json_node(rs->nodes[i]), rs->nodes[i]->id);
    if (rs->more) return;
    json_t *one = json_array_get(q->items, 0);
    if (one) {
        json_incref(one);
        http_answer_json(q, 200, one);
    } else {
        char msg[200];
        snprintf(msg, sizeof msg, "no node named '%s'", q->route.node);
        http_answer_error(q, 404, msg);
    }
    json_decref(q->items);
    q->items = NULL;
}

/* {"KEY": value} */
static json_t *one_field(const char *key, json_t *v)
{
    json_t *o = json_object();
    if (!v) v = json_null(); /* a string that is not UTF-8 */
    if (!o || json_object_set_new(o, key, v) < 0) cl_oom(0, __FILE__, __LINE__);
    return o;
}

void http_api_response(http_req_t *q, const Colossus__Response *rs)
{
    if (q->done) return; /* a later part of an answer already refused */
    if (!rs->ok) {
        http_answer_error(q, (unsigned)cl_rest_error_status(rs->error), rs->error);
        return;
    }
    switch (q->route.op) {
    case CL_REST_WHOAMI:
        http_answer_json(q, 200, cl_json_whoami(rs));
        return;
    case CL_REST_JOB:
        if (rs->n_jobs)
            http_answer_json(q, 200, cl_json_job(rs->jobs[0]));
        else
            http_answer_error(q, 500, "the controller answered without the job");
        return;
    case CL_REST_SUBMIT:
        snprintf(q->location, sizeof q->location, CL_REST_PREFIX "/jobs/%" PRIu64, rs->job);
        http_answer_json(q, 201, one_field("id", json_integer((json_int_t)rs->job)));
        return;
    case CL_REST_CANCEL:
    case CL_REST_HOLD:
    case CL_REST_RELEASE:
    case CL_REST_REQUEUE:
        http_answer_json(q, 200, one_field("id", json_integer((json_int_t)q->route.job)));
        return;
    case CL_REST_DRAIN:
    case CL_REST_RESUME:
        http_answer_json(q, 200, one_field("node", json_string(q->route.node)));
        return;
    case CL_REST_JOBS: /* as text: http_api_encode */
    case CL_REST_NODES:
        return;
    case CL_REST_NODE:
        node_part(q, rs);
        return;
    case CL_REST_WATCH: /* a stream: the controller answers it no Response */
        return;
    default:
        http_svc_response(q, rs);
        return;
    }
}
