#!/usr/bin/env node
'use strict';
/**
 * Latency of one ONNX model on onnxruntime-node, measured by libs/measure (the same code the
 * bench protocol uses), for python's tuner (nsga2 latency objective) and for bench's child
 * processes (one engine per process, so peak RSS belongs to that engine alone).
 *
 *   node scripts/measure-latency.js MODEL.onnx [--input-shape 1,3,640,640] [--iterations 20]
 *        [--warmup 3] [--threads 0] [--graph-opt all] [--batch 1] [--seed 0]
 *   -> {"p50_ms":..,"p95_ms":..,"p99_ms":..,"mean_ms":..,"cv":..,"unstable":false}
 *   node scripts/measure-latency.js --request FILE.json   (bench's ort-node measurer: an OrtMeasureRequest in, the result out)
 * Exit codes: 0 ok, 2 bad input, 1 measurement failed; errors print {"error": "..."}.
 */
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');

const root = path.resolve(__dirname, '..');

let hooked = false;
/** Loads a TypeScript module of the repo by its path under the root (libs/measure by default): from its sources through SWC when available (dev), else from dist/. */
function loadRepoModule(rel = 'libs/measure/src') {
  let swc;
  try {
    swc = require('@swc/core');
  } catch {
    swc = null;
  }
  if (!swc) {
    require('./register-paths');
    return require(path.join(root, 'dist', rel));
  }
  if (hooked) return require(path.join(root, rel));
  hooked = true;
  const origResolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    if (request.startsWith('@cvp/')) request = path.join(root, 'libs', request.slice(5).split('/')[0], 'src');
    return origResolve.call(this, request, parent, ...rest);
  };
  require.extensions['.ts'] = function (mod, filename) {
    const src = fs.readFileSync(filename, 'utf8');
    const out = swc.transformSync(src, {
      filename,
      jsc: {
        target: 'es2022',
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
      },
      module: { type: 'commonjs' },
    });
    mod._compile(out.code, filename);
  };
  return require(path.join(root, rel));
}

function parseArgs(argv) {
  const a = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) ((a[argv[i].slice(2)] = argv[i + 1]), i++);
    else a._.push(argv[i]);
  }
  return a;
}

function fail(code, message) {
  process.stdout.write(JSON.stringify({ error: message }) + '\n');
  process.exit(code);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const m = loadRepoModule();
  if (args.request) {
    const req = JSON.parse(fs.readFileSync(args.request, 'utf8'));
    // GPU configurations: NVML samples this process from before the session exists, so the VRAM
    // figure in the result is the peak over build, warm-up and measurement.
    if (req.provider && req.provider !== 'cpu') m.watchProcessVram();
    const res = await m.measureOrt(req);
    process.stdout.write(JSON.stringify(res) + '\n');
    return;
  }
  const model = args._[0] || args.model;
  if (!model || !fs.existsSync(model)) fail(2, `model file not found: ${model}`);
  const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
  let shape = args['input-shape'] ? args['input-shape'].split(',').map(Number) : null;
  if (!shape) {
    const ort = require('onnxruntime-node');
    const s = await ort.InferenceSession.create(model);
    const meta = s.inputMetadata?.[0];
    await s.release();
    shape = (meta?.shape ?? []).map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 1 : i === 1 ? 3 : 640));
  }
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1))
    fail(2, `--input-shape must be N,C,H,W, got ${shape}`);
  const res = await m.measureOrt({
    modelPath: path.resolve(model),
    graphOptimization: args['graph-opt'] || 'all',
    threads: num('threads', 0),
    batch: num('batch', 1),
    inputShape: [1, ...shape.slice(1)],
    task: null,
    seed: num('seed', 0),
    warmup: num('warmup', 3),
    iterations: num('iterations', 20),
    cvThreshold: num('cv-threshold', 0.15),
    maxAttempts: num('max-attempts', 2),
  });
  const l = res.latency;
  process.stdout.write(
    JSON.stringify({
      p50_ms: l.p50Ms,
      p95_ms: l.p95Ms,
      p99_ms: l.p99Ms,
      mean_ms: l.meanMs,
      cv: l.cv,
      unstable: l.unstable,
      build_ms: res.buildMs,
      first_inference_ms: res.firstInferenceMs,
      peak_rss_mb: res.peakRssMb,
    }) + '\n',
  );
}

module.exports = { loadRepoModule };
if (require.main === module) main().catch((e) => fail(1, e && e.message ? e.message : String(e)));
