/* test_backend.c - the agent's launch backends (src/agent/backend.h): the process backend
 * (real ranks, rank logs, the reason of a launch that cannot start in the first rank's log,
 * the fallback working directory, stop, rank logs bounded while their ranks write: the middle
 * punched out, or cut back where holes cannot be punched; the ranks' user and what they own;
 * root refused; the FLOPs the ranks report) and the hollow backend (a timer per launch, stop
 * ends it at once, no logs, synthetic usage). */
#include "launch_test.h"

#include <pwd.h>

#include "agent/backend.h"

struct ended {
    int calls, result, rank;
    double flops, energy_j;
};

static void on_ended(void *arg, const ag_run_end_t *end)
{
    struct ended *e = arg;
    e->calls++;
    e->result = end->result;
    e->rank = end->failed_rank;
    e->flops = end->flops;
    e->energy_j = end->energy_j;
}

/* A launch order of one node: ranks local ranks on GPUs 0.., node_rank of nnodes. */
struct order {
    Colossus__Launch L;
    uint32_t gpus[8];
    char *argv[8];
    char *env[4];
};

static void order_init(struct order *o, uint64_t job, uint32_t ranks, uint32_t node_rank,
                       const char *script)
{
    colossus__launch__init(&o->L);
    o->L.job = job;
    o->L.incarnation = 1;
    o->L.node_rank = node_rank;
    o->L.nnodes = node_rank + 1;
    o->L.ranks_per_node = ranks;
    for (uint32_t i = 0; i < ranks; i++)
        o->gpus[i] = i;
    o->L.gpus = o->gpus;
    o->L.n_gpus = ranks;
    o->L.master_addr = "127.0.0.1";
    o->L.master_port = 29500;
    o->argv[0] = "/bin/sh";
    o->argv[1] = "-c";
    o->argv[2] = (char *)script;
    o->L.argv = o->argv;
    o->L.n_argv = 3;
    o->env[0] = "CL_BACKEND_TEST=1";
    o->L.env = o->env;
    o->L.n_env = 1;
    o->L.cwd = "";
    o->L.checkpoint_dir = "";
    o->L.uid = getuid(); /* the tests' own user, root included (allowed below) */
    o->L.gid = getgid();
    o->L.user = "";
}

/* A process backend; root's jobs allowed unless o says otherwise (o NULL: defaults). */
static ag_backend_t *proc_backend_opts(struct fixture *f, const ag_proc_opts_t *o)
{
    cl_error_t err;
    ag_backend_t *b = ag_backend_proc_create(&f->loop, f->work, "n7", 2, o, &err);
    if (!b) fail_msg("proc backend: %s", err.msg);
    assert_string_equal(ag_backend_name(b), "process");
    return b;
}

static ag_backend_t *proc_backend_with(struct fixture *f, const ag_proc_opts_t *o)
{
    ag_proc_opts_t po = o ? *o : (ag_proc_opts_t){.log_max = AG_RANKLOG_MAX_DEFAULT};
    po.allow_root_jobs = true;
    return proc_backend_opts(f, &po);
}

static ag_backend_t *proc_backend(struct fixture *f)
{
    return proc_backend_with(f, NULL);
}

static char *log_of(struct fixture *f, uint64_t job, uint32_t rank)
{
    char path[600];
    snprintf(path, sizeof path, "%s/logs/job%llu.rank-%u.log", f->work, (unsigned long long)job,
             rank);
    return slurp(path);
}

