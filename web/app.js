// The playground page: controls, training driven from requestAnimationFrame a few steps per frame (so the page
// never freezes), the decision boundary, the loss curve, the computation graph drawn as SVG (laid out here, by
// layer), a node's rule, value and gradient, the backward trace step by step, and the lecture's worked examples.
// All numbers come from xgrad compiled to WebAssembly (playground.js / playground.wasm); nothing else computes.
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const CLASS_RGB = [[245, 147, 34], [8, 119, 189], [46, 160, 67]];  // orange, blue, green (class 0, 1, 2)

const state = {
  module: null,
  pg: null,
  running: false,
  target: null,       // stop when the step count reaches this (the "train N steps" button)
  step: 0,
  batchLosses: [],    // [step, loss]
  evals: [],          // {step, train, test}
  points: null,
  graph: null,        // the inspected graph (model or worked example)
  source: 'none',
  selected: -1,
  traceIndex: -1,
  frames: 0,
  usPerStep: null,
  trainMs: 0,
  trainedSteps: 0,
};

// ---------------------------------------------------------------- calls into the library

function call(fn, ...args) {
  const r = JSON.parse(state.pg[fn](...args));
  if (r && r.error) throw new Error(r.error);
  return r;
}

function settings() {
  return {
    dataset: $('dataset').value,
    noise: Number($('noise').value) / 100,
    points: Number($('points').value),
    classes: Number($('classes').value),
    hidden: $('hidden').value,
    activation: $('activation').value,
    loss: $('loss').value,
    optimizer: $('optimizer').value,
    learning_rate: Number($('learning_rate').value),
    batch: Number($('batch').value),
    test_fraction: Number($('test_fraction').value),
    seed: Number($('seed').value),
  };
}

/// Controls preset from the address: ?dataset=xor&hidden=4,4&lr=0.1 … (the browser test uses it too).
function applyQuery() {
  const q = new URLSearchParams(location.search);
  const alias = { lr: 'learning_rate', test: 'test_fraction' };
  for (const [k, v] of q) {
    const id = alias[k] || k;
    const el = $(id);
    if (!el || !['INPUT', 'SELECT'].includes(el.tagName)) continue;
    if (id === 'noise') el.value = String(Math.round(Number(v) * 100));
    else if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === v)) el.add(new Option(v, v, true, true));
    else el.value = v;
  }
  $('noise-out').textContent = `${$('noise').value} %`;
}

function message(text, error = true) {
  $('message').textContent = text || '';
  $('message').classList.toggle('error', error);
}

function setStatus(st) {
  const s = $('status');
  s.dataset.state = st;
  s.dataset.step = String(state.step);
  const last = state.evals[state.evals.length - 1];
  if (last) {
    s.dataset.trainAccuracy = String(last.train.accuracy);
    s.dataset.testAccuracy = String(last.test ? last.test.accuracy : '');
    s.dataset.trainLoss = String(last.train.loss);
  }
  const acc = last ? ` · train accuracy ${(100 * last.train.accuracy).toFixed(1)} %` +
    (last.test ? ` · test ${(100 * last.test.accuracy).toFixed(1)} %` : '') : '';
  const speed = state.usPerStep ? ` · ${state.usPerStep.toFixed(0)} µs per step (with the evaluations)` : '';
  s.textContent = `${st} · step ${state.step}${acc}${speed}`;
}

// ---------------------------------------------------------------- reset and training

function reset() {
  state.running = false;
  state.target = null;
  $('play').textContent = 'train ▶';
  $('play').classList.remove('on');
  try {
    state.points = call('reset', settings());
  } catch (e) {
    message(e.message);
    setStatus('error');
    return;
  }
  message(`${state.points.model}: ${state.points.parameters} parameters`, false);
  state.step = 0;
  state.batchLosses = [];
  state.evals = [];
  state.usPerStep = null;
  state.trainMs = 0;
  state.trainedSteps = 0;
  const first = call('train', 0);  // evaluates the untrained model
  state.evals.push({ step: 0, train: first.train, test: first.test });
  drawBoundary();
  drawLoss();
  showNumbers();
  inspectModel();
  setStatus('ready');
}

