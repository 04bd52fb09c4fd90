/* pg_lease.c - leadership of a PostgreSQL journal shared by standby controllers (store.h,
 * docs/standby.md): the lease row, its take, its renewal thread, and the check every commit
 * makes in its own transaction.
 *
 * Why a row and not an advisory lock: a session lock is released only when its session ends,
 * so a leader that is paused (SIGSTOP) with its connection open would keep it for ever and no
 * standby could take over. The lease expires by the server's clock (no controller's clock is
 * trusted), and every commit locks the row (FOR SHARE) and checks holder and epoch before
 * writing anything: a take (which bumps the epoch) waits for a commit in flight and a commit
 * after a take fails, so the commits of two leaders never interleave. Expiry only says when a
 * standby may take the lease; the epoch is the fence. A leader whose lease expired while no
 * standby wanted it (the server restarted for 5 s under a lone controller) renews it and goes
 * on: nobody else can have committed meanwhile. A commit that stalls in its
 * transaction is ended by the writer's idle_in_transaction_session_timeout, so that a paused
 * leader cannot hold the row's lock either. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "store/pg_int.h"
#include "store/pg_lib.h"
#include "util/util.h"

/* Version 3 of the schema: one row, and the functions every controller calls (the server
 * evaluates expiry; colossus_lease_check is the commit's). A holder's session gone from
 * pg_stat_activity (its controller was killed: the server saw its socket close) frees the
 * lease at once, without waiting for its expiry. */
const char pg_schema_lease[] =
    "CREATE TABLE colossus_lease(one bool PRIMARY KEY DEFAULT true CHECK(one),"
    " holder text NOT NULL, epoch int8 NOT NULL, expires timestamptz NOT NULL,"
    " backend int4 NOT NULL);"
    "INSERT INTO colossus_lease VALUES(true, '', 0, '-infinity', 0);"
    "CREATE FUNCTION colossus_lease_take(h text, ttl_ms int8) RETURNS int8 LANGUAGE sql AS $$"
    " UPDATE colossus_lease SET holder=h, epoch=epoch+1,"
    " expires=clock_timestamp()+ttl_ms*interval '1 millisecond', backend=pg_backend_pid()"
    " WHERE holder='' OR expires<=clock_timestamp()"
    " OR NOT EXISTS(SELECT 1 FROM pg_stat_activity a WHERE a.pid=backend) RETURNING epoch $$;"
    "CREATE FUNCTION colossus_lease_renew(h text, e int8, ttl_ms int8) RETURNS void"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " UPDATE colossus_lease SET expires=clock_timestamp()+ttl_ms*interval '1 millisecond',"
    " backend=pg_backend_pid() WHERE holder=h AND epoch=e;"
    " IF NOT FOUND THEN RAISE EXCEPTION 'the lease is no longer this controller''s (%, epoch"
    " %)', h, e USING ERRCODE='" PG_LEASE_LOST "'; END IF; END $$;"
    "CREATE FUNCTION colossus_lease_check(h text, e int8) RETURNS void LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM 1 FROM colossus_lease WHERE holder=h AND epoch=e FOR SHARE;"
    " IF NOT FOUND THEN RAISE EXCEPTION 'the lease is no longer this controller''s (%, epoch"
    " %)', h, e USING ERRCODE='" PG_LEASE_LOST "'; END IF; END $$;";

struct pg_lease {
    PGconn *db; /* the lease's own connection: the renewer's (the take's before) */
    char holder[128];
    int64_t epoch;
    uv_thread_t thread;
    bool running;
    uv_mutex_t mu; /* stop, why */
    uv_cond_t cv;
    bool stop;
    atomic_bool lost;
    char why[300];
    _Atomic uint64_t renewed; /* uv_hrtime() ms at the SEND of the last renewal (or take)
                               * that succeeded: the lease holds until at least then + TTL */
};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static void one_line(char *m)
{
    for (char *p = m; *p; p++)
        if (*p == '\n') *p = *(p + 1) ? ' ' : 0;
}

