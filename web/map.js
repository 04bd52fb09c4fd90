/* map.js - the dashboard's map of the whole machine (docs/dashboard.md): the nodes in typed
 * arrays (no object per node is kept: 550,000 of them), their cell states, the layout (pods
 * as blocks in a grid, a leaf a row of cells), the whole map drawn into one ImageData and a
 * changed cell painted alone. Loaded before app.js, which feeds it from the REST API. */
"use strict";

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
  /* a node's place does not change without its pod: an object without one (an older
   * controller's) keeps the place it had */
  if (j.pod || fresh) {
    const pod = intern(N.podIx, N.pods, j.pod || "(no pod)");
    const leaf = intern(N.leafIx, N.leaves, (j.pod || "") + "/" + (j.leaf || "(no leaf)"));
    if (N.pod[i] !== pod || N.leaf[i] !== leaf) fresh = true;
    N.pod[i] = pod;
    N.leaf[i] = leaf;
  }
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
