/* clictx.c - controller address, credential and round trips for the client subcommands. */
#include "cli/clictx.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "api/json.h"
#include "util/arrayspec.h"
#include "util/util.h"

bool cl_cli_common_opt(cl_cli_t *c, int o)
{
    if (o == CL_CLI_OPT_CONTROLLER)
        c->controller_opt = optarg;
    else if (o == CL_CLI_OPT_KEY)
        c->key_opt = optarg;
    else if (o == CL_CLI_OPT_TOKEN)
        c->token_opt = optarg;
    else if (o == CL_CLI_OPT_IDENTITY)
        c->identity_opt = optarg;
    else
        return false;
    return true;
}

int cl_cli_view_flags_own(cl_cli_t *c, cl_flags_t *f, int argc, char **argv, int nargs,
                          const char *what, bool *json, bool *all, int *status,
                          cl_cli_own_f *own, void *arg)
{
    int o, taken;
    *status = 2;
    while ((o = cl_flags_next(f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) {
            *status = f->exit;
            return -1;
        }
        if (o == CL_CLI_OPT_JSON)
            *json = true;
        else if (o == CL_CLI_OPT_ALL)
            *all = true;
        else if (own && (taken = own(arg, f, o)) != 0) {
            if (taken < 0) return -1;
        } else
            cl_cli_common_opt(c, o);
    }
    return cl_flags_args(f, argc, argv, nargs, nargs, what);
}

int cl_cli_view_flags(cl_cli_t *c, cl_flags_t *f, int argc, char **argv, int nargs,
                      const char *what, bool *json, bool *all, int *status)
{
    return cl_cli_view_flags_own(c, f, argc, argv, nargs, what, json, all, status, NULL, NULL);
}

void cl_cli_usage_common(FILE *f)
{
    fprintf(
        f, "  --controller HOST:PORT  the controller (default: $COLOSSUS_CONTROLLER, else the\n"
           "                          address `colossus up` left in $COLOSSUS_DIR, which is\n"
           "                          ~/.colossus by default); a list A,B,... names a leader\n"
           "                          and its standbys, tried in turn for up to 15 s\n"
           "  --token FILE            a file holding your token (default: $COLOSSUS_TOKEN,\n"
           "                          the token itself, else $COLOSSUS_DIR/token)\n"
           "  --key FILE              the cluster key instead, the bootstrap credential\n"
           "                          (default: $COLOSSUS_KEY, else $COLOSSUS_DIR/key when\n"
           "                          there is no $COLOSSUS_DIR/token)\n"
           "  --identity FILE         the controller identity a JWT is sent to (its\n"
           "                          STATE-DIR/identity.pub; default: $COLOSSUS_IDENTITY,\n"
           "                          the file or its 64 hex digits, else\n"
           "                          $COLOSSUS_DIR/identity.pub)\n"
           "  -h, --help              this text\n");
}

void cl_cli_usage_change(FILE *f, const char *done)
{
    cl_cli_usage_common(f);
    fprintf(f, "Exit status: 0 %s, 1 not, 2 bad usage, 3 sent but not acknowledged.\n", done);
}

int cl_cli_dir(const char *cmd, char *buf, size_t len)
{
    const char *d = getenv("COLOSSUS_DIR"), *home = getenv("HOME");
    int n;
    if (d && *d)
        n = snprintf(buf, len, "%s", d);
    else
        n = snprintf(buf, len, "%s/.colossus", home && *home ? home : ".");
    if (n >= 0 && (size_t)n < len) return 0;
    if (cmd)
        fprintf(stderr, "colossus %s: %s is longer than %zu bytes\n", cmd,
                d && *d ? "$COLOSSUS_DIR" : "$HOME/.colossus", len - 1);
    return -1;
}

/* The controller's address from the first line of the file `colossus up` left. */
static int address_file(cl_cli_t *c, const char *path)
{
    cl_error_t err;
    size_t len;
    char *text = cl_read_file(path, &len, &err);
    if (!text) {
        fprintf(stderr,
                "colossus %s: no controller given: use --controller HOST:PORT, set "
                "COLOSSUS_CONTROLLER, or start a local cluster with 'colossus up' "
                "(looked for %s)\n",
                c->cmd, path);
        return -1;
    }
    text[strcspn(text, "\r\n")] = 0;
    int n = snprintf(c->addr, sizeof c->addr, "%s", text);
    free(text);
    if ((size_t)n < sizeof c->addr) return 0;
    fprintf(stderr, "colossus %s: the address in %s is longer than %zu bytes\n", c->cmd, path,
            sizeof c->addr - 1);
    return -1;
}

/* A JWT's pin, in the order clictx.h gives, into c->cred.identity; 0, or -1 after saying
 * why. */
static int load_pin(cl_cli_t *c, const char *dir)
{
    char path[4200];
    cl_error_t err, e;
    const char *env = getenv("COLOSSUS_IDENTITY");
    int rc;
    if (c->identity_opt) {
        rc = cl_identity_pub_load(c->identity_opt, c->cred.identity, &err);
    } else if (env && *env) {
        /* the key itself, or a file: a secret key given by mistake is never taken for a path
         * (the error would print it) */
        bool text = strspn(env, "0123456789abcdefABCDEF") == strlen(env) ||
                    !strncmp(env, "colossus-identity", 17);
        rc = text ? cl_identity_pub_parse(env, c->cred.identity, &e)
                  : cl_identity_pub_load(env, c->cred.identity, &e);
        if (rc < 0) cl_err(&err, "$COLOSSUS_IDENTITY: %s", e.msg);
    } else {
        snprintf(path, sizeof path, "%s/identity.pub", dir);
        if (access(path, F_OK) != 0) {
            fprintf(stderr,
                    "colossus %s: a JWT is sent only to a controller whose identity is "
                    "pinned: set COLOSSUS_IDENTITY (the controller's STATE-DIR/identity.pub, "
                    "or its 64 hex digits), give --identity FILE, or put that file in %s; "
                    "nothing was sent\n",
                    c->cmd, path);
            return -1;
        }
        rc = cl_identity_pub_load(path, c->cred.identity, &err);
    }
    if (rc < 0) cl_cli_say(c, err.msg);
    return rc;
}

/* The credential, in the order clictx.h gives; 0, or -1 after saying why (c->status). */
static int load_cred(cl_cli_t *c, const char *dir)
{
    char path[4200];
    cl_error_t err;
    uint8_t key[CL_KEY_BYTES];
    const char *env_token = getenv("COLOSSUS_TOKEN"), *env_key = getenv("COLOSSUS_KEY");
    const char *keyfile = NULL;
    int rc = 0;
    if (c->token_opt) {
        rc = cl_cred_load(c->token_opt, &c->cred, &err);
    } else if (c->key_opt) {
        keyfile = c->key_opt;
    } else if (env_token && *env_token) {
        cl_error_t e;
        rc = cl_cred_parse(env_token, &c->cred, &e);
        if (rc < 0) cl_err(&err, "$COLOSSUS_TOKEN: %s", e.msg);
    } else if (env_key && *env_key) {
        keyfile = env_key;
    } else {
        snprintf(path, sizeof path, "%s/token", dir);
        if (access(path, F_OK) == 0) {
            rc = cl_cred_load(path, &c->cred, &err);
        } else {
            snprintf(path, sizeof path, "%s/key", dir);
            keyfile = path;
        }
    }
    if (keyfile && (rc = cl_key_load(keyfile, key, &err)) == 0) cl_cred_from_key(&c->cred, key);
    sodium_memzero(key, sizeof key);
    if (rc < 0) cl_cli_say(c, err.msg);
    if (rc == 0 && c->cred.kind == CL_CRED_JWT && (rc = load_pin(c, dir)) < 0)
        cl_cred_clear(&c->cred);
    return rc;
}

int cl_cli_resolve(cl_cli_t *c)
{
    char dir[4096], path[4200];
    c->status = CL_EXIT_FAILED;
    if (c->token_opt && c->key_opt) {
        fprintf(stderr, "colossus %s: give --token or --key, not both\n", c->cmd);
        c->status = CL_EXIT_USAGE;
        return -1;
    }
    if (cl_cli_dir(c->cmd, dir, sizeof dir) < 0) return -1;
    const char *addr = c->controller_opt ? c->controller_opt : getenv("COLOSSUS_CONTROLLER");
    if (addr && *addr) {
        if (strlen(addr) >= sizeof c->addr) {
            fprintf(stderr, "colossus %s: %s is longer than %zu bytes\n", c->cmd,
                    c->controller_opt ? "--controller" : "$COLOSSUS_CONTROLLER",
                    sizeof c->addr - 1);
            if (c->controller_opt) c->status = CL_EXIT_USAGE;
            return -1;
        }
        snprintf(c->addr, sizeof c->addr, "%s", addr);
        cl_error_t e;
        /* a list is checked whole now: its rounds would otherwise retry a typo for 15 s */
        if (cl_addr_list_count(addr) > 1 && cl_addr_list_check(addr, &e) < 0) {
            fprintf(stderr, "colossus %s: %s: %s\n", c->cmd,
                    c->controller_opt ? "--controller" : "$COLOSSUS_CONTROLLER", e.msg);
            if (c->controller_opt) c->status = CL_EXIT_USAGE;
            return -1;
        }
    } else {
        snprintf(path, sizeof path, "%s/address", dir);
        if (address_file(c, path) < 0) return -1;
    }
    if (cl_crypto_init() < 0) {
        fprintf(stderr, "colossus %s: cannot initialise libsodium\n", c->cmd);
        return -1;
    }
    return load_cred(c, dir);
}

int cl_cli_dial(cl_cli_t *c, cl_client_fail_t *fail, cl_error_t *err)
{
    /* a list (a leader and its standbys): tried in turn through a failover; one address:
     * once, as before */
    int wait_ms = cl_addr_list_count(c->addr) > 1 ? CL_CLI_FAILOVER_MS : 0;
    c->conn = cl_client_dial_list(c->addr, &c->cred, COLOSSUS__ROLE__ROLE_CLIENT, "cli", 5000,
                                  wait_ms, &c->next_addr, fail, err);
    return c->conn ? 0 : -1;
}

void cl_cli_say(const cl_cli_t *c, const char *text)
{
    fprintf(stderr, "colossus %s: ", c->cmd);
    cl_text_put(stderr, text);
    fputc('\n', stderr);
}

void cl_cli_fail(cl_cli_t *c, const cl_client_fail_t *fail, const cl_error_t *err)
{
    const char *known = cl_client_fail_known(fail);
    c->status = CL_EXIT_FAILED;
    if (fail->sent && c->unknown[0]) {
        c->status = CL_EXIT_UNKNOWN;
        known = NULL;
    } else if (fail->sent) {
        known = ""; /* a read that was not answered: nothing changed either way */
    }
    fprintf(stderr, "colossus %s: ", c->cmd);
    cl_text_put(stderr, err->msg);
    if (!known)
        fprintf(stderr, "; the request was sent but not acknowledged: %s", c->unknown);
    else if (known[0])
        fprintf(stderr, "; %s", known);
    fputc('\n', stderr);
}

int cl_cli_connect(cl_cli_t *c)
{
    cl_error_t err;
    cl_client_fail_t fail;
    if (cl_cli_resolve(c) < 0) return -1;
    if (cl_cli_dial(c, &fail, &err) < 0) {
        cl_cli_fail(c, &fail, &err);
        return -1;
    }
    return 0;
}

Colossus__Msg *cl_cli_call(cl_cli_t *c, Colossus__Request *req, int timeout_ms)
{
    cl_error_t err;
    Colossus__Msg *m = cl_client_call(c->conn, req, timeout_ms, &err);
    if (!m) {
        cl_cli_fail(c, &c->conn->fail, &err);
        return NULL;
    }
    if (!m->response->ok) {
        c->status = CL_EXIT_FAILED;
        cl_cli_say(c, m->response->error);
        cl_msg_free(m);
        return NULL;
    }
    return m;
}

Colossus__Msg *cl_cli_ask(cl_cli_t *c, Colossus__Request *req, int timeout_ms)
{
    if (cl_cli_connect(c) < 0) return NULL;
    Colossus__Msg *m = cl_cli_call(c, req, timeout_ms);
    cl_cli_close(c);
    return m;
}

int cl_cli_change(cl_cli_t *c, Colossus__Request *req, int timeout_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->unknown, sizeof c->unknown, fmt, ap);
    va_end(ap);
    Colossus__Msg *m = cl_cli_ask(c, req, timeout_ms);
    if (!m) return c->status;
    const ProtobufCBinaryData *d = &m->response->data;
    if (d->len) {
        char *text = cl_xmalloc(d->len + 1);
        memcpy(text, d->data, d->len);
        text[d->len] = 0;
        cl_text_put(stdout, text);
        putchar('\n');
        free(text);
    }
    cl_msg_free(m);
    return 0;
}

