#!/usr/bin/env node
'use strict';
/**
 * Does the protocol choose the same configuration twice? Runs the optimization protocol N times
 * back to back on the yolov8n preset at 64 px with the bench e2e test's options (8 iterations,
 * CV threshold 0.25, 2 attempts, threads 1, fp16 and int8-static variants), and records each
 * run's choice, the noise margin, the load average, and what selection saw of every batch-1
 * candidate (p50, p95, std, CV, the `unstable` flag, peak RSS).
 * It then checks, for every pair of runs that chose differently, whether one of the two chosen
 * configurations was flagged unstable in the run where it lost (the e2e test's rule).
 *   node scripts/bench-selection-stability.js [--runs 6] [--out bench/results/selection-stability.json]
 * Exit 0 when every differing pair is explained that way, 1 otherwise.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { loadRepoModule } = require('./measure-latency');

const root = path.resolve(__dirname, '..');
const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const runs = Number(args.runs || 6);
const out = path.resolve(root, args.out || 'bench/results/selection-stability.json');

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-selection-stability-'));
  try {
    const py = path.join(root, 'python/.venv/bin/python');
    if (!fs.existsSync(py)) throw new Error(`python venv missing at ${py}: run the bootstrap first`);
    const presetDir = path.join(work, 'preset');
    execFileSync(py, ['-m', 'cvp_ml', 'preset', '--name', 'yolov8n', '--out', presetDir, '--imgsz', '64'], {
      cwd: path.join(root, 'python'),
      env: {
        ...process.env,
        PYTHONPATH: path.join(root, 'python'),
        YOLO_OFFLINE: 'true',
        YOLO_AUTOINSTALL: 'false',
        YOLO_CONFIG_DIR: path.join(work, '.yolo'),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 600000,
    });
    const { runProtocol } = loadRepoModule('apps/bench/src/protocol/protocol-runner');
    const { defaultProtocolOptions } = loadRepoModule('apps/bench/src/protocol/protocol-options');
    const { acquireHostLock } = loadRepoModule('apps/bench/src/protocol/host-lock');
    const lockFile = process.env.CVP_BENCH_LOCK_FILE || path.join(os.tmpdir(), 'cvp-bench-measure.lock');
    const release = await acquireHostLock(lockFile, 'scripts/bench-selection-stability.js', { waitMs: 30 * 60 * 1000 });
    const records = [];
    try {
      for (let i = 0; i < runs; i++) {
        const options = {
          ...defaultProtocolOptions(root),
          warmup: 2,
          iterations: 8,
          maxAttempts: 2,
          cvThreshold: 0.25,
          threads: [1],
          concurrency: [1],
          concurrencyRequests: 2,
          stabilityUsers: 0,
          stabilityDurationMs: 0,
          maxBatch: 2,
          variants: ['fp16', 'int8-static'],
        };
        const loadBefore = os.loadavg()[0];
        const r = await runProtocol(
          {
            benchmarkId: `stability-${i}`,
            jobId: null,
            model: {
              id: 'preset-yolov8n',
              version: 1,
              name: 'yolov8n 64',
              task: 'detect',
              path: path.join(presetDir, 'model.onnx'),
              imgsz: 64,
            },
            constraints: { maxP95Ms: 5000, maxAccuracyDrop: 0.01, maxRssMb: 4096 },
            outDir: path.join(work, 'benchmarks', `run-${i}`),
          },
          options,
        );
        records.push({
          run: i,
          loadAverage1m: [loadBefore, os.loadavg()[0]].map((x) => Math.round(x * 100) / 100),
          chosen: r.decision.chosenId,
          noiseMarginMs: r.decision.noiseMarginMs,
          candidates: r.decision.candidates.map((d) => {
            const c = r.candidates.find((x) => x.id === d.candidateId);
            return {
              id: d.candidateId,
              rank: d.rank,
              feasible: d.feasible,
              p50Ms: c.latency.p50Ms,
              p95Ms: c.latency.p95Ms,
              stdMs: c.latency.stdMs,
              cv: c.latency.cv,
              unstable: c.latency.unstable,
              peakRssMb: c.peakRssMb,
            };
          }),
        });
        process.stderr.write(`run ${i}: ${r.decision.chosenId} (load ${loadBefore.toFixed(1)})\n`);
      }
    } finally {
      await release();
    }
    const unstableIn = (rec, id) => rec.candidates.find((c) => c.id === id)?.unstable === true;
    const pairs = [];
    for (let i = 0; i < records.length; i++)
      for (let j = i + 1; j < records.length; j++) {
        const [a, b] = [records[i], records[j]];
        if (a.chosen === b.chosen) continue;
        pairs.push({ runs: [i, j], explained: unstableIn(b, a.chosen) || unstableIn(a, b.chosen) });
      }
    const result = {
      benchmark: 'selection stability: the protocol run repeatedly on yolov8n 64 px with the bench e2e options',
      ranAt: new Date().toISOString(),
      cores: os.cpus().length,
      runs: records.length,
      distinctChoices: [...new Set(records.map((r) => r.chosen))],
      differingPairs: pairs.length,
      differingPairsExplainedByUnstable: pairs.filter((p) => p.explained).length,
      pairs,
      records,
    };
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(`${out}.tmp`, JSON.stringify(result, null, 1) + '\n');
    fs.renameSync(`${out}.tmp`, out);
    process.stdout.write(
      JSON.stringify({
        out,
        distinctChoices: result.distinctChoices.length,
        differingPairs: pairs.length,
        explained: result.differingPairsExplainedByUnstable,
      }) + '\n',
    );
    process.exitCode = pairs.every((p) => p.explained) ? 0 : 1;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench-selection-stability failed: ${e.stack || e}\n`);
  process.exit(1);
});
