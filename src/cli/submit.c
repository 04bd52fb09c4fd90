/* submit.c - colossus submit: its options (Slurm's names where they mean the same), the
 * directives of a batch script (#COLOSSUS: any of them; #SBATCH: those Slurm shares, an
 * unsupported one named with its line), and the environment it exports (--export). The
 * command line wins over the script: the script's directives are applied first, then the
 * command line again. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/args.h"
#include "cli/clictx.h"
#include "cli/submit.h"
#include "util/iopat.h"
#include "util/arrayspec.h"
#include "util/hostlist.h"
#include "util/depend.h"
#include "util/jobenv.h"
#include "util/units.h"
#include "util/util.h"

void cl_submit_usage_options(FILE *f)
{
    fprintf(
        f,
        "  -N, --nodes NODES       nodes of the gang, 1..1000000 (default 1)\n"
        "  --gpus-per-node G       GPUs on each node, 1..64 (default: all)\n"
        "  --ntasks-per-node T     tasks (ranks) on each node, 1..64 (default: one per\n"
        "                          GPU; 1 for an #SBATCH script); every task sees all of\n"
        "                          the node's job GPUs in CUDA_VISIBLE_DEVICES (1: one\n"
        "                          launcher, as torchrun)\n"
        "  -J, --job-name, --name NAME  the job's name (default: the command's)\n"
        "  -A, --account, --tenant T    tenant for fair share (default: default)\n"
        "  -q, --qos Q             the QOS (it must be the user's; default: the user's)\n"
        "  --priority P            -1000000..1000000, higher first (default 0)\n"
        "  -t, --time TIME         time limit as Slurm writes it: MIN, MIN:SEC,\n"
        "                          H:MIN:SEC, D-H, D-H:MIN, D-H:MIN:SEC, or UNLIMITED\n"
        "  --time-limit MIN        the same in minutes, fractions allowed, at least 1\n"
        "                          second (0.0167 min), at most 525600\n"
        "  --max-restarts R        restarts after failures, 0..1000 (default 3)\n"
        "  -D, --chdir DIR         the ranks' working directory, absolute; it must exist\n"
        "                          on the nodes (default: this one, or the job's own\n"
        "                          directory on a node where this one does not exist)\n"
        "  -o, --output PATTERN    stdout (and stderr without --error) of each task to\n"
        "                          this file on its node, appended, relative to the\n"
        "                          working directory: %%j job id, %%t task, %%n node index,\n"
        "                          %%N node name, %%u user, %%x job name, %%A array id, %%a\n"
        "                          array task, %%%% a '%%'\n"
        "                          (default: the rank logs of 'colossus logs')\n"
        "  -e, --error PATTERN     stderr of each task to this file\n"
        "  --export WHAT           the environment the ranks get from here: ALL (the\n"
        "                          default), NONE, or NAME and NAME=VALUE items\n"
        "                          separated by ',' (with ALL first: all of it plus\n"
        "                          those); never the client's credentials (COLOSSUS_TOKEN,\n"
        "                          COLOSSUS_KEY, COLOSSUS_IDENTITY, COLOSSUS_*_FILE)\n"
        "  -d, --dependency DEPS   start only after other jobs, as Slurm's: afterok:ID[:ID..]\n"
        "                          (each succeeded), afterany:ID[:ID..] (each ended),\n"
        "                          afternotok:ID[:ID..] (each failed or was cancelled),\n"
        "                          singleton (no other job of this user and name runs);\n"
        "                          several separated by ',' must all hold. One that can\n"
        "                          never hold cancels the job (DependencyNeverSatisfied)\n"
        "                          (default: none). Example: -d afterok:12:13,singleton\n"
        "  --cpus-per-gpu C        CPUs each of the job's GPUs needs on its node, 1..1024;\n"
        "                          the core places the job only where the node's CPUs\n"
        "                          left (colossus agent --cpus) are enough, and the\n"
        "                          node's ranks get C x their GPUs of CPU time (cgroup\n"
        "                          cpu.max) (default: none asked, no limit)\n"
        "  --mem-per-gpu SIZE      memory each GPU's share of ranks needs, as Slurm's: a\n"
        "                          number and K, M, G or T (64G; no unit: MB); placed as\n"
        "                          --cpus-per-gpu, and a limit (cgroup memory.max) that\n"
        "                          the kernel enforces: a rank over it is killed and the\n"
        "                          job ends out_of_memory (default: none, no limit)\n"
        "  --hold                  queue it held: 'colossus release JOB' lets it start\n"
        "  --requeue, --no-requeue as Slurm's: a job is restarted (requeued) after a node\n"
        "                          failure, up to --max-restarts (the default); --no-requeue:\n"
        "                          never (--max-restarts 0: it fails with its node)\n"
        "  -a, --array TASKS       a job array, one job per task, as Slurm's: 0-99,\n"
        "                          0-15:4 (a step), 1,3,5-7 (a list), and %%N: at most N\n"
        "                          running at once (default: not an array). Its id is the\n"
        "                          first task's; ID_T names task T (cancel, show, ...);\n"
        "                          COLOSSUS_ARRAY_JOB_ID/_TASK_ID and SLURM_ARRAY_JOB_ID/\n"
        "                          _TASK_ID are set; %%A and %%a in --output/--error.\n"
        "                          Example: -a 0-99%%8\n"
        "  --exclusive             no other job on its nodes while it runs (it takes only\n"
        "                          nodes without jobs; default: nodes are shared)\n"
        "  -w, --nodelist HOSTLIST its nodes all come from these, a Slurm hostlist\n"
        "                          (node[000-063],login1); without -N, one node each, as\n"
        "                          Slurm's (default: any node). A name that is no node is\n"
        "                          refused. Example: -w 'node[000-015]'\n"
        "  -x, --exclude HOSTLIST  never on these nodes (default: none)\n");
}

static void usage_submit(FILE *f)
{
    fprintf(f,
            "usage: colossus submit [OPTIONS] [--] CMD ARGS...\n"
            "       colossus submit [OPTIONS] SCRIPT [ARGS...]\n"
            "Queue a gang job (NODES x TASKS ranks, one per GPU by default) and print its id.\n"
            "A SCRIPT (a file starting with #!) may hold options at its top, one or more a\n"
            "line: '#COLOSSUS --nodes 2' (any option below) or '#SBATCH -N 2' (Slurm's names\n"
            "for -N, --gpus-per-node, --ntasks-per-node, -t, -J, -o, -e, -D, -A, -q,\n"
            "--export, -d/--dependency, --hold, -a/--array, --exclusive, -w/--nodelist,\n"
            "-x/--exclude, --cpus-per-gpu, --mem-per-gpu); the command line wins. A\n"
            "directive colossus does not support is an\n"
            "error naming its line: nothing is queued. A script with #SBATCH lines runs one\n"
            "task a node unless --ntasks-per-node says otherwise, as under Slurm.\n");
    cl_submit_usage_options(f);
    cl_cli_usage_common(f);
    fprintf(f, "Exit status: 0 queued, 1 not queued, 2 bad usage, 3 sent but not acknowledged\n"
               "(it may or may not have been queued; see colossus --help).\n");
}

/* What Slurm users type that means something else here, or does not exist yet. */
static const cl_flag_hint_t submit_hints[] = {
    {"gpus", "Slurm's --gpus is a total; colossus takes --gpus-per-node G with -N NODES"},
    {"ntasks", "colossus takes --ntasks-per-node T with -N NODES"},
    {"time-min", "not supported; --time (-t) sets the time limit"},
    {0, 0}};

