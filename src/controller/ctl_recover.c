/* ctl_recover.c - the controller's view of its journal: recovery at start-up (jobs that were
 * running wait for their agents), reconciliation against what the agents report, fencing of
 * a (re)registering node, and finished jobs read back once they are forgotten in memory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"
#include "util/depend.h"

char **ctl_strv_dup(const char *const *v, size_t n)
{
    char **o = cl_xcalloc(n + 1, sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = cl_xstrdup(v[i]);
    return o;
}

/* A job record from its journal row, not entered anywhere; *known: every node of its
 * allocation is still in the topology. */
static ctl_job_t *job_from_store(ctl_t *c, const cl_store_job_t *sj, bool *known)
{
    ctl_job_t *j = cl_xcalloc(1, sizeof *j);
    j->id = sj->id;
    j->name = cl_xstrdup(sj->name);
    j->tenant = cl_xstrdup(sj->tenant[0] ? sj->tenant : "default");
    int ti = cl_tenant_find(c->cluster, j->tenant);
    j->tenant_ix = ti < 0 ? 0 : (uint32_t)ti;
    j->user = cl_xstrdup(sj->user ? sj->user : "");
    j->uid = sj->uid;
    j->gid = sj->gid;
    j->energy_j = sj->energy_j;
    j->flops = sj->flops;
    j->gpu_s = sj->gpu_s;
    j->cwd = cl_xstrdup(sj->cwd);
    j->argv = ctl_strv_dup(sj->argv, sj->argc);
    j->argc = sj->argc;
    j->env = ctl_strv_dup(sj->env, sj->envc);
    j->envc = sj->envc;
    j->nodes = sj->nodes;
    j->gpus_per_node = sj->gpus_per_node;
    j->ntasks = sj->ntasks;
    j->cpus_per_gpu = sj->cpus_per_gpu;
    j->mem_per_gpu_mb = sj->mem_per_gpu_mb;
    j->cwd_strict = sj->cwd_strict;
    j->output = sj->output && sj->output[0] ? cl_xstrdup(sj->output) : NULL;
    j->error = sj->error && sj->error[0] ? cl_xstrdup(sj->error) : NULL;
    j->dependency = sj->dependency && sj->dependency[0] ? cl_xstrdup(sj->dependency) : NULL;
    j->held = sj->held;
    j->array_id = sj->array_id;
    j->array_task = sj->array_task;
    j->array = sj->array && sj->array[0] ? cl_xstrdup(sj->array) : NULL;
    snprintf(j->ended, sizeof j->ended, "%s", sj->ended ? sj->ended : "");
    j->exclusive = sj->exclusive;
    j->nodelist = sj->nodelist && sj->nodelist[0] ? cl_xstrdup(sj->nodelist) : NULL;
    j->exclude = sj->exclude && sj->exclude[0] ? cl_xstrdup(sj->exclude) : NULL;
    j->max_restarts = sj->max_restarts;
    j->time_limit_s = sj->time_limit_s;
    j->priority = sj->priority;
    j->state = (cl_job_state_t)sj->state;
    j->restarts_base = sj->restarts;
    j->inc = j->inc_base = sj->incarnation;
    j->exit_code = sj->exit_code;
    j->has_exit = sj->has_exit;
    j->submit_time = sj->submit_time;
    j->start_time = sj->start_time;
    j->end_time = sj->end_time;
    j->running_time = sj->running_time;
    snprintf(j->reason, sizeof j->reason, "%s", sj->reason);
    /* the allocation by node names */
    size_t cap = 1;
    for (const char *p = sj->alloc; *p; p++)
        cap += *p == ',';
    uint32_t *ids = cl_xmalloc(cap * sizeof *ids);
    uint32_t n = 0;
    *known = true;
    char *names = cl_xstrdup(sj->alloc), *save = NULL;
    for (char *t = strtok_r(names, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save)) {
        ctl_node_t *nd = ctl_node_by_name(c, t);
        if (nd)
            ids[n++] = nd->id;
        else
            *known = false;
    }
    free(names);
    ctl_job_set_alloc(j, ids, n);
    free(ids);
    if (j->array_id && j->array_id != j->id) { /* its command is its first task's */
        ctl_array_t *a = ctl_array_of(c, j->array_id);
        if (a)
            ctl_job_share(j, a);
        else
            ctl_log(c, "journal: job %" PRIu64 ": its array %" PRIu64 "'s first task is gone",
                    j->id, j->array_id);
    }
    return j;
}

/* A job that was not finished enters the core again: pending, or running on its nodes
 * (recovering: reconciled once its agents report). */
