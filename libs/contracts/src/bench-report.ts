import { z } from 'zod';
import { ACCURACY_NOT_ASSESSABLE_POLICIES, benchConstraints } from './jobs';
import { engineConfigSchema, engineOptionsSchema } from './engines';
import { engineIdSchema, MODEL_TASKS } from './enums';

/**
 * The benchmark report: what apps/bench writes as report.json under
 * CVP_DATA_DIR/benchmarks/<id>/ and what the gateway serves as the technical JSON view.
 * Every number is in milliseconds, megabytes or requests per second as its name says.
 */
export const BENCH_REPORT_VERSION = 2 as const;
/**
 * Versions a reader accepts. 2 added, all optional for version-1 reports: whether the accuracy
 * constraint could be assessed (a nullable accuracyDrop), the agreement inputs and a confidence
 * bound, VRAM's reason when there is no figure, the served load counts (429, deadline), the model's
 * trained flag and the INT8 calibration source.
 */
export const BENCH_REPORT_VERSIONS = [1, BENCH_REPORT_VERSION] as const;

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

/** What the agreement compared on: real images or seeded synthetic tensors, and how many. */
export const agreementInputsSchema = z.object({
  count: z.number().int(),
  source: z.enum(['dataset', 'seeded']),
  /** e.g. "32 images of split val of the attached data set", "32 seeded synthetic inputs (seed 0)". */
  description: z.string(),
});
export type AgreementInputs = z.infer<typeof agreementInputsSchema>;

/**
 * A 95 % (or `confidence`) interval for the figure the accuracy drop comes from, so a change of
 * +-0.01 on 32 images is read as what it is: `paired-bootstrap` over images for the mAP@0.5 change
 * (both models scored on the same resampled images), `wilson` for the top-1 agreement rate,
 * `order-statistic` for output agreement (the share of inputs like these whose outputs stay at
 * least as close as the worst one seen).
 */
export const accuracyBoundSchema = z.object({
  confidence: z.number(),
  method: z.enum(['paired-bootstrap', 'wilson', 'order-statistic']),
  of: z.enum(['mapChange', 'top1Agreement', 'outputCoverage']),
  lower: z.number(),
  upper: z.number(),
  /** The largest accuracy drop the interval allows (null for output coverage, which bounds no drop). */
  dropUpper: z.number().nullable(),
  resamples: z.number().int().optional(),
  /** The bound in words. */
  note: z.string(),
});
export type AccuracyBound = z.infer<typeof accuracyBoundSchema>;

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
  /**
   * The number the maxAccuracyDrop constraint compares (which one: accuracyBasis); null when the
   * accuracy cannot be assessed here (see assessable), never a 0 that was not measured.
   */
  accuracyDrop: z.number().nullable(),
  samples: z.number().int(),
  /**
   * False when these inputs cannot tell an accuracy loss: only seeded synthetic inputs, an untrained
   * model, a baseline that finds nothing. Absent in version-1 reports.
   */
  assessable: z.boolean().optional(),
  notAssessableReason: z.string().nullable().optional(),
  inputs: agreementInputsSchema.optional(),
  bound: accuracyBoundSchema.nullable().optional(),
  /** Batch > 1: the batch-1 candidate (same model and engine) whose outputs were compared. */
  measuredOn: z.string().optional(),
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
  /** Highest GPU memory NVML attributed to the engine's process while it was measured (sampled); null: see vramReason. */
  peakVramMb: z.number().nullable(),
  /** Why peakVramMb is null: a CPU engine, or why NVML could not attribute GPU memory to the process. */
  vramReason: z.string().nullable().optional(),
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

/** Where a load run went: the data plane over HTTP (a scratch deployment), or the engine alone. */
const loadPathSchema = z.enum(['data-plane', 'engine']);

/** How the requests of an HTTP load run ended (version 2; every request sent is in one of them). */
const servedCounts = {
  /** 200 answers. */
  answered: z.number().int().optional(),
  /** 429: every worker busy and the queue full. */
  rejected: z.number().int().optional(),
  /** 429: the request's deadline passed while it waited. */
  deadlineExpired: z.number().int().optional(),
  /** Still in flight when the run ended (a time-bounded run closes with some). */
  unanswered: z.number().int().optional(),
  p99Ms: z.number().optional(),
  via: loadPathSchema.optional(),
};

export const concurrencyPointSchema = z.object({
  engine: z.string(),
  concurrency: z.number().int().min(1),
  /** Requests sent. */
  requests: z.number().int(),
  /** Failures other than 429 (transport errors, timeouts, other non-2xx). */
  errors: z.number().int(),
  /** Answered requests per second. */
  throughputRps: z.number(),
  /** Latency percentiles of the answered requests. */
  p50Ms: z.number(),
  p95Ms: z.number(),
  ...servedCounts,
});
export type ConcurrencyPoint = z.infer<typeof concurrencyPointSchema>;

export const stabilityResultSchema = z.object({
  engine: z.string(),
  users: z.number().int(),
  durationMs: z.number(),
  requests: z.number().int(),
  errors: z.number().int(),
  p95Ms: z.number(),
  /** No request failed: no error or timeout, no 429, no deadline expiry (requests in flight when the window closed do not count). */
  passed: z.boolean(),
  /** The first error seen, when any. */
  firstError: z.string().optional(),
  ...servedCounts,
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
  /** maxAccuracyDrop: false when the candidate's accuracy could not be assessed (value null). */
  assessable: z.boolean().optional(),
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
  /** What selection did with candidates whose accuracy could not be assessed (the job's choice). */
  accuracyPolicy: z.object({ whenNotAssessable: z.enum(ACCURACY_NOT_ASSESSABLE_POLICIES) }).optional(),
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
  /** What accuracy agreement ran on, e.g. "32 images of split val of the attached data set". */
  agreementInputs: z.string().optional(),
  /** Where the INT8 static variant's calibration images came from (null: no INT8 static variant made). */
  calibration: z.string().nullable().optional(),
  /** Where steps 6, 8 and 9 loaded the model: the data plane's URL, or why they could not. */
  servingPath: z.string().optional(),
});
export type BenchSettings = z.infer<typeof benchSettingsSchema>;

export const simpleViewSchema = z.object({
  headline: z.string(),
  chosen: z.string().nullable(),
  speedup: z.number().nullable(),
  baselineP50Ms: z.number(),
  chosenP50Ms: z.number().nullable(),
  accuracyImpact: z.string(),
  /** False when the chosen candidate's accuracy could not be assessed (absent in version-1 reports). */
  accuracyAssessable: z.boolean().optional(),
  recommendation: z.string(),
  caveats: z.array(z.string()),
});
export type SimpleView = z.infer<typeof simpleViewSchema>;

export const benchReportSchema = z.object({
  reportVersion: z.union([z.literal(1), z.literal(BENCH_REPORT_VERSION)]),
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
    /** The registry's word on whether this version has learned weights (null: not known). */
    trained: z.boolean().nullable().optional(),
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
