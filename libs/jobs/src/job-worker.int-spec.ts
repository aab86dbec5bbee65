import { randomUUID } from 'node:crypto';
import { type INestApplicationContext, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  decodeMessage,
  JobCancelContract,
  type JobDeadLetter,
  JobDeadLetterContract,
  JobDispatchContract,
  type JobEvent,
  JobEventContract,
  type JobInputs,
  type JobState,
  JobStatusReplyContract,
  JobStatusRequestContract,
  type PackageJobResult,
  Streams,
  Subjects,
} from '@cvp/contracts';
import { baseConfigSchema, createLogger, MessageBus, PlatformModule } from '@cvp/platform';
import { type JobContext, type JobHandler, PermanentJobError } from './job-handler';
import { JobWorkerModule } from './job-worker.module';
import { JobWorkerService } from './job-worker.service';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What a test job returns over a well-formed package result. */
type Behaviour = (ctx: JobContext) => Promise<Partial<PackageJobResult>>;
const packageResult = (modelId: string): PackageJobResult => ({
  packageId: `pkg-${'0a'.repeat(12)}`,
  modelId,
  modelVersion: 1,
  engine: 'native',
  engineConfig: {
    engine: 'native',
    options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 0, maxBatch: 1 },
    modelPath: 'model.onnx',
  },
  selected: false,
  variant: 'cpu',
  benchmarkId: null,
  tarballPath: 'packages/p/bundle.tar.gz',
  bundlePath: 'packages/p/bundle',
  sha256: 'e'.repeat(64),
  sizeBytes: 100,
  fileCount: 3,
});

/** What each test job does, by its model id. */
const behaviours = new Map<string, Behaviour>();
const calls: { jobId: string; attempt: number }[] = [];

@Injectable()
class TestPackageHandler implements JobHandler<'package'> {
  readonly type = 'package' as const;
  async handle(input: JobInputs['package'], ctx: JobContext) {
    calls.push({ jobId: ctx.jobId, attempt: ctx.attempt });
    const b = behaviours.get(input.modelId);
    if (!b) throw new PermanentJobError(`no behaviour for ${input.modelId}`);
    return { ...packageResult(input.modelId), ...(await b(ctx)) };
  }
}

async function startWorker(): Promise<INestApplicationContext> {
  const config = baseConfigSchema.parse({ CVP_NATS_URL: process.env.CVP_NATS_URL });
  const logger = createLogger('worker-test', 'silent');
  @Module({
    imports: [
      PlatformModule.forRoot({ serviceName: 'worker-test', config, logger }),
      JobWorkerModule.forRoot({
        handlers: [TestPackageHandler],
        ackWaitMs: 1500,
        maxDeliveries: 3,
        backoffMs: [100, 200],
        statusTimeoutMs: 300,
        progressIntervalMs: 100,
        shutdownGraceMs: 3000,
        concurrency: 2,
      }),
    ],
  })
  class WorkerModule {}
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  await app.init();
  return app;
}

/**
 * This suite plays the gateway's part (it is what the gateway does, reduced to a map): it answers
 * the workers' status checks and reads the events they publish on CVP_JOB_EVENTS.
 */
