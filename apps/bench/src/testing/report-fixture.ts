import { BENCH_REPORT_VERSION, type BenchCandidate, type BenchReport } from '@cvp/contracts';
import { selectEngine } from '../selection/engine-selector';
import { buildSimpleView } from '../report/simple-view';

/** A measured candidate with plausible numbers, for report and gateway tests. */
export function fixtureCandidate(id: string, p50: number, over: Partial<BenchCandidate> = {}): BenchCandidate {
  const [engine, provider, variant, level, t, b] = id.split('/');
  return {
    id,
    engine: engine as BenchCandidate['engine'],
    options: {
      provider: provider as 'cpu',
      precision: variant.startsWith('int8') ? 'int8' : (variant as 'fp32'),
      graphOptimization: level as 'all',
      threads: Number(t.slice(1)),
      maxBatch: Number(b.slice(1)),
    },
    variant: variant as BenchCandidate['variant'],
    modelPath: `/data/models/m/v1/${variant}.onnx`,
    batch: Number(b.slice(1)),
    step: 2,
    latency: {
      iterations: 5,
      warmup: 1,
      p50Ms: p50,
      p95Ms: p50 * 1.1,
      p99Ms: p50 * 1.2,
      meanMs: p50,
      stdMs: p50 * 0.03,
      minMs: p50 * 0.9,
      maxMs: p50 * 1.2,
      cv: 0.03,
      attempts: 1,
      unstable: false,
      samplesMs: [p50 * 0.9, p50, p50 * 1.05, p50 * 1.1, p50 * 1.2],
    },
    throughput: 1000 / p50,
    buildMs: 100,
    firstInferenceMs: p50 * 2,
    peakRssMb: 200,
    peakVramMb: null,
    agreement: {
      maxAbsDiff: 1e-5,
      meanAbsDiff: 1e-7,
      cosine: 0.99999,
      top1Agreement: null,
      scoreMaxAbsDiff: 1e-6,
      mapChange: null,
      accuracyDrop: 0.00001,
      samples: 2,
    },
    timeSplit: { preMs: 3, inferMs: p50, postMs: 1 },
    selectable: Number(b.slice(1)) === 1,
    ...over,
  };
}

/** A complete, schema-valid report: baseline, a few candidates, a decision, every step. */
export function fixtureReport(
  id = 'bm-fixture',
  constraints: BenchReport['decision']['constraints'] = {},
): BenchReport {
  const base = fixtureCandidate('ort-node/cpu/fp32/disabled/t0/b1', 100, { step: 1, agreement: null });
  const candidates = [
    base,
    fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 70),
    fixtureCandidate('native/cpu/fp32/all/t1/b1', 72, { peakRssMb: 150 }),
    fixtureCandidate('ort-node/cpu/int8-static/all/t1/b1', 40, {
      step: 3,
      latency: { ...fixtureCandidate('x/cpu/fp32/all/t1/b1', 40).latency, unstable: true, cv: 0.3 },
    }),
    fixtureCandidate('ort-node/cpu/int8-static/all/t1/b2', 75, { step: 5, timeSplit: null }),
  ];
  const decision = selectEngine(
    candidates.filter((c) => c.selectable),
    constraints,
    { baselineId: base.id },
  );
  const report: Omit<BenchReport, 'simple'> = {
    reportVersion: BENCH_REPORT_VERSION,
    id,
    jobId: 'job-1',
    model: {
      id: 'm',
      version: 1,
      name: 'yolov8n <test> & "quotes"',
      task: 'detect',
      path: '/data/models/m/v1/model.onnx',
      inputName: 'images',
      inputShape: [1, 3, 64, 64],
      dynamicBatch: true,
    },
    createdAt: '2026-01-01T00:00:00.000Z',
    durationMs: 12345,
    settings: {
      warmup: 1,
      iterations: 5,
      cvThreshold: 0.1,
      maxAttempts: 2,
      seed: 0,
      threads: [1],
      concurrency: [1, 4],
      concurrencyRequests: 8,
      stabilityUsers: 100,
      stabilityDurationMs: 1000,
      inputSource: 'seeded synthetic inputs (seed 0)',
    },
    environment: {
      cpuModel: 'Test CPU',
      cores: 2,
      totalMemMb: 4096,
      os: 'Linux',
      node: 'v20',
      onnxruntimeNode: '1.30.0',
      nativeCore: null,
      availableProviders: ['cpu'],
      gpu: null,
    },
    baselineId: base.id,
    steps: Array.from({ length: 9 }, (_, i) => ({
      step: i + 1,
      name: `step ${i + 1}`,
      status: i === 3 ? ('skipped' as const) : ('done' as const),
      reasons: i === 3 ? ['no NVIDIA GPU on this host'] : i === 6 ? ['VRAM: skipped: no GPU'] : [],
      durationMs: 1000,
      candidateIds: i === 3 ? [] : [base.id],
      details: {},
    })),
    candidates,
    concurrency: [1, 4].flatMap((c) => [
      {
        engine: 'ort-node/cpu/int8-static/all/t1/b1',
        concurrency: c,
        requests: 8,
        errors: 0,
        throughputRps: 20 * c,
        p50Ms: 40 * c,
        p95Ms: 45 * c,
      },
      {
        engine: 'native/cpu/fp32/all/t1/b1',
        concurrency: c,
        requests: 8,
        errors: 0,
        throughputRps: 12 * c,
        p50Ms: 70 * c,
        p95Ms: 80 * c,
      },
    ]),
    stability: [
      {
        engine: 'ort-node/cpu/int8-static/all/t1/b1',
        users: 100,
        durationMs: 1000,
        requests: 50,
        errors: 0,
        p95Ms: 900,
        passed: true,
      },
    ],
    decision,
  };
  return { ...report, simple: buildSimpleView(report) };
}
