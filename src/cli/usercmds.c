/* usercmds.c - `colossus user add|set|list`: users, their tenants (with the role they have
 * in each: user or manager), their cluster role (operator, admin), the uid/gid their ranks
 * run as, their QOS; and cl_cli_user_send, through which `colossus up` makes its admin. */
#include <stdio.h>
#include <string.h>

#include "api/json.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "cli/svc.h"
#include "util/util.h"

enum {
    OPT_TENANT = CL_CLI_OPT_FIRST,
    OPT_ROLE,
    OPT_UID,
    OPT_GID,
    OPT_QOS,
    OPT_DISABLE,
    OPT_ENABLE,
};

/* The most tenants one user is given in one command. */
#define TENANTS_MAX 64

static void usage_add(FILE *f)
{
    fprintf(f, "usage: colossus user add NAME --tenant T [--tenant T2...] [OPTIONS]\n"
               "Create a user in one or more tenants.\n"
               "  --tenant T[:ROLE]       a tenant of the user (at least one), ROLE user or\n"
               "                          manager (default: --role)\n"
               "  --role user|manager     its role in the tenants given without one (default\n"
               "                          user); a cluster role comes with 'user set --role'\n"
               "  --uid N --gid N         the Unix uid and gid its ranks run as, together\n"
               "  --qos Q                 its QOS (default: the default QOS)\n");
    cl_cli_usage_change(f, "done");
}

static void usage_set(FILE *f)
{
    fprintf(f, "usage: colossus user set NAME [OPTIONS]\n"
               "Change a user: only the options given change.\n"
               "  --role operator|admin|none  its cluster role (operator: nodes, maintenance,\n"
               "                          power; admin: everything; none: neither)\n"
               "  --tenant T[:ROLE]       its tenants, ROLE user (default) or manager; the\n"
               "                          tenants given replace its list: give them all\n"
               "  --uid N                 the Unix uid its ranks run as\n"
               "  --gid N                 the Unix gid its ranks run as\n"
               "  --qos Q                 its QOS ('' the default QOS)\n"
               "  --disable               it can no longer log in or submit (its running jobs\n"
               "                          go on)\n"
               "  --enable                it can again\n");
    cl_cli_usage_change(f, "done");
}

static const char *const tenant_roles[] = {"user", "manager", NULL};
static const char *const cluster_roles[] = {"operator", "admin", "none", NULL};

/* What a user add/set command line holds. */
typedef struct user_args {
    Colossus__UserInfo u;
    Colossus__UserTenant tv[TENANTS_MAX], *tp[TENANTS_MAX];
    char *tenant_arg[TENANTS_MAX]; /* as given, "T" or "T:ROLE" */
    size_t ntenants;
    const char *role;
    cl_cli_set_t set;
} user_args_t;

/* "T" or "T:user" / "T:manager" (the last ':' starts the role) into one UserTenant. */
static int tenant_arg(const char *cmd, char *arg, const char *def_role, Colossus__UserTenant *t)
{
    char *colon = strrchr(arg, ':');
    t->role = (char *)def_role;
    if (colon) {
        *colon = 0;
        if (cl_arg_oneof(cmd, "the role in --tenant T:ROLE", colon + 1, tenant_roles) < 0)
            return -1;
        t->role = colon + 1;
    }
    t->tenant = arg;
    return cl_arg_name(cmd, "--tenant", arg, NULL, false);
}

static int user_opt(cl_cli_t *c, int o, bool add, user_args_t *a)
{
    const char *cmd = c->cmd;
    switch (o) {
    case OPT_TENANT:
        if (a->ntenants == TENANTS_MAX) {
            fprintf(stderr, "colossus %s: more than %d --tenant\n", cmd, TENANTS_MAX);
            return -1;
        }
        a->tenant_arg[a->ntenants++] = optarg;
        cl_cli_set_add(&a->set, "tenants");
        return 0;
    case OPT_ROLE:
        if (cl_arg_oneof(cmd, "--role", optarg, add ? tenant_roles : cluster_roles) < 0)
            return -1;
        a->role = optarg;
        if (!add) cl_cli_set_add(&a->set, "role");
        return 0;
    case OPT_UID:
        cl_cli_set_add(&a->set, "uid");
        return cl_flag_u32(cmd, "--uid", optarg, 0, 4294967294u, &a->u.uid);
    case OPT_GID:
        cl_cli_set_add(&a->set, "gid");
        return cl_flag_u32(cmd, "--gid", optarg, 0, 4294967294u, &a->u.gid);
    case OPT_QOS:
        if (cl_arg_name(cmd, "--qos", optarg, NULL, !add) < 0) return -1;
        a->u.qos = optarg;
        cl_cli_set_add(&a->set, "qos");
        return 0;
    case OPT_DISABLE:
    case OPT_ENABLE:
        return cl_arg_switch(cmd, &a->set, "disabled", &a->u.disabled, o == OPT_DISABLE,
                             "--disable", "--enable");
    }
    cl_cli_common_opt(c, o);
    return 0;
}

/* The tenants, each with its role, once each. */
static int user_tenants(const cl_cli_t *c, user_args_t *a, const char *def_role)
{
    for (size_t i = 0; i < a->ntenants; i++) {
        a->tp[i] = &a->tv[i];
        colossus__user_tenant__init(&a->tv[i]);
        if (tenant_arg(c->cmd, a->tenant_arg[i], def_role, &a->tv[i]) < 0) return -1;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(a->tv[k].tenant, a->tv[i].tenant)) {
                fprintf(stderr, "colossus %s: --tenant ", c->cmd);
                cl_text_put(stderr, a->tv[i].tenant);
                fputs(" is given twice\n", stderr);
                return -1;
            }
    }
    a->u.tenants = a->tp;
    a->u.n_tenants = a->ntenants;
    return 0;
}

