#!/usr/bin/env node
'use strict';
/**
 * The raw engine for the load benchmark: onnxruntime-node in this process with nothing around it.
 * N sessions (instances) x T intra-op threads, each session in its own worker thread running a
 * closed loop of session.run on one seeded input, for a fixed time (and at most a request count).
 * That is the best an in-process user of onnxruntime-node gets; the serving path is compared with
 * it. Runs as its own process so its memory and threads are its own.
 *
 *   node scripts/lib/raw-engine.js '{"model":"m.onnx","shape":[1,3,640,640],"instances":2,"threads":1,"seconds":10}'
 *      (optional: "graphOptimization": "all"|"extended"|"basic"|"disabled", "maxRuns": N)
 * -> one JSON line: {runs, seconds, throughput, p50Ms, p95Ms, perInstance, cpuMsPerInference, peakRssMb}
 * Also what bench measures a model-instance layout with (apps/bench: instance layouts).
 */
const { Worker } = require('node:worker_threads');

const WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const ort = require(w.ort);
(async () => {
  const s = await ort.InferenceSession.create(w.model, {
    graphOptimizationLevel: w.graphOptimization,
    ...(w.threads > 0 ? { intraOpNumThreads: w.threads } : {}),
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const n = w.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) % 1000) / 1000;
  const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', data, w.shape) };
  for (let i = 0; i < 2; i++) await s.run(feeds); // warm-up
  parentPort.postMessage({ ready: true });
  const start = await new Promise((r) => parentPort.once('message', r));
  const lat = [];
  const until = start.at + start.ms;
  while (Date.now() < until && lat.length < start.maxRuns) {
    const t0 = performance.now();
    await s.run(feeds);
    lat.push(performance.now() - t0);
  }
  await s.release();
  parentPort.postMessage({ lat });
})().catch((e) => parentPort.postMessage({ error: String(e && e.message || e) }));
`;

function pct(sorted, p) {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
    : NaN;
}
const round = (v, d = 3) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);

async function measureRaw({
  model,
  shape,
  instances = 1,
  threads = 0,
  graphOptimization = 'all',
  seconds = 10,
  maxRuns = 1e9,
}) {
  const workers = Array.from(
    { length: instances },
    () =>
      new Worker(WORKER, {
        eval: true,
        workerData: { ort: require.resolve('onnxruntime-node'), model, shape, threads, graphOptimization },
      }),
  );
  const next = (w) =>
    new Promise((resolve, reject) => {
      w.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
      w.once('error', reject);
    });
  try {
    await Promise.all(workers.map(next));
    // Every instance starts together, after every session is loaded and warm.
    const start = { at: Date.now() + 50, ms: seconds * 1000, maxRuns: Math.ceil(maxRuns / instances) };
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const done = workers.map(next);
    for (const w of workers) w.postMessage(start);
    const results = await Promise.all(done);
    const elapsed = Math.max(1, Date.now() - Math.max(t0, start.at)) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const all = results.flatMap((r) => r.lat).sort((a, b) => a - b);
    return {
      instances,
      threads,
      runs: all.length,
      seconds: round(elapsed),
      throughput: round(all.length / elapsed),
      p50Ms: round(pct(all, 50)),
      p95Ms: round(pct(all, 95)),
      perInstance: results.map((r) => r.lat.length),
      // CPU this process used while measuring (every thread), per inference
      cpuMsPerInference: round((cpu.user + cpu.system) / 1000 / Math.max(1, all.length), 2),
      // this process's resident high-water mark: every session and thread of the layout
      peakRssMb: round(process.resourceUsage().maxRSS / 1024, 1),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

if (require.main === module) {
  measureRaw(JSON.parse(process.argv[2])).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e) => {
      process.stdout.write(`${JSON.stringify({ error: e.message })}\n`);
      process.exitCode = 1;
    },
  );
}

module.exports = { measureRaw };
