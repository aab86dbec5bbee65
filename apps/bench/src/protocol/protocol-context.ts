import { promises as fs } from 'node:fs';
import path from 'node:path';
import type {
  AccuracyNotAssessablePolicy,
  BenchCandidate,
  BenchConstraints,
  BenchStep,
  ConcurrencyPoint,
  DecisionRecord,
  StabilityResult,
} from '@cvp/contracts';
import {
  type DetectionMap,
  detectGpuAsync,
  type GpuInfo,
  loadYoloLabelledSet,
  type MapEvalPlan,
  ortProvidersAsync,
} from '@cvp/measure';
import type { ServingPath } from '../serving/serving-path';
import type { CandidateMeasurers } from './measurers/candidate-measurer';
import { NativeMeasurer } from './measurers/native.measurer';
import { OrtNodeMeasurer } from './measurers/ort-node.measurer';
import type { ProtocolOptions } from './protocol-options';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');

export interface ProtocolInput {
  benchmarkId: string;
  jobId: string | null;
  model: {
    id: string;
    version: number;
    name: string;
    task: 'detect' | 'classify' | null;
    path: string;
    imgsz?: number | null;
    /** The registry's trained flag of this version (presets start untrained); null or absent: not known. */
    trained?: boolean | null;
  };
  /** Fills symbolic dims (N,C,H,W). */
  inputShape?: number[];
  datasetDir?: string | null;
  /** Format of the attached data set (the registry's): only 'yolo' sets carry detection labels for mAP. */
  datasetFormat?: 'yolo' | 'imagefolder' | null;
  constraints: BenchConstraints;
  /** What selection does with candidates whose accuracy cannot be assessed (default refuse). */
  whenAccuracyNotAssessable?: AccuracyNotAssessablePolicy;
  /** benchmarks/<id>/: variants and scratch files go below it. */
  outDir: string;
}

export interface ProtocolHooks {
  progress?: (fraction: number, stage: string, detail?: Record<string, unknown>) => void;
  signal?: AbortSignal;
  /** Runs GPU work under a GPU lease (the handler provides it); absent = no GPU work possible. */
  withGpuLease?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The data plane for steps 6, 8 and 9 (scratch deployments); absent: they say why they could not use it. */
  servingPath?: ServingPath;
  /** Why there is no serving path, for the report (e.g. "CVP_INFERENCE_URL is empty"). */
  servingPathMissing?: string;
}

/** The order steps run in: step 6 profiles the serving path, so it runs with 8 and 9 after the selection. */
export const STEP_RUN_ORDER = [1, 2, 3, 4, 5, 7, 6, 8, 9] as const;

export interface ResolvedInput {
  name: string;
  /** Batch-1 NCHW shape every measurement uses. */
  shape: number[];
  dynamicBatch: boolean;
}

/** What the steps share while a protocol runs: its input and options, what the host offers, and what was measured so far. */
export interface ProtocolContext {
  readonly input: ProtocolInput;
  readonly options: ProtocolOptions;
  readonly signal?: AbortSignal;
  readonly withGpuLease?: ProtocolHooks['withGpuLease'];
  readonly servingPath?: ServingPath;
  readonly servingPathMissing?: string;
  /** Reports progress as a fraction of the whole protocol (clamped to 0..1, never backwards). */
  progress(fraction: number, stage: string, detail?: Record<string, unknown>): void;
  /** Progress `within` (0..1) of a step, in run order. */
  progressIn(step: number, within: number, stage: string, detail?: Record<string, unknown>): void;
  readonly model: ResolvedInput;
  readonly dirs: {
    /** Request files and the baseline's outputs; removed when the report is assembled. */
    scratch: string;
    variants: string;
    /** Shared by every benchmark of the data dir: variants are deterministic in their inputs. */
    variantCache: string;
    /** The baseline's outputs, one file per agreement input. */
    baselineOutputs: string;
    /** The baseline's per-image mAP matches, for each candidate's bootstrap. */
    baselineMatches: string;
  };
  readonly host: { gpu: GpuInfo; providers: string[] };
  readonly measurers: CandidateMeasurers;
  readonly map: MapState;
  /** What the inputs were, as the baseline's measurement reports it. */
  inputSource: string;
  /** Where the INT8 static variant's calibration images came from (python's own account); null until made. */
  calibration: string | null;
  readonly candidates: BenchCandidate[];
  readonly steps: BenchStep[];
  /** Step 1's candidate, the reference for outputs; null until step 1 has measured it. */
  baseline: BenchCandidate | null;
  decision: DecisionRecord | null;
  readonly concurrency: ConcurrencyPoint[];
  readonly stability: StabilityResult[];
}

/** mAP for detectors: whether it is scored (plan), the baseline's score, or why there is none. */
export interface MapState {
  plan: Pick<MapEvalPlan, 'datasetDir' | 'maxImages'> | null;
  baseline: DetectionMap | null;
  reason: string | null;
}

