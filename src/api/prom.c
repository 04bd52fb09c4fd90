/* prom.c - the Prometheus text exposition format (prom.h). */
#include "api/prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static void put(cl_prom_t *p, const char *s, size_t n)
{
    if (cl_buf_append(&p->out, s, n) < 0) cl_oom(n, __FILE__, __LINE__);
}

static void puts_(cl_prom_t *p, const char *s)
{
    put(p, s, strlen(s));
}

/* s with backslash and newline escaped, and the double quote too in a label value. */
static void put_escaped(cl_prom_t *p, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *e = *s == '\\'           ? "\\\\"
                        : *s == '\n'         ? "\\n"
                        : quote && *s == '"' ? "\\\""
                                             : NULL;
        if (!e) continue;
        put(p, run, (size_t)(s - run));
        puts_(p, e);
        run = s + 1;
    }
    put(p, run, (size_t)(s - run));
}

void cl_prom_family(cl_prom_t *p, const char *name, const char *type, const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    put_escaped(p, help, false);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

static void put_value(cl_prom_t *p, double v)
{
    char num[40];
    if (isnan(v))
        snprintf(num, sizeof num, "NaN");
    else if (isinf(v))
        snprintf(num, sizeof num, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) <= 9007199254740992.0)
        snprintf(num, sizeof num, "%.0f", v);
    else
        snprintf(num, sizeof num, "%.17g", v);
    puts_(p, num);
}

void cl_prom_sample(cl_prom_t *p, const char *name, const char *const *labels, double v)
{
    puts_(p, name);
    if (labels && labels[0]) {
        puts_(p, "{");
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            if (i) puts_(p, ",");
            puts_(p, labels[i]);
            puts_(p, "=\"");
            put_escaped(p, labels[i + 1], true);
            puts_(p, "\"");
        }
        puts_(p, "}");
    }
    puts_(p, " ");
    put_value(p, v);
    puts_(p, "\n");
    p->nsamples++;
}

void cl_prom_sample1(cl_prom_t *p, const char *name, const char *key, const char *val, double v)
{
    const char *l[] = {key, val, NULL};
    cl_prom_sample(p, name, l, v);
}

char *cl_prom_take(cl_prom_t *p, size_t *len)
{
    put(p, "", 1);
    *len = p->out.len - 1;
    char *s = (char *)p->out.p;
    p->out = (cl_buf_t){0};
    p->nsamples = 0;
    return s;
}

void cl_prom_free(cl_prom_t *p)
{
    cl_buf_free(&p->out);
    p->nsamples = 0;
}
