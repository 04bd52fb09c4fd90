/* report.c - what a simulation run prints: one deterministic JSON line, a human summary,
 * and an SVG chart of utilization, goodput and failures over time. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "sim/sim.h"

static const char *workload_name(cl_sim_workload_t w)
{
    return w == CL_WL_FRONTIER ? "frontier" : w == CL_WL_TRACE ? "trace" : "mixed";
}

static const char *queue_name(cl_queue_policy_t q)
{
    return q == CL_POLICY_FIFO ? "fifo" : q == CL_POLICY_BACKFILL ? "backfill" : "fairshare";
}

/* A JSON string: quotes and backslashes escaped, control characters as \u00XX. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* Numbers are printed with fixed formats so that equal runs give equal bytes (elapsed_s,
 * the real time, apart). */
void cl_sim_json(FILE *f, const cl_sim_config_t *c, const cl_sim_result_t *r)
{
    fprintf(f, "{\"policy\":\"%s\",\"workload\":\"%s\",\"queue\":\"%s\",\"seed\":%llu,",
            c->policy == CL_SIM_NAIVE ? "naive" : "colossus", workload_name(c->workload),
            queue_name(c->queue), (unsigned long long)c->seed);
    fprintf(f, "\"gpus\":%llu,\"nodes\":%llu,\"days\":%.6g,\"sim_s\":%.1f,\"elapsed_s\":%.6f,",
            (unsigned long long)r->gpus, (unsigned long long)r->nodes, r->days, r->sim_s,
            r->elapsed_s);
    fprintf(f, "\"events\":%llu,\"failures\":%llu,\"interruptions\":%llu,",
            (unsigned long long)r->events, (unsigned long long)r->failures,
            (unsigned long long)r->interruptions);
    if (r->ettr >= 0)
        fprintf(f, "\"ettr\":%.6f,", r->ettr);
    else
        fprintf(f, "\"ettr\":null,");
    fprintf(f,
            "\"utilization\":%.6f,\"goodput\":%.6f,\"sustained_exaflops\":%.6f,"
            "\"lost_gpu_hours\":%.1f,",
            r->utilization, r->goodput, r->sustained_exaflops, r->lost_gpu_hours);
    fprintf(f, "\"jobs_completed\":%llu,\"mean_jct_s\":%.1f,\"p99_wait_s\":%.1f,",
            (unsigned long long)r->jobs_completed, r->mean_jct_s, r->p99_wait_s);
    fprintf(f, "\"jobs_submitted\":%llu,\"jobs_started\":%llu,\"mean_wait_s\":%.1f,",
            (unsigned long long)r->jobs_submitted, (unsigned long long)r->jobs_started,
            r->mean_wait_s);
    fprintf(f, "\"frontier_gpus\":%llu,\"frontier_interruptions\":%llu,",
            (unsigned long long)r->frontier_gpus,
            (unsigned long long)r->frontier_interruptions);
    /* without failures the MTBF is infinite: JSON has no infinity, so null */
    if (r->ettr >= 0 && isfinite(r->frontier_mtbf_s) && isfinite(r->daly_ettr))
        fprintf(f, "\"frontier_mtbf_s\":%.1f,\"expected_ettr\":%.6f,", r->frontier_mtbf_s,
                r->daly_ettr);
    else
        fprintf(f, "\"frontier_mtbf_s\":null,\"expected_ettr\":null,");
    fprintf(f,
            "\"requeues\":%llu,\"restarts_in_place\":%llu,\"contained\":%llu,"
            "\"teardown_detections\":%llu,\"sched_passes\":%llu,",
            (unsigned long long)r->requeues, (unsigned long long)r->restarts_in_place,
            (unsigned long long)r->contained, (unsigned long long)r->teardown_detections,
            (unsigned long long)r->sched_passes);
    fprintf(f, "\"detect_s\":");
    if (c->detect_s >= 0)
        fprintf(f, "%.6g,", c->detect_s);
    else
        fprintf(f, "\"per-class\",");
    fprintf(f, "\"net_detect_s\":%.6g,", cl_sim_detect_s(c, CL_FAIL_NETWORK));
    fprintf(f, "\"restart_s\":%.6g,", c->restart_s);
    if (r->ettr >= 0) /* the interval the frontier job used last */
        fprintf(f, "\"ckpt_interval_s\":%.3f,", r->ckpt_interval_s);
    else
        fprintf(f, "\"ckpt_interval_s\":null,");
    fprintf(f,
            "\"ckpt_cost_s\":%.6g,\"spares_pct\":%.6g,\"replica_gpus\":%llu,"
            "\"failure_scale\":%.6g,\"mfu\":%.6g,",
            c->ckpt_cost_s, c->spares_pct, (unsigned long long)c->replica_gpus,
            c->failure_scale, c->mfu);
    fprintf(f, "\"failures_by_class\":{");
    for (int i = 0; i < CL_FAIL_CLASSES; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", cl_fail_classes[i].name,
                (unsigned long long)r->class_failures[i]);
    fprintf(f, "},\"jobs_failed\":%llu,\"core_refusals\":%llu",
            (unsigned long long)r->jobs_failed, (unsigned long long)r->core_refusals);
    if (c->power.on) cl_sim_power_json(f, c, r);
    if (r->ntenants) {
        fprintf(f, ",\"tenants\":[");
        for (size_t i = 0; i < r->ntenants; i++) {
            const cl_sim_tenant_result_t *t = &r->tenants[i];
            fprintf(f, "%s{\"name\":", i ? "," : "");
            json_string(f, t->name);
            fprintf(f,
                    ",\"gpu_hours\":%.1f,\"borrowed_gpu_hours\":%.1f,\"jobs_submitted\":%llu,"
                    "\"jobs_started\":%llu,\"jobs_completed\":%llu,\"preemptions\":%llu}",
                    t->gpu_s / 3600.0, t->borrowed_gpu_s / 3600.0,
                    (unsigned long long)t->jobs_submitted, (unsigned long long)t->jobs_started,
                    (unsigned long long)t->jobs_completed, (unsigned long long)t->preemptions);
        }
        fprintf(f, "]");
    }
    fprintf(f, "}\n");
}

