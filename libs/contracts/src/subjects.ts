import type { JobType } from './enums';

/**
 * Every NATS subject of the platform, in one place: `cvp.<domain>.<verb>`.
 * Jobs are dispatched on JetStream (one stream per job type); progress and state
 * changes flow back on a JetStream stream the gateway consumes durably.
 */
export const Subjects = {
  jobDispatch: (type: JobType) => `cvp.jobs.${type}.dispatch`,
  jobDispatchAll: 'cvp.jobs.*.dispatch',
  jobProgress: (jobId: string) => `cvp.jobs.${jobId}.progress`,
  jobProgressAll: 'cvp.jobs.*.progress',
  jobCancel: (jobId: string) => `cvp.jobs.${jobId}.cancel`,
  jobCancelAll: 'cvp.jobs.*.cancel',
  jobDeadLetter: 'cvp.jobs.deadletter',
  /** Core NATS, heard by every gateway: a gateway stored an event of this job (SSE streams elsewhere read it). */
  jobEventStored: (jobId: string) => `cvp.jobs.${jobId}.stored`,
  jobEventStoredAll: 'cvp.jobs.*.stored',
  /** Request-reply answered by the gateway: a job's state (worker idempotency check). */
  jobStatus: 'cvp.jobs.status.get',

  leaseAcquire: 'cvp.gpu.lease.acquire',
  leaseRenew: 'cvp.gpu.lease.renew',
  leaseRelease: 'cvp.gpu.lease.release',

  /** Request-reply answered by the gateway: who a bearer credential is (the data plane's check). */
  credentialVerify: 'cvp.auth.verify',

  deploymentChanged: 'cvp.deployments.changed',
  deploymentStatus: 'cvp.deployments.status',
  /** A data-plane replica that started asks for the active deployments (one gateway re-announces them). */
  deploymentResync: 'cvp.deployments.resync',
  /** Request-reply answered by one data-plane replica: a CPU profile of its process for a while. */
  inferenceCpuProfile: 'cvp.inference.profile.cpu',
} as const;

/** JetStream stream names. */
export const Streams = {
  jobs: (type: JobType) => `CVP_JOBS_${type.toUpperCase()}`,
  jobEvents: 'CVP_JOB_EVENTS',
  deadLetter: 'CVP_JOBS_DLQ',
} as const;

/** Durable consumer names. */
export const Consumers = {
  worker: (type: JobType) => `cvp-${type}-workers`,
  gatewayJobEvents: 'cvp-gateway-job-events',
} as const;
