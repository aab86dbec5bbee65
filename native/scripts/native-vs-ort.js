#!/usr/bin/env node
'use strict';
/**
 * Native core vs onnxruntime-node, both called from Node (a benchmark, not a test).
 *
 * The comparison that counts for the platform: Node calling cvp-core through libs/native-client
 * (as apps/bench's native measurer and the data plane do) against Node calling onnxruntime-node in
 * process (apps/bench's ort-node measurer), on the same model file, precision, graph optimization
 * level and intra-op threads. Every configuration the optimization protocol measures is run:
 * fp32 at graph levels basic / extended / all x threads {1, 2}, the FP16 and INT8 variants (when
 * python can make them) at level all, and batch 2, each at concurrency 1, 2 and 4. The two engines
 * run in alternating rounds (the order flips every round), so drifting background load on this
 * shared machine hits both alike; ratios compare numbers from the same run.
 *
 *   node native/scripts/native-vs-ort.js --model text-recognizer|yolov8n [--quick]
 *        [--rounds N] [--iterations N] [--transport shm|stream|unary] [--instances N]
 *        [--instance-sessions shared|separate] [--concurrency 1,2,4]
 *        [--only REGEX] [--out bench/results/native-vs-ort-<model>.json]
 *   node native/scripts/native-vs-ort.js --table bench/results/native-vs-ort-<model>.json
 *        (prints the results file as the markdown table native/README.md shows)
 *
 * Targets (per configuration): native p50 <= 1.05 x onnxruntime-node p50 at concurrency 1, and
 * native throughput >= 1.0 x at every concurrency. Needs native/build/cvp-core
 * (native/scripts/build.sh) and python/.venv (to export the models); models are cached under
 * var/bench-models/. Every wait is bounded; the core is stopped at the end.
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Module = require('node:module');

const ROOT = path.resolve(__dirname, '../..');
const CORE = path.join(ROOT, 'native/build/cvp-core');
const PYTHON = path.join(ROOT, 'python/.venv/bin/python');
const MODELS = path.join(ROOT, 'var/bench-models');

/** Loads a TypeScript module of the repo through SWC (the jest transformer), @cvp/* mapped to libs/. */
function requireTs(rel) {
  const swc = require('@swc/core');
  const origResolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    if (request.startsWith('@cvp/')) request = path.join(ROOT, 'libs', request.slice(5).split('/')[0], 'src');
    return origResolve.call(this, request, parent, ...rest);
  };
  require.extensions['.ts'] = function (mod, filename) {
    const out = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
      filename,
      jsc: { target: 'es2022', parser: { syntax: 'typescript', decorators: true } },
      module: { type: 'commonjs' },
    });
    mod._compile(out.code, filename);
  };
  return require(path.join(ROOT, rel));
}

/** How the client reaches the core: libs/native-client's fast path and the two steps below it. */
const TRANSPORTS = {
  shm: {}, // the default: InferStream + shared memory
  stream: { sharedMemory: false }, // InferStream, tensors in the messages
  unary: { maxStreams: 0 }, // one unary Infer per request, tensors in the messages (the old path)
};

