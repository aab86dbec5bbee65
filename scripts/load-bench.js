#!/usr/bin/env node
'use strict';
/**
 * Load benchmark of the data plane against the raw engine and a naive server, on three model
 * shapes, interleaved in one run:
 *
 * - yolov8n 640 (compute-bound; the preset, random weights), an EfficientNet-B0 classifier (tiny
 *   1000-class output; the preset), a CRNN-style text recognizer 1x3x48x320 whose FP32 output is
 *   1.06 MB (native/bench/make_text_recognizer.py). Made once under var/bench-cache/.
 * - Contenders per shape, each a "level" of `--users` closed-loop users (default 100) for
 *   `--seconds` (and at most `--max-requests`):
 *     raw/NxT        onnxruntime-node in process, N sessions x T threads, each session looping in
 *                    its own worker thread (scripts/lib/raw-engine.js): no HTTP, no copies;
 *     cvp-ort/NxT    the data plane, engine ort-node, model instances N x T, binary tensors in and out;
 *     cvp-native/NxT the data plane, engine native (the C++ core), instanceCount N x T threads;
 *     naive          bench/baselines/naive-ort-server.js (2 sessions, raw float32 bytes in and out).
 *   Layouts NxT: 1 x cores and cores x 1 (and 2 x cores/2 from 4 cores).
 * - Rounds: every contender once per round, the order rotated each round, so each is measured
 *   next to the others under the same machine load; figures are means over rounds.
 * - One user: p50 of raw 1 x cores, cvp-ort and cvp-native at 1 x cores, the naive server, and an
 *   echo server answering bytes of the output's size (scripts/lib/echo-server.js: the time to move
 *   the request and response bytes over loopback HTTP).
 *
 * The data plane runs as the platform runs it: the compiled inference service with its default
 * admission (CVP_INFER_WORKERS 10, queue cap 256, deadline 30 s), deployments over NATS as the
 * gateway sends them, the native core as its own process. Every request sent is counted: 200,
 * 429 (queue full / deadline), other status, transport error, unanswered at the end.
 *
 *   node scripts/load-bench.js [--quick] [--shapes yolov8n,classifier,text-recognizer] [--users 100]
 *        [--seconds 15] [--rounds 2] [--one-user-seconds 6] [--engines ort-node,native]
 *        [--out bench/results/load-bench.json] [--profile DIR (the service's --cpu-prof profile)]
 *
 * Needs dist/ (npx tsc -p tsconfig.build.json), python/.venv (to make the models once) and, for
 * the native engine, native/build/cvp-core. Every wait is bounded; every process is stopped at the end.
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { connect, StringCodec } = require('nats');
const { freePort, isPortOpen, waitFor } = require('./lib/ports');
const { startNatsServer } = require('./lib/nats-server');
const { runHttpLoad, round } = require('./lib/http-load');

const ROOT = path.resolve(__dirname, '..');
const PY = path.join(ROOT, 'python/.venv/bin/python');
const CACHE = path.join(ROOT, 'var/bench-cache');
const log = (m) => process.stdout.write(`[load-bench] ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The data plane's request deadline: the platform default unless this environment sets one. */
const DEADLINE_MS = Number(process.env.CVP_INFER_DEADLINE_MS || 30_000);

const SHAPES = {
  yolov8n: {
    what: 'yolov8n 640 detector (compute-bound), untrained preset',
    input: [1, 3, 640, 640],
    make: (dir) => [PY, ['-m', 'cvp_ml', 'preset', '--name', 'yolov8n', '--out', dir], path.join(ROOT, 'python')],
  },
  classifier: {
    what: 'EfficientNet-B0 classifier, 1000-class output (4 KB), untrained preset',
    input: [1, 3, 224, 224],
    make: (dir) => [
      PY,
      ['-m', 'cvp_ml', 'preset', '--name', 'efficientnet_b0', '--out', dir],
      path.join(ROOT, 'python'),
    ],
  },
  'text-recognizer': {
    what: 'CRNN-style text recognizer, input 1x3x48x320, FP32 output [1, 40, 6625] (1.06 MB), seeded weights',
    input: [1, 3, 48, 320],
    make: (dir) => [PY, [path.join(ROOT, 'native/bench/make_text_recognizer.py'), '--out', dir], ROOT],
  },
};