/* The human summary `colossus sim` prints before the JSON line. */
void cl_sim_summary(FILE *f, const cl_sim_result_t *r)
{
    fprintf(f, "cluster      %llu GPUs in %llu nodes, %.4g days\n", (unsigned long long)r->gpus,
            (unsigned long long)r->nodes, r->days);
    fprintf(f,
            "failures     %llu (%llu interrupted a job; %llu requeues, %llu restarts in "
            "place, %llu contained)\n",
            (unsigned long long)r->failures, (unsigned long long)r->interruptions,
            (unsigned long long)r->requeues, (unsigned long long)r->restarts_in_place,
            (unsigned long long)r->contained);
    if (r->ettr >= 0)
        fprintf(f,
                "frontier     %llu GPUs, MTBF %.0f s, checkpoint every %.1f s, ETTR %.4f "
                "(expected %.4f)\n",
                (unsigned long long)r->frontier_gpus, r->frontier_mtbf_s, r->ckpt_interval_s,
                r->ettr, r->daly_ettr);
    fprintf(f,
            "cluster use  utilization %.4f, goodput %.4f, %.4f EFLOP/s sustained, %.0f "
            "GPU-hours lost\n",
            r->utilization, r->goodput, r->sustained_exaflops, r->lost_gpu_hours);
    if (r->jobs_submitted)
        fprintf(f,
                "jobs         %llu submitted, %llu completed, mean JCT %.0f s, mean wait "
                "%.0f s, p99 wait %.0f s\n",
                (unsigned long long)r->jobs_submitted, (unsigned long long)r->jobs_completed,
                r->mean_jct_s, r->mean_wait_s, r->p99_wait_s);
    for (size_t i = 0; i < r->ntenants; i++) {
        const cl_sim_tenant_result_t *t = &r->tenants[i];
        fprintf(f,
                "tenant       %s: %.0f GPU-hours (%.0f borrowed), %llu jobs submitted, %llu "
                "completed, %llu preemptions\n",
                t->name, t->gpu_s / 3600.0, t->borrowed_gpu_s / 3600.0,
                (unsigned long long)t->jobs_submitted, (unsigned long long)t->jobs_completed,
                (unsigned long long)t->preemptions);
    }
}

