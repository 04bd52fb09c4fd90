/* ctl_http_tls.c - what HTTPS asks of the controller's options: a listener off loopback only
 * with TLS, and the certificate and key files read whole and checked to be PEM (the HTTP
 * library checks the rest: ctl_http.c, ctl_http_tls_load). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "controller/ctl_http_tls.h"
#include "util/util.h"

/* (ctl_http_tls.h) */
char *http_pem_read(const char *flag, const char *path, const char *what, cl_error_t *err)
{
    size_t n;
    char *t = cl_read_file(path, &n, err);
    if (!t) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        cl_err(err, "%s: %s", flag, why);
        return NULL;
    }
    char begin[64];
    snprintf(begin, sizeof begin, "%s-----", what);
    const char *b = strstr(t, "-----BEGIN ");
    if (n == strlen(t) && b && strstr(b, begin)) return t;
    sodium_memzero(t, n);
    free(t);
    cl_err(err, "%s %s: not a PEM file holding a %s (-----BEGIN ...%s)", flag, path,
           !strcmp(what, "CERTIFICATE") ? "certificate" : "private key", begin);
    return NULL;
}

void ctl_http_tls_free(ctl_server_opts_t *o)
{
    if (o->http_key_pem) sodium_memzero(o->http_key_pem, strlen(o->http_key_pem));
    free(o->http_key_pem);
    free(o->http_cert_pem);
    o->http_key_pem = o->http_cert_pem = NULL;
}

int ctl_http_addr_check(const char *addr, bool tls, cl_error_t *err)
{
    char host[256];
    int port;
    if (cl_addr_parse(addr, host, sizeof host, &port, err) < 0) return -1;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        if ((ntohl(a4.s_addr) >> 24) == 127 || tls) return 0;
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6) || tls) return 0;
    } else {
        return cl_err(err, "--http %s: '%s' is not an IP address", addr, host);
    }
    return cl_err(err,
                  "--http %s: an address other than loopback (127.0.0.0/8, ::1) needs TLS "
                  "(--http-cert and --http-key): tokens must not cross a network in the clear",
                  addr);
}
