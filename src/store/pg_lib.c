/* pg_lib.c - libpq's functions, found by dlopen (pg_lib.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "store/pg_lib.h"
#include "util/util.h"

cl_pq_t pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[200]; /* the first load's failure, "" when it worked */

static void load(void)
{
    void *so = dlopen(PQ_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        snprintf(why, sizeof why, "postgresql:// needs %s (Debian: libpq5): %.100s", PQ_LIB,
                 dlerror());
        return;
    }
#define PQ_SYM(f)                                                                              \
    if (!(pq.f = (__typeof__(pq.f))dlsym(so, "PQ" #f))) {                                      \
        snprintf(why, sizeof why, "%s has no PQ%s (libpq 14 or later is needed)", PQ_LIB, #f); \
        dlclose(so);                                                                           \
        return;                                                                                \
    }
    PQ_FUNCS(PQ_SYM)
#undef PQ_SYM
    pq.so = so;
}

int cl_pq_load(cl_error_t *err)
{
    pthread_once(&once, load);
    return pq.so ? 0 : cl_err(err, "store: %s", why);
}
