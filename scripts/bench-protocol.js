#!/usr/bin/env node
'use strict';
/**
 * The optimization protocol (apps/bench) on a yolov8n with learned weights, on this machine's CPU,
 * with the default options and its labelled data set attached: accuracy = mAP@0.5 on held-out
 * images (with a bootstrap bound), INT8 calibrated on the data set's images, steps 6, 8 and 9 on a
 * real data plane (scratch deployments, HTTP load). Writes bench/results/protocol-yolov8n.json and
 * checks the platform's targets:
 *   selected p50 <= 0.6 x baseline p50; the selection's accuracy assessable and within the default
 *   threshold; whole protocol <= 10 minutes.
 *
 *   node scripts/bench-protocol.js [--recipe shapes-demo] [--imgsz N] [--out bench/results/protocol-yolov8n.json]
 *        [--report-dir DIR] [--quick]
 *   node scripts/bench-protocol.js --model FILE.onnx [--dataset YOLO_DIR] [--trained true|false] ...
 *
 * The model: `python -m cvp_ml trained-detector --recipe <recipe>` (yolov8n trained by cvp's own
 * pipeline on its generated shapes; cached under ~/.cache/cvp/fixtures, trained once) at the
 * recipe's size unless --imgsz says otherwise. Needs python/.venv, dist/ (npx tsc -p
 * tsconfig.build.json: the data plane runs from it) and nats-server; starts its own nats-server,
 * native core and inference service on free ports with a scratch data dir, and stops them at the
 * end. --quick: tiny options, for a smoke run. Exit 0 when every target is met, 1 otherwise.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { loadRepoModule } = require('./measure-latency');
const { freePort, isPortOpen, waitFor } = require('./lib/ports');
const { startNatsServer } = require('./lib/nats-server');

const root = path.resolve(__dirname, '..');
const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--quick') args.quick = true;
  else if (a.startsWith('--')) args[a.slice(2)] = process.argv[++i];
}
const out = path.resolve(root, args.out || 'bench/results/protocol-yolov8n.json');
const log = (m) => process.stderr.write(`[bench-protocol] ${m}\n`);

const children = [];
const stoppers = [];
function startChild(cmd, argv, env, logFile) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, argv, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  fs.closeSync(fd);
  children.push(child);
  return child;
}
async function stopChildren() {
  for (const c of children.reverse()) {
    try {
      process.kill(-c.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const until = Date.now() + 8000;
  while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < until)
    await new Promise((r) => setTimeout(r, 50));
  for (const c of children)
    try {
      if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
}

/** The data plane as a platform runs it: nats-server, the native core, the inference service (from dist/). */
async function startDataPlane(work) {
  const main = path.join(root, 'dist/apps/inference/src/main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} missing: build first (npx tsc -p tsconfig.build.json)`);
  const logs = path.join(work, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const nats = await startNatsServer({ storeDir: path.join(work, 'nats'), logFile: path.join(logs, 'nats.log') });
  stoppers.push(() => nats.stop());
  const ports = { inference: await freePort(), native: await freePort() };
  const core = path.join(root, 'native/build/cvp-core');
  if (fs.existsSync(core)) {
    startChild(
      core,
      ['--host', '127.0.0.1', '--port', String(ports.native), '--log-level', 'warn'],
      {},
      path.join(logs, 'native.log'),
    );
    await waitFor(() => isPortOpen(ports.native), { timeoutMs: 20000, what: 'native core' });
  }
  // The data plane's own defaults for admission (workers, queue cap, deadline): nothing is set here.
  startChild(
    process.execPath,
    ['-r', path.join(root, 'scripts/register-paths.js'), main],
    {
      NODE_ENV: 'development',
      CVP_DATA_DIR: path.join(work, 'data'),
      CVP_NATS_URL: nats.url,
      CVP_LOG_LEVEL: 'warn',
      CVP_INFERENCE_PORT: String(ports.inference),
      CVP_NATIVE_ADDR: `127.0.0.1:${ports.native}`,
    },
    path.join(logs, 'inference.log'),
  );
  const url = `http://127.0.0.1:${ports.inference}`;
  await waitFor(
    async () => (await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(2000) })).status === 200,
    { timeoutMs: 120000, what: 'inference service' },
  );
  return { nats, url };
}

