/* ctl_http_tls.h - the PEM files of --http-cert and --http-key (ctl_http_tls.c). Internal to
 * src/controller; ctl_server.h has the rest of HTTPS's interface. */
#ifndef COLOSSUS_CONTROLLER_CTL_HTTP_TLS_H
#define COLOSSUS_CONTROLLER_CTL_HTTP_TLS_H

#include "controller/ctl_server.h"

/* flag's file (path), whole, holding a PEM block of `what` ("CERTIFICATE", "PRIVATE KEY"):
 * its text (to free; wipe a key's), or NULL with err naming the flag and the file. */
char *http_pem_read(const char *flag, const char *path, const char *what, cl_error_t *err);

#endif
