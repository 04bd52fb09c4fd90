/* test_ctl.c - the controller object's policy with a fake clock, the real journal behind the
 * fault-injecting store, and recording sinks: no sockets, no loop. Journal before acknowledge,
 * group commit and commit failures; node liveness (deadlines, suspects judged after the turn's
 * input); rank failures that wait for dead-after; fencing; recovery and reconciliation;
 * waiters and closed sinks; forgetting finished jobs; the operations table. */
#include "ctl_test.h"

/* ---- journal before acknowledge ---- */

static void test_reply_waits_for_commit(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t->manual = true;
    t_sink_t *a = t_agent(t, "node1", 8);
    assert_false(a->registered); /* its Registered waits for the node's journal record */
    assert_true(t_commit(t));
    assert_true(a->registered);
    t_sink_t *cli = t_sink(t, "cli");
    uint64_t req = t_submit(t, cli, 1, 8, 0);
    /* The job is placed in the same turn: its Launch and the reply are held with the batch. */
    assert_int_equal(cli->n, 0);
    assert_int_equal(t_count(a, COLOSSUS__MSG__BODY_LAUNCH), 0);
    assert_true(ctl_commit_in_flight(t->c));
    uint64_t before = cl_store_fault_written(t->store);
    assert_true(t_commit(t));
    Colossus__Msg *m = t_response(cli, req);
    assert_non_null(m);
    assert_true(m->response->ok);
    assert_int_equal(m->response->job, 1);
    /* delivered after the commit that holds the job, never before */
    assert_int_equal(cli->commits_at_delivery, before + 1);
    colossus__msg__free_unpacked(m, NULL);
    m = t_take(a, COLOSSUS__MSG__BODY_LAUNCH);
    assert_non_null(m);
    assert_int_equal(m->launch->job, 1);
    assert_int_equal(m->launch->n_gpus, 8);
    assert_string_equal(m->launch->checkpoint_dir, "/ckpt/1");
    assert_string_equal(m->launch->master_addr, "10.0.0.1");
    colossus__msg__free_unpacked(m, NULL);
    assert_true(a->flushes > 0);
    t_close(t, cli);
    t_close(t, a);
    t_teardown(t);
}

/* show JOB: its pending reason, as the CLI prints it. */
static const char *pending_of(t_ctl_t *t, uint64_t job)
{
    static char why[256];
    t_sink_t *cli = t_sink(t, "show");
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
    r.show = job;
    Colossus__Msg *m = t_response(cli, t_request(t, cli, &r));
    assert_non_null(m);
    assert_int_equal(m->response->n_jobs, 1);
    snprintf(why, sizeof why, "%s", m->response->jobs[0]->pending_reason);
    colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    return why;
}

/* Into a full cluster a submission does not cost a pass (a walk of the whole queue): it
 * waits "for the scheduler's next pass" until an event's pass or the tick's, within a
 * second; one that can start starts in its own turn, and a job's end starts the next. */
