/* app.js - the Colossus dashboard (docs/dashboard.md): the whole machine as a canvas map (a
 * cell per node, grouped by pod and leaf, coloured by state), the queue, a job's page, a
 * node's GPUs, tenants' quotas. Everything comes from the REST API (docs/api/README.md)
 * with the token the user pastes (sessionStorage, sent as Authorization: Bearer; never in a
 * URL). Kept live by the watch stream (GET /api/v1/watch, Server-Sent Events read through
 * fetch(), since EventSource cannot send a header); where the controller has none, the lists
 * are polled. The map itself is map.js's. Plain JavaScript, no library, no build step. */
"use strict";

const API = "/api/v1";
const PAGE = 10000; /* the API's largest page */
const POLL_MS = 2000;
const TOKEN_KEY = "colossus-token";

/* ---- the REST API ---- */

class HttpError extends Error {
  constructor(status, msg) {
    super(msg);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, opts.headers || {});
  const r = await fetch(API + path, Object.assign({}, opts, { headers, cache: "no-store" }));
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try {
      msg = (await r.json()).error || msg;
    } catch (e) {
      /* not JSON: keep the status line */
    }
    if (r.status === 401) loggedOut(msg);
    throw new HttpError(r.status, msg);
  }
  return r.json();
}

/* Every item of a paged list (GET /nodes, /jobs): pages of PAGE, each after the last. A page
 * that comes after a new login (or log out) is dropped: it is the old token's. */
async function listAll(path, key, onPage) {
  let after = null;
  const gen = generation;
  const sep = path.includes("?") ? "&" : "?";
  for (;;) {
    const q = path + sep + "limit=" + PAGE + (after === null ? "" : "&after=" + after);
    const page = await api(q);
    if (gen !== generation) throw new Error("logged in again");
    onPage(page[key]);
    if (page.next === null || page.next === undefined) return;
    after = page.next;
  }
}

/* ---- the page's parts ---- */

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function legend() {
  const L = $("legend");
  L.textContent = "";
  for (const s of STATES) {
    const it = el("span", null, "legend-item");
    const sw = el("span", null, "swatch");
    sw.style.background = s.color;
    it.append(sw, el("span", s.label));
    const n = el("span", "0", "count");
    n.id = "count-" + s.key;
    n.dataset.state = s.key;
    it.append(n);
    L.append(it);
  }
  const tot = el("span", null, "legend-item");
  const n = el("span", "0", "count");
  n.id = "count-total";
  tot.append(el("span", "nodes"), n);
  L.append(tot);
}

function showCounts() {
  STATES.forEach((s, k) => ($("count-" + s.key).textContent = nodes.counts[k]));
  $("count-total").textContent = nodes.n;
  $("nodes-total").textContent = nodes.n + " nodes";
}

function showError(e) {
  $("error").textContent = e ? String(e.message || e) : "";
}

function fmt(v, unit) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number" && !Number.isInteger(v)) v = v.toFixed(1);
  return unit ? v + " " + unit : String(v);
}

function when(t) {
  return t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z" : "-";
}

function fields(pairs) {
  const dl = el("dl");
  for (const [k, v] of pairs) {
    dl.append(el("dt", k));
    const dd = el("dd");
    if (v instanceof Node) dd.append(v);
    else dd.textContent = v === null || v === undefined || v === "" ? "-" : String(v);
    dl.append(dd);
  }
  return dl;
}

function openDetail(title) {
  $("detail").classList.remove("hidden");
  $("detail-title").textContent = title;
  const b = $("detail-body");
  b.textContent = "loading...";
  return b;
}

function links(list, onClick) {
  const span = el("span");
  list.forEach((x, k) => {
    if (k) span.append(", ");
    const a = el("span", x, "link");
    a.addEventListener("click", () => onClick(x));
    span.append(a);
  });
  if (!list.length) span.textContent = "-";
  return span;
}

