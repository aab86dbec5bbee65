import { randomUUID } from 'node:crypto';
import { type BeforeApplicationShutdown, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { JobEventStoredContract, Subjects } from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Subscription } from 'nats';
import type { Logger } from 'pino';
import { JobEventHub } from './job-event-hub';

/**
 * Tells the other gateways when this one stored a job event, and wakes this gateway's SSE streams
 * when another one did: a client's stream may be held by any replica. Notices are core NATS (a
 * lost one costs latency only: streams also re-read the database every CVP_JOB_SSE_POLL_MS).
 */
@Injectable()
export class JobEventsPublisher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** This process, so it ignores its own notices (its streams got those events already). */
  private readonly origin = randomUUID();
  private sub?: Subscription;
  private untap?: () => void;

  constructor(
    private readonly bus: MessageBus,
    private readonly hub: JobEventHub,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.sub = this.bus.subscribe(JobEventStoredContract, Subjects.jobEventStoredAll, (n) => {
      if (n.origin !== this.origin) this.hub.wake(n.jobId);
    });
    this.untap = this.hub.tap((jobId, e) => {
      try {
        this.bus.publish(JobEventStoredContract, Subjects.jobEventStored(jobId), {
          jobId,
          seq: e.seq,
          origin: this.origin,
        });
      } catch (err) {
        this.logger.debug({ err, jobId }, 'job event notice not sent (other gateways poll)');
      }
    });
  }

  beforeApplicationShutdown(): void {
    this.untap?.();
    this.sub?.unsubscribe();
  }
}