static void test_submission_into_full_cluster(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(1, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *cli = t_sink(t, "cli");
    t_submit(t, cli, 1, 8, 0);
    assert_int_equal(t_count(a, COLOSSUS__MSG__BODY_LAUNCH), 1); /* started in its turn */
    t_submit(t, cli, 1, 8, 0);
    t_submit(t, cli, 1, 4, 0);
    assert_non_null(strstr(pending_of(t, 2), "next pass"));
    assert_non_null(strstr(pending_of(t, 3), "next pass"));
    t_advance(t, 900);
    assert_non_null(strstr(pending_of(t, 3), "next pass"));
    t_advance(t, 250); /* past a second since the last pass: the tick's */
    assert_null(strstr(pending_of(t, 2), "next pass"));
    assert_null(strstr(pending_of(t, 3), "next pass"));
    assert_int_equal(t_count(a, COLOSSUS__MSG__BODY_LAUNCH), 1);
    t_started(t, a, 1, 1);
    t_exited(t, a, 1, 1, 0, 0); /* job 1 ends: its pass starts job 2 */
    assert_int_equal(t_count(a, COLOSSUS__MSG__BODY_LAUNCH), 2);
    t_close(t, cli);
    t_close(t, a);
    t_teardown(t);
}

/* While a batch commits the next one grows; it is committed after, and its replies leave
 * after its own commit, in order. */
static void test_group_commit_order(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t->manual = true;
    t_sink_t *cli = t_sink(t, "cli");
    uint64_t r1 = t_submit(t, cli, 1, 1, 0); /* batch 1 in flight */
    uint64_t r2 = t_submit(t, cli, 1, 1, 0); /* batch 2 grows */
    uint64_t r3 = t_submit(t, cli, 1, 1, 0);
    assert_int_equal(cli->n, 0);
    assert_int_equal(cl_store_fault_entered(t->store), 0);
    assert_true(t_commit(t)); /* batch 1 durable: r1 leaves */
    assert_int_equal(cli->n, 1);
    assert_int_equal(cli->msgs[0]->response->req, r1);
    /* batch 2 waits a moment for the client just answered (see the linger test) */
    assert_false(ctl_commit_in_flight(t->c));
    t_advance(t, 2);
    assert_true(ctl_commit_in_flight(t->c));
    assert_int_equal(cli->n, 1);
    assert_true(t_commit(t));
    assert_int_equal(cli->n, 3);
    assert_int_equal(cli->msgs[1]->response->req, r2);
    assert_int_equal(cli->msgs[2]->response->req, r3);
    assert_int_equal(cl_store_fault_written(t->store), 2); /* three submissions, two commits */
    assert_false(ctl_commit_in_flight(t->c));
    t_close(t, cli);
    t_teardown(t);
}

/* Two clients that each wait for their answer: after a commit, the next batch waits (at most
 * a millisecond) for the client just answered, so that both ride in one commit instead of
 * taking turns (two commits per request each). Agents' messages never wait. */
static void test_linger_merges_closed_loop_clients(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t->manual = true;
    t_sink_t *a = t_sink(t, "a"), *b = t_sink(t, "b");
    uint64_t ra = t_submit(t, a, 1, 1, 0); /* batch 1 */
    t_submit(t, b, 1, 1, 0);               /* batch 2, growing */
    assert_true(t_commit(t));
    Colossus__Msg *m = t_response(a, ra);
    assert_non_null(m);
    colossus__msg__free_unpacked(m, NULL);
    assert_false(ctl_commit_in_flight(t->c)); /* waiting for a's next request */
    t_submit(t, a, 1, 1, 0);
    assert_true(ctl_commit_in_flight(t->c)); /* a is back: both in one commit */
    assert_true(t_commit(t));
    assert_int_equal(a->n + b->n, 2);
    assert_int_equal(cl_store_fault_written(t->store), 2);
    /* an agent's exit never lingers: agents do not wait for their acknowledgements */
    t->manual = false;
    t_sink_t *n1 = t_agent(t, "node1", 8);
    t_sink_t *c = t_sink(t, "c");
    t_submit(t, c, 1, 1, 0);
    Colossus__Msg *l = t_take(n1, COLOSSUS__MSG__BODY_LAUNCH);
    assert_non_null(l);
    uint64_t job = l->launch->job;
    uint32_t inc = l->launch->incarnation;
    colossus__msg__free_unpacked(l, NULL);
    t->manual = true;
    t_exited(t, n1, job, inc, 0, -1);
    assert_true(ctl_commit_in_flight(t->c));
    assert_true(t_commit(t));
    assert_int_equal(t_count(n1, COLOSSUS__MSG__BODY_EXITED_ACK), 1);
    t_close(t, a);
    t_close(t, b);
    t_close(t, c);
    t_close(t, n1);
    t_teardown(t);
}

/* A connection that carries several nodes of a job (a hollow agent, a relay) gets one Launch
 * with the others in Launch.more: the job's argv and environment once, every node's own rank
 * and GPUs. */
static void test_launch_once_per_connection(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t_sink_t *h = t_agent(t, "node1", 8);
    snprintf(h->name, sizeof h->name, "node2");
    t_register_on(t, h, NULL, 0);
    snprintf(h->name, sizeof h->name, "node3");
    t_register_on(t, h, NULL, 0);
    t_sink_t *one = t_agent(t, "node4", 8);
    t_sink_t *cli = t_sink(t, "cli");
    t_submit(t, cli, 4, 8, 0);
    assert_int_equal(t_count(h, COLOSSUS__MSG__BODY_LAUNCH), 1);
    assert_int_equal(t_count(one, COLOSSUS__MSG__BODY_LAUNCH), 1);
    Colossus__Msg *m = t_take(h, COLOSSUS__MSG__BODY_LAUNCH);
    Colossus__Msg *m1 = t_take(one, COLOSSUS__MSG__BODY_LAUNCH);
    const Colossus__Launch *L = m->launch, *L1 = m1->launch;
    assert_int_equal(L->n_more, 2);
    assert_int_equal(L1->n_more, 0);
    assert_int_equal(L->n_argv, 3);
    assert_string_equal(L->argv[0], "train");
    /* every node rank once, each node once, with its 8 GPUs */
    uint32_t ranks = 1u << L->node_rank | 1u << L1->node_rank, nodes = 1u << L->node;
    nodes |= 1u << L1->node;
    assert_int_equal(L->n_gpus, 8);
    assert_int_equal(L->ranks_per_node, 8);
    for (size_t k = 0; k < L->n_more; k++) {
        ranks |= 1u << L->more[k]->node_rank;
        nodes |= 1u << L->more[k]->node;
        assert_int_equal(L->more[k]->n_gpus, 8);
        assert_int_equal(L->more[k]->gpus[7], 7);
        assert_int_equal(L->more[k]->ranks_per_node, 8);
    }
    assert_int_equal(ranks, 0xf);
    assert_int_equal(__builtin_popcount(nodes), 4);
    assert_int_equal(L->nnodes, 4);
    colossus__msg__free_unpacked(m, NULL);
    colossus__msg__free_unpacked(m1, NULL);
    t_close(t, cli);
    t_close(t, one);
    t_close(t, h);
    t_teardown(t);
}

/* A read answered while a write is in flight waits for it: what it shows may be that write. */
static void test_read_waits_for_earlier_write(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t->manual = true;
    t_sink_t *cli = t_sink(t, "cli");
    uint64_t r1 = t_submit(t, cli, 1, 1, 0);
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
    r.show = 1;
    uint64_t r2 = t_request(t, cli, &r);
    assert_int_equal(cli->n, 0);
    assert_true(t_commit(t));
    assert_int_equal(cli->n, 2);
    assert_int_equal(cli->msgs[0]->response->req, r1);
    assert_int_equal(cli->msgs[1]->response->req, r2);
    assert_string_equal(cli->msgs[1]->response->jobs[0]->state, "pending");
    t_close(t, cli);
    t_teardown(t);
}

static void test_commit_failure_retried(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    cl_store_fault_fail(t->store, 1, 1, "disk full");
    t_sink_t *cli = t_sink(t, "cli");
    uint64_t req = t_submit(t, cli, 1, 1, 0);
    assert_int_equal(cli->n, 0);
    assert_int_equal(t_count_logged(t, "commit of batch 1"), 1);
    assert_true(t_logged(t, "injected fault: disk full; nothing of it was acknowledged"));
    assert_int_equal(cl_store_fault_written(t->store), 0);
    t_advance(t, 100); /* the retry (after 50 ms) */
    assert_int_equal(cl_store_fault_written(t->store), 1);
    Colossus__Msg *m = t_response(cli, req);
    assert_non_null(m);
    assert_true(m->response->ok);
    colossus__msg__free_unpacked(m, NULL);
    assert_true(t_logged(t, "committed after 1 failed attempts"));
    assert_false(ctl_stopped(t->c));
    t_close(t, cli);
    t_teardown(t);
}

static void test_commit_failure_stops(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    cl_store_fault_fail(t->store, 1, UINT32_MAX, "I/O error");
    t_sink_t *cli = t_sink(t, "cli");
    t_submit(t, cli, 1, 1, 0);
    for (int i = 0; i < 60 && !ctl_stopped(t->c); i++)
        t_advance(t, 100);
    assert_true(ctl_stopped(t->c)); /* commit_give_up_s is 2 */
    assert_true(t_logged(t, "stopping without acknowledging any of it"));
    assert_int_equal(cli->n, 0);
    assert_int_equal(cl_store_fault_written(t->store), 0);
    /* the retries were logged sparsely, not once per attempt */
    assert_true(t_count_logged(t, "retrying in") < 8);
    /* and a restart finds nothing of it: it was never acknowledged */
    cl_store_fault_fail(t->store, 1, 0, "");
    t_restart(t);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "");
    t_close(t, cli);
    t_teardown(t);
}

/* ---- nodes ---- */