static void restore(ctl_t *c, ctl_job_t *j, bool known)
{
    cl_error_t e;
    cl_job_spec_t spec;
    cl_depend_t d;
    int rc = ctl_job_spec(c, j, &spec, &d, &e);
    if (rc == 0) rc = cl_job_submit_id(c->cluster, &spec, j->id, j->submit_time, &e);
    cl_depend_free(&d);
    if (rc == 0) ctl_power_job_new(c, j, spec.name_key);
    if (rc < 0) {
        ctl_log(c, "journal: job %" PRIu64 " cannot be restored: %s; marked failed", j->id,
                e.msg);
        snprintf(j->reason, sizeof j->reason, "lost in recovery: %.120s", e.msg);
        j->state = CL_JOB_FAILED;
        snprintf(j->ended, sizeof j->ended, "failed");
        j->end_time = ctl_now(c);
        *(uint64_t *)ctl_ring_push(&c->finished) = j->id;
        ctl_journal_job(c, j);
        return;
    }
    uint32_t n = j->nalloc;
    if (j->state == CL_JOB_RUNNING && known && n == j->nodes) {
        j->recovering = true;
        j->seen = cl_xcalloc(n, sizeof *j->seen);
        j->rec_exited = cl_xcalloc(n, sizeof *j->rec_exited);
        j->rec_code = cl_xcalloc(n, sizeof *j->rec_code);
        j->rec_oom_mb = cl_xcalloc(n, sizeof *j->rec_oom_mb);
        c->recovering = true;
        c->recover_unseen += n;
    } else if (j->state == CL_JOB_RUNNING) {
        j->state = CL_JOB_PENDING; /* its nodes are unknown: run it again */
        ctl_journal_job(c, j);
    }
}

typedef struct load_count {
    ctl_t *c;
    uint64_t loaded, live, rec;
} load_count_t;

static int on_job_loaded(const cl_store_job_t *sj, void *arg)
{
    load_count_t *n = arg;
    ctl_t *c = n->c;
    /* the store leaves out most of those past their keep time; one that ended within the
     * second of the cut stays in the journal only too */
    if (cl_job_finished((cl_job_state_t)sj->state) &&
        sj->end_time + c->cfg.keep_finished_s <= ctl_now(c))
        return 0;
    bool known;
    ctl_job_t *j = job_from_store(c, sj, &known);
    ctl_job_insert(c, j);
    n->loaded++;
    if (cl_job_finished(j->state)) {
        *(uint64_t *)ctl_ring_push(&c->finished) = j->id;
    } else {
        restore(c, j, known);
        n->live++;
        n->rec += j->recovering;
    }
    return 0;
}

struct job_read {
    ctl_t *c;
    ctl_job_t *j;
};

static int on_job_read(const cl_store_job_t *sj, void *arg)
{
    struct job_read *r = arg;
    bool known;
    r->j = job_from_store(r->c, sj, &known);
    return 1;
}

ctl_job_t *ctl_job_lookup(ctl_t *c, uint64_t id, bool *transient)
{
    *transient = false;
    ctl_job_t *j = ctl_job_get(c, id);
    if (j || !id || id > c->max_id) return j;
    struct job_read r = {c, NULL};
    cl_error_t err;
    if (cl_store_job_get(c->store, id, on_job_read, &r, &err) < 0)
        ctl_log(c, "journal: cannot read job %" PRIu64 ": %s", id, err.msg);
    *transient = r.j != NULL;
    return r.j;
}

int ctl_jobs_recover(ctl_t *c, cl_error_t *err)
{
    /* Only what a start needs: the live jobs and those finished within keep_finished_s
     * (an index range: a journal of 10,000,000 finished jobs costs no more); the rest are
     * read back one by one when asked for (ctl_job_lookup). Ids never repeat: the next one
     * is above the highest ever journaled, pruned or not. */
    load_count_t n = {.c = c};
    uint64_t top = 0;
    if (cl_store_load(c->store, ctl_now(c) - c->cfg.keep_finished_s - 1, on_job_loaded, NULL,
                      &n, err) < 0 ||
        cl_store_job_id_max(c->store, &top, err) < 0)
        return -1;
    if (top > c->max_id) c->max_id = top;
    cl_job_set_next_id(c->cluster, c->max_id + 1);
    /* Agents reconnect with a back-off of at most 1 s; give them dead-after on top. */
    c->recover_until = ctl_now(c) + (c->cfg.dead_after_ms + 1500) / 1000.0;
    c->recover_cap = c->recover_until + CTL_RECOVER_HOLD_MAX_S;
    if (c->max_id)
        ctl_log(c,
                "recovered %" PRIu64 " jobs from the journal (%" PRIu64
                " not finished, %" PRIu64 " were running: waiting for their agents); "
                "job ids go on from %" PRIu64,
                n.loaded, n.live, n.rec, c->max_id + 1);
    return 0;
}

