/* units.c - power, percentages and memory sizes as operators type them (units.h). */
#include "util/units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const struct {
    const char *name;
    double mult;
} units[] = {{"W", 1}, {"kW", 1e3}, {"MW", 1e6}, {"GW", 1e9}};

int cl_parse_watts(const char *s, double *w, cl_error_t *err)
{
    if (!strcmp(s, "none")) {
        *w = 0;
        return 0;
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || isspace((unsigned char)*s))
        return cl_err(err,
                      "'%.40s' is not a power: a number and a unit (700MW, 550kW, 200W) "
                      "or none",
                      s);
    while (*end == ' ')
        end++;
    if (!*end) return cl_err(err, "'%.40s' has no unit: say W, kW, MW or GW (700MW)", s);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].name)) continue;
        v *= units[i].mult;
        if (!(v > 0)) return cl_err(err, "a power budget must be more than 0 W (or none)");
        if (v > 1e11) return cl_err(err, "'%.40s' is more than 100 GW", s);
        *w = v;
        return 0;
    }
    return cl_err(err, "'%.40s': unknown unit '%.16s' (W, kW, MW or GW)", s, end);
}

int cl_parse_pct(const char *s, double *pct, cl_error_t *err)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || isspace((unsigned char)*s) || (*end && strcmp(end, "%")) || !isfinite(v))
        return cl_err(err, "'%.40s' is not a percentage (30%%)", s);
    if (!(v > 0) || v > 100)
        return cl_err(err, "a cut of %.40s is outside 0-100%% (more than 0, at most 100)", s);
    *pct = v;
    return 0;
}

int cl_parse_ramp(const char *s, double *w_per_s, double *pct, cl_error_t *err)
{
    *w_per_s = *pct = 0;
    if (!strcmp(s, "none")) return 0;
    size_t n = strlen(s);
    char num[48];
    if (n < 3 || n - 2 >= sizeof num || strcmp(s + n - 2, "/s"))
        return cl_err(
            err,
            "'%.40s' is not a ramp rate: power per second (400W/s, 3.85MW/s), a share "
            "of the site budget per second (0.5%%/s) or none",
            s);
    memcpy(num, s, n - 2);
    num[n - 2] = 0;
    if (num[n - 3] != '%') {
        cl_error_t e;
        if (cl_parse_watts(num, w_per_s, &e) == 0 && *w_per_s > 0) return 0;
        *w_per_s = 0;
        return cl_err(err, "'%.40s': %s", s,
                      strcmp(num, "none") ? e.msg : "a number per second");
    }
    char *end;
    double v = strtod(num, &end);
    if (end == num || isspace((unsigned char)*num) || strcmp(end, "%") || !isfinite(v) ||
        !(v > 0) || v > 100)
        return cl_err(err,
                      "'%.40s': a share of the budget per second is more than 0 and at "
                      "most 100%%/s",
                      s);
    *pct = v;
    return 0;
}

int cl_parse_mem_mb(const char *s, uint64_t *mb, cl_error_t *err)
{
    if (!isdigit((unsigned char)*s))
        return cl_err(err,
                      "'%.40s' is not a memory size: a whole number and K, M, G or T (64G)", s);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE) return cl_err(err, "'%.40s' is too large", s);
    double kib; /* the unit in KiB */
    switch (toupper((unsigned char)*end)) {
    case 0:
        kib = 1024;
        break;
    case 'K':
        kib = 1;
        break;
    case 'M':
        kib = 1024;
        break;
    case 'G':
        kib = 1024.0 * 1024;
        break;
    case 'T':
        kib = 1024.0 * 1024 * 1024;
        break;
    default:
        return cl_err(err, "'%.40s': unknown unit '%.16s' (K, M, G or T: 64G, 512M)", s, end);
    }
    if (*end && end[1] && (toupper((unsigned char)end[1]) != 'B' || end[2]))
        return cl_err(err, "'%.40s': unknown unit '%.16s' (K, M, G or T: 64G, 512M)", s, end);
    if (v == 0) return cl_err(err, "a memory size of 0 is no memory: more than 0 (64G)");
    double m = ceil((double)v * kib / 1024);
    if (m > 1024.0 * 1024 * 1024 * 1024) return cl_err(err, "'%.40s' is more than 1 EiB", s);
    *mb = (uint64_t)m;
    return 0;
}

const char *cl_fmt_watts(double w, char *buf, size_t len)
{
    size_t i = sizeof units / sizeof units[0] - 1;
    while (i > 0 && fabs(w) < units[i].mult)
        i--;
    snprintf(buf, len, "%.4g %s", w / units[i].mult, units[i].name);
    return buf;
}
