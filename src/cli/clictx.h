/* clictx.h - what every client subcommand shares: finding the controller and the key
 * (--controller/--key, then COLOSSUS_CONTROLLER/COLOSSUS_KEY, then the `colossus up`
 * directory), connecting, and one request/response round trip. */
#ifndef COLOSSUS_CLI_CLICTX_H
#define COLOSSUS_CLI_CLICTX_H

#include <stdbool.h>

#include "proto/client.h"

typedef struct cl_cli {
    const char *cmd; /* subcommand name, for messages */
    const char *controller_opt, *key_opt;
    char addr[256];
    uint8_t key[CL_KEY_BYTES];
    cl_client_t *conn;
} cl_cli_t;

/* The directory `colossus up` uses: $COLOSSUS_DIR, else ~/.colossus. */
void cl_cli_dir(char *buf, size_t len);
/* Resolve address and key and connect; prints the problem and returns -1 on failure. */
int cl_cli_connect(cl_cli_t *c);
/* Send req, wait for the response; prints the problem and returns NULL on failure or when
 * the controller answered !ok (then also prints its error). Caller frees with cl_msg_free. */
Colossus__Msg *cl_cli_call(cl_cli_t *c, Colossus__Request *req, int timeout_ms);
void cl_cli_close(cl_cli_t *c);
/* Parse a job id; prints and returns -1 when bad. */
int cl_cli_jobid(const cl_cli_t *c, const char *s, uint64_t *out);

#endif
