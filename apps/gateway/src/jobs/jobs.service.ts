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
import { type JobEventDelivery, JobQueue, JobSucceededHooks } from '@cvp/jobs';
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
import { transitionConflicts } from './jobs.metrics';

const now = () => new Date().toISOString();
const isTerminal = (s: string) => TERMINAL_JOB_STATES.includes(s as JobState);
/** A decision to re-make on a fresh row is cheap; this many conflicts in a row means something is wrong. */
const MAX_TRANSITION_ATTEMPTS = 20;

/** What one state change writes: columns of the row, and the event appended to its log. */
interface JobChange {
  set: Partial<
    Pick<
      JobEntity,
      'state' | 'startedAt' | 'finishedAt' | 'attempts' | 'progress' | 'stage' | 'error' | 'result' | 'lastWorkerEvent'
    >
  >;
  event: Omit<JobEventView, 'seq' | 'at'>;
}

function finished(
  job: JobEntity,
  state: 'succeeded' | 'failed' | 'cancelled',
  o: { error?: string; result?: Record<string, unknown> },
): JobChange {
  const progress = state === 'succeeded' ? 1 : job.progress;
  return {
    set: {
      state,
      finishedAt: now(),
      progress,
      ...(o.error !== undefined ? { error: o.error } : {}),
      ...(o.result !== undefined ? { result: JSON.stringify(o.result) } : {}),
    },
    event: { state, error: o.error, result: o.result, progress },
  };
}
/** Jobs that change the model they name (a new version, or the benchmark whose choice "selected" deploys). */
const CHANGES_ITS_MODEL: readonly JobType[] = ['convert', 'train', 'tune', 'bench'];

