export interface JobQueueOptions {
  /** NATS queue group of the @RespondsTo subscriptions: one process of the service answers each request (default "gateway"). */
  responderQueue?: string;
  /**
   * A worker event whose gateway stopped signalling for this long is redelivered to another one
   * (default 5 s). A live gateway keeps its claim with heartbeats however long the apply takes, so
   * this bounds how long a gateway that died holding an event stalls every job's events.
   */
  eventAckWaitMs?: number;
}

export type ResolvedJobQueueOptions = Required<JobQueueOptions>;

export function resolveJobQueueOptions(o: JobQueueOptions): ResolvedJobQueueOptions {
  return { responderQueue: o.responderQueue ?? 'gateway', eventAckWaitMs: o.eventAckWaitMs ?? 5_000 };
}

export const JOB_QUEUE_OPTIONS = Symbol('JOB_QUEUE_OPTIONS');