function parseArgs(argv) {
  const a = {
    quick: false,
    shapes: Object.keys(SHAPES),
    users: 100,
    seconds: 15,
    rounds: 2,
    oneUserSeconds: 6,
    maxRequests: 20_000,
    engines: ['ort-node', 'native'],
    out: path.join(ROOT, 'bench/results/load-bench.json'),
    /** A folder: the inference service runs under node --cpu-prof and writes its profile there. */
    profile: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--quick') a.quick = true;
    else if (k === '--shapes') a.shapes = v().split(',');
    else if (k === '--users') a.users = Number(v());
    else if (k === '--seconds') a.seconds = Number(v());
    else if (k === '--rounds') a.rounds = Number(v());
    else if (k === '--one-user-seconds') a.oneUserSeconds = Number(v());
    else if (k === '--max-requests') a.maxRequests = Number(v());
    else if (k === '--engines') a.engines = v().split(',');
    else if (k === '--out') a.out = path.resolve(v());
    else if (k === '--profile') a.profile = path.resolve(v());
    else if (k === '--help' || k === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (a.quick) {
    if (!argv.includes('--seconds')) a.seconds = 5;
    if (!argv.includes('--rounds')) a.rounds = 1;
    if (!argv.includes('--one-user-seconds')) a.oneUserSeconds = 3;
  }
  for (const s of a.shapes) if (!SHAPES[s]) throw new Error(`unknown shape ${s}; one of ${Object.keys(SHAPES)}`);
  for (const e of a.engines) if (!['ort-node', 'native'].includes(e)) throw new Error(`unknown engine ${e}`);
  if (!(a.seconds > 0 && a.seconds <= 600)) throw new Error('--seconds must be in (0, 600]');
  if (!(Number.isInteger(a.rounds) && a.rounds >= 1 && a.rounds <= 10)) throw new Error('--rounds must be 1..10');
  if (!(Number.isInteger(a.users) && a.users >= 1 && a.users <= 2000)) throw new Error('--users must be 1..2000');
  return a;
}

/** The model file of a shape, made once with its generator. */
function modelOf(shape) {
  const dir = path.join(CACHE, shape);
  const onnx = path.join(dir, 'model.onnx');
  if (fs.existsSync(onnx)) return onnx;
  if (!fs.existsSync(PY)) throw new Error(`${PY} missing: set up the python venv (npm start bootstraps it)`);
  const [cmd, args, cwd] = SHAPES[shape].make(dir);
  log(`making ${shape}: ${path.relative(ROOT, cmd)} ${args.map((x) => path.relative(ROOT, x) || x).join(' ')}`);
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0 || !fs.existsSync(onnx))
    throw new Error(`making ${shape} failed (${r.status}): ${(r.stderr || '').slice(-2000)}`);
  return onnx;
}

/** Seeded input bytes of a shape (the same for every contender). */
function inputBytes(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) % 1000) / 1000;
  return Buffer.from(data.buffer);
}

/** A KServe v2 binary-tensor request: JSON header, then the tensor bytes; the output asked for in binary. */
function kserveRequest(inputName, shape, outputName, bytes) {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: inputName, datatype: 'FP32', shape, parameters: { binary_data_size: bytes.length } }],
      outputs: [{ name: outputName, parameters: { binary_data: true } }],
    }),
  );
  return {
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([header, bytes]),
  };
}

/**
 * Children stay in this process's session: with Linux's autogroup scheduling (on by default) a
 * process in a session of its own gets a CPU share of its own, and on a shared machine that would
 * hand the served contenders more CPU than the raw engine (which runs in this session) gets.
 */
const children = [];
function startChild(name, cmd, args, env, logDir) {
  const fd = fs.openSync(path.join(logDir, `${name}.log`), 'a');
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  children.push(child);
  return child;
}