/* Two ranks run, their logs are served back by job and rank (the tail when asked for less). */
static void test_proc_run_and_logs(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 2, 1, "echo rank-$RANK-of-$WORLD_SIZE-$CL_BACKEND_TEST");
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), 0);
    assert_true(run_until(&f->loop, &e.calls, 10000));
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.result, 0);
    assert_int_equal(e.rank, -1);
    ag_backend_stop(b, r, "after the end: nothing to do", false);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(ag_backend_logs(b, f->job_id, 3, 1 << 20, false, NULL, &data, &len, &err),
                     0);
    assert_int_equal(len, strlen("rank-3-of-4-1\n"));
    assert_memory_equal(data, "rank-3-of-4-1\n", len);
    free(data);
    assert_int_equal(ag_backend_logs(b, f->job_id, 2, 5, false, NULL, &data, &len, &err), 0);
    /* The tail of "rank-2-of-4-1\n", saying that it is. */
    const char *want = "[colossus: showing the last 5 of the 14 bytes of this rank's log]\n"
                       "-4-1\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    free(data);
    assert_int_equal(ag_backend_logs(b, f->job_id, 9, 100, false, NULL, &data, &len, &err), -1);
    assert_non_null(strstr(err.msg, "no log for rank 9"));
    assert_non_null(strstr(err.msg, "on node n7"));
    ag_backend_release(b, r);
    ag_backend_destroy(b);
    ag_backend_destroy(NULL);
}

/* A launch that cannot start: -1 with the reason, done never called, and the reason in the
 * log of the node's first rank (node_rank * ranks_per_node). */
static void test_proc_cannot_start(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 2, 3, "true");
    o.argv[0] = "no-such-command-colossus";
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), -1);
    assert_non_null(strstr(err.msg, "command not found"));
    char *text = log_of(f, f->job_id, 6);
    assert_non_null(text);
    assert_non_null(strstr(text, "colossus: cannot launch: launch: command not found"));
    free(text);
    /* An order the node cannot follow (ranks but no GPUs; tasks and GPUs may differ:
     * --ntasks-per-node). */
    order_init(&o, f->job_id + 1000, 2, 0, "true");
    o.L.n_gpus = 0;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), -1);
    assert_non_null(strstr(err.msg, "bad launch order (2 ranks, 0 gpus, 3 args)"));
    text = log_of(f, f->job_id + 1000, 0);
    assert_non_null(text);
    assert_non_null(strstr(text, "colossus: cannot launch: bad launch order"));
    free(text);
    sleep_loop(&f->loop, 50);
    assert_int_equal(e.calls, 0);
    ag_backend_destroy(b);
}

/* Where the submitter's directory does not exist here, ranks run in WORK/jobs/<ID>. */
static void test_proc_cwd_fallback(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 1, 0, "pwd");
    o.L.cwd = "/nonexistent/colossus/dir";
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), 0);
    assert_true(run_until(&f->loop, &e.calls, 10000));
    assert_int_equal(e.result, 0);
    char want[600];
    snprintf(want, sizeof want, "%s/jobs/%llu\n", f->work, (unsigned long long)f->job_id);
    char *text = log_of(f, f->job_id, 0);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    ag_backend_release(b, r);
    ag_backend_destroy(b);
}

/* stop ends a running launch with SIGTERM; release before the end never calls done. */
static void test_proc_stop_and_release(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 1, 0, "exec sleep 30");
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), 0);
    ag_backend_stop(b, r, "test", false);
    ag_backend_stop(b, r, "test again", false); /* idempotent */
    assert_true(run_until(&f->loop, &e.calls, 10000));
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.result, 128 + SIGTERM);
    assert_int_equal(e.rank, 0);
    ag_backend_release(b, r);
    struct ended e2 = {0};
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e2, &r, &err), 0);
    ag_backend_release(b, r);
    assert_int_equal(wait_job_procs(f->job_id, 0), 0);
    sleep_loop(&f->loop, 50);
    assert_int_equal(e2.calls, 0);
    ag_backend_destroy(b);
}

/* ------------------------------------------------------------------ users, FLOPs -------- */

/* Each rank writes its FLOPs; the run reports their sum; figures that are not numbers, or
 * not files, are ignored; the files and the emptied job directory are removed. */