static void test_node_death_by_deadline(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    assert_true(a->registered && b->registered);
    assert_string_equal(t_node_state(t, "node1"), "up");
    /* heartbeats of node2 only; node1's first deadline is 2 x dead-after (6 s) */
    for (int i = 0; i < 7; i++) {
        t_advance(t, 1000);
        t_heartbeat(t, b);
    }
    assert_true(t_logged(t, "node node1 declared down"));
    assert_false(t_logged(t, "node node2 declared down"));
    assert_string_equal(t_node_state(t, "node1"), "down");
    assert_string_equal(t_node_state(t, "node2"), "up");
    /* back with a heartbeat: up again, fenced */
    t_heartbeat(t, a);
    t_turn(t);
    assert_true(t_logged(t, "node node1 is back after being declared down; fencing it"));
    Colossus__Msg *f = t_take(a, COLOSSUS__MSG__BODY_FENCE);
    assert_non_null(f);
    colossus__msg__free_unpacked(f, NULL);
    assert_string_equal(t_node_state(t, "node1"), "up");
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* A deadline that passed in a turn whose input still held the node's heartbeat is not a death:
 * the suspect is judged at the end of the turn, after the reads. */
static void test_suspect_cleared_by_heartbeat_of_the_same_turn(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t_sink_t *a = t_agent(t, "node1", 8);
    t_heartbeat(t, a);
    t_turn(t);
    t->mono += 3001; /* past the deadline */
    t->wall += 3.001;
    ctl_timers(t->c);
    assert_true(ctl_has_suspects(t->c));
    t_heartbeat(t, a); /* read in the same turn */
    ctl_turn_end(t->c, true);
    assert_false(t_logged(t, "declared down"));
    assert_string_equal(t_node_state(t, "node1"), "up");
    /* without the heartbeat the same sequence is a death */
    t->mono += 3001;
    t->wall += 3.001;
    ctl_timers(t->c);
    ctl_turn_end(t->c, false); /* before the reads: not judged yet */
    assert_false(t_logged(t, "declared down"));
    ctl_turn_end(t->c, true);
    assert_true(t_logged(t, "node node1 declared down"));
    t_close(t, a);
    t_teardown(t);
}

static void test_connection_lost(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t_sink_t *a = t_agent(t, "node1", 8);
    t_close(t, a);
    assert_true(t_logged(t, "node node1: connection lost"));
    /* nothing reaches a closed sink; the node dies at its deadline */
    t_advance(t, 6100);
    assert_true(t_logged(t, "node node1 declared down"));
    t_teardown(t);
}

/* ---- jobs ---- */

/* Run a 2-node job of 8 GPUs on node1 and node2; returns its incarnation. */
static uint32_t run_job(t_ctl_t *t, t_sink_t *a, t_sink_t *b, uint32_t max_restarts)
{
    t_sink_t *cli = t_sink(t, "cli");
    t_submit(t, cli, 2, 8, max_restarts);
    Colossus__Msg *la = t_take(a, COLOSSUS__MSG__BODY_LAUNCH);
    Colossus__Msg *lb = t_take(b, COLOSSUS__MSG__BODY_LAUNCH);
    assert_non_null(la);
    assert_non_null(lb);
    uint32_t inc = la->launch->incarnation;
    assert_int_equal(la->launch->nnodes, 2);
    assert_int_not_equal(la->launch->node_rank, lb->launch->node_rank);
    colossus__msg__free_unpacked(la, NULL);
    colossus__msg__free_unpacked(lb, NULL);
    t_started(t, a, 1, inc);
    t_started(t, b, 1, inc);
    t_close(t, cli);
    return inc;
}

static void test_job_success(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 0);
    t_exited(t, a, 1, inc, 0, -1);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "running");
    t_exited(t, b, 1, inc, 0, -1);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "succeeded");
    assert_int_equal(t_count(a, COLOSSUS__MSG__BODY_EXITED_ACK), 1);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* A rank failure is the job's only once dead-after has passed with all its nodes alive. */
static void test_rank_failure_waits_for_dead_after(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 0);
    t_exited(t, a, 1, inc, 3, 5);
    assert_int_equal(t_count(a, COLOSSUS__MSG__BODY_STOP), 1);
    assert_int_equal(t_count(b, COLOSSUS__MSG__BODY_STOP), 1);
    for (int i = 0; i < 3; i++) { /* 3.0 s of 3.3 */
        t_advance(t, 1000);
        t_heartbeat(t, a);
        t_heartbeat(t, b);
    }
    assert_string_equal(t_job_state(t, 1, NULL, 0), "running");
    t_advance(t, 400);
    char reason[200];
    assert_string_equal(t_job_state(t, 1, reason, sizeof reason), "failed");
    assert_string_equal(reason, "rank 5 on node1 exited with code 3");
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* An Exited with oom (issue 15): an OOM kill at the memory limit; the job ends out_of_memory
 * after dead-after as any rank failure, its reason naming the limit. */
static void t_exited_oom(t_ctl_t *t, t_sink_t *a, uint64_t job, uint32_t inc, uint64_t mb)
{
    Colossus__Exited e = COLOSSUS__EXITED__INIT;
    e.job = job;
    e.incarnation = inc;
    e.exit_code = 128 + 9;
    e.rank = 2;
    e.signal = 9;
    e.oom = true;
    e.mem_limit_mb = mb;
    t_exited_msg(t, a, &e);
}

/* An agent of 8 GPUs for node name coming back after a controller restart (not registered). */
static t_sink_t *agent_back(t_ctl_t *t, const char *name)
{
    return t_node_sink(t, name, name, 8);
}

static void ends_out_of_memory(t_ctl_t *t, t_sink_t *a, t_sink_t *b, const char *who)
{
    for (int i = 0; i < 4; i++) { /* past dead-after + 300 ms */
        t_advance(t, 1000);
        t_heartbeat(t, a);
        t_heartbeat(t, b);
    }
    char reason[200];
    assert_string_equal(t_job_state(t, 1, reason, sizeof reason), "failed");
    char want[200];
    snprintf(want, sizeof want, "out of memory (limit 4096 MB): %s on node1 was OOM-killed",
             who);
    assert_string_equal(reason, want);
    assert_true(t_logged(t, "failed: out of memory (limit 4096 MB)"));
}

static void test_oom_ends_out_of_memory(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 0);
    t_exited_oom(t, a, 1, inc, 4096);
    ends_out_of_memory(t, a, b, "rank 2");
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* The OOM kill reported while the controller was away is applied at the reconciliation. */
static void test_oom_while_recovering(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 0);
    t_close(t, a);
    t_close(t, b);
    t_restart(t);
    a = agent_back(t, "node1");
    b = agent_back(t, "node2");
    t_running_t run = {1, inc};
    t_register_on(t, a, &run, 1);
    t_exited_oom(t, a, 1, inc, 4096); /* before the job is reconciled */
    t_register_on(t, b, &run, 1);
    t_advance(t, 200);
    assert_true(t_logged(t, "job 1 reconciled"));
    ends_out_of_memory(t, a, b, "a rank");
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* A node of the job declared down within the window makes it a node failure: the job is
 * requeued (no spare here), not failed. */
static void test_rank_failure_with_node_death_restarts(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    for (int i = 0; i < 3; i++) {
        t_advance(t, 1000);
        t_heartbeat(t, a);
        t_heartbeat(t, b);
    }
    uint32_t inc = run_job(t, a, b, 3);
    t_exited(t, a, 1, inc, 137, 0); /* node2 dies: its peer's rank saw it first */
    for (int i = 0; i < 3; i++) {
        t_advance(t, 1000);
        t_heartbeat(t, a);
    }
    assert_true(t_logged(t, "node node2 declared down"));
    assert_true(t_logged(t, "job 1: its rank failure came with a node failure"));
    char reason[200];
    assert_string_equal(t_job_state(t, 1, reason, sizeof reason), "pending");
    assert_string_equal(reason, "requeued after a node failure: node2 down"); /* which one */
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

static void test_fence_and_lost_ranks(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 3);
    /* a second agent claiming node1 while its agent is connected and alive is refused */
    t_sink_t *rogue = t_agent_on(t, "node1-rogue", "node1", 8);
    assert_true(t_logged(t, "another agent cannot take it over until that one is gone"));
    Colossus__Msg *no = t_take(rogue, COLOSSUS__MSG__BODY_REGISTERED);
    assert_non_null(no);
    assert_non_null(strstr(no->registered->error, "is connected from"));
    colossus__msg__free_unpacked(no, NULL);
    assert_int_equal(t_count(rogue, COLOSSUS__MSG__BODY_LAUNCH), 0);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "running");
    t_close(t, rogue);
    /* node1's agent restarts: its connection closes and the new one reports a stale
     * incarnation */
    t_close(t, a);
    t_sink_t *a2 = t_node_sink(t, "node1-again", "node1", 8);
    t_running_t stale = {1, inc + 5};
    t_register_on(t, a2, &stale, 1);
    assert_true(t_logged(t, "job 1 incarnation"));
    assert_true(t_logged(t, "node node1 no longer runs job 1 (agent restarted?)"));
    Colossus__Msg *f = t_take(a2, COLOSSUS__MSG__BODY_FENCE);
    assert_non_null(f);
    assert_int_equal(f->fence->n_keep, 0);
    colossus__msg__free_unpacked(f, NULL);
    /* for the job, a node failure: requeued and started again with a new incarnation, whose
     * Launch waits until node2 said the old one ended there (issue 14: never twice) */
    assert_int_equal(t_count(a2, COLOSSUS__MSG__BODY_LAUNCH), 0);
    assert_int_equal(t_count(b, COLOSSUS__MSG__BODY_LAUNCH), 0);
    t_exited(t, b, 1, inc, 143, 8);
    Colossus__Msg *l = t_take(a2, COLOSSUS__MSG__BODY_LAUNCH);
    assert_non_null(l);
    assert_true(l->launch->incarnation > inc);
    colossus__msg__free_unpacked(l, NULL);
    t_close(t, a2);
    t_close(t, b);
    t_teardown(t);
}

