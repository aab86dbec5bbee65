import { z } from 'zod';
import { benchConstraints } from './jobs';
import { engineConfigSchema, engineOptionsSchema } from './engines';
import { engineIdSchema, MODEL_TASKS } from './enums';

/**
 * The benchmark report: what apps/bench writes as report.json under
 * CVP_DATA_DIR/benchmarks/<id>/ and what the gateway serves as the technical JSON view.
 * Every number is in milliseconds, megabytes or requests per second as its name says.
 */
export const BENCH_REPORT_VERSION = 1 as const;

export const latencyStatsSchema = z.object({
  iterations: z.number().int().min(0),
  warmup: z.number().int().min(0),
  p50Ms: z.number(),
  p95Ms: z.number(),
  p99Ms: z.number(),
  meanMs: z.number(),
  stdMs: z.number(),
  minMs: z.number(),
  maxMs: z.number(),
  /** Coefficient of variation std/mean of the accepted attempt. */
  cv: z.number(),
  /** Measurement attempts made (re-measured while CV exceeded the threshold). */
  attempts: z.number().int().min(1),
  /** True when CV stayed above the threshold after every attempt: the numbers are reported, not trusted. */
  unstable: z.boolean(),
  /** Per-iteration latencies of the accepted attempt (capped), for distribution charts. */
  samplesMs: z.array(z.number()),
});
export type LatencyStats = z.infer<typeof latencyStatsSchema>;

export const mapScoresSchema = z.object({
  /** Split of the data set the images came from (val first, train only when nothing else exists). */
  split: z.string(),
  images: z.number().int(),
  /** Ground-truth boxes in those images. */
  boxes: z.number().int(),
  baselineMap50: z.number(),
  map50: z.number(),
  /** COCO mAP@0.5:0.95. */
  baselineMap50_95: z.number(),
  map50_95: z.number(),
});
export type MapScores = z.infer<typeof mapScoresSchema>;

export const agreementSchema = z.object({
  maxAbsDiff: z.number(),
  meanAbsDiff: z.number(),
  /** Lowest cosine similarity over the compared outputs. */
  cosine: z.number(),
  /** Share of samples whose arg-max class matches the baseline (classifiers). */
  top1Agreement: z.number().nullable(),
  /** Largest change of a detector's class confidence (rows 4.. of [B, 4+nc, N]). */
  scoreMaxAbsDiff: z.number().nullable(),
  /** Detectors with a labelled data set: this candidate's mAP@0.5 minus the baseline's; else null (see mapSkipReason). */
  mapChange: z.number().nullable(),
  /** The number the maxAccuracyDrop constraint compares (which one: accuracyBasis). */
  accuracyDrop: z.number(),
  samples: z.number().int(),
  /**
   * What accuracyDrop is: 'map50' = max(0, baseline mAP@0.5 - this mAP@0.5) (detectors with a
   * labelled data set), 'top1' = 1 - top-1 agreement (classifiers), 'cosine' = 1 - lowest cosine.
   * Absent in reports written before it existed (they used top1 or cosine).
   */
  accuracyBasis: z.enum(['map50', 'top1', 'cosine']).optional(),
  /** Both mAP values behind mapChange, on the same images of the labelled data set. */
  map: mapScoresSchema.nullable().optional(),
  /** Why mapChange is null for a detector (no data set, no YOLO labels, evaluation failed). */
  mapSkipReason: z.string().nullable().optional(),
});
export type Agreement = z.infer<typeof agreementSchema>;

export const timeSplitSchema = z.object({ preMs: z.number(), inferMs: z.number(), postMs: z.number() });
export type TimeSplit = z.infer<typeof timeSplitSchema>;

export const VARIANT_KINDS = ['fp32', 'fp16', 'int8-static', 'int8-dynamic'] as const;
export type VariantKind = (typeof VARIANT_KINDS)[number];