async function showNode(name) {
  const b = openDetail("node " + name);
  let j;
  try {
    j = await api("/nodes/" + encodeURIComponent(name));
  } catch (e) {
    b.textContent = e.message;
    return;
  }
  const ix = nodes.ixOf[j.id];
  if (ix !== undefined && ix >= 0) {
    const r = putNode(j);
    if (r.changed) markDirty(r.i);
  }
  b.textContent = "";
  b.dataset.node = j.name;
  b.append(
    fields([
      ["state", STATES[cellState(j)].label + " (" + j.state + ")"],
      ["pod / leaf", (j.pod || "-") + " / " + (j.leaf || "-")],
      ["GPUs", j.gpus + " (" + j.gpus_free + " free)"],
      ["jobs", links(j.jobs.map(String), (id) => showJob(id))],
      ["connected", j.connected ? "yes" : "no"],
      ["spare", j.spare ? "yes" : "no"],
      ["reason", j.reason],
      ["health", j.health === null ? "not watched (no NVML)" : j.health],
      ["health reason", j.health_reason],
      ["NVLink domain", j.nvlink_domain],
    ]),
  );
  const t = j.telemetry;
  if (t) {
    b.append(el("h2", "telemetry (" + fmt(t.age_s, "s") + " old)"));
    b.append(
      fields([
        ["action", t.action + (t.reason ? ": " + t.reason : "")],
        ["GPUs found", t.gpus_found + " of " + t.gpus_expected],
        ["gpu check", t.check.result + (t.check.reason ? ": " + t.check.reason : "")],
      ]),
    );
    const cols = [
      ["GPU", (g) => g.index],
      ["lost", (g) => (g.lost ? "LOST" : "")],
      ["°C", (g) => fmt(g.temp_c)],
      ["W", (g) => fmt(g.power_w)],
      ["util %", (g) => fmt(g.util_gpu_pct)],
      ["mem GiB", (g) => (g.mem_used_bytes === null ? "-" : (g.mem_used_bytes / 2 ** 30).toFixed(1) + "/" + (g.mem_total_bytes / 2 ** 30).toFixed(0))],
      ["ECC c/u", (g) => fmt(g.ecc_corrected) + "/" + fmt(g.ecc_uncorrected)],
      ["remap", (g) => fmt(g.remapped_rows) + (g.remap_failure ? " FAILED" : g.remap_pending ? " pending" : "")],
    ];
    b.append(table(cols, t.gpus));
  }
  if (j.xids.length) {
    b.append(el("h2", "recent XIDs"));
    b.append(
      table(
        [
          ["GPU", (x) => x.gpu],
          ["XID", (x) => x.xid],
          ["action", (x) => x.action],
          ["when", (x) => when(x.time)],
        ],
        j.xids,
      ),
    );
  }
}

function table(cols, rows) {
  const t = el("table");
  const hr = el("tr");
  for (const [h] of cols) hr.append(el("th", h));
  t.append(hr);
  for (const r of rows) {
    const tr = el("tr");
    for (const [, f] of cols) tr.append(el("td", f(r)));
    t.append(tr);
  }
  return t;
}

async function showJob(id) {
  const b = openDetail("job " + id);
  let j;
  try {
    j = await api("/jobs/" + encodeURIComponent(id));
  } catch (e) {
    b.textContent = e.message;
    return;
  }
  b.textContent = "";
  b.dataset.job = j.id;
  const st = el("span", j.state, "state-" + j.state);
  b.append(
    fields([
      ["name", j.name],
      ["state", st],
      ["why", j.pending_reason || j.reason],
      ["tenant / user", j.tenant + " / " + (j.user || "-")],
      ["gang", j.num_nodes + " nodes x " + (j.gpus_per_node || "all") + " GPUs"],
      ["priority", j.priority],
      ["restarts", j.restarts + " of " + j.max_restarts + " (incarnation " + j.incarnation + ")"],
      ["last reason", j.reason],
      ["exit code", j.exit_code],
      ["submitted", when(j.submit_time)],
      ["started", when(j.start_time)],
      ["running since", when(j.running_time)],
      ["ended", when(j.end_time)],
      ["time limit", j.time_limit_min === null ? "none" : fmt(j.time_limit_min, "min")],
      ["GPU time", fmt(j.gpu_seconds / 3600, "GPU-h")],
      ["energy", j.energy_j === null ? "not measured" : fmt(j.energy_j / 3.6e6, "kWh")],
      ["command", j.argv.join(" ")],
      ["nodes", links(j.nodes, showNode)],
    ]),
  );
  b.append(runsTimeline(j)); /* history.js */
  b.append(logTail(j));
}

const LOG_TAIL = 64 * 1024; /* bytes of a rank's log shown */

/* A rank's log, its last LOG_TAIL bytes, on demand (each fetch goes to the node holding it):
 * GET /api/v1/jobs/{id}/logs?rank=R, where the controller has that route. */