/* Issue 14: a job never runs twice at once. A node dies; the job's next incarnation goes to
 * its peer and a third node, but its Launch waits until the peer said the old incarnation
 * ended there (the dead node's ranks froze when its lease lapsed, before dead-after). */
static void test_one_incarnation_at_a_time(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(3, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 3);
    t_sink_t *c = t_agent(t, "node3", 8);
    for (int i = 0; i < 7; i++) { /* node1 falls silent (its first deadline: 2 x 3 s) */
        t_advance(t, 1000);
        t_heartbeat(t, b);
        t_heartbeat(t, c);
    }
    assert_true(t_logged(t, "node node1 declared down"));
    assert_string_equal(t_job_state(t, 1, NULL, 0), "running"); /* again: node2 + node3 */
    assert_int_equal(t_count(b, COLOSSUS__MSG__BODY_STOP), 1);
    assert_int_equal(t_count(b, COLOSSUS__MSG__BODY_LAUNCH), 0); /* held */
    assert_int_equal(t_count(c, COLOSSUS__MSG__BODY_LAUNCH), 0);
    t_exited(t, b, 1, inc, 143, 8); /* node2: the old one ended */
    Colossus__Msg *lb = t_take(b, COLOSSUS__MSG__BODY_LAUNCH);
    Colossus__Msg *lc = t_take(c, COLOSSUS__MSG__BODY_LAUNCH);
    assert_non_null(lb);
    assert_non_null(lc);
    assert_true(lb->launch->incarnation > inc);
    colossus__msg__free_unpacked(lb, NULL);
    colossus__msg__free_unpacked(lc, NULL);
    t_close(t, a);
    t_close(t, b);
    t_close(t, c);
    t_teardown(t);
}

/* A peer that never says: the held Launch goes after dead-after + the stop's grace + 1 s,
 * and the log says so. */
static void test_held_launch_deadline(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(3, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    run_job(t, a, b, 3);
    t_sink_t *c = t_agent(t, "node3", 8);
    for (int i = 0; i < 7; i++) {
        t_advance(t, 1000);
        t_heartbeat(t, b);
        t_heartbeat(t, c);
    }
    assert_true(t_logged(t, "node node1 declared down"));
    assert_int_equal(t_count(c, COLOSSUS__MSG__BODY_LAUNCH), 0);
    for (int i = 0; i < 8; i++) { /* 3 s + 3 s + 1 s */
        t_advance(t, 1000);
        t_heartbeat(t, b);
        t_heartbeat(t, c);
    }
    assert_true(t_logged(t, "although a node has not said that the incarnation before ended"));
    assert_int_equal(t_count(c, COLOSSUS__MSG__BODY_LAUNCH), 1);
    t_close(t, a);
    t_close(t, b);
    t_close(t, c);
    t_teardown(t);
}

/* Issue 14: a heartbeat asking (seq) is answered with its seq; one that does not, is not. */
static void test_heartbeat_ack(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(1, 8);
    t_sink_t *a = t_agent(t, "node1", 8);
    t_heartbeat(t, a);
    t_turn(t);
    assert_int_equal(t_count(a, COLOSSUS__MSG__BODY_HEARTBEAT_ACK), 0);
    Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
    uint32_t id = a->node;
    hb.nodes = &id;
    hb.n_nodes = 1;
    hb.seq = 77;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    cl_error_t why;
    assert_int_equal(ctl_peer_msg(t->c, &t_admin, &a->sink, &m, &why), 0);
    t_turn(t);
    Colossus__Msg *k = t_take(a, COLOSSUS__MSG__BODY_HEARTBEAT_ACK);
    assert_non_null(k);
    assert_int_equal(k->heartbeat_ack->seq, 77);
    colossus__msg__free_unpacked(k, NULL);
    t_close(t, a);
    t_teardown(t);
}

/* ---- recovery ---- */

static void test_recovery_reconciles(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 0);
    t_close(t, a);
    t_close(t, b);
    t_restart(t); /* kill -9 of the controller */
    assert_true(t_logged(t, "1 were running: waiting for their agents"));
    a = agent_back(t, "node1");
    b = agent_back(t, "node2");
    t_running_t run = {1, inc};
    t_register_on(t, a, &run, 1);
    t_register_on(t, b, &run, 1);
    t_advance(t, 200); /* every node reported: the recovery window ends at the next tick */
    assert_true(t_logged(t, "job 1 reconciled: still running on its 2 nodes"));
    assert_string_equal(t_job_state(t, 1, NULL, 0), "running");
    Colossus__Msg *f = t_take(a, COLOSSUS__MSG__BODY_FENCE);
    assert_non_null(f);
    assert_int_equal(f->fence->n_keep, 1);
    colossus__msg__free_unpacked(f, NULL);
    t_exited(t, a, 1, inc, 0, -1);
    t_exited(t, b, 1, inc, 0, -1);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "succeeded");
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* Job 1 running on node1 and node2, the controller restarted (kill -9), node1's agent back
 * with its launch (the new sink); node2 not yet. */
static t_sink_t *restart_under_job(t_ctl_t *t, uint32_t max_restarts, t_running_t *run)
{
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    *run = (t_running_t){1, run_job(t, a, b, max_restarts)};
    t_close(t, a);
    t_close(t, b);
    t_restart(t);
    a = agent_back(t, "node1");
    t_register_on(t, a, run, 1);
    return a;
}

static void test_recovery_requeues_when_a_node_is_missing(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(3, 8);
    t_running_t run;
    t_sink_t *a = restart_under_job(t, 2, &run);
    for (int i = 0; i < 5; i++) { /* dead-after + 1.5 s */
        t_advance(t, 1000);
        t_heartbeat(t, a);
    }
    assert_true(t_logged(t, "job 1 could not be reconciled (some of its nodes did not come "
                            "back); stopping and requeueing it"));
    char reason[200];
    assert_string_equal(t_job_state(t, 1, reason, sizeof reason), "pending");
    assert_string_equal(reason, "requeued: nodes lost while the controller was down");
    assert_true(t_count(a, COLOSSUS__MSG__BODY_STOP) >= 1);
    t_close(t, a);
    t_teardown(t);
}

