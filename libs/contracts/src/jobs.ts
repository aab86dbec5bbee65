import { z } from 'zod';
import { contract, issuesOf, message, requestReply } from './envelope';
import { artifactKeySchema, artifactRefSchema } from './artifact-ref';
import { engineConfigSchema } from './engines';
import {
  ENGINE_IDS,
  engineIdSchema,
  jobStateSchema,
  type JobType,
  jobTypeSchema,
  MODEL_FORMATS,
  TUNE_STRATEGIES,
} from './enums';
import { Subjects } from './subjects';

const id = z.string().min(1).max(64);
const device = z
  .string()
  .regex(/^(cpu|\d+)$/, 'cpu or a CUDA device index')
  .default('cpu');

// ---- Inputs: what POST /jobs/<type> accepts and what a worker's handler receives. camelCase,
// unknown fields refused, so a typo is a 400 rather than a silently ignored option.

export const convertJobInput = z.object({ modelId: id }).strict();
export const trainJobInput = z
  .object({
    modelId: id,
    datasetId: id,
    epochs: z.number().int().min(1).max(1000),
    imgsz: z.number().int().min(32).max(2048).multipleOf(32),
    batch: z.number().int().min(1).max(512),
    device,
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
  })
  .strict();
export const tuneJobInput = z
  .object({
    modelId: id,
    datasetId: id,
    strategy: z.enum(TUNE_STRATEGIES),
    trials: z.number().int().min(1).max(500),
    epochs: z.number().int().min(1).max(300),
    imgsz: z.number().int().min(32).max(2048).multipleOf(32),
    device,
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    space: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export const benchConstraints = z
  .object({
    maxP95Ms: z.number().positive().optional(),
    maxRssMb: z.number().positive().optional(),
    maxVramMb: z.number().positive().optional(),
    maxAccuracyDrop: z.number().min(0).max(1).optional(),
    minThroughput: z.number().positive().optional(),
  })
  .strict();
/**
 * What selection does with a candidate whose accuracy cannot be assessed (only synthetic inputs,
 * or an untrained model): `refuse` holds it infeasible under maxAccuracyDrop; `accept` lets it
 * compete, and both report views carry the caveat.
 */
export const ACCURACY_NOT_ASSESSABLE_POLICIES = ['refuse', 'accept'] as const;
export type AccuracyNotAssessablePolicy = (typeof ACCURACY_NOT_ASSESSABLE_POLICIES)[number];
export const benchJobInput = z
  .object({
    modelId: id,
    inputShape: z.array(z.number().int().min(1).max(8192)).min(1).max(8).optional(),
    datasetId: id.optional(),
    constraints: benchConstraints.default({}),
    whenAccuracyNotAssessable: z.enum(ACCURACY_NOT_ASSESSABLE_POLICIES).optional(),
  })
  .strict();
export const packageJobInput = z
  .object({
    modelId: id,
    engine: z.union([engineIdSchema, z.literal('selected')]),
    variant: z.enum(['cpu', 'cuda']).default('cpu'),
  })
  .strict();

export const jobInputSchemas = {
  convert: convertJobInput,
  train: trainJobInput,
  tune: tuneJobInput,
  bench: benchJobInput,
  package: packageJobInput,
} as const;
export type JobInputs = { [K in keyof typeof jobInputSchemas]: z.infer<(typeof jobInputSchemas)[K]> };
export type BenchConstraints = z.infer<typeof benchConstraints>;

// ---- Results: what a worker's handler returns for each job type. The worker validates it before
// it reports success, and the gateway parses it again before its completion hooks see it, so a
// field that drifts on one side fails the job with the field's name instead of storing garbage.
// Files are artifact references (artifact-ref.ts): keys with the artifact store, absolute paths in
// the shared data dir with the local default; package paths are always keys (data-dir-relative).

const record = z.record(z.string(), z.unknown());
const modelVersionFields = {
  modelId: id,
  version: z.number().int().min(1),
  onnxPath: artifactRefSchema,
  /** `python -m cvp_ml inspect` output: inputs/outputs, opset, parameters, FLOPs, size, sha256, path. */
  metadata: record,
};

export const convertJobResult = z
  .object({
    ...modelVersionFields,
    sourcePath: artifactRefSchema.nullable(),
    sourceFormat: z.enum(MODEL_FORMATS),
    /** Largest |source - onnx| on seeded inputs; null when the source is already ONNX. */
    maxAbsDiff: z.number().nullable(),
    comparison: record.nullable(),
    validation: record,
    trained: z.boolean(),
    preset: z.string().nullable(),
    /** True when the ONNX was added to an existing version that had only its source (an upload). */
    filledExistingVersion: z.boolean(),
    note: z.string().optional(),
  })
  .strict();

export const trainJobResult = z
  .object({
    ...modelVersionFields,
    /** The trained checkpoint (best.pt), kept as the version's source. */
    sourcePath: artifactRefSchema,
    sourceFormat: z.literal('ultralytics'),
    trained: z.literal(true),
    /** Final validation metrics (metrics/mAP50-95(B), metrics/accuracy_top1, ...). */
    metrics: z.record(z.string(), z.number().nullable()),
    primaryMetric: z.string(),
    accuracy: z.number().nullable(),
    datasetId: id,
    epochs: z.number().int().min(1),
    imgsz: z.number().int().min(1),
    trainSeconds: z.number().nullable(),
    /** Fencing token of the GPU lease the training ran under. */
    leaseFencingToken: z.number().int().min(1),
  })
  .strict();

/** One tuning trial as the job result keeps it (the tune report keeps the full record). */
export const tuneTrialSchema = z
  .object({
    number: z.number().int().min(0),
    status: z.string().optional(),
    params: record.optional(),
    accuracy: z.number().nullable().optional(),
    latency_ms: z.number().nullable().optional(),
    duration_s: z.number().nullable().optional(),
    started_at: z.string().nullable().optional(),
    finished_at: z.string().nullable().optional(),
    error: z.string().nullable().optional(),
    /** The interrupted trial this one re-runs. */
    retry_of: z.number().int().nullable().optional(),
  })
  .passthrough();
export type TuneTrial = z.infer<typeof tuneTrialSchema>;

export const paretoPointSchema = z
  .object({ number: z.number().int().min(0), params: record, accuracy: z.number(), latency_ms: z.number() })
  .strict();
export type ParetoPoint = z.infer<typeof paretoPointSchema>;

export const tuneBestSchema = z
  .object({
    number: z.number().int().min(0),
    params: record,
    accuracy: z.number(),
    latency_ms: z.number().optional(),
    /** How the best trial was picked when there are several objectives. */
    rule: z.string().optional(),
  })
  .strict();
export type TuneBest = z.infer<typeof tuneBestSchema>;

export const tuneJobResult = z
  .object({
    ...modelVersionFields,
    strategy: z.enum(TUNE_STRATEGIES),
    trials: z.array(tuneTrialSchema),
    completed: z.number().int().min(0),
    failed: z.number().int().min(0),
    best: tuneBestSchema,
    /** nsga2 only: accuracy against latency. */
    paretoFront: z.array(paretoPointSchema).optional(),
    /** The best trial's model, registered as a new version. */
    sourcePath: artifactRefSchema,
    sourceFormat: z.literal('ultralytics'),
    trained: z.literal(true),
    /** The best trial's metrics. */
    metrics: record,
    reportPath: artifactRefSchema,
    reportHtmlPath: artifactRefSchema,
    studyPath: artifactRefSchema,
    /**
     * Fencing token of the GPU lease the best trial trained under; absent only when trials run
     * without a lease (no trial wrapper configured).
     */
    leaseFencingToken: z.number().int().min(1).optional(),
  })
  .strict();

export const benchJobResult = z
  .object({
    benchmarkId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    modelId: id,
    modelVersion: z.number().int().min(1),
    /** Folder of report.json, technical.html, simple.html and the decision record. */
    reportDir: artifactRefSchema,
    status: z.enum(['selected', 'infeasible', 'no-candidates']),
    selected: engineConfigSchema.nullable(),
    selectedId: z.string().nullable(),
    baselineP50Ms: z.number(),
    selectedP50Ms: z.number().nullable(),
    summary: z.string(),
  })
  .strict();

export const packageJobResult = z
  .object({
    /** pkg-<24 hex>: a hash of the bundle's manifest, so equal inputs give the same package. */
    packageId: z.string().regex(/^pkg-[0-9a-f]{24}$/),
    modelId: id,
    modelVersion: z.number().int().min(1),
    /** The engine actually bundled (bench's choice when the input said "selected"). */
    engine: z.enum(ENGINE_IDS),
    /** The bundled engine config; modelPath is the file name inside the bundle. */
    engineConfig: engineConfigSchema,
    selected: z.boolean(),
    variant: z.enum(['cpu', 'cuda']),
    benchmarkId: id.nullable(),
    /** Relative to the data dir. */
    tarballPath: artifactKeySchema,
    bundlePath: artifactKeySchema,
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    sizeBytes: z.number().int().min(1),
    fileCount: z.number().int().min(1),
  })
  .strict();

export const jobResultSchemas = {
  convert: convertJobResult,
  train: trainJobResult,
  tune: tuneJobResult,
  bench: benchJobResult,
  package: packageJobResult,
} as const;
export type JobResults = { [K in keyof typeof jobResultSchemas]: z.infer<(typeof jobResultSchemas)[K]> };
export type ConvertJobResult = JobResults['convert'];
export type TrainJobResult = JobResults['train'];
export type TuneJobResult = JobResults['tune'];
export type BenchJobResult = JobResults['bench'];
export type PackageJobResult = JobResults['package'];

/** A job result that does not match its type's schema; the message names every wrong field. */
export class JobResultRejectedError extends Error {
  constructor(
    readonly type: JobType,
    readonly issues: string[],
  ) {
    super(`${type} result rejected: ${issues.join('; ')}`);
    this.name = 'JobResultRejectedError';
  }
}

/** Parses a job result against its type's schema; throws JobResultRejectedError. */
export function parseJobResult<T extends JobType>(type: T, value: unknown): JobResults[T] {
  const r = jobResultSchemas[type].safeParse(value);
  if (!r.success) throw new JobResultRejectedError(type, issuesOf(r.error));
  return r.data as JobResults[T];
}

// ---- Messages of the job protocol (libs/jobs sends and receives them).

/** Dispatch message on `cvp.jobs.<type>.dispatch` (JetStream). */
export const jobDispatchSchema = message({
  jobId: id,
  type: jobTypeSchema,
  ownerId: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
});
export type JobDispatch = z.infer<typeof jobDispatchSchema>;
export const JobDispatchContract = contract<JobDispatch>('job.dispatch', jobDispatchSchema);

/** Progress and state changes on `cvp.jobs.<id>.progress`; `seq` orders events per job. */
export const jobEventSchema = message({
  jobId: id,
  seq: z.number().int().min(0),
  at: z.string().datetime(),
  state: jobStateSchema.optional(),
  progress: z.number().min(0).max(1).optional(),
  stage: z.string().max(200).optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.string().max(4000).optional(),
  attempt: z.number().int().min(1).optional(),
});
export type JobEvent = z.infer<typeof jobEventSchema>;
export const JobEventContract = contract<JobEvent>('job.event', jobEventSchema);
/**
 * One event of a job's SSE stream (GET /api/v1/jobs/:id/events): the stored job event without the
 * message envelope; `seq` is its SSE id, the resume point a client sends back as Last-Event-ID.
 */
export type JobStreamEvent = Omit<JobEvent, 'schemaVersion'>;

/**
 * On `cvp.jobs.<id>.stored` (core NATS, every gateway listens): a gateway stored the job's event
 * `seq`. A hint only: gateways holding SSE streams of that job read the events from the database.
 */
export const jobEventStoredSchema = message({
  jobId: id,
  seq: z.number().int().min(1),
  /** The gateway process that stored it (it ignores its own notices). */
  origin: z.string().min(1).max(64),
});
export type JobEventStored = z.infer<typeof jobEventStoredSchema>;
export const JobEventStoredContract = contract<JobEventStored>('job.event.stored', jobEventStoredSchema);

/** Cancel request on `cvp.jobs.<id>.cancel` (core NATS, request-reply). */
export const jobCancelSchema = message({ jobId: id, requestedBy: z.string().min(1) });
export type JobCancel = z.infer<typeof jobCancelSchema>;
export const JobCancelContract = contract<JobCancel>('job.cancel', jobCancelSchema);

/** What lands on the dead-letter subject after the last delivery failed. */
export const jobDeadLetterSchema = message({
  jobId: id,
  type: jobTypeSchema,
  deliveries: z.number().int().min(1),
  reason: z.string().max(4000),
  at: z.string().datetime(),
});
export type JobDeadLetter = z.infer<typeof jobDeadLetterSchema>;
export const JobDeadLetterContract = contract<JobDeadLetter>('job.deadletter', jobDeadLetterSchema);

/** Worker -> gateway: the job's current state, so a redelivered finished job is not run again (`cvp.jobs.status.get`). */
export const jobStatusRequestSchema = message({ jobId: id });
export type JobStatusRequest = z.infer<typeof jobStatusRequestSchema>;
export const JobStatusRequestContract = contract<JobStatusRequest>('job.status.req', jobStatusRequestSchema);
export const jobStatusReplySchema = message({ jobId: id, state: z.union([jobStateSchema, z.literal('unknown')]) });
export type JobStatusReply = z.infer<typeof jobStatusReplySchema>;
export const JobStatusReplyContract = contract<JobStatusReply>('job.status.reply', jobStatusReplySchema);
export const JobStatusLookup = requestReply(Subjects.jobStatus, JobStatusRequestContract, JobStatusReplyContract);