static void test_proc_flops(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 4, 0,
               "case $RANK in 0) echo 1000 > \"$COLOSSUS_FLOPS_FILE\";;"
               " 1) printf ' 2.5e3\\n' > \"$COLOSSUS_FLOPS_FILE\";;"
               " 2) echo lots > \"$COLOSSUS_FLOPS_FILE\";;"
               " 3) ln -s /etc/passwd \"$COLOSSUS_FLOPS_FILE\";; esac;"
               " echo \"$COLOSSUS_FLOPS_FILE\"");
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), 0);
    assert_true(run_until(&f->loop, &e.calls, 10000));
    assert_int_equal(e.result, 0);
    assert_true(e.flops == 3500.0);
    assert_true(e.energy_j < 0); /* the agent measures it */
    char want[700], dir[600];
    snprintf(dir, sizeof dir, "%s/jobs/%llu", f->work, (unsigned long long)f->job_id);
    snprintf(want, sizeof want, "%s/flops.inc1.rank-0\n", dir);
    char *text = log_of(f, f->job_id, 0);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    struct stat st;
    assert_int_equal(lstat(dir, &st), -1); /* files and directory removed */
    ag_backend_release(b, r);
    /* No file: no FLOPs. */
    order_init(&o, f->job_id, 1, 0, "true");
    o.L.incarnation = 2;
    struct ended e2 = {0};
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e2, &r, &err), 0);
    assert_true(run_until(&f->loop, &e2.calls, 10000));
    assert_true(e2.flops == 0);
    ag_backend_release(b, r);
    ag_backend_destroy(b);
}

/* uid 0 or gid 0 without allow_root_jobs: refused, with the reason in the first rank's log,
 * and nothing made for the job. */
static void test_proc_root_refused(void **state)
{
    struct fixture *f = *state;
    ag_proc_opts_t po = {.log_max = AG_RANKLOG_MAX_DEFAULT}; /* allow_root_jobs false */
    ag_backend_t *b = proc_backend_opts(f, &po);
    uint32_t ids[][2] = {{0, 0}, {0, 1000}, {1000, 0}};
    for (int i = 0; i < 3; i++) {
        struct order o;
        uint64_t job = f->job_id + (uint64_t)i;
        order_init(&o, job, 1, 0, "touch ran");
        o.L.uid = ids[i][0];
        o.L.gid = ids[i][1];
        struct ended e = {0};
        ag_run_t *r = NULL;
        cl_error_t err;
        assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), -1);
        assert_non_null(strstr(err.msg, "refused: job "));
        assert_non_null(strstr(err.msg, "unless it was started with --allow-root-jobs"));
        char *text = log_of(f, job, 0);
        assert_non_null(text);
        assert_non_null(strstr(text, "colossus: cannot launch: refused: job "));
        free(text);
        char dir[600];
        struct stat st;
        snprintf(dir, sizeof dir, "%s/jobs/%llu", f->work, (unsigned long long)job);
        assert_int_equal(stat(dir, &st), -1);
        sleep_loop(&f->loop, 20);
        assert_int_equal(e.calls, 0);
    }
    ag_backend_destroy(b);
}

static void assert_owned(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
    struct stat st;
    if (lstat(path, &st) < 0) fail_msg("%s: %s", path, strerror(errno));
    if (st.st_uid != uid || st.st_gid != gid || (st.st_mode & 07777) != mode)
        fail_msg("%s: uid %u gid %u mode %04o, not uid %u gid %u mode %04o", path,
                 (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777),
                 (unsigned)uid, (unsigned)gid, (unsigned)mode);
}

/* As root: the ranks run as the Launch's uid:gid with that gid as their only group, cannot
 * become root again, see their user's names, and own their directories and logs. A uid
 * unknown to this node's passwd runs all the same, named by its number, HOME its working
 * directory. */
