// µs per training step of the playground's models: the WebAssembly build (in node, and in headless chromium when
// --site is given) against the native build of the same engine. A measurement for docs/performance.md, not a test.
//
//   node test/bench.mjs --wasm build-web/wasm/playground.js \
//        --native build-web/native/playground_native [--site build-web/site] [--chromium /usr/bin/chromium]
//
// Each model: warm-up steps (the first ones allocate buffers; in wasm they also wait for the optimising compiler),
// then REPEAT rounds, each timing STEPS steps natively, in node and in chromium one after the other (so a busy
// machine slows all three alike); the fastest run of each is reported. CPU time (native: the process's, node:
// process.cpuUsage) is much less disturbed by other processes than wall time; the page can only read wall time. One step = batch, forward, loss, backward, Adam/SGD
// update (train() also evaluates the train and test sets once per call: amortised over STEPS).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const STEPS = 2000, REPEAT = 7, WARMUP = 3000;
const MODELS = [
  { label: 'circle, 2-4-2-2 tanh, SGD, batch 10 (TensorFlow Playground\'s default network)',
    s: { dataset: 'circle', hidden: '4,2', activation: 'tanh', optimizer: 'sgd', learning_rate: 0.03, batch: 10 } },
  { label: 'spiral, 2-16-16-2 tanh, Adam, batch 32 (this page\'s default)',
    s: { dataset: 'spiral', hidden: '16,16', activation: 'tanh', optimizer: 'adam', learning_rate: 0.03, batch: 32 } },
  { label: 'spiral, 2-64-64-64-2 relu, Adam, batch 64',
    s: { dataset: 'spiral', hidden: '64,64,64', activation: 'relu', optimizer: 'adam', learning_rate: 0.01, batch: 64 } },
];
const BASE = { dataset: 'spiral', noise: 0.1, points: 400, classes: 2, hidden: '16,16', activation: 'tanh',
  loss: 'softmax_cross_entropy', optimizer: 'adam', learning_rate: 0.03, batch: 32, test_fraction: 0.5, seed: 1 };


function args() {
  const a = { chromium: '/usr/bin/chromium' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1];
  return a;
}

function nativeBench(program, s) {
  const words = [`dataset=${s.dataset}`, `hidden=${s.hidden}`, `activation=${s.activation}`, `optimizer=${s.optimizer}`,
    `lr=${s.learning_rate}`, `batch=${s.batch}`, `noise=${s.noise}`, `points=${s.points}`, `seed=${s.seed}`];
  // One BLAS thread: the page has one too.
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  const r = spawnSync(program, ['bench', `steps=${STEPS}`, 'repeat=1', ...words], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout);
  return { us: j.us_per_step[0], cpu: j.cpu_us_per_step[0], blas: j.blas, threads: j.threads };
}

/// Runs in node and, serialised, in the page: a warmed-up playground kept on globalThis between rounds. Answers
/// wall µs per step, and in node also the process's CPU µs per step.
function wasmRun(module, s, steps, warmup) {
  const key = `bench ${JSON.stringify(s)}`;
  let p = globalThis[key];
  if (!p) {
    p = globalThis[key] = new module.Playground();
    const r = JSON.parse(p.reset(s));
    if (r.error) throw new Error(r.error);
    p.train(warmup);
  }
  const cpu0 = typeof process === 'object' ? process.cpuUsage() : null;
  const t0 = performance.now();
  p.train(steps);
  const wall = ((performance.now() - t0) * 1000) / steps;
  if (!cpu0) return { wall };
  const c = process.cpuUsage(cpu0);
  return { wall, cpu: (c.user + c.system) / steps };
}

