/* test_ctl_pages.c - pages of the job and node lists (Request.jobs_page, nodes_page; the
 * controller's side of the REST API's lists): a page holds at most `limit` items, in id order,
 * from past the cursor; page_more says whether more match; filters (states, tenant, user,
 * all) and the cursor at the ends (past the last id, UINT64_MAX, holes); the pages of a walk
 * join to the whole list; a bad limit is refused. Driven on the controller object with
 * 20,000 nodes and 2,500 jobs (ctl_test.h). */
#include "ctl_test.h"

#define NODES 20000
#define BOUND 19000 /* nodes registered: the last 1,000 slots stay unbound */

/* n nodes h-0.. registered on one sink (ids 0..n-1, in order), a turn every 1,000. */
static t_sink_t *many_nodes(t_ctl_t *t, uint32_t n)
{
    t_sink_t *a = t_sink(t, "hollow");
    Colossus__Gpu g[8], *gp[8];
    for (uint32_t i = 0; i < 8; i++) {
        colossus__gpu__init(&g[i]);
        g[i].index = i;
        gp[i] = &g[i];
    }
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "h-%u", i);
        Colossus__Register r = COLOSSUS__REGISTER__INIT;
        r.handle = i;
        r.name = name;
        r.gpus = gp;
        r.n_gpus = 8;
        r.addr = "10.0.0.1";
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_REGISTER;
        m.register_ = &r;
        cl_error_t why;
        assert_int_equal(ctl_peer_msg(t->c, &t_admin, &a->sink, &m, &why), 0);
        if (i % 1000 == 999 || i == n - 1) {
            t_turn(t);
            t_drop(a);
        }
    }
    return a;
}

typedef struct page {
    uint64_t ids[NODES + 1];
    size_t n;
    int parts;
    bool more;
    char error[256]; /* "" when answered */
} page_t;

/* One page request (jobs: true for jobs_page), its parts joined into pg. */
static void ask(t_ctl_t *t, bool jobs, const Colossus__ListReq *p, page_t *pg)
{
    t_sink_t *cli = t_sink(t, "page");
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = jobs ? COLOSSUS__REQUEST__BODY_JOBS_PAGE : COLOSSUS__REQUEST__BODY_NODES_PAGE;
    *(jobs ? &r.jobs_page : &r.nodes_page) = (Colossus__ListReq *)p;
    uint64_t req = t_request(t, cli, &r);
    pg->n = 0;
    pg->parts = 0;
    pg->more = false;
    pg->error[0] = 0;
    for (bool last = false; !last;) {
        Colossus__Msg *m = t_response(cli, req);
        assert_non_null(m);
        Colossus__Response *rs = m->response;
        pg->parts++;
        if (!rs->ok) snprintf(pg->error, sizeof pg->error, "%s", rs->error);
        for (size_t i = 0; i < (jobs ? rs->n_jobs : rs->n_nodes); i++) {
            assert_true(pg->n < NODES);
            pg->ids[pg->n++] = jobs ? rs->jobs[i]->id : rs->nodes[i]->id;
        }
        last = !rs->more;
        assert_true(last || !rs->page_more); /* said by the last part only */
        pg->more = rs->page_more;
        colossus__msg__free_unpacked(m, NULL);
    }
    assert_int_equal(cli->n, 0);
    t_close(t, cli);
}

static Colossus__ListReq list_req(uint32_t limit, bool has_after, uint64_t after)
{
    Colossus__ListReq p = COLOSSUS__LIST_REQ__INIT;
    p.limit = limit;
    p.has_after = has_after;
    p.after = after;
    return p;
}

static void assert_run(const page_t *pg, uint64_t first, size_t n)
{
    assert_string_equal(pg->error, "");
    assert_int_equal(pg->n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pg->ids[i], first + i);
}

