/* test_ctl_power.c - the controller's power (ctl_power.c) with a fake clock: a budget and a
 * cut become per-GPU limits sent to the job's nodes with the batch that journals them; a
 * node's report counts once, from its own carrier, for the latest change only; a cut --for
 * ends by itself at its time; the settings survive a restart; nothing is sent without a
 * budget; bad input and a user's request refused with nothing changed; the floor between
 * runs: two ended runs' GPUs held and brought down to idle sharing the allowed ramp. */
#include <math.h>

#include "controller/ctl.h"
#include "ctl_test.h"

static Colossus__Msg *power_req(t_ctl_t *t, t_sink_t *cli, const ctl_principal_t *who,
                                Colossus__PowerSpec__Op op, double w, const char *pod,
                                double pct, double for_s)
{
    Colossus__PowerSpec s = COLOSSUS__POWER_SPEC__INIT;
    s.op = op;
    s.budget_w = w;
    s.pod = (char *)pod;
    s.cut_pct = pct;
    s.for_s = for_s;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_POWER;
    r.power = &s;
    r.req = ++t->next_req;
    ctl_request(t->c, who, &r, &cli->sink);
    t_turn(t);
    Colossus__Msg *m = t_response(cli, r.req);
    assert_non_null(m);
    return m;
}

static Colossus__Msg *show(t_ctl_t *t, t_sink_t *cli)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_POWER_SHOW;
    r.power_show = true;
    Colossus__Msg *m = t_response(cli, t_request(t, cli, &r));
    assert_non_null(m);
    assert_true(m->response->ok);
    assert_non_null(m->response->power);
    return m;
}

/* The limit (mW) the agent's latest PowerLimit sets on each of its GPUs, with its seq; -1
 * when it got none. All its earlier ones are dropped. */
static int64_t limit_of(t_sink_t *a, uint64_t *seq)
{
    int64_t mw = -1;
    Colossus__Msg *m;
    while ((m = t_take(a, COLOSSUS__MSG__BODY_POWER_LIMIT))) {
        const Colossus__PowerLimit *p = m->power_limit;
        assert_int_equal(p->n_nodes, 1);
        assert_int_equal(p->nodes[0], a->node);
        assert_int_equal(p->n_gpus, a->gpus);
        for (size_t i = 0; i < p->n_gpus; i++)
            assert_int_equal(p->gpus[i]->limit_mw, p->gpus[0]->limit_mw);
        mw = p->gpus[0]->limit_mw;
        if (seq) *seq = p->seq;
        colossus__msg__free_unpacked(m, NULL);
    }
    return mw;
}

static void applied(t_ctl_t *t, t_sink_t *from, uint32_t node, uint64_t seq, const char *error)
{
    Colossus__PowerApplied a = COLOSSUS__POWER_APPLIED__INIT;
    a.nodes = &node;
    a.n_nodes = 1;
    a.seq = seq;
    a.error = (char *)error;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_POWER_APPLIED;
    m.power_applied = &a;
    cl_error_t why;
    assert_int_equal(ctl_peer_msg(t->c, &t_admin, &from->sink, &m, &why), 0);
    t_turn(t);
}

/* ms on, the two agents heartbeating every 500 ms (dead-after is 3 s). */
static void live(t_ctl_t *t, t_sink_t *a, t_sink_t *b, uint64_t ms)
{
    for (; ms >= 500; ms -= 500) {
        t_heartbeat(t, a);
        t_heartbeat(t, b);
        t_advance(t, 500);
    }
    t_advance(t, ms);
}

