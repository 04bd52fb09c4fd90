/* app.js - the Colossus dashboard (docs/dashboard.md): the whole machine as a canvas map (a
 * cell per node, grouped by pod and leaf, coloured by state), the queue, a job's page, a
 * node's GPUs, tenants' quotas. Everything comes from the REST API (docs/api/README.md)
 * with the token the user pastes (sessionStorage, sent as Authorization: Bearer; never in a
 * URL). Kept live by the watch stream (GET /api/v1/watch, Server-Sent Events read through
 * fetch(), since EventSource cannot send a header); where the controller has none, the lists
 * are polled. Plain JavaScript, no library, no build step. */
"use strict";

const API = "/api/v1";
const PAGE = 10000; /* the API's largest page */
const POLL_MS = 2000;
const TOKEN_KEY = "colossus-token";

/* The states a cell is drawn in, worst first where a node is in several. */
const STATES = [
  { key: "down", label: "down", color: "#ff4d4d" },
  { key: "maintenance", label: "maintenance", color: "#8a6d3b" },
  { key: "unhealthy", label: "unhealthy GPU", color: "#ff8c1a" },
  { key: "drained", label: "drained", color: "#a0a0a0" },
  { key: "draining", label: "draining", color: "#e0b341" },
  { key: "busy", label: "busy", color: "#2f8fff" },
  { key: "spare", label: "spare", color: "#b57cff" },
  { key: "idle", label: "idle", color: "#2fa84f" },
];
const S = {};
STATES.forEach((s, i) => (S[s.key] = i));
const BG = 0xff181410; /* #101418 as little-endian RGBA */

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

/* ---- the nodes, in typed arrays (550,000 of them: no object per node is kept) ---- */

const nodes = {
  n: 0, /* nodes known */
  idOf: new Int32Array(0), /* index -> node id */
  ixOf: new Int32Array(0), /* node id -> index, -1 */
  state: new Uint8Array(0), /* index -> STATES index */
  pod: new Int32Array(0), /* index -> pods[] index */
  leaf: new Int32Array(0), /* index -> leaves[] index */
  name: [], /* index -> name */
  nameIx: new Map(), /* name -> index */
  jobsOn: new Map(), /* index -> Set of the job ids on it (only nodes with jobs) */
  pods: [], /* names */
  podIx: new Map(),
  leaves: [],
  leafIx: new Map(),
  counts: new Array(STATES.length).fill(0),
};

function grow(a, n, fill) {
  if (a.length >= n) return a;
  const b = new a.constructor(Math.max(n, a.length * 2, 1024));
  b.set(a);
  if (fill !== undefined) b.fill(fill, a.length);
  return b;
}

/* A node's cell state, from its JSON (docs/api/README.md "node"). A node the health policy
 * took out (drained or draining with a health verdict) is shown as unhealthy: that says why. */
function cellState(j) {
  if (j.state === "down") return S.down;
  if (j.state === "maintenance") return S.maintenance;
  const t = j.telemetry;
  const sick =
    (j.health && j.health !== "none") ||
    (t && (t.gpus_found < t.gpus_expected || t.gpus.some((g) => g.lost)));
  if (sick) return S.unhealthy;
  if (j.state === "drained") return S.drained;
  if (j.state === "draining") return S.draining;
  if (j.jobs.length || j.gpus_free < j.gpus) return S.busy;
  if (j.spare) return S.spare;
  return S.idle;
}

function intern(map, list, name) {
  let i = map.get(name);
  if (i === undefined) {
    i = list.length;
    list.push(name);
    map.set(name, i);
  }
  return i;
}

/* One node's JSON into the arrays: its index, and whether the layout must be made again
 * (a node or pod not seen before). */
function putNode(j) {
  const N = nodes;
  let fresh = false;
  if (j.id >= N.ixOf.length) N.ixOf = grow(N.ixOf, j.id + 1, -1);
  let i = N.ixOf[j.id];
  if (i < 0) {
    i = N.n++;
    N.idOf = grow(N.idOf, N.n);
    N.state = grow(N.state, N.n);
    N.pod = grow(N.pod, N.n);
    N.leaf = grow(N.leaf, N.n);
    N.ixOf[j.id] = i;
    N.idOf[i] = j.id;
    N.state[i] = 255;
    fresh = true;
  }
  if (N.name[i] !== j.name) {
    N.name[i] = j.name;
    N.nameIx.set(j.name, i);
  }
  if (j.jobs.length) N.jobsOn.set(i, new Set(j.jobs));
  else N.jobsOn.delete(i);
  const pod = intern(N.podIx, N.pods, j.pod || "(no pod)");
  const leaf = intern(N.leafIx, N.leaves, (j.pod || "") + "/" + (j.leaf || "(no leaf)"));
  if (N.pod[i] !== pod || N.leaf[i] !== leaf) fresh = true;
  N.pod[i] = pod;
  N.leaf[i] = leaf;
  const old = N.state[i];
  setState(i, cellState(j));
  return { i, fresh, changed: old !== N.state[i] };
}

