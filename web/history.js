/* history.js - the dashboard's views of the usage records (docs/dashboard.md): a job's runs
 * as a timeline (GET /api/v1/history?job=N: one record per incarnation, with how and why it
 * ended), GPU-hours per day (GET /api/v1/usage?by=day), and the failures, recoveries and
 * goodput of the last hours (GET /api/v1/history?since=...). Each a small canvas drawn here,
 * no library. Loaded after map.js and before app.js, which calls it (api(), el(), when(),
 * jobs, table() and showJob are app.js's). */
"use strict";

/* How a run ended (a usage record's `ended`), or "running": its colour. */
const ENDED = {
  succeeded: "#6fcf6f",
  failed: "#ff6b6b",
  node_fail: "#ff8c1a",
  requeued: "#e0b341",
  preempted: "#b57cff",
  timeout: "#c08a4a",
  cancelled: "#8b96a0",
  budget: "#8a6d3b",
  running: "#5fb3ff",
};
const FAILURES = ["node_fail", "requeued", "preempted", "failed", "timeout"];
const WINDOW_H = 6; /* the failures panel's hours */
const USAGE_DAYS = 14;
const HISTORY_MAX = 10000; /* records the failures panel asks for */
const TENANT_SERIES = 6; /* tenants drawn apart in the usage chart; the rest are "others" */
const RUNS_DRAWN = 40; /* a job's newest runs on its timeline (max_restarts may be 1,000) */
const PANELS_MS = 60000; /* the usage and failures panels, listed again at most this often */
const SERIES = ["#5fb3ff", "#6fcf6f", "#e0b341", "#c77dff", "#ff8c1a", "#4dd0c8", "#8b96a0"];
const INK = "#8b96a0";

const nowS = () => Date.now() / 1000;

function canvas(id, w, h) {
  const c = el("canvas");
  c.id = id;
  c.width = w;
  c.height = h;
  c.className = "chart";
  return c;
}

/* A hover tip over a canvas: text(x, y) in canvas pixels gives the tip's text, or null. */
function hoverTip(wrap, c, text) {
  const tip = el("div", null, "tip hidden");
  wrap.append(tip);
  c.addEventListener("mousemove", (e) => {
    const r = c.getBoundingClientRect();
    const k = c.width / r.width;
    const t = text((e.clientX - r.left) * k, (e.clientY - r.top) * k);
    if (!t) return tip.classList.add("hidden");
    const wr = wrap.getBoundingClientRect();
    tip.textContent = t;
    tip.classList.remove("hidden");
    /* inside the panel: left of the pointer where it would run out on the right */
    const x = e.clientX - wr.left + 12;
    tip.style.left = Math.max(0, Math.min(x, wr.width - tip.offsetWidth)) + "px";
    tip.style.top = e.clientY - wr.top + 12 + "px";
  });
  c.addEventListener("mouseleave", () => tip.classList.add("hidden"));
}

/* "12-02 00:05:45" (UTC): a run's times, short enough for a table's column */
function short(t) {
  return t ? new Date(t * 1000).toISOString().slice(5, 19).replace("T", " ") : "-";
}

function hm(t) {
  return new Date(t * 1000).toISOString().slice(11, 16);
}

/* GPU-hours, three figures at most (a test's runs are thousandths of one) */
function gh(v) {
  if (!(v > 0)) return "0";
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2);
}

function dur(s) {
  if (s === null || s === undefined) return "-";
  if (s < 120) return s.toFixed(s < 10 ? 1 : 0) + " s";
  if (s < 7200) return (s / 60).toFixed(0) + " min";
  return (s / 3600).toFixed(1) + " h";
}

/* ---- a job's runs: one bar per incarnation, from its start to its end ---- */

/* The job's runs, oldest first: its usage records, and the incarnation running now. */
function runsOf(j, records) {
  const runs = records
    .map((r) => ({
      inc: r.incarnation,
      start: r.start || r.end,
      end: r.end,
      ended: r.ended,
      reason: r.reason,
      nodes: r.nodes,
    }))
    .sort((a, b) => a.inc - b.inc);
  if (j.state === "running" && j.start_time && !runs.some((r) => r.inc === j.incarnation))
    runs.push({
      inc: j.incarnation,
      start: j.start_time,
      end: null,
      ended: "running",
      reason: "",
      nodes: j.nodes,
    });
  return runs;
}