function logTail(j) {
  const box = el("div");
  const rank = el("input");
  rank.type = "number";
  rank.min = "0";
  rank.value = "0";
  rank.id = "log-rank";
  rank.className = "rank";
  const go = el("button", "show the log's tail");
  go.id = "log-go";
  const pre = el("pre", null, "log");
  pre.id = "job-log";
  go.addEventListener("click", async () => {
    pre.textContent = "loading...";
    const r = await fetch(API + "/jobs/" + j.id + "/logs?rank=" + (parseInt(rank.value, 10) || 0), {
      headers: { Authorization: "Bearer " + token() },
      cache: "no-store",
    });
    const text = await r.text();
    if (r.ok) {
      pre.textContent = text.length > LOG_TAIL ? "...\n" + text.slice(-LOG_TAIL) : text || "(empty)";
      return;
    }
    let msg = text;
    try {
      msg = JSON.parse(text).error;
    } catch (e) {
      /* not JSON */
    }
    pre.textContent =
      r.status === 404 && /no resource/.test(msg) ? "this controller serves no logs (no logs route)" : r.status + ": " + msg;
  });
  box.append(el("h2", "logs"), el("span", "rank "), rank, go, pre);
  return box;
}

/* ---- the queue: pending (with why) and running jobs ---- */

const jobs = new Map(); /* id -> job JSON, pending and running */
let queueFrame = 0;

function putJob(j, fromStream) {
  if (fromStream) jobOnNodes(j, jobs.get(j.id));
  if (j.state === "pending" || j.state === "running") jobs.set(j.id, j);
  else jobs.delete(j.id);
  if (!queueFrame) queueFrame = requestAnimationFrame(drawQueue);
}

const MAX_ROWS = 500;

function drawQueue() {
  queueFrame = 0;
  const all = [...jobs.values()];
  const running = all.filter((j) => j.state === "running").length;
  $("queue-counts").textContent = "(" + (all.length - running) + " pending, " + running + " running)";
  all.sort(
    (a, b) =>
      (a.state === "running" ? 0 : 1) - (b.state === "running" ? 0 : 1) ||
      b.priority - a.priority ||
      a.id - b.id,
  );
  const tb = $("jobs").tBodies[0];
  tb.textContent = "";
  for (const j of all.slice(0, MAX_ROWS)) {
    const tr = el("tr", null, "job");
    tr.dataset.job = j.id;
    tr.dataset.state = j.state;
    tr.append(
      el("td", j.id, "num"),
      el("td", j.name),
      el("td", j.tenant),
      el("td", j.user),
      el("td", j.state, "state-" + j.state),
      el("td", j.num_nodes, "num"),
      el("td", j.priority, "num"),
      el("td", j.pending_reason || j.reason),
    );
    tr.addEventListener("click", () => showJob(j.id));
    tb.append(tr);
  }
  $("jobs-more").textContent = all.length > MAX_ROWS ? "and " + (all.length - MAX_ROWS) + " more" : "";
}

async function loadJobs() {
  const seen = new Map();
  await listAll("/jobs", "jobs", (page) => page.forEach((j) => seen.set(j.id, j)));
  jobs.clear();
  for (const [id, j] of seen) jobs.set(id, j);
  drawQueue();
}

/* ---- tenants: quota, borrowed and budget bars (where the controller has the route) ---- */

function bar(parts, total) {
  const b = el("div", null, "bar");
  let at = 0;
  for (const [cls, v] of parts) {
    const s = el("span", null, cls);
    const w = total > 0 ? Math.min(100 - at, (100 * v) / total) : 0;
    s.style.left = at + "%";
    s.style.width = Math.max(0, w) + "%";
    at += Math.max(0, w);
    b.append(s);
  }
  return b;
}

async function loadTenants() {
  let r;
  try {
    r = await api("/tenants");
  } catch (e) {
    $("tenants").classList.add("hidden"); /* 404: no such route yet; 403: not for this token */
    $("tenants").dataset.status = e.status || "error";
    return;
  }
  const list = Array.isArray(r) ? r : r.tenants || [];
  const body = $("tenants-body");
  body.textContent = "";
  for (const t of list) {
    const d = el("div", null, "tenant");
    d.dataset.tenant = t.name;
    const quota = t.quota_gpus;
    const own = Math.max(0, t.gpus_running - t.borrowed_gpus);
    d.append(
      el(
        "div",
        t.name +
          ": " +
          t.gpus_running +
          " GPUs running" +
          (quota === null ? " (no quota)" : " of a quota of " + quota) +
          (t.borrowed_gpus ? ", " + t.borrowed_gpus + " borrowed" : "") +
          ", " +
          t.jobs_pending +
          " pending",
      ),
    );
    const scale = quota === null ? Math.max(1, t.gpus_running) : Math.max(quota, t.gpus_running);
    d.append(bar([["used", own], ["borrowed", t.borrowed_gpus]], scale));
    if (t.budget_gpu_hours !== null) {
      d.append(el("div", "budget: " + fmt(t.budget_used_gpu_hours) + " of " + fmt(t.budget_gpu_hours) + " GPU-hours" + (t.budget_period ? " per " + t.budget_period : "")));
      d.append(bar([["budget", t.budget_used_gpu_hours]], t.budget_gpu_hours));
    }
    body.append(d);
  }
  $("tenants").classList.remove("hidden");
  $("tenants").dataset.status = "200";
}

