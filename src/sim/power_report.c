/* power_report.c - the simulator's power figures as JSON keys (a contract for scripts:
 * docs/power.md) and the SVG of the draw against the budget. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "sim/sim.h"

static void num_or_null(FILE *f, const char *sep, const char *key, double v, bool ok)
{
    if (ok)
        fprintf(f, "%s\"%s\":%.6f", sep, key, v);
    else
        fprintf(f, "%s\"%s\":null", sep, key);
}

/* One series' keys; the first after sep ("," or "" at the start of an object). */
static void figures(FILE *f, const char *sep, const cl_sim_power_result_t *p, bool budget)
{
    num_or_null(f, sep, "power_budget_mw", p->budget_mw, budget);
    fprintf(f,
            ",\"power_peak_mw\":%.6f,\"power_max_ramp_up_mw_per_s\":%.6f,"
            "\"power_max_ramp_down_mw_per_s\":%.6f,\"power_seconds_over_budget\":%.0f,"
            "\"power_band_energy_fraction\":%.6f,\"power_smoothing_mwh\":%.6f,"
            "\"power_energy_mwh\":%.3f",
            p->peak_mw, p->ramp_up_mw_s, p->ramp_down_mw_s, p->seconds_over, p->band_fraction,
            p->smoothing_mwh, p->energy_mwh);
    num_or_null(f, ",", "power_cut_met_s", p->cut_met_s, p->cut_met_s >= 0);
    fprintf(f, ",\"power_throughput_cost\":%.6f", p->throughput_cost);
}

void cl_sim_power_json(FILE *f, const cl_sim_config_t *c, const cl_sim_result_t *r)
{
    const cl_sim_power_config_t *p = &c->power;
    bool budget = p->budget_mw > 0;
    figures(f, ",", &r->power, budget);
    fprintf(f, ",\"power_smoothing\":%s,\"power_ramp_limit_pct_per_s\":%.6g",
            p->smoothing ? "true" : "false", p->ramp_pct);
    num_or_null(f, ",", "power_grid_cut_pct", p->cut_pct, p->cut_pct > 0);
    num_or_null(f, ",", "power_grid_cut_at_s", p->cut_at_s, p->cut_pct > 0);
    num_or_null(f, ",", "power_ettr", r->power_ettr, r->power_ettr >= 0);
    /* the raw demand: no smoothing, no capping */
    fprintf(f, ",\"power_unsmoothed\":{");
    figures(f, "", &r->power_raw, budget);
    fprintf(f, "}");
}

/* Bucket i of nb over the series: its largest value (a swing stays visible). */
static double bucket_max(const float *v, size_t n, size_t i, size_t nb)
{
    size_t a = i * n / nb, b = (i + 1) * n / nb;
    double m = -INFINITY;
    for (size_t k = a; k < b || k == a; k++)
        if (k < n && v[k] > m) m = v[k];
    return m;
}

static double bucket_min(const float *v, size_t n, size_t i, size_t nb)
{
    size_t a = i * n / nb, b = (i + 1) * n / nb;
    double m = INFINITY;
    for (size_t k = a; k < b || k == a; k++)
        if (k < n && v[k] < m) m = v[k];
    return m;
}

/* A band between each bucket's least and largest value, as one closed polygon. */
static void band(FILE *f, const float *v, size_t n, size_t nb, double x0, double pw, double y0,
                 double ph, double top, const char *color, const char *opacity)
{
    fprintf(f, "<polygon fill=\"%s\" fill-opacity=\"%s\" stroke=\"%s\" points=\"", color,
            opacity, color);
    for (size_t i = 0; i < nb; i++)
        fprintf(f, "%.1f,%.1f ", x0 + pw * (double)i / (double)(nb - 1),
                y0 + ph - ph * bucket_max(v, n, i, nb) / top);
    for (size_t i = nb; i-- > 0;)
        fprintf(f, "%.1f,%.1f ", x0 + pw * (double)i / (double)(nb - 1),
                y0 + ph - ph * bucket_min(v, n, i, nb) / top);
    fprintf(f, "\"/>\n");
}

int cl_sim_power_svg(const char *path, const cl_sim_config_t *c, const cl_sim_result_t *r,
                     cl_error_t *err)
{
    if (!r->npower) {
        if (err) snprintf(err->msg, sizeof(err->msg), "no power series to plot");
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        if (err) snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
        return -1;
    }
    const double W = 960, H = 480, L = 80, T = 70, PW = 820, PH = 340;
    size_t n = r->npower, nb = n < 800 ? n : 800;
    if (nb < 2) nb = 2;
    double top =
        r->power_raw.peak_mw > r->power.peak_mw ? r->power_raw.peak_mw : r->power.peak_mw;
    if (c->power.budget_mw > top) top = c->power.budget_mw;
    top = top > 0 ? top * 1.1 : 1;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica,Arial,sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H, W, H);
    fprintf(f,
            "<text x=\"%.0f\" y=\"28\" font-size=\"18\" font-weight=\"bold\">Site power, %llu "
            "GPUs, %.4g days (smoothing %s)</text>\n"
            "<text x=\"%.0f\" y=\"50\" font-size=\"13\" fill=\"#444\">peak %.1f MW, ramps "
            "+%.2f/-%.2f MW/s (raw +%.1f/-%.1f), %.0f s over budget, band energy %.3f, burn "
            "%.1f MWh</text>\n",
            L, (unsigned long long)r->gpus, r->days, c->power.smoothing ? "on" : "off", L,
            r->power.peak_mw, r->power.ramp_up_mw_s, r->power.ramp_down_mw_s,
            r->power_raw.ramp_up_mw_s, r->power_raw.ramp_down_mw_s, r->power.seconds_over,
            r->power.band_fraction, r->power.smoothing_mwh);
    for (int i = 0; i <= 4; i++) {
        double y = T + PH - PH * i / 4.0;
        fprintf(f,
                "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.0f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%.0f MW"
                "</text>\n",
                L, L + PW, y, y, L - 6, y + 4, top * i / 4.0);
    }
    band(f, r->power_raw_mw, n, nb, L, PW, T, PH, top, "#ff7f0e", "0.35");
    band(f, r->power_draw_mw, n, nb, L, PW, T, PH, top, "#1f77b4", "0.8");
    if (c->power.budget_mw > 0)
        band(f, r->power_budget_mw, n, nb, L, PW, T, PH, top, "#d62728", "1");
    fprintf(f,
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#1f77b4\">drawn (managed)"
            "</text><text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#ff7f0e\">raw demand"
            "</text><text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#d62728\">budget"
            "</text><text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\">time "
            "(0 to %.0f s; each point the least and largest second of %zu)</text>\n</svg>\n",
            L, T + PH + 24, L + 140, T + PH + 24, L + 260, T + PH + 24, L + PW / 2, H - 12,
            (double)n, n / nb);
    if (fclose(f) != 0) {
        if (err) snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