static void test_proc_runs_as_user(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        printf("skip: not root: ranks cannot run as another user\n");
        skip();
    }
    uid_t uid = 54321;
    if (getpwuid(uid)) {
        printf("skip: uid %u exists on this machine\n", (unsigned)uid);
        skip();
    }
    assert_int_equal(chmod(f->dir, 0711), 0); /* mkdtemp's 0700 would keep the user out */
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 2, 0,
               "grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s ' \\t' ' ';"
               " echo \"$USER $LOGNAME $COLOSSUS_USER $HOME $(pwd)\";"
               " if python3 -c 'import os; os.setuid(0)' 2>/dev/null; then echo ROOT; fi;"
               " cat /etc/shadow >/dev/null 2>&1 && echo SHADOW; touch mine");
    o.L.uid = uid;
    o.L.gid = uid + 1;
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/ckroot/%llu", f->dir, (unsigned long long)f->job_id);
    o.L.checkpoint_dir = ckpt;
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    if (ag_backend_start(b, &o.L, on_ended, &e, &r, &err) < 0) fail_msg("%s", err.msg);
    assert_true(run_until(&f->loop, &e.calls, 10000));
    char dir[600], want[2000], logpath[700];
    snprintf(dir, sizeof dir, "%s/jobs/%llu", f->work, (unsigned long long)f->job_id);
    snprintf(want, sizeof want,
             "Uid: 54321 54321 54321 54321\nGid: 54322 54322 54322 54322\nGroups: 54322 \n"
             "54321 54321 54321 %s %s\n",
             dir, dir);
    for (uint32_t rank = 0; rank < 2; rank++) {
        char *text = log_of(f, f->job_id, rank);
        assert_non_null(text);
        if (strcmp(text, want)) fail_msg("rank %u wrote:\n%s\nnot:\n%s", rank, text, want);
        free(text);
        snprintf(logpath, sizeof logpath, "%s/logs/job%llu.rank-%u.log", f->work,
                 (unsigned long long)f->job_id, rank);
        assert_owned(logpath, uid, uid + 1, 0600);
    }
    assert_int_equal(e.result, 0);
    assert_owned(dir, uid, uid + 1, 0700); /* kept: the ranks left a file in it */
    snprintf(logpath, sizeof logpath, "%s/mine", dir);
    assert_owned(logpath, uid, uid + 1, 0644);
    assert_owned(ckpt, uid, uid + 1, 0700);
    snprintf(logpath, sizeof logpath, "%s/ckroot", f->dir);
    assert_owned(logpath, 0, getegid(), 0755); /* a parent: the agent's, reachable */
    snprintf(logpath, sizeof logpath, "%s/logs", f->work);
    assert_owned(logpath, 0, getegid(), 0700);
    snprintf(logpath, sizeof logpath, "%s/jobs", f->work);
    assert_owned(logpath, 0, getegid(), 0711);
    ag_backend_release(b, r);

    /* The job directory of another user is not handed over. */
    order_init(&o, f->job_id, 1, 0, "true");
    o.L.uid = uid + 7;
    o.L.gid = uid + 7;
    o.L.incarnation = 2;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), -1);
    assert_non_null(strstr(err.msg, "belongs to uid 54321, not to the job's uid 54328"));
    ag_backend_destroy(b);
}

/* ------------------------------------------------------------------ bounded rank logs --- */

#define BIG_LINES 5000000u /* "%07u\n" each: 40,000,000 bytes */
#define BIG_BYTES (8ull * BIG_LINES)
#define LIMIT (1u << 20) /* head 64 KiB, tail 960 KiB */

/* Byte `off` of what the big rank writes. */
static char big_byte(uint64_t off)
{
    char line[16];
    snprintf(line, sizeof line, "%07u\n", (unsigned)(off / 8));
    return line[off % 8];
}

static void assert_big_range(const uint8_t *p, uint64_t off, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)big_byte(off + i))
            fail_msg("byte %llu of the output is '%c', not '%c'", (unsigned long long)(off + i),
                     p[i], big_byte(off + i));
}

/* A rank that writes 40 MB, says so in a file and waits for the test's word. */
static const char *big_script = "seq -w 0 4999999; touch wrote; "
                                "while [ ! -e go ]; do sleep 0.02; done";

static int exists_in(struct fixture *f, const char *name)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/jobs/%llu/%s", f->work, (unsigned long long)f->job_id,
             name);
    return stat(path, &st) == 0;
}

static void touch_in(struct fixture *f, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/jobs/%llu/%s", f->work, (unsigned long long)f->job_id,
             name);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static int log_stat(struct fixture *f, struct stat *st)
{
    char path[600];
    snprintf(path, sizeof path, "%s/logs/job%llu.rank-0.log", f->work,
             (unsigned long long)f->job_id);
    return stat(path, st);
}

/* Run the loop until the file `wrote` appears in the job's directory, then until the log's
 * size (apparent: 0, on disk: 1) is at most bound; false when 20 s pass first. */