/* 1100000 -> "1,100,000" into buf (32 bytes) */
static const char *thousands(uint64_t v, char *buf)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static double nice_step(double range, int ticks)
{
    double raw = range / ticks, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

int cl_sim_plot_svg(const char *path, const cl_sim_config_t *c, const cl_sim_result_t *r,
                    cl_error_t *err)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        if (err) snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
        return -1;
    }
    const double W = 960, H = 560, L = 70, R = 70, T = 70, PH = 300, G = 40, FH = 110;
    double pw = W - L - R, days = r->sim_s / 86400.0;
    char big[32];
    uint32_t fmax = 1;
    for (size_t i = 0; i < r->nsamples; i++)
        if (r->samples[i].failures > fmax) fmax = r->samples[i].failures;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica,Arial,sans-serif\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f,
            "<text x=\"%.0f\" y=\"28\" font-size=\"18\" font-weight=\"bold\">"
            "%s GPUs, %s policy, %s workload, %.4g days</text>\n",
            L, thousands(r->gpus, big), c->policy == CL_SIM_NAIVE ? "naive" : "colossus",
            workload_name(c->workload), days);
    fprintf(f, "<text x=\"%.0f\" y=\"50\" font-size=\"13\" fill=\"#444\">", L);
    if (r->ettr >= 0) fprintf(f, "ETTR %.3f · ", r->ettr);
    fprintf(f,
            "utilization %.3f · goodput %.3f · %llu failures · %.3f EFLOP/s sustained"
            "</text>\n",
            r->utilization, r->goodput, (unsigned long long)r->failures, r->sustained_exaflops);
    /* upper panel: fractions of the GPUs that are up */
    for (int i = 0; i <= 4; i++) {
        double y = T + PH - PH * i / 4.0;
        fprintf(f,
                "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.0f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%d%%"
                "</text>\n",
                L, L + pw, y, y, L - 6, y + 4, i * 25);
    }
    double step = nice_step(days, 8);
    for (double d = 0; d <= days + 1e-9; d += step) {
        double x = L + pw * d / days;
        fprintf(f,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#eee\"/>"
                "<text x=\"%.1f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\">%g"
                "</text>\n",
                x, x, T, T + PH + G + FH, x, T + PH + G + FH + 18, d);
    }
    fprintf(f,
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" text-anchor=\"middle\">"
            "time (days)</text>\n",
            L + pw / 2, H - 8);
    const char *color[2] = {"#1f77b4", "#2ca02c"};
    const char *label[2] = {"utilization (allocated / up GPU-time)",
                            "goodput (GPU-time computing / up GPU-time)"};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                color[k]);
        for (size_t i = 0; i < r->nsamples; i++) {
            double v = k == 0 ? r->samples[i].util : r->samples[i].goodput;
            if (v > 1) v = 1;
            fprintf(f, "%.1f,%.1f ", L + pw * r->samples[i].t / r->sim_s, T + PH - PH * v);
        }
        fprintf(f,
                "\"/>\n<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">%s</text>\n",
                L + 10 + 330 * k, T + PH + 14, color[k], L + 30 + 330 * k, T + PH + 20,
                label[k]);
    }
    /* lower panel: failures per interval */
    double fy = T + PH + G, bw = r->nsamples ? pw / (double)r->nsamples : pw;
    fprintf(f,
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">%u</text>"
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">0</text>\n",
            L - 6, fy + 10, fmax, L - 6, fy + FH);
    fprintf(f,
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" transform=\"rotate(90 %.0f %.0f)\">"
            "failures per %.3g h</text>\n",
            W - R + 20, fy, W - R + 20, fy, r->nsamples ? r->sim_s / 3600.0 / r->nsamples : 0);
    for (size_t i = 0; i < r->nsamples; i++) {
        double h = FH * r->samples[i].failures / fmax;
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"#d62728\""
                " fill-opacity=\"0.7\"/>\n",
                L + bw * (double)i, fy + FH - h, bw > 1.5 ? bw - 0.5 : bw, h);
    }
    fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#888\"/>\n", L,
            L + pw, fy + FH, fy + FH);
    fprintf(f, "</svg>\n");
    if (fclose(f)) {
        if (err) snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
