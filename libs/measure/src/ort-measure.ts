import { promises as fs } from 'node:fs';
import type {
  ConcurrencyPoint,
  GraphOptLevel,
  LatencyStats,
  StabilityResult,
  TimeSplit,
  Agreement,
} from '@cvp/contracts';
import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { compareOutputs, type OutputTensor } from './agreement';
import { type DetectionMap, evaluateDetector, loadYoloLabelledSet } from './detection-map';
import { processVramMb } from './environment';
import { imageToTensor, listImages, seededJpeg } from './images';
import { BoundedPool, concurrencyPoint, runLoad, stabilityResult } from './load';
import { seededTensor } from './rng';
import { measureRepeated, round } from './stats';
import { decodeYolov8, nmsClasswise, topkProbs } from './yolo';

/**
 * onnxruntime-node, loaded on first use: apps/inference imports this lib for YOLO post-processing
 * (./yolo) and keeps onnxruntime-node out of its main thread (its sessions live in worker threads).
 */
let ortModule: typeof import('onnxruntime-node') | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = () => (ortModule ??= require('onnxruntime-node') as typeof import('onnxruntime-node'));

export interface OrtMeasureRequest {
  modelPath: string;
  provider?: 'cpu' | 'cuda' | 'tensorrt';
  graphOptimization: GraphOptLevel;
  /** Intra-op threads; 0 = ONNX Runtime's default. */
  threads: number;
  batch: number;
  /** Shape of one sample with batch 1, e.g. [1, 3, 640, 640]. */
  inputShape: number[];
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
  load?: {
    concurrency: number[];
    requestsPerLevel: number;
    poolSize: number;
    stabilityUsers: number;
    stabilityDurationMs: number;
    engineName: string;
  } | null;
}

export interface OrtMeasureResult {
  inputName: string;
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
  /** Peak resident set of this process (the engine is alone in it). */
  peakRssMb: number;
  /** GPU memory held by this process after measuring (GPU providers); null on CPU or without NVML. */
  peakVramMb: number | null;
  inputSource: string;
}

const providerName: Record<string, string> = { cpu: 'cpu', cuda: 'cuda', tensorrt: 'tensorrt' };

export async function createOrtSession(
  modelPath: string,
  o: { graphOptimization: GraphOptLevel; threads: number; provider?: string },
): Promise<OrtSession> {
  return ort().InferenceSession.create(modelPath, {
    graphOptimizationLevel: o.graphOptimization,
    ...(o.threads > 0 ? { intraOpNumThreads: o.threads } : {}),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    executionProviders: [providerName[o.provider ?? 'cpu'] ?? 'cpu'],
  });
}

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

function toOutputs(res: Record<string, OrtTensor>, names: readonly string[]): OutputTensor[] {
  return names.map((n) => ({ data: Float32Array.from(res[n].data as Float32Array), dims: res[n].dims.map(Number) }));
}

/** Outputs file: a JSON header line with dims, then the float32 data of every output in order. */
export async function writeOutputs(file: string, outs: OutputTensor[][]): Promise<void> {
  const header = JSON.stringify(outs.map((s) => s.map((o) => o.dims)));
  const bufs = outs.flatMap((s) => s.map((o) => Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength)));
  await fs.writeFile(`${file}.tmp`, Buffer.concat([Buffer.from(`${header}\n`), ...bufs]));
  await fs.rename(`${file}.tmp`, file);
}

export async function readOutputs(file: string): Promise<OutputTensor[][]> {
  const buf = await fs.readFile(file);
  const nl = buf.indexOf(10);
  const dims = JSON.parse(buf.subarray(0, nl).toString()) as number[][][];
  let off = nl + 1;
  return dims.map((s) =>
    s.map((d) => {
      const n = d.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      Buffer.from(data.buffer).set(buf.subarray(off, off + n * 4));
      off += n * 4;
      return { data, dims: d };
    }),
  );
}

/**
 * Measures one ONNX Runtime configuration: build time, first inference, latency with warm-up and
 * CV-driven re-measurement, optional time split, agreement, concurrency sweep and stability.
 */