function setState(i, s) {
  const N = nodes;
  const old = N.state[i];
  if (old === s) return;
  if (old !== 255) N.counts[old]--;
  N.counts[s]++;
  N.state[i] = s;
}

/* A job's event as its nodes see it: the watch stream sends no node event when a job starts
 * or ends on a node (its state stays up), so a running job's nodes turn busy and the nodes
 * it left turn idle when no other job the page knows of is on them. (A node left by a job
 * may go back into the spare reserve, and another tenant's job on it is not seen: both are
 * right again at the next list.) */
function jobOnNodes(j, prev) {
  const N = nodes;
  const now = j.state === "running" ? new Set(j.nodes) : new Set();
  const left = prev ? prev.nodes.filter((n) => !now.has(n)) : [];
  if (j.state !== "running") left.push(...j.nodes);
  for (const name of now) {
    const i = N.nameIx.get(name);
    if (i === undefined) continue;
    let on = N.jobsOn.get(i);
    if (!on) N.jobsOn.set(i, (on = new Set()));
    on.add(j.id);
    if (N.state[i] === S.idle || N.state[i] === S.spare) {
      setState(i, S.busy);
      markDirty(i);
    }
  }
  for (const name of left) {
    const i = N.nameIx.get(name);
    const on = i === undefined ? null : N.jobsOn.get(i);
    if (!on || !on.delete(j.id) || on.size) continue;
    N.jobsOn.delete(i);
    if (N.state[i] === S.busy) {
      setState(i, S.idle);
      markDirty(i);
    }
  }
}

/* ---- the map's layout: pods as blocks in a grid, a leaf a row (or rows) of cells ---- */

const view = {
  canvas: null,
  ctx: null,
  pod: -1, /* the pod zoomed into; -1: the whole machine */
  cell: 1, /* cell size, device pixels */
  gap: 1, /* between cells (zoomed) */
  x: new Int32Array(0), /* index -> cell's x, -1: not in the view */
  y: new Int32Array(0),
  blocks: [], /* {pod, x, y, w, h, rows: [{first, len}]} in device pixels */
  order: null, /* indexes in layout order */
  bw: 1, /* cells per row of a block */
  dirty: new Set(),
  frame: 0,
  relayout: false, /* a node not seen before (or moved): the next frame lays out again */
  draws: 0, /* whole-map draws (an update paints its cell only) */
};

function layout() {
  const N = nodes;
  const dpr = window.devicePixelRatio || 1;
  const wrap = document.getElementById("map-wrap");
  const W = Math.max(300, Math.floor(wrap.clientWidth * dpr));
  const Hwant = Math.max(200, Math.floor(window.innerHeight * 0.72 * dpr));
  /* nodes in (pod, leaf, id) order; ids are contiguous per leaf and pod in a topology */
  const order = new Int32Array(N.n);
  for (let i = 0; i < N.n; i++) order[i] = i;
  const zoom = view.pod;
  let sel = order;
  if (zoom >= 0) sel = order.filter((i) => N.pod[i] === zoom);
  const before = (a, b) => N.pod[a] - N.pod[b] || N.leaf[a] - N.leaf[b] || N.idOf[a] - N.idOf[b];
  let sorted = true;
  for (let k = 1; k < sel.length && sorted; k++) sorted = before(sel[k - 1], sel[k]) <= 0;
  if (!sorted) sel.sort(before);
  /* pods -> leaves -> runs of nodes */
  const pods = [];
  let maxLeaf = 1;
  for (let k = 0; k < sel.length; ) {
    const p = N.pod[sel[k]];
    const leaves = [];
    let size = 0;
    while (k < sel.length && N.pod[sel[k]] === p) {
      const l = N.leaf[sel[k]];
      const first = k;
      while (k < sel.length && N.pod[sel[k]] === p && N.leaf[sel[k]] === l) k++;
      leaves.push({ first, len: k - first });
      maxLeaf = Math.max(maxLeaf, k - first);
      size += k - first;
    }
    pods.push({ pod: p, leaves, size });
  }
  const maxPod = pods.reduce((m, p) => Math.max(m, p.size), 1);
  let bw = maxLeaf;
  if (bw * bw > 4 * maxPod) bw = Math.ceil(Math.sqrt(maxPod)); /* a few long leaves */
  bw = Math.max(1, Math.min(bw, W)); /* a row fits the canvas at 1 pixel a cell */
  const rowsOf = (p) => p.leaves.reduce((r, l) => r + Math.ceil(l.len / bw), 0);
  const bh = pods.reduce((m, p) => Math.max(m, rowsOf(p)), 1);
  /* the largest cell that fits the window's height (the page scrolls below 1 pixel) */
  const gap = zoom >= 0 ? 1 : 0;
  const podGap = Math.max(2, Math.round(3 * dpr));
  const label = Math.round(13 * dpr);
  let cell = 1;
  let cols = 1;
  for (let s = zoom >= 0 ? 40 : 16; s >= 1; s--) {
    const pw = bw * (s + gap);
    const c = Math.max(1, Math.floor((W + podGap) / (pw + podGap)));
    if (pw > W && s > 1) continue;
    const rows = Math.ceil(pods.length / c);
    const h = rows * (bh * (s + gap) + podGap + label);
    cell = s;
    cols = c;
    if (h <= Hwant) break;
  }
  const pw = bw * (cell + gap);
  const ph = bh * (cell + gap) + label;
  const rows = Math.ceil(pods.length / cols);
  const width = Math.min(W, cols * (pw + podGap));
  const height = Math.max(1, rows * (ph + podGap));
  const c = view.canvas;
  c.width = width;
  c.height = height;
  c.style.width = width / dpr + "px";
  c.style.height = height / dpr + "px";
  view.x = new Int32Array(N.n).fill(-1);
  view.y = new Int32Array(N.n).fill(-1);
  view.blocks = [];
  view.cell = cell;
  view.gap = gap;
  view.bw = bw;
  view.label = label;
  view.order = sel;
  pods.forEach((p, b) => {
    const bx = (b % cols) * (pw + podGap);
    const by = Math.floor(b / cols) * (ph + podGap);
    const blk = { pod: p.pod, x: bx, y: by, w: pw, h: ph, rows: [] };
    let row = 0;
    for (const l of p.leaves) {
      for (let k = 0; k < l.len; k++) {
        const i = sel[l.first + k];
        const r = row + Math.floor(k / bw);
        view.x[i] = bx + (k % bw) * (cell + gap);
        view.y[i] = by + label + r * (cell + gap);
        if (k % bw === 0) blk.rows.push({ first: l.first + k, len: Math.min(bw, l.len - k) });
      }
      row += Math.ceil(l.len / bw);
    }
    view.blocks.push(blk);
  });
}

