import type { ModuleMetadata, Type } from '@nestjs/common';
import type { AnyJobHandler } from './job-handler';

export interface JobWorkerOptions {
  /** Handler classes (Nest providers); one per job type this service works on. */
  handlers: Type<AnyJobHandler>[];
  /** Modules the handlers' own dependencies come from. */
  imports?: ModuleMetadata['imports'];
  /** Extra providers the handlers depend on. */
  providers?: ModuleMetadata['providers'];
  /** Jobs of each type run at once in this process (default 1). */
  concurrency?: number;
  /** JetStream ack wait: a worker that stops signalling for this long is presumed dead and the job redelivered (default 30 s). */
  ackWaitMs?: number;
  /** Deliveries before a job goes to the dead-letter subject and fails (default 5). */
  maxDeliveries?: number;
  /** Nak delay per failed attempt (the last entry repeats); default 1 s, 5 s, 15 s, 60 s. */
  backoffMs?: number[];
  /** Bound on the gateway's answer to the idempotency check (default 3 s). */
  statusTimeoutMs?: number;
  /** How long shutdown waits for aborted handlers (default 5 s). */
  shutdownGraceMs?: number;
  /** Progress events per job at most this often (default 250 ms); state changes are never throttled. */
  progressIntervalMs?: number;
}

export type ResolvedJobWorkerOptions = Required<Omit<JobWorkerOptions, 'imports' | 'providers'>>;

export function resolveWorkerOptions(o: JobWorkerOptions): ResolvedJobWorkerOptions {
  return {
    handlers: o.handlers,
    concurrency: o.concurrency ?? 1,
    ackWaitMs: o.ackWaitMs ?? 30_000,
    maxDeliveries: o.maxDeliveries ?? 5,
    backoffMs: o.backoffMs?.length ? o.backoffMs : [1000, 5000, 15_000, 60_000],
    statusTimeoutMs: o.statusTimeoutMs ?? 3000,
    shutdownGraceMs: o.shutdownGraceMs ?? 5000,
    progressIntervalMs: o.progressIntervalMs ?? 250,
  };
}

export const JOB_WORKER_OPTIONS = Symbol('JOB_WORKER_OPTIONS');
export const JOB_HANDLERS = Symbol('JOB_HANDLERS');