function trainSteps(n) {
  const t0 = performance.now();
  const r = call('train', n);
  const dt = performance.now() - t0;
  const done = r.step - state.step;
  if (done > 0) {  // the session's average, train() calls including their evaluation of the train and test sets
    state.trainMs += dt;
    state.trainedSteps += done;
    state.usPerStep = (1000 * state.trainMs) / state.trainedSteps;
  }
  r.losses.forEach((l, i) => state.batchLosses.push([state.step + i + 1, l]));
  state.step = r.step;
  state.evals.push({ step: r.step, train: r.train, test: r.test });
  if (r.diverged) {
    message('the loss is no longer finite: training stopped before the update (try a smaller learning rate)');
    state.running = false;
  }
  return r;
}

function frame() {
  if (state.running) {
    let n = Number($('per-frame').value);
    if (state.target !== null) n = Math.min(n, state.target - state.step);
    try {
      if (n > 0) trainSteps(n);
    } catch (e) {
      message(e.message);
      state.running = false;
    }
    state.frames++;
    drawBoundary();
    drawLoss();
    showNumbers();
    const finished = state.target !== null && state.step >= state.target;
    if (finished || !state.running) {
      state.running = false;
      state.target = null;
      $('play').textContent = 'train ▶';
      $('play').classList.remove('on');
      inspectModel();
      setStatus('idle');
    } else {
      if ($('live').checked && state.frames % 12 === 0 && state.source === 'model') inspectModel();
      setStatus('training');
    }
  }
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------- decision boundary and points

function mixColor(probs) {
  // Weighted class colours, faded toward white where the model is unsure.
  const k = probs.length;
  let r = 0, g = 0, b = 0, top = 0;
  for (let c = 0; c < k; c++) {
    r += probs[c] * CLASS_RGB[c][0];
    g += probs[c] * CLASS_RGB[c][1];
    b += probs[c] * CLASS_RGB[c][2];
    top = Math.max(top, probs[c]);
  }
  const conf = Math.min(1, Math.max(0, (top - 1 / k) / (1 - 1 / k)));
  const a = 0.15 + 0.55 * conf;
  return [255 + a * (r - 255), 255 + a * (g - 255), 255 + a * (b - 255)];
}

function drawBoundary() {
  const cv = $('boundary');
  const ctx = cv.getContext('2d');
  const W = cv.width, H = cv.height;
  let grid;
  try {
    grid = call('boundary', 50);
  } catch (e) {
    message(e.message);
    return;
  }
  const G = grid.resolution, K = grid.classes, cells = G * G;
  const img = new ImageData(G, G);
  for (let j = 0; j < cells; j++) {
    const probs = [];
    for (let c = 0; c < K; c++) probs.push(grid.p[c * cells + j]);
    const [r, g, b] = mixColor(probs);
    img.data.set([r, g, b, 255], 4 * j);
  }
  const off = document.createElement('canvas');
  off.width = G;
  off.height = G;
  off.getContext('2d').putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, W, H);
  const ext = grid.extent;
  const px = (x) => ((x + ext) / (2 * ext)) * W;
  const py = (y) => ((ext - y) / (2 * ext)) * H;
  const dots = (set, stroke) => {
    for (let j = 0; j < set.x1.length; j++) {
      const c = CLASS_RGB[set.label[j]] || [0, 0, 0];
      ctx.beginPath();
      ctx.arc(px(set.x1[j]), py(set.x2[j]), 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${c[0]},${c[1]},${c[2]})`;
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = stroke;
      ctx.stroke();
    }
  };
  if (state.points) {
    dots(state.points.train, '#ffffff');
    if ($('show-test').checked) dots(state.points.test, '#111111');
  }
}

function drawLoss() {
  const cv = $('loss-chart');
  const ctx = cv.getContext('2d');
  const W = cv.width, H = cv.height, pad = 24;
  ctx.clearRect(0, 0, W, H);
  const steps = Math.max(1, state.step);
  let ymax = 0;
  for (const e of state.evals) ymax = Math.max(ymax, e.train.loss || 0, e.test ? e.test.loss || 0 : 0);
  ymax = Math.max(ymax, 1e-3) * 1.1;
  const x = (s) => pad + ((W - pad - 6) * s) / steps;
  const y = (l) => H - pad + 6 - ((H - pad) * Math.min(l, ymax)) / ymax;
  ctx.strokeStyle = '#d7dce3';
  ctx.beginPath();
  ctx.moveTo(pad, 4);
  ctx.lineTo(pad, H - pad + 6);
  ctx.lineTo(W - 4, H - pad + 6);
  ctx.stroke();
  ctx.fillStyle = '#5d6675';
  ctx.font = '10px DejaVu Sans, sans-serif';
  ctx.fillText(ymax.toPrecision(2), 2, 12);
  ctx.fillText('0', 12, H - pad + 6);
  ctx.fillText(`step ${state.step}`, W - 60, H - 4);
  const line = (pts, color, width) => {
    if (pts.length === 0) return;
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    pts.forEach(([s, l], i) => (i ? ctx.lineTo(x(s), y(l)) : ctx.moveTo(x(s), y(l))));
    ctx.stroke();
  };
  // Batch losses: at most ~600 points drawn.
  const every = Math.max(1, Math.floor(state.batchLosses.length / 600));
  line(state.batchLosses.filter((_, i) => i % every === 0), '#c9ced6', 1);
  line(state.evals.map((e) => [e.step, e.train.loss]), '#1a4f8a', 1.8);
  line(state.evals.filter((e) => e.test).map((e) => [e.step, e.test.loss]), '#d35400', 1.8);
}

function showNumbers() {
  const last = state.evals[state.evals.length - 1];
  if (!last) return;
  const pct = (v) => `${(100 * v).toFixed(1)} %`;
  const rows = [['', 'loss', 'accuracy'], ['train', last.train.loss.toFixed(4), pct(last.train.accuracy)]];
  if (last.test) rows.push(['test', last.test.loss.toFixed(4), pct(last.test.accuracy)]);
  $('numbers').innerHTML = rows
    .map((r, i) => `<tr>${r.map((c, j) => (i && j ? `<td class="v">${c}</td>` : `<td>${c}</td>`)).join('')}</tr>`)
    .join('');
}

// ---------------------------------------------------------------- the graph

function inspectModel() {
  try {
    showGraph(call('inspect'), 'model');
  } catch (e) {
    message(e.message);
  }
}

/// Columns by layer: an op one right of its deepest input; a leaf one left of its first reader.
function layout(nodes) {
  const depth = new Array(nodes.length).fill(0);
  const readers = nodes.map(() => []);
  for (const n of nodes) {
    for (const i of n.inputs) readers[i].push(n.id);
    if (n.inputs.length) depth[n.id] = 1 + Math.max(...n.inputs.map((i) => depth[i]));
  }
  for (const n of nodes) {
    if (!n.inputs.length && readers[n.id].length) depth[n.id] = Math.min(...readers[n.id].map((r) => depth[r])) - 1;
  }
  const cols = new Map();
  for (const n of nodes) {
    if (!cols.has(depth[n.id])) cols.set(depth[n.id], []);
    cols.get(depth[n.id]).push(n);
  }
  const pos = new Array(nodes.length);
  const keys = [...cols.keys()].sort((a, b) => a - b);
  let minRow = 0, maxRow = 0;
  keys.forEach((d, ci) => {
    // Ops on the middle row (the forward chain), leaves alternately above and below them; in a column of
    // leaves only, the data (constants) take the middle row.
    const ops = cols.get(d).filter((n) => n.kind === 'op').sort((a, b) => a.id - b.id);
    const leaves = cols.get(d).filter((n) => n.kind !== 'op')
      .sort((a, b) => (b.kind === 'constant') - (a.kind === 'constant') || a.id - b.id);
    const rows = ops.map((n, k) => [n, k]);
    let above = 0, below = ops.length;
    if (ops.length === 0 && leaves.length) rows.push([leaves.shift(), below++]);
    leaves.forEach((n, k) => rows.push([n, k % 2 === 0 ? --above : below++]));
    for (const [n, r] of rows) {
      pos[n.id] = { col: ci, row: r };
      minRow = Math.min(minRow, r);
      maxRow = Math.max(maxRow, r);
    }
  });
  return { pos, cols: keys.length, minRow, maxRow };
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function gradNorms() {
  // ‖d·‖ per node from the trace (the rule lines carry them); leaves from the leaves block.
  const norms = {};
  if (!state.graph) return norms;
  const byName = {};
  for (const n of state.graph.nodes) byName[n.grad_name] = n.id;
  const take = (line) => {
    const m = line.match(/^\s+(d\S+|d\(.*?\))\s.*‖·‖ = ([-0-9.e+]+)/);
    if (m && byName[m[1]] !== undefined) norms[byName[m[1]]] = m[2];
  };
  for (const s of state.graph.trace.steps) s.lines.slice(1).forEach(take);
  state.graph.trace.leaves.forEach((line) => {
    const m = line.match(/^\s+(\S+)\s+\[\S+\]\s+‖·‖ = ([-0-9.e+]+)/);
    if (m && byName[m[1]] !== undefined) norms[byName[m[1]]] = m[2];
  });
  return norms;
}

function showGraph(g, source) {
  const sameStructure = state.graph && state.source === source &&
    state.graph.nodes.map((n) => n.name).join() === g.nodes.map((n) => n.name).join();
  state.graph = g;
  state.source = source;
  if (!sameStructure) state.traceIndex = -1;
  const svg = $('graph');
  svg.innerHTML = '';
  const { pos, cols, minRow, maxRow } = layout(g.nodes);
  const bw = 134, bh = 52, cw = 164, rh = 68, m = 12;
  const width = m * 2 + (cols - 1) * cw + bw;
  const height = m * 2 + (maxRow - minRow) * rh + bh;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const defs = el('defs', {}, svg);
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
    orient: 'auto-start-reverse' }, defs);
  el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7b8594' }, marker);
  const xy = (id) => ({ x: m + pos[id].col * cw, y: m + (pos[id].row - minRow) * rh });
  const edges = el('g', {}, svg);
  for (const n of g.nodes) {
    const b = xy(n.id);
    n.inputs.forEach((i) => {
      const a = xy(i);
      const x1 = a.x + bw, y1 = a.y + bh / 2, x2 = b.x - 2, y2 = b.y + bh / 2;
      const dx = Math.max(30, (x2 - x1) / 2);
      el('path', { class: 'edge', d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`,
        'marker-end': 'url(#arrow)', 'data-from': i, 'data-to': n.id }, edges);
    });
  }
  const fills = { parameter: ['#fbdcb4', '#c97d1d'], constant: ['#e5e8e8', '#909497'],
    variable: ['#fcf3cf', '#b7950b'], op: ['#e8f0fb', '#7a9cc6'] };
  const norms = gradNorms();
  const readers = new Set(g.nodes.flatMap((n) => n.inputs));
  for (const n of g.nodes) {
    const p = xy(n.id);
    const grp = el('g', { class: 'node', transform: `translate(${p.x},${p.y})`, 'data-id': n.id, 'data-name': n.name,
      'data-kind': n.kind }, svg);
    const [fill, stroke] = fills[n.kind] || fills.op;
    const rx = n.kind === 'op' ? 22 : 3;
    if (n.kind === 'op' && !readers.has(n.id)) {
      el('rect', { x: -4, y: -4, width: bw + 8, height: bh + 8, rx: rx + 4, fill: 'none', stroke, 'stroke-width': 1.2 }, grp);
    }
    el('rect', { class: 'box', width: bw, height: bh, rx, fill, stroke }, grp);
    const label = n.name.length > 18 ? n.name.slice(0, 17) + '…' : n.name;
    const t = el('text', { class: 'name', x: bw / 2, y: 16, 'text-anchor': 'middle' }, grp);
    t.textContent = label;
    const sub = el('text', { class: n.kind === 'op' ? 'op' : 'shape', x: bw / 2, y: 30, 'text-anchor': 'middle' }, grp);
    sub.textContent = n.kind === 'op' ? n.op : n.kind;
    const low = el('text', { class: 'shape', x: bw / 2, y: 44, 'text-anchor': 'middle' }, grp);
    low.textContent = `[${n.rows}×${n.cols}]`;
    if (norms[n.id] !== undefined) {
      const gn = el('tspan', { class: 'gnorm' }, low);
      gn.textContent = `  ‖${n.grad_name}‖ ${norms[n.id]}`;
    }
    const title = el('title', {}, grp);
    title.textContent = n.user_named || n.kind !== 'op' ? `${n.name} = ${n.expression}` : n.expression;
    grp.addEventListener('click', () => selectNode(n.id));
  }
  $('graph-title').textContent = g.title;
  $('dot-link').href = URL.createObjectURL(new Blob([g.dot], { type: 'text/vnd.graphviz' }));
  showTrace();
  const banner = $('lecture-banner');
  banner.hidden = source === 'model';
  if (source !== 'model') {
    banner.innerHTML = '';
    banner.append(`Showing the worked example "${source.replace('lecture:', '')}". `);
    const back = document.createElement('button');
    back.textContent = 'back to the model';
    back.addEventListener('click', () => { state.selected = -1; inspectModel(); });
    banner.append(back);
  }
  if (sameStructure && state.selected >= 0) selectNode(state.selected);
  else clearNode();
  svg.dataset.source = source;
  svg.dataset.step = String(source === 'model' ? state.step : -1);
}

