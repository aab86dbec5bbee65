import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  Consumers,
  type JobDispatch,
  JobCancelContract,
  JobDeadLetterContract,
  JobDispatchContract,
  type JobEvent,
  JobEventContract,
  jobInputSchemas,
  JobResultRejectedError,
  type JobState,
  JobStatusLookup,
  type JobType,
  parseJobResult,
  Streams,
  Subjects,
  TERMINAL_JOB_STATES,
} from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import { DeliverPolicy, type JsMsg, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { ensureDurableConsumer, pullLoop } from './durable-consumer';
import { ensureJobStreams } from './job-streams';
import { type AnyJobHandler, type JobContext, type JobProgressUpdate, PermanentJobError } from './job-handler';
import { JOB_HANDLERS, JOB_WORKER_OPTIONS, type ResolvedJobWorkerOptions } from './job-worker.options';

type EventBody = Omit<JobEvent, 'schemaVersion' | 'jobId' | 'seq' | 'at'>;

interface RunningJob {
  controller: AbortController;
  cancelled: boolean;
}

/**
 * The handler's result as its contract parses it. A result that does not match is a bug in the
 * handler, not bad luck: the job fails at once, naming the fields, instead of being retried or
 * reported as a success the gateway cannot use.
 */
function checkedResult(type: JobType, made: unknown): Record<string, unknown> {
  try {
    return parseJobResult(type, made);
  } catch (e) {
    if (e instanceof JobResultRejectedError) throw new PermanentJobError(e.message);
    throw e;
  }
}

/** Why a job failed, as a short human sentence. */
function reasonOf(e: unknown): string {
  if (e && typeof e === 'object' && 'issues' in e && Array.isArray((e as { issues: unknown[] }).issues)) {
    // zod: list what was wrong with the input
    const issues = (e as { issues: { path: (string | number)[]; message: string }[] }).issues;
    return `invalid input: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
  }
  return (e instanceof Error ? e.message : String(e)).slice(0, 3900) || 'unknown error';
}

/**
 * The worker half of the job protocol: one durable pull consumer per handled job type; each message
 * is checked against the gateway (a finished job is not run again), run with in-progress signals,
 * its result validated against the type's contract, acked after completion, nak'd with backoff on
 * retryable failures and dead-lettered after maxDeliveries. Cancel requests abort the handler's
 * ctx.signal. (The gateway half is JobQueue.)
 */
@Injectable()
export class JobWorkerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly running = new Map<string, RunningJob>();
  private readonly loops: Promise<void>[] = [];
  private readonly shutdown = new AbortController();
  private cancelSub?: Subscription;

  constructor(
    private readonly bus: MessageBus,
    @InjectLogger() private readonly logger: Logger,
    @Inject(JOB_WORKER_OPTIONS) private readonly opts: ResolvedJobWorkerOptions,
    @Inject(JOB_HANDLERS) private readonly handlers: AnyJobHandler[],
  ) {}

  private get stopping(): boolean {
    return this.shutdown.signal.aborted;
  }

  async onApplicationBootstrap(): Promise<void> {
    const jsm = await this.bus.jetstreamManager();
    await ensureJobStreams(jsm);
    this.cancelSub = this.bus.subscribe(JobCancelContract, Subjects.jobCancelAll, (c) => {
      this.cancelLocal(c.jobId, c.requestedBy);
    });
    for (const handler of this.handlers) {
      const stream = Streams.jobs(handler.type);
      const durable = Consumers.worker(handler.type);
      // Deliveries are unlimited on the server: the worker counts them itself, so a job whose worker
      // is killed on every attempt still reaches the dead letter (the server would just stop).
      await ensureDurableConsumer(jsm, {
        stream,
        durable,
        ackWaitMs: this.opts.ackWaitMs,
        maxAckPending: 1000,
        maxDeliver: -1,
        deliverPolicy: DeliverPolicy.All,
      });
      const consumer = await this.bus.jetstream().consumers.get(stream, durable);
      for (let i = 0; i < this.opts.concurrency; i++)
        this.loops.push(
          pullLoop(consumer, (msg) => this.process(msg, handler), {
            signal: this.shutdown.signal,
            logger: this.logger.child({ type: handler.type }),
            what: `${handler.type} jobs`,
          }),
        );
      this.logger.info({ type: handler.type, concurrency: this.opts.concurrency }, 'job worker consuming');
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shutdown.abort();
    this.cancelSub?.unsubscribe();
    for (const r of this.running.values()) r.controller.abort(new Error('worker shutting down'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.loops),
      new Promise((r) => (timer = setTimeout(r, this.opts.shutdownGraceMs))),
    ]);
    clearTimeout(timer);
  }

  /** Jobs running in this process right now. */
  runningJobIds(): string[] {
    return [...this.running.keys()];
  }

  /** Aborts a job running here; returns false when it does not run in this process. */
  cancelLocal(jobId: string, requestedBy = 'unknown'): boolean {
    const r = this.running.get(jobId);
    if (!r) return false;
    r.cancelled = true;
    this.logger.info({ jobId, requestedBy }, 'cancelling job');
    r.controller.abort(new Error(`cancelled by ${requestedBy}`));
    return true;
  }

  private backoff(attempt: number): number {
    const b = this.opts.backoffMs;
    return b[Math.min(attempt - 1, b.length - 1)];
  }

  private async jobState(jobId: string): Promise<JobState | 'unknown'> {
    const { request, reply, subject } = JobStatusLookup;
    const r = await this.bus.request(request, reply, subject, { jobId }, this.opts.statusTimeoutMs);
    return r.state;
  }

  private async deadLetter(jobId: string, type: JobType, deliveries: number, reason: string): Promise<void> {
    await this.bus.publishDurable(JobDeadLetterContract, Subjects.jobDeadLetter, {
      jobId,
      type,
      deliveries,
      reason,
      at: new Date().toISOString(),
    });
  }

  private async process(msg: JsMsg, handler: AnyJobHandler): Promise<void> {
    const attempt = msg.info.deliveryCount;
    const dispatch = this.bus.decode(JobDispatchContract, msg.data, msg.subject);
    if (!dispatch) {
      // Poison: nothing can ever run it; keep it for humans and stop redelivering.
      let jobId = 'unparseable';
      try {
        const raw = JSON.parse(new TextDecoder().decode(msg.data)) as { jobId?: unknown };
        if (typeof raw.jobId === 'string' && raw.jobId.length > 0 && raw.jobId.length <= 64) jobId = raw.jobId;
      } catch {
        /* not JSON */
      }
      const reason = 'dispatch message does not match its contract';
      await this.deadLetter(jobId, handler.type, attempt, reason);
      if (jobId !== 'unparseable') await this.emitTo(jobId, 0, { state: 'failed', error: reason, attempt });
      // term() without a reason text: nats-server 2.9 does not understand "+TERM <reason>" and redelivers.
      msg.term();
      return;
    }
    const { jobId } = dispatch;
    const log = this.logger.child({ jobId, type: dispatch.type, attempt });

    if (attempt > this.opts.maxDeliveries) {
      const reason = `gave up after ${this.opts.maxDeliveries} deliveries: the last attempt never finished (worker crashed or hung)`;
      await this.deadLetter(jobId, dispatch.type, attempt - 1, reason);
      await this.emitTo(jobId, 0, { state: 'failed', error: reason, attempt });
      msg.term();
      log.warn({ reason }, 'job dead-lettered');
      return;
    }

    // Registered before the status check, so a cancel that arrives during the check is not missed.
    const entry: RunningJob = { controller: new AbortController(), cancelled: false };
    this.running.set(jobId, entry);
    let state: JobState | 'unknown';
    try {
      state = await this.jobState(jobId);
    } catch (e) {
      this.running.delete(jobId);
      log.warn({ err: e }, 'gateway did not answer the job status check; retrying later');
      msg.nak(this.backoff(attempt));
      return;
    }
    if (state === 'unknown' || TERMINAL_JOB_STATES.includes(state) || entry.cancelled) {
      // Idempotency: a redelivered finished (or unknown, or just cancelled) job is not run again.
      this.running.delete(jobId);
      log.info({ state, cancelled: entry.cancelled }, 'job already finished; acknowledging without running it');
      msg.ack();
      return;
    }
    await this.run(msg, handler, dispatch, attempt, entry, log);
  }

  private async run(
    msg: JsMsg,
    handler: AnyJobHandler,
    dispatch: JobDispatch,
    attempt: number,
    entry: RunningJob,
    log: Logger,
  ): Promise<void> {
    const { jobId } = dispatch;
    const heartbeat = setInterval(() => msg.working(), Math.max(100, Math.floor(this.opts.ackWaitMs / 3)));
    let seq = 1;
    const emit = (body: EventBody) => this.emitTo(jobId, seq++, body);
    let lastProgressAt = 0;
    let pending: JobProgressUpdate | undefined;
    let flushTimer: NodeJS.Timeout | undefined;
    const flush = () => {
      flushTimer = undefined;
      if (!pending) return;
      const u = pending;
      pending = undefined;
      lastProgressAt = Date.now();
      emit({ progress: u.progress, stage: u.stage?.slice(0, 200), detail: u.detail }).catch((e) =>
        log.warn({ err: e }, 'progress event not published'),
      );
    };
    const ctx: JobContext = {
      jobId,
      ownerId: dispatch.ownerId,
      attempt,
      signal: entry.controller.signal,
      logger: log,
      progress: (u) => {
        msg.working();
        const p = u.progress === undefined ? undefined : Math.min(1, Math.max(0, u.progress));
        pending = { ...u, progress: p };
        const wait = this.opts.progressIntervalMs - (Date.now() - lastProgressAt);
        if (wait <= 0) flush();
        else flushTimer ??= setTimeout(flush, wait);
      },
    };
    const stopProgress = () => {
      clearTimeout(flushTimer);
      pending = undefined;
    };

    try {
      await emit({ state: 'running', attempt });
      let result: Record<string, unknown>;
      try {
        const input = jobInputSchemas[dispatch.type].parse(dispatch.input);
        const made = await handler.handle(input as never, ctx);
        if (entry.cancelled) throw new Error('cancelled');
        result = checkedResult(dispatch.type, made);
      } catch (e) {
        stopProgress();
        await this.onFailure(msg, dispatch, attempt, entry, e, emit, log);
        return;
      }
      stopProgress();
      await emit({ state: 'succeeded', progress: 1, result });
      msg.ack();
      log.info('job succeeded');
    } catch (e) {
      // Reporting failed (JetStream without a leader for a moment, NATS reconnecting): hand the job
      // back for a retry after the attempt's backoff instead of holding it for the whole ack wait.
      log.error({ err: e }, 'could not report the job outcome; retrying after backoff');
      msg.nak(this.backoff(attempt));
    } finally {
      clearInterval(heartbeat);
      stopProgress();
      this.running.delete(jobId);
    }
  }

  private async onFailure(
    msg: JsMsg,
    dispatch: JobDispatch,
    attempt: number,
    entry: RunningJob,
    e: unknown,
    emit: (b: EventBody) => Promise<void>,
    log: Logger,
  ): Promise<void> {
    const reason = reasonOf(e);
    if (entry.cancelled) {
      await emit({ state: 'cancelled', error: 'cancelled' });
      msg.ack();
      log.info('job cancelled');
      return;
    }
    if (this.stopping) {
      // Our own shutdown, not the job's fault: hand it to another worker at once.
      msg.nak();
      log.info('job handed back (worker shutting down)');
      return;
    }
    const permanent = e instanceof PermanentJobError || (e as { name?: string })?.name === 'ZodError';
    if (permanent) {
      await emit({ state: 'failed', error: reason });
      msg.term();
      log.warn({ reason }, 'job failed');
      return;
    }
    if (attempt >= this.opts.maxDeliveries) {
      const why = `failed after ${attempt} deliveries: ${reason}`;
      await this.deadLetter(dispatch.jobId, dispatch.type, attempt, why);
      await emit({ state: 'failed', error: why });
      msg.term();
      log.warn({ reason: why }, 'job dead-lettered');
      return;
    }
    const delay = this.backoff(attempt);
    await emit({ stage: 'retrying', detail: { error: reason, attempt, retryInMs: delay } });
    msg.nak(delay);
    log.warn({ reason, retryInMs: delay }, 'job attempt failed; retrying');
  }

  private async emitTo(jobId: string, seq: number, body: EventBody): Promise<void> {
    const event = { ...body, jobId, seq, at: new Date().toISOString() };
    // Drop undefined keys: the contract is strict about shape, not about absent optionals.
    for (const k of Object.keys(event) as (keyof typeof event)[]) if (event[k] === undefined) delete event[k];
    await this.bus.publishDurable(JobEventContract, Subjects.jobProgress(jobId), event);
  }
}
