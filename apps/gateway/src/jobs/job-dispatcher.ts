import { Injectable } from '@nestjs/common';
import { type JobDispatch, JobCancelContract, JobDispatchContract, Subjects } from '@cvp/contracts';
import { MessageBus } from '@cvp/platform';

/** The NATS side of creating and cancelling jobs (kept out of JobsService). */
@Injectable()
export class JobDispatcher {
  constructor(private readonly bus: MessageBus) {}

  /** Durable: resolves once JetStream stored it; msgID = job id, so a retried publish is deduplicated. */
  async dispatch(d: Omit<JobDispatch, 'schemaVersion'>): Promise<void> {
    await this.bus.publishDurable(JobDispatchContract, Subjects.jobDispatch(d.type), d, d.jobId);
  }

  /** Core NATS: whichever worker runs the job aborts it. */
  cancel(jobId: string, requestedBy: string): void {
    this.bus.publish(JobCancelContract, Subjects.jobCancel(jobId), { jobId, requestedBy });
  }
}
