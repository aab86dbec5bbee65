/**
 * Worker side of durable jobs. INTERFACE ONLY for now: issue #4 implements the JetStream pull
 * consumer (ack after completion, in-progress signals, nak with backoff, dead letter, idempotent
 * by job id, cancel) behind it. Worker services (trainer-bridge, bench, packager) implement
 * JobHandler and register it; they never touch NATS themselves.
 */
import type { JobInputs, JobType } from '@cvp/contracts';
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

/** What a job made: modelId of a new version, benchmarkId, packageId, trials... (SPEC "result"). */
export type JobResult = Record<string, unknown>;

export interface JobHandler<T extends JobType> {
  readonly type: T;
  handle(input: JobInputs[T], ctx: JobContext): Promise<JobResult>;
}

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