static const struct option submit_longs[] = {
    {"nodes", required_argument, 0, 'N'},
    {"gpus-per-node", required_argument, 0, OPT_GPN},
    {"ntasks-per-node", required_argument, 0, OPT_NTASKS},
    {"name", required_argument, 0, 'J'},
    {"job-name", required_argument, 0, 'J'},
    {"tenant", required_argument, 0, 'A'},
    {"account", required_argument, 0, 'A'},
    {"qos", required_argument, 0, 'q'},
    {"priority", required_argument, 0, OPT_PRIO},
    {"time", required_argument, 0, 't'},
    {"time-limit", required_argument, 0, OPT_TLIMIT},
    {"max-restarts", required_argument, 0, OPT_MAXR},
    {"chdir", required_argument, 0, 'D'},
    {"output", required_argument, 0, 'o'},
    {"error", required_argument, 0, 'e'},
    {"export", required_argument, 0, OPT_EXPORT},
    {"dependency", required_argument, 0, 'd'},
    {"hold", no_argument, 0, OPT_HOLD},
    {"requeue", no_argument, 0, OPT_REQUEUE},
    {"no-requeue", no_argument, 0, OPT_NO_REQUEUE},
    {"array", required_argument, 0, 'a'},
    {"exclusive", no_argument, 0, OPT_EXCLUSIVE},
    {"nodelist", required_argument, 0, 'w'},
    {"exclude", required_argument, 0, 'x'},
    {"cpus-per-gpu", required_argument, 0, OPT_CPG},
    {"mem-per-gpu", required_argument, 0, OPT_MPG},
    CL_CLI_COMMON_OPTS,
    {0, 0, 0, 0}};