/** Who asks for a job: the owner of what it makes, and the role that decides what it may touch. */
export type JobRequester = Pick<AuthenticatedPrincipal, 'ownerId' | 'role'>;

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
  /**
   * Per-job queue of state changes in this process (fewer conflicts); the database's conditional
   * update is what serialises them across gateways.
   */
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
    await this.queue.consumeEvents((e, delivery) => this.applyWorkerEvent(e, delivery));
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
      await this.locked(job.id, () =>
        this.transition(job.id, (j) => (isTerminal(j.state) ? null : finished(j, 'failed', { error: reason }))),
      );
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
      lastEventSeq: 1,
      lastWorkerEvent: 0,
    });
    const first: JobEventView = { state: 'queued', progress: 0, seq: 1, at: t };
    await this.jobs.manager.transaction(async (tx) => {
      await tx.insert(JobEntity, job);
      await tx.insert(JobEventEntity, {
        jobId: job.id,
        seq: 1,
        at: t,
        payload: JSON.stringify({ state: 'queued', progress: 0 }),
      });
    });
    this.hub.publish(job.id, first);
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
      const job = await this.transition(id, (j) => {
        assertMayChange(who, j, `job ${id}`);
        if (isTerminal(j.state)) throw new ConflictException(`job ${id} already ${j.state}`);
        return finished(j, 'cancelled', { error: `cancelled by ${requestedBy}` });
      });
      if (!job) throw new NotFoundException(`job ${id} not found`);
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

  /**
   * Applies one event a worker reported; events for finished jobs change nothing, and so does an
   * event whose stream sequence the job has applied already (a redelivery after the gateway that
   * applied it died before its ack): it is stored with the change, in the same conditional update.
   */
  async applyWorkerEvent(event: JobEvent, delivery?: JobEventDelivery): Promise<void> {
    // A NUL in a worker's error (say, from a child's output) would fail every retry on PostgreSQL.
    const e = { ...event, stage: storableText(event.stage), error: storableText(event.error) };
    await this.locked(e.jobId, () =>
      this.transition(e.jobId, async (job): Promise<JobChange | null> => {
        if (isTerminal(job.state)) return null;
        if (delivery && job.lastWorkerEvent >= delivery.streamSeq) return null;
        const change = await this.workerChange(job, e);
        if (delivery) change.set.lastWorkerEvent = delivery.streamSeq;
        return change;
      }).then((job) => {
        if (!job) this.logger.warn({ jobId: e.jobId }, 'event for an unknown job ignored');
      }),
    );
  }

  /** What a worker's event changes on a job that has not finished. */
  private async workerChange(job: JobEntity, e: JobEvent): Promise<JobChange> {
    switch (e.state) {
      case 'succeeded':
        return this.succeeded(job, e.result ?? {});
      case 'failed':
        return finished(job, 'failed', { error: e.error ?? 'failed' });
      case 'cancelled':
        return finished(job, 'cancelled', { error: e.error ?? 'cancelled' });
      case 'running':
        return {
          set: {
            state: 'running',
            startedAt: job.startedAt ?? now(),
            attempts: e.attempt ? Math.max(job.attempts, e.attempt) : job.attempts,
          },
          event: { state: 'running', attempt: e.attempt, progress: job.progress },
        };
      default:
        return {
          set: {
            ...(e.progress !== undefined ? { progress: e.progress } : {}),
            ...(e.stage !== undefined ? { stage: e.stage } : {}),
          },
          event: { progress: e.progress, stage: e.stage, detail: e.detail },
        };
    }
  }

  /** The feature hooks of the type (@OnJobSucceeded) run first; a throw fails the job with its message. */
  private async succeeded(job: JobEntity, result: Record<string, unknown>): Promise<JobChange> {
    let merged: Record<string, unknown>;
    try {
      merged = await this.hooks.run(
        job.type as JobType,
        { id: job.id, ownerId: job.ownerId, input: parseJson(job.input) ?? {} },
        result,
      );
    } catch (e) {
      this.logger.warn({ err: e, jobId: job.id }, 'completion hook failed; job failed');
      return finished(job, 'failed', { error: `completing the job failed: ${(e as Error).message}`.slice(0, 4000) });
    }
    return finished(job, 'succeeded', { result: merged });
  }

  /**
   * Moves a job: reads its row, lets `decide` say what changes (null: nothing), and commits that
   * only if the row is still as read (same state and event seq); otherwise decides again on the
   * fresh row. The database is what serialises changes, so several gateways (each consuming worker
   * events and answering cancels) cannot both move one job, and a job reaches one terminal state.
   * Returns the job as left (null when it does not exist).
   */
  private async transition(
    id: string,
    decide: (job: JobEntity) => Promise<JobChange | null> | JobChange | null,
  ): Promise<JobEntity | null> {
    for (let attempt = 0; attempt < MAX_TRANSITION_ATTEMPTS; attempt++) {
      const job = await this.jobs.findOne({ where: { id } });
      if (!job) return null;
      const change = await decide(job);
      if (!change) return job;
      if (await this.commit(job, change)) {
        if (change.set.finishedAt)
          this.logger.info({ jobId: id, state: change.set.state, error: change.set.error }, 'job finished');
        return job;
      }
      transitionConflicts.inc();
    }
    throw new Error(`job ${id} changed under every one of ${MAX_TRANSITION_ATTEMPTS} attempts; retry`);
  }

  /**
   * One conditional UPDATE (on the state and event seq that were read) and the event it appends,
   * in one transaction; false when another writer got there first. Relays the event to SSE.
   */
  private async commit(job: JobEntity, change: JobChange): Promise<boolean> {
    const seq = job.lastEventSeq + 1;
    const at = now();
    const clean = Object.fromEntries(Object.entries(change.event).filter(([, v]) => v !== undefined));
    const set = { ...change.set, updatedAt: at, lastEventSeq: seq };
    const won = await this.jobs.manager.transaction(async (tx) => {
      const r = await tx
        .createQueryBuilder()
        .update(JobEntity)
        .set(set)
        .where('id = :id AND state = :state AND last_event_seq = :seq', {
          id: job.id,
          state: job.state,
          seq: job.lastEventSeq,
        })
        .execute();
      if (r.affected !== 1) return false;
      await tx.insert(JobEventEntity, { jobId: job.id, seq, at, payload: JSON.stringify(clean) });
      return true;
    });
    if (!won) return false;
    Object.assign(job, set);
    this.hub.publish(job.id, { ...clean, seq, at } as JobEventView);
    return true;
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