void cl_cli_close(cl_cli_t *c)
{
    cl_client_close(c->conn);
    c->conn = NULL;
}

int cl_cli_jobid(const cl_cli_t *c, const char *s, uint64_t *out)
{
    if (cl_parse_u64(s, 1, UINT64_MAX, out) == 0) return 0;
    fprintf(stderr, "colossus %s: '%s' is not a job id (a positive number)\n", c->cmd,
            s ? s : "");
    return -1;
}

int cl_cli_job_ref(cl_cli_t *c, const char *s, uint64_t *out, bool *task)
{
    *task = false;
    const char *us = s ? strchr(s, '_') : NULL;
    if (!us) return cl_cli_jobid(c, s, out) < 0 ? 2 : 0;
    char head[24];
    uint64_t aid, t;
    size_t n = (size_t)(us - s);
    if (n >= sizeof head ||
        (memcpy(head, s, n), head[n] = 0, cl_parse_u64(head, 1, UINT64_MAX, &aid) < 0) ||
        cl_parse_u64(us + 1, 0, CL_ARRAY_INDEX_MAX, &t) < 0) {
        fprintf(stderr, "colossus %s: '%s' is not a job (ID, or ARRAY_TASK as 12_7)\n", c->cmd,
                s);
        return 2;
    }
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
    r.show = aid;
    Colossus__Msg *m = cl_cli_ask(c, &r, 30000);
    Colossus__JobInfo *j = m ? cl_cli_one_job(c, m) : NULL;
    int rc = m ? 1 : c->status;
    cl_arrayspec_t as = {0};
    cl_error_t err;
    long pos = -1;
    if (j && j->array_job_id == aid && cl_arrayspec_parse(j->array, &as, &err) == 0)
        pos = cl_arrayspec_pos(&as, (uint32_t)t);
    if (j && pos < 0)
        fprintf(stderr, "colossus %s: job %" PRIu64 " %s task %" PRIu64 "\n", c->cmd, aid,
                j->array_job_id == aid ? "is an array without" : "is not an array: no", t);
    cl_arrayspec_free(&as);
    cl_msg_free(m);
    if (pos < 0) return rc;
    *out = aid + (uint64_t)pos;
    *task = true;
    return 0;
}