/** One engine configuration measured by the protocol. */
export const benchCandidateSchema = z.object({
  /** Stable name, e.g. "ort-node/cpu/fp32/all/t2/b1". */
  id: z.string(),
  engine: engineIdSchema,
  options: engineOptionsSchema,
  variant: z.enum(VARIANT_KINDS),
  modelPath: z.string(),
  batch: z.number().int().min(1),
  /** Protocol step that measured it. */
  step: z.number().int().min(1).max(9),
  latency: latencyStatsSchema,
  /** Images per second at batch `batch`, one caller. */
  throughput: z.number(),
  buildMs: z.number(),
  firstInferenceMs: z.number(),
  peakRssMb: z.number().nullable(),
  peakVramMb: z.number().nullable(),
  agreement: agreementSchema.nullable(),
  timeSplit: timeSplitSchema.nullable(),
  /** Only batch-1 candidates compete in selection; others are informative. */
  selectable: z.boolean(),
});
export type BenchCandidate = z.infer<typeof benchCandidateSchema>;

export const STEP_STATUSES = ['done', 'skipped', 'failed'] as const;
export const benchStepSchema = z.object({
  step: z.number().int().min(1).max(9),
  name: z.string(),
  status: z.enum(STEP_STATUSES),
  /** Why a step (or part of it) was skipped or failed. */
  reasons: z.array(z.string()),
  durationMs: z.number(),
  candidateIds: z.array(z.string()),
  details: z.record(z.string(), z.unknown()),
});
export type BenchStep = z.infer<typeof benchStepSchema>;

export const concurrencyPointSchema = z.object({
  engine: z.string(),
  concurrency: z.number().int().min(1),
  requests: z.number().int(),
  errors: z.number().int(),
  throughputRps: z.number(),
  p50Ms: z.number(),
  p95Ms: z.number(),
});
export type ConcurrencyPoint = z.infer<typeof concurrencyPointSchema>;

export const stabilityResultSchema = z.object({
  engine: z.string(),
  users: z.number().int(),
  durationMs: z.number(),
  requests: z.number().int(),
  errors: z.number().int(),
  p95Ms: z.number(),
  passed: z.boolean(),
  /** The first error seen, when any. */
  firstError: z.string().optional(),
});
export type StabilityResult = z.infer<typeof stabilityResultSchema>;

export const CONSTRAINT_NAMES = ['maxP95Ms', 'maxRssMb', 'maxVramMb', 'maxAccuracyDrop', 'minThroughput'] as const;
export type ConstraintName = (typeof CONSTRAINT_NAMES)[number];

export const constraintCheckSchema = z.object({
  constraint: z.enum(CONSTRAINT_NAMES),
  limit: z.number().nullable(),
  value: z.number().nullable(),
  passed: z.boolean(),
  why: z.string(),
});
export type ConstraintCheck = z.infer<typeof constraintCheckSchema>;

export const decisionCandidateSchema = z.object({
  candidateId: z.string(),
  feasible: z.boolean(),
  /** 1-based rank among feasible candidates; null when infeasible. */
  rank: z.number().int().nullable(),
  objectiveMs: z.number(),
  /** Within the noise margin of the fastest feasible candidate. */
  withinMargin: z.boolean(),
  checks: z.array(constraintCheckSchema),
  why: z.string(),
});
export type DecisionCandidate = z.infer<typeof decisionCandidateSchema>;

/** One model-instance layout (N sessions x T threads) of the chosen configuration, under load. */
export const instanceLayoutResultSchema = z.object({
  instances: z.number().int().min(1),
  threads: z.number().int().min(0),
  /** Inferences per second with every instance busy (closed loop, one caller per instance and one more). */
  throughput: z.number(),
  /** Latency of one run under that load (a single caller sees about this with T threads). */
  p50Ms: z.number(),
  p95Ms: z.number(),
  /** Peak RSS of the process holding every instance. */
  peakRssMb: z.number().nullable(),
  feasible: z.boolean(),
  why: z.string(),
});
export type InstanceLayoutResult = z.infer<typeof instanceLayoutResultSchema>;

