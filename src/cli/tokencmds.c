/* tokencmds.c - `colossus token create|list|revoke` and `colossus node-token create`: a
 * token or node credential is a key pair made here (proto/cred.h); the controller gets only
 * its public key and gives it an id, and the string printed once holds the secret. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api/json.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "cli/svc.h"
#include "util/util.h"

enum { OPT_USER = CL_CLI_OPT_FIRST, OPT_EXPIRES, OPT_SCOPE, OPT_NODES };

int cl_cli_token_make(cl_cli_t *c, Colossus__TokenReq *q, char out[CL_CRED_STR_MAX + 1],
                      double *expires, uint8_t *identity)
{
    cl_cred_t cred;
    uint8_t pk[CL_SIGN_PK_BYTES];
    if (cl_crypto_init() < 0) {
        fprintf(stderr, "colossus %s: cannot initialise libsodium\n", c->cmd);
        return CL_EXIT_FAILED;
    }
    cl_cred_new(&cred, q->node ? CL_CRED_NODE : CL_CRED_TOKEN, pk);
    q->public_key.data = pk;
    q->public_key.len = sizeof pk;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TOKEN_CREATE;
    r.token_create = q;
    const char *what = q->node ? "node credential" : "token";
    snprintf(c->unknown, sizeof c->unknown,
             "a %s may or may not have been made (see 'colossus token list'); its secret is "
             "lost: revoke it",
             what);
    Colossus__Msg *m = cl_cli_ask(c, &r, 30000);
    q->public_key.data = NULL;
    q->public_key.len = 0;
    if (!m) {
        cl_cred_clear(&cred);
        return c->status;
    }
    const Colossus__Response *rs = m->response;
    const char *id = rs->n_tokens ? rs->tokens[0]->id : "";
    int rc = 0;
    if (!cl_cred_id_valid(id) || strncmp(id, q->node ? "nd-" : "tk-", 3) ||
        rs->identity.len != CL_SIGN_PK_BYTES) {
        fprintf(stderr,
                "colossus %s: the controller's answer has no well-formed %s id and identity "
                "key; nothing to print\n",
                c->cmd, what);
        rc = CL_EXIT_FAILED;
    } else {
        snprintf(cred.id, sizeof cred.id, "%s", id);
        memcpy(cred.identity, rs->identity.data, CL_SIGN_PK_BYTES);
        *expires = rs->tokens[0]->expires;
        if (identity) memcpy(identity, cred.identity, CL_SIGN_PK_BYTES);
        cl_assert(cl_cred_format(&cred, out, CL_CRED_STR_MAX + 1) == 0);
    }
    cl_cred_clear(&cred);
    cl_msg_free(m);
    return rc;
}

/* Print a credential string alone on stdout, and on stderr what it is. */
static int print_cred(const cl_cli_t *c, char *s, const char *what, double expires)
{
    char when[40];
    bool ok = printf("%s\n", s) > 0 && fflush(stdout) == 0;
    sodium_memzero(s, CL_CRED_STR_MAX + 1);
    if (!ok) {
        fprintf(stderr, "colossus %s: cannot write the %s: revoke it\n", c->cmd, what);
        return CL_EXIT_FAILED;
    }
    cl_cli_fmt_utc(expires, when, sizeof when);
    if (expires > 0)
        fprintf(stderr, "colossus %s: the %s expires %s; it is shown only now\n", c->cmd, what,
                when);
    else
        fprintf(stderr, "colossus %s: the %s never expires; it is shown only now\n", c->cmd,
                what);
    return 0;
}

static void usage_create(FILE *f)
{
    fprintf(f,
            "usage: colossus token create [OPTIONS]\n"
            "Make a token and print it, alone on stdout, once: only its public key is kept\n"
            "by the controller. Present it with --token FILE or $COLOSSUS_TOKEN.\n"
            "  --user U                whose token (default: yours; another user's: admin)\n"
            "  --expires DURATION      it stops working after DURATION (30d, 12h, 90m,\n"
            "                          3600s, seconds; default: never)\n"
            "  --scope read|submit|admin  what it may do: read (views only), submit (its\n"
            "                          user's jobs too; default), admin (everything its user\n"
            "                          may)\n");
    cl_cli_usage_change(f, "made");
}

static void usage_node_create(FILE *f)
{
    fprintf(f,
            "usage: colossus node-token create [OPTIONS]\n"
            "Make a node credential and print it, alone on stdout, once. An agent presents\n"
            "it with 'colossus agent --node-token FILE'; it can register only the nodes it\n"
            "names.\n"
            "  --nodes HOSTLIST        the nodes it may register, e.g. 'gpu[001-128],login1'\n"
            "                          (default: any node name)\n"
            "  --expires DURATION      it stops working after DURATION (default: never)\n");
    cl_cli_usage_change(f, "made");
}

static const char *const scopes[] = {"read", "submit", "admin", NULL};