#define SUBMIT_SHORTS "+N:J:A:q:t:D:o:e:d:a:w:x:h"

/* The #SBATCH names colossus takes: those of Slurm's sbatch that mean the same here. */
static const struct option sbatch_longs[] = {
    {"nodes", required_argument, 0, 'N'},
    {"gpus-per-node", required_argument, 0, OPT_GPN},
    {"ntasks-per-node", required_argument, 0, OPT_NTASKS},
    {"job-name", required_argument, 0, 'J'},
    {"account", required_argument, 0, 'A'},
    {"qos", required_argument, 0, 'q'},
    {"time", required_argument, 0, 't'},
    {"chdir", required_argument, 0, 'D'},
    {"output", required_argument, 0, 'o'},
    {"error", required_argument, 0, 'e'},
    {"export", required_argument, 0, OPT_EXPORT},
    {"dependency", required_argument, 0, 'd'},
    {"hold", no_argument, 0, OPT_HOLD},
    {"requeue", no_argument, 0, OPT_REQUEUE},
    {"no-requeue", no_argument, 0, OPT_NO_REQUEUE},
    {"array", required_argument, 0, 'a'},
    {"exclusive", no_argument, 0, OPT_EXCLUSIVE},
    {"nodelist", required_argument, 0, 'w'},
    {"exclude", required_argument, 0, 'x'},
    {"cpus-per-gpu", required_argument, 0, OPT_CPG},
    {"mem-per-gpu", required_argument, 0, OPT_MPG},
    {0, 0, 0, 0}};
#define SBATCH_SHORTS "NJAqtDoedawx"

static const char *bad_cmd = "submit"; /* or run: whose errors bad() says */
static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cl_cli_vbad(bad_cmd, fmt, ap);
    va_end(ap);
    return 2;
}

/* ------------------------------------------------------------------ values -------------- */

