#!/usr/bin/env node
'use strict';
/**
 * Tuning scale-out benchmark: the same trial budget (same strategy, seed, data set and
 * trials, so the same hyperparameters) with 1 GPU token and with 2 tokens; wall-clock ratio
 * t(2 tokens) / t(1 token), target <= 0.6.
 *
 * Runs the real path: a nats-server, the compiled gateway (its GPU lease service with
 * CVP_GPU_TOKENS=N), the python coordinator with --parallel N, and every trial wrapped by
 * trainer-bridge's trial-lease-wrapper (each trial holds its own lease). Needs `npx tsc -p
 * tsconfig.build.json` and python/.venv (both made by the bootstrap).
 *
 *   node scripts/tune-scaling.js [--trials 4] [--epochs 1] [--imgsz 32] [--images 8]
 *        [--strategy random] [--threads 1] [--out bench/results/tune-scaling.json]
 */
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNatsServer } = require('./lib/nats-server');
const { freePort } = require('./lib/ports');

const root = path.resolve(__dirname, '..');
const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const opt = {
  trials: Number(args.trials ?? 4),
  epochs: Number(args.epochs ?? 1),
  imgsz: Number(args.imgsz ?? 32),
  images: Number(args.images ?? 8),
  strategy: args.strategy ?? 'random',
  threads: Number(args.threads ?? 1),
  out: path.resolve(root, args.out ?? 'bench/results/tune-scaling.json'),
};
const PYTHON = path.resolve(root, process.env.CVP_PYTHON ?? 'python/.venv/bin/python');
const GATEWAY = path.join(root, 'dist/apps/gateway/src/main.js');
const WRAPPER = path.join(root, 'dist/apps/trainer-bridge/src/tune/trial-lease-wrapper.js');
const REGISTER = path.join(root, 'scripts/register-paths.js');
const RUN_LIMIT_MS = 60 * 60_000;

for (const [what, p] of [
  ['python venv (bootstrap)', PYTHON],
  ['compiled gateway (npx tsc -p tsconfig.build.json)', GATEWAY],
  ['compiled trial wrapper (npx tsc -p tsconfig.build.json)', WRAPPER],
]) {
  if (!fs.existsSync(p)) {
    console.error(`tune-scaling: missing ${what}: ${p}`);
    process.exit(2);
  }
}

const q = (s) => (/^[A-Za-z0-9_\-./:=@%+,]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Runs a command to completion (bounded), returning stdout lines parsed as JSON where possible. */
function run(cmd, argv, env, limitMs, cwd = root) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err = (err + b).slice(-8000)));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, limitMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const lines = out
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            return { text: l };
          }
        });
      if (code !== 0)
        reject(
          new Error(
            `${path.basename(cmd)} ${argv.slice(0, 3).join(' ')} exited ${code}: ${err.split('\n').slice(-6).join('\n')}`,
          ),
        );
      else resolve(lines);
    });
  });
}

