/* sqlite_audit.c - the SQLite backend's audit log, stored as groups: one row of audit_groups
 * (sq_acct_schema) per run of consecutive records of one commit by the same who, its records
 * as lines of escaped text. Put, flush, prune and query over it, and the move of an older
 * journal's audit_log (one row per record) into it.
 *
 * Why groups: a burst of submissions journals an audit record each, and a row per record with
 * two indexes was three B-tree inserts per submission on the commit path (a quarter of the
 * acknowledged submissions per second). A group is one row and two index entries for hundreds
 * of records. The price: a prune takes whole groups (a group goes when its newest record is
 * past the cut; a group spans one commit, milliseconds), and a query orders groups by their
 * newest record, so records of two groups whose times overlap (one commit's interleaved
 * principals) come group after group, each group's newest first.
 *
 * records: one line per record in put order, each ended by a newline: time (in whole
 * microseconds since the epoch: an integer is written ten times faster than a double's
 * shortest decimal, and a record's time needs no more), ok (1 or 0), op, target, detail,
 * separated by tabs; in op,
 * target and detail a backslash, tab, newline and CR are written \\, \t, \n and \r. Text, not
 * a blob, so that a person can read it with sqlite3. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"
#include "util/util.h"

/* A group is flushed once its text reaches this, so that a query's decoding of one group
 * (for --limit 100, say) and a prune's unit both stay small. */
enum { AUD_GROUP_TEXT_MAX = 64 * 1024 };
/* The largest time written: microseconds within a 64-bit integer (about 290,000 years). */
#define AUD_TIME_MAX 9e12
/* The writer's buffer is freed after a group bigger than this (one huge record), so that it
 * does not pin the memory for the daemon's life. */
enum { AUD_KEEP = 1024 * 1024 };

static int migrate(sq_store_t *s, cl_error_t *err);

int sq_audit_prepare(sq_store_t *s, cl_error_t *err)
{
    static const sq_sql_t st[] = {
        {offsetof(sq_store_t, audit_put),
         "INSERT INTO audit_groups(first_time,last_time,who,n,records) VALUES(?,?,?,?,?)"},
        /* oldest groups first, by their newest record; RETURNING n counts the records */
        {offsetof(sq_store_t, prune_audit),
         "DELETE FROM audit_groups WHERE seq IN (SELECT seq FROM audit_groups"
         " WHERE last_time < ?1 ORDER BY last_time LIMIT ?2) RETURNING n"},
    };
    if (sq_prepare_writer(s, st, sizeof st / sizeof st[0], err) < 0) return -1;
    return migrate(s, err);
}

/* ---- commit ---- */

static void aud_reserve(sq_store_t *s, size_t len, size_t more)
{
    if (len + more <= s->aud_cap) return;
    s->aud_cap = (len + more) * 2;
    s->aud = cl_xrealloc(s->aud, s->aud_cap);
}

/* f, escaped, then sep, at the end of the group's text */
static void aud_field(sq_commit_t *c, const char *f, char sep)
{
    size_t l = f ? strlen(f) : 0;
    aud_reserve(c->s, c->aud_len, 2 * l + 1);
    char *o = c->s->aud + c->aud_len;
    for (const char *p = f ? f : "";;) {
        size_t run = strcspn(p, "\\\t\n\r");
        memcpy(o, p, run);
        o += run;
        p += run;
        if (!*p) break;
        *o++ = '\\';
        *o++ = *p == '\\' ? '\\' : *p == '\t' ? 't' : *p == '\n' ? 'n' : 'r';
        p++;
    }
    *o++ = sep;
    c->aud_len = (size_t)(o - c->s->aud);
}

int sq_audit_flush(sq_commit_t *c)
{
    if (!c->aud_n) return 0;
    sq_store_t *s = c->s;
    sqlite3_stmt *st = s->audit_put;
    sqlite3_bind_double(st, 1, c->aud_first);
    sqlite3_bind_double(st, 2, c->aud_last);
    sqlite3_bind_text(st, 3, c->aud_who, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->aud_n);
    sqlite3_bind_text64(st, 5, s->aud, c->aud_len, SQLITE_STATIC, SQLITE_UTF8);
    uint32_t n = c->aud_n;
    c->aud_n = 0;
    c->aud_len = 0;
    int rc = sq_put_step(c, st, "audit group of %" PRIu32 " records by %.40s", n, c->aud_who);
    if (s->aud_cap > AUD_KEEP) {
        free(s->aud);
        s->aud = NULL;
        s->aud_cap = 0;
    }
    return rc;
}