/* Slurm's time: MIN, MIN:SEC, H:MIN:SEC, D-H, D-H:MIN, D-H:MIN:SEC; UNLIMITED/INFINITE: 0. */
static int slurm_time(const char *s, double *min)
{
    if (!strcasecmp(s, "unlimited") || !strcasecmp(s, "infinite")) {
        *min = 0;
        return 0;
    }
    long v[4] = {0, 0, 0, 0}, days = 0;
    int n = 0;
    const char *p = s;
    const char *dash = strchr(s, '-');
    if (dash) {
        char *end;
        errno = 0;
        days = strtol(s, &end, 10);
        if (end != dash || end == s || errno || days < 0 || days > 365) return -1;
        p = dash + 1;
    }
    while (n < 3) {
        char *end;
        if (*p < '0' || *p > '9') return -1;
        errno = 0;
        v[n++] = strtol(p, &end, 10);
        if (errno || v[n - 1] > 100000000) return -1;
        p = end;
        if (!*p) break;
        if (*p++ != ':') return -1;
    }
    if (*p) return -1;
    double sec;
    if (dash) /* D-H, D-H:M, D-H:M:S */
        sec = days * 86400.0 + v[0] * 3600.0 + v[1] * 60.0 + v[2];
    else if (n == 1)
        sec = v[0] * 60.0;
    else if (n == 2)
        sec = v[0] * 60.0 + v[1];
    else
        sec = v[0] * 3600.0 + v[1] * 60.0 + v[2];
    *min = sec / 60;
    return sec >= 1 && *min <= 525600 ? 0 : -1;
}

static bool env_name_ok(const char *s, size_t n)
{
    if (!n || !(s[0] == '_' || isalpha((unsigned char)s[0]))) return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || isalnum((unsigned char)s[i]))) return false;
    return true;
}

/* --export: ALL, NONE, or items NAME / NAME=VALUE separated by ',' (ALL may come first). */
static int check_export(const char *v)
{
    if (!strcmp(v, "ALL") || !strcmp(v, "NONE")) return 0;
    if (!*v) return bad("--export must be ALL, NONE or NAME[=VALUE] items, not ''");
    const char *p = v;
    for (int i = 0; *p; i++) {
        size_t len = strcspn(p, ",");
        size_t nl = strcspn(p, "=,");
        if (!(i == 0 && len == 3 && !strncmp(p, "ALL", 3))) {
            if (!env_name_ok(p, nl))
                return bad("--export '%s': '%.*s' is not NAME or NAME=VALUE (ALL, NONE or "
                           "NAME[=VALUE] items separated by ',')",
                           v, (int)len, p);
            if (cl_env_secret_name(p, nl))
                return bad("--export: %.*s is the client's credential: never exported", (int)nl,
                           p);
        }
        p += len;
        if (*p == ',' && !*++p) return bad("--export '%s' ends with ','", v);
    }
    return 0;
}

/* ------------------------------------------------------------------ one option ---------- */

