/* pg_lib.h - libpq, dlopened by the first PostgreSQL store: linked, it (with OpenSSL, GSSAPI,
 * Kerberos and LDAP: 22 libraries) would load into every CLI command, as libmicrohttpd would
 * (src/controller/ctl_http_lib.h). pg.c and pg_acct.c call it through pq. Internal to
 * src/store. */
#ifndef COLOSSUS_STORE_PG_LIB_H
#define COLOSSUS_STORE_PG_LIB_H

#include <libpq-fe.h>

#include "colossus/core.h"

#define PQ_LIB "libpq.so.5"

/* clang-format off */
#define PQ_FUNCS(X)                                                                            \
    X(clear) X(resultStatus) X(ntuples) X(exec) X(status) X(getvalue) X(getlength)             \
    X(getisnull) X(getResult) X(finish) X(execParams) X(transactionStatus) X(reset)            \
    X(errorMessage) X(setNoticeProcessor) X(sendQueryPrepared) X(sendQueryParams)              \
    X(resultErrorField) X(prepare) X(pipelineSync) X(freemem) X(exitPipelineMode)              \
    X(enterPipelineMode) X(conninfoParse) X(conninfoFree) X(connectdbParams) X(cmdTuples)
/* clang-format on */

typedef struct cl_pq {
    void *so;
#define PQ_FIELD(f) __typeof__(PQ##f) *f;
    PQ_FUNCS(PQ_FIELD)
#undef PQ_FIELD
} cl_pq_t;

/* The library's functions, once cl_pq_load has succeeded. */
extern cl_pq_t pq;

/* Load the library (once, whichever thread asks first; later calls return what the first
 * did). 0, or -1 with err naming what is missing (the package, or a function: libpq older
 * than 14 has no pipeline mode). */
int cl_pq_load(cl_error_t *err);

#endif
