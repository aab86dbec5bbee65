#!/usr/bin/env node
'use strict';
/**
 * The optimization protocol (apps/bench) on yolov8n at 640 on this machine's CPU, with the
 * default options; writes bench/results/protocol-yolov8n.json and checks the platform's targets:
 *   selected p50 <= 0.6 x baseline p50; accuracy agreement within the default threshold;
 *   whole protocol <= 10 minutes.
 *   node scripts/bench-protocol.js [--model FILE.onnx] [--imgsz 640] [--out bench/results/protocol-yolov8n.json]
 *        [--report-dir DIR] [--quick]   (--quick: tiny options, for a smoke run)
 * Exit 0 when every target is met, 1 otherwise.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { loadMeasure } = require('./measure-latency');

const root = path.resolve(__dirname, '..');
const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--quick') args.quick = true;
  else if (a.startsWith('--')) args[a.slice(2)] = process.argv[++i];
}
const imgsz = Number(args.imgsz || 640);
const out = path.resolve(root, args.out || 'bench/results/protocol-yolov8n.json');

function makePreset(dir) {
  const py = path.join(root, 'python/.venv/bin/python');
  if (!fs.existsSync(py)) throw new Error(`python venv missing at ${py}: run the bootstrap first`);
  execFileSync(py, ['-m', 'cvp_ml', 'preset', '--name', 'yolov8n', '--out', dir, '--imgsz', String(imgsz)], {
    cwd: path.join(root, 'python'),
    env: { ...process.env, PYTHONPATH: path.join(root, 'python') },
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600000,
  });
  return path.join(dir, 'model.onnx');
}

async function main() {
  const t0 = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-bench-protocol-'));
  const reportDir = path.resolve(args['report-dir'] || path.join(work, 'report'));
  try {
    const model = args.model ? path.resolve(args.model) : makePreset(path.join(work, 'preset'));
    const presetMs = Date.now() - t0;
    const { runProtocol } = loadMeasure('apps/bench/src/protocol/protocol-runner');
    const { defaultProtocolSettings } = loadMeasure('apps/bench/src/protocol/protocol-settings');
    const { writeReport } = loadMeasure('apps/bench/src/report/report-writer');
    const { DEFAULT_MAX_ACCURACY_DROP } = loadMeasure('apps/bench/src/selection/engine-selector');
    const { acquireHostLock } = loadMeasure('apps/bench/src/protocol/host-lock');
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
    const settings = defaultProtocolSettings(root);
    if (args.quick)
      Object.assign(settings, {
        warmup: 1,
        iterations: 4,
        maxAttempts: 1,
        concurrency: [1, 2],
        concurrencyRequests: 4,
        stabilityUsers: 10,
        stabilityDurationMs: 1000,
        variants: ['int8-static'],
      });
    let last = -1;
    const report = await runProtocol(
      {
        benchmarkId: `protocol-yolov8n-${imgsz}`,
        jobId: null,
        model: {
          id: 'preset-yolov8n',
          version: 1,
          name: `yolov8n ${imgsz} (preset, untrained weights)`,
          task: 'detect',
          path: model,
          imgsz,
        },
        constraints: {},
        outDir: reportDir,
      },
      settings,
      {
        progress: (f, stage) => {
          const pct = Math.floor(f * 100);
          if (pct !== last) process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${pct}% ${stage}\n`);
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
    const targets = {
      selectedP50AtMost60PctOfBaseline: {
        value: ratio === null ? null : Math.round(ratio * 1000) / 1000,
        limit: 0.6,
        met: ratio !== null && ratio <= 0.6,
      },
      accuracyWithinDefaultThreshold: {
        value: chosen?.agreement?.accuracyDrop ?? null,
        limit: DEFAULT_MAX_ACCURACY_DROP,
        met: !!chosen && (chosen.agreement?.accuracyDrop ?? 0) <= DEFAULT_MAX_ACCURACY_DROP,
      },
      protocolAtMost10Minutes: {
        value: Math.round(protocolMs / 1000),
        limit: 600,
        unit: 's',
        met: protocolMs <= 600000,
      },
    };
    const result = {
      benchmark: 'optimization protocol, yolov8n preset',
      imgsz,
      quick: !!args.quick,
      ranAt: new Date().toISOString(),
      environment: report.environment,
      loadAverage: os.loadavg(),
      presetBuildMs: args.model ? null : presetMs,
      protocolMs,
      baseline: { id: base.id, p50Ms: base.latency.p50Ms, p95Ms: base.latency.p95Ms },
      selected: chosen
        ? {
            id: chosen.id,
            p50Ms: chosen.latency.p50Ms,
            p95Ms: chosen.latency.p95Ms,
            agreement: chosen.agreement,
            config: report.decision.chosen,
          }
        : null,
      speedup: report.simple.speedup,
      targets,
      allTargetsMet: Object.values(targets).every((t) => t.met),
      decisionSummary: report.decision.summary,
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
        accuracyDrop: c.agreement?.accuracyDrop ?? null,
        cosine: c.agreement?.cosine ?? null,
      })),
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
        allTargetsMet: result.allTargetsMet,
      }) + '\n',
    );
    process.exitCode = result.allTargetsMet ? 0 : 1;
  } finally {
    if (!args['report-dir']) fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench-protocol failed: ${e.stack || e}\n`);
  process.exit(1);
});
