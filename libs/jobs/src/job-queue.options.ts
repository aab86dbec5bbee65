export interface JobQueueOptions {
  /** NATS queue group of the @RespondsTo subscriptions: one process of the service answers each request (default "gateway"). */
  responderQueue?: string;
  /** An applied worker event not acked for this long is redelivered (default 30 s). */
  eventAckWaitMs?: number;
}

export type ResolvedJobQueueOptions = Required<JobQueueOptions>;

export function resolveJobQueueOptions(o: JobQueueOptions): ResolvedJobQueueOptions {
  return { responderQueue: o.responderQueue ?? 'gateway', eventAckWaitMs: o.eventAckWaitMs ?? 30_000 };
}

export const JOB_QUEUE_OPTIONS = Symbol('JOB_QUEUE_OPTIONS');
