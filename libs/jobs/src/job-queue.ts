import { type BeforeApplicationShutdown, Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  Consumers,
  type JobDispatch,
  JobCancelContract,
  JobDispatchContract,
  type JobEvent,
  JobEventContract,
  Streams,
  Subjects,
} from '@cvp/contracts';
import { InjectLogger, MessageBus, ReadinessChecks } from '@cvp/platform';
import { DeliverPolicy, type JsMsg } from 'nats';
import type { Logger } from 'pino';
import { ensureDurableConsumer, pullLoop } from './durable-consumer';
import { ensureJobStreams } from './job-streams';
import { JOB_QUEUE_OPTIONS, type ResolvedJobQueueOptions } from './job-queue.options';

/** Where a worker event sits in the events stream. */
export interface JobEventDelivery {
  /**
   * The event's sequence in the stream: unique, and increasing across one job's events, since they
   * are applied one at a time in stream order. A redelivery (the gateway that held it died before
   * its ack) carries the same number, so an applier that stores it applies each event once.
   */
  streamSeq: number;
}

/** Applies one worker event to the service's own records; a throw has the event redelivered. */
export type JobEventApplier = (event: JobEvent, delivery: JobEventDelivery) => Promise<void>;

/**
 * The gateway half of the job protocol (the worker half is JobWorkerService): durable dispatch of
 * new jobs on JetStream, cancel notices, and the durable consumer of the events workers report
 * (state, progress, results), applied one at a time in the order they were sent.
 */
@Injectable()
export class JobQueue implements OnModuleInit, BeforeApplicationShutdown {
  private readonly shutdown = new AbortController();
  private streams?: Promise<void>;
  private loop?: Promise<void>;

  constructor(
    private readonly bus: MessageBus,
    private readonly readiness: ReadinessChecks,
    @InjectLogger() private readonly logger: Logger,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
  ) {}

  onModuleInit(): void {
    this.readiness.register('job-events', () => !!this.loop || 'job event consumer not started');
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shutdown.abort();
    await this.loop;
  }

  /** Durable: resolves once JetStream stored it; msgID = job id, so a retried publish is deduplicated. */
  async dispatch(d: Omit<JobDispatch, 'schemaVersion'>): Promise<void> {
    await this.ensureStreams();
    await this.bus.publishDurable(JobDispatchContract, Subjects.jobDispatch(d.type), d, d.jobId);
  }

  /** Core NATS: whichever worker runs the job aborts it. */
  cancel(jobId: string, requestedBy: string): void {
    this.bus.publish(JobCancelContract, Subjects.jobCancel(jobId), { jobId, requestedBy });
  }

  /**
   * Starts consuming worker events (once per process). Each event is acked after `apply`
   * resolved and redelivered a second later when it threw, or after the ack wait when the process
   * that held it died; an event that does not match its contract is dropped.
   */
  async consumeEvents(apply: JobEventApplier): Promise<void> {
    if (this.loop) throw new Error('job events are consumed already');
    await this.ensureStreams();
    const jsm = await this.bus.jetstreamManager();
    await ensureDurableConsumer(jsm, {
      stream: Streams.jobEvents,
      durable: Consumers.gatewayJobEvents,
      ackWaitMs: this.options.eventAckWaitMs,
      // One at a time: a job's events are applied in the order workers sent them.
      maxAckPending: 1,
      deliverPolicy: DeliverPolicy.New,
    });
    const consumer = await this.bus.jetstream().consumers.get(Streams.jobEvents, Consumers.gatewayJobEvents);
    this.loop = pullLoop(consumer, (msg) => this.applyEvent(msg, apply), {
      signal: this.shutdown.signal,
      logger: this.logger,
      what: 'job events',
    });
  }

  private ensureStreams(): Promise<void> {
    if (!this.streams) {
      const attempt = this.bus.jetstreamManager().then(ensureJobStreams);
      this.streams = attempt;
      // A failed attempt is not remembered: the next call tries again.
      attempt.catch(() => {
        if (this.streams === attempt) this.streams = undefined;
      });
    }
    return this.streams;
  }

  private async applyEvent(msg: JsMsg, apply: JobEventApplier): Promise<void> {
    const event = this.bus.decode(JobEventContract, msg.data, msg.subject);
    if (!event) {
      msg.term();
      return;
    }
    // The claim is kept alive while the apply runs (a slow database must not hand the event to
    // another gateway meanwhile), so the ack wait only bounds how long a dead gateway's claim stalls
    // every job's events.
    const heartbeat = setInterval(() => msg.working(), Math.max(100, Math.floor(this.options.eventAckWaitMs / 3)));
    try {
      await apply(event, { streamSeq: msg.seq });
      msg.ack();
    } catch (e) {
      this.logger.error({ err: e, jobId: event.jobId }, 'applying a job event failed; retrying');
      msg.nak(1000);
    } finally {
      clearInterval(heartbeat);
    }
  }
}