/* Every node of j reported its incarnation alive: it runs on, as before the restart. */
static void reconciled(ctl_t *c, ctl_job_t *j)
{
    cl_job_info_t info;
    cl_job_get(c->cluster, j->id, &info);
    j->inc_base = j->inc - info.incarnation;
    memset(j->done, 0, j->nalloc * sizeof *j->done);
    j->ndone = 0;
    if (!j->running_time) { /* its Started died with the old controller */
        j->running_time = ctl_now(c);
        ctl_journal_job(c, j);
    }
    ctl_log(c, "job %" PRIu64 " reconciled: still running on its %u nodes", j->id, j->nalloc);
    for (uint32_t k = 0; k < j->nalloc && j->state == CL_JOB_RUNNING; k++)
        if (j->rec_exited[k]) {
            ctl_job_node_exit(c, j, (int)k, j->rec_code[k], -1, 0, NULL, j->rec_oom_mb[k] != 0,
                              j->rec_oom_mb[k]);
            ctl_send_exited_ack(c, NULL, j->alloc[k], j->id, j->inc);
        }
}

void ctl_job_unrecover(ctl_t *c, ctl_job_t *j)
{
    if (!j->recovering) return;
    j->recovering = false;
    for (uint32_t k = 0; k < j->nalloc; k++)
        c->recover_unseen -= !j->seen[k];
}

void ctl_jobs_reconcile(ctl_t *c)
{
    double now = ctl_now(c);
    c->recover_unseen = 0; /* the window is over: every recovering job is settled below */
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (!j || !j->recovering) continue;
        j->recovering = false;
        bool all = true;
        uint32_t nseen = 0;
        for (uint32_t k = 0; k < j->nalloc; k++) {
            all &= j->seen[k];
            nseen += j->seen[k];
        }
        cl_error_t e = {{0}};
        if (all &&
            cl_job_start_on(c->cluster, j->id, j->alloc, j->nalloc, j->inc, now, &e) == 0) {
            reconciled(c, j);
        } else {
            ctl_log(c,
                    "job %" PRIu64 " could not be reconciled (%s); stopping and requeueing it",
                    j->id, all ? e.msg : "some of its nodes did not come back");
            ctl_send_stop(c, j);
            j->state = CL_JOB_PENDING;
            /* A launch no node ever saw (the controller died between journaling the start and
             * sending it) is not a failure: no restart is counted for it. */
            if (nseen) j->restarts_base++;
            j->inc_base = j->inc; /* the next start gets a new incarnation */
            snprintf(j->reason, sizeof j->reason,
                     "requeued: nodes lost while the controller was down");
            ctl_journal_job(c, j);
        }
        free(j->seen);
        free(j->rec_exited);
        free(j->rec_code);
        free(j->rec_oom_mb);
        j->seen = j->rec_exited = NULL;
        j->rec_code = NULL;
        j->rec_oom_mb = NULL;
    }
}

int ctl_jobs_fence(ctl_t *c, ctl_node_t *n, const Colossus__Register *r)
{
    Colossus__RunningJob *keep = cl_xcalloc(r->n_running + 1, sizeof *keep);
    Colossus__RunningJob **kp = cl_xcalloc(r->n_running + 1, sizeof *kp);
    size_t nk = 0;
    for (size_t i = 0; i < r->n_running; i++) {
        const Colossus__RunningJob *x = r->running[i];
        ctl_job_t *j = ctl_job_get(c, x->job);
        int pos = j ? ctl_job_alloc_pos(j, n->id) : -1;
        if (!j || pos < 0 || j->inc != x->incarnation ||
            (j->state != CL_JOB_RUNNING && !j->recovering)) {
            /* a connection of many nodes (a relay, a hollow agent): its first few, then one
             * line in 10,000 (a relay's reconnection under a 539,000-node gang: 539,000) */
            bool many = n->conn && n->conn->nnodes > 4;
            if (!many || c->stale_fences++ % 10000 == 0)
                ctl_log(c, "fencing node %s: job %" PRIu64 " incarnation %u is stale%s",
                        n->name, x->job, x->incarnation,
                        many ? " (of a connection of many nodes: one line in 10,000)" : "");
            continue;
        }
        if (pos == 0) ctl_job_port_reported(c, j, x->master_port);
        if (j->recovering && j->seen && !j->seen[pos]) {
            j->seen[pos] = true;
            c->recover_unseen--;
        }
        colossus__running_job__init(&keep[nk]);
        keep[nk].job = x->job;
        keep[nk].incarnation = x->incarnation;
        kp[nk] = &keep[nk];
        nk++;
    }
    Colossus__Fence f = COLOSSUS__FENCE__INIT;
    f.node = n->id;
    f.keep = kp;
    f.n_keep = nk;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_FENCE;
    m.fence = &f;
    ctl_send_node(c, n->id, &m);
    /* Jobs we run there that the node did not report: its agent lost them. */
    int lost = 0;
    cl_jobid_t on[64];
    size_t non = cl_node_jobs(c->cluster, n->id, on, 64);
    for (size_t i = 0; i < non; i++) {
        ctl_job_t *j = ctl_job_get(c, on[i]);
        bool found = false;
        for (size_t k = 0; k < nk; k++)
            found |= keep[k].job == on[i];
        if (j && !found && !j->recovering) {
            ctl_log(c, "node %s no longer runs job %" PRIu64 " (agent restarted?)", n->name,
                    on[i]);
            lost++;
        }
    }
    free(keep);
    free(kp);
    return lost;
}