function drawTimeline(c, runs, now) {
  const ctx = c.getContext("2d");
  const L = 34, R = 8, ROW = 18, top = 4;
  const t0 = Math.min(...runs.map((r) => r.start));
  const t1 = Math.max(t0 + 1, ...runs.map((r) => r.end || now));
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (c.width - L - R);
  ctx.fillStyle = "#0c1014";
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.font = "11px sans-serif";
  const bars = [];
  runs.forEach((r, k) => {
    const y = top + k * ROW;
    const x0 = x(r.start);
    const w = Math.max(3, x(r.end || now) - x0);
    ctx.fillStyle = ENDED[r.ended] || INK;
    ctx.fillRect(x0, y + 2, w, ROW - 6);
    ctx.fillStyle = INK;
    ctx.fillText("#" + r.inc, 2, y + ROW - 6);
    bars.push({ x: x0, y: y + 2, w, h: ROW - 6, run: r });
  });
  const ay = top + runs.length * ROW + 10;
  ctx.fillStyle = INK;
  ctx.fillText(when(t0), L, ay);
  const right = runs.some((r) => !r.end) ? "now" : when(t1);
  ctx.fillText(right, c.width - R - ctx.measureText(right).width, ay);
  return bars;
}

/* The job page's timeline (a div filled when the history answers). */
function runsTimeline(j) {
  const box = el("div");
  box.id = "runs";
  box.append(el("h2", "runs (one per incarnation)"));
  const status = el("p", "loading...", "dim");
  box.append(status);
  const gen = generation;
  api("/history?job=" + j.id)
    .then((r) => {
      if (gen !== generation) return;
      const all = runsOf(j, r.history || []);
      const runs = all.slice(-RUNS_DRAWN);
      status.textContent = !all.length
        ? "no run yet"
        : all.length > runs.length
          ? "the newest " + runs.length + " of " + all.length + " runs"
          : "";
      if (!runs.length) return;
      const wrap = el("div", null, "chart-wrap");
      const c = canvas("runs-chart", 460, runs.length * 18 + 22);
      wrap.append(c);
      box.insertBefore(wrap, status);
      const now = nowS();
      const bars = drawTimeline(c, runs, now);
      c.dataset.bars = bars.length;
      c.bars = bars; /* where each run's bar is (the test samples their pixels) */
      hoverTip(wrap, c, (px, py) => {
        const b = bars.find((b) => py >= b.y - 2 && py <= b.y + b.h + 2 && px >= b.x - 3 && px <= b.x + b.w + 3);
        if (!b) return null;
        const r = b.run;
        return "#" + r.inc + " " + r.ended + (r.reason ? ": " + r.reason : "") + " (" + dur((r.end || now) - r.start) + ")";
      });
      box.append(
        table(
          [
            ["#", (r) => r.inc],
            ["from (UTC)", (r) => short(r.start)],
            ["to", (r) => (r.end ? short(r.end) : "now")],
            ["took", (r) => dur((r.end || now) - r.start)],
            ["ended", (r) => r.ended],
            ["why", (r) => r.reason || "-"],
            ["nodes", (r) => r.nodes.join(", ")],
          ],
          runs,
        ),
      );
      const t = box.lastChild;
      t.id = "runs-list";
      [...t.rows].slice(1).forEach((tr, k) => {
        tr.dataset.inc = runs[k].inc;
        tr.dataset.ended = runs[k].ended;
        tr.cells[4].className = "ended-" + runs[k].ended;
      });
    })
    .catch((e) => {
      if (gen !== generation) return;
      status.textContent =
        e.status === 400 && /'job'/.test(e.message)
          ? "this controller's history has no job filter (GET /api/v1/history?job=N)"
          : e.message;
    });
  return box;
}