/** Starts a child that prints {"port": N} on its first stdout line. */
async function startWithPort(name, cmd, args, logDir) {
  const err = fs.openSync(path.join(logDir, `${name}.log`), 'a');
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', err] });
  fs.closeSync(err);
  children.push(child);
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${name} did not start in 120 s`)), 120_000);
    child.stdout.on('data', (c) => {
      buf += c;
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) {
        clearTimeout(t);
        try {
          resolve(JSON.parse(line).port);
        } catch (e) {
          reject(e);
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  return { child, port };
}

async function stopChild(c, graceMs = 8000) {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  try {
    c.kill('SIGTERM');
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (c.exitCode === null && c.signalCode === null && Date.now() < until) await sleep(50);
  try {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  } catch {
    /* gone */
  }
}

async function stopAll() {
  for (const c of children.reverse()) await stopChild(c);
}

/** CPU time (ms) a process has used so far, all threads, from /proc. */
function processCpuMs(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // clock ticks of 10 ms (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/**
 * The data plane's garbage collections so far, from its Prometheus endpoint (prom-client's
 * nodejs_gc_duration_seconds): full mark-compacts and the time of every kind.
 */
async function gcOf(metricsUrl) {
  const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text();
  let major = 0;
  let seconds = 0;
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(count|sum)\{[^}]*\bkind="(\w+)"[^}]*\} ([\d.e+-]+)$/gm)) {
    if (m[1] === 'count' && m[2] === 'major') major += Number(m[3]);
    if (m[1] === 'sum') seconds += Number(m[3]);
  }
  return { major, seconds };
}

/**
 * Runs an HTTP level and says what CPU it cost per answered request: the servers' processes and
 * this one (the load generator): on a machine that is shared, CPU per inference is the figure
 * other work moves least. With a metrics URL (the data plane), also its garbage collections.
 */
async function measuredHttpLevel(servers, load, metricsUrl) {
  const g0 = metricsUrl ? await gcOf(metricsUrl) : undefined;
  const s0 = servers.map(processCpuMs);
  const c0 = process.cpuUsage();
  const r = await runHttpLoad(load);
  const c = process.cpuUsage(c0);
  const serverMs = servers.map((pid, i) => processCpuMs(pid) - s0[i]).reduce((a, b) => a + b, 0);
  const loadgenMs = (c.user + c.system) / 1000;
  const n = Math.max(1, r.ok);
  const g1 = metricsUrl ? await gcOf(metricsUrl) : undefined;
  return {
    ...r,
    cpuMsPerInference: round((serverMs + loadgenMs) / n, 2),
    serverCpuMsPerInference: round(serverMs / n, 2),
    loadgenCpuMsPerInference: round(loadgenMs / n, 2),
    ...(g0 && g1
      ? {
          gcMajor: g1.major - g0.major,
          gcMajorPer100: round(((g1.major - g0.major) * 100) / n, 2),
          gcMsPerInference: round(((g1.seconds - g0.seconds) * 1000) / n, 2),
        }
      : {}),
  };
}

/** A served model's KServe statistics (cumulative counts and nanoseconds per stage). */
async function statsOf(inferenceUrl, model) {
  const r = await fetch(`${inferenceUrl}/v2/models/${model}/stats`, { signal: AbortSignal.timeout(10_000) });
  return (await r.json()).model_stats[0].inference_stats;
}

/**
 * Where the server's time per request went between two statistics: its whole handling (from the
 * request's headers to the response handed to the socket), the admission queue, the engine's
 * stages, and the rest (reading the body, encoding and writing the response).
 */
function stagesBetween(a, b) {
  const avg = (k) => {
    const n = b[k].count - a[k].count;
    return n > 0 ? round((b[k].ns - a[k].ns) / n / 1e6) : null;
  };
  const out = {
    requests: b.success.count - a.success.count,
    handledMs: avg('success'),
    queueMs: avg('queue'),
    inputMs: avg('compute_input'),
    inferMs: avg('compute_infer'),
    outputMs: avg('compute_output'),
  };
  out.restMs = round(out.handledMs - out.queueMs - out.inputMs - out.inferMs - out.outputMs);
  return out;
}

/** The raw engine as its own process for one level. */
function rawLevel(model, shape, layout, seconds, maxRuns) {
  return new Promise((resolve, reject) => {
    const req = { model, shape, instances: layout.instances, threads: layout.threads, seconds, maxRuns };
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts/lib/raw-engine.js'), JSON.stringify(req)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err = (err + c).slice(-2000)));
    const t = setTimeout(() => child.kill('SIGKILL'), (seconds + 180) * 1000);
    child.once('exit', (code) => {
      clearTimeout(t);
      try {
        const r = JSON.parse(out.trim().split('\n').pop());
        if (r.error) return reject(new Error(r.error));
        resolve(r);
      } catch {
        reject(new Error(`raw engine exited ${code}: ${err}`));
      }
    });
  });
}

const layoutsFor = (cores) => {
  const l = [
    { instances: 1, threads: cores },
    { instances: cores, threads: 1 },
  ];
  if (cores >= 4) l.push({ instances: 2, threads: Math.floor(cores / 2) });
  return l.filter((x, i, a) => a.findIndex((y) => y.instances === x.instances && y.threads === x.threads) === i);
};
const layoutName = (l) => `${l.instances}x${l.threads}`;

/** Deploys over NATS as the gateway does and waits (bounded) for the data plane to say ready. */
async function deploy(nc, inferenceUrl, ev, timeoutMs = 600_000) {
  const sc = StringCodec();
  nc.publish('cvp.deployments.changed', sc.encode(JSON.stringify({ schemaVersion: 1, ...ev })));
  await waitFor(
    async () => {
      if (ev.action === 'undeploy') return (await fetch(`${inferenceUrl}/v2/models/${ev.modelName}`)).status === 404;
      const r = await fetch(`${inferenceUrl}/v2/models/${ev.modelName}/ready`).catch(() => undefined);
      return r?.status === 200;
    },
    { timeoutMs, intervalMs: 250, what: `${ev.action} ${ev.modelName}` },
  );
}

function mean(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? round(v.reduce((a, b) => a + b, 0) / v.length) : null;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const cores = os.cpus().length;
  const layouts = layoutsFor(cores);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-load-bench-'));
  const logDir = path.join(work, 'logs');
  fs.mkdirSync(logDir);
  const startedAt = new Date().toISOString();
  const loadAt = { start: os.loadavg().map((v) => round(v, 2)) };
  let nats;
  let nc;
  const report = { shapes: {} };
  try {
    const models = Object.fromEntries(args.shapes.map((s) => [s, modelOf(s)]));
    for (const f of ['dist/apps/inference/src/main.js', 'scripts/register-paths.js'])
      if (!fs.existsSync(path.join(ROOT, f)))
        throw new Error(`${f} missing: build first (npx tsc -p tsconfig.build.json)`);
    const coreBin = path.join(ROOT, 'native/build/cvp-core');
    const engines = args.engines.filter((e) => e !== 'native' || fs.existsSync(coreBin));
    if (engines.length !== args.engines.length) log(`native core not built (${coreBin}): engine native left out`);

    nats = await startNatsServer({ storeDir: path.join(work, 'nats'), logFile: path.join(logDir, 'nats.log') });
    const ports = { inference: await freePort(), native: await freePort() };
    let core;
    if (engines.includes('native')) {
      core = startChild(
        'native',
        coreBin,
        ['--host', '127.0.0.1', '--port', String(ports.native), '--log-level', 'warn'],
        {},
        logDir,
      );
      await waitFor(() => isPortOpen(ports.native), { timeoutMs: 20000, what: 'native core' });
    }
    // The platform's defaults for admission; only the addresses are the run's own.
    const inference = startChild(
      'inference',
      process.execPath,
      [
        ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : []),
        '-r',
        path.join(ROOT, 'scripts/register-paths.js'),
        path.join(ROOT, 'dist/apps/inference/src/main.js'),
      ],
      {
        NODE_ENV: 'development',
        CVP_DATA_DIR: path.join(work, 'data'),
        CVP_NATS_URL: nats.url,
        CVP_LOG_LEVEL: 'warn',
        CVP_HOST: '127.0.0.1',
        CVP_INFERENCE_PORT: String(ports.inference),
        CVP_NATIVE_ADDR: `127.0.0.1:${ports.native}`,
      },
      logDir,
    );
    const inferenceUrl = `http://127.0.0.1:${ports.inference}`;
    await waitFor(async () => (await fetch(`${inferenceUrl}/v2/health/live`).catch(() => undefined))?.status === 200, {
      timeoutMs: 120_000,
      what: 'inference service',
    });
    nc = await connect({ servers: nats.url, timeout: 5000 });

    for (const shapeName of args.shapes) {
      const shape = SHAPES[shapeName];
      const model = models[shapeName];
      log(`=== ${shapeName}: ${shape.what}`);
      const bytes = inputBytes(shape.input);

      // Deploy every (engine, layout) of this shape; learn its input and output names.
      const deployments = [];
      for (const engine of engines)
        for (const layout of layouts) {
          const name = `${shapeName}-${engine}-${layoutName(layout)}`;
          await deploy(nc, inferenceUrl, {
            action: 'deploy',
            deploymentId: `lb-${name}`,
            modelName: name,
            config: {
              engine,
              modelPath: model,
              options: {
                provider: 'cpu',
                precision: 'fp32',
                graphOptimization: 'all',
                threads: layout.threads,
                instances: layout.instances,
                maxBatch: 1,
              },
            },
          });
          deployments.push({ name, engine, layout });
        }
      const meta = await (await fetch(`${inferenceUrl}/v2/models/${deployments[0].name}`)).json();
      const inputName = meta.inputs[0].name;
      const output = meta.outputs[0];
      const req = kserveRequest(inputName, shape.input, output.name, bytes);
      // One answer each way: the path works and every output has the size the raw engine gives.
      let outputBytes;
      for (const d of deployments) {
        const r = await fetch(`${inferenceUrl}/v2/models/${d.name}/infer`, { method: 'POST', ...req });
        if (r.status !== 200) throw new Error(`${d.name}: ${r.status} ${await r.text()}`);
        const b = Buffer.from(await r.arrayBuffer());
        const head = Number(r.headers.get('inference-header-content-length'));
        outputBytes ??= b.length - head;
        if (b.length - head !== outputBytes)
          throw new Error(`${d.name}: output of ${b.length - head} bytes, expected ${outputBytes}`);
      }
      const naive = await startWithPort(
        `naive-${shapeName}`,
        process.execPath,
        [
          path.join(ROOT, 'bench/baselines/naive-ort-server.js'),
          '--model',
          model,
          '--shape',
          shape.input.join(','),
          '--sessions',
          '2',
        ],
        logDir,
      );
      const echo = await startWithPort(
        `echo-${shapeName}`,
        process.execPath,
        [path.join(ROOT, 'scripts/lib/echo-server.js'), '--bytes', String(outputBytes)],
        logDir,
      );
      const naiveUrl = `http://127.0.0.1:${naive.port}/`;
      // Stragglers get longer than the deadline, so one queued at the window's end is answered
      // (200 or 429 deadline) rather than cut off and counted unanswered.
      const httpLevel = (servers, url, body, headers, users, seconds, expectBytes, metricsUrl) =>
        measuredHttpLevel(
          servers.map((c) => c.pid),
          {
            url,
            body,
            headers,
            users,
            seconds,
            maxRequests: args.maxRequests,
            expectBytes,
            graceMs: DEADLINE_MS + 10_000,
          },
          metricsUrl,
        );
      const contenders = [
        ...layouts.map((l) => ({
          id: `raw/${layoutName(l)}`,
          run: (users, seconds) => rawLevel(model, shape.input, l, seconds, args.maxRequests),
        })),
        ...deployments.map((d) => ({
          id: `cvp-${d.engine === 'ort-node' ? 'ort' : 'native'}/${layoutName(d.layout)}`,
          model: d.name,
          run: (users, seconds) =>
            httpLevel(
              d.engine === 'native' ? [inference, core] : [inference],
              `${inferenceUrl}/v2/models/${d.name}/infer`,
              req.body,
              req.headers,
              users,
              seconds,
              undefined,
              `${inferenceUrl}/metrics`,
            ),
        })),
        {
          id: 'naive',
          run: (users, seconds) =>
            httpLevel(
              [naive.child],
              naiveUrl,
              bytes,
              { 'content-type': 'application/octet-stream' },
              users,
              seconds,
              outputBytes,
            ),
        },
      ];
      // The bytes alone: the same request and an answer of the output's size, nothing computed. At
      // one user it is the transport time in the latency budget; at 100 users its CPU per request
      // (server and load generator) bounds what any HTTP server on these cores can reach.
      const transport = {
        id: 'transport',
        run: (users, seconds) =>
          httpLevel([echo.child], `http://127.0.0.1:${echo.port}/`, req.body, req.headers, users, seconds, outputBytes),
      };
      contenders.push(transport);
      const latencyLayout = layoutName(layouts[0]);
      const oneUser = [...contenders.filter((c) => c.id.endsWith(`/${latencyLayout}`) || c.id === 'naive'), transport];

      // A level of one contender; for the data plane, also where its time went (its statistics).
      const runLevel = async (c, users, seconds) => {
        const s0 = c.model ? await statsOf(inferenceUrl, c.model) : undefined;
        const res = await c.run(users, seconds);
        const server = s0 ? stagesBetween(s0, await statsOf(inferenceUrl, c.model)) : undefined;
        return { res, server };
      };
      const results = {};
      const ones = {};
      for (let r = 0; r < args.rounds; r++) {
        const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
        for (const c of order) {
          const { res, server } = await runLevel(c, args.users, args.seconds);
          (results[c.id] ??= []).push({
            round: r + 1,
            loadavg: round(os.loadavg()[0], 2),
            ...res,
            ...(server ? { server } : {}),
          });
          log(
            `${shapeName} round ${r + 1} ${c.id.padEnd(16)} ${String(res.throughput).padStart(8)} /s` +
              (res.sent !== undefined
                ? `  sent ${res.sent} ok ${res.ok} 429 ${res.status429} other ${res.otherStatus} err ${res.errors} unanswered ${res.unanswered}  p50 ${res.latencyMs.p50} ms`
                : `  p50 ${res.p50Ms} ms`) +
              `  cpu/inf ${res.cpuMsPerInference} ms` +
              (res.gcMajor !== undefined ? `  major GCs ${res.gcMajor}` : '') +
              (server ? `  engine ${server.inferMs} ms/req` : '') +
              `  (load ${os.loadavg()[0].toFixed(2)})`,
          );
        }
        const order1 = oneUser.map((_, i) => oneUser[(i + r) % oneUser.length]);
        for (const c of order1) {
          const { res, server } = await runLevel(c, 1, args.oneUserSeconds);
          (ones[c.id] ??= []).push({ round: r + 1, ...res, ...(server ? { server } : {}) });
          log(`${shapeName} round ${r + 1} 1 user ${c.id.padEnd(16)} p50 ${res.p50Ms ?? res.latencyMs.p50} ms`);
        }
      }
      await stopChild(naive.child);
      await stopChild(echo.child);
      for (const d of deployments)
        await deploy(nc, inferenceUrl, { action: 'undeploy', deploymentId: `lb-${d.name}`, modelName: d.name });
      report.shapes[shapeName] = summarize(shapeName, shape, model, outputBytes, layouts, results, ones, args);
    }
    loadAt.end = os.loadavg().map((v) => round(v, 2));
    const out = {
      benchmark: 'load-bench: data plane vs raw onnxruntime-node vs a naive server, three model shapes',
      startedAt,
      finishedAt: new Date().toISOString(),
      mode: args.quick ? 'quick' : 'full',
      settings: {
        users: args.users,
        secondsPerLevel: args.seconds,
        rounds: args.rounds,
        oneUserSeconds: args.oneUserSeconds,
        maxRequestsPerLevel: args.maxRequests,
        layouts: layouts.map(layoutName),
        admission: `platform defaults: CVP_INFER_WORKERS 10, CVP_INFER_QUEUE_CAP 256, CVP_INFER_DEADLINE_MS ${DEADLINE_MS}`,
        heapGrowthPercent: process.env.CVP_INFER_HEAP_GROWTH_PERCENT ?? 'platform default (400)',
        requests:
          'cvp: POST /v2/models/<m>/infer, binary tensor extension in and out; naive: raw float32 bytes in, the first output raw out; raw: session.run on the same input',
      },
      environment: {
        cpus: cores,
        cpuModel: os.cpus()[0]?.model,
        totalMemMb: Math.round(os.totalmem() / 2 ** 20),
        loadavg: loadAt,
        node: process.version,
        onnxruntimeNode: require('onnxruntime-node/package.json').version,
        platform: `${os.platform()} ${os.release()}`,
      },
      ...report,
    };
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    const tmp = `${args.out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`);
    fs.renameSync(tmp, args.out);
    log(`wrote ${path.relative(ROOT, args.out)}`);
    for (const [s, r] of Object.entries(report.shapes)) log(`${s}: ${JSON.stringify(r.verdict)}`);
  } catch (e) {
    log(`FAILED: ${e.stack ?? e.message}; logs in ${logDir}`);
    process.exitCode = 1;
  } finally {
    await nc?.close().catch(() => undefined);
    await stopAll();
    await nats?.stop();
    if (process.exitCode !== 1) fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Per contender: the mean over rounds; ratios to the raw engine's best and to the naive server. */
function summarize(shapeName, shape, model, outputBytes, layouts, results, ones, args) {
  const contenders = {};
  for (const [id, runs] of Object.entries(results)) {
    contenders[id] = {
      throughput: mean(runs.map((r) => r.throughput)),
      p50Ms: mean(runs.map((r) => r.p50Ms ?? r.latencyMs?.p50)),
      p95Ms: mean(runs.map((r) => r.p95Ms ?? r.latencyMs?.p95)),
      cpuMsPerInference: mean(runs.map((r) => r.cpuMsPerInference)),
      // The data plane's engine time per request at this load (its KServe statistics).
      ...(runs[0].server ? { engineInferMs: mean(runs.map((r) => r.server.inferMs)) } : {}),
      ...(runs[0].gcMajorPer100 === undefined
        ? {}
        : {
            gcMajorPer100: mean(runs.map((r) => r.gcMajorPer100)),
            gcMsPerInference: mean(runs.map((r) => r.gcMsPerInference)),
          }),
      counts:
        runs[0].sent === undefined
          ? undefined
          : ['sent', 'ok', 'status429', 'queueFull', 'deadline', 'otherStatus', 'errors', 'unanswered'].reduce(
              (o, k) => ({ ...o, [k]: runs.reduce((s, r) => s + r[k], 0) }),
              {},
            ),
      rounds: runs,
    };
  }
  const raws = Object.entries(contenders).filter(([id]) => id.startsWith('raw/'));
  const [rawBestId, rawBest] = raws.sort((a, b) => b[1].throughput - a[1].throughput)[0];
  const ratio = (x) => round(x / rawBest.throughput);
  // The CPU cores serve the engine, the transport and the load generator alike, so no server moving
  // these bytes over loopback HTTP can exceed raw CPU / (raw CPU + the echo's CPU) of the raw best.
  const transportCpuMs = contenders.transport?.cpuMsPerInference;
  const transportCeiling =
    transportCpuMs === undefined
      ? null
      : round(rawBest.cpuMsPerInference / (rawBest.cpuMsPerInference + transportCpuMs));
  const rawMeanMs = (layout) =>
    (1000 * Number(layout.split('x')[0])) / (contenders[`raw/${layout}`]?.throughput ?? NaN);
  const engines = {};
  for (const prefix of ['cvp-ort', 'cvp-native']) {
    const own = Object.entries(contenders).filter(([id]) => id.startsWith(`${prefix}/`));
    if (!own.length) continue;
    const [bestId, best] = [...own].sort((a, b) => b[1].throughput - a[1].throughput)[0];
    const clean = own.every(
      ([, c]) => c.counts.errors === 0 && c.counts.otherStatus === 0 && c.counts.unanswered === 0,
    );
    engines[prefix] = {
      bestLayout: bestId.split('/')[1],
      throughput: best.throughput,
      ratioToRawBest: ratio(best.throughput),
      sameLayoutAsRawBest: contenders[`${prefix}/${rawBestId.split('/')[1]}`]?.throughput ?? null,
      ratioAtRawBestLayout: ratio(contenders[`${prefix}/${rawBestId.split('/')[1]}`]?.throughput ?? NaN),
      ratioToNaive: round(best.throughput / contenders.naive.throughput),
      ratioToTransportCeiling: transportCeiling ? round(best.throughput / rawBest.throughput / transportCeiling) : null,
      // session.run's mean time per request in the data plane at this load, over the raw engine's
      // at the same layout (each of its N instances loops, so N / throughput): how much the engine
      // itself slows down sharing the cores with HTTP.
      engineInferMs: best.engineInferMs ?? null,
      engineSlowdown: round((best.engineInferMs ?? NaN) / rawMeanMs(bestId.split('/')[1])),
      zeroErrorsBesides429: clean,
    };
  }
  const one = {};
  for (const [id, runs] of Object.entries(ones)) one[id] = mean(runs.map((r) => r.p50Ms ?? r.latencyMs?.p50));
  const stages = {};
  for (const [id, runs] of Object.entries(ones)) {
    const withServer = runs.filter((r) => r.server);
    if (!withServer.length) continue;
    stages[id] = Object.fromEntries(
      Object.keys(withServer[0].server).map((k) => [k, mean(withServer.map((r) => r.server[k]))]),
    );
  }
  const latencyLayout = layoutName(layouts[0]);
  const budget = (one[`raw/${latencyLayout}`] ?? NaN) + 1 + (one.transport ?? NaN);
  return {
    model: { what: shape.what, path: path.relative(ROOT, model), input: shape.input, outputBytes },
    contenders,
    rawBest: { layout: rawBestId.split('/')[1], throughput: rawBest.throughput },
    transportCeiling: {
      ratio: transportCeiling,
      rawCpuMsPerInference: rawBest.cpuMsPerInference,
      transportCpuMsPerRequest: transportCpuMs ?? null,
      how: `raw best CPU per inference / (that + CPU per request of the echo server at ${args.users} users, server and load generator): the share of the raw engine's throughput left to a server that moves these bytes over loopback HTTP and computes nothing else, on the same cores`,
    },
    engines,
    oneUser: {
      p50Ms: one,
      layout: latencyLayout,
      budgetMs: round(budget),
      // Means per request, from the service's own statistics during the one-user levels.
      serverStagesMs: stages,
      how: `served p50 at one user <= raw p50 (${latencyLayout}, one caller) + 1 ms + the transport p50 (an echo server answering ${outputBytes} bytes to the same request over loopback HTTP)`,
    },
    verdict: {
      ...Object.fromEntries(
        Object.entries(engines).map(([k, e]) => [
          k,
          {
            atLeast90PctOfRawBest: e.ratioToRawBest >= 0.9,
            ratioToRawBest: e.ratioToRawBest,
            ratioToNaive: e.ratioToNaive,
            transportCeiling,
            zeroErrorsBesides429: e.zeroErrorsBesides429,
            oneUserWithinBudget: (one[`${k}/${latencyLayout}`] ?? Infinity) <= budget,
          },
        ]),
      ),
      ...(shapeName === 'text-recognizer'
        ? { atLeast1_5xNaive: Object.values(engines).some((e) => e.ratioToNaive >= 1.5) }
        : {}),
    },
    users: args.users,
  };
}

if (require.main === module) {
  process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));
  void main();
}

module.exports = { parseArgs, layoutsFor, kserveRequest };