/* Lost for good, with why (the first reason stays). */
static void lose(struct pg_lease *l, const char *why)
{
    uv_mutex_lock(&l->mu);
    if (!atomic_load(&l->lost)) {
        snprintf(l->why, sizeof l->why, "%s", why);
        one_line(l->why);
        atomic_store(&l->lost, true);
    }
    uv_mutex_unlock(&l->mu);
}

void pg_lease_mark_lost(pg_store_t *s, const char *why)
{
    if (s->lease) lose(s->lease, why);
}

bool pg_lease_lost(cl_store_t *bs, char *why, size_t len)
{
    pg_store_t *s = (pg_store_t *)bs;
    struct pg_lease *l = s->lease;
    if (!l || !atomic_load(&l->lost)) return false;
    uv_mutex_lock(&l->mu);
    if (why && len) snprintf(why, len, "%s", l->why);
    uv_mutex_unlock(&l->mu);
    return true;
}

bool pg_lease_fresh(cl_store_t *bs)
{
    pg_store_t *s = (pg_store_t *)bs;
    struct pg_lease *l = s->lease;
    if (!l) return true;
    if (atomic_load(&l->lost)) return false;
    /* a margin for the clocks' rates: the server's expiry counts from after our send */
    return now_ms() - atomic_load(&l->renewed) + 100 < CL_STORE_LEASE_TTL_MS;
}

int pg_lease_check(pg_commit_t *c)
{
    struct pg_lease *l = c->s->lease;
    if (!l) return 0;
    pg_params_t p = {.n = 0};
    pg_p_text(&p, l->holder);
    pg_p_i64(&p, l->epoch);
    return pg_send(c, "lease_check", &p, PG_OK, "the lease");
}

static PGresult *lease_exec(PGconn *db, const char *sql, const pg_params_t *p)
{
    return pq.execParams(db, sql, p->n, NULL, p->v, p->len, p->fmt, 1);
}

/* The renewer: every CL_STORE_LEASE_RENEW_MS until stopped or lost. The lease is lost when
 * the server says another controller holds it. A server that cannot be reached is tried again
 * (the commits fail meanwhile: nothing is acknowledged, and --journal-give-up stops the
 * controller if it lasts). */
static void renewer(void *arg)
{
    pg_store_t *s = arg;
    struct pg_lease *l = s->lease;
    for (;;) {
        uv_mutex_lock(&l->mu);
        if (!l->stop) uv_cond_timedwait(&l->cv, &l->mu, CL_STORE_LEASE_RENEW_MS * 1000000ull);
        bool stop = l->stop;
        uv_mutex_unlock(&l->mu);
        if (stop || atomic_load(&l->lost)) return;
        if (pq.status(l->db) != CONNECTION_OK) pq.reset(l->db);
        pg_params_t p = {.n = 0};
        pg_p_text(&p, l->holder);
        pg_p_i64(&p, l->epoch);
        pg_p_i64(&p, CL_STORE_LEASE_TTL_MS);
        uint64_t sent = now_ms();
        PGresult *r =
            lease_exec(l->db, "SELECT colossus_lease_renew($1, $2::int8, $3::int8)", &p);
        char why[300];
        if (pq.resultStatus(r) == PGRES_TUPLES_OK) atomic_store(&l->renewed, sent);
        if (pq.resultStatus(r) != PGRES_TUPLES_OK) {
            const char *code = pq.resultErrorField(r, PG_DIAG_SQLSTATE);
            const char *m = r ? pq.resultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
            if (!m) m = pq.errorMessage(l->db);
            if (code && !strcmp(code, PG_LEASE_LOST)) {
                snprintf(why, sizeof why, "another controller took the lease: %s", m);
                lose(l, why);
            }
        }
        pq.clear(r);
    }
}