/** The trained detector of a recipe (cached by cvp_ml after its first training). */
async function trainedModel() {
  const { trainedDetector } = loadRepoModule('libs/measure/src/testing/trained-detector');
  log(`trained detector: recipe ${args.recipe || 'shapes-demo'} (cvp_ml trained-detector; trains once, then cached)`);
  const d = await trainedDetector({ recipe: args.recipe || 'shapes-demo' });
  return {
    onnx: d.onnx,
    dataDir: d.dataDir,
    imgsz: d.imgsz,
    trained: true,
    name: `yolov8n trained on ${args.recipe || 'shapes-demo'}`,
    val: d.onnxVal,
  };
}

const accuracyOf = (c) => {
  const a = c.agreement;
  if (!a) return null;
  return {
    assessable: a.assessable ?? true,
    notAssessableReason: a.notAssessableReason ?? null,
    basis: a.accuracyBasis ?? null,
    accuracyDrop: a.accuracyDrop,
    mapChange: a.mapChange,
    map50: a.map?.map50 ?? null,
    map50_95: a.map?.map50_95 ?? null,
    bound: a.bound
      ? { lower: a.bound.lower, upper: a.bound.upper, dropUpper: a.bound.dropUpper, method: a.bound.method }
      : null,
    cosine: a.cosine,
    inputs: a.inputs?.description ?? null,
    measuredOn: a.measuredOn ?? null,
  };
};

