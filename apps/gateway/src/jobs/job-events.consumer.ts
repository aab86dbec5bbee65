import { type BeforeApplicationShutdown, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  Consumers,
  JobEventContract,
  JobStatusReplyContract,
  JobStatusRequestContract,
  Streams,
  Subjects,
} from '@cvp/contracts';
import { ensureJobStreams } from '@cvp/jobs';
import { InjectLogger, MessageBus, ReadinessChecks } from '@cvp/platform';
import { AckPolicy, type Consumer, DeliverPolicy, nanos, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { JobsService } from './jobs.service';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The gateway's NATS side of jobs: a durable consumer of CVP_JOB_EVENTS (worker state, progress
 * and results, applied in order and acked after they are stored) and the responder of the
 * workers' idempotency check (cvp.jobs.status.get).
 */
@Injectable()
export class JobEventsConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private stopping = false;
  private loop?: Promise<void>;
  private statusSub?: Subscription;
  private ready = false;

  constructor(
    private readonly bus: MessageBus,
    private readonly jobs: JobsService,
    private readonly readiness: ReadinessChecks,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.readiness.register('job-events', () => this.ready || 'job event consumer not started');
    const jsm = await this.bus.jetstreamManager();
    await ensureJobStreams(jsm);
    const durable = Consumers.gatewayJobEvents;
    try {
      await jsm.consumers.info(Streams.jobEvents, durable);
    } catch {
      await jsm.consumers.add(Streams.jobEvents, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(30_000),
        deliver_policy: DeliverPolicy.New,
        // One at a time: a job's events are applied in the order workers sent them.
        max_ack_pending: 1,
      });
    }
    this.statusSub = this.bus.subscribe(JobStatusRequestContract, Subjects.jobStatus, async (req, msg) => {
      this.bus.respond(msg, JobStatusReplyContract, { jobId: req.jobId, state: await this.jobs.stateOf(req.jobId) });
    });
    const consumer = await this.bus.jetstream().consumers.get(Streams.jobEvents, durable);
    this.ready = true;
    this.loop = this.consume(consumer);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.statusSub?.unsubscribe();
    await this.loop;
  }

  private async consume(consumer: Consumer): Promise<void> {
    while (!this.stopping) {
      let msg;
      try {
        msg = await consumer.next({ expires: 1000 });
      } catch (e) {
        if (this.stopping) break;
        this.logger.warn({ err: e }, 'pulling job events failed; retrying');
        await sleep(500);
        continue;
      }
      if (!msg) continue;
      const event = this.bus.decode(JobEventContract, msg.data, msg.subject);
      if (!event) {
        msg.term();
        continue;
      }
      try {
        await this.jobs.applyWorkerEvent(event);
        msg.ack();
      } catch (e) {
        this.logger.error({ err: e, jobId: event.jobId }, 'applying a job event failed; retrying');
        msg.nak(1000);
      }
    }
  }
}