// ---------------------------------------------------------------- one node

function clearNode() {
  state.selected = -1;
  $('node-body').hidden = true;
  $('node-hint').hidden = false;
  $('node-panel').dataset.nodeId = '-1';
}

const fmt = (v) => (v === null ? 'NaN/∞' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(4));

function heatColor(v, scale, strength = 1) {
  // Diverging: blue below zero, red above, white at zero (lighter behind numbers: strength < 1).
  const t = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0;
  const base = t < 0 ? [33, 102, 172] : [178, 24, 43];
  const a = strength * Math.abs(t);
  return `rgb(${Math.round(255 + a * (base[0] - 255))},${Math.round(255 + a * (base[1] - 255))},${Math.round(255 + a * (base[2] - 255))})`;
}

function showMatrix(box, mat) {
  box.innerHTML = '';
  box.dataset.rows = mat.rows;
  box.dataset.cols = mat.cols;
  box.dataset.values = JSON.stringify(mat.data);
  let scale = 0;
  for (const v of mat.data) if (v !== null) scale = Math.max(scale, Math.abs(v));
  if (mat.rows * mat.cols <= 48 && mat.cols <= 8) {
    const table = document.createElement('table');
    for (let i = 0; i < mat.rows; i++) {
      const tr = table.insertRow();
      for (let j = 0; j < mat.cols; j++) {
        const v = mat.data[i * mat.cols + j];
        const td = tr.insertCell();
        td.textContent = fmt(v);
        td.style.background = v === null ? '#ffd' : heatColor(v, scale, 0.45);
        td.title = `(${i + 1}, ${j + 1}) = ${v}`;
      }
    }
    box.appendChild(table);
    return;
  }
  // A heat map: one cell per entry, scaled to fit; hover for the number.
  const cell = Math.max(3, Math.min(18, Math.floor(380 / mat.cols), Math.floor(260 / mat.rows)));
  const cv = document.createElement('canvas');
  cv.width = mat.cols * cell;
  cv.height = mat.rows * cell;
  const ctx = cv.getContext('2d');
  for (let i = 0; i < mat.rows; i++) {
    for (let j = 0; j < mat.cols; j++) {
      const v = mat.data[i * mat.cols + j];
      ctx.fillStyle = v === null ? '#ff0' : heatColor(v, scale);
      ctx.fillRect(j * cell, i * cell, cell, cell);
    }
  }
  const tip = document.createElement('div');
  tip.className = 'scale';
  tip.textContent = `[${mat.rows}×${mat.cols}] heat map: blue −${fmt(scale)} … white 0 … red +${fmt(scale)}`;
  cv.addEventListener('mousemove', (ev) => {
    const r = cv.getBoundingClientRect();
    const j = Math.floor(((ev.clientX - r.left) / r.width) * mat.cols);
    const i = Math.floor(((ev.clientY - r.top) / r.height) * mat.rows);
    if (i >= 0 && i < mat.rows && j >= 0 && j < mat.cols) tip.textContent = `(${i + 1}, ${j + 1}) = ${mat.data[i * mat.cols + j]}`;
  });
  box.append(cv, tip);
}

