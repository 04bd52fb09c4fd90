/* store_helpers.h - what the store's unit tests share: a temporary directory per test, a job
 * with every field set, and an owned copy of a job read back, to compare (header only). */
#ifndef COLOSSUS_TEST_STORE_HELPERS_H
#define COLOSSUS_TEST_STORE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/store.h"

static char dir[64] __attribute__((unused));

static inline int dir_setup(void **st)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%.40s/cl-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static inline int dir_teardown(void **st)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

/* Append id to out (256 bytes: "1 2 3"). */
static inline void ids_append(char *out, uint64_t id)
{
    size_t at = strlen(out);
    snprintf(out + at, 256 - at, "%s%" PRIu64, at ? " " : "", id);
}

/* A job with every field set to something a wrong column or a lost byte would change. */
static inline void mkjob(cl_store_job_t *j, uint64_t id, int state)
{
    static const char *argv[] = {"python3", "", "train.py", "--lr", ""};
    static const char *env[] = {"A=1", "", "CUDA_VISIBLE_DEVICES=0,1"};
    memset(j, 0, sizeof *j);
    j->id = id;
    j->state = state;
    j->name = "train-ÿ-模型-🚀";
    j->tenant = "équipe";
    j->cwd = "/home/ü/run";
    j->reason = "node gpu-3 lost: Xid 79";
    j->nodes = 2;
    j->gpus_per_node = 4;
    j->max_restarts = 3;
    j->time_limit_s = 90.5;
    j->priority = -5;
    j->restarts = 1;
    j->incarnation = 2;
    j->exit_code = -9;
    j->has_exit = true;
    j->submit_time = 1700000000.125;
    j->start_time = 1700000001.5;
    j->end_time = 1700000099.75;
    j->running_time = 1700000002.25;
    j->alloc = "a,b";
    j->argv = argv;
    j->argc = 5;
    j->env = env;
    j->envc = 3;
    j->ntasks = 1; /* issue 15 */
    j->cwd_strict = true;
    j->output = "out.%j.%t";
    j->error = "err-ü.%n";
    j->dependency = "afterok:1:2,singleton";
    j->held = true;
    j->array_id = 5;
    j->array_task = 12;
    j->array = "0-99:3%4";
    j->ended = "node_fail";
    j->exclusive = true;
    j->nodelist = "node[000-063]";
    j->exclude = "node007,node009";
    j->cpus_per_gpu = 12;                          /* issue 15: CPUs and memory */
    j->mem_per_gpu_mb = 5ull * 1024 * 1024 * 1024; /* 5 PiB: past 32 bits */
}

/* A job read back, owned (the store's is valid during its callback only). */
typedef struct got_job {
    cl_store_job_t j;
    char *name, *tenant, *cwd, *reason, *alloc, *output, *error, *dependency, *array, *ended;
    char *nodelist, *exclude;
    char **argv, **env;
} got_job_t;