/* ---- usage: GPU-hours per UTC day, per tenant where the token sees several ---- */

const usageView = { bars: [] };

function utcDay(t) {
  return new Date(t * 1000).toISOString().slice(0, 10);
}

/* The series to draw: [{name, byDay: Map(day -> GPU-h)}], from the API's sums alone. */
async function usageSeries(since) {
  const q = "/usage?since=" + since;
  const tenants = ((await api(q + "&by=tenant")).usage || []).filter((u) => u.gpu_hours > 0);
  const days = async (extra) =>
    new Map(((await api(q + "&by=day" + extra)).usage || []).map((u) => [u.key, u.gpu_hours]));
  if (tenants.length <= 1) return [{ name: tenants.length ? tenants[0].key : "all", byDay: await days("") }];
  tenants.sort((a, b) => b.gpu_hours - a.gpu_hours);
  const apart = tenants.length > TENANT_SERIES ? tenants.slice(0, TENANT_SERIES - 1) : tenants;
  const series = [];
  for (const t of apart) series.push({ name: t.key, byDay: await days("&tenant=" + encodeURIComponent(t.key)) });
  if (apart.length < tenants.length) {
    /* the others: the whole day's sum less the tenants drawn apart */
    const all = await days("");
    const rest = new Map();
    for (const [d, v] of all) rest.set(d, Math.max(0, v - series.reduce((s, x) => s + (x.byDay.get(d) || 0), 0)));
    series.push({ name: tenants.length - apart.length + " other tenants", byDay: rest });
  }
  return series;
}

function drawUsage(c, days, series) {
  const ctx = c.getContext("2d");
  const L = 40, B = 16, T = 6;
  ctx.fillStyle = "#0c1014";
  ctx.fillRect(0, 0, c.width, c.height);
  const total = days.map((d) => series.reduce((s, x) => s + (x.byDay.get(d) || 0), 0));
  const max = Math.max(...total, 0);
  const h = c.height - B - T;
  const slot = (c.width - L) / days.length;
  ctx.font = "11px sans-serif";
  ctx.fillStyle = INK;
  ctx.fillText(gh(max), 2, T + 10);
  ctx.fillText("0", 2, T + h);
  const bars = [];
  days.forEach((d, k) => {
    let y = T + h;
    series.forEach((s, i) => {
      const v = s.byDay.get(d) || 0;
      if (!(v > 0)) return;
      const bh = Math.max(1, (v / max) * h); /* a day with any use shows */
      ctx.fillStyle = SERIES[i % SERIES.length];
      ctx.fillRect(L + k * slot + 1, y - bh, Math.max(1, slot - 2), bh);
      y -= bh;
    });
    bars.push({ day: d, x: L + k * slot + 1, w: Math.max(1, slot - 2), y, h: T + h - y, total: total[k] });
  });
  ctx.fillStyle = INK;
  ctx.fillText(days[0].slice(5), L, c.height - 3);
  const last = days[days.length - 1].slice(5);
  ctx.fillText(last, c.width - ctx.measureText(last).width - 2, c.height - 3);
  return bars;
}