/* ---- loading, watching, polling ---- */

let generation = 0; /* a new login or relist stops the old loops */

async function loadNodes() {
  const t0 = performance.now();
  let listed = 0;
  await listAll("/nodes", "nodes", (page) => {
    for (const j of page) putNode(j);
    listed += page.length;
    $("map-status").textContent = "listed " + listed + " nodes...";
  });
  const t1 = performance.now();
  layout();
  const paint = drawAll();
  const t2 = performance.now();
  showCounts();
  const drawMs = t2 - t1;
  $("list-ms").textContent = "listed in " + Math.round(t1 - t0) + " ms";
  $("list-ms").dataset.ms = (t1 - t0).toFixed(1);
  $("draw-ms").textContent =
    "drawn in " + Math.round(drawMs) + " ms (" + Math.round(paint) + " ms painting)";
  $("draw-ms").dataset.ms = drawMs.toFixed(1);
  $("draw-ms").dataset.nodes = nodes.n;
  $("map-status").textContent = "";
  document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1);
  return t1 - t0;
}

/* A poll of the node list: only the cells whose state changed are painted again. */
async function pollNodes() {
  let fresh = false;
  await listAll("/nodes", "nodes", (page) => {
    for (const j of page) {
      const r = putNode(j);
      fresh = fresh || r.fresh;
      if (r.changed) markDirty(r.i);
    }
  });
  if (fresh) markLayout();
}

function setMode(m) {
  $("mode").textContent = m;
  document.body.dataset.mode = m;
}

async function poll(gen, listMs) {
  setMode("polling every " + Math.round(Math.max(POLL_MS, 2 * listMs) / 1000) + " s");
  while (gen === generation) {
    /* a list of many nodes is not asked for more often than half the time */
    await new Promise((res) => setTimeout(res, Math.max(POLL_MS, 2 * listMs)));
    if (gen !== generation) return;
    try {
      const t0 = performance.now();
      await Promise.all([pollNodes(), loadJobs()]);
      listMs = performance.now() - t0;
      showError(null);
    } catch (e) {
      if (gen === generation) showError(e);
    }
  }
}

/* The watch stream: Server-Sent Events on a fetch() body. Resolves when it ends; rejects
 * with an HttpError when the controller answers something other than 200 (404: it has
 * none). */
async function watch(gen) {
  const r = await fetch(API + "/watch?kinds=jobs,nodes", {
    headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream" },
    cache: "no-store",
  });
  if (r.status !== 200 || !r.body) throw new HttpError(r.status, "no watch stream");
  setMode("live (watch stream)");
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (gen === generation) {
    const { value, done } = await reader.read();
    if (gen !== generation) break;
    if (done) return "ended";
    buf += value.includes("\r") ? value.replace(/\r\n?/g, "\n") : value; /* any line end */
    let k;
    while ((k = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (event(ev) === "overflow") {
        reader.cancel();
        return "overflow";
      }
    }
  }
  reader.cancel();
  return "stopped";
}

/* One event of the stream: its kind. */
function event(text) {
  let kind = "message";
  const data = [];
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue; /* keepalive */
    const c = line.indexOf(":");
    const f = c < 0 ? line : line.slice(0, c);
    const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
    if (f === "event") kind = v;
    else if (f === "data") data.push(v);
  }
  if (!data.length) return kind;
  let o;
  try {
    o = JSON.parse(data.join("\n"));
  } catch (e) {
    return kind;
  }
  if (kind === "node") {
    const r = putNode(o);
    if (r.fresh) markLayout();
    else if (r.changed) markDirty(r.i);
  } else if (kind === "job") {
    putJob(o, true);
  }
  return kind;
}

/* What the stream does not carry (a pending job's reason changes without an event; tenants'
 * figures): listed again now and then. */
async function refresh(gen) {
  while (gen === generation) {
    await new Promise((res) => setTimeout(res, 15000));
    if (gen !== generation) return;
    try {
      await loadJobs();
      await loadTenants();
      await loadHistoryPanels(false); /* history.js: every minute */
    } catch (e) {
      if (gen === generation) showError(e);
    }
  }
}