static bool wait_bounded(struct fixture *f, int on_disk, uint64_t bound)
{
    uint64_t deadline = uv_hrtime() + 20000000000ull;
    struct stat st;
    while (uv_hrtime() < deadline) {
        if (exists_in(f, "wrote") && log_stat(f, &st) == 0 &&
            (on_disk ? (uint64_t)st.st_blocks * 512 : (uint64_t)st.st_size) <= bound)
            return true;
        sleep_loop(&f->loop, 20);
    }
    return false;
}

/* 61234567 -> "61,234,567", in one of four rotating buffers. */
static const char *commas(uint64_t v)
{
    static char bufs[4][32];
    static int k;
    char *out = bufs[k++ % 4], tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = 0;
    return out;
}

/* Start the big rank on a backend with these options. */
static ag_backend_t *start_big(struct fixture *f, const ag_proc_opts_t *po, struct ended *e,
                               ag_run_t **r)
{
    ag_backend_t *b = proc_backend_with(f, po);
    struct order o;
    order_init(&o, f->job_id, 1, 0, big_script);
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, e, r, &err), 0);
    return b;
}

static size_t note_end(const uint8_t *p, size_t len, size_t from)
{
    const uint8_t *nl = memchr(p + from, '\n', len - from);
    assert_non_null(nl);
    return (size_t)(nl - p) + 1;
}

/* A rank writes 40 MB into a log limited to 1 MiB checked every 50 ms: while it still runs,
 * the log takes about 1 MiB of disk and its apparent size is all it wrote; `logs` gives the
 * head, a line saying how much was cut and where, and the tail, byte for byte. */