async function loadUsage(gen) {
  const now = nowS();
  const first = Math.floor(now / 86400) - (USAGE_DAYS - 1);
  const days = [...Array(USAGE_DAYS).keys()].map((k) => utcDay((first + k) * 86400));
  let series;
  try {
    series = await usageSeries(first * 86400);
  } catch (e) {
    if (gen !== generation) return;
    $("usage").classList.add("hidden"); /* 404: no such route; 403: not for this token */
    $("usage").dataset.status = e.status || "error";
    return;
  }
  if (gen !== generation) return;
  const body = $("usage-body");
  body.textContent = "";
  const wrap = el("div", null, "chart-wrap");
  const c = canvas("usage-chart", 460, 120);
  wrap.append(c);
  body.append(wrap);
  usageView.bars = drawUsage(c, days, series);
  hoverTip(wrap, c, (px) => {
    const b = usageView.bars.find((b) => px >= b.x && px <= b.x + b.w);
    if (!b) return null;
    const parts = series.filter((s) => s.byDay.get(b.day) > 0).map((s) => s.name + " " + gh(s.byDay.get(b.day)));
    return b.day + ": " + gh(b.total) + " GPU-h" + (series.length > 1 && parts.length ? " (" + parts.join(", ") + ")" : "");
  });
  if (series.length > 1) {
    const key = el("div", null, "key");
    series.forEach((s, i) => {
      const sw = el("span", null, "swatch");
      sw.style.background = SERIES[i % SERIES.length];
      key.append(sw, el("span", s.name + " "));
    });
    body.append(key);
  }
  const used = usageView.bars.filter((b) => b.total > 0).reverse();
  const t = table(
    [
      ["day (UTC)", (b) => b.day],
      ["GPU-h", (b) => gh(b.total)],
    ],
    used,
  );
  t.id = "usage-days";
  [...t.rows].slice(1).forEach((tr, k) => {
    tr.dataset.day = used[k].day;
    tr.dataset.gpuh = used[k].total;
  });
  body.append(used.length ? t : el("p", "no GPU time ended in these days", "dim"));
  $("usage").classList.remove("hidden");
  $("usage").dataset.status = "200";
}

/* ---- failures and recoveries over the last hours; goodput ---- */

/* GPU-seconds of a run inside [since, now]: its own figure, pro rata to the part in it. */
function inWindow(gs, start, end, since) {
  if (!(end > start)) return end >= since ? gs : 0;
  return (gs * Math.max(0, end - Math.max(start, since))) / (end - start);
}

/* Goodput over [since, now]: the GPU-seconds of runs that succeeded or are running, of all
 * the GPU-seconds runs used in it (docs/dashboard.md). Running runs: their GPUs (gang times
 * GPUs per node) by their time in the window; one on whole nodes ("all" GPUs) has no GPU
 * count in the job JSON and is left out, said so. */
function goodput(recs, since, now) {
  const by = {};
  let used = 0, good = 0, unknown = 0;
  for (const r of recs) {
    const g = inWindow(r.gpu_seconds, r.start || r.end, r.end, since);
    by[r.ended] = (by[r.ended] || 0) + g;
    used += g;
    if (r.ended === "succeeded") good += g;
  }
  for (const j of jobs.values()) {
    if (j.state !== "running" || !j.start_time) continue;
    if (!j.gpus_per_node) {
      unknown++;
      continue;
    }
    const g = j.gpus_per_node * j.num_nodes * Math.max(0, now - Math.max(j.start_time, since));
    by.running = (by.running || 0) + g;
    used += g;
    good += g;
  }
  return { used, good, by, unknown };
}

/* Whether a failed run's job ran again after it: the start of its next incarnation (a later
 * record, or the job running now), or null. */
function recoveredAt(r, recs) {
  let next = null;
  for (const o of recs)
    if (o.job === r.job && o.incarnation > r.incarnation && (!next || o.incarnation < next.inc))
      next = { inc: o.incarnation, start: o.start || o.end };
  const j = jobs.get(r.job);
  if (j && j.state === "running" && j.incarnation > r.incarnation && (!next || j.incarnation < next.inc))
    next = { inc: j.incarnation, start: j.start_time };
  return next ? next.start : null;
}

