import { randomUUID } from 'node:crypto';
import {
  ConflictException,
  Injectable,
  NotFoundException,
  type OnApplicationBootstrap,
  ServiceUnavailableException,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type JobEvent, jobInputSchemas, type JobState, type JobType, TERMINAL_JOB_STATES } from '@cvp/contracts';
import { JobQueue, JobSucceededHooks } from '@cvp/jobs';
import { InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import { type FindOptionsWhere, Repository } from 'typeorm';
import { type Page, pageOf, skipTake } from '../common/pagination';
import { assertMayChange } from '../auth/ownership';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { UserLimitsService } from '../limits/user-limits.service';
import { ModelEntity } from '../models/model.entity';
import { storableText } from '../database/storable-text';
import { JobEventEntity } from './job-event.entity';
import { JobEventHub } from './job-event-hub';
import { JobEntity } from './job.entity';
import type { JobEventView, JobView, ListJobsQuery } from './jobs.dto';

const isTerminal = (s: string) => TERMINAL_JOB_STATES.includes(s as JobState);
/** Jobs that change the model they name (a new version, or the benchmark whose choice "selected" deploys). */
const CHANGES_ITS_MODEL: readonly JobType[] = ['convert', 'train', 'tune', 'bench'];

/** Who asks for a job: the owner of what it makes, and the role that decides what it may touch. */
export type JobRequester = Pick<AuthenticatedPrincipal, 'ownerId' | 'role'>;
const now = () => new Date().toISOString();

function parseJson(s: string | null): Record<string, unknown> | null {
  if (s === null) return null;
  try {
    return JSON.parse(s) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function toView(j: JobEntity): JobView {
  return {
    id: j.id,
    type: j.type as JobType,
    state: j.state as JobState,
    progress: j.progress,
    stage: j.stage,
    result: parseJson(j.result),
    error: j.error,
    attempts: j.attempts,
    ownerId: j.ownerId,
    input: parseJson(j.input) ?? {},
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
  };
}

/**
 * Jobs: created here (validated, stored, dispatched durably), moved through their states by the
 * events workers report, cancelled on request. The gateway's copy is the authority on a job's
 * state; workers ask it before running a delivery (idempotency by job id).
 */
@Injectable()
export class JobsService implements OnApplicationBootstrap {
  /** Per-job serialisation of state changes (worker events and REST cancels race otherwise). */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    @InjectRepository(JobEntity) private readonly jobs: Repository<JobEntity>,
    @InjectRepository(JobEventEntity) private readonly events: Repository<JobEventEntity>,
    @InjectRepository(ModelEntity) private readonly models: Repository<ModelEntity>,
    private readonly limits: UserLimitsService,
    private readonly queue: JobQueue,
    private readonly hooks: JobSucceededHooks,
    private readonly hub: JobEventHub,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  /** From now on the events workers report move jobs through their states. */
  async onApplicationBootstrap(): Promise<void> {
    await this.queue.consumeEvents((e) => this.applyWorkerEvent(e));
  }

  /**
   * Validates the input (ZodError -> 400 listing every issue), checks that the requester may
   * change the model the job changes (403) and is under the active-job limit (429), stores the job
   * and dispatches it. The limit check and the insert run under one lock per owner, so concurrent
   * requests of one user cannot pass the limit together.
   */
  async create(type: JobType, input: unknown, who: JobRequester): Promise<JobView> {
    const schema = jobInputSchemas[type];
    if (!schema) throw new NotFoundException(`unknown job type ${type}`);
    const parsed = schema.parse(input ?? {}) as Record<string, unknown>;
    await this.assertMayStart(type, parsed, who);
    const ownerId = who.ownerId;
    const job = await this.locked(`owner:${ownerId}`, async () => {
      await this.limits.assertMayQueueJob(ownerId);
      return this.insertQueued(type, parsed, ownerId);
    });
    try {
      await this.queue.dispatch({ jobId: job.id, type, ownerId, input: parsed });
    } catch (e) {
      const reason = `could not be queued: ${(e as Error).message}`;
      await this.locked(job.id, () => this.finish(job, 'failed', { error: reason }));
      this.logger.error({ err: e, jobId: job.id }, 'job dispatch failed');
      throw new ServiceUnavailableException(`job ${job.id} ${reason}`);
    }
    this.logger.info({ jobId: job.id, type, ownerId }, 'job queued');
    return toView(job);
  }

  /** A job that changes a model needs a requester who may change that model (an unknown model fails in the worker). */
  private async assertMayStart(type: JobType, input: Record<string, unknown>, who: JobRequester): Promise<void> {
    if (!CHANGES_ITS_MODEL.includes(type) || typeof input.modelId !== 'string') return;
    const model = await this.models.findOne({ where: { id: input.modelId }, select: { id: true, ownerId: true } });
    if (model) assertMayChange(who, model, `model ${model.id} (a ${type} job changes it)`);
  }

  private async insertQueued(type: JobType, parsed: Record<string, unknown>, ownerId: string): Promise<JobEntity> {
    const t = now();
    const job = this.jobs.create({
      id: randomUUID(),
      ownerId,
      type,
      input: JSON.stringify(parsed),
      state: 'queued',
      attempts: 0,
      error: null,
      progress: 0,
      stage: null,
      result: null,
      createdAt: t,
      startedAt: null,
      finishedAt: null,
      updatedAt: t,
      lastEventSeq: 0,
    });
    await this.jobs.save(job);
    await this.record(job, { state: 'queued', progress: 0 });
    return job;
  }

  /** Jobs, newest first, optionally of one type, state and owner. */
  async list(q: ListJobsQuery, ownerId?: string): Promise<Page<JobView>> {
    const where: FindOptionsWhere<JobEntity> = {};
    if (q.type) where.type = q.type;
    if (q.state) where.state = q.state;
    if (ownerId) where.ownerId = ownerId;
    const [rows, total] = await this.jobs.findAndCount({
      where,
      order: { createdAt: 'DESC', id: 'ASC' },
      ...skipTake(q),
    });
    return pageOf(rows.map(toView), total, q);
  }

  async get(id: string): Promise<JobView> {
    return toView(await this.entity(id));
  }

  /** State for the workers' idempotency check; 'unknown' for a job this gateway never made. */
  async stateOf(id: string): Promise<JobState | 'unknown'> {
    const j = await this.jobs.findOne({ where: { id }, select: { id: true, state: true } });
    return (j?.state as JobState | undefined) ?? 'unknown';
  }

  /**
   * Cancels a job (its owner or an admin): it is cancelled at once (the user's intent is final)
   * and the running worker, if any, is told to abort, stop its child processes and release its GPU lease.
   */
  async cancel(id: string, who: JobRequester & { name: string }): Promise<JobView> {
    const requestedBy = who.name;
    const view = await this.locked(id, async () => {
      const job = await this.entity(id);
      assertMayChange(who, job, `job ${id}`);
      if (isTerminal(job.state)) throw new ConflictException(`job ${id} already ${job.state}`);
      await this.finish(job, 'cancelled', { error: `cancelled by ${requestedBy}` });
      return toView(job);
    });
    try {
      this.queue.cancel(id, requestedBy);
    } catch (e) {
      // The worker still learns it at its next delivery check (state cancelled): not fatal.
      this.logger.warn({ err: e, jobId: id }, 'cancel notice not published');
    }
    return view;
  }

  /** Events with seq > after, oldest first (SSE resume), bounded. */
  async eventsAfter(id: string, after: number, limit = 1000): Promise<JobEventView[]> {
    const rows = await this.events
      .createQueryBuilder('e')
      .where('e.job_id = :id AND e.seq > :after', { id, after })
      .orderBy('e.seq', 'ASC')
      .limit(limit)
      .getMany();
    return rows.map((r) => ({ ...(parseJson(r.payload) ?? {}), seq: r.seq, at: r.at }) as JobEventView);
  }

  /** Applies one event a worker reported; events for finished jobs change nothing. */
  async applyWorkerEvent(event: JobEvent): Promise<void> {
    // A NUL in a worker's error (say, from a child's output) would fail every retry on PostgreSQL.
    const e = { ...event, stage: storableText(event.stage), error: storableText(event.error) };
    await this.locked(e.jobId, async () => {
      const job = await this.jobs.findOne({ where: { id: e.jobId } });
      if (!job) {
        this.logger.warn({ jobId: e.jobId }, 'event for an unknown job ignored');
        return;
      }
      if (isTerminal(job.state)) return;
      switch (e.state) {
        case 'succeeded':
          return this.succeed(job, e.result ?? {});
        case 'failed':
          return this.finish(job, 'failed', { error: e.error ?? 'failed' });
        case 'cancelled':
          return this.finish(job, 'cancelled', { error: e.error ?? 'cancelled' });
        case 'running': {
          const t = now();
          job.state = 'running';
          job.startedAt ??= t;
          if (e.attempt) job.attempts = Math.max(job.attempts, e.attempt);
          job.updatedAt = t;
          await this.jobs.save(job);
          await this.record(job, { state: 'running', attempt: e.attempt, progress: job.progress });
          return;
        }
        default: {
          if (e.progress !== undefined) job.progress = e.progress;
          if (e.stage !== undefined) job.stage = e.stage;
          job.updatedAt = now();
          await this.jobs.save(job);
          await this.record(job, { progress: e.progress, stage: e.stage, detail: e.detail });
        }
      }
    });
  }

  /** The feature hooks of the type (@OnJobSucceeded) run first; a throw fails the job with its message. */
  private async succeed(job: JobEntity, result: Record<string, unknown>): Promise<void> {
    let merged: Record<string, unknown>;
    try {
      merged = await this.hooks.run(
        job.type as JobType,
        { id: job.id, ownerId: job.ownerId, input: parseJson(job.input) ?? {} },
        result,
      );
    } catch (e) {
      this.logger.warn({ err: e, jobId: job.id }, 'completion hook failed; job failed');
      await this.finish(job, 'failed', { error: `completing the job failed: ${(e as Error).message}`.slice(0, 4000) });
      return;
    }
    await this.finish(job, 'succeeded', { result: merged });
  }

  private async finish(
    job: JobEntity,
    state: 'succeeded' | 'failed' | 'cancelled',
    o: { error?: string; result?: Record<string, unknown> },
  ) {
    const t = now();
    job.state = state;
    job.finishedAt = t;
    job.updatedAt = t;
    if (state === 'succeeded') job.progress = 1;
    if (o.error !== undefined) job.error = o.error;
    if (o.result !== undefined) job.result = JSON.stringify(o.result);
    await this.jobs.save(job);
    await this.record(job, { state, error: o.error, result: o.result, progress: job.progress });
    this.logger.info({ jobId: job.id, state, error: o.error }, 'job finished');
  }

  /** Appends an event to the job's log and relays it to live SSE streams. */
  private async record(job: JobEntity, body: Omit<JobEventView, 'seq' | 'at'>): Promise<void> {
    const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
    const seq = job.lastEventSeq + 1;
    const at = now();
    await this.events.insert({ jobId: job.id, seq, at, payload: JSON.stringify(clean) });
    job.lastEventSeq = seq;
    await this.jobs.update({ id: job.id }, { lastEventSeq: seq });
    this.hub.publish(job.id, { ...clean, seq, at } as JobEventView);
  }

  private async entity(id: string): Promise<JobEntity> {
    const j = await this.jobs.findOne({ where: { id } });
    if (!j) throw new NotFoundException(`job ${id} not found`);
    return j;
  }

  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    this.locks.set(id, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === run) this.locks.delete(id);
    }
  }
}