describe('JobWorkerModule against real NATS JetStream (the test plays the gateway)', () => {
  let bus: MessageBus;
  let worker: INestApplicationContext;
  const states = new Map<string, JobState>();
  const ignoreStatusOnce = new Set<string>();

  beforeAll(async () => {
    bus = new MessageBus({
      url: process.env.CVP_NATS_URL!,
      name: 'fake-gateway',
      logger: createLogger('fake-gateway', 'silent'),
    });
    await bus.connect();
    bus.subscribe(JobStatusRequestContract, Subjects.jobStatus, (req, msg) => {
      if (ignoreStatusOnce.delete(req.jobId)) return; // no answer: the worker must retry later
      bus.respond(msg, JobStatusReplyContract, { jobId: req.jobId, state: states.get(req.jobId) ?? 'unknown' });
    });
    worker = await startWorker();
  });
  afterAll(async () => {
    await worker?.close();
    await bus.close();
  });

  /** state null: the gateway does not know the job (set before publishing, or the worker may ask first). */
  const dispatch = async (modelId: string, state: JobState | null = 'queued', jobId: string = randomUUID()) => {
    if (state) states.set(jobId, state);
    await bus.publishDurable(
      JobDispatchContract,
      Subjects.jobDispatch('package'),
      { jobId, type: 'package', ownerId: 'u1', input: { modelId, engine: 'native' } },
      jobId,
    );
    return jobId;
  };

  /** Every event of the job so far; waits until `until` holds (bounded). */
  const eventsOf = async (
    jobId: string,
    until: (e: JobEvent[]) => boolean = (e) =>
      e.some((x) => ['succeeded', 'failed', 'cancelled'].includes(x.state ?? '')),
    ms = 15_000,
  ) => {
    const end = Date.now() + ms;
    for (;;) {
      const c = await bus.jetstream().consumers.get(Streams.jobEvents, { filterSubjects: Subjects.jobProgress(jobId) });
      const out: JobEvent[] = [];
      for (;;) {
        const info = await c.info(true);
        if (info.num_pending === 0) break;
        const m = await c.next({ expires: 1000 });
        if (!m) break;
        out.push(decodeMessage(JobEventContract, m.data));
      }
      if (until(out)) {
        for (const e of out)
          if (e.state && ['succeeded', 'failed', 'cancelled'].includes(e.state)) states.set(jobId, e.state);
        return out;
      }
      if (Date.now() > end) throw new Error(`events of ${jobId}: ${JSON.stringify(out)}`);
      await sleep(100);
    }
  };

  const deadLetters = async (): Promise<JobDeadLetter[]> => {
    const c = await bus.jetstream().consumers.get(Streams.deadLetter);
    const out: JobDeadLetter[] = [];
    for (;;) {
      if ((await c.info(true)).num_pending === 0) break;
      const m = await c.next({ expires: 1000 });
      if (!m) break;
      out.push(decodeMessage(JobDeadLetterContract, m.data));
    }
    return out;
  };

  it('runs a job, throttles progress, reports the result, and acks it (the work queue empties)', async () => {
    behaviours.set('ok', async (ctx) => {
      for (let i = 1; i <= 50; i++) ctx.progress({ progress: i / 50, stage: 'packing' });
      await sleep(250);
      ctx.progress({ progress: 2, stage: 'x'.repeat(300) });
      return { fileCount: 7 };
    });
    const jobId = await dispatch('ok');
    const ev = await eventsOf(jobId);
    expect(ev[0]).toMatchObject({ state: 'running', attempt: 1 });
    expect(ev.at(-1)).toMatchObject({
      state: 'succeeded',
      progress: 1,
      result: { ...packageResult('ok'), fileCount: 7 },
    });
    const progress = ev.filter((e) => !e.state);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.length).toBeLessThan(10);
    expect(progress.every((e) => (e.progress ?? 0) <= 1 && (e.stage?.length ?? 0) <= 200)).toBe(true);
    await sleep(200);
    expect((await (await bus.jetstreamManager()).streams.info(Streams.jobs('package'))).state.messages).toBe(0);
  });

  it('does not run a job the gateway already finished, cancelled or never knew (idempotency by job id)', async () => {
    behaviours.set('never', async () => {
      throw new Error('must not run');
    });
    const done = await dispatch('never', 'succeeded');
    const cancelled = await dispatch('never', 'cancelled');
    const unknown = await dispatch('never', null);
    await sleep(1500);
    expect(calls.filter((c) => ([done, cancelled, unknown] as string[]).includes(c.jobId))).toEqual([]);
    expect((await (await bus.jetstreamManager()).streams.info(Streams.jobs('package'))).state.messages).toBe(0);
  });

  it('retries a failed attempt with backoff and succeeds on the next delivery', async () => {
    behaviours.set('flaky', async (ctx) => {
      if (ctx.attempt === 1) throw new Error('GPU busy');
      return { modelVersion: ctx.attempt };
    });
    const jobId = await dispatch('flaky');
    const ev = await eventsOf(jobId);
    expect(ev.find((e) => e.stage === 'retrying')).toMatchObject({ detail: { error: 'GPU busy', attempt: 1 } });
    expect(ev.at(-1)).toMatchObject({ state: 'succeeded', result: { modelVersion: 2 } });
  });

  it('retries when the gateway does not answer the status check', async () => {
    behaviours.set('late-gateway', async () => ({}));
    const jobId = randomUUID();
    ignoreStatusOnce.add(jobId);
    await dispatch('late-gateway', 'queued', jobId);
    const ev = await eventsOf(jobId);
    expect(ev.at(-1)).toMatchObject({ state: 'succeeded' });
    expect(calls.filter((c) => c.jobId === jobId).map((c) => c.attempt)).toEqual([2]);
  });

  it('retries soon after it could not report (JetStream refused the event; failure injected at the bus), not after the ack wait', async () => {
    behaviours.set('report-fails', async () => ({}));
    const workerBus = worker.get(MessageBus);
    const publish = workerBus.publishDurable.bind(workerBus);
    let refusedAt = 0;
    const spy = jest.spyOn(workerBus, 'publishDurable').mockImplementation(async (c, subject, payload, msgID) => {
      if (
        !refusedAt &&
        (payload as { jobId?: string; state?: string }).state === 'running' &&
        subject.includes(jobId)
      ) {
        refusedAt = Date.now();
        throw new Error('503'); // what the client reports while a stream has no leader
      }
      return publish(c, subject, payload as never, msgID);
    });
    const jobId = randomUUID();
    try {
      await dispatch('report-fails', 'queued', jobId);
      const ev = await eventsOf(jobId);
      expect(ev.map((e) => e.state ?? e.stage)).toEqual(['running', 'succeeded']);
      expect(ev[0]).toMatchObject({ attempt: 2 });
      // Redelivered after the first backoff (100 ms here), not after the 1.5 s ack wait it used to wait out.
      expect(Date.parse(ev[0].at) - refusedAt).toBeLessThan(1400);
    } finally {
      spy.mockRestore();
    }
  });

  it('dead-letters a job that keeps failing and fails it with the reason; permanent and input errors fail at once', async () => {
    behaviours.set('poison', async (ctx) => {
      throw new Error(`poison ${ctx.attempt}`);
    });
    behaviours.set('permanent', async () => {
      throw new PermanentJobError('model has no ONNX export');
    });
    const poison = await dispatch('poison');
    const permanent = await dispatch('permanent');
    const badInput = randomUUID();
    states.set(badInput, 'queued');
    await bus.publishDurable(
      JobDispatchContract,
      Subjects.jobDispatch('package'),
      { jobId: badInput, type: 'package', ownerId: 'u1', input: { modelId: 'ok', engine: 'nope' } },
      badInput,
    );

    expect((await eventsOf(poison)).at(-1)).toMatchObject({
      state: 'failed',
      error: 'failed after 3 deliveries: poison 3',
    });
    expect((await eventsOf(permanent)).at(-1)).toMatchObject({ state: 'failed', error: 'model has no ONNX export' });
    expect((await eventsOf(badInput)).at(-1)?.error).toMatch(/^invalid input: engine/);
    expect(calls.filter((c) => c.jobId === permanent)).toHaveLength(1);
    expect(calls.filter((c) => c.jobId === poison).map((c) => c.attempt)).toEqual([1, 2, 3]);
    const dl = await deadLetters();
    expect(dl.find((d) => d.jobId === poison)).toMatchObject({
      type: 'package',
      deliveries: 3,
      reason: 'failed after 3 deliveries: poison 3',
    });
    expect(dl.find((d) => d.jobId === permanent)).toBeUndefined();
  });

  it('fails a job whose result does not match its contract at once, naming each wrong field, without retries', async () => {
    behaviours.set('bad-result', async () => ({ packageId: 'pkg-nope', sizeBytes: 'big' as never, extra: 1 }) as never);
    const jobId = await dispatch('bad-result');
    const ev = await eventsOf(jobId);
    expect(ev.at(-1)).toMatchObject({ state: 'failed' });
    const error = ev.at(-1)!.error!;
    expect(error).toMatch(/^package result rejected: /);
    expect(error).toContain('packageId: Invalid');
    expect(error).toContain('sizeBytes: Expected number, received string');
    expect(error).toContain("Unrecognized key(s) in object: 'extra'");
    expect(ev.some((e) => e.state === 'succeeded' || e.stage === 'retrying')).toBe(false);
    expect(calls.filter((c) => c.jobId === jobId)).toHaveLength(1);
    expect((await deadLetters()).find((d) => d.jobId === jobId)).toBeUndefined();
  });

  it('dead-letters a dispatch that does not match its contract (poison message)', async () => {
    const jobId = randomUUID();
    await bus
      .jetstream()
      .publish(
        Subjects.jobDispatch('package'),
        new TextEncoder().encode(JSON.stringify({ schemaVersion: 1, jobId, type: 'package', bogus: true })),
      );
    await bus.jetstream().publish(Subjects.jobDispatch('package'), new TextEncoder().encode('not json'));
    const ev = await eventsOf(jobId);
    expect(ev.at(-1)).toMatchObject({ state: 'failed', error: 'dispatch message does not match its contract' });
    await sleep(500);
    const dl = await deadLetters();
    expect(dl.find((d) => d.jobId === jobId)).toMatchObject({ reason: 'dispatch message does not match its contract' });
    expect(dl.find((d) => d.jobId === 'unparseable')).toBeDefined();
  });

  it('aborts ctx.signal on a cancel request and reports cancelled', async () => {
    behaviours.set(
      'long',
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))),
    );
    const jobId = await dispatch('long');
    await eventsOf(jobId, (e) => e.some((x) => x.state === 'running'));
    const svc = worker.get(JobWorkerService);
    expect(svc.runningJobIds()).toContain(jobId);
    expect(svc.cancelLocal('not-running-here')).toBe(false);
    bus.publish(JobCancelContract, Subjects.jobCancel(jobId), { jobId, requestedBy: 'tester' });
    const ev = await eventsOf(jobId);
    expect(ev.at(-1)).toMatchObject({ state: 'cancelled' });
    expect(svc.runningJobIds()).not.toContain(jobId);
  });

  it('hands a running job back on shutdown; another worker finishes it', async () => {
    behaviours.set('handoff', (ctx) =>
      ctx.attempt === 1
        ? new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('shutting down'))))
        : Promise.resolve({ benchmarkId: 'second' }),
    );
    const jobId = await dispatch('handoff');
    await eventsOf(jobId, (e) => e.some((x) => x.state === 'running'));
    await worker.close();
    worker = await startWorker();
    const ev = await eventsOf(jobId);
    expect(ev.at(-1)).toMatchObject({ state: 'succeeded', result: { benchmarkId: 'second' } });
    expect(ev.some((e) => e.state === 'failed')).toBe(false);
  });
});