function ruleItem(c, names) {
  const li = document.createElement('li');
  const t = document.createElement('span');
  t.className = 'text';
  t.textContent = c.text;
  const s = document.createElement('span');
  s.className = 'shapes';
  s.textContent = c.shapes;
  li.append(t, s);
  li.dataset.node = c.node;
  if (names) li.title = `from the op ${names[c.node]}`;
  return li;
}

function selectNode(id) {
  let n;
  try {
    n = call('node', id);
  } catch (e) {
    message(e.message);
    return;
  }
  state.selected = id;
  document.querySelectorAll('#graph .node').forEach((g) => g.classList.toggle('selected', Number(g.dataset.id) === id));
  document.querySelectorAll('#graph .edge').forEach((e) =>
    e.classList.toggle('hot', Number(e.dataset.from) === id || Number(e.dataset.to) === id));
  $('node-hint').hidden = true;
  $('node-body').hidden = false;
  const info = state.graph.nodes[id];
  $('node-title').textContent = `${n.name}  [${info.rows}×${info.cols}]  ${n.kind === 'op' ? 'op ' + n.op : n.kind}`;
  $('node-formula').textContent = n.formula;
  const names = state.graph.nodes.map((x) => x.name);
  const rule = $('node-rule');
  rule.innerHTML = '';
  n.rule.forEach((c) => rule.appendChild(ruleItem(c)));
  $('node-rule-box').hidden = n.rule.length === 0;
  const from = $('node-gradient-from');
  from.innerHTML = '';
  n.gradient_from.forEach((c) => from.appendChild(ruleItem(c, names)));
  $('node-from-title').textContent = n.grad === null
    ? 'No gradient: a constant'
    : n.gradient_from.length > 1
      ? `Its gradient ${n.grad_name} is the sum of ${n.gradient_from.length} contributions`
      : n.gradient_from.length === 1 ? `Its gradient ${n.grad_name} comes from` : `${n.grad_name} = 1 seeds backward`;
  $('node-from-box').hidden = false;
  $('node-value-norm').textContent = `‖${n.name}‖ = ${fmt(n.value_norm)}`;
  showMatrix($('node-value'), n.value);
  if (n.grad) {
    $('node-grad-title').textContent = `Gradient ${n.grad_name}   ‖${n.grad_name}‖ = ${fmt(n.grad_norm)}`;
    showMatrix($('node-grad'), n.grad);
  } else {
    $('node-grad-title').textContent = 'Gradient: none (backward computes none for constants)';
    $('node-grad').innerHTML = '';
    $('node-grad').dataset.values = 'null';
  }
  const panel = $('node-panel');
  panel.dataset.nodeName = n.name;
  panel.dataset.step = $('graph').dataset.step;
  panel.dataset.nodeId = String(id);
}

