/* clictx.c - controller address, key and round trips for the client subcommands. */
#include "cli/clictx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cl_cli_dir(char *buf, size_t len)
{
    const char *d = getenv("COLOSSUS_DIR");
    if (d && *d) {
        snprintf(buf, len, "%s", d);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(buf, len, "%s/.colossus", home && *home ? home : ".");
}

int cl_cli_connect(cl_cli_t *c)
{
    char dir[2048], path[2200];
    cl_error_t err;
    cl_cli_dir(dir, sizeof dir);
    const char *addr = c->controller_opt ? c->controller_opt : getenv("COLOSSUS_CONTROLLER");
    if (addr && *addr) {
        snprintf(c->addr, sizeof c->addr, "%s", addr);
    } else {
        snprintf(path, sizeof path, "%s/address", dir);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(c->addr, sizeof c->addr, f)) {
            fprintf(stderr,
                    "colossus %s: no controller given: use --controller HOST:PORT, set "
                    "COLOSSUS_CONTROLLER, or start a local cluster with 'colossus up' "
                    "(looked for %s)\n",
                    c->cmd, path);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        c->addr[strcspn(c->addr, "\r\n")] = 0;
    }
    const char *key = c->key_opt ? c->key_opt : getenv("COLOSSUS_KEY");
    if (!(key && *key)) {
        snprintf(path, sizeof path, "%s/key", dir);
        key = path;
    }
    if (cl_crypto_init() < 0 || cl_key_load(key, c->key, &err) < 0) {
        fprintf(stderr, "colossus %s: %s\n", c->cmd, err.msg);
        return -1;
    }
    c->conn = cl_client_connect(c->addr, c->key, COLOSSUS__ROLE__ROLE_CLIENT, "cli", 5000, &err);
    if (!c->conn) {
        fprintf(stderr, "colossus %s: %s\n", c->cmd, err.msg);
        return -1;
    }
    return 0;
}

Colossus__Msg *cl_cli_call(cl_cli_t *c, Colossus__Request *req, int timeout_ms)
{
    cl_error_t err;
    Colossus__Msg *m = cl_client_call(c->conn, req, timeout_ms, &err);
    if (!m) {
        fprintf(stderr, "colossus %s: %s\n", c->cmd, err.msg);
        return NULL;
    }
    if (!m->response->ok) {
        fprintf(stderr, "colossus %s: %s\n", c->cmd, m->response->error);
        cl_msg_free(m);
        return NULL;
    }
    return m;
}

void cl_cli_close(cl_cli_t *c)
{
    cl_client_close(c->conn);
    c->conn = NULL;
}

int cl_cli_jobid(const cl_cli_t *c, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s ? s : "", &end, 10);
    if (!s || errno || *end || end == s || v == 0 || s[0] == '-') {
        fprintf(stderr, "colossus %s: '%s' is not a job id (a positive number)\n", c->cmd,
                s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}
