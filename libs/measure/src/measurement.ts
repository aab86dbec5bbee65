import { promises as fs } from 'node:fs';
import type { Agreement, ConcurrencyPoint, LatencyStats, StabilityResult, TimeSplit } from '@cvp/contracts';
import { compareOutputs, type OutputTensor, readOutputs, writeOutputs } from './agreement';
import { type DetectionMap, evaluateDetector, loadYoloLabelledSet } from './detection-map';
import { imageToTensor, listImages, seededJpeg } from './images';
import { BoundedPool, concurrencyPoint, runLoad, stabilityResult } from './load';
import { seededTensor } from './rng';
import { measureRepeated, round } from './stats';

/** Load runs in front of the engine: a bounded pool like the serving path's worker pool, closed-loop users. */
export interface LoadPlan {
  /** Concurrency levels of the sweep, each run to `requestsPerLevel` requests. */
  concurrency: number[];
  requestsPerLevel: number;
  poolSize: number;
  /** Stability run after the sweep; 0 users or 0 ms leaves it out. */
  stabilityUsers: number;
  stabilityDurationMs: number;
  /** Name the points are recorded under (the candidate id). */
  engineName: string;
}

/** What one measurement of an engine configuration does, whatever the engine. */
export interface MeasurementPlan {
  /** Shape of one sample with batch 1, e.g. [1, 3, 640, 640]. */
  inputShape: number[];
  batch: number;
  task: 'detect' | 'classify' | null;
  seed: number;
  warmup: number;
  iterations: number;
  cvThreshold: number;
  maxAttempts: number;
  /** Per-attempt time budget (ms); iterations stop early once spent (at least 5 run). */
  timeBudgetMs?: number;
  /** Real images for inputs (data set folder); seeded synthetic inputs when absent. */
  datasetDir?: string | null;
  /** Samples (batch 1) whose outputs are written and/or compared for accuracy agreement. */
  agreementSamples?: number;
  writeOutputsTo?: string | null;
  compareWith?: string | null;
  timeSplit?: boolean;
  /** Detectors: score mAP on this labelled YOLO data set (at most maxImages images). */
  mapEval?: { datasetDir: string; maxImages: number } | null;
  load?: LoadPlan | null;
}

/** What a measurement yields, whatever the engine. */
export interface EngineMeasurement {
  buildMs: number;
  firstInferenceMs: number;
  latency: LatencyStats;
  /** Images per second at this batch size, one caller. */
  throughput: number;
  timeSplit: TimeSplit | null;
  agreement: Agreement | null;
  /** mAP on the labelled data set (mapEval); null when not asked or not possible (mapError says why). */
  detectionMap: DetectionMap | null;
  mapError: string | null;
  concurrency: ConcurrencyPoint[];
  stability: StabilityResult | null;
  /** Peak resident set of the process the engine runs in, alone; null where it cannot be read. */
  peakRssMb: number | null;
  /** GPU memory the engine's process holds after measuring; null on CPU or without NVML. */
  peakVramMb: number | null;
  inputSource: string;
}

/** An engine with the model loaded, as measureEngine drives it. */
export interface EngineUnderTest {
  /**
   * A call that runs the model on this input, built once so the timed loop measures the run and
   * nothing else. `forLoad`: the call is one of many waiting behind the load pool.
   */
  prepare(input: Float32Array, shape: readonly number[], o?: { forLoad?: boolean }): () => Promise<unknown>;
  /** Every output of one run on this input, as float32. */
  outputs(input: Float32Array, shape: readonly number[]): Promise<OutputTensor[]>;
  /** Where one request's time goes (pre-processing, the model, post-processing) over n runs on this image; null when the engine cannot say. */
  timeSplit(image: Buffer, n: number, signal?: AbortSignal): Promise<TimeSplit | null>;
  peakRssMb(): number | null;
  peakVramMb(): number | null;
}

/**
 * Closed-loop users never hold more calls than there are users, and a stability run has at most
 * this many: the queue bound is never what fails a load run.
 */
const LOAD_QUEUE_CAP = 10_000;

/** Batch-1 input samples: real images from the data set, or seeded synthetic tensors. */
export async function makeSamples(
  shape: number[],
  count: number,
  seed: number,
  datasetDir?: string | null,
): Promise<{ samples: Float32Array[]; source: string }> {
  const [, c, h, w] = shape;
  const size = shape.reduce((a, b) => a * b, 1);
  if (datasetDir) {
    const files = await listImages(datasetDir, count);
    if (files.length > 0) {
      const samples: Float32Array[] = [];
      for (const f of files) samples.push(await imageToTensor(await fs.readFile(f), c, h, w));
      while (samples.length < count) samples.push(samples[samples.length % files.length]);
      return { samples, source: `${files.length} images from the attached data set` };
    }
  }
  return {
    samples: Array.from({ length: count }, (_, i) => seededTensor(size, seed + i)),
    source: `seeded synthetic inputs (seed ${seed})`,
  };
}