static void test_node_pages(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(NODES, 8);
    t_sink_t *a = many_nodes(t, BOUND);
    page_t *pg = cl_xcalloc(1, sizeof *pg);
    /* a page of 10 from the middle: those 10 only, the next cursor its last id */
    Colossus__ListReq p = list_req(10, true, 12000);
    ask(t, false, &p, pg);
    assert_run(pg, 12001, 10);
    assert_true(pg->more);
    assert_int_equal(pg->parts, 1);
    /* the first page (no cursor) starts at node 0; after=0 at node 1 */
    p = list_req(3, false, 0);
    ask(t, false, &p, pg);
    assert_run(pg, 0, 3);
    p = list_req(3, true, 0);
    ask(t, false, &p, pg);
    assert_run(pg, 1, 3);
    /* a walk of 10,000 a page: 9,999 after 10,000 reaches the last bound node; the unbound
     * slots past it are not listed and do not make a next page */
    size_t total = 0, pages = 0;
    bool has_after = false;
    uint64_t after = 0;
    do {
        p = list_req(10000, has_after, after);
        ask(t, false, &p, pg);
        assert_run(pg, has_after ? after + 1 : 0, pages ? BOUND - 10000 : 10000);
        total += pg->n;
        pages++;
        has_after = true;
        after = pg->ids[pg->n - 1];
    } while (pg->more);
    assert_int_equal(total, BOUND);
    assert_int_equal(pages, 2);
    /* exactly limit items left: no next */
    p = list_req(10, true, BOUND - 11);
    ask(t, false, &p, pg);
    assert_run(pg, BOUND - 10, 10);
    assert_false(pg->more);
    /* past the end, and the largest cursor there is */
    p = list_req(10, true, BOUND + 5);
    ask(t, false, &p, pg);
    assert_run(pg, 0, 0);
    assert_false(pg->more);
    p = list_req(10, true, UINT64_MAX);
    ask(t, false, &p, pg);
    assert_run(pg, 0, 0);
    /* a state filter: two drained nodes among 19,000 up, found from any cursor */
    const char *drain[] = {"h-100", "h-15000"};
    for (int i = 0; i < 2; i++) {
        t_sink_t *op = t_sink(t, "op");
        Colossus__NodeAdmin na = COLOSSUS__NODE_ADMIN__INIT;
        na.node = (char *)drain[i];
        na.reason = "test";
        Colossus__Request r = COLOSSUS__REQUEST__INIT;
        r.body_case = COLOSSUS__REQUEST__BODY_DRAIN;
        r.drain = &na;
        Colossus__Msg *m = t_response(op, t_request(t, op, &r));
        assert_non_null(m);
        assert_true(m->response->ok);
        colossus__msg__free_unpacked(m, NULL);
        t_close(t, op);
    }
    p = list_req(1, false, 0);
    p.states = (1u << CL_NODE_DRAINED) | (1u << CL_NODE_DRAINING);
    ask(t, false, &p, pg);
    assert_int_equal(pg->n, 1);
    assert_int_equal(pg->ids[0], 100);
    assert_true(pg->more);
    p.has_after = true;
    p.after = 100;
    ask(t, false, &p, pg);
    assert_int_equal(pg->n, 1);
    assert_int_equal(pg->ids[0], 15000);
    assert_false(pg->more);
    p.states = 1u << CL_NODE_DOWN; /* the bound nodes are all up */
    p.limit = 100;
    p.has_after = false;
    ask(t, false, &p, pg);
    assert_run(pg, 0, 0);
    /* a limit out of 1..100,000 is refused */
    p = list_req(0, false, 0);
    ask(t, false, &p, pg);
    assert_non_null(strstr(pg->error, "1 to 100000 items"));
    p = list_req(100001, false, 0);
    ask(t, false, &p, pg);
    assert_non_null(strstr(pg->error, "1 to 100000 items"));
    free(pg);
    t_close(t, a);
    t_teardown(t);
}

/* n jobs that stay pending (no node is up), a turn every 250 submissions. */
static void many_jobs(t_ctl_t *t, uint32_t n)
{
    t_sink_t *cli = t_sink(t, "submit");
    char *argv[] = {"true"};
    for (uint32_t i = 0; i < n; i++) {
        Colossus__SubmitReq s = COLOSSUS__SUBMIT_REQ__INIT;
        s.nodes = 1;
        s.gpus_per_node = 8;
        s.argv = argv;
        s.n_argv = 1;
        s.cwd = "/work";
        Colossus__Request r = COLOSSUS__REQUEST__INIT;
        r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
        r.submit = &s;
        r.req = ++t->next_req;
        ctl_request(t->c, &t_admin, &r, &cli->sink);
        if (i % 250 == 249 || i == n - 1) {
            t_turn(t);
            for (int k = 0; k < cli->n; k++)
                assert_true(cli->msgs[k]->response->ok);
            t_drop(cli);
        }
    }
    t_close(t, cli);
}