async function loadFailures(gen) {
  const now = nowS();
  const since = Math.floor(now / 3600) * 3600 - (WINDOW_H - 1) * 3600; /* whole clock hours */
  let r;
  try {
    r = await api("/history?since=" + since + "&limit=" + HISTORY_MAX);
  } catch (e) {
    if (gen !== generation) return;
    $("failures").classList.add("hidden");
    $("failures").dataset.status = e.status || "error";
    return;
  }
  if (gen !== generation) return;
  const recs = r.history || [];
  const body = $("failures-body");
  body.textContent = "";
  body.append(el("p", "since " + when(since) + " (the last " + WINDOW_H + " clock hours, UTC)", "dim"));
  const failed = recs.filter((x) => FAILURES.includes(x.ended));
  failed.forEach((x) => (x.recovered = recoveredAt(x, recs)));
  /* counts per hour, newest first, and their totals */
  const hours = [...Array(WINDOW_H).keys()].map((k) => since + (WINDOW_H - 1 - k) * 3600);
  const t = el("table");
  t.id = "failures-table";
  const hr = el("tr");
  const label = { node_fail: "node fail", requeued: "re-queued", preempted: "pre-empted", recovered: "ran again" };
  for (const h of ["hour", ...FAILURES, "recovered"]) hr.append(el("th", label[h] || h, h === "hour" ? "" : "num"));
  t.append(hr);
  const row = (label, key, list) => {
    const tr = el("tr");
    tr.dataset.hour = key;
    tr.append(el("td", label));
    for (const k of [...FAILURES, "recovered"]) {
      const n = list.filter((x) => (k === "recovered" ? x.recovered !== null : x.ended === k)).length;
      const td = el("td", n || "", "num" + (n && k !== "recovered" ? " ended-" + k : ""));
      td.dataset.kind = k;
      td.dataset.n = n;
      tr.append(td);
    }
    t.append(tr);
  };
  for (const h of hours) row(hm(h), String(h), failed.filter((x) => x.end >= h && x.end < h + 3600));
  row("total", "total", failed);
  body.append(t);
  /* goodput */
  const g = goodput(recs, since, now);
  const gp = el("p");
  gp.id = "goodput";
  if (g.used > 0) {
    gp.dataset.value = g.good / g.used;
    gp.textContent =
      "goodput " + ((100 * g.good) / g.used).toFixed(1) + "%: " + gh(g.good / 3600) + " of " + gh(g.used / 3600) + " GPU-h";
  } else gp.textContent = "goodput: no GPU time in the window";
  body.append(gp);
  const parts = Object.entries(g.by)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => k + " " + gh(v / 3600));
  const def = el(
    "p",
    "Goodput: the GPU-hours of runs that succeeded or are running, of all the GPU-hours runs used in the window (each run's part in it). A run that ended otherwise (failed, node_fail, requeued, preempted, timeout, budget, cancelled) counts as used, not good: what it kept in a checkpoint is not seen here, so this is a floor." +
      (parts.length ? " Used: " + parts.join(", ") + " GPU-h." : "") +
      (g.unknown ? " " + g.unknown + " running jobs on whole nodes left out (no GPU count in the job)." : "") +
      (recs.length >= HISTORY_MAX ? " Only the newest " + HISTORY_MAX + " runs of the window are counted." : ""),
    "dim",
  );
  def.id = "goodput-def";
  body.append(def);
  /* the failed runs, newest first */
  if (failed.length) {
    const shown = failed.slice(0, 50);
    const ft = table(
      [
        ["ended (UTC)", (x) => short(x.end)],
        ["job", (x) => x.job + " #" + x.incarnation],
        ["how", (x) => x.ended],
        ["why", (x) => x.reason || "-"],
        ["ran again", (x) => (x.recovered !== null ? "after " + dur(x.recovered - x.end) : jobs.has(x.job) ? "waiting" : "no")],
      ],
      shown,
    );
    ft.id = "failures-list";
    [...ft.rows].slice(1).forEach((tr, k) => {
      tr.dataset.job = shown[k].job;
      tr.dataset.ended = shown[k].ended;
      tr.className = "job";
      tr.addEventListener("click", () => showJob(shown[k].job));
    });
    body.append(ft);
  }
  $("failures").classList.remove("hidden");
  $("failures").dataset.status = "200";
}

/* Both panels (their own errors hide them; never the page's); unless forced, at most every
 * PANELS_MS (a window's history is up to 10,000 records). */
let panelsAt = 0;
async function loadHistoryPanels(force = true) {
  if (!force && performance.now() - panelsAt < PANELS_MS) return;
  panelsAt = performance.now();
  const gen = generation;
  await Promise.all([loadUsage(gen), loadFailures(gen)]);
  document.body.dataset.panels = String(Number(document.body.dataset.panels || 0) + 1);
}