function batchOf(samples: Float32Array[], batch: number): Float32Array {
  const per = samples[0].length;
  const out = new Float32Array(per * batch);
  for (let b = 0; b < batch; b++) out.set(samples[b % samples.length], b * per);
  return out;
}

/** mAP of one engine on the labelled set, or why there is none. */
export async function scoreMap(
  mapEval: { datasetDir: string; maxImages: number } | null | undefined,
  inputShape: readonly number[],
  infer: (sample: Float32Array) => Promise<OutputTensor>,
  signal?: AbortSignal,
): Promise<{ detectionMap: DetectionMap | null; mapError: string | null }> {
  if (!mapEval) return { detectionMap: null, mapError: null };
  try {
    const set = await loadYoloLabelledSet(mapEval.datasetDir, mapEval.maxImages);
    if ('reason' in set) return { detectionMap: null, mapError: set.reason };
    return { detectionMap: await evaluateDetector(set, inputShape, infer, signal), mapError: null };
  } catch (e) {
    if (signal?.aborted) throw e;
    return { detectionMap: null, mapError: `mAP evaluation failed: ${(e as Error).message}` };
  }
}

/**
 * One measurement of an engine with its model loaded (buildMs: how long loading took): first
 * inference, latency with warm-up and CV-driven re-measurement, accuracy agreement with the
 * baseline's outputs, mAP, time split, load sweep and stability. Every engine goes through this
 * one sequence, so their numbers mean the same thing.
 */
export async function measureEngine(
  engine: EngineUnderTest,
  buildMs: number,
  plan: MeasurementPlan,
  signal?: AbortSignal,
): Promise<EngineMeasurement> {
  const agreementSamples = plan.agreementSamples ?? 2;
  const { samples, source } = await makeSamples(
    plan.inputShape,
    Math.max(1, agreementSamples, plan.batch),
    plan.seed,
    plan.datasetDir,
  );
  const batched = engine.prepare(batchOf(samples, plan.batch), [plan.batch, ...plan.inputShape.slice(1)]);

  const f0 = process.hrtime.bigint();
  await batched();
  const firstInferenceMs = Number(process.hrtime.bigint() - f0) / 1e6;

  const latency = await measureRepeated(batched, {
    warmup: plan.warmup,
    iterations: plan.iterations,
    cvThreshold: plan.cvThreshold,
    maxAttempts: plan.maxAttempts,
    timeBudgetMs: plan.timeBudgetMs,
    signal,
  });

  let agreement: Agreement | null = null;
  if (plan.writeOutputsTo || plan.compareWith) {
    const outs: OutputTensor[][] = [];
    for (let i = 0; i < agreementSamples; i++)
      outs.push(await engine.outputs(samples[i % samples.length], plan.inputShape));
    if (plan.writeOutputsTo) await writeOutputs(plan.writeOutputsTo, outs);
    if (plan.compareWith) agreement = compareOutputs(await readOutputs(plan.compareWith), outs, plan.task);
  }

  const { detectionMap, mapError } = await scoreMap(
    plan.mapEval,
    plan.inputShape,
    async (sample) => (await engine.outputs(sample, plan.inputShape))[0],
    signal,
  );

  const timeSplit = plan.timeSplit
    ? await engine.timeSplit(await seededJpeg(plan.seed), Math.max(3, Math.min(5, plan.iterations)), signal)
    : null;

  const concurrency: ConcurrencyPoint[] = [];
  let stability: StabilityResult | null = null;
  if (plan.load) {
    const pool = new BoundedPool(plan.load.poolSize, LOAD_QUEUE_CAP);
    const one = engine.prepare(samples[0], plan.inputShape, { forLoad: true });
    const call = () => pool.run(one);
    for (const c of plan.load.concurrency) {
      const r = await runLoad(call, { users: c, maxRequests: plan.load.requestsPerLevel, durationMs: 60000, signal });
      concurrency.push(concurrencyPoint(plan.load.engineName, c, r));
    }
    if (plan.load.stabilityUsers > 0 && plan.load.stabilityDurationMs > 0) {
      const r = await runLoad(call, {
        users: plan.load.stabilityUsers,
        maxRequests: 1e9,
        durationMs: plan.load.stabilityDurationMs,
        signal,
      });
      stability = stabilityResult(plan.load.engineName, plan.load.stabilityUsers, r);
    }
  }
  return {
    buildMs: round(buildMs),
    firstInferenceMs: round(firstInferenceMs),
    latency,
    throughput: latency.meanMs > 0 ? round((plan.batch * 1000) / latency.meanMs, 2) : 0,
    timeSplit,
    agreement,
    detectionMap,
    mapError,
    concurrency,
    stability,
    peakRssMb: engine.peakRssMb(),
    peakVramMb: engine.peakVramMb(),
    inputSource: source,
  };
}