/* Issue 16: nodes still registering (550,000 through relays take seconds) hold the recovery
 * window open: a job's node that comes back after dead-after + 1.5 s, while others are still
 * registering, finds its job reconciled, not requeued. */
static void test_recovery_held_while_nodes_register(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(3, 8);
    t_running_t run;
    t_sink_t *a = restart_under_job(t, 0, &run);
    t_sink_t *o = agent_back(t, "node3");
    for (int i = 0; i < 8; i++) { /* 6.4 s of registrations: past dead-after + 1.5 s */
        t_advance(t, 800);
        t_register_on(t, o, NULL, 0);
        t_heartbeat(t, a);
    }
    assert_false(t_logged(t, "could not be reconciled"));
    t_sink_t *b = agent_back(t, "node2");
    t_register_on(t, b, &run, 1);
    t_advance(t, 200);
    assert_true(t_logged(t, "job 1 reconciled: still running on its 2 nodes"));
    assert_string_equal(t_job_state(t, 1, NULL, 0), "running");
    t_close(t, o);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* ---- waiters, closed sinks, retention ---- */

static void test_wait_and_closed_sink(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 0);
    t_sink_t *w1 = t_sink(t, "waiter1"), *w2 = t_sink(t, "waiter2");
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_WAIT;
    r.wait = 1;
    uint64_t q1 = t_request(t, w1, &r);
    t_request(t, w2, &r);
    assert_int_equal(w1->n + w2->n, 0);
    ctl_sink_ref(&w2->sink); /* keep it to look at after the transport let go */
    t_close(t, w2);          /* its client went away */
    t_exited(t, a, 1, inc, 0, -1);
    t_exited(t, b, 1, inc, 0, -1);
    Colossus__Msg *m = t_response(w1, q1);
    assert_non_null(m);
    assert_string_equal(m->response->jobs[0]->state, "succeeded");
    colossus__msg__free_unpacked(m, NULL);
    assert_int_equal(w2->n, 0);
    assert_int_equal(w2->sink.refs, 1); /* the waiter's reference was dropped */
    ctl_sink_unref(&w2->sink);
    t_close(t, w1);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* A finished job is forgotten after keep_finished_s, and only once its last record is
 * durable; then it is read back from the journal. */
static void test_finished_job_forgotten_after_commit(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t->cfg.keep_finished_s = 0;
    t_restart(t);
    t_sink_t *cli = t_sink(t, "cli");
    t_submit(t, cli, 1, 1, 0);
    t->manual = true;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_CANCEL;
    r.cancel = 1;
    t_request(t, cli, &r); /* cancelled: its record in flight */
    t_advance(t, 300);     /* ticks: past its keep time, but not durable */
    Colossus__Request j = COLOSSUS__REQUEST__INIT;
    j.body_case = COLOSSUS__REQUEST__BODY_JOBS_ALL;
    j.jobs_all = true;
    uint64_t q = t_request(t, cli, &j);
    assert_true(t_commit(t));
    t_commit(t);
    Colossus__Msg *m = t_response(cli, q);
    assert_non_null(m);
    assert_int_equal(m->response->n_jobs, 1); /* still held */
    colossus__msg__free_unpacked(m, NULL);
    t->manual = false;
    t_advance(t, 300);
    q = t_request(t, cli, &j);
    m = t_response(cli, q);
    assert_non_null(m);
    assert_int_equal(m->response->n_jobs, 0); /* forgotten in memory */
    colossus__msg__free_unpacked(m, NULL);
    char reason[200];
    assert_string_equal(t_job_state(t, 1, reason, sizeof reason), "cancelled");
    assert_string_equal(reason, "cancelled by cluster key");
    t_close(t, cli);
    t_teardown(t);
}

/* A start reads only the live jobs and those finished within keep_finished_s; ids go on
 * above the highest ever journaled (the newest job finished long ago), and an old job is
 * still read back when asked for. */
static void test_start_reads_only_what_it_needs(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8); /* no agent: jobs pend */
    t_sink_t *cli = t_sink(t, "cli");
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_CANCEL;
    for (int i = 0; i < 3; i++) /* 1 stays pending; 2 ends late, 3 (the newest) early */
        t_submit(t, cli, 1, 1, 0);
    r.cancel = 3;
    t_request(t, cli, &r);
    t_advance(t, 3600 * 1000); /* an hour: far past keep_finished_s (300 s) */
    r.cancel = 2;
    t_request(t, cli, &r);
    t_close(t, cli);
    t_advance(t, 10 * 1000);
    t_restart(t);
    assert_true(t_logged(t, "recovered 2 jobs from the journal (1 not finished, 0 were "
                            "running: waiting for their agents); job ids go on from 4"));
    cli = t_sink(t, "cli");
    uint64_t q = t_submit(t, cli, 1, 1, 0);
    Colossus__Msg *m = t_response(cli, q);
    assert_non_null(m);
    assert_true(m->response->ok);
    assert_int_equal(m->response->job, 4);
    colossus__msg__free_unpacked(m, NULL);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "pending");
    assert_string_equal(t_job_state(t, 2, NULL, 0), "cancelled");
    assert_string_equal(t_job_state(t, 3, NULL, 0), "cancelled"); /* read back */
    t_close(t, cli);
    t_teardown(t);
}

static int count_usage(const cl_store_usage_t *u, void *arg)
{
    (*(int *)arg)++;
    return 0;
}
static int count_audit(const cl_store_audit_t *a, void *arg)
{
    (*(int *)arg)++;
    return 0;
}
static int sum_runs(const cl_store_sum_t *r, void *arg)
{
    *(uint64_t *)arg += r->runs;
    return 0;
}
static int job_found(const cl_store_job_t *j, void *arg)
{
    return 1;
}

/* What the journal holds of kind k: finished jobs found by id, usage records, audit records,
 * runs in the rollups. */
static void journal_counts(t_ctl_t *t, int *job1, int *usage, int *audit, uint64_t *runs)
{
    cl_error_t err;
    cl_store_history_q_t h = {0};
    cl_store_audit_q_t a = {0};
    cl_store_usage_q_t u = {.by = CL_STORE_BY_TENANT};
    *usage = *audit = 0;
    *runs = 0;
    *job1 = cl_store_job_get(t->store, 1, job_found, NULL, &err);
    assert_int_equal(cl_store_history_query(t->store, &h, count_usage, usage, &err), 0);
    assert_int_equal(cl_store_audit_query(t->store, &a, count_audit, audit, &err), 0);
    assert_int_equal(cl_store_usage_query(t->store, &u, sum_runs, runs, &err), 0);
}

/* Retention: past --keep-jobs-days a finished job leaves the journal, past
 * --keep-history-days its usage record, past --keep-audit-days the audit records; the
 * rollups stay, so `usage` still counts the run. The first prune waits a minute after a
 * start. */