static void test_job_pages(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(16, 8);
    many_jobs(t, 2500);
    t_sink_t *cli = t_sink(t, "cancel");
    for (uint64_t id = 100; id <= 2500; id += 100) { /* 25 jobs cancelled: finished, kept */
        Colossus__Request r = COLOSSUS__REQUEST__INIT;
        r.body_case = COLOSSUS__REQUEST__BODY_CANCEL;
        r.cancel = id;
        t_request(t, cli, &r);
    }
    t_advance(t, 100); /* the batch a writer's answer lingers in is committed */
    assert_int_equal(cli->n, 25);
    for (int k = 0; k < cli->n; k++)
        assert_true(cli->msgs[k]->response->ok);
    t_close(t, cli);
    page_t *pg = cl_xcalloc(1, sizeof *pg);
    /* a page of 10 from the middle, past a cancelled job (not listed without all) */
    Colossus__ListReq p = list_req(10, true, 1195);
    ask(t, true, &p, pg);
    assert_int_equal(pg->n, 10);
    assert_int_equal(pg->ids[0], 1196);
    assert_int_equal(pg->ids[4], 1201); /* 1200 was cancelled */
    assert_int_equal(pg->ids[9], 1206);
    assert_true(pg->more);
    /* with all, it is listed */
    p.all = true;
    ask(t, true, &p, pg);
    assert_run(pg, 1196, 10);
    /* a walk of 1,000 a page without all: 2,475 pending jobs in 3 pages */
    size_t total = 0, pages = 0;
    p = list_req(1000, false, 0);
    do {
        ask(t, true, &p, pg);
        for (size_t i = 0; i < pg->n; i++) {
            assert_true(pg->ids[i] % 100 != 0);
            assert_true(!p.has_after || pg->ids[i] > p.after);
            assert_true(!i || pg->ids[i] > pg->ids[i - 1]);
        }
        total += pg->n;
        pages++;
        p.has_after = true;
        p.after = pg->ids[pg->n - 1];
    } while (pg->more);
    assert_int_equal(total, 2475);
    assert_int_equal(pages, 3);
    /* the cancelled ones: a state filter with all */
    p = list_req(1000, false, 0);
    p.all = true;
    p.states = 1u << CL_JOB_CANCELLED;
    ask(t, true, &p, pg);
    assert_int_equal(pg->n, 25);
    assert_int_equal(pg->ids[24], 2500);
    assert_false(pg->more);
    /* tenant and user filters: the cluster key's jobs are the default tenant's, user "" */
    Colossus__Msg *m = NULL;
    {
        t_sink_t *s = t_sink(t, "show");
        Colossus__Request r = COLOSSUS__REQUEST__INIT;
        r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
        r.show = 1;
        m = t_response(s, t_request(t, s, &r));
        assert_non_null(m);
        assert_int_equal(m->response->n_jobs, 1);
        t_close(t, s);
    }
    p = list_req(5, false, 0);
    p.tenant = m->response->jobs[0]->tenant;
    ask(t, true, &p, pg);
    assert_run(pg, 1, 5);
    p.tenant = "no-such-tenant";
    ask(t, true, &p, pg);
    assert_run(pg, 0, 0);
    assert_false(pg->more);
    p.tenant = "";
    p.user = "nobody";
    ask(t, true, &p, pg);
    assert_run(pg, 0, 0);
    colossus__msg__free_unpacked(m, NULL);
    /* past the last id, and the largest cursor there is */
    p = list_req(5, true, 2500);
    ask(t, true, &p, pg);
    assert_run(pg, 0, 0);
    p.after = UINT64_MAX;
    ask(t, true, &p, pg);
    assert_run(pg, 0, 0);
    p = list_req(0, false, 0);
    ask(t, true, &p, pg);
    assert_non_null(strstr(pg->error, "1 to 100000 items"));
    free(pg);
    t_teardown(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_pages),
        cmocka_unit_test(test_job_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