static void test_proc_log_bounded(void **state)
{
    struct fixture *f = *state;
    ag_proc_opts_t po = {.log_max = LIMIT, .log_check_ms = 50};
    struct ended e = {0};
    ag_run_t *r = NULL;
    ag_backend_t *b = start_big(f, &po, &e, &r);
    cl_error_t err;
    if (!wait_bounded(f, 1, LIMIT + (64u << 10))) {
        struct stat st;
        log_stat(f, &st);
        fail_msg("the log of a running rank holds %llu bytes on disk (limit %u)",
                 (unsigned long long)st.st_blocks * 512, LIMIT);
    }
    struct stat st;
    assert_int_equal(log_stat(f, &st), 0);
    assert_int_equal(st.st_size, BIG_BYTES); /* the apparent size: all it wrote */
    assert_int_equal(e.calls, 0);            /* bounded while running */
    touch_in(f, "go");
    assert_true(run_until(&f->loop, &e.calls, 10000));
    assert_int_equal(e.result, 0);

    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(ag_backend_logs(b, f->job_id, 0, 3u << 20, false, NULL, &data, &len, &err),
                     0);
    /* head 65,536; the tail starts at the block before size - 983,040 */
    uint64_t head = 65536, tail_from = (BIG_BYTES - (LIMIT - head)) & ~4095ull;
    uint64_t tail = BIG_BYTES - tail_from;
    char want[512];
    snprintf(want, sizeof want,
             "[colossus: showing the first 65,536 and the last %s of the 40,000,000 bytes "
             "this rank wrote]\n",
             commas(tail));
    size_t at = note_end(data, len, 0);
    assert_int_equal(at, strlen(want));
    assert_memory_equal(data, want, at);
    assert_big_range(data + at, 0, head);
    at += head; /* a line ends there (8-byte lines): the note follows at once */
    size_t m = note_end(data, len, at);
    uint64_t cut = tail_from - head;
    snprintf(want, sizeof want,
             "[colossus: %s bytes of this rank's output were cut here; the log keeps its "
             "first 65,536 and last %s bytes]\n",
             commas(cut), commas(tail));
    assert_int_equal(m - at, strlen(want));
    assert_memory_equal(data + at, want, m - at);
    assert_int_equal(len - m, tail);
    assert_big_range(data + m, tail_from, tail);
    free(data);

    /* A reply smaller than what the log keeps: a quarter of it head, the rest tail. The head
     * ends inside a line: the note goes on a line of its own. */
    assert_int_equal(ag_backend_logs(b, f->job_id, 0, 100004, false, NULL, &data, &len, &err),
                     0);
    at = note_end(data, len, 0);
    assert_memory_equal(data,
                        "[colossus: showing the first 25,001 and the last 75,003 of the "
                        "40,000,000 bytes this rank wrote]\n",
                        at);
    assert_big_range(data + at, 0, 25001);
    at += 25001;
    assert_int_equal(data[at++], '\n');
    m = note_end(data, len, at);
    uint64_t left = BIG_BYTES - 75003 - 25001;
    snprintf(want, sizeof want,
             "[colossus: %s bytes of this rank's output are left out here: %s cut from the "
             "log, which keeps its first 65,536 and last %s bytes, and %s to fit this reply "
             "of 100,004]\n",
             commas(left), commas(cut), commas(tail), commas(left - cut));
    assert_int_equal(m - at, strlen(want));
    assert_memory_equal(data + at, want, m - at);
    assert_int_equal(len - m, 75003);
    assert_big_range(data + m, BIG_BYTES - 75003, 75003);
    free(data);

    /* The whole-log read says where a follower goes on: the log's size. */
    uint64_t size = 0;
    assert_int_equal(ag_backend_logs(b, f->job_id, 0, 4096, false, &size, &data, &len, &err),
                     0);
    assert_int_equal(size, BIG_BYTES);
    free(data);
    /* Followed (logs -f): from an offset on, at most a reply's worth, the offset moved. */
    uint64_t from = 0;
    assert_int_equal(ag_backend_logs(b, f->job_id, 0, 1000, true, &from, &data, &len, &err), 0);
    assert_int_equal(len, 1000);
    assert_int_equal(from, 1000);
    assert_big_range(data, 0, 1000);
    free(data);
    /* from inside the hole: a note of what was cut, then the data after it */
    from = head + 10;
    assert_int_equal(ag_backend_logs(b, f->job_id, 0, 4096, true, &from, &data, &len, &err), 0);
    at = note_end(data, len, 0);
    snprintf(want, sizeof want,
             "[colossus: %s bytes of this rank's output were cut here before they were "
             "shown]\n",
             commas(tail_from - head - 10));
    assert_int_equal(at, strlen(want));
    assert_memory_equal(data, want, at);
    assert_int_equal(len - at, 4096);
    assert_big_range(data + at, tail_from, 4096);
    assert_int_equal(from, tail_from + 4096);
    free(data);
    /* at the end: nothing yet; past it (a log cut back, or a new one): followed from its end */
    from = BIG_BYTES;
    assert_int_equal(ag_backend_logs(b, f->job_id, 0, 4096, true, &from, &data, &len, &err), 0);
    assert_int_equal(len, 0);
    assert_int_equal(from, BIG_BYTES);
    free(data);
    from = BIG_BYTES + 5;
    assert_int_equal(ag_backend_logs(b, f->job_id, 0, 4096, true, &from, &data, &len, &err), 0);
    assert_int_equal(from, BIG_BYTES);
    assert_non_null(memmem(data, len, "shorter than the 40,000,005 already shown", 41));
    free(data);
    ag_backend_release(b, r);
    ag_backend_destroy(b);
}

/* Where holes cannot be punched the log is cut back to its head, with a line saying so,
 * while the rank writes on after it. */
static void test_proc_log_truncated(void **state)
{
    struct fixture *f = *state;
    ag_proc_opts_t po = {.log_max = LIMIT, .log_check_ms = 50, .log_no_punch = true};
    struct ended e = {0};
    ag_run_t *r = NULL;
    ag_backend_t *b = start_big(f, &po, &e, &r);
    cl_error_t err;
    assert_true(wait_bounded(f, 0, LIMIT + 4096));
    struct stat st;
    assert_int_equal(log_stat(f, &st), 0);
    assert_true((uint64_t)st.st_blocks * 512 <= LIMIT + (64u << 10));
    touch_in(f, "go");
    assert_true(run_until(&f->loop, &e.calls, 10000));
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(ag_backend_logs(b, f->job_id, 0, 3u << 20, false, NULL, &data, &len, &err),
                     0);
    assert_true(len > 65536 && len <= LIMIT + 4096);
    assert_big_range(data, 0, 65536);
    const char *note = (const char *)data + 65536; /* the head ends a line */
    assert_true(strncmp(note, "[colossus: ", 11) == 0);
    assert_non_null(strstr(note, " bytes of this rank's output were cut here; this file system "
                                 "cannot punch holes, so the log keeps its first 65,536 bytes "
                                 "and what the rank wrote since the last cut, up to 983,040 "
                                 "bytes]\n"));
    /* What follows the note is the end of the output. */
    size_t m = note_end(data, len, 65536);
    assert_big_range(data + m, BIG_BYTES - (len - m), len - m);
    free(data);
    ag_backend_release(b, r);
    ag_backend_destroy(b);
}