int cl_cli_user_send(cl_cli_t *c, Colossus__UserInfo *u, bool create, char **set, size_t nset)
{
    Colossus__UserSpec s = COLOSSUS__USER_SPEC__INIT;
    s.user = u;
    s.create = create;
    s.set = set;
    s.n_set = nset;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_USER;
    r.user = &s;
    return cl_cli_change(c, &r, 30000,
                         "user %s may or may not have been %s (check with 'colossus user "
                         "list')",
                         u->name, create ? "created" : "changed");
}

static int user_spec(int argc, char **argv, bool add)
{
    static const struct option add_opts[] = {{"tenant", required_argument, 0, OPT_TENANT},
                                             {"role", required_argument, 0, OPT_ROLE},
                                             {"uid", required_argument, 0, OPT_UID},
                                             {"gid", required_argument, 0, OPT_GID},
                                             {"qos", required_argument, 0, OPT_QOS},
                                             CL_CLI_COMMON_OPTS,
                                             {0, 0, 0, 0}};
    static const struct option set_opts[] = {{"tenant", required_argument, 0, OPT_TENANT},
                                             {"role", required_argument, 0, OPT_ROLE},
                                             {"uid", required_argument, 0, OPT_UID},
                                             {"gid", required_argument, 0, OPT_GID},
                                             {"qos", required_argument, 0, OPT_QOS},
                                             {"disable", no_argument, 0, OPT_DISABLE},
                                             {"enable", no_argument, 0, OPT_ENABLE},
                                             CL_CLI_COMMON_OPTS,
                                             {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = add ? "user add" : "user set"};
    cl_flags_t f = {.cmd = c.cmd,
                    .shorts = "h",
                    .longs = add ? add_opts : set_opts,
                    .usage = add ? usage_add : usage_set};
    user_args_t a = {.u = COLOSSUS__USER_INFO__INIT};
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        if (user_opt(&c, o, add, &a) < 0) return 2;
    }
    if (cl_flags_args(&f, argc, argv, 1, 1, "NAME (the user's name)") < 0) return 2;
    a.u.name = argv[optind];
    if (cl_arg_name(c.cmd, "the user name", a.u.name, NULL, false) < 0) return 2;
    if (user_tenants(&c, &a, add && a.role ? a.role : "user") < 0) return 2;
    if (add && !a.ntenants) return cl_flags_fail(&f, "--tenant T is required (at least one)");
    if (add && cl_cli_set_has(&a.set, "uid") != cl_cli_set_has(&a.set, "gid"))
        return cl_flags_fail(&f, "give --uid and --gid together");
    if (!add && !a.set.n)
        return cl_flags_fail(&f, "nothing to change: give at least one option (see --help)");
    if (!add && a.role) a.u.role = (char *)(strcmp(a.role, "none") ? a.role : "");
    return cl_cli_user_send(&c, &a.u, add, a.set.v, a.set.n);
}

static int user_add(int argc, char **argv)
{
    return user_spec(argc, argv, true);
}

static int user_set(int argc, char **argv)
{
    return user_spec(argc, argv, false);
}

static void usage_list(FILE *f)
{
    fprintf(f, "usage: colossus user list [OPTIONS]\n"
               "List the users: cluster role, uid/gid, QOS, whether disabled, their tenants\n"
               "with their role in each.\n"
               "  --json                  a JSON array of users (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

static void print_users(const Colossus__Response *rs)
{
    printf("%-20s %-8s %-10s %-10s %-12s %-8s %s\n", "NAME", "ROLE", "UID", "GID", "QOS",
           "DISABLED", "TENANTS");
    for (size_t i = 0; i < rs->n_users; i++) {
        const Colossus__UserInfo *u = rs->users[i];
        cl_text_cell(stdout, u->name, 20);
        putchar(' ');
        cl_text_cell(stdout, u->role && u->role[0] ? u->role : "-", 8);
        printf(" %-10u %-10u ", u->uid, u->gid);
        cl_text_cell(stdout, u->qos && u->qos[0] ? u->qos : "-", 12);
        printf(" %-8s ", u->disabled ? "yes" : "no");
        for (size_t k = 0; k < u->n_tenants; k++) {
            if (k) putchar(',');
            cl_text_put(stdout, u->tenants[k]->tenant);
            if (u->tenants[k]->role && !strcmp(u->tenants[k]->role, "manager"))
                fputs(":manager", stdout);
        }
        if (!u->n_tenants) putchar('-');
        putchar('\n');
    }
}

static json_t *users_json(const Colossus__Response *rs)
{
    return cl_json_users(rs->users, rs->n_users);
}

static int user_list(int argc, char **argv)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_USERS;
    r.users = true;
    return cl_cli_list("user list", argc, argv, usage_list, &r, users_json, print_users);
}

int cmd_user(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"add", user_add, "create a user in one or more tenants"},
        {"set", user_set, "change a user: role, tenants, uid/gid, QOS, disabled"},
        {"list", user_list, "list the users"},
    };
    return cl_cli_dispatch("user", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