// ---------------------------------------------------------------- the backward trace, step by step

function showTrace() {
  const t = state.graph.trace;
  $('trace-header').textContent = t.header;
  const list = $('trace-steps');
  list.innerHTML = '';
  t.steps.forEach((s, k) => {
    const li = document.createElement('li');
    li.textContent = s.lines.join('\n');
    li.dataset.id = s.id;
    li.addEventListener('click', () => goTrace(k));
    list.appendChild(li);
  });
  $('trace-leaves').textContent = t.leaves.join('\n');
  goTrace(Math.min(state.traceIndex, t.steps.length - 1), false);
}

function goTrace(k, select = true) {
  const steps = state.graph ? state.graph.trace.steps : [];
  state.traceIndex = k;
  const items = [...$('trace-steps').children];
  items.forEach((li, i) => {
    li.classList.toggle('current', i === k);
    li.classList.toggle('done', k >= 0 && i < k);
  });
  const ids = new Set(k >= 0 ? steps.slice(0, k).map((s) => s.id) : []);
  const cur = k >= 0 ? steps[k].id : -1;
  document.querySelectorAll('#graph .node').forEach((g) => {
    g.classList.toggle('current', Number(g.dataset.id) === cur);
    g.classList.toggle('visited', ids.has(Number(g.dataset.id)));
  });
  const pos = $('trace-pos');
  pos.dataset.index = String(k);
  pos.dataset.nodeId = String(cur);
  pos.textContent = k >= 0 ? `op ${k + 1} of ${steps.length}` : `${steps.length} ops`;
  if (k >= 0) {
    items[k].scrollIntoView({ block: 'nearest' });
    if (select) selectNode(cur);
  }
}