int cl_submit_opt(cl_cli_t *c, int o, const char *arg, cl_submit_t *x)
{
    Colossus__SubmitReq *s = &x->s;
    const char *cmd = c->cmd;
    long v = 0;
    double m = 0;
    int rc = 0;
    cl_error_t err;
    switch (o) {
    case 'N':
        rc = cl_flag_u32(cmd, "-N", arg, 1, 1000000, &s->nodes);
        x->nodes_set = true;
        break;
    case OPT_EXCLUSIVE:
        s->exclusive = true;
        break;
    case 'w':
    case 'x':
        if (cl_hostlist_check(arg, &err) < 0)
            return bad("%s: %s", o == 'w' ? "--nodelist" : "--exclude", err.msg);
        *(o == 'w' ? &s->nodelist : &s->exclude) = (char *)arg;
        break;
    case OPT_GPN:
        rc = cl_flag_u32(cmd, "--gpus-per-node", arg, 1, 64, &s->gpus_per_node);
        break;
    case OPT_NTASKS:
        rc = cl_flag_u32(cmd, "--ntasks-per-node", arg, 1, 64, &s->ntasks_per_node);
        break;
    case 'J':
        s->name = (char *)arg;
        break;
    case 'A':
        s->tenant = (char *)arg;
        break;
    case 'q':
        rc = cl_arg_name(cmd, "--qos", arg, NULL, false);
        s->qos = (char *)arg;
        break;
    case OPT_PRIO:
        rc = cl_flag_long(cmd, "--priority", arg, -1000000, 1000000, &v);
        s->priority = (int32_t)v;
        break;
    case 't':
        if (slurm_time(arg, &m) < 0)
            return bad("--time must be MIN, MIN:SEC, H:MIN:SEC, D-H, D-H:MIN, D-H:MIN:SEC "
                       "(1 second to 365 days) or UNLIMITED, not '%s'",
                       arg);
        s->time_limit_min = m;
        break;
    case OPT_TLIMIT:
        rc = cl_flag_double(cmd, "--time-limit", arg, 0, 525600, &m);
        /* Under a second is a slip (1e-9 was taken), not a limit any job could keep. */
        if (rc == 0 && !(m * 60 >= 1))
            return bad("--time-limit must be at least 1 second (0.0167 minutes), not '%s'",
                       arg);
        s->time_limit_min = m;
        break;
    case OPT_MAXR:
        rc = cl_flag_u32(cmd, "--max-restarts", arg, 0, 1000, &s->max_restarts);
        break;
    case 'D':
        if (arg[0] != '/') return bad("--chdir must be an absolute path, not '%s'", arg);
        s->cwd = (char *)arg;
        s->cwd_strict = true;
        break;
    case 'o':
    case 'e':
        if (cl_iopat_check(o == 'o' ? "--output" : "--error", arg, &err) < 0)
            return bad("%s", err.msg);
        *(o == 'o' ? &s->output : &s->error) = (char *)arg;
        break;
    case OPT_EXPORT:
        if (check_export(arg)) return 2;
        x->export_ = arg;
        break;
    case 'd': {
        cl_depend_t d;
        rc = cl_depend_parse(arg, &d, &err);
        cl_depend_free(&d);
        if (rc < 0) return bad("%s", err.msg);
        s->dependency = (char *)arg;
        break;
    }
    case OPT_HOLD:
        s->hold = true;
        break;
    case OPT_REQUEUE: /* the default: --max-restarts as given or 3 */
        break;
    case OPT_NO_REQUEUE:
        s->max_restarts = 0;
        break;
    case OPT_CPG:
        rc = cl_flag_u32(cmd, "--cpus-per-gpu", arg, 1, 1024, &s->cpus_per_gpu);
        break;
    case OPT_MPG:
        if (cl_parse_mem_mb(arg, &s->mem_per_gpu_mb, &err) < 0)
            return bad("--mem-per-gpu: %s", err.msg);
        break;
    case 'a': {
        cl_arrayspec_t as;
        rc = cl_arrayspec_parse(arg, &as, &err);
        cl_arrayspec_free(&as);
        if (rc < 0) return bad("%s", err.msg);
        s->array = (char *)arg;
        break;
    }
    default:
        cl_cli_common_opt(c, o);
    }
    return rc < 0 ? 2 : 0;
}

/* ------------------------------------------------------------------ command line -------- */

/* One pass over the command line onto x; optind is then the command. 0, or the exit status
 * (after --help: 0 with *stop). */
static int cmdline(cl_cli_t *c, int argc, char **argv, cl_submit_t *x, bool *stop)
{
    cl_flags_t f = {.cmd = c->cmd,
                    .shorts = SUBMIT_SHORTS,
                    .longs = submit_longs,
                    .usage = x->usage ? x->usage : usage_submit,
                    .hints = submit_hints};
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) {
            *stop = true;
            return f.exit;
        }
        if (cl_submit_opt(c, o, optarg, x)) {
            *stop = true;
            return 2;
        }
    }
    return 0;
}

static void defaults(cl_submit_t *x)
{
    colossus__submit_req__init(&x->s);
    x->s.nodes = 1;
    x->s.max_restarts = 3;
    x->export_ = NULL;
    x->nodes_set = false;
}

/* The command, as the ranks will find it: a script given by a relative path is made
 * absolute, since the nodes look for it in the job's working directory (--chdir) or PATH. */