static void test_limits_cut_and_reports(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 2);
    t_sink_t *a = t_agent(t, "node1", 2), *b = t_agent(t, "node2", 2), *cli = t_sink(t, "cli");
    t_submit(t, cli, 2, 2, 0);
    t_advance(t, 200);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "running");
    assert_int_equal(limit_of(a, NULL), -1); /* no budget: nothing sent */

    Colossus__Msg *m =
        power_req(t, cli, &t_admin, COLOSSUS__POWER_SPEC__OP__BUDGET, 2200, "", 0, 0);
    assert_true(m->response->ok);
    assert_true(m->response->power->site->budget_w == 2200);
    colossus__msg__free_unpacked(m, NULL);
    uint64_t sa = 0, sb = 0;
    assert_int_equal(limit_of(a, &sa), 550000);
    assert_int_equal(limit_of(b, &sb), 550000);
    assert_true(sa == sb && sa > 0);

    /* reports: from the wrong carrier and for another change are not counted */
    t_advance(t, 30);
    applied(t, b, a->node, sa, "");     /* b does not carry a's node */
    applied(t, a, a->node, sa + 7, ""); /* no such change */
    m = show(t, cli);
    assert_int_equal(m->response->power->apply->acked, 0);
    colossus__msg__free_unpacked(m, NULL);
    applied(t, a, a->node, sa, "");
    applied(t, a, a->node, sa, ""); /* twice: once */
    t_advance(t, 20);
    applied(t, b, b->node, sb, "GPU 1: setting its power limit failed");
    m = show(t, cli);
    const Colossus__PowerInfo *p = m->response->power;
    assert_int_equal(p->apply->nodes, 2);
    assert_int_equal(p->apply->acked, 2);
    assert_int_equal(p->apply->failed, 1);
    assert_true(p->apply->p50_ms == 30 && p->apply->p99_ms == 50 && p->apply->max_ms == 50);
    assert_int_equal(p->n_caps, 1);
    assert_true(p->caps[0]->limit_w == 550 && p->caps[0]->nodes_acked == 2);
    assert_int_equal(p->site->gpus_capped, 4);
    colossus__msg__free_unpacked(m, NULL);
    assert_true(t_logged(t, "applied on all 2 nodes (1 failed): p50 30 ms, p99 50 ms"));

    /* a cut for 10 s: 275 W; at its time it ends and 550 W comes back */
    m = power_req(t, cli, &t_admin, COLOSSUS__POWER_SPEC__OP__CUT, 0, "", 50, 10);
    assert_true(m->response->ok);
    assert_true(m->response->power->cut_until == t->wall + 10);
    colossus__msg__free_unpacked(m, NULL);
    assert_int_equal(limit_of(a, NULL), 275000);
    live(t, a, b, 9000);
    assert_int_equal(limit_of(a, NULL), -1);
    live(t, a, b, 1100);
    assert_true(t_logged(t, "power: the cut's time is up: budgets restored"));
    assert_int_equal(limit_of(a, NULL), 550000);

    /* a larger budget: every GPU at its default again (0 on the wire) */
    m = power_req(t, cli, &t_admin, COLOSSUS__POWER_SPEC__OP__BUDGET, 5000, "", 0, 0);
    colossus__msg__free_unpacked(m, NULL);
    assert_int_equal(limit_of(a, NULL), 0);
    assert_int_equal(limit_of(b, NULL), 0);
    m = show(t, cli);
    assert_int_equal(m->response->power->n_caps, 0);
    colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