/* token create (node false) and node-token create (true). */
static int create(int argc, char **argv, bool node)
{
    static const struct option user_opts[] = {{"user", required_argument, 0, OPT_USER},
                                              {"expires", required_argument, 0, OPT_EXPIRES},
                                              {"scope", required_argument, 0, OPT_SCOPE},
                                              CL_CLI_COMMON_OPTS,
                                              {0, 0, 0, 0}};
    static const struct option node_opts[] = {{"nodes", required_argument, 0, OPT_NODES},
                                              {"expires", required_argument, 0, OPT_EXPIRES},
                                              CL_CLI_COMMON_OPTS,
                                              {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = node ? "node-token create" : "token create"};
    cl_flags_t f = {.cmd = c.cmd,
                    .shorts = "h",
                    .longs = node ? node_opts : user_opts,
                    .usage = node ? usage_node_create : usage_create};
    Colossus__TokenReq q = COLOSSUS__TOKEN_REQ__INIT;
    q.node = node;
    int o, rc = 0;
    while (rc == 0 && (o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        if (o == OPT_USER) {
            rc = cl_arg_name(c.cmd, "--user", optarg, NULL, false);
            q.user = optarg;
        } else if (o == OPT_EXPIRES) {
            rc = cl_arg_duration(c.cmd, "--expires", optarg, 1, &q.expires_in_s);
        } else if (o == OPT_SCOPE) {
            rc = cl_arg_oneof(c.cmd, "--scope", optarg, scopes);
            q.scope = optarg;
        } else if (o == OPT_NODES) {
            rc = cl_arg_hostlist(c.cmd, "--nodes", optarg);
            q.nodes = optarg;
        } else {
            cl_cli_common_opt(&c, o);
        }
    }
    if (rc < 0 || cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return 2;
    char s[CL_CRED_STR_MAX + 1];
    double expires = 0;
    rc = cl_cli_token_make(&c, &q, s, &expires, NULL);
    if (rc) return rc;
    return print_cred(&c, s, node ? "node credential" : "token", expires);
}

static int token_create(int argc, char **argv)
{
    return create(argc, argv, false);
}

static void usage_list(FILE *f)
{
    fprintf(f, "usage: colossus token list [OPTIONS]\n"
               "List tokens and node credentials (yours; an admin sees all): id, user or\n"
               "nodes, scope, when made, when it expires, whether revoked. No secret is\n"
               "kept, so none is shown.\n"
               "  --json                  a JSON array of tokens (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

static void print_tokens(const Colossus__Response *rs)
{
    printf("%-19s %-7s %-16s %-20s %-20s %-8s %s\n", "ID", "SCOPE", "USER", "CREATED",
           "EXPIRES", "STATE", "NODES");
    double now = cl_wall_s();
    for (size_t i = 0; i < rs->n_tokens; i++) {
        const Colossus__TokenInfo *t = rs->tokens[i];
        char made[40], ends[40];
        cl_cli_fmt_utc(t->created, made, sizeof made);
        cl_cli_fmt_utc(t->expires, ends, sizeof ends);
        if (!(t->expires > 0)) snprintf(ends, sizeof ends, "never");
        cl_text_cell(stdout, t->id, 19);
        putchar(' ');
        cl_text_cell(stdout, t->scope, 7);
        putchar(' ');
        cl_text_cell(stdout, t->user && t->user[0] ? t->user : "-", 16);
        printf(" %-20s %-20s %-8s ", made, ends,
               t->revoked                            ? "revoked"
               : t->expires > 0 && t->expires <= now ? "expired"
                                                     : "active");
        cl_text_put(stdout, t->nodes && t->nodes[0] ? t->nodes : "-");
        putchar('\n');
    }
}

static json_t *tokens_json(const Colossus__Response *rs)
{
    return cl_json_tokens(rs->tokens, rs->n_tokens);
}

static int token_list(int argc, char **argv)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TOKENS;
    r.tokens = true;
    return cl_cli_list("token list", argc, argv, usage_list, &r, tokens_json, print_tokens);
}

static void usage_revoke(FILE *f)
{
    fprintf(f, "usage: colossus token revoke [OPTIONS] ID\n"
               "Revoke a token or node credential (its id: tk-... or nd-..., as token list\n"
               "shows it): it stops working at once, also on connections already open.\n");
    cl_cli_usage_change(f, "revoked");
}

static int token_revoke(int argc, char **argv)
{
    static const struct option opts[] = {CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "token revoke"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_revoke};
    int status;
    if (cl_cli_view_flags(&c, &f, argc, argv, 1, "ID (a token's id)", NULL, NULL, &status) < 0)
        return status;
    const char *id = argv[optind];
    if (!cl_cred_id_valid(id)) {
        fputs("colossus token revoke: '", stderr);
        cl_text_put(stderr, id);
        fputs("' is not a token id (tk- or nd- and 16 hex digits, as 'colossus token list' "
              "shows)\n",
              stderr);
        return 2;
    }
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_TOKEN_REVOKE;
    r.token_revoke = (char *)id;
    return cl_cli_change(&c, &r, 30000,
                         "%s may or may not have been revoked (check with 'colossus token "
                         "list')",
                         id);
}

int cmd_token(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"create", token_create, "make a token and print it once"},
        {"list", token_list, "list tokens and node credentials (no secrets)"},
        {"revoke", token_revoke, "revoke a token or node credential"},
    };
    return cl_cli_dispatch("token", argc, argv, subs, sizeof subs / sizeof subs[0]);
}

static int node_token_create(int argc, char **argv)
{
    return create(argc, argv, true);
}

int cmd_node_token(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"create", node_token_create, "make a node credential and print it once"},
    };
    return cl_cli_dispatch("node-token", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