function parseArgs(argv) {
  const a = {
    model: 'text-recognizer',
    quick: false,
    rounds: undefined,
    iterations: undefined,
    transport: 'shm',
    instances: 1,
    instanceSessions: '',
    only: null,
    out: undefined,
    concurrency: [1, 2, 4],
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${k}`);
      return argv[++i];
    };
    if (k === '--model') a.model = v();
    else if (k === '--quick') a.quick = true;
    else if (k === '--rounds') a.rounds = Number(v());
    else if (k === '--iterations') a.iterations = Number(v());
    else if (k === '--transport') a.transport = v();
    else if (k === '--instances') a.instances = Number(v());
    else if (k === '--instance-sessions') a.instanceSessions = v();
    else if (k === '--only') a.only = new RegExp(v());
    else if (k === '--out') a.out = v();
    else if (k === '--concurrency') a.concurrency = v().split(',').map(Number);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!TRANSPORTS[a.transport]) throw new Error(`--transport must be one of ${Object.keys(TRANSPORTS).join(', ')}`);
  return a;
}

function runPython(args, what) {
  if (!fs.existsSync(PYTHON)) throw new Error(`python venv missing at ${PYTHON}: run python/scripts/setup-venv.sh`);
  const r = spawnSync(PYTHON, args, {
    cwd: path.join(ROOT, 'python'),
    env: { ...process.env, YOLO_OFFLINE: 'true', YOLO_AUTOINSTALL: 'false', YOLO_CONFIG_DIR: path.join(MODELS, '.yolo') },
    encoding: 'utf8',
    timeout: 900_000,
    maxBuffer: 64 << 20,
  });
  const lines = (r.stdout || '').split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
  const result = lines.find((l) => l.type === 'result' || l.onnx);
  if (r.status !== 0 || !result) {
    const err = lines.find((l) => l.type === 'error');
    // refused: python said why (a deterministic answer for these inputs), not a crash or a timeout
    throw Object.assign(
      new Error(`${what} failed (exit ${r.status ?? r.signal}): ${err ? err.message : (r.stderr || '').slice(-600)}`),
      { refused: Boolean(err) },
    );
  }
  return result;
}

/** The model's fp32 file and its protocol variants ({name: path}, or a reason why a variant is missing). */
function prepareModels(name) {
  const dir = path.join(MODELS, name === 'yolov8n' ? 'yolov8n-640' : name);
  const fp32 = path.join(dir, 'model.onnx');
  let shape;
  if (name === 'yolov8n') {
    shape = [1, 3, 640, 640];
    if (!fs.existsSync(fp32)) {
      console.error('[native-vs-ort] exporting yolov8n 640 (architecture only, untrained weights)');
      runPython(['-m', 'cvp_ml', 'preset', '--name', 'yolov8n', '--out', dir, '--imgsz', '640', '--seed', '0'], 'yolov8n export');
    }
  } else if (name === 'text-recognizer') {
    shape = [1, 3, 48, 320];
    if (!fs.existsSync(fp32)) {
      console.error('[native-vs-ort] building the text recognizer (native/bench/make_text_recognizer.py)');
      runPython([path.join(ROOT, 'native/bench/make_text_recognizer.py'), '--out', dir], 'text recognizer export');
    }
  } else {
    throw new Error(`unknown model ${name} (yolov8n or text-recognizer)`);
  }
  const variants = { fp32 };
  const skipped = {};
  for (const kind of ['fp16', 'int8-static']) {
    const file = path.join(dir, `model.${kind}.onnx`);
    // A variant that could not be made stays unmade for the same model file: the reason is kept
    // next to it rather than the conversion retried at every start.
    const failed = `${file}.failed`;
    if (!fs.existsSync(file) && fs.existsSync(failed) && fs.statSync(failed).mtimeMs >= fs.statSync(fp32).mtimeMs) {
      skipped[kind] = fs.readFileSync(failed, 'utf8');
      continue;
    }
    if (!fs.existsSync(file)) {
      try {
        console.error(`[native-vs-ort] making the ${kind} variant (cvp_ml variant)`);
        runPython(
          ['-m', 'cvp_ml', 'variant', '--model', fp32, '--kind', kind, '--out', file, '--input-shape', shape.join(','), '--seed', '0'],
          `${kind} variant`,
        );
      } catch (e) {
        skipped[kind] = e.message;
        if (e.refused) fs.writeFileSync(failed, e.message);
        continue;
      }
    }
    variants[kind] = file;
  }
  return { dir, shape, variants, skipped };
}

/** The configurations apps/bench measures on CPU, for both engines. */
function configurations(variants, quick) {
  const out = [];
  const threads = [1, 2];
  for (const level of quick ? ['all'] : ['basic', 'extended', 'all'])
    for (const t of threads) out.push({ variant: 'fp32', level, threads: t, batch: 1 });
  for (const v of ['fp16', 'int8-static'])
    if (variants[v]) for (const t of quick ? [2] : threads) out.push({ variant: v, level: 'all', threads: t, batch: 1 });
  for (const t of quick ? [2] : threads) out.push({ variant: 'fp32', level: 'all', threads: t, batch: 2 });
  return out.map((c) => ({ ...c, id: `${c.variant}/${c.level}/t${c.threads}/b${c.batch}` }));
}

function startCore(logLevel = 'info', onLine = null, env = process.env) {
  if (!fs.existsSync(CORE)) throw new Error(`${CORE} is missing: run native/scripts/build.sh`);
  const proc = spawn(CORE, ['--port', '0', '--log-level', logLevel, '--allow-shared-memory'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  if (onLine) {
    let rest = '';
    proc.stderr.on('data', (c) => {
      const lines = (rest + c.toString()).split('\n');
      rest = lines.pop();
      for (const l of lines) onLine(l);
    });
  }
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`cvp-core did not report its port within 20 s: ${buf.slice(-500)}`));
    }, 20_000);
    proc.stderr.on('data', (c) => {
      buf += c.toString();
      const m = /"msg":"listening"[^\n]*"port":(\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]) });
      }
      if (buf.length > 100_000) buf = buf.slice(-10_000);
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cvp-core exited (${code}): ${buf.slice(-500)}`));
    });
  });
}

