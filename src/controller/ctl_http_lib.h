/* ctl_http_lib.h - libmicrohttpd, dlopened by the first HTTP listener: linked, it (and GnuTLS,
 * with its eight libraries) would load into every CLI command, and `colossus --help` took
 * twice as long (docs/benchmarks.md, "Issue 11's regression, mended"). The HTTP files call it
 * through mhd. Internal to src/controller. */
#ifndef COLOSSUS_CONTROLLER_CTL_HTTP_LIB_H
#define COLOSSUS_CONTROLLER_CTL_HTTP_LIB_H

#include <microhttpd.h>

#include "colossus/core.h"

#define MHD_LIB "libmicrohttpd.so.12"

typedef struct ctl_mhd {
    void *so;
    __typeof__(MHD_run) *run;
    __typeof__(MHD_get_timeout) *get_timeout;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_resume_connection) *resume_connection;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_get_connection_values) *get_connection_values;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_quiesce_daemon) *quiesce_daemon;
    __typeof__(MHD_is_feature_supported) *is_feature_supported;
    __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
} ctl_mhd_t;

/* The library's functions, once ctl_mhd_load has succeeded. */
extern ctl_mhd_t mhd;

/* Load the library (once; later calls return 0 at once). 0, or -1 with err naming what is
 * missing (the package, or a function of another version). */
int ctl_mhd_load(cl_error_t *err);

#endif