async function main() {
  const a = args();
  const require = createRequire(import.meta.url);
  // The wasm bytes are handed over: emscripten 3.1.6's glue would otherwise try node's fetch on a file path.
  const wasmBinary = readFileSync(resolve(a.wasm).replace(/\.js$/, '.wasm'));
  const module = await require(resolve(a.wasm))({ wasmBinary });
  let page = null, browser = null, server = null;
  if (a.site) {
    const { chromium } = await import('playwright-core');
    const { createServer } = await import('node:http');
    const { createReadStream } = await import('node:fs');
    const root = resolve(a.site);
    const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
    server = createServer((req, res) => {
      const name = new URL(req.url, 'http://x').pathname.replace(/^\/+/, '') || 'index.html';
      if (name.includes('..')) return res.writeHead(404).end();
      const ext = name.slice(name.lastIndexOf('.'));
      res.writeHead(200, { 'Content-Type': types[ext] || 'application/octet-stream' });
      createReadStream(resolve(root, name)).on('error', () => res.end()).pipe(res);
    });
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    browser = await chromium.launch({ executablePath: a.chromium, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'] });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
    await page.waitForSelector('#status[data-state="ready"]', { timeout: 120000 });
  }
  try {
    console.log('| model | native CPU µs/step | wasm in node, CPU | ratio | native wall µs/step | wasm in node, wall |' +
      ` ratio |${page ? ' wasm in chromium, wall | ratio |' : ''}`);
    console.log(`|---|---:|---:|---:|---:|---:|---:|${page ? '---:|---:|' : ''}`);
    let blas = '', threads = 0;
    for (const m of MODELS) {
      const s = { ...BASE, ...m.s };
      let nat = Infinity, natCpu = Infinity, node = Infinity, nodeCpu = Infinity, web = Infinity;
      for (let k = 0; k < REPEAT; k++) {
        const n = nativeBench(a.native, s);
        ({ blas, threads } = n);
        nat = Math.min(nat, n.us);
        natCpu = Math.min(natCpu, n.cpu);
        const w = wasmRun(module, s, STEPS, WARMUP);
        node = Math.min(node, w.wall);
        nodeCpu = Math.min(nodeCpu, w.cpu);
        if (page) {
          const b = await page.evaluate(`(${wasmRun.toString()})(state.module, ${JSON.stringify(s)}, ${STEPS}, ${WARMUP})`);
          web = Math.min(web, b.wall);
        }
      }
      const f = (x) => x.toFixed(1), r = (x, y) => `${(x / y).toFixed(2)}×`;
      const cells = page ? ` ${f(web)} | ${r(web, nat)} |` : '';
      console.log(`| ${m.label} | ${f(natCpu)} | ${f(nodeCpu)} | ${r(nodeCpu, natCpu)} | ${f(nat)} | ${f(node)} | ` +
        `${r(node, nat)} |${cells}`);
    }
    if (page) {
      // Responsiveness: how long the page's per-frame work takes while it trains (10 steps per frame, the
      // boundary and loss redrawn every frame, the graph every 12th), on the default model after a reset.
      await page.click('#reset');
      await page.selectOption('#per-frame', '10');
      const ms = await page.evaluate(() => new Promise((ok) => {
        const inner = frame, took = [];
        frame = (ts) => {  // eslint-disable-line no-global-assign
          const t0 = performance.now();
          inner(ts);
          if (state.running) took.push(performance.now() - t0);
          if (took.length >= 300) { state.running = false; frame = inner; ok(took); }
        };
        document.getElementById('play').click();
      }));
      const sorted = [...ms].sort((x, y) => x - y);
      const q = (f) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))].toFixed(1);
      console.log(`\nchromium, the page training the default model at 10 steps per frame: per-frame work median ` +
        `${q(0.5)} ms, 95th percentile ${q(0.95)} ms, largest ${sorted[sorted.length - 1].toFixed(1)} ms (${ms.length} frames)`);
    }
    console.log(`\nnative gemm: OpenBLAS "${blas}", ${threads} thread; wasm gemm: "${module.blasCore()}"; node ${process.version}; ` +
      `fastest of ${REPEAT} runs of ${STEPS} steps, after ${WARMUP} (wasm) / 500 (native) warm-up steps`);
  } finally {
    if (browser) await browser.close();
    if (server) server.close();
  }
}

main().catch((e) => {
  console.error(`bench: ${e.stack || e}`);
  process.exitCode = 1;
});