static char *dupn(const char *s, size_t n)
{
    char *d = cl_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* A script that is not executable runs as the kernel would run it: its interpreter, the
 * one argument of its "#!" line if any, then the script (0), or -1 when the line names no
 * interpreter. */
static int interpreter(cl_submit_t *x, const char *script, size_t *n)
{
    char *p = x->shebang;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t l = strcspn(p, " \t\r");
    if (!l) return -1;
    x->interp[0] = dupn(p, l);
    p += l;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t e = strlen(p);
    while (e && (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '\r'))
        e--;
    *n = 0;
    x->args[(*n)++] = x->interp[0];
    if (e) x->args[(*n)++] = x->interp[1] = dupn(p, e);
    x->args[(*n)++] = (char *)script;
    return 0;
}

static int command(cl_submit_t *x, char **argv, int argc, const char *cwd, bool script)
{
    x->s.argv = argv;
    x->s.n_argv = (size_t)argc;
    if (!x->s.name[0]) {
        const char *b = strrchr(argv[0], '/');
        x->s.name = (char *)(b ? b + 1 : argv[0]);
    }
    if (!script) return 0;
    const char *path = argv[0];
    if (path[0] != '/') {
        x->argv0 = cl_xmalloc(strlen(cwd) + strlen(argv[0]) + 2);
        sprintf(x->argv0, "%s/%s", cwd, argv[0]);
        path = x->argv0;
    }
    x->args = cl_xcalloc((size_t)argc + 3, sizeof *x->args);
    size_t n = 1;
    x->args[0] = (char *)path;
    if (access(argv[0], X_OK) != 0 && interpreter(x, path, &n) < 0)
        return bad("%s is not executable and its #! line names no interpreter", argv[0]);
    memcpy(x->args + n, argv + 1, (size_t)(argc - 1) * sizeof *argv);
    x->s.argv = x->args;
    x->s.n_argv = n + (size_t)argc - 1;
    return 0;
}

int cl_submit_parse(cl_cli_t *c, int argc, char **argv, cl_submit_t *x)
{
    bool stop = false;
    bad_cmd = c->cmd;
    defaults(x);
    int rc = cmdline(c, argc, argv, x, &stop);
    if (stop) return rc < 0 ? 2 : rc == 0 ? -1 : rc;
    if (optind >= argc)
        return bad("no command given (colossus submit [options] -- CMD ARGS..., or "
                   "colossus submit [options] SCRIPT)");
    int at = optind;
    x->cwd = get_current_dir_name(); /* any length: a cut one would be another directory */
    if (!x->cwd) {
        fprintf(stderr, "colossus submit: cannot tell the working directory: %s\n",
                strerror(errno));
        return 1;
    }
    /* The script's directives, then the command line again: it wins. */
    defaults(x);
    int is_script = cl_submit_script(c, argv[at], x);
    if (is_script < 0) return 2;
    rc = cmdline(c, argc, argv, x, &stop);
    if (stop) return rc ? rc : 2;
    if (!x->s.cwd_strict) x->s.cwd = x->cwd;
    /* Slurm's -w without -N: one node for each name listed */
    if (x->s.nodelist[0] && !x->nodes_set) {
        uint64_t n = cl_hostlist_count(x->s.nodelist);
        if (n > 1000000)
            return bad("--nodelist names %llu nodes, more than -N takes",
                       (unsigned long long)n);
        x->s.nodes = (uint32_t)n;
    }
    /* A Slurm batch script runs as srun runs a command: one task a node unless asked. */
    if (x->sbatch && !x->s.ntasks_per_node) x->s.ntasks_per_node = 1;
    if (command(x, argv + at, argc - at, x->cwd, is_script > 0)) return 2;
    return cl_submit_env(x);
}

void cl_submit_free(cl_submit_t *x)
{
    for (size_t i = 0; i < x->n_env_own; i++)
        free(x->s.env[i]);
    free(x->s.env);
    free(x->args);
    free(x->argv0);
    free(x->shebang);
    free(x->interp[0]);
    free(x->interp[1]);
    free(x->cwd);
    for (size_t i = 0; i < x->nlines; i++)
        free(x->lines[i]);
    free(x->lines);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The submission, sent again through a failover: a controller list (a leader and its
 * standbys) and an answer that never came (the leader died or stepped down with the request
 * in flight) or a refusal as shutting down: the next controller is asked the same request
 * with the same idempotency key, for up to CL_CLI_FAILOVER_MS, and answers with the job the
 * first one journaled, if it did (docs/standby.md). NULL after saying why (c->status). */
static Colossus__Msg *submit_call(cl_cli_t *c, Colossus__Request *r)
{
    double until = mono_ms() + CL_CLI_FAILOVER_MS;
    size_t n = cl_addr_list_count(c->addr);
    for (;;) {
        cl_error_t err;
        Colossus__Msg *m = cl_client_call(c->conn, r, 30000, &err);
        if (m && !m->response->ok) { /* its own input refused (a node list naming no node): 2 */
            c->status = m->response->bad_input ? CL_EXIT_USAGE : CL_EXIT_FAILED;
            cl_cli_say(c, m->response->error);
            cl_msg_free(m);
            return NULL;
        }
        if (m) return m;
        cl_client_fail_t f = c->conn->fail;
        bool again =
            n > 1 && mono_ms() < until &&
            (f.stage == CL_CLIENT_LOST || f.stage == CL_CLIENT_SEND ||
             (f.stage == CL_CLIENT_REFUSED && f.why == COLOSSUS__REFUSED__WHY__SHUTTING_DOWN));
        if (!again) {
            cl_cli_fail(c, &f, &err);
            return NULL;
        }
        cl_cli_close(c);
        c->next_addr = (c->next_addr + 1) % n; /* the one that failed, last */
        cl_client_fail_t f2;
        if (cl_cli_dial(c, &f2, &err) < 0) {
            f2.sent = f2.sent || f.sent; /* the first try's outcome is still unknown */
            cl_cli_fail(c, &f2, &err);
            return NULL;
        }
    }
}

int cl_submit_send(cl_cli_t *c, int argc, char **argv, void (*usage)(FILE *f), uint64_t *id)
{
    cl_submit_t x = {.usage = usage};
    int rc = cl_submit_parse(c, argc, argv, &x);
    if (rc) {
        cl_submit_free(&x);
        return rc;
    }
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r.submit = &x.s;
    snprintf(c->unknown, sizeof c->unknown,
             "it may or may not have been accepted (check with 'colossus jobs --all')");
    /* one key per invocation, the same on its retries: a retry is the same submission */
    char key[33];
    Colossus__Msg *m = NULL;
    const char *own = getenv("COLOSSUS_IDEMPOTENCY_KEY"); /* a script's own retries */
    if (cl_cli_connect(c) == 0) {
        uint8_t raw[16];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(key, sizeof key, raw, sizeof raw);
        x.s.idempotency_key = own && *own ? (char *)own : key;
        m = submit_call(c, &r);
    }
    cl_submit_free(&x);
    if (!m) {
        cl_cli_close(c);
        return c->status;
    }
    *id = m->response->job;
    cl_msg_free(m);
    c->unknown[0] = 0;
    return 0;
}

int cmd_submit(int argc, char **argv)
{
    cl_cli_t c = {.cmd = "submit"};
    uint64_t id;
    int rc = cl_submit_send(&c, argc, argv, NULL, &id);
    if (rc) return rc < 0 ? 0 : rc;
    cl_cli_close(&c);
    printf("%llu\n", (unsigned long long)id);
    return 0;
}

/* Exported by the directives' module (submit_script.c). */
const struct option *cl_submit_longs(bool sbatch, const char **shorts)
{
    *shorts = sbatch ? SBATCH_SHORTS : SUBMIT_SHORTS + 1;
    return sbatch ? sbatch_longs : submit_longs;
}

const cl_flag_hint_t *cl_submit_hints(void)
{
    return submit_hints;
}