async function main() {
  const t0 = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-bench-protocol-'));
  const reportDir = path.resolve(args['report-dir'] || path.join(work, 'report'));
  let bus;
  let plane;
  try {
    const m = args.model
      ? {
          onnx: path.resolve(args.model),
          dataDir: args.dataset ? path.resolve(args.dataset) : null,
          imgsz: Number(args.imgsz || 640),
          trained: args.trained === 'true' ? true : args.trained === 'false' ? false : null,
          name: path.basename(args.model),
          val: null,
        }
      : await trainedModel();
    const imgsz = Number(args.imgsz || m.imgsz);
    const modelMs = Date.now() - t0;
    const { runProtocol } = loadRepoModule('apps/bench/src/protocol/protocol-runner');
    const { defaultProtocolOptions } = loadRepoModule('apps/bench/src/protocol/protocol-options');
    const { writeReport } = loadRepoModule('apps/bench/src/report/report-writer');
    const { DEFAULT_MAX_ACCURACY_DROP } = loadRepoModule('apps/bench/src/selection/engine-selector');
    const { acquireHostLock } = loadRepoModule('apps/bench/src/protocol/host-lock');
    const { ScratchDeploymentsPublisher } = loadRepoModule('apps/bench/src/serving/scratch-deployments.publisher');
    const { MessageBus, createLogger } = loadRepoModule('libs/platform/src');

    log('starting the data plane (nats-server, native core, inference service)');
    plane = await startDataPlane(work);
    bus = new MessageBus({
      url: plane.nats.url,
      name: 'bench-protocol',
      logger: createLogger('bench-protocol', 'warn'),
    });
    await bus.connect();
    const servingPath = new ScratchDeploymentsPublisher(bus, {
      inferenceUrl: plane.url,
      statusTimeoutMs: 15000,
      loadTimeoutMs: 300000,
      removeTimeoutMs: 30000,
    });

    // Same host lock as the bench service: a benchmark job and this script never measure at once.
    const lockFile = process.env.CVP_BENCH_LOCK_FILE || path.join(os.tmpdir(), 'cvp-bench-measure.lock');
    const release = await acquireHostLock(lockFile, 'scripts/bench-protocol.js', { waitMs: 30 * 60 * 1000 });
    process.once('exit', () => {
      // A failed run must not leave the lock behind (only ours: the pid inside says whose it is).
      try {
        if (JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid === process.pid) fs.unlinkSync(lockFile);
      } catch {
        /* released already */
      }
    });
    const options = defaultProtocolOptions(root);
    if (args.quick)
      Object.assign(options, {
        warmup: 1,
        iterations: 4,
        maxAttempts: 1,
        concurrency: [1, 2],
        concurrencyRequests: 4,
        stabilityUsers: 10,
        stabilityDurationMs: 1000,
        profileMs: 1000,
        variants: ['int8-static'],
      });
    let last = -1;
    const report = await runProtocol(
      {
        benchmarkId: `protocol-yolov8n-${imgsz}`,
        jobId: null,
        model: {
          id: 'yolov8n-trained',
          version: 1,
          name: m.name,
          task: 'detect',
          path: m.onnx,
          imgsz,
          trained: m.trained,
        },
        inputShape: [1, 3, imgsz, imgsz],
        datasetDir: m.dataDir,
        datasetFormat: m.dataDir ? 'yolo' : null,
        constraints: {},
        outDir: reportDir,
      },
      options,
      {
        servingPath,
        progress: (f, stage) => {
          const pct = Math.floor(f * 100);
          if (pct !== last) log(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${pct}% ${stage}`);
          last = pct;
        },
      },
    );
    await writeReport(reportDir, report);
    await release();
    const base = report.candidates.find((c) => c.id === report.baselineId);
    const chosen = report.candidates.find((c) => c.id === report.decision.chosenId);
    const protocolMs = report.durationMs;
    const ratio = chosen ? chosen.latency.p50Ms / base.latency.p50Ms : null;
    const chosenAcc = chosen ? accuracyOf(chosen) : null;
    const targets = {
      selectedP50AtMost60PctOfBaseline: {
        value: ratio === null ? null : Math.round(ratio * 1000) / 1000,
        limit: 0.6,
        met: ratio !== null && ratio <= 0.6,
      },
      accuracyAssessedAndWithinDefaultThreshold: {
        value: chosenAcc?.accuracyDrop ?? null,
        assessable: chosenAcc?.assessable ?? false,
        limit: DEFAULT_MAX_ACCURACY_DROP,
        met:
          !!chosenAcc &&
          chosenAcc.assessable &&
          chosenAcc.accuracyDrop !== null &&
          chosenAcc.accuracyDrop <= DEFAULT_MAX_ACCURACY_DROP,
      },
      protocolAtMost10Minutes: {
        value: Math.round(protocolMs / 1000),
        limit: 600,
        unit: 's',
        met: protocolMs <= 600000,
      },
    };
    const step = (n) => report.steps.find((s) => s.step === n);
    const result = {
      benchmark:
        'optimization protocol, yolov8n with learned weights, data set attached, steps 6/8/9 on the data plane',
      model: {
        name: m.name,
        path: path.relative(os.homedir(), m.onnx),
        imgsz,
        trained: m.trained,
        ultralyticsVal: m.val,
      },
      imgsz,
      quick: !!args.quick,
      ranAt: new Date().toISOString(),
      environment: report.environment,
      loadAverage: os.loadavg(),
      modelMs,
      protocolMs,
      settings: report.settings,
      baseline: {
        id: base.id,
        p50Ms: base.latency.p50Ms,
        p95Ms: base.latency.p95Ms,
        map: step(1).details.map ?? null,
        accuracy: step(1).details.accuracy ?? null,
      },
      selected: chosen
        ? {
            id: chosen.id,
            p50Ms: chosen.latency.p50Ms,
            p95Ms: chosen.latency.p95Ms,
            accuracy: chosenAcc,
            config: report.decision.chosen,
          }
        : null,
      speedup: report.simple.speedup,
      targets,
      allTargetsMet: Object.values(targets).every((t) => t.met),
      decisionSummary: report.decision.summary,
      accuracyPolicy: report.decision.accuracyPolicy ?? null,
      simple: report.simple,
      steps: report.steps.map((s) => ({
        step: s.step,
        name: s.name,
        status: s.status,
        durationMs: s.durationMs,
        candidates: s.candidateIds.length,
        reasons: s.reasons,
      })),
      candidates: report.candidates.map((c) => ({
        id: c.id,
        step: c.step,
        p50Ms: c.latency.p50Ms,
        p95Ms: c.latency.p95Ms,
        cv: c.latency.cv,
        unstable: c.latency.unstable,
        throughput: c.throughput,
        peakRssMb: c.peakRssMb,
        peakVramMb: c.peakVramMb,
        vramReason: c.vramReason ?? null,
        accuracy: accuracyOf(c),
      })),
      timeSplit: { stages: step(6).details.stages ?? null, served: step(6).details.served ?? null },
      cpuProfile: step(8).details.cpuProfile ?? null,
      concurrency: report.concurrency,
      stability: report.stability,
      reportDir: args['report-dir'] ? reportDir : null,
    };
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(`${out}.tmp`, JSON.stringify(result, null, 2) + '\n');
    fs.renameSync(`${out}.tmp`, out);
    process.stdout.write(
      JSON.stringify({
        out,
        protocolMs,
        baselineP50Ms: base.latency.p50Ms,
        selected: chosen?.id ?? null,
        ratio,
        selectedAccuracy: chosenAcc,
        allTargetsMet: result.allTargetsMet,
      }) + '\n',
    );
    process.exitCode = result.allTargetsMet ? 0 : 1;
  } finally {
    await bus?.close().catch(() => undefined);
    await stopChildren();
    for (const stop of stoppers.splice(0)) await stop();
    if (!args['report-dir']) fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench-protocol failed: ${e.stack || e}\n`);
  await stopChildren();
  for (const stop of stoppers.splice(0)) await stop();
  process.exit(1);
});