// ---------------------------------------------------------------- the worked examples

function showLecture(name) {
  let r;
  try {
    r = call('lecture', name);
  } catch (e) {
    message(e.message);
    return;
  }
  $('lecture-title').textContent = r.title;
  const rows = ['<tr><th>the slide computes</th><th>the slide says</th><th>xgrad computes</th><th>verdict</th></tr>'];
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  for (const f of r.figures) {
    const cls = f.verdict === 'agrees' ? 'agrees' : f.verdict === 'differs' ? 'differs' : 'truncated';
    rows.push(`<tr class="${cls}" data-computed="${f.computed}"><td>${esc(f.what)}</td><td class="num">${esc(f.slide)}</td>` +
      `<td class="num">${esc(f.shown)}</td><td class="verdict">${esc(f.verdict)}</td></tr>`);
    if (f.note) rows.push(`<tr class="${cls}"><td></td><td class="note" colspan="3">↳ ${esc(f.note)}</td></tr>`);
  }
  $('figures').innerHTML = rows.join('');
  const extra = $('lecture-extra');
  extra.textContent = '';
  if (r.dA2_target1) {
    const col = (m) => `[${m.data.map((v) => v.toPrecision(5)).join(', ')}]`;
    extra.textContent = `dL/dA2 = H2 − T, from the graph: for ⟨1,0,0⟩ ${col(r.dA2_target1)}; for ⟨0,0,1⟩ ${col(r.dA2_target3)}`;
  }
  state.selected = -1;
  showGraph(r.graph, `lecture:${name}`);
}