int sq_put_audit(void *arg, const cl_store_audit_t *a)
{
    sq_commit_t *c = arg;
    /* NaN: as a NULL time was before; beyond AUD_TIME_MAX, not microseconds in 64 bits */
    if (!a->who || !a->op || !(fabs(a->time) <= AUD_TIME_MAX))
        return cl_err(c->err, "store: commit: audit record %.40s by %.40s: %s",
                      a->op ? a->op : "(no op)", a->who ? a->who : "(nobody)",
                      !a->who || !a->op    ? "who and op must be set"
                      : a->time != a->time ? "its time is not a number"
                                           : "its time is out of range");
    if (c->aud_n && (strcmp(c->aud_who, a->who) || c->aud_len >= AUD_GROUP_TEXT_MAX) &&
        sq_audit_flush(c) < 0)
        return -1;
    if (!c->aud_n) {
        c->aud_who = a->who;
        c->aud_first = c->aud_last = a->time;
    } else { /* put order is not always time order (a clock stepped back) */
        if (a->time < c->aud_first) c->aud_first = a->time;
        if (a->time > c->aud_last) c->aud_last = a->time;
    }
    enum { HEAD = 32 }; /* a 64-bit integer is at most 20 characters, then "\t1\t" */
    aud_reserve(c->s, c->aud_len, HEAD);
    int l = snprintf(c->s->aud + c->aud_len, HEAD, "%lld\t%c\t", llround(a->time * 1e6),
                     a->ok ? '1' : '0');
    cl_assert(l > 0 && l < HEAD);
    c->aud_len += (size_t)l;
    aud_field(c, a->op, '\t');
    aud_field(c, a->target, '\t');
    aud_field(c, a->detail, '\n');
    c->aud_n++;
    return 0;
}

int sq_prune_audit(sq_commit_t *c, double before)
{
    c->pruned_audit = 0;
    if (!(before > 0)) return 0;
    sqlite3_stmt *st = c->s->prune_audit;
    sqlite3_bind_double(st, 1, before);
    sqlite3_bind_int(st, 2, CL_STORE_PRUNE_MAX);
    int rc, groups = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        groups++;
        c->pruned_audit += (uint64_t)sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_DONE)
        cl_err(c->err, "store: commit: prune audit: %s", sqlite3_errmsg(c->s->wr));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (groups >= CL_STORE_PRUNE_MAX) c->prune_more = true;
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A journal made before the groups has audit_log (one row per record, indexes audit_time and
 * audit_who_time): its rows become groups of one, in seq order, and it goes, all in one
 * transaction. */
static int migrate(sq_store_t *s, cl_error_t *err)
{
    int have = sq_has_table(s->wr, "audit_log");
    if (have < 0) return cl_err(err, "store: %.100s: %.90s", s->path, sqlite3_errmsg(s->wr));
    if (!have) return 0;
    sqlite3_stmt *q = NULL;
    int rc;
    cl_error_t e = {{0}};
    sq_commit_t c = {.s = s, .err = &e};
    if (sqlite3_exec(s->wr, "BEGIN IMMEDIATE", NULL, NULL, NULL) ||
        sqlite3_prepare_v2(s->wr,
                           "SELECT time,who,op,target,detail,ok FROM audit_log ORDER BY seq",
                           -1, &q, NULL)) {
        sq_fail(s->wr, &e, "read audit_log");
        goto fail;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        cl_store_audit_t a = {.time = sqlite3_column_double(q, 0),
                              .who = sq_text(q, 1),
                              .op = sq_text(q, 2),
                              .target = sq_text(q, 3),
                              .detail = sq_text(q, 4),
                              .ok = sqlite3_column_int(q, 5) != 0};
        if (sq_put_audit(&c, &a) < 0 || sq_audit_flush(&c) < 0) goto fail;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (rc != SQLITE_DONE ||
        sqlite3_exec(s->wr,
                     "DROP INDEX IF EXISTS audit_time; DROP INDEX IF EXISTS audit_who_time;"
                     " DROP TABLE audit_log; COMMIT",
                     NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(s->wr, &e, "move audit_log");
        goto fail;
    }
    return 0;
fail:
    sqlite3_finalize(q);
    if (!sqlite3_get_autocommit(s->wr)) sqlite3_exec(s->wr, "ROLLBACK", NULL, NULL, NULL);
    return cl_err(err, "store: %.100s: cannot move audit_log to audit_groups: %.200s", s->path,
                  e.msg);
}

/* ---- query (the reader) ---- */

typedef struct aud_rec {
    double time;
    uint32_t i; /* put order in its group */
    bool ok;
    const char *op, *target, *detail;
} aud_rec_t;

/* One query's decoding buffers: its own, so that a callback may query again. */
typedef struct aud_dec {
    char *text;
    size_t cap;
    aud_rec_t *v;
    size_t vcap;
} aud_dec_t;

/* s unescaped in place; false at an escape that is not one of \\ \t \n \r */
static bool unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s != '\\') {
            *o++ = *s;
            continue;
        }
        switch (*++s) { /* a lone backslash at the end reads the NUL: default */
        case '\\':
            *o++ = '\\';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        default:
            return false;
        }
    }
    *o = 0;
    return true;
}