async function live(gen, listMs) {
  refresh(gen);
  for (;;) {
    let how;
    try {
      how = await watch(gen);
    } catch (e) {
      if (gen !== generation) return;
      if (e instanceof HttpError && e.status !== 401) return poll(gen, listMs);
      how = "failed";
    }
    if (gen !== generation) return;
    /* ended or overflowed: list again (events in between are lost), then reconnect */
    setMode("reconnecting (" + how + ")");
    await new Promise((res) => setTimeout(res, 1000));
    try {
      listMs = await loadNodes();
      await loadJobs();
    } catch (e) {
      if (gen === generation) showError(e);
    }
  }
}

/* What a previous login saw: another token may see less. */
function forget() {
  const N = nodes;
  N.n = 0;
  N.ixOf = new Int32Array(0);
  N.name = [];
  N.nameIx = new Map();
  N.jobsOn = new Map();
  N.pods = [];
  N.podIx = new Map();
  N.leaves = [];
  N.leafIx = new Map();
  N.counts.fill(0);
  view.pod = -1;
  jobs.clear();
  $("detail").classList.add("hidden");
  $("tenants").classList.add("hidden");
  $("usage").classList.add("hidden");
  $("failures").classList.add("hidden");
}

async function start() {
  const gen = ++generation;
  forget();
  $("login").classList.add("hidden");
  $("app").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  try {
    const w = await api("/whoami");
    $("who").textContent = w.principal + (w.role ? " (" + w.role + ")" : "");
    const listMs = await loadNodes();
    await loadJobs();
    loadTenants();
    loadHistoryPanels(); /* history.js; after the jobs: a failed run's recovery is read there */
    live(gen, listMs);
  } catch (e) {
    if (gen === generation) showError(e);
  }
}

function loggedOut(msg) {
  generation++;
  sessionStorage.removeItem(TOKEN_KEY);
  $("app").classList.add("hidden");
  $("logout").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("login-error").textContent = msg || "";
  $("who").textContent = "";
  setMode("");
}

function login() {
  const t = $("token").value.trim();
  if (!t) return;
  $("token").value = "";
  sessionStorage.setItem(TOKEN_KEY, t);
  $("login-error").textContent = "";
  start();
}

function zoom(pod) {
  view.pod = pod;
  $("map-back").classList.toggle("hidden", pod < 0);
  $("map-title").textContent = pod < 0 ? "The whole machine" : "pod " + nodes.pods[pod];
  layout();
  drawAll();
}

function init() {
  view.canvas = $("map");
  view.ctx = view.canvas.getContext("2d", { alpha: false });
  legend();
  $("login-go").addEventListener("click", login);
  $("token").addEventListener("keydown", (e) => e.key === "Enter" && login());
  $("logout").addEventListener("click", () => loggedOut(""));
  $("detail-close").addEventListener("click", () => $("detail").classList.add("hidden"));
  $("map-back").addEventListener("click", () => zoom(-1));
  const dev = (e) => {
    const r = view.canvas.getBoundingClientRect();
    const k = view.canvas.width / r.width;
    return hit((e.clientX - r.left) * k, (e.clientY - r.top) * k);
  };
  view.canvas.addEventListener("click", (e) => {
    const h = dev(e);
    if (!h.block) return;
    if (view.pod < 0 && view.blocks.length > 1) zoom(h.block.pod);
    else if (h.i >= 0) showNode(nodes.name[h.i]);
  });
  view.canvas.addEventListener("mousemove", (e) => {
    const h = dev(e);
    const tip = $("tip");
    if (!h.block) return tip.classList.add("hidden");
    const N = nodes;
    tip.textContent =
      h.i >= 0
        ? N.name[h.i] + ": " + STATES[N.state[h.i]].label + " (" + N.pods[N.pod[h.i]] + ")"
        : "pod " + N.pods[h.block.pod] + (view.pod < 0 ? ": click to zoom" : "");
    const wr = $("map-wrap").getBoundingClientRect();
    tip.style.left = e.clientX - wr.left + 12 + "px";
    tip.style.top = e.clientY - wr.top + 12 + "px";
    tip.classList.remove("hidden");
  });
  view.canvas.addEventListener("mouseleave", () => $("tip").classList.add("hidden"));
  let resize = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => nodes.n && (layout(), drawAll()), 200);
  });
  if (token()) start();
  else loggedOut("");
}

init();