Colossus__JobInfo *cl_cli_one_job(const cl_cli_t *c, const Colossus__Msg *m)
{
    if (m->response->n_jobs == 1) return m->response->jobs[0];
    fprintf(stderr, "colossus %s: the controller answered with %zu jobs, not one\n", c->cmd,
            m->response->n_jobs);
    return NULL;
}

int cl_cli_json_out(const cl_cli_t *c, json_t *v)
{
    int rc = cl_json_write(stdout, v);
    json_decref(v);
    if (rc < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "colossus %s: cannot write the output\n", c->cmd);
        return 1;
    }
    return 0;
}

int cl_cli_view(cl_cli_t *c, Colossus__Request *req, bool json, cl_cli_json_f *to_json,
                cl_cli_text_f *to_text)
{
    Colossus__Msg *m = cl_cli_ask(c, req, 30000);
    if (!m) return c->status;
    int rc = 0;
    if (json)
        rc = cl_cli_json_out(c, to_json(m->response));
    else
        to_text(m->response);
    cl_msg_free(m);
    return rc;
}

int cl_cli_list(const char *cmd, int argc, char **argv, void (*usage)(FILE *f),
                Colossus__Request *req, cl_cli_json_f *to_json, cl_cli_text_f *to_text)
{
    static const struct option opts[] = {CL_CLI_JSON_OPT, CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = cmd};
    cl_flags_t f = {.cmd = cmd, .shorts = "h", .longs = opts, .usage = usage};
    bool json = false;
    int status;
    if (cl_cli_view_flags(&c, &f, argc, argv, 0, NULL, &json, NULL, &status) < 0) return status;
    return cl_cli_view(&c, req, json, to_json, to_text);
}

int cl_cli_name_bits(const cl_flags_t *f, const char *flag, const char *arg, const char *what,
                     const char *const *names, int n, uint32_t *out)
{
    char buf[256], all[256] = "";
    for (int k = 0; k < n; k++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", k ? ", " : "", names[k]);
    snprintf(buf, sizeof buf, "%s", arg);
    *out = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < n && strcmp(t, names[k]))
            k++;
        if (k == n) return cl_flags_fail(f, "%s: '%s' is not a %s (%s)", flag, t, what, all);
        *out |= 1u << k;
    }
    if (!*out) return cl_flags_fail(f, "%s: name at least one %s", flag, what);
    return 0;
}