// ---------------------------------------------------------------- wiring

function wire() {
  $('noise').addEventListener('input', () => ($('noise-out').textContent = `${$('noise').value} %`));
  for (const id of ['dataset', 'noise', 'points', 'classes', 'test_fraction', 'hidden', 'activation', 'loss',
    'optimizer', 'learning_rate', 'batch', 'seed']) {
    $(id).addEventListener('change', reset);
  }
  $('reset').addEventListener('click', reset);
  $('play').addEventListener('click', () => {
    state.running = !state.running;
    state.target = null;
    $('play').textContent = state.running ? 'pause ❚❚' : 'train ▶';
    $('play').classList.toggle('on', state.running);
  });
  $('step').addEventListener('click', () => {
    if (state.running) return;
    try {
      trainSteps(1);
    } catch (e) {
      message(e.message);
    }
    drawBoundary();
    drawLoss();
    showNumbers();
    inspectModel();
    setStatus('idle');
  });
  $('run').addEventListener('click', () => {
    const n = Math.max(1, Math.floor(Number($('run-steps').value)));
    state.target = state.step + n;
    state.running = true;
    $('play').textContent = 'pause ❚❚';
    $('play').classList.add('on');
  });
  $('show-test').addEventListener('change', drawBoundary);
  $('trace-first').addEventListener('click', () => goTrace(0));
  $('trace-prev').addEventListener('click', () => goTrace(Math.max(0, state.traceIndex - 1)));
  $('trace-next').addEventListener('click', () =>
    goTrace(Math.min(state.graph.trace.steps.length - 1, state.traceIndex + 1)));
  $('trace-last').addEventListener('click', () => goTrace(state.graph.trace.steps.length - 1));
  for (const name of ['forward_pass', 'softmax', 'cross_entropy']) {
    $(`lecture-${name}`).addEventListener('click', () => showLecture(name));
  }
}

createPlayground().then((module) => {
  state.module = module;
  state.pg = new module.Playground();
  $('version').textContent = module.version();
  $('blas').textContent = module.blasCore();
  applyQuery();
  wire();
  reset();
  requestAnimationFrame(frame);
}).catch((e) => {
  $('status').dataset.state = 'error';
  $('status').textContent = `could not load the library: ${e}`;
});