async function stopCore(core) {
  if (core.proc.exitCode !== null) return;
  const exited = new Promise((r) => core.proc.once('exit', r));
  core.proc.kill('SIGTERM');
  const t = setTimeout(() => core.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

function percentile(sorted, q) {
  if (!sorted.length) return 0;
  const pos = ((sorted.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Closed loop: `users` callers, `total` requests in all; returns latencies and wall time. */
async function drive(call, users, total, corePid) {
  let started = 0;
  const core0 = corePid ? cpuMsOf(corePid) : 0;
  const lat = [];
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const user = async () => {
    while (started < total) {
      started++;
      const s = process.hrtime.bigint();
      await call();
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: users }, user));
  const cpu = process.cpuUsage(cpu0);
  return {
    lat,
    wallMs: Number(process.hrtime.bigint() - t0) / 1e6,
    nodeCpuMs: (cpu.user + cpu.system) / 1000,
    coreCpuMs: corePid ? cpuMsOf(corePid) - core0 : 0,
  };
}

/** CPU time (user + system) a process has used, in ms; Linux clock ticks are 1/100 s. */
function cpuMsOf(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

function summary(samples, batch) {
  const lat = samples.flatMap((s) => s.lat).sort((a, b) => a - b);
  const wall = samples.reduce((a, s) => a + s.wallMs, 0);
  const n = lat.length;
  const mean = n ? lat.reduce((a, b) => a + b, 0) / n : 0;
  return {
    requests: n,
    p50Ms: round(percentile(lat, 50)),
    p95Ms: round(percentile(lat, 95)),
    meanMs: round(mean),
    throughput: round(wall > 0 ? (n * batch * 1000) / wall : 0, 2),
    nodeCpuMsPerRequest: round(samples.reduce((a, s) => a + s.nodeCpuMs, 0) / Math.max(1, n)),
    coreCpuMsPerRequest: round(samples.reduce((a, s) => a + s.coreCpuMs, 0) / Math.max(1, n)),
    ...(samples[0]?.coreRuns !== undefined
      ? {
          // engine time inside the core per request: the rest of the latency is the serving path
          coreComputeMsPerRequest: round(
            samples.reduce((a, s) => a + s.coreComputeMs, 0) / Math.max(1, samples.reduce((a, s) => a + s.coreRuns, 0)),
          ),
        }
      : {}),
  };
}

/** The core's own engine time (session runs) so far, from Stats. */
async function computeUs(client, id) {
  const m = (await client.stats({ modelId: id }, 10_000)).models[0];
  return { sum: m?.computeUs?.sum ?? 0, count: m?.computeUs?.count ?? 0 };
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The markdown table of a results file: one row per configuration. */
function table(file) {
  const d = JSON.parse(fs.readFileSync(file, 'utf8'));
  const lines = [
    `${d.model} ${d.inputShape.join('x')}, ${d.transport}, ${d.started.slice(0, 16)}Z, load ${d.environment.loadavgBefore[0]} -> ${d.environment.loadavgAfter[0]}`,
    '',
    '| configuration | p50 c1 ort-node / native (ms) | p50 ratio (pooled, per-round median) | throughput ratio c1 / c2 / c4 | targets |',
    '|---|---|---|---|---|',
  ];
  for (const c of d.configurations) {
    const k = c.concurrency;
    const thr = ['c1', 'c2', 'c4'].map((l) => (k[l] ? k[l].throughputRatio.toFixed(2) : '-')).join(' / ');
    lines.push(
      `| ${c.id} | ${k.c1['ort-node'].p50Ms.toFixed(1)} / ${k.c1.native.p50Ms.toFixed(1)} | ${k.c1.p50Ratio.toFixed(2)}, ${k.c1.perRound.p50RatioMedian.toFixed(2)} | ${thr} | ${c.targets.p50.pass ? 'p50 ok' : 'p50 miss'}, ${c.targets.throughput.pass ? 'thr ok' : 'thr miss'} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  if (process.argv[2] === '--table') {
    console.log(table(process.argv[3]));
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  const nc = requireTs('libs/native-client/src/index.ts');
  const ort = require('onnxruntime-node');
  const { seededTensor } = requireTs('libs/measure/src/rng.ts');
  const prep = prepareModels(args.model);
  const configs = configurations(prep.variants, args.quick).filter((c) => !args.only || args.only.test(c.id));
  const rounds = args.rounds ?? (args.quick ? 3 : 6);
  const heavy = args.model === 'yolov8n';
  const perRound = args.iterations ?? (heavy ? (args.quick ? 4 : 6) : args.quick ? 15 : 30);
  const out = args.out ?? path.join(ROOT, `bench/results/native-vs-ort-${args.model}${args.quick ? '-quick' : ''}.json`);

  const core = await startCore();
  const client = new nc.NativeCoreClient({ address: `127.0.0.1:${core.port}`, fastPath: TRANSPORTS[args.transport] });
  const started = new Date().toISOString();
  const load0 = os.loadavg();
  const results = [];
  let fastPath = null;
  try {
    await client.waitForReady(15_000);
    for (const cfg of configs) {
      const modelPath = prep.variants[cfg.variant];
      const shape = [cfg.batch, ...prep.shape.slice(1)];
      const data = seededTensor(
        shape.reduce((a, b) => a * b, 1),
        7,
      );
      const session = await ort.InferenceSession.create(modelPath, {
        graphOptimizationLevel: cfg.level,
        intraOpNumThreads: cfg.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
      });
      const inputName = session.inputNames[0];
      const feeds = { [inputName]: new ort.Tensor('float32', data, shape) };
      const id = `bench-${results.length}`;
      await client.loadModel(
        {
          id,
          path: modelPath,
          engine: {
            provider: 'cpu',
            precision: cfg.variant === 'fp32' ? 'fp32' : cfg.variant.startsWith('int8') ? 'int8' : 'fp16',
            graphOptimization: cfg.level,
            intraOpThreads: cfg.threads,
            interOpThreads: 1,
          },
          batching: {
            maxBatch: 1,
            queueCapacity: 1024,
            instanceCount: args.instances,
            instanceSessions: args.instanceSessions,
          },
          warmup: false,
        },
        300_000,
      );
      const req = {
        modelId: id,
        inputs: [{ name: inputName, datatype: 'FP32', shape, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }],
      };
      const engines = {
        'ort-node': () => session.run(feeds),
        native: () => client.infer(req, 120_000),
      };
      // same answers from both (the benchmark compares like with like)
      const a = (await session.run(feeds))[session.outputNames[0]].data;
      const nOut = (await client.infer(req, 120_000)).outputs.find((o) => o.name === session.outputNames[0]);
      const b = new Float32Array(nOut.data.buffer.slice(nOut.data.byteOffset, nOut.data.byteOffset + nOut.data.byteLength));
      const diff = maxAbsDiff(a, b);
      for (const run of Object.values(engines)) for (let i = 0; i < 2; i++) await run(); // warm-up
      const perLevel = {};
      for (const users of args.concurrency) {
        const samples = { 'ort-node': [], native: [] };
        const n = users === 1 ? perRound : Math.max(users * 2, Math.round(perRound * 1.5));
        for (let r = 0; r < rounds; r++) {
          const order = r % 2 === 0 ? ['ort-node', 'native'] : ['native', 'ort-node'];
          for (const e of order) {
            const before = e === 'native' ? await computeUs(client, id) : null;
            const r = await drive(engines[e], users, n, e === 'native' ? core.proc.pid : 0);
            if (before) {
              const after = await computeUs(client, id);
              r.coreComputeMs = (after.sum - before.sum) / 1000;
              r.coreRuns = after.count - before.count;
            }
            samples[e].push(r);
          }
        }
        const ortS = summary(samples['ort-node'], cfg.batch);
        const natS = summary(samples.native, cfg.batch);
        // the same ratios per round (each round's two halves ran back to back), then their median:
        // a burst of background load that hits one round moves it less than the pooled numbers
        const byRound = samples.native.map((nat, r) => {
          const [o, n] = [summary([samples['ort-node'][r]], cfg.batch), summary([nat], cfg.batch)];
          return { p50: n.p50Ms / o.p50Ms, throughput: n.throughput / o.throughput };
        });
        const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
        perLevel[`c${users}`] = {
          'ort-node': ortS,
          native: natS,
          p50Ratio: round(natS.p50Ms / ortS.p50Ms, 3),
          throughputRatio: round(natS.throughput / ortS.throughput, 3),
          perRound: {
            p50Ratios: byRound.map((x) => round(x.p50, 3)),
            throughputRatios: byRound.map((x) => round(x.throughput, 3)),
            p50RatioMedian: round(median(byRound.map((x) => x.p50)), 3),
            throughputRatioMedian: round(median(byRound.map((x) => x.throughput)), 3),
          },
          loadavg: round(os.loadavg()[0], 2),
        };
      }
      const c1 = perLevel.c1;
      const result = {
        ...cfg,
        model: path.relative(ROOT, modelPath),
        outputMaxAbsDiff: diff,
        concurrency: perLevel,
        targets: {
          p50: { limit: 1.05, value: c1?.p50Ratio ?? null, pass: c1 ? c1.p50Ratio <= 1.05 : null },
          throughput: {
            limit: 1.0,
            values: Object.fromEntries(Object.entries(perLevel).map(([k, v]) => [k, v.throughputRatio])),
            pass: Object.values(perLevel).every((v) => v.throughputRatio >= 1.0),
          },
        },
      };
      results.push(result);
      console.log(
        `${cfg.id}: p50 c1 ort ${c1?.['ort-node'].p50Ms} ms native ${c1?.native.p50Ms} ms (x${c1?.p50Ratio}, per-round median x${c1?.perRound.p50RatioMedian}); ` +
          `throughput ratios ${JSON.stringify(result.targets.throughput.values)}; max |diff| ${diff}; load ${os.loadavg()[0].toFixed(1)}`,
      );
      await client.unloadModel({ id }, 30_000);
      await session.release();
    }
  } finally {
    fastPath = client.fastPathStats();
    client.close();
    await stopCore(core);
  }
  const doc = {
    benchmark: 'native-vs-ort',
    model: args.model,
    inputShape: prep.shape,
    transport: args.transport,
    instances: args.instances,
    instanceSessions: args.instanceSessions || 'core default',
    coreEnvironment: Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k === 'CVP_SESSION_CONFIG' || k === 'CVP_MALLOC_TUNING'),
    ),
    started,
    finished: new Date().toISOString(),
    method:
      'one Node process: onnxruntime-node session in process vs cvp-core over gRPC through libs/native-client; ' +
      `alternating rounds (${rounds} per concurrency level, order flipped each round), closed-loop callers; ` +
      'throughput = requests x batch / wall time; p50 over every latency of the level',
    environment: {
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      loadavgBefore: load0.map((x) => round(x, 2)),
      loadavgAfter: os.loadavg().map((x) => round(x, 2)),
      node: process.version,
      onnxruntimeNode: require('onnxruntime-node/package.json').version,
    },
    skippedVariants: prep.skipped,
    configurations: results,
    fastPath,
    allPass: results.every((r) => r.targets.p50.pass && r.targets.throughput.pass),
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(`${out}.tmp`, JSON.stringify(doc, null, 2) + '\n');
  fs.renameSync(`${out}.tmp`, out);
  console.log(`[native-vs-ort] wrote ${path.relative(ROOT, out)}; all targets met: ${doc.allPass}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`[native-vs-ort] ${e.stack || e.message}`);
    process.exit(1);
  });
}

// shared with native/bench/profile-fast-path.js and native/bench/spinning-ab.js
module.exports = { requireTs, prepareModels, startCore, stopCore, percentile, round, cpuMsOf, ROOT };
