/* svc.h - requests of the service commands that `colossus up` makes too, so that it makes
 * them the way the commands do: a user (user add / set) and a token or node credential
 * (token create, node-token create). */
#ifndef COLOSSUS_CLI_SVC_H
#define COLOSSUS_CLI_SVC_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/clictx.h"

/* Send UserSpec{u, create, set} over a new connection (cl_cli_change): 0, or the exit
 * status after saying why. */
int cl_cli_user_send(cl_cli_t *c, Colossus__UserInfo *u, bool create, char **set, size_t nset);

/* Make a token (q->node false) or node credential (true): a new secret here
 * (cl_cred_new), its public key in q->public_key, TokenReq q sent over a new connection;
 * from the answer (tokens[0].id, identity) the credential string (cl_cred_format) into out
 * (CL_CRED_STR_MAX + 1 bytes), its expiry (0: never) in *expires and, unless identity is
 * NULL, the controller identity it names in identity. 0, or the exit status after saying
 * why (an answer without a well-formed id or identity is refused: status 1). The secret is
 * wiped from memory here; out holds it: the caller wipes it too. */
int cl_cli_token_make(cl_cli_t *c, Colossus__TokenReq *q, char out[CL_CRED_STR_MAX + 1],
                      double *expires, uint8_t *identity);

/* What `colossus up` made in its directory (cl_up_credentials). */
typedef struct cl_up_creds {
    char user[64];   /* the local user's name */
    bool token;      /* DIR/token holds its token (it is an admin) */
    bool node_token; /* DIR/node-token holds the agents' node credential */
} cl_up_creds_t;

/* Once the controller at addr answers, with the cluster key (keyfile): the local user (this
 * process's user name, uid and gid) made an admin in tenant "default" unless it exists, a
 * token for it (scope admin) in DIR/token, and a node credential for node000000 to the
 * last of the nodes agents in DIR/node-token, each mode 0600, the previous ones revoked.
 * 0, or -1 after saying why. */
int cl_up_credentials(const char *dir, const char *keyfile, const char *addr, uint32_t nodes,
                      cl_up_creds_t *out);

#endif