/**
 * The instance layout chosen for serving the chosen configuration: the most throughput among
 * layouts within the job's limits (p95 of a run against maxP95Ms, peak RSS against maxRssMb),
 * layouts within the noise margin of the best tie-breaking to fewer instances (less memory).
 */
export const instanceDecisionSchema = z.object({
  candidateId: z.string(),
  /** The layouts measured (empty when none could be: a GPU provider, the engine not measured). */
  layouts: z.array(instanceLayoutResultSchema),
  chosen: z.object({ instances: z.number().int().min(1), threads: z.number().int().min(0) }),
  why: z.string(),
});
export type InstanceDecision = z.infer<typeof instanceDecisionSchema>;

export const decisionRecordSchema = z.object({
  status: z.enum(['selected', 'infeasible', 'no-candidates']),
  objective: z.literal('p95Ms'),
  constraints: benchConstraints,
  /** Defaults applied where the job gave none (maxAccuracyDrop, maxVramMb). */
  effectiveConstraints: z.record(z.string(), z.number()),
  noiseMarginMs: z.number(),
  tieBreak: z.array(z.string()),
  chosenId: z.string().nullable(),
  chosen: engineConfigSchema.nullable(),
  /** When nothing is feasible: the candidate that failed least, and what it failed. */
  closest: z.object({ candidateId: z.string(), failed: z.array(z.enum(CONSTRAINT_NAMES)) }).nullable(),
  candidates: z.array(decisionCandidateSchema),
  summary: z.string(),
  /** Model instances for the chosen configuration (chosen.options carries them); absent in reports before it existed. */
  instances: instanceDecisionSchema.nullable().optional(),
});
export type DecisionRecord = z.infer<typeof decisionRecordSchema>;

export const environmentSchema = z.object({
  cpuModel: z.string(),
  cores: z.number().int(),
  totalMemMb: z.number(),
  os: z.string(),
  node: z.string(),
  onnxruntimeNode: z.string(),
  nativeCore: z.string().nullable(),
  availableProviders: z.array(z.string()),
  gpu: z.string().nullable(),
});
export type Environment = z.infer<typeof environmentSchema>;

export const benchSettingsSchema = z.object({
  warmup: z.number().int(),
  iterations: z.number().int(),
  cvThreshold: z.number(),
  maxAttempts: z.number().int(),
  seed: z.number().int(),
  threads: z.array(z.number().int()),
  concurrency: z.array(z.number().int()),
  concurrencyRequests: z.number().int(),
  stabilityUsers: z.number().int(),
  stabilityDurationMs: z.number().int(),
  inputSource: z.string(),
});
export type BenchSettings = z.infer<typeof benchSettingsSchema>;

export const simpleViewSchema = z.object({
  headline: z.string(),
  chosen: z.string().nullable(),
  speedup: z.number().nullable(),
  baselineP50Ms: z.number(),
  chosenP50Ms: z.number().nullable(),
  accuracyImpact: z.string(),
  recommendation: z.string(),
  caveats: z.array(z.string()),
});
export type SimpleView = z.infer<typeof simpleViewSchema>;

export const benchReportSchema = z.object({
  reportVersion: z.literal(BENCH_REPORT_VERSION),
  id: z.string(),
  jobId: z.string().nullable(),
  model: z.object({
    id: z.string(),
    version: z.number().int(),
    name: z.string(),
    task: z.enum(MODEL_TASKS).nullable(),
    path: z.string(),
    inputName: z.string(),
    inputShape: z.array(z.number().int()),
    dynamicBatch: z.boolean(),
  }),
  createdAt: z.string(),
  durationMs: z.number(),
  settings: benchSettingsSchema,
  environment: environmentSchema,
  baselineId: z.string(),
  steps: z.array(benchStepSchema),
  candidates: z.array(benchCandidateSchema),
  concurrency: z.array(concurrencyPointSchema),
  stability: z.array(stabilityResultSchema),
  decision: decisionRecordSchema,
  simple: simpleViewSchema,
});
export type BenchReport = z.infer<typeof benchReportSchema>;
