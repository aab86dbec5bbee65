/**
 * What a worker service (trainer-bridge, bench, packager) implements per job type. JobWorkerModule
 * runs it: pulls the dispatch, checks with the gateway that the job is not finished already, calls
 * handle() with a context, validates the returned result against the type's contract and reports
 * it. Handlers never touch NATS themselves; docs/jobs.md follows one job through every file.
 */
import type { JobInputs, JobResults, JobType } from '@cvp/contracts';
import type { Logger } from 'pino';

export interface JobProgressUpdate {
  /** 0..1 */
  progress?: number;
  stage?: string;
  detail?: Record<string, unknown>;
}

export interface JobContext {
  readonly jobId: string;
  readonly ownerId: string;
  /** 1 on the first delivery. */
  readonly attempt: number;
  /** Aborted when the job is cancelled or the worker shuts down. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Stores progress on the job and relays it to SSE subscribers; also tells JetStream we are alive. */
  progress(update: JobProgressUpdate): void;
}

export interface JobHandler<T extends JobType> {
  readonly type: T;
  /** Resolves with what the job made (a model version, a benchmark, a package...), as jobResultSchemas[T] describes it. */
  handle(input: JobInputs[T], ctx: JobContext): Promise<JobResults[T]>;
}

/** A handler of any one job type. */
export type AnyJobHandler = { [T in JobType]: JobHandler<T> }[JobType];

/** Throw to have the delivery retried with backoff (until max deliveries, then dead letter). */
export class RetryableJobError extends Error {
  override name = 'RetryableJobError';
}

/** Throw to fail the job at once with this message (bad input, unsupported model...). */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/** Thrown by handlers that stopped because ctx.signal aborted. */
export class JobCancelledError extends Error {
  override name = 'JobCancelledError';
}
