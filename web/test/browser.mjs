// The playground's real-browser test (scripts/web --test runs it; docs/playground.md describes it).
//
//   node test/browser.mjs --site DIR --native PROGRAM [--chromium /usr/bin/chromium] [--screenshots DIR]
//
// Serves DIR (the built page) from 127.0.0.1 on a port the system picks, drives Debian's chromium headless with
// playwright-core, and checks the page against the native build of the same engine (PROGRAM is
// playground_native, built from web/playground.cpp against the Release library):
//   1. spiral, 16-16 tanh, Adam 0.03, batch 32, seed 1: the page trains exactly STEPS steps (a count, never a
//      time) and reaches a training accuracy of at least MIN_ACCURACY; accuracy and loss agree with the native
//      run's;
//   2. clicking W1 shows the rule dW1 = dA1·Xᵀ (as the native build names it) and a gradient equal to the
//      native dW1 within TOLERANCE (relative to its largest entry); clicking the op A1 shows its three clauses;
//   3. the backward step-through visits the ops in the native trace's order with the same lines, and its
//      ▶ button moves the highlight to the next op's node;
//   4. the 3-3-1 forward pass of the lecture: its figures and the gradient of H1 agree with the native build.
// Every wait is for a page state (an attribute the page sets when it is done), never a sleep. The server and the
// browser are closed on every path out (finally, and on signals).
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const STEPS = 1000;
const MIN_ACCURACY = 0.95;
const TOLERANCE = 1e-7;  // measured: the wasm and native runs differ by ~2e-11 (relative) after 1000 steps
const SETTINGS = {
  dataset: 'spiral', noise: '0.1', points: '400', classes: '2', hidden: '16,16', activation: 'tanh',
  loss: 'softmax_cross_entropy', optimizer: 'adam', lr: '0.03', batch: '32', test: '0.5', seed: '1',
};

function args() {
  const a = { chromium: '/usr/bin/chromium' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!a.site || !a.native) {
    console.error('usage: node test/browser.mjs --site DIR --native PROGRAM [--chromium PATH] [--screenshots DIR]');
    process.exit(2);
  }
  return a;
}

let checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`  ok ${checks}: ${what}`);
}

/// Largest |a − b| relative to the largest |b| (0 when both are all zero).
function relativeGap(a, b) {
  if (a.length !== b.length) return Infinity;
  let gap = 0, scale = 0;
  for (let k = 0; k < a.length; k++) {
    gap = Math.max(gap, Math.abs(a[k] - b[k]));
    scale = Math.max(scale, Math.abs(b[k]));
  }
  return scale === 0 ? gap : gap / scale;
}