async function startGateway(natsUrl, dataDir, tokens) {
  const port = await freePort();
  const child = spawn(process.execPath, ['-r', REGISTER, GATEWAY], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'development',
      CVP_NATS_URL: natsUrl,
      CVP_DATA_DIR: dataDir,
      CVP_GATEWAY_PORT: String(port),
      CVP_LOG_LEVEL: 'warn',
      CVP_GPU_TOKENS: String(tokens),
      CVP_GPU_LEASE_BUCKET: `TUNE_SCALING_${tokens}_${Date.now()}`,
      CVP_JWT_SECRET: crypto.randomBytes(32).toString('hex'),
      CVP_ADMIN_PASSWORD: crypto.randomBytes(12).toString('hex'),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (b) => (log = (log + b).slice(-4000)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode}: ${log}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`gateway not ready in 120 s: ${log}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

function maxOverlap(intervals) {
  const ev = intervals
    .flatMap(([s, e]) => [
      [s, 1],
      [e, -1],
    ])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (cur += d));
  return max;
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-tune-scaling-'));
  const nats = await startNatsServer({ storeDir: path.join(work, 'nats'), logFile: path.join(work, 'nats.log') });
  const baseEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? work,
    LANG: 'C.UTF-8',
    YOLO_OFFLINE: 'true',
    YOLO_AUTOINSTALL: 'false',
    OMP_NUM_THREADS: String(opt.threads),
    MKL_NUM_THREADS: String(opt.threads),
    CVP_NATS_URL: nats.url,
    CVP_LEASE_TTL_MS: '10000',
  };
  const runs = [];
  try {
    const dataDir = path.join(work, 'data');
    const ds = path.join(dataDir, 'datasets', 'synth');
    await run(
      PYTHON,
      [
        '-m',
        'cvp_ml',
        'synth-dataset',
        '--kind',
        'yolo',
        '--out',
        ds,
        '--images',
        String(opt.images),
        '--imgsz',
        '64',
        '--seed',
        '0',
      ],
      { ...baseEnv, CVP_DATA_DIR: dataDir },
      300_000,
    );
    for (const tokens of [1, 2]) {
      const runDir = path.join(dataDir, `tokens-${tokens}`);
      const gw = await startGateway(nats.url, path.join(work, `gateway-${tokens}`), tokens);
      try {
        const wrapper = [process.execPath, '-r', REGISTER, WRAPPER, '--holder', `tune-scaling:tokens-${tokens}`, '--']
          .map(q)
          .join(' ');
        process.stderr.write(`tune-scaling: ${opt.trials} trials with ${tokens} token(s)...\n`);
        const t0 = Date.now();
        const lines = await run(
          PYTHON,
          [
            '-m',
            'cvp_ml',
            'tune',
            '--study',
            path.join(runDir, 'study.db'),
            '--strategy',
            opt.strategy,
            '--trials',
            String(opt.trials),
            '--parallel',
            String(tokens),
            '--model',
            'yolov8n',
            '--data',
            ds,
            '--epochs',
            String(opt.epochs),
            '--imgsz',
            String(opt.imgsz),
            '--batch',
            '8',
            '--device',
            'cpu',
            '--seed',
            '0',
            '--out',
            path.join(runDir, 'trials'),
          ],
          { ...baseEnv, CVP_DATA_DIR: dataDir, CVP_TRIAL_WRAPPER: wrapper },
          RUN_LIMIT_MS,
        );
        const wallS = (Date.now() - t0) / 1000;
        const result = lines.find((l) => l.type === 'result');
        if (!result) throw new Error(`no result line with ${tokens} tokens`);
        const leases = fs
          .readdirSync(path.join(runDir, 'trials'))
          .map((d) => JSON.parse(fs.readFileSync(path.join(runDir, 'trials', d, 'lease.json'), 'utf8')));
        runs.push({
          tokens,
          parallel: tokens,
          wallS: Math.round(wallS * 10) / 10,
          completed: result.completed,
          failed: result.failed,
          trialDurationsS: result.trials.map((t) => t.duration_s),
          maxConcurrentLeases: maxOverlap(leases.map((l) => [Date.parse(l.grantedAt), Date.parse(l.releasedAt)])),
          params: result.trials.map((t) => t.params),
        });
      } finally {
        await gw.stop();
      }
    }
  } finally {
    await nats.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const [one, two] = runs;
  const ratio = Math.round((two.wallS / one.wallS) * 1000) / 1000;
  const samePlan = JSON.stringify(one.params) === JSON.stringify(two.params);
  const report = {
    benchmark: 'tune-scaling',
    issue: '#8',
    date: new Date().toISOString(),
    budget: {
      strategy: opt.strategy,
      trials: opt.trials,
      epochs: opt.epochs,
      imgsz: opt.imgsz,
      images: opt.images,
      device: 'cpu',
      threadsPerTrial: opt.threads,
      seed: 0,
    },
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      loadavgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    runs: runs.map(({ params, ...r }) => r),
    sameHyperparameters: samePlan,
    ratio,
    target: 0.6,
    met: ratio <= 0.6,
    note:
      'ratio = wall-clock with 2 tokens / with 1 token for the same trials. On a CPU-only machine the trials compete for cores, so the ratio ' +
      'depends on free cores (and on other load: see loadavgAtEnd); on a GPU machine each token is a GPU slot.',
  };
  fs.mkdirSync(path.dirname(opt.out), { recursive: true });
  fs.writeFileSync(`${opt.out}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  fs.renameSync(`${opt.out}.tmp`, opt.out);
  console.log(
    JSON.stringify({ ratio, met: report.met, wallS: runs.map((r) => r.wallS), out: path.relative(root, opt.out) }),
  );
}

main().catch((e) => {
  console.error(`tune-scaling failed: ${e.stack ?? e}`);
  process.exit(1);
});
