/* ctl_http_lib.c - libmicrohttpd's functions, found by dlopen (ctl_http_lib.h). */
#include <dlfcn.h>

#include "controller/ctl_http_lib.h"
#include "util/util.h"

ctl_mhd_t mhd;

int ctl_mhd_load(cl_error_t *err)
{
    if (mhd.so) return 0;
    void *so = dlopen(MHD_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!so)
        return cl_err(err, "--http needs %s (Debian: libmicrohttpd12): %.200s", MHD_LIB,
                      dlerror());
#define SYM(f)                                                                                 \
    if (!(mhd.f = (__typeof__(mhd.f))dlsym(so, "MHD_" #f))) {                                  \
        dlclose(so);                                                                           \
        return cl_err(err, "%s has no MHD_%s (another version?)", MHD_LIB, #f);                \
    }
    SYM(run)
    SYM(get_timeout)
    SYM(create_response_from_buffer)
    SYM(add_response_header)
    SYM(queue_response)
    SYM(destroy_response)
    SYM(resume_connection)
    SYM(lookup_connection_value)
    SYM(get_connection_values)
    SYM(get_connection_info)
    SYM(suspend_connection)
    SYM(start_daemon)
    SYM(get_daemon_info)
    SYM(stop_daemon)
    SYM(quiesce_daemon)
    SYM(is_feature_supported)
    SYM(create_response_from_callback)
#undef SYM
    mhd.so = so;
    return 0;
}