/* One line (its newline replaced by a NUL) into r; NULL, or what is wrong with it. */
static const char *decode_line(char *line, aud_rec_t *r)
{
    char *fld[5];
    int nf = 0;
    fld[nf++] = line;
    for (char *p = line; *p; p++)
        if (*p == '\t') {
            if (nf == 5) return "more than 5 fields";
            *p = 0;
            fld[nf++] = p + 1;
        }
    if (nf != 5) return "fewer than 5 fields";
    char *end;
    errno = 0;
    long long us = strtoll(fld[0], &end, 10);
    if (end == fld[0] || *end || errno) return "a time that is not a whole number";
    r->time = (double)us / 1e6;
    if (strcmp(fld[1], "0") && strcmp(fld[1], "1")) return "ok neither 0 nor 1";
    r->ok = fld[1][0] == '1';
    if (!unescape(fld[2]) || !unescape(fld[3]) || !unescape(fld[4])) return "a bad escape";
    r->op = fld[2];
    r->target = fld[3];
    r->detail = fld[4];
    return NULL;
}

/* The group's records text (len bytes, n records by its row) into d; their count, or -1 with
 * err naming the group. */
static ssize_t decode(aud_dec_t *d, const char *txt, size_t len, int64_t n, int64_t seq,
                      cl_error_t *err)
{
    const char *why = NULL;
    size_t lines = 0;
    if (len + 1 > d->cap) {
        d->cap = len + 1;
        d->text = cl_xrealloc(d->text, d->cap);
    }
    if (len) memcpy(d->text, txt, len);
    d->text[len] = 0;
    for (size_t i = 0; i < len; i++)
        lines += d->text[i] == '\n';
    if (memchr(d->text, 0, len))
        why = "a NUL byte";
    else if (!len || d->text[len - 1] != '\n')
        why = "not ended by a newline";
    else if ((int64_t)lines != n)
        why = "not as many lines as n says";
    if (why) return cl_err(err, "store: audit: group %" PRId64 " is malformed: %s", seq, why);
    if (lines > d->vcap) {
        d->vcap = lines;
        d->v = cl_xrealloc(d->v, lines * sizeof *d->v);
    }
    char *p = d->text;
    for (size_t k = 0; k < lines; k++) {
        char *nl = strchr(p, '\n'); /* lines of them: one is there */
        *nl = 0;
        d->v[k].i = (uint32_t)k;
        if ((why = decode_line(p, &d->v[k])))
            return cl_err(err, "store: audit: group %" PRId64 " is malformed: record %zu: %s",
                          seq, k + 1, why);
        p = nl + 1;
    }
    return (ssize_t)lines;
}

/* newest first; of equal times, the later put first (as the rowid did before the groups) */
static int newest_first(const void *x, const void *y)
{
    const aud_rec_t *a = x, *b = y;
    if (a->time != b->time) return a->time < b->time ? 1 : -1;
    return a->i < b->i ? 1 : -1;
}

int sq_audit(cl_store_t *bs, const cl_store_audit_q_t *aq, cl_store_audit_f *f, void *arg,
             cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    char sql[256] = "SELECT seq,who,n,records FROM audit_groups";
    bool since = aq->since > 0, until = aq->until > 0, who = aq->who && *aq->who;
    /* a group with a record in [since, until): last_time's bound is the index's range */
    const char *cond[3] = {since ? "last_time>=?" : NULL, until ? "first_time<?" : NULL,
                           who ? "who=?" : NULL};
    for (int k = 0, any = 0; k < 3; k++)
        if (cond[k]) {
            strcat(sql, any++ ? " AND " : " WHERE ");
            strcat(sql, cond[k]);
        }
    strcat(sql, " ORDER BY last_time DESC, seq DESC"); /* fits: 122 characters at most */
    sqlite3_stmt *st;
    if (sq_read_prepare(s, sql, &st, "audit", err) < 0) return -1;
    int i = 1;
    if (since) sqlite3_bind_double(st, i++, aq->since);
    if (until) sqlite3_bind_double(st, i++, aq->until);
    if (who) sqlite3_bind_text(st, i++, aq->who, -1, SQLITE_STATIC);
    aud_dec_t d = {0};
    uint32_t given = 0;
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ssize_t n = decode(&d, (const char *)sqlite3_column_text(st, 3),
                           (size_t)sqlite3_column_bytes(st, 3), sqlite3_column_int64(st, 2),
                           sqlite3_column_int64(st, 0), err);
        if (n < 0) {
            stop = -1;
            break;
        }
        qsort(d.v, (size_t)n, sizeof *d.v, newest_first);
        cl_store_audit_t a = {.who = sq_text(st, 1)};
        for (ssize_t k = 0; k < n && !stop; k++) {
            const aud_rec_t *r = &d.v[k];
            if ((since && r->time < aq->since) || (until && r->time >= aq->until)) continue;
            a.time = r->time;
            a.ok = r->ok;
            a.op = r->op;
            a.target = r->target;
            a.detail = r->detail;
            stop = f(&a, arg) != 0 || (aq->limit && ++given == aq->limit);
        }
    }
    int out = stop < 0 ? -1 : !stop && rc != SQLITE_DONE ? sq_fail(s->rd, err, "audit") : 0;
    free(d.text);
    free(d.v);
    sq_read_finalize(s, st);
    return out;
}