/* A limit below the smallest is refused; 0 is no limit. */
static void test_proc_log_limit_checked(void **state)
{
    struct fixture *f = *state;
    cl_error_t err;
    ag_proc_opts_t po = {.log_max = 1000};
    assert_null(ag_backend_proc_create(&f->loop, f->work, "n7", 2, &po, &err));
    assert_string_equal(err.msg, "a rank log limit of 1000 bytes is below the smallest, 65536");
    po.log_max = 0;
    ag_backend_destroy(proc_backend_with(f, &po));
    ag_ranklog_limits_t l = ag_ranklog_limits(AG_RANKLOG_MAX_DEFAULT);
    assert_int_equal(l.head, 1u << 20);
    assert_int_equal(l.tail, 15u << 20);
}

/* Hollow launches end after run_ms, or at once as 128 + SIGTERM of rank 0 when stopped. */
static void test_hollow(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = ag_backend_hollow_create(&f->loop, 30);
    assert_string_equal(ag_backend_name(b), "hollow");
    struct order o;
    order_init(&o, 1, 8, 0, "never run");
    struct ended e1 = {0}, e2 = {0}, e3 = {0};
    ag_run_t *r1, *r2, *r3;
    cl_error_t err;
    uv_update_time(&f->loop); /* libuv timers count from the loop's time */
    uint64_t t0 = uv_hrtime();
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e1, &r1, &err), 0);
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e2, &r2, &err), 0);
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e3, &r3, &err), 0);
    ag_backend_stop(b, r2, "test", false);
    assert_int_equal(e2.calls, 1); /* at once, from within stop */
    assert_int_equal(e2.result, 128 + SIGTERM);
    assert_int_equal(e2.rank, 0);
    ag_backend_release(b, r3); /* before its end: never reported */
    assert_true(run_until(&f->loop, &e1.calls, 5000));
    assert_true(uv_hrtime() - t0 >= 29 * 1000000ull);
    assert_int_equal(e1.result, 0);
    assert_int_equal(e1.rank, -1);
    /* Synthetic usage for the time it ran, 8 GPUs: 700 W and 400 TFLOP/s each. */
    double ran = (double)(uv_hrtime() - t0) / 1e9;
    assert_true(e1.energy_j >= 700.0 * 8 * 0.029 && e1.energy_j <= 700.0 * 8 * (ran + 0.01));
    assert_true(e1.flops >= 400e12 * 8 * 0.029 && e1.flops <= 400e12 * 8 * (ran + 0.01));
    assert_true(e2.energy_j >= 0 && e2.energy_j < 700.0 * 8 * 0.029);
    ag_backend_stop(b, r1, "after the end", false);
    ag_backend_stop(b, r2, "again", false);
    sleep_loop(&f->loop, 50);
    assert_int_equal(e1.calls, 1);
    assert_int_equal(e2.calls, 1);
    assert_int_equal(e3.calls, 0);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(ag_backend_logs(b, 1, 0, 100, false, NULL, &data, &len, &err), -1);
    assert_string_equal(err.msg, "hollow nodes keep no logs");
    assert_null(data);
    ag_backend_release(b, r1);
    ag_backend_release(b, r2);
    ag_backend_release(b, NULL);
    ag_backend_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proc_run_and_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_cannot_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_cwd_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_stop_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_flops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_root_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_runs_as_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_log_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_log_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_log_limit_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hollow, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
