/* upcreds.c - the credentials `colossus up` leaves in its directory: the local user made an
 * admin with a token (DIR/token, what the client commands present), the controller's
 * identity (DIR/identity.pub, a JWT's pin), and a node credential for its agents
 * (DIR/node-token); made through the functions the user, token and
 * node-token commands use (svc.h). */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/svc.h"
#include "util/util.h"

/* A request on a connection of its own with the cluster key, saying nothing: the answer
 * (ok or not), or NULL when there was none. */
static Colossus__Msg *quiet_call(const char *addr, const char *keyfile, Colossus__Request *r)
{
    uint8_t key[CL_KEY_BYTES];
    cl_error_t err;
    if (cl_key_load(keyfile, key, &err) < 0) return NULL;
    cl_client_t *c =
        cl_client_connect(addr, key, COLOSSUS__ROLE__ROLE_CLIENT, "up", 5000, &err);
    sodium_memzero(key, sizeof key);
    if (!c) return NULL;
    Colossus__Msg *m = cl_client_call(c, r, 10000, &err);
    cl_client_close(c);
    return m;
}

/* Whether user name exists: 1 yes, 0 no, -1 no answer or an error (said). */
static int user_exists(const char *addr, const char *keyfile, const char *name)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_USERS;
    r.users = true;
    Colossus__Msg *m = quiet_call(addr, keyfile, &r);
    int rc = -1;
    if (!m) {
        fprintf(stderr, "colossus up: the controller at %s does not answer\n", addr);
    } else if (!m->response->ok) {
        fputs("colossus up: listing users: ", stderr);
        cl_text_put(stderr, m->response->error);
        fputc('\n', stderr);
    } else {
        rc = 0;
        for (size_t i = 0; i < m->response->n_users && !rc; i++)
            rc = !strcmp(m->response->users[i]->name, name);
    }
    cl_msg_free(m);
    return rc;
}

/* Revoke the credential a previous `up` left in path, if any (best effort: it may be gone
 * with its state). */
static void revoke_old(const char *addr, const char *keyfile, const char *path)
{
    cl_cred_t old;
    cl_error_t err;
    if (cl_cred_load(path, &old, &err) < 0) return;
    if (old.kind == CL_CRED_TOKEN || old.kind == CL_CRED_NODE) {
        Colossus__Request r = COLOSSUS__REQUEST__INIT;
        r.body_case = COLOSSUS__REQUEST__BODY_TOKEN_REVOKE;
        r.token_revoke = old.id;
        cl_msg_free(quiet_call(addr, keyfile, &r));
    }
    cl_cred_clear(&old);
}

/* The local user as an admin in tenant "default", unless it exists already. */
static int make_admin(cl_cli_t *c, const char *name)
{
    Colossus__UserTenant t = COLOSSUS__USER_TENANT__INIT, *tv[] = {&t};
    t.tenant = "default";
    t.role = "user";
    Colossus__UserInfo u = COLOSSUS__USER_INFO__INIT;
    u.name = (char *)name;
    u.tenants = tv;
    u.n_tenants = 1;
    u.role = "admin";
    u.uid = (uint32_t)getuid();
    u.gid = (uint32_t)getgid();
    char *set[] = {"tenants", "role", "uid", "gid"};
    return cl_cli_user_send(c, &u, true, set, sizeof set / sizeof set[0]);
}

/* A token (q->node false) or node credential made and written to path; the controller
 * identity it names into identity (unless NULL). */
static int make_cred(cl_cli_t *c, Colossus__TokenReq *q, const char *path, uint8_t *identity)
{
    char s[CL_CRED_STR_MAX + 2]; /* and a newline */
    double expires;
    cl_error_t err;
    revoke_old(c->controller_opt, c->key_opt, path);
    if (cl_cli_token_make(c, q, s, &expires, identity) != 0) return -1;
    size_t n = strlen(s);
    snprintf(s + n, sizeof s - n, "\n");
    int rc = cl_write_secret_file(path, s, &err);
    sodium_memzero(s, sizeof s);
    if (rc < 0) fprintf(stderr, "colossus up: %s\n", err.msg);
    return rc;
}

int cl_up_credentials(const char *dir, const char *keyfile, const char *addr, uint32_t nodes,
                      cl_up_creds_t *out)
{
    char path[4400], hosts[64];
    uint8_t identity[CL_SIGN_PK_BYTES];
    cl_error_t err;
    struct passwd *pw = getpwuid(getuid());
    memset(out, 0, sizeof *out);
    if (pw && pw->pw_name && strlen(pw->pw_name) < sizeof out->user)
        snprintf(out->user, sizeof out->user, "%s", pw->pw_name);
    else
        snprintf(out->user, sizeof out->user, "uid%u", (unsigned)getuid());
    cl_cli_t c = {.cmd = "up", .controller_opt = addr, .key_opt = keyfile};
    int have = user_exists(addr, keyfile, out->user);
    if (have < 0 || (have == 0 && make_admin(&c, out->user) != 0)) return -1;
    Colossus__TokenReq q = COLOSSUS__TOKEN_REQ__INIT;
    q.user = out->user;
    q.scope = "admin";
    snprintf(path, sizeof path, "%s/token", dir);
    if (make_cred(&c, &q, path, identity) < 0) return -1;
    out->token = true;
    /* the pin a JWT user of this cluster needs (clictx.h); the token names it already */
    snprintf(path, sizeof path, "%s/identity.pub", dir);
    if (cl_identity_pub_write(path, identity, &err) < 0) {
        fprintf(stderr, "colossus up: %s\n", err.msg);
        return -1;
    }
    Colossus__TokenReq n = COLOSSUS__TOKEN_REQ__INIT;
    snprintf(hosts, sizeof hosts, "node[000000-%06u]", nodes - 1);
    n.node = true;
    n.nodes = hosts;
    snprintf(path, sizeof path, "%s/node-token", dir);
    if (make_cred(&c, &n, path, NULL) < 0) return -1;
    out->node_token = true;
    return 0;
}
