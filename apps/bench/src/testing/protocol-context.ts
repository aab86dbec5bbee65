import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchConstraints } from '@cvp/contracts';
import type { EngineMeasurement } from '@cvp/measure';
import { tinyIdentityOnnx } from '@cvp/measure/testing';
import { createProtocolContext, type ProtocolContext, type ProtocolHooks } from '../protocol/protocol-context';
import { defaultProtocolOptions, type ProtocolOptions } from '../protocol/protocol-options';
import { runStep } from '../protocol/protocol-step';
import { baselineStep } from '../protocol/steps';

/** Options small enough that a step measures a tiny model in a second or two. */
export function testProtocolOptions(over: Partial<ProtocolOptions> = {}): ProtocolOptions {
  return {
    ...defaultProtocolOptions(),
    warmup: 1,
    iterations: 3,
    maxAttempts: 1,
    cvThreshold: 1,
    timeBudgetMs: 500,
    threads: [1],
    concurrency: [1, 2],
    concurrencyRequests: 4,
    stabilityUsers: 5,
    stabilityDurationMs: 300,
    servedImages: 4,
    profileMs: 300,
    instanceLayoutSeconds: 0.3,
    maxBatch: 2,
    variants: [],
    python: null,
    native: false,
    ...over,
  };
}

export interface TestContextSpec {
  /** The model's ONNX bytes; default a tiny identity model over ['batch', 3, 8, 8]. */
  onnx?: Buffer;
  task?: 'detect' | 'classify' | null;
  options?: Partial<ProtocolOptions>;
  constraints?: BenchConstraints;
  datasetDir?: string | null;
  hooks?: ProtocolHooks;
  /** Stands in for what the host would report (a GPU, say) or for an engine's measurer. */
  parts?: Parameters<typeof createProtocolContext>[3];
  /** The data dir of an earlier context, to benchmark again next to it (the variant cache is shared there). */
  dataDir?: string;
  /** Runs step 1 first, so later steps have the baseline's outputs to compare with. */
  withBaseline?: boolean;
}

/** A protocol context over a real tiny ONNX model in a fresh folder, as runProtocol would start it. */
export async function testProtocolContext(spec: TestContextSpec = {}): Promise<ProtocolContext> {
  const root = spec.dataDir ?? mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'bench-step-'));
  const benchmarkId = `bm-${randomUUID().slice(0, 8)}`;
  const model = path.join(root, `${benchmarkId}.onnx`);
  writeFileSync(model, spec.onnx ?? tinyIdentityOnnx(['batch', 3, 8, 8]));
  const ctx = await createProtocolContext(
    {
      benchmarkId,
      jobId: null,
      model: { id: 'm', version: 1, name: 'tiny', task: spec.task ?? null, path: model },
      datasetDir: spec.datasetDir ?? null,
      constraints: spec.constraints ?? {},
      outDir: path.join(root, 'benchmarks', benchmarkId),
    },
    testProtocolOptions(spec.options),
    spec.hooks,
    spec.parts,
  );
  if (spec.withBaseline) {
    const step = await runStep(ctx, baselineStep);
    if (step.status !== 'done') throw new Error(`the test baseline did not run: ${step.reasons.join('; ')}`);
  }
  return ctx;
}

/** A plausible measurement, for engines that cannot run here (a GPU provider). */
export function fixtureMeasurement(over: Partial<EngineMeasurement> = {}): EngineMeasurement {
  return {
    buildMs: 50,
    firstInferenceMs: 5,
    latency: {
      iterations: 3,
      warmup: 1,
      p50Ms: 1,
      p95Ms: 1.2,
      p99Ms: 1.3,
      meanMs: 1,
      stdMs: 0.1,
      minMs: 0.9,
      maxMs: 1.3,
      cv: 0.1,
      attempts: 1,
      unstable: false,
      samplesMs: [0.9, 1, 1.3],
    },
    throughput: 1000,
    agreement: {
      maxAbsDiff: 0.001,
      meanAbsDiff: 0.0001,
      cosine: 0.99999,
      top1Agreement: null,
      scoreMaxAbsDiff: null,
      mapChange: null,
      accuracyDrop: 0.00001,
      samples: 32,
      accuracyBasis: 'cosine',
      inputs: { count: 32, source: 'dataset', description: '32 images of the attached data set (32 of split val)' },
      bound: null,
    },
    detectionMap: null,
    mapError: null,
    peakRssMb: 300,
    peakVramMb: 900,
    vramReason: null,
    inputSource: '32 images of the attached data set (32 of split val)',
    ...over,
  };
}