static void test_journal_retention(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t->cfg.keep_jobs_s = 86400;
    t->cfg.keep_history_s = 3 * 86400;
    t->cfg.keep_audit_s = 2 * 86400;
    t_restart(t);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    uint32_t inc = run_job(t, a, b, 0); /* submitted by the cluster key: audited */
    t_exited(t, a, 1, inc, 0, -1);
    t_exited(t, b, 1, inc, 0, -1);
    assert_string_equal(t_job_state(t, 1, NULL, 0), "succeeded");
    t_advance(t, 100);
    int job1, usage, audit;
    uint64_t runs;
    journal_counts(t, &job1, &usage, &audit, &runs);
    assert_int_equal(job1, 1);
    assert_int_equal(usage, 1);
    assert_true(audit >= 1);
    assert_int_equal(runs, 1);
    const double day = 86400;
    t->wall += 1.5 * day; /* the job is past its keep time; the rest is not */
    t_advance(t, 61 * 1000);
    journal_counts(t, &job1, &usage, &audit, &runs);
    assert_int_equal(job1, 0);
    assert_int_equal(usage, 1);
    assert_true(audit >= 1);
    assert_int_equal(runs, 1);
    assert_string_equal(t_job_state(t, 1, NULL, 0), ""); /* "no job 1" */
    t->wall += 2 * day; /* 3.5 days: the audit and the usage record go; the rollup stays */
    t_advance(t, 3601 * 1000);
    journal_counts(t, &job1, &usage, &audit, &runs);
    assert_int_equal(usage, 0);
    assert_int_equal(audit, 0);
    assert_int_equal(runs, 1);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* ---- the operations table ---- */

static void test_ops_unknown_and_denied(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *cli = t_sink(t, "cli");
    Colossus__Request r = COLOSSUS__REQUEST__INIT; /* no body */
    uint64_t q = t_request(t, cli, &r);
    Colossus__Msg *m = t_response(cli, q);
    assert_non_null(m);
    assert_false(m->response->ok);
    assert_string_equal(m->response->error, "unknown request");
    colossus__msg__free_unpacked(m, NULL);
    ctl_principal_t nobody = {.kind = CTL_PRINCIPAL_NONE, .name = "nobody"};
    Colossus__Request n = COLOSSUS__REQUEST__INIT;
    n.body_case = COLOSSUS__REQUEST__BODY_NODES;
    n.nodes = true;
    n.req = 77;
    ctl_request(t->c, &nobody, &n, &cli->sink);
    t_turn(t);
    m = t_response(cli, 77);
    assert_non_null(m);
    assert_false(m->response->ok);
    assert_non_null(strstr(m->response->error, "nodes: permission denied"));
    colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    t_teardown(t);
}

static void test_tenants(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    run_job(t, a, b, 0);
    t_sink_t *cli = t_sink(t, "cli");
    t_submit(t, cli, 1, 8, 0); /* waits: every GPU is taken */
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TENANTS;
    r.tenants = true;
    uint64_t q = t_request(t, cli, &r);
    Colossus__Msg *m = t_response(cli, q);
    assert_non_null(m);
    assert_int_equal(m->response->n_tenants, 1);
    Colossus__TenantInfo *ti = m->response->tenants[0];
    assert_string_equal(ti->name, "default");
    assert_true(ti->shares == 1.0);
    assert_int_equal(ti->jobs_running, 1);
    assert_int_equal(ti->jobs_pending, 1);
    assert_int_equal(ti->gpus_running, 16);
    assert_true(ti->fairshare > 0 && ti->fairshare <= 1);
    colossus__msg__free_unpacked(m, NULL);
    t_close(t, cli);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

static void test_bad_agent_message(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_sink(t, "x");
    Colossus__Request rq = COLOSSUS__REQUEST__INIT;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REQUEST;
    m.request = &rq;
    cl_error_t why;
    assert_int_equal(ctl_peer_msg(t->c, &t_admin, &a->sink, &m, &why), -1);
    assert_non_null(strstr(why.msg, "unexpected message"));
    /* a node name with a comma is refused, the connection is not */
    snprintf(a->name, sizeof a->name, "bad,name");
    t_register_on(t, a, NULL, 0);
    Colossus__Msg *r = t_take(a, COLOSSUS__MSG__BODY_REGISTERED);
    assert_non_null(r);
    assert_false(r->registered->ok);
    assert_non_null(strstr(r->registered->error, "no commas"));
    colossus__msg__free_unpacked(r, NULL);
    t_close(t, a);
    t_teardown(t);
}

/* A log answer counts only from the connection of the node that was asked (issue 10, item 8:
 * a rogue agent answered another node's log request). */
static void test_log_answer_from_the_wrong_node(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_agent(t, "node1", 8), *b = t_agent(t, "node2", 8);
    t_sink_t *cli = t_sink(t, "cli");
    t_submit(t, cli, 2, 8, 0);
    Colossus__LogFetch q = COLOSSUS__LOG_FETCH__INIT;
    q.job = 1;
    q.rank = 0;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_LOGS;
    r.logs = &q;
    uint64_t req = t_request(t, cli, &r);
    t_sink_t *holder = t_count(a, COLOSSUS__MSG__BODY_LOG_FETCH) ? a : b;
    t_sink_t *other = holder == a ? b : a;
    Colossus__Msg *f = t_take(holder, COLOSSUS__MSG__BODY_LOG_FETCH);
    assert_non_null(f);
    Colossus__LogData d = COLOSSUS__LOG_DATA__INIT;
    d.req = f->log_fetch->req;
    d.ok = true;
    d.data.data = (uint8_t *)"forged";
    d.data.len = 6;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_LOG_DATA;
    m.log_data = &d;
    cl_error_t why;
    assert_int_equal(ctl_peer_msg(t->c, &t_admin, &other->sink, &m, &why), 0);
    t_turn(t);
    assert_null(t_response(cli, req)); /* ignored */
    d.data.data = (uint8_t *)"real";
    d.data.len = 4;
    assert_int_equal(ctl_peer_msg(t->c, &t_admin, &holder->sink, &m, &why), 0);
    t_turn(t);
    Colossus__Msg *ans = t_response(cli, req);
    assert_non_null(ans);
    assert_int_equal(ans->response->data.len, 4);
    assert_memory_equal(ans->response->data.data, "real", 4);
    colossus__msg__free_unpacked(ans, NULL);
    colossus__msg__free_unpacked(f, NULL);
    t_close(t, cli);
    t_close(t, a);
    t_close(t, b);
    t_teardown(t);
}

/* `true` on one GPU (argv: {"true"}, the caller's). */
static void submit_true(Colossus__SubmitReq *s, char **argv)
{
    *s = (Colossus__SubmitReq)COLOSSUS__SUBMIT_REQ__INIT;
    s->nodes = 1;
    s->gpus_per_node = 1;
    s->argv = argv;
    s->n_argv = 1;
    s->cwd = "";
}

/* A submission with key k; the job id the controller answered (0: refused, error copied). */
static uint64_t submit_key(t_ctl_t *t, t_sink_t *cli, const char *k, char *error, size_t len)
{
    Colossus__SubmitReq s;
    char *argv[] = {"true"};
    submit_true(&s, argv);
    s.hold = true;
    s.idempotency_key = (char *)k;
    Colossus__Request q = COLOSSUS__REQUEST__INIT;
    q.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    q.submit = &s;
    Colossus__Msg *m = t_response(cli, t_request(t, cli, &q));
    assert_non_null(m);
    uint64_t id = m->response->ok ? m->response->job : 0;
    if (error) snprintf(error, len, "%s", m->response->ok ? "" : m->response->error);
    colossus__msg__free_unpacked(m, NULL);
    return id;
}

/* Idempotency keys: a retry of a submission is its job, journaled with it (a controller that
 * restarts from the journal, as a standby that takes over, still knows it); no key, or
 * another, is another job; a bad key is refused. */
static void test_idempotency_key(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *cli = t_sink(t, "cli");
    uint64_t j1 = submit_key(t, cli, "k-1", NULL, 0);
    assert_true(j1 > 0);
    assert_int_equal(submit_key(t, cli, "k-1", NULL, 0), j1);
    uint64_t j2 = submit_key(t, cli, "k-2", NULL, 0);
    assert_true(j2 > j1);
    uint64_t j3 = submit_key(t, cli, "", NULL, 0), j4 = submit_key(t, cli, "", NULL, 0);
    assert_true(j3 > j2 && j4 > j3);
    char error[256];
    assert_int_equal(submit_key(t, cli, "a key", error, sizeof error), 0);
    assert_non_null(strstr(error, "idempotency key: printable ASCII without spaces only"));
    char big[130]; /* the most is 128 (ctl.h) */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(submit_key(t, cli, big, error, sizeof error), 0);
    assert_non_null(strstr(error, "idempotency key of 129 bytes: at most 128"));
    t_close(t, cli);
    t_restart(t); /* kill -9: the keys come back from the journal */
    cli = t_sink(t, "cli");
    assert_int_equal(submit_key(t, cli, "k-1", NULL, 0), j1);
    assert_int_equal(submit_key(t, cli, "k-2", NULL, 0), j2);
    assert_true(submit_key(t, cli, "k-3", NULL, 0) > j4);
    t_close(t, cli);
    t_teardown(t);
}

/* Names that would forge a log line or break a table are refused, not cut or escaped. */
static void test_names_refused(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *a = t_sink(t, "x");
    snprintf(a->name, sizeof a->name, "evil\nnode");
    a->name[4] = '\n';
    t_register_on(t, a, NULL, 0);
    Colossus__Msg *r = t_take(a, COLOSSUS__MSG__BODY_REGISTERED);
    assert_non_null(r);
    assert_false(r->registered->ok);
    assert_non_null(strstr(r->registered->error, "no control characters"));
    colossus__msg__free_unpacked(r, NULL);
    Colossus__SubmitReq s;
    char *argv[] = {"true"};
    submit_true(&s, argv);
    const char *names[] = {"a\tb", "\xff\xfe", "\xe0\x80\x80"};
    const char *want[] = {"control character", "not valid UTF-8", "not valid UTF-8"};
    t_sink_t *cli = t_sink(t, "cli");
    for (int i = 0; i < 3; i++) {
        s.name = (char *)names[i];
        Colossus__Request q = COLOSSUS__REQUEST__INIT;
        q.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
        q.submit = &s;
        uint64_t req = t_request(t, cli, &q);
        Colossus__Msg *m = t_response(cli, req);
        assert_non_null(m);
        assert_false(m->response->ok);
        assert_non_null(strstr(m->response->error, want[i]));
        colossus__msg__free_unpacked(m, NULL);
    }
    t_close(t, cli);
    t_close(t, a);
    t_teardown(t);
}

/* The relay r says node id's agent left it (Detach). */
static void t_detach(t_ctl_t *t, t_sink_t *r, uint32_t id)
{
    Colossus__Detach d = COLOSSUS__DETACH__INIT;
    d.nodes = &id;
    d.n_nodes = 1;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_DETACH;
    m.detach = &d;
    t_peer_send(t, r, &m);
}

/* Issue 16: a relay's Detach frees its nodes for another path at once (not down); a node
 * unheard for two heartbeat periods may be taken over by another connection before
 * dead-after (a relay whose host vanished); a Register naming a relay twice is refused. */
static void test_relay_paths(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t_sink_t *r1 = t_agent(t, "node1", 8);
    uint32_t id = r1->node;
    /* while r1 carries it and it is fresh, another connection is refused */
    t_sink_t *b = t_agent_on(t, "r2", "node1", 8);
    assert_false(b->registered);
    assert_true(t_logged(t, "another agent cannot take it over"));
    /* r1 says its agent left: b may take it now, and it never went down */
    t_detach(t, r1, id);
    assert_true(t_logged(t, "node node1: its agent left the relay"));
    t_register_on(t, b, NULL, 0);
    assert_true(b->registered);
    assert_string_equal(t_node_state(t, "node1"), "up");
    /* node2 on r1, silent for 2.5 periods (dead-after is 3): another path takes it over */
    t_sink_t *c = t_agent_on(t, "r1", "node2", 8);
    t_heartbeat(t, c);
    t_advance(t, 2500);
    t_sink_t *e = t_agent_on(t, "r3", "node2", 8);
    assert_true(e->registered);
    assert_true(t_logged(t, "node node2 registered again from r3"));
    assert_false(t_logged(t, "declared down"));
    /* a loop in the tree */
    t_sink_t *l = t_sink(t, "r4");
    Colossus__Register reg = COLOSSUS__REGISTER__INIT;
    reg.name = "node3";
    reg.via = "ra,rb,ra";
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTER;
    m.register_ = &reg;
    t_peer_send(t, l, &m);
    t_turn(t);
    Colossus__Msg *rr = t_take(l, COLOSSUS__MSG__BODY_REGISTERED);
    assert_non_null(rr);
    assert_false(rr->registered->ok);
    assert_non_null(strstr(rr->registered->error, "a loop in the relay tree: ra"));
    colossus__msg__free_unpacked(rr, NULL);
    t_close(t, l);
    t_close(t, e);
    t_close(t, c);
    t_close(t, b);
    t_close(t, r1);
    t_teardown(t);
}

/* A relay's frame (Heartbeat.vouch) with these changes, then the turn's end. */
static void t_vouch(t_ctl_t *t, t_sink_t *r, uint32_t *back, size_t nback, uint32_t *silent,
                    size_t nsilent)
{
    Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
    hb.vouch = true;
    hb.nodes = back;
    hb.n_nodes = nback;
    hb.silent = silent;
    hb.n_silent = nsilent;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    t_peer_send(t, r, &m);
    t_turn(t);
}

/* A relay "r1" carrying node1..nodeN (registered in turn, each told the controller takes
 * vouching frames), their ids in id. */
static t_sink_t *t_relay(t_ctl_t *t, uint32_t *id, int n)
{
    t_sink_t *r = t_sink(t, "r1");
    r->gpus = 8;
    for (int i = 0; i < n; i++) {
        snprintf(r->name, sizeof r->name, "node%d", i + 1);
        t_register_on(t, r, NULL, 0);
        id[i] = r->node;
        Colossus__Msg *rm = t_take(r, COLOSSUS__MSG__BODY_REGISTERED);
        assert_true(rm->registered->vouch);
        colossus__msg__free_unpacked(rm, NULL);
    }
    return r;
}

/* ms of time in which the relay's empty frames come every 250 ms. */
static void t_vouch_for(t_ctl_t *t, t_sink_t *r, uint64_t ms)
{
    for (uint64_t d = 0; d < ms; d += 250) {
        t_advance(t, 250);
        t_vouch(t, r, NULL, 0, NULL, 0);
    }
}

/* Issue 16: a relay's connection vouches for its nodes. Its frames name only what changed;
 * nodes stay up while empty frames come, for many dead-afters; a node it stops hearing is
 * down dead-after later, back when named again; a node registered on it but never vouched
 * for is down on its own deadline; the relay's silence takes down the nodes it vouched for,
 * in one line, and its next frame brings them back; a node leaving (Detach) has a deadline
 * of its own again. */
static void test_relay_vouch(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    uint32_t id[3];
    t_sink_t *r = t_relay(t, id, 3);
    t_vouch(t, r, id, 2, NULL, 0); /* node3 is never vouched for */
    t_vouch_for(t, r, 6500);       /* dead-after is 3 s, after registering 6 */
    assert_string_equal(t_node_state(t, "node1"), "up");
    assert_string_equal(t_node_state(t, "node2"), "up");
    assert_string_equal(t_node_state(t, "node3"), "down");
    assert_int_equal(t_count_logged(t, "declared down"), 1);
    /* node2 unheard: down dead-after after the relay said so, not before */
    t_vouch(t, r, NULL, 0, &id[1], 1);
    t_vouch_for(t, r, 2750);
    assert_string_equal(t_node_state(t, "node2"), "up");
    t_vouch_for(t, r, 500);
    assert_string_equal(t_node_state(t, "node2"), "down");
    t_vouch(t, r, &id[1], 1, NULL, 0);
    assert_true(t_logged(t, "node node2 is back after being declared down"));
    assert_string_equal(t_node_state(t, "node2"), "up");
    /* the relay falls silent: its connection is judged, node1 and node2 with it */
    t_advance(t, 2900);
    assert_false(t_logged(t, "relay connection r1"));
    t_advance(t, 200);
    assert_true(t_logged(t, "relay connection r1: no heartbeat for"));
    assert_true(t_logged(t, "the 2 nodes it vouched for are down"));
    assert_string_equal(t_node_state(t, "node1"), "down");
    assert_string_equal(t_node_state(t, "node2"), "down");
    t_vouch(t, r, NULL, 0, NULL, 0);
    assert_string_equal(t_node_state(t, "node1"), "up");
    assert_string_equal(t_node_state(t, "node2"), "up");
    /* node1's agent leaves the relay: its own deadline again, from the Detach */
    t_detach(t, r, id[0]);
    t_vouch_for(t, r, 2750);
    assert_string_equal(t_node_state(t, "node1"), "up");
    t_vouch_for(t, r, 500);
    assert_string_equal(t_node_state(t, "node1"), "down");
    assert_string_equal(t_node_state(t, "node2"), "up");
    t_close(t, r);
    t_teardown(t);
}

/* Issue 16: a leaf switch's nodes lost together (here all 8 of leaf 0, named silent by
 * their relay in one frame) are one network event, said once and counted; a lone node of
 * another leaf going down later is not one. Each is still a node failure. */
static void test_leaf_network_event(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(16, 8); /* leaves of 8 nodes (ctl_test.h) */
    uint32_t id[10];
    t_sink_t *r = t_relay(t, id, 10);
    t_vouch(t, r, id, 10, NULL, 0);
    for (int i = 0; i < 10; i++) /* ids are slots, dense by leaf: 0-7 leaf 0, 8 and 9 leaf 1 */
        assert_int_equal(id[i], i);
    t_vouch(t, r, NULL, 0, id, 8);
    t_vouch_for(t, r, 3500);
    assert_int_equal(t_count_logged(t, "declared down"), 8);
    assert_int_equal(t_count_logged(t, "network event: leaf"), 1);
    t_vouch(t, r, NULL, 0, &id[8], 1);
    t_vouch_for(t, r, 3500);
    assert_int_equal(t_count_logged(t, "declared down"), 9);
    assert_int_equal(t_count_logged(t, "network event: leaf"), 1);
    size_t len;
    char *text = ctl_metrics_render(t->c, NULL, &len, NULL);
    assert_non_null(strstr(text, "\ncolossus_leaf_network_events_total 1\n"));
    free(text);
    t_close(t, r);
    t_teardown(t);
}

/* A connection of many nodes whose nodes come back holding a launch the controller does not
 * run (a relay's reconnection under a big gang): its first few nodes' fences are logged, then
 * one in 10,000, not one line a node. */
static void test_stale_fences_logged_once_per_many(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(16, 8);
    t_sink_t *r = t_sink(t, "r1");
    r->gpus = 8;
    t_running_t stale = {99, 1};
    for (int i = 0; i < 12; i++) {
        snprintf(r->name, sizeof r->name, "node%d", i + 1);
        t_register_on(t, r, &stale, 1);
    }
    assert_int_equal(t_count_logged(t, "incarnation 1 is stale"), 5);
    assert_int_equal(t_count_logged(t, "one line in 10,000"), 1);
    assert_int_equal(t_count(r, COLOSSUS__MSG__BODY_FENCE), 12);
    t_close(t, r);
    t_teardown(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_waits_for_commit),
        cmocka_unit_test(test_group_commit_order),
        cmocka_unit_test(test_linger_merges_closed_loop_clients),
        cmocka_unit_test(test_read_waits_for_earlier_write),
        cmocka_unit_test(test_commit_failure_retried),
        cmocka_unit_test(test_commit_failure_stops),
        cmocka_unit_test(test_node_death_by_deadline),
        cmocka_unit_test(test_suspect_cleared_by_heartbeat_of_the_same_turn),
        cmocka_unit_test(test_connection_lost),
        cmocka_unit_test(test_job_success),
        cmocka_unit_test(test_rank_failure_waits_for_dead_after),
        cmocka_unit_test(test_rank_failure_with_node_death_restarts),
        cmocka_unit_test(test_fence_and_lost_ranks),
        cmocka_unit_test(test_one_incarnation_at_a_time),
        cmocka_unit_test(test_held_launch_deadline),
        cmocka_unit_test(test_heartbeat_ack),
        cmocka_unit_test(test_relay_paths),
        cmocka_unit_test(test_recovery_reconciles),
        cmocka_unit_test(test_oom_ends_out_of_memory),
        cmocka_unit_test(test_oom_while_recovering),
        cmocka_unit_test(test_recovery_requeues_when_a_node_is_missing),
        cmocka_unit_test(test_wait_and_closed_sink),
        cmocka_unit_test(test_finished_job_forgotten_after_commit),
        cmocka_unit_test(test_start_reads_only_what_it_needs),
        cmocka_unit_test(test_journal_retention),
        cmocka_unit_test(test_ops_unknown_and_denied),
        cmocka_unit_test(test_tenants),
        cmocka_unit_test(test_bad_agent_message),
        cmocka_unit_test(test_log_answer_from_the_wrong_node),
        cmocka_unit_test(test_names_refused),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_submission_into_full_cluster),
        cmocka_unit_test(test_launch_once_per_connection),
        cmocka_unit_test(test_relay_vouch),
        cmocka_unit_test(test_recovery_held_while_nodes_register),
        cmocka_unit_test(test_leaf_network_event),
        cmocka_unit_test(test_stale_fences_logged_once_per_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