const rgba = STATES.map((s) => {
  const v = parseInt(s.color.slice(1), 16);
  /* little-endian RGBA in a Uint32Array */
  return (0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff);
});

/* The whole map: every cell written into one ImageData, then the pods' names. */
function drawAll() {
  const t0 = performance.now();
  const c = view.canvas;
  const ctx = view.ctx;
  const img = ctx.createImageData(c.width, c.height);
  const px = new Uint32Array(img.data.buffer);
  px.fill(BG);
  const W = c.width;
  const s = view.cell;
  const N = nodes;
  const sel = view.order;
  for (let k = 0; k < sel.length; k++) {
    const i = sel[k];
    const x = view.x[i];
    const y = view.y[i];
    const col = rgba[N.state[i]];
    if (s === 1) {
      px[y * W + x] = col;
    } else {
      for (let dy = 0; dy < s; dy++) px.fill(col, (y + dy) * W + x, (y + dy) * W + x + s);
    }
  }
  ctx.putImageData(img, 0, 0);
  ctx.fillStyle = "#8b96a0";
  ctx.font = Math.round(view.label * 0.8) + "px sans-serif";
  ctx.textBaseline = "top";
  for (const b of view.blocks) {
    const name = N.pods[b.pod];
    if (ctx.measureText(name).width <= b.w || view.pod >= 0) ctx.fillText(name, b.x, b.y);
  }
  view.dirty.clear();
  view.draws++;
  return performance.now() - t0;
}

/* Cells that changed since the last frame, each painted alone (never the whole map). */
function markDirty(i) {
  view.dirty.add(i);
  if (!view.frame) view.frame = requestAnimationFrame(flushDirty);
}

/* A new node, or one that moved: the map is laid out and drawn again, once a frame however
 * many come (a registration storm sends one event per node). */
function markLayout() {
  view.relayout = true;
  if (!view.frame) view.frame = requestAnimationFrame(flushDirty);
}

function flushDirty() {
  view.frame = 0;
  if (view.relayout) {
    view.relayout = false;
    layout();
    drawAll();
    showCounts();
    return;
  }
  const ctx = view.ctx;
  const s = view.cell;
  for (const i of view.dirty) {
    if (i >= view.x.length || view.x[i] < 0) continue;
    ctx.fillStyle = STATES[nodes.state[i]].color;
    ctx.fillRect(view.x[i], view.y[i], s, s);
  }
  view.dirty.clear();
  showCounts();
}

/* The node under a point of the canvas (device pixels), or -1; the pod's block too. */
function hit(px, py) {
  const s = view.cell + view.gap;
  for (const b of view.blocks) {
    if (px < b.x || px >= b.x + b.w || py < b.y || py >= b.y + b.h) continue;
    const r = Math.floor((py - b.y - view.label) / s);
    const k = Math.floor((px - b.x) / s);
    if (r < 0 || r >= b.rows.length || k >= b.rows[r].len) return { block: b, i: -1 };
    return { block: b, i: view.order[b.rows[r].first + k] };
  }
  return { block: null, i: -1 };
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