static void test_refusals_and_restart(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(16, 2);
    t_sink_t *cli = t_sink(t, "cli");
    struct {
        Colossus__PowerSpec__Op op;
        double w;
        const char *pod;
        double pct, for_s;
        const char *says;
    } bad[] = {
        {COLOSSUS__POWER_SPEC__OP__BUDGET, 1000, "", 0, 0, "below"},
        {COLOSSUS__POWER_SPEC__OP__BUDGET, -1, "", 0, 0, "a budget is 0 (none) to 100 GW"},
        {COLOSSUS__POWER_SPEC__OP__BUDGET, 1e12, "", 0, 0, "a budget is 0 (none) to 100 GW"},
        {COLOSSUS__POWER_SPEC__OP__BUDGET, 5000, "nosuch", 0, 0, "no pod 'nosuch'"},
        {COLOSSUS__POWER_SPEC__OP__CUT, 0, "", 150, 0, "power cut refused"},
        {COLOSSUS__POWER_SPEC__OP__CUT, 0, "", 0, 0, "more than 0%"},
        {COLOSSUS__POWER_SPEC__OP__CUT, 0, "", 10, -5, "duration"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Colossus__Msg *m = power_req(t, cli, &t_admin, bad[i].op, bad[i].w, bad[i].pod,
                                     bad[i].pct, bad[i].for_s);
        if (m->response->ok || !strstr(m->response->error, bad[i].says))
            fail_msg("bad %zu: ok %d '%s'", i, m->response->ok, m->response->error);
        colossus__msg__free_unpacked(m, NULL);
    }
    Colossus__Msg *m = show(t, cli);
    assert_false(m->response->power->site->has_budget);
    assert_true(m->response->power->cut_pct == 0);
    colossus__msg__free_unpacked(m, NULL);

    /* 32 GPUs: at least 6.4 kW; a pod's budget and a cut until restored */
    m = power_req(t, cli, &t_admin, COLOSSUS__POWER_SPEC__OP__BUDGET, 20000, "", 0, 0);
    assert_true(m->response->ok);
    colossus__msg__free_unpacked(m, NULL);
    m = show(t, cli);
    char pod[64];
    snprintf(pod, sizeof pod, "%s", m->response->power->pods[0]->name);
    colossus__msg__free_unpacked(m, NULL);
    m = power_req(t, cli, &t_admin, COLOSSUS__POWER_SPEC__OP__BUDGET, 9000, pod, 0, 0);
    assert_true(m->response->ok);
    colossus__msg__free_unpacked(m, NULL);
    m = power_req(t, cli, &t_admin, COLOSSUS__POWER_SPEC__OP__CUT, 0, "", 25, 0);
    assert_true(m->response->ok);
    colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    t_restart(t);
    cli = t_sink(t, "cli");
    m = show(t, cli);
    const Colossus__PowerInfo *p = m->response->power;
    assert_true(p->site->budget_w == 20000 && p->site->limit_w == 15000);
    assert_true(p->pods[0]->budget_w == 9000 && p->cut_pct == 25 && p->cut_until == 0);
    colossus__msg__free_unpacked(m, NULL);
    m = power_req(t, cli, &t_admin, COLOSSUS__POWER_SPEC__OP__RESTORE, 0, "", 0, 0);
    assert_true(m->response->ok);
    assert_true(m->response->power->cut_pct == 0);
    colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    t_teardown(t);
}

/* The draws (mW) of agent a's PowerHolds for job, in order, into v (at most n); how many. */
static size_t holds_of(t_sink_t *a, uint64_t job, uint32_t *v, size_t n)
{
    size_t k = 0;
    Colossus__Msg *m;
    while ((m = t_take(a, COLOSSUS__MSG__BODY_POWER_HOLD))) {
        const Colossus__PowerHold *h = m->power_hold;
        assert_int_equal(h->n_nodes, 1);
        assert_int_equal(h->nodes[0], a->node);
        assert_int_equal(h->job, job);
        assert_int_equal(h->idle_mw, 70000);
        assert_true(h->for_s > 0);
        if (k < n) v[k++] = h->draw_mw;
        colossus__msg__free_unpacked(m, NULL);
    }
    return k;
}

/* 400 W/s for the site: two 2-GPU runs ramped to 700 W end together; their 4 GPUs are held
 * and brought down at 400 W/s shared by the 4 (a step every 0.5 s, at the 100 ms tick 0.6 s
 * here: 240 W, 60 W a GPU: 640, 580, ... 100; these nodes report no power: held from their
 * 700 W limit), to the 70 W idle draw, then released (draw 0);
 * every PowerLimit of a job started under the ramp says hold_s; the ranks get the stall
 * signal. */
static void test_floor_shared_ramp(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 2);
    t_sink_t *a = t_agent(t, "node1", 2), *b = t_agent(t, "node2", 2), *cli = t_sink(t, "cli");
    Colossus__PowerSpec ps = COLOSSUS__POWER_SPEC__INIT;
    ps.op = COLOSSUS__POWER_SPEC__OP__RAMP;
    ps.ramp_w_per_s = 400;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_POWER;
    r.power = &ps;
    Colossus__Msg *m = t_response(cli, t_request(t, cli, &r));
    assert_true(m->response->ok);
    colossus__msg__free_unpacked(m, NULL);
    t_submit(t, cli, 1, 2, 0);
    t_submit(t, cli, 1, 2, 0);
    t_advance(t, 100);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "running");
    assert_string_equal(t_job_state(t, 2, NULL, 0), "running");
    m = t_take(a, COLOSSUS__MSG__BODY_LAUNCH);
    assert_non_null(m);
    uint64_t ja = m->launch->job, jb = 3 - ja; /* one job a node */
    bool stall = false;
    for (size_t i = 0; i < m->launch->n_env; i++)
        stall |= !strcmp(m->launch->env[i], "COLOSSUS_POWER_STALL=burn");
    assert_true(stall);
    colossus__msg__free_unpacked(m, NULL);
    m = t_take(a, COLOSSUS__MSG__BODY_POWER_LIMIT);
    assert_non_null(m);
    assert_true(m->power_limit->hold_s > 0 && m->power_limit->idle_mw == 70000);
    colossus__msg__free_unpacked(m, NULL);
    live(t, a, b, 6000); /* (700 - 200) x 4 / 400 = 5 s */
    assert_int_equal(limit_of(a, NULL), 0);
    assert_int_equal(limit_of(b, NULL), 0);
    t_exited(t, a, ja, 1, 0, -1);
    t_exited(t, b, jb, 1, 0, -1);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "succeeded");
    assert_string_equal(t_job_state(t, 2, NULL, 0), "succeeded");
    m = show(t, cli);
    assert_int_equal(m->response->power->runs_held, 2);
    assert_int_equal(m->response->power->gpus_held, 4);
    assert_true(m->response->power->held_w == 2800);
    colossus__msg__free_unpacked(m, NULL);
    uint64_t hg = 0; /* the core's admission counts the held GPUs at their hold */
    assert_true(fabs(cl_power_held_w(t->c->cluster, &hg) - 2800) < 1e-6 && hg == 4);
    uint32_t va[64], vb[64];
    size_t na = 0, nb = 0;
    for (int step = 0; step < 40 && !t_logged(t, "the floor's holds ended"); step++) {
        live(t, a, b, 500);
        na += holds_of(a, ja, va + na, 64 - na);
        nb += holds_of(b, jb, vb + nb, 64 - nb);
    }
    assert_true(t_logged(t, "the floor's holds ended"));
    /* (700 - 70) / 60 W a step: 10.5 steps; the last one a release */
    assert_true(na >= 11 && na <= 15);
    assert_int_equal(na, nb);
    assert_int_equal(va[na - 1], 0);
    uint32_t prev = 700000;
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(va[i], vb[i]); /* evenly per GPU */
        if (va[i]) assert_true(prev - va[i] >= 40000 && prev - va[i] <= 61000);
        if (va[i]) prev = va[i];
    }
    assert_true(prev <= 130000); /* the last hold before the release: within a step of idle */
    assert_true(cl_power_held_w(t->c->cluster, &hg) == 0 && hg == 0); /* ended there too */
    m = show(t, cli);
    assert_int_equal(m->response->power->runs_held, 0);
    /* 1/2 x 630 W x 4 GPUs x 6.3 s: about 7.9 kJ above idle */
    assert_true(m->response->power->floor_energy_j > 6500 &&
                m->response->power->floor_energy_j < 9500);
    colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_cut_and_reports),
        cmocka_unit_test(test_refusals_and_restart),
        cmocka_unit_test(test_floor_shared_ramp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
