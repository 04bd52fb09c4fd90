/* when.c - durations and points in time as people write them (when.h). */
#include "util/when.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

/* Whole decimal digits at *p (at most 12 of them), advancing *p; -1 when there are none. */
static double digits(const char **p, int *count)
{
    double v = 0;
    int n = 0;
    while (isdigit((unsigned char)**p) && n < 13) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *count = n;
    return n ? v : -1;
}

static double unit_s(char u)
{
    switch (u) {
    case 'd':
        return 86400;
    case 'h':
        return 3600;
    case 'm':
        return 60;
    case 's':
        return 1;
    }
    return 0;
}

/* A duration, with at least one unit when need_unit (a time "ago"). */
static int duration(const char *s, bool need_unit, double *out, cl_error_t *err)
{
    const char *p = s;
    double total = 0;
    int units = 0;
    if (!*s) return cl_err(err, "an empty duration (e.g. 30d, 12h, 90m, 3600s)");
    while (*p) {
        int n;
        double v = digits(&p, &n);
        if (n > 12) return cl_err(err, "'%s' is too long a duration", s);
        if (*p == '.' || *p == ',')
            return cl_err(err, "'%s': use whole numbers (90m, not 1.5h)", s);
        if (v < 0)
            return cl_err(err,
                          "'%s' is not a duration: expected a number at '%s' (e.g. 30d, "
                          "12h, 90m, 3600s)",
                          s, p);
        if (!*p && units == 0 && !need_unit) { /* plain seconds */
            total = v;
            break;
        }
        double u = unit_s(*p);
        if (!*p) return cl_err(err, "'%s': a number without a unit at the end", s);
        if (u == 0) return cl_err(err, "'%s': unknown unit '%c' (use d, h, m or s)", s, *p);
        total += v * u;
        units++;
        p++;
    }
    if (total > CL_DURATION_MAX_S) return cl_err(err, "'%s' is longer than 100 years", s);
    *out = total;
    return 0;
}

int cl_parse_duration(const char *s, double *out, cl_error_t *err)
{
    return duration(s ? s : "", false, out, err);
}

/* Exactly n digits at *p into *v, advancing *p. */
static bool fixed(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

/* "Z", "+HH", "+HH:MM" or "+HHMM" (or '-') at p, to the end: the offset east of UTC in s. */
static int zone(const char *s, const char *p, long *off, cl_error_t *err)
{
    int hh, mm = 0;
    if ((*p == 'Z' || *p == 'z') && !p[1]) {
        *off = 0;
        return 0;
    }
    int sign = *p == '+' ? 1 : *p == '-' ? -1 : 0;
    const char *q = p + 1;
    bool ok = sign && fixed(&q, 2, &hh);
    if (ok && *q == ':') q++;
    if (ok && *q) ok = fixed(&q, 2, &mm);
    if (!ok || *q)
        return cl_err(err, "'%s': '%s' is not a zone (Z, or an offset such as +02:00)", s, p);
    if (hh > 23 || mm > 59) return cl_err(err, "'%s': the offset '%s' is out of range", s, p);
    *off = sign * (hh * 3600L + mm * 60L);
    return 0;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS]][zone]. */
static int iso(const char *s, double *out, cl_error_t *err)
{
    const char *p = s;
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!fixed(&p, 4, &y) || *p++ != '-' || !fixed(&p, 2, &mo) || *p++ != '-' ||
        !fixed(&p, 2, &d))
        return cl_err(err,
                      "'%s' is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC, or "
                      "with Z or an offset), or a duration ago (7d, 12h, 30m)",
                      s);
    long off = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!fixed(&p, 2, &h) || *p++ != ':' || !fixed(&p, 2, &mi))
            return cl_err(err, "'%s': the time of day must be HH:MM or HH:MM:SS", s);
        if (*p == ':' && (p++, !fixed(&p, 2, &sec)))
            return cl_err(err, "'%s': the seconds must be two digits", s);
        if (*p && zone(s, p, &off, err) < 0) return -1;
    } else if (*p) {
        return cl_err(err, "'%s': unexpected '%s' after the date (a zone needs a time)", s, p);
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
        return cl_err(err, "'%s' is out of range (year 1970..9999, month 1..12, hour 0..23)",
                      s);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* timegm normalises 2026-02-30 to March 2nd: a date that does not exist comes back
     * changed. */
    if (tm.tm_mday != d || tm.tm_mon != mo - 1)
        return cl_err(err, "'%s': there is no day %d in month %d of %d", s, d, mo, y);
    double v = (double)t - (double)off;
    if (v < 0) return cl_err(err, "'%s' is before 1970", s);
    *out = v;
    return 0;
}

int cl_parse_time(const char *s, double now, double *out, cl_error_t *err)
{
    if (!s || !*s) return cl_err(err, "an empty time (e.g. 2026-11-01, 7d for 7 days ago)");
    if (!strcmp(s, "now")) {
        *out = now;
        return 0;
    }
    /* A date starts with four digits and a dash; a duration never has a dash. */
    if (strlen(s) >= 5 && isdigit((unsigned char)s[0]) && s[4] == '-') return iso(s, out, err);
    double ago;
    cl_error_t e;
    if (duration(s, true, &ago, &e) < 0) {
        if (!isdigit((unsigned char)s[0]))
            return cl_err(err,
                          "'%s' is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC, or "
                          "with Z or an offset), now, or a duration ago (7d, 12h, 30m)",
                          s);
        if (strspn(s, "0123456789") == strlen(s))
            return cl_err(err,
                          "'%s' is not a time: give a unit for a time ago (7d, 12h, 30m) or "
                          "a date (2026-11-01)",
                          s);
        return cl_err(err, "%s", e.msg);
    }
    if (ago > now) return cl_err(err, "'%s' ago is before 1970", s);
    *out = now - ago;
    return 0;
}