export async function measureOrt(req: OrtMeasureRequest, signal?: AbortSignal): Promise<OrtMeasureResult> {
  const { Tensor } = ort();
  const t0 = process.hrtime.bigint();
  const session = await createOrtSession(req.modelPath, req);
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  try {
    const inputName = session.inputNames[0];
    const outNames = session.outputNames;
    const sampleCount = Math.max(1, req.agreementSamples ?? 2, req.batch);
    const { samples, source } = await makeSamples(req.inputShape, sampleCount, req.seed, req.datasetDir);
    const dims = [req.batch, ...req.inputShape.slice(1)];
    const feeds = { [inputName]: new Tensor('float32', batchOf(samples, req.batch), dims) };

    const f0 = process.hrtime.bigint();
    await session.run(feeds);
    const firstInferenceMs = Number(process.hrtime.bigint() - f0) / 1e6;

    const latency = await measureRepeated(() => session.run(feeds), {
      warmup: req.warmup,
      iterations: req.iterations,
      cvThreshold: req.cvThreshold,
      maxAttempts: req.maxAttempts,
      timeBudgetMs: req.timeBudgetMs,
      signal,
    });
    const throughput = latency.meanMs > 0 ? round((req.batch * 1000) / latency.meanMs, 2) : 0;

    let agreement: Agreement | null = null;
    if (req.writeOutputsTo || req.compareWith) {
      const outs: OutputTensor[][] = [];
      for (let i = 0; i < (req.agreementSamples ?? 2); i++) {
        const one = { [inputName]: new Tensor('float32', samples[i % samples.length], req.inputShape) };
        outs.push(toOutputs(await session.run(one), outNames));
      }
      if (req.writeOutputsTo) await writeOutputs(req.writeOutputsTo, outs);
      if (req.compareWith) agreement = compareOutputs(await readOutputs(req.compareWith), outs, req.task);
    }

    const { detectionMap, mapError } = await scoreMap(
      req.mapEval,
      req.inputShape,
      async (sample) => {
        const res = await session.run({ [inputName]: new Tensor('float32', sample, req.inputShape) });
        return toOutputs(res, outNames.slice(0, 1))[0];
      },
      signal,
    );

    const timeSplit = req.timeSplit ? await measureTimeSplit(session, inputName, outNames, req, signal) : null;

    const concurrency: ConcurrencyPoint[] = [];
    let stability: StabilityResult | null = null;
    if (req.load) {
      const pool = new BoundedPool(req.load.poolSize, 10000);
      const one = { [inputName]: new Tensor('float32', samples[0], req.inputShape) };
      const call = () => pool.run(() => session.run(one));
      for (const c of req.load.concurrency) {
        const r = await runLoad(call, { users: c, maxRequests: req.load.requestsPerLevel, durationMs: 60000, signal });
        concurrency.push(concurrencyPoint(req.load.engineName, c, r));
      }
      if (req.load.stabilityUsers > 0 && req.load.stabilityDurationMs > 0) {
        const r = await runLoad(call, {
          users: req.load.stabilityUsers,
          maxRequests: 1e9,
          durationMs: req.load.stabilityDurationMs,
          signal,
        });
        stability = stabilityResult(req.load.engineName, req.load.stabilityUsers, r);
      }
    }
    return {
      inputName,
      buildMs: round(buildMs),
      firstInferenceMs: round(firstInferenceMs),
      latency,
      throughput,
      timeSplit,
      agreement,
      detectionMap,
      mapError,
      concurrency,
      stability,
      peakRssMb: round(process.resourceUsage().maxRSS / 1024, 1),
      peakVramMb: (req.provider ?? 'cpu') === 'cpu' ? null : processVramMb(process.pid),
      inputSource: source,
    };
  } finally {
    await session.release().catch(() => undefined);
  }
}

/** mAP of one engine on the labelled set, or why there is none; shared by the ort-node and native measurements. */
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

/** Where a request's time goes: image decode + resize (pre), the model (infer), decoding/NMS (post). */
async function measureTimeSplit(
  session: OrtSession,
  inputName: string,
  outNames: readonly string[],
  req: OrtMeasureRequest,
  signal?: AbortSignal,
): Promise<TimeSplit> {
  const { Tensor } = ort();
  const [, c, h, w] = req.inputShape;
  const image = await seededJpeg(req.seed);
  const n = Math.max(3, Math.min(5, req.iterations));
  let pre = 0;
  let inf = 0;
  let post = 0;
  for (let i = 0; i < n; i++) {
    signal?.throwIfAborted();
    const a = process.hrtime.bigint();
    const tensor = new Tensor('float32', await imageToTensor(image, c, h, w), req.inputShape);
    const b = process.hrtime.bigint();
    const res = await session.run({ [inputName]: tensor });
    const d = process.hrtime.bigint();
    const out = res[outNames[0]];
    // The serving path's post-processing and thresholds (apps/inference: conf 0.25, IoU 0.45, 300 boxes).
    if (req.task === 'detect' && out.dims.length === 3)
      nmsClasswise(decodeYolov8(out.data as Float32Array, Number(out.dims[1]), Number(out.dims[2]), 0.25), 0.45, 300);
    else if (req.task === 'classify') topkProbs(out.data as Float32Array, 5);
    const e = process.hrtime.bigint();
    pre += Number(b - a);
    inf += Number(d - b);
    post += Number(e - d);
  }
  return { preMs: round(pre / n / 1e6), inferMs: round(inf / n / 1e6), postMs: round(post / n / 1e6) };
}