/** Input name and a concrete batch-1 shape: the job's inputShape, else the model's dims, else imgsz/640. */
export async function resolveInput(modelPath: string, given?: number[], imgsz?: number | null): Promise<ResolvedInput> {
  const s = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: 'disabled' });
  try {
    const meta = (s as unknown as { inputMetadata?: { name: string; shape?: (number | string)[] }[] })
      .inputMetadata?.[0];
    const dims = meta?.shape ?? [];
    const dynamicBatch = dims.length > 0 && typeof dims[0] !== 'number';
    const fallback = (i: number) => (i === 0 ? 1 : i === 1 ? 3 : (imgsz ?? 640));
    let shape = dims.map((d, i) => (typeof d === 'number' && d > 0 ? d : (given?.[i] ?? fallback(i))));
    if (shape.length === 0 && given) shape = given;
    if (shape.length !== 4)
      throw new Error(`only image models with one NCHW input are benchmarked; input shape is [${dims.join(', ')}]`);
    return { name: meta?.name ?? s.inputNames[0], shape: [1, ...shape.slice(1)], dynamicBatch };
  } finally {
    await s.release().catch(() => undefined);
  }
}

/**
 * Whether detector candidates get an mAP change: only a detector with an attached YOLO data set
 * that holds labelled boxes (val split first). Otherwise the reason, recorded in step 1.
 */
export async function planMap(
  input: Pick<ProtocolInput, 'model' | 'datasetDir' | 'datasetFormat'>,
  o: Pick<ProtocolOptions, 'mapImages'>,
): Promise<{ eval: { datasetDir: string; maxImages: number } | null; reason: string | null }> {
  if (input.model.task !== 'detect') return { eval: null, reason: 'not a detector' };
  if (!input.datasetDir)
    return { eval: null, reason: 'no data set attached to the bench job (mAP needs a labelled YOLO data set)' };
  if (input.datasetFormat && input.datasetFormat !== 'yolo')
    return { eval: null, reason: `the attached data set is ${input.datasetFormat}, which has no detection labels` };
  if (o.mapImages <= 0) return { eval: null, reason: 'mAP scoring disabled (CVP_BENCH_MAP_IMAGES=0)' };
  const set = await loadYoloLabelledSet(input.datasetDir, o.mapImages).catch((e: Error) => ({
    reason: `the data set could not be read: ${e.message}`,
  }));
  if ('reason' in set) return { eval: null, reason: set.reason };
  if (set.boxes === 0)
    return { eval: null, reason: `no labelled boxes in the first ${set.images.length} image(s) of split ${set.split}` };
  return { eval: { datasetDir: input.datasetDir, maxImages: o.mapImages }, reason: null };
}

/**
 * Everything a protocol run starts from: the model's input resolved (a model that is not an NCHW
 * image model fails here), folders made, the host's GPU and providers, one measurer per engine,
 * the mAP plan. `parts` replaces what the host would report, or an engine's measurer (tests
 * stand in a GPU that way).
 */
export async function createProtocolContext(
  input: ProtocolInput,
  options: ProtocolOptions,
  hooks: ProtocolHooks = {},
  parts: { host?: ProtocolContext['host']; measurers?: Partial<CandidateMeasurers> } = {},
): Promise<ProtocolContext> {
  const scratch = path.join(input.outDir, 'scratch');
  const variants = path.join(input.outDir, 'variants');
  await fs.mkdir(scratch, { recursive: true });
  await fs.mkdir(variants, { recursive: true });
  const model = await resolveInput(input.model.path, input.inputShape, input.model.imgsz);
  const mapPlan = await planMap(input, options);
  let last = 0;
  const progress: ProtocolContext['progress'] = (f, stage, detail) => {
    last = Math.max(last, Math.min(1, Math.max(0, f)));
    hooks.progress?.(last, stage, detail);
  };
  return {
    input,
    options,
    signal: hooks.signal,
    withGpuLease: hooks.withGpuLease,
    servingPath: hooks.servingPath,
    servingPathMissing: hooks.servingPathMissing,
    progress,
    progressIn: (step, within, stage, detail) => {
      const at = STEP_RUN_ORDER.indexOf(step as (typeof STEP_RUN_ORDER)[number]);
      progress((Math.max(0, at) + Math.min(1, Math.max(0, within))) / STEP_RUN_ORDER.length, stage, detail);
    },
    model,
    dirs: {
      scratch,
      variants,
      variantCache: path.join(path.dirname(input.outDir), '.variant-cache'),
      baselineOutputs: path.join(scratch, 'baseline-outputs'),
      baselineMatches: path.join(scratch, 'baseline-matches.json'),
    },
    // Asked without blocking the event loop: the worker keeps answering NATS meanwhile.
    host: parts.host ?? { gpu: await detectGpuAsync(), providers: await ortProvidersAsync() },
    measurers: {
      'ort-node': new OrtNodeMeasurer({ scratchDir: scratch, timeoutMs: options.measureTimeoutMs }),
      native: new NativeMeasurer({
        binary: options.nativeBinary,
        enabled: options.native,
        rpcTimeoutMs: options.rpcTimeoutMs,
      }),
      ...parts.measurers,
    },
    map: { plan: mapPlan.eval, baseline: null, reason: mapPlan.reason },
    inputSource: input.datasetDir ? 'attached data set' : `seeded synthetic inputs (seed ${options.seed})`,
    calibration: null,
    candidates: [],
    steps: [],
    baseline: null,
    decision: null,
    concurrency: [],
    stability: [],
  };
}
