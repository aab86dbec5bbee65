import { promises as fs } from 'node:fs';
import type { Agreement, AgreementInputs, LatencyStats } from '@cvp/contracts';
import { AgreementAccumulator, type OutputTensor, readSampleOutputs, writeSampleOutputs } from './agreement';
import {
  type DetectionMap,
  evaluateDetector,
  type ImageMatches,
  loadYoloLabelledSet,
  pairedBootstrapMapChange,
  validationDetections,
} from './detection-map';
import { agreementImages, imageToTensor } from './images';
import { seededTensor } from './rng';
import { measureRepeated, round } from './stats';
import type { Det } from './yolo';

/** Inputs accuracy agreement runs on unless a plan says otherwise: enough for a bound that means something. */
export const DEFAULT_AGREEMENT_SAMPLES = 32;

/** Detectors with a labelled YOLO data set: where mAP is scored, and the baseline's matches for the bootstrap. */
export interface MapEvalPlan {
  datasetDir: string;
  maxImages: number;
  /** The baseline writes its per-image matches here (JSON). */
  writeMatchesTo?: string | null;
  /** A candidate reads the baseline's matches here and bounds its mAP change by a paired bootstrap. */
  compareMatchesWith?: string | null;
  /** Bootstrap resamples (default 1000). */
  resamples?: number;
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
  /** Inputs (batch 1) whose outputs are written and/or compared for accuracy agreement (default 32). */
  agreementSamples?: number;
  /** Folder the baseline writes its outputs to, one file per agreement input. */
  writeOutputsTo?: string | null;
  /** Folder of the baseline's outputs this engine's are compared with. */
  compareWith?: string | null;
  /** Detectors: score mAP on this labelled YOLO data set (at most maxImages images). */
  mapEval?: MapEvalPlan | null;
}

/** GPU memory NVML attributed to the engine's process over the measurement, or why there is no figure. */
export interface VramFigure {
  peakMb: number | null;
  reason: string | null;
}

/** What a measurement yields, whatever the engine. */
export interface EngineMeasurement {
  buildMs: number;
  firstInferenceMs: number;
  latency: LatencyStats;
  /** Images per second at this batch size, one caller. */
  throughput: number;
  agreement: Agreement | null;
  /** mAP on the labelled data set (mapEval); null when not asked or not possible (mapError says why). */
  detectionMap: DetectionMap | null;
  mapError: string | null;
  /** Peak resident set of the process the engine runs in, alone; null where it cannot be read. */
  peakRssMb: number | null;
  /** Highest GPU memory of the engine's process, sampled while it ran; null: vramReason says why. */
  peakVramMb: number | null;
  vramReason: string | null;
  inputSource: string;
}

/** An engine with the model loaded, as measureEngine drives it. */
export interface EngineUnderTest {
  /** A call that runs the model on this input, built once so the timed loop measures the run and nothing else. */
  prepare(input: Float32Array, shape: readonly number[]): () => Promise<unknown>;
  /** Every output of one run on this input, as float32. */
  outputs(input: Float32Array, shape: readonly number[]): Promise<OutputTensor[]>;
  peakRssMb(): number | null;
  /** Ends VRAM sampling (when there was any) and says what it saw. */
  vram(): Promise<VramFigure>;
}

/**
 * The agreement inputs of a plan: images of the data set when one is attached (held-out splits
 * first), else seeded synthetic tensors. Decoded one at a time, so holding 32 of them never
 * inflates the peak memory the measurement reports.
 */
export interface AgreementInputSet {
  readonly count: number;
  readonly inputs: AgreementInputs;
  /** The image behind input i (null for seeded inputs). */
  file(i: number): string | null;
  tensor(i: number): Promise<Float32Array>;
}

export async function agreementInputSet(
  shape: readonly number[],
  count: number,
  seed: number,
  datasetDir?: string | null,
): Promise<AgreementInputSet> {
  const [, c, h, w] = shape;
  const size = shape.reduce((a, b) => a * b, 1);
  if (datasetDir) {
    const { files, description } = await agreementImages(datasetDir, count);
    if (files.length > 0)
      return {
        count: files.length,
        inputs: { count: files.length, source: 'dataset', description },
        file: (i) => files[i % files.length],
        tensor: async (i) => imageToTensor(await fs.readFile(files[i % files.length]), c, h, w),
      };
  }
  return {
    count,
    inputs: { count, source: 'seeded', description: `${count} seeded synthetic inputs (seed ${seed})` },
    file: () => null,
    tensor: async (i) => seededTensor(size, seed + i),
  };
}

/** Batch-1 samples held in memory (the latency loop's inputs, a few at most). */
export async function makeSamples(
  shape: number[],
  count: number,
  seed: number,
  datasetDir?: string | null,
): Promise<{ samples: Float32Array[]; source: string }> {
  const set = await agreementInputSet(shape, count, seed, datasetDir);
  const samples: Float32Array[] = [];
  for (let i = 0; i < count; i++) samples.push(await set.tensor(i));
  return { samples, source: set.inputs.description };
}