function native(program, ...words) {
  const r = spawnSync(program, words, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${program} ${words.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.png': 'image/png' };

function serve(root) {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path === '/' ? 'index.html' : path);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

async function main() {
  const a = args();
  const site = resolve(a.site);
  const words = Object.entries(SETTINGS).map(([k, v]) => `${k}=${v}`);
  const nat = native(a.native, 'run', `steps=${STEPS}`, ...words);
  const natLecture = native(a.native, 'lecture', 'forward_pass');
  const byName = (nodes, name) => nodes.find((n) => n.name === name);

  let server = null, browser = null;
  const cleanup = async () => {
    if (browser) await browser.close().catch(() => {});
    if (server) server.close();
    browser = server = null;
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanup().then(() => process.exit(1)));
  try {
    server = await serve(site);
    const port = server.address().port;
    browser = await chromium.launch({
      executablePath: a.chromium,
      headless: true,  // Playwright gives each launch a fresh, temporary --user-data-dir
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1500, height: 1250 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    const query = new URLSearchParams(SETTINGS).toString();
    await page.goto(`http://127.0.0.1:${port}/index.html?${query}`);
    await page.waitForSelector('#status[data-state="ready"]', { timeout: 120000 });
    console.log(`browser test: page loaded from 127.0.0.1:${port}; xgrad ${await page.textContent('#version')}, ` +
      `gemm "${await page.textContent('#blas')}"`);

    // 1. Train exactly STEPS steps through the page's own control.
    await page.fill('#run-steps', String(STEPS));
    await page.click('#run');
    await page.waitForSelector(`#graph[data-step="${STEPS}"][data-source="model"]`, { timeout: 600000 });
    const st = await page.$eval('#status', (e) => ({ ...e.dataset, text: e.textContent }));
    console.log(`  ${st.text}`);
    check(Number(st.step) === STEPS, `the page trained exactly ${STEPS} steps`);
    check(Number(st.trainAccuracy) >= MIN_ACCURACY,
      `spiral trains to a training accuracy of at least ${MIN_ACCURACY} (page: ${st.trainAccuracy})`);
    check(Number(st.trainAccuracy) === nat.train.train.accuracy,
      `training accuracy equals the native build's (${nat.train.train.accuracy})`);
    check(relativeGap([Number(st.trainLoss)], [nat.train.train.loss]) <= TOLERANCE,
      `training loss ${st.trainLoss} matches the native ${nat.train.train.loss} within ${TOLERANCE}`);
    if (a.screenshots) {
      mkdirSync(a.screenshots, { recursive: true });
      await page.click('#graph [data-name="A1"]');
      await page.waitForSelector('#node-panel[data-node-name="A1"]');
      await page.screenshot({ path: join(a.screenshots, 'playground.png'), fullPage: true });
      const g = await page.locator('#graph-panel').boundingBox();
      const n = await page.locator('#node-panel').boundingBox();
      await page.screenshot({ path: join(a.screenshots, 'playground_node.png'),
        clip: { x: g.x - 4, y: g.y - 4, width: g.width + 8, height: n.y + n.height - g.y + 8 } });
    }

    // 2. A parameter and an op: their rules with the network's names, W1's gradient against the native one.
    await page.click('#graph [data-name="W1"]');
    await page.waitForSelector(`#node-panel[data-node-name="W1"][data-step="${STEPS}"]`);
    const natW1 = byName(nat.nodes, 'W1');
    const from = await page.$$eval('#node-gradient-from .text', (xs) => xs.map((x) => x.textContent));
    check(from.length === 1 && from[0] === 'dW1 = dA1·Xᵀ', `W1's gradient rule reads "${from[0]}"`);
    check(JSON.stringify(from) === JSON.stringify(natW1.gradient_from.map((c) => c.text)),
      'W1\'s rule is the native build\'s');
    const grad = JSON.parse(await page.getAttribute('#node-grad', 'data-values'));
    const gap = relativeGap(grad, natW1.grad.data);
    check(gap <= TOLERANCE, `dW1 [${natW1.grad.rows}×${natW1.grad.cols}] matches the native gradient ` +
      `(largest relative difference ${gap.toExponential(2)} ≤ ${TOLERANCE})`);
    const value = JSON.parse(await page.getAttribute('#node-value', 'data-values'));
    check(relativeGap(value, natW1.value.data) <= TOLERANCE, 'W1 itself matches the native weights');

    await page.click('#graph [data-name="A1"]');
    await page.waitForSelector('#node-panel[data-node-name="A1"]');
    const rule = await page.$$eval('#node-rule .text', (xs) => xs.map((x) => x.textContent));
    const natA1 = byName(nat.nodes, 'A1');
    check(JSON.stringify(rule) === JSON.stringify(natA1.rule.map((c) => c.text)),
      `A1's backward rule: ${rule.join('; ')}`);
    check(await page.textContent('#node-formula') === natA1.formula, `A1's formula: ${natA1.formula}`);
    const gradA1 = JSON.parse(await page.getAttribute('#node-grad', 'data-values'));
    check(relativeGap(gradA1, natA1.grad.data) <= TOLERANCE, 'dA1 [16×32] matches the native gradient');
    check(await page.$('#node-grad canvas') !== null, 'dA1 is drawn as a heat map');

    // 3. The step-through: the native trace's blocks, in its order; ▶ moves to the next op.
    const steps = await page.$$eval('#trace-steps li', (xs) => xs.map((x) => ({ id: Number(x.dataset.id), text: x.textContent })));
    const natSteps = nat.inspect.trace.steps;
    check(steps.length === natSteps.length && steps.every((s, k) => s.text === natSteps[k].lines.join('\n')),
      `the step-through lists the native trace's ${natSteps.length} ops with the same lines`);
    await page.click('#trace-first');
    await page.waitForSelector('#trace-pos[data-index="0"]');
    await page.click('#trace-next');
    await page.waitForSelector('#trace-pos[data-index="1"]');
    const current = await page.$eval('#graph .node.current', (g) => g.dataset.name);
    const second = nat.inspect.nodes.find((n) => n.id === natSteps[1].id).name;
    check(current === second, `after ▶ the second op of backward is highlighted (${current})`);
    await page.waitForSelector(`#node-panel[data-node-name="${second}"]`);

    // 4. The lecture's 3-3-1 forward pass.
    await page.click('#lecture-forward_pass');
    await page.waitForSelector('#graph[data-source="lecture:forward_pass"]');
    const figs = await page.$$eval('#figures tr[data-computed]', (xs) => xs.map((x) => Number(x.dataset.computed)));
    const natFigs = natLecture.lecture.figures.map((f) => f.computed);
    check(figs.length === natFigs.length && relativeGap(figs, natFigs) <= 1e-12,
      `the forward pass's ${figs.length} figures are the native build's`);
    const verdicts = await page.$$eval('#figures td.verdict', (xs) => xs.map((x) => x.textContent));
    check(verdicts.includes('differs'), 'the slide\'s slip (neuron 2) is marked as differing');
    await page.click('#graph [data-name="H1"]');
    await page.waitForSelector('#node-panel[data-node-name="H1"]');
    const h1 = JSON.parse(await page.getAttribute('#node-grad', 'data-values'));
    check(relativeGap(h1, byName(natLecture.nodes, 'H1').grad.data) <= 1e-12, 'dH1 of the forward pass is the native one');
    if (a.screenshots) {
      await page.click('#trace-first');
      await page.click('#trace-next');
      await page.waitForSelector('#trace-pos[data-index="1"]');
      await page.screenshot({ path: join(a.screenshots, 'playground_lecture.png'), fullPage: true });
    }
    check(errors.length === 0, `no errors in the page's console${errors.length ? ': ' + errors.join('; ') : ''}`);
    console.log(`browser test: all ${checks} checks passed`);
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(`browser test FAILED: ${e.message}`);
  process.exitCode = 1;
});