static inline char **dup_strv(const char *const *v, size_t n)
{
    char **o = calloc(n + 1, sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = strdup(v[i]);
    return o;
}

static inline void got_free(got_job_t *g)
{
    for (size_t i = 0; g->argv && i < g->j.argc; i++)
        free(g->argv[i]);
    for (size_t i = 0; g->env && i < g->j.envc; i++)
        free(g->env[i]);
    free(g->argv);
    free(g->env);
    free(g->name);
    free(g->tenant);
    free(g->cwd);
    free(g->reason);
    free(g->alloc);
    free(g->output);
    free(g->error);
    free(g->dependency);
    free(g->array);
    free(g->ended);
    free(g->nodelist);
    free(g->exclude);
    memset(g, 0, sizeof *g);
}

static inline void got_set(got_job_t *g, const cl_store_job_t *j)
{
    got_free(g);
    g->j = *j;
    g->name = strdup(j->name);
    g->tenant = strdup(j->tenant);
    g->cwd = strdup(j->cwd);
    g->reason = strdup(j->reason);
    g->alloc = strdup(j->alloc);
    g->output = strdup(j->output ? j->output : "");
    g->error = strdup(j->error ? j->error : "");
    g->dependency = strdup(j->dependency ? j->dependency : "");
    g->array = strdup(j->array ? j->array : "");
    g->ended = strdup(j->ended ? j->ended : "");
    g->nodelist = strdup(j->nodelist ? j->nodelist : "");
    g->exclude = strdup(j->exclude ? j->exclude : "");
    g->argv = dup_strv(j->argv, j->argc);
    g->env = dup_strv(j->env, j->envc);
}

/* cl_store_job_f: keep the job in a got_job_t */
static inline int on_got(const cl_store_job_t *j, void *arg)
{
    got_set(arg, j);
    return 0;
}

static inline const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Every field as put (a NULL string reads back as ""). */
static inline void assert_job_equal(const got_job_t *g, const cl_store_job_t *w)
{
    const cl_store_job_t *j = &g->j;
    assert_int_equal(j->id, w->id);
    assert_int_equal(j->state, w->state);
    assert_string_equal(g->name, or_empty(w->name));
    assert_string_equal(g->tenant, or_empty(w->tenant));
    assert_string_equal(g->cwd, or_empty(w->cwd));
    assert_string_equal(g->reason, or_empty(w->reason));
    assert_int_equal(j->nodes, w->nodes);
    assert_int_equal(j->gpus_per_node, w->gpus_per_node);
    assert_int_equal(j->max_restarts, w->max_restarts);
    assert_true(j->time_limit_s == w->time_limit_s);
    assert_int_equal(j->priority, w->priority);
    assert_int_equal(j->restarts, w->restarts);
    assert_int_equal(j->incarnation, w->incarnation);
    assert_int_equal(j->exit_code, w->exit_code);
    assert_int_equal(j->has_exit, w->has_exit);
    assert_true(j->submit_time == w->submit_time);
    assert_true(j->start_time == w->start_time);
    assert_true(j->end_time == w->end_time);
    assert_true(j->running_time == w->running_time);
    assert_int_equal(strlen(g->alloc), strlen(or_empty(w->alloc)));
    assert_string_equal(g->alloc, or_empty(w->alloc));
    assert_int_equal(j->argc, w->argc);
    for (size_t i = 0; i < w->argc; i++)
        assert_string_equal(g->argv[i], w->argv[i]);
    assert_int_equal(j->envc, w->envc);
    for (size_t i = 0; i < w->envc; i++)
        assert_string_equal(g->env[i], w->env[i]);
    assert_int_equal(j->ntasks, w->ntasks);
    assert_int_equal(j->cwd_strict, w->cwd_strict);
    assert_string_equal(g->output, or_empty(w->output));
    assert_string_equal(g->error, or_empty(w->error));
    assert_string_equal(g->dependency, or_empty(w->dependency));
    assert_int_equal(j->held, w->held);
    assert_int_equal(j->array_id, w->array_id);
    assert_int_equal(j->array_task, w->array_task);
    assert_string_equal(g->array, or_empty(w->array));
    assert_string_equal(g->ended, or_empty(w->ended));
    assert_int_equal(j->exclusive, w->exclusive);
    assert_string_equal(g->nodelist, or_empty(w->nodelist));
    assert_string_equal(g->exclude, or_empty(w->exclude));
    assert_int_equal(j->cpus_per_gpu, w->cpus_per_gpu);
    assert_int_equal(j->mem_per_gpu_mb, w->mem_per_gpu_mb);
}

/* A comma-separated list of n node names, like a gang's alloc (65,536 nodes: ~700 KB). */
static inline char *long_alloc(uint32_t n)
{
    char *s = malloc((size_t)n * 12 + 1), *at = s;
    for (uint32_t i = 0; i < n; i++)
        at += sprintf(at, "%sgpu-%06u", i ? "," : "", i);
    return s;
}

#endif
