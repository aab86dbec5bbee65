import { z } from 'zod';
import { contract, message } from './envelope';
import { engineIdSchema, jobStateSchema, jobTypeSchema, TUNE_STRATEGIES } from './enums';

const id = z.string().min(1).max(64);
const device = z
  .string()
  .regex(/^(cpu|\d+)$/, 'cpu or a CUDA device index')
  .default('cpu');

/** REST job inputs (SPEC "Job payloads"): camelCase, unknown fields refused. */
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
export const benchJobInput = z
  .object({
    modelId: id,
    inputShape: z.array(z.number().int().min(1).max(8192)).min(1).max(8).optional(),
    datasetId: id.optional(),
    constraints: benchConstraints.default({}),
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