function batchOf(samples: Float32Array[], batch: number): Float32Array {
  const per = samples[0].length;
  const out = new Float32Array(per * batch);
  for (let b = 0; b < batch; b++) out.set(samples[b % samples.length], b * per);
  return out;
}

/**
 * mAP of one engine on the labelled set, or why there is none; with the baseline's matches, the
 * paired bootstrap interval of the change; the baseline writes its own matches for the others.
 */
export async function scoreMap(
  mapEval: MapEvalPlan | null | undefined,
  inputShape: readonly number[],
  infer: (sample: Float32Array) => Promise<OutputTensor>,
  signal?: AbortSignal,
  known?: ReadonlyMap<string, Det[]>,
  seed = 0,
): Promise<{ detectionMap: DetectionMap | null; mapError: string | null }> {
  if (!mapEval) return { detectionMap: null, mapError: null };
  try {
    const set = await loadYoloLabelledSet(mapEval.datasetDir, mapEval.maxImages);
    if ('reason' in set) return { detectionMap: null, mapError: set.reason };
    const { matches, ...scores } = await evaluateDetector(set, inputShape, infer, signal, known);
    if (mapEval.writeMatchesTo) {
      await fs.writeFile(`${mapEval.writeMatchesTo}.tmp`, JSON.stringify(matches));
      await fs.rename(`${mapEval.writeMatchesTo}.tmp`, mapEval.writeMatchesTo);
    }
    let changeBound = null;
    if (mapEval.compareMatchesWith) {
      const base = JSON.parse(await fs.readFile(mapEval.compareMatchesWith, 'utf8')) as ImageMatches[];
      changeBound = pairedBootstrapMapChange(base, matches, { resamples: mapEval.resamples, seed });
    }
    return { detectionMap: { ...scores, changeBound }, mapError: null };
  } catch (e) {
    if (signal?.aborted) throw e;
    return { detectionMap: null, mapError: `mAP evaluation failed: ${(e as Error).message}` };
  }
}

/**
 * One measurement of an engine with its model loaded (buildMs: how long loading took): first
 * inference, latency with warm-up and CV-driven re-measurement, accuracy agreement with the
 * baseline's outputs input by input, mAP with its bootstrap bound, peak memory. Every engine goes
 * through this one sequence, so their numbers mean the same thing.
 */
export async function measureEngine(
  engine: EngineUnderTest,
  buildMs: number,
  plan: MeasurementPlan,
  signal?: AbortSignal,
): Promise<EngineMeasurement> {
  const wantAgreement = !!(plan.writeOutputsTo || plan.compareWith);
  const inputs = await agreementInputSet(
    plan.inputShape,
    wantAgreement ? Math.max(1, plan.agreementSamples ?? DEFAULT_AGREEMENT_SAMPLES) : Math.max(1, plan.batch),
    plan.seed,
    plan.datasetDir,
  );
  const first: Float32Array[] = [];
  for (let i = 0; i < Math.min(plan.batch, inputs.count); i++) first.push(await inputs.tensor(i));
  const batched = engine.prepare(batchOf(first, plan.batch), [plan.batch, ...plan.inputShape.slice(1)]);
  first.length = 0;

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

  // Agreement input by input; a detector's agreement images that are also scored for mAP keep their
  // detections, so each image runs once.
  let agreement: Agreement | null = null;
  const known = new Map<string, Det[]>();
  if (wantAgreement) {
    const acc = new AgreementAccumulator(plan.task);
    for (let i = 0; i < inputs.count; i++) {
      signal?.throwIfAborted();
      const outs = await engine.outputs(await inputs.tensor(i), plan.inputShape);
      if (plan.writeOutputsTo) await writeSampleOutputs(plan.writeOutputsTo, i, outs);
      if (plan.compareWith) {
        const ref = await readSampleOutputs(plan.compareWith, i);
        if (!ref) throw new Error(`the baseline has no outputs for agreement input ${i}`);
        acc.add(ref, outs);
      }
      const file = inputs.file(i);
      if (plan.mapEval && file && plan.task === 'detect') {
        try {
          known.set(file, validationDetections(outs[0]));
        } catch {
          /* not a YOLOv8 head: scoreMap reports it */
        }
      }
    }
    if (plan.compareWith) agreement = acc.result(inputs.inputs);
  }

  const { detectionMap, mapError } = await scoreMap(
    plan.mapEval,
    plan.inputShape,
    async (sample) => (await engine.outputs(sample, plan.inputShape))[0],
    signal,
    known,
    plan.seed,
  );
  known.clear();

  const vram = await engine.vram();
  return {
    buildMs: round(buildMs),
    firstInferenceMs: round(firstInferenceMs),
    latency,
    throughput: latency.meanMs > 0 ? round((plan.batch * 1000) / latency.meanMs, 2) : 0,
    agreement,
    detectionMap,
    mapError,
    peakRssMb: engine.peakRssMb(),
    peakVramMb: vram.peakMb,
    vramReason: vram.reason,
    inputSource: inputs.inputs.description,
  };
}