static PGconn *lease_connect(pg_store_t *s, cl_error_t *err)
{
    PGconn *db = pg_connect(s, err);
    if (!db) return NULL;
    /* a take or renewal waits for a commit in flight (its row lock), never for ever */
    PGresult *r = pq.exec(db, "SET lock_timeout='2s'");
    int ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
    pq.clear(r);
    if (!ok) {
        pg_fail(s, db, err, "lease settings");
        pq.finish(db);
        return NULL;
    }
    return db;
}

/* A take that waited for the lease row's lock past lock_timeout (SQLSTATE 55P03). */
static bool lock_wait(const PGresult *r)
{
    const char *code = r ? pq.resultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return code && !strcmp(code, "55P03");
}

int pg_lease_lead(cl_store_t *bs, const char *who, cl_store_wait_f *waiting, void *arg,
                  cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    cl_assert(!s->lease);
    PGconn *db = lease_connect(s, err);
    if (!db) return -1;
    char seen[128] = "";
    int64_t epoch = 0;
    uint64_t sent = 0;
    for (;;) {
        if (pq.status(db) != CONNECTION_OK) pq.reset(db); /* the server restarted: try on */
        sent = now_ms();
        pg_params_t p = {.n = 0};
        pg_p_text(&p, who);
        pg_p_i64(&p, CL_STORE_LEASE_TTL_MS);
        PGresult *r = lease_exec(db,
                                 "SELECT colossus_lease_take($1, $2::int8),"
                                 " (SELECT holder FROM colossus_lease)",
                                 &p);
        if (pq.resultStatus(r) == PGRES_TUPLES_OK && pq.ntuples(r) == 1) {
            if (!pq.getisnull(r, 0, 0)) {
                epoch = pg_i64(r, 0, 0);
                pq.clear(r);
                break;
            }
            const char *h = pg_str(r, 0, 1);
            if (waiting && strcmp(h, seen)) waiting(arg, h);
            snprintf(seen, sizeof seen, "%s", h);
        } else if (!seen[0] && !lock_wait(r)) {
            /* the first try failed (but for the row's lock held by a long commit of the
             * leader): the schema or the server is wrong, say so */
            pg_fail(s, db, err, "lease");
            pq.clear(r);
            pq.finish(db);
            return -1;
        }
        pq.clear(r);
        struct timespec ts = {0, CL_STORE_LEASE_TRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    struct pg_lease *l = cl_xcalloc(1, sizeof *l);
    l->db = db;
    l->epoch = epoch;
    atomic_store(&l->renewed, sent);
    snprintf(l->holder, sizeof l->holder, "%s", who);
    uv_mutex_init(&l->mu);
    uv_cond_init(&l->cv);
    s->lease = l;
    if (uv_thread_create(&l->thread, renewer, s) != 0) {
        pg_lease_release(s);
        return cl_err(err, "store: cannot start the lease's renewal thread");
    }
    l->running = true;
    return 0;
}

void pg_lease_release(pg_store_t *s)
{
    struct pg_lease *l = s->lease;
    if (!l) return;
    if (l->running) {
        uv_mutex_lock(&l->mu);
        l->stop = true;
        uv_cond_signal(&l->cv);
        uv_mutex_unlock(&l->mu);
        uv_thread_join(&l->thread);
    }
    if (!atomic_load(&l->lost) && pq.status(l->db) == CONNECTION_OK) {
        pg_params_t p = {.n = 0};
        pg_p_text(&p, l->holder);
        pg_p_i64(&p, l->epoch);
        pq.clear(lease_exec(l->db,
                            "UPDATE colossus_lease SET holder='', expires='-infinity'"
                            " WHERE holder=$1 AND epoch=$2::int8",
                            &p));
    }
    pq.finish(l->db);
    uv_cond_destroy(&l->cv);
    uv_mutex_destroy(&l->mu);
    free(l);
    s->lease = NULL;
}
