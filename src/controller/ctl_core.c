/* ctl_core.c - the controller object: create and destroy, its clock and log, agent messages,
 * the timers it runs when its owner says time has passed, and the end of a loop turn (judge
 * suspects, schedule, close the batch). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "controller/ctl_acct.h"

void ctl__batches_init(ctl_t *c);
void ctl__batches_free(ctl_t *c);
void ctl__batch_flush(ctl_t *c);
void ctl__batch_retry(ctl_t *c);
uint64_t ctl__batch_next_ms(const ctl_t *c);

#define TICK_MS 100 /* time limits, pending failures, purge of finished jobs, recovery */
#define SCHED_LABEL_MS 1000 /* submissions wait at most this for a pass (ctl_turn_end) */
#define HEALTH_MS 1000      /* health check timeouts */

static double real_wall(void *arg)
{
    (void)arg;
    return cl_wall_s();
}

static uint64_t real_mono_ms(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const ctl_clock_t ctl_clock_real = {real_wall, real_mono_ms, NULL};

double ctl_now(const ctl_t *c)
{
    return c->clock.wall(c->clock.arg);
}

uint64_t ctl_mono_ms(const ctl_t *c)
{
    return c->clock.mono_ms(c->clock.arg);
}

void ctl_log(ctl_t *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (c->hooks.log)
        c->hooks.log(c->hooks.arg, line);
    else
        cl_daemon_log("controller", "%s", line);
}

/* The cluster's identity: made once, when its journal is new, and journaled with the first
 * batch (so no agent hears of it before it is durable). An agent that holds launches of
 * another cluster refuses this one instead of obeying its Fence (issue 10, item 12). */
static int cluster_identity(ctl_t *c, cl_error_t *err)
{
    int rc = cl_store_meta_get(c->store, "cluster_id", &c->cluster_id, err);
    if (rc < 0) return -1;
    if (rc == 1 && c->cluster_id) return 0;
    while (!c->cluster_id)
        randombytes_buf(&c->cluster_id, sizeof c->cluster_id);
    ctl_journal_meta(c, "cluster_id", c->cluster_id);
    ctl_log(c, "a new journal: this cluster's identity is %016" PRIx64, c->cluster_id);
    return 0;
}

ctl_t *ctl_create(const ctl_config_t *cfg, cl_cluster_t *cluster, cl_store_t *store,
                  const ctl_clock_t *clock, const ctl_hooks_t *hooks, cl_error_t *err)
{
    if (!cfg->heartbeat_ms || cfg->dead_after_ms <= cfg->heartbeat_ms || !hooks->commit) {
        cl_cluster_destroy(cluster);
        cl_err(err,
               "controller: dead-after (%u ms) must exceed the heartbeat (%u ms), and a "
               "committer is required",
               cfg->dead_after_ms, cfg->heartbeat_ms);
        return NULL;
    }
    ctl_t *c = cl_xcalloc(1, sizeof *c);
    c->cfg = *cfg;
    if (!c->cfg.master_port_lo || c->cfg.master_port_hi < c->cfg.master_port_lo ||
        c->cfg.master_port_hi - c->cfg.master_port_lo + 1 < CL_MAX_GPUS_PER_NODE) {
        c->cfg.master_port_lo = CTL_MASTER_PORT_LO; /* unset (or too few): the defaults */
        c->cfg.master_port_hi = CTL_MASTER_PORT_HI;
    }
    c->clock = *clock;
    c->hooks = *hooks;
    c->cluster = cluster;
    c->store = store;
    c->deadq[0].elem = c->deadq[1].elem = sizeof(struct ctl_deadline);
    c->finished.elem = sizeof(uint64_t);
    ctl__batches_init(c);
    uint64_t now = ctl_mono_ms(c);
    c->next_tick_ms = now + TICK_MS;
    c->next_health_ms = now + HEALTH_MS;
    if (ctl_nodes_init(c, err) < 0 || ctl_health_init(c) < 0 || cluster_identity(c, err) < 0 ||
        ctl_acct_init(c, err) < 0 || ctl_power_init(c, err) < 0 || ctl_idem_init(c, err) < 0 ||
        ctl_resv_init(c, err) < 0 || ctl_jobs_recover(c, err) < 0) {
        ctl_destroy(c);
        return NULL;
    }
    return c;
}

uint64_t ctl_cluster_id(const ctl_t *c)
{
    return c->cluster_id;
}

void ctl_destroy(ctl_t *c)
{
    if (!c) return;
    ctl_jobs_free(c);
    ctl_acct_free(c);
    ctl_logreqs_free(c);
    ctl_health_free(c);
    ctl_power_free(c);
    ctl_idem_free(c);
    ctl_resv_free(c);
    ctl_nodes_free(c);
    ctl__batches_free(c);
    ctl_watch_free(c); /* after the batches: their held events hold its sink */
    ctl_ring_free(&c->deadq[0]);
    ctl_ring_free(&c->deadq[1]);
    ctl_ring_free(&c->finished);
    free(c->suspects);
    free(c->count.xid_pod);
    cl_cluster_destroy(c->cluster);
    free(c);
}

int ctl_peer_msg(ctl_t *c, const ctl_principal_t *who, ctl_sink_t *peer, const Colossus__Msg *m,
                 cl_error_t *why)
{
    if (who->kind == CTL_PRINCIPAL_NODE) {
        /* A revoked or expired node credential stops working at once, open connection or
         * not (one hash lookup per frame). */
        ctl_cred_t *cr = ctl_cred_find(c, who->cred);
        const char *bad = cr ? ctl_cred_unusable(c, cr) : "was deleted";
        if (bad) return cl_err(why, "node credential %s %s", who->cred, bad);
    } else if (who->kind != CTL_PRINCIPAL_CLUSTER_KEY) {
        return cl_err(why, "only a node credential or the cluster key may act as an agent");
    }
    switch (m->body_case) {
    case COLOSSUS__MSG__BODY_REGISTER:
        ctl_node_register(c, who, peer, m->register_);
        return 0;
    case COLOSSUS__MSG__BODY_HEARTBEAT:
        ctl_node_heartbeat(c, peer, m->heartbeat);
        ctl_health_heartbeat(c, peer, m->heartbeat);
        return 0;
    case COLOSSUS__MSG__BODY_EXITED:
        ctl_job_exited(c, peer, m->exited);
        return 0;
    case COLOSSUS__MSG__BODY_STARTED:
        ctl_job_ranks_started(c, peer, m->started);
        return 0;
    case COLOSSUS__MSG__BODY_LOG_DATA:
        ctl_log_data(c, peer, m->log_data);
        return 0;
    case COLOSSUS__MSG__BODY_POWER_APPLIED:
        ctl_power_applied(c, peer, m->power_applied);
        return 0;
    case COLOSSUS__MSG__BODY_DETACH:
        ctl_nodes_detach(c, peer, m->detach);
        return 0;
    default:
        return cl_err(why, "unexpected message %d from an agent", m->body_case);
    }
}

void ctl_sink_closed(ctl_t *c, ctl_sink_t *s)
{
    if (s->closed) return;
    ctl_logreqs_conn_closed(c, s);
    ctl_nodes_conn_closed(c, s);
    ctl_sink_forget_waiters(c, s);
    ctl_health_conn_closed(c, s);
    s->closed = true;
}

void ctl_timers(ctl_t *c)
{
    uint64_t now = ctl_mono_ms(c);
    ctl_nodes_deadlines(c);
    ctl__batch_retry(c);
    if (now >= c->next_tick_ms) {
        c->next_tick_ms = now + TICK_MS;
        if (c->recovering && ctl_now(c) >= c->recover_until) {
            c->recovering = false;
            ctl_jobs_reconcile(c);
            c->sched_needed = true;
        }
        ctl_jobs_tick(c);
        ctl_tenants_tick(c);
        ctl_usage_tick(c);
        ctl_power_tick(c);
        ctl_resv_tick(c);
        if (c->sched_new && now - c->sched_last_ms >= SCHED_LABEL_MS) c->sched_needed = true;
    }
    if (now >= c->next_health_ms) {
        c->next_health_ms = now + HEALTH_MS;
        ctl_health_timer(c);
    }
}

uint64_t ctl_next_timer_ms(const ctl_t *c)
{
    uint64_t t = c->next_tick_ms < c->next_health_ms ? c->next_tick_ms : c->next_health_ms;
    uint64_t d = ctl_nodes_next_deadline(c);
    if (d && d < t) t = d;
    d = ctl__batch_next_ms(c);
    if (d && d < t) t = d;
    return t; /* a commit retry is served by the tick (at most TICK_MS late) */
}

bool ctl_has_suspects(const ctl_t *c)
{
    return c->nsuspects > 0 || c->nvsuspects > 0;
}

void ctl_turn_end(ctl_t *c, bool after_io)
{
    if (after_io) ctl_nodes_judge(c); /* after this turn's reads: see ctl_t.suspects */
    /* A pass walks every pending job. Submissions alone call for one only when it could
     * start something (cl_sched_may_start): into a full cluster, a burst of them would
     * otherwise walk the whole queue at every turn (48,000 pending jobs, a pass every
     * couple of milliseconds: most of the loop's time, docs/benchmarks.md). Their pending
     * reason ("waiting for the scheduler's next pass") is made good by the next pass, an
     * event's or the tick's within SCHED_LABEL_MS. */
    if (c->sched_new && !c->sched_needed && cl_sched_may_start(c->cluster))
        c->sched_needed = true;
    if (c->sched_needed && !c->recovering) {
        c->sched_needed = c->sched_new = false;
        ctl_schedule(c);
        c->sched_last_ms = ctl_mono_ms(c);
    }
    ctl__batch_flush(c);
}

bool ctl_stopped(const ctl_t *c)
{
    return c->stopped;
}

uint32_t ctl_node_slots(const ctl_t *c)
{
    return c->nnodes;
}

uint32_t ctl_gpus_per_node(const ctl_t *c)
{
    return c->gpus_per_node;
}

const ctl_config_t *ctl_config(const ctl_t *c)
{
    return &c->cfg;
}
