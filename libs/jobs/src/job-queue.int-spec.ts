import { randomUUID } from 'node:crypto';
import { type INestApplicationContext, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  Consumers,
  contract,
  decodeMessage,
  JobCancelContract,
  JobDispatchContract,
  type JobEvent,
  JobEventContract,
  message,
  requestReply,
  Streams,
  Subjects,
} from '@cvp/contracts';
import { baseConfigSchema, createLogger, MessageBus, PlatformModule, ReadinessChecks } from '@cvp/platform';
import { connect, DeliverPolicy } from 'nats';
import { z } from 'zod';
import { ensureDurableConsumer } from './durable-consumer';
import { JobQueue } from './job-queue';
import { JobQueueModule } from './job-queue.module';
import { JobSucceededHooks, OnJobSucceeded, type SucceededJobOf } from './on-job-succeeded';
import { RespondsTo } from './responds-to';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Subjects of this suite only, so no other suite on the same nats-server answers them.
const EchoLookup = requestReply(
  'cvp.test.jobqueue.echo',
  contract('test.echo.req', message({ text: z.string() })),
  contract('test.echo.res', message({ text: z.string() })),
);
const SilentLookup = requestReply(
  'cvp.test.jobqueue.silent',
  contract('test.silent.req', message({ n: z.number() })),
  contract('test.silent.res', message({ n: z.number() })),
);

const benchResult = (over: Record<string, unknown> = {}) => ({
  benchmarkId: 'bm-1',
  modelId: 'm1',
  modelVersion: 1,
  reportDir: '/data/benchmarks/bm-1',
  status: 'infeasible',
  selected: null,
  selectedId: null,
  baselineP50Ms: 10,
  selectedP50Ms: null,
  summary: 'nothing fits',
  ...over,
});

/** A feature as the gateway writes one: a completion hook for two types and two responders. */
@Injectable()
class TestFeature {
  readonly seen: SucceededJobOf<'bench' | 'convert'>[] = [];

  @OnJobSucceeded('bench', 'convert')
  async recordJob(job: SucceededJobOf<'bench' | 'convert'>) {
    this.seen.push(job);
    if (job.type === 'bench' && job.result.summary === 'boom') throw new Error('cannot store that benchmark');
    return job.type === 'bench' ? { benchmarkId: job.result.benchmarkId, reportUrl: '/r' } : { converted: true };
  }

  @RespondsTo(EchoLookup, { onError: () => ({ text: 'lookup failed' }) })
  async echo(req: { text: string }) {
    if (req.text === 'fail') throw new Error('database down');
    return { text: req.text.toUpperCase() };
  }

  @RespondsTo(SilentLookup)
  async silent(req: { n: number }): Promise<{ n: number }> {
    if (req.n < 0) throw new Error('no answer for negatives');
    return { n: req.n * 2 };
  }
}

/** A second answerer of a subject already answered: refused at start-up. */
@Injectable()
class DuplicateEcho {
  @RespondsTo(EchoLookup)
  async echo(req: { text: string }) {
    return { text: req.text };
  }
}

/** `nats: false` for starts that are meant to fail: a context that failed to start cannot be closed. */
async function startGatewayHalf(
  providers: (typeof TestFeature | typeof DuplicateEcho)[],
  nats = true,
  eventAckWaitMs = 2000,
) {
  const config = baseConfigSchema.parse({ CVP_NATS_URL: process.env.CVP_NATS_URL });
  const logger = createLogger('queue-test', 'silent');
  @Module({
    imports: [
      PlatformModule.forRoot({ serviceName: 'queue-test', config, logger, nats }),
      JobQueueModule.forRoot({ responderQueue: 'queue-test', eventAckWaitMs }),
    ],
    providers,
  })
  class GatewayHalf {}
  return NestFactory.createApplicationContext(GatewayHalf, { logger: false, abortOnError: false });
}

describe('JobQueueModule against a real nats-server (the gateway half of jobs)', () => {
  let app: INestApplicationContext;
  let bus: MessageBus;

  beforeAll(async () => {
    app = await startGatewayHalf([TestFeature]);
    bus = new MessageBus({ url: process.env.CVP_NATS_URL!, name: 'asker', logger: createLogger('asker', 'silent') });
    await bus.connect();
  });
  afterAll(async () => {
    await bus?.close();
    await app?.close();
  });

  const ask = <Req, Res>(lookup: typeof EchoLookup | typeof SilentLookup, req: Req, timeoutMs = 2000) =>
    bus.request(
      lookup.request as never,
      lookup.reply as never,
      lookup.subject,
      req as never,
      timeoutMs,
    ) as Promise<Res>;

  it('subscribes @RespondsTo methods: validated answers, the onError answer, or none (the asker times out)', async () => {
    expect(await ask(EchoLookup, { text: 'hi' })).toMatchObject({ schemaVersion: 1, text: 'HI' });
    expect(await ask(EchoLookup, { text: 'fail' })).toMatchObject({ text: 'lookup failed' });
    expect(await ask(SilentLookup, { n: 21 })).toMatchObject({ n: 42 });
    const t0 = Date.now();
    await expect(ask(SilentLookup, { n: -1 }, 500)).rejects.toThrow(/TIMEOUT/i);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('refuses to start with two responders for one subject', async () => {
    await expect(startGatewayHalf([TestFeature, DuplicateEcho], false)).rejects.toThrow(
      /(TestFeature|DuplicateEcho)\.echo and (TestFeature|DuplicateEcho)\.echo both respond to cvp\.test\.jobqueue\.echo/,
    );
  });

  it('runs @OnJobSucceeded hooks with the parsed input and result and merges what they return', async () => {
    const hooks = app.get(JobSucceededHooks);
    const feature = app.get(TestFeature);
    const stored = await hooks.run('bench', { id: 'j1', ownerId: 'u1', input: { modelId: 'm1' } }, benchResult());
    expect(stored).toEqual({ ...benchResult(), benchmarkId: 'bm-1', reportUrl: '/r' });
    // The input's defaults are filled, as the worker saw it.
    expect(feature.seen.at(-1)).toMatchObject({ type: 'bench', id: 'j1', input: { modelId: 'm1', constraints: {} } });
    // A type without hooks stores the result as parsed.
    expect(await hooks.run('train', { id: 'j2', ownerId: 'u1', input: trainInput }, trainResult)).toEqual(trainResult);
  });

  it('fails the completion naming the fields of a result that does not match, a stored input that does not, or the hook error', async () => {
    const hooks = app.get(JobSucceededHooks);
    const job = { id: 'j3', ownerId: 'u1', input: { modelId: 'm1' } };
    await expect(hooks.run('bench', job, benchResult({ modelVersion: 0, extra: 1 }))).rejects.toThrow(
      /^bench result rejected: modelVersion: Number must be greater than or equal to 1; \(root\): Unrecognized key\(s\) in object: 'extra'$/,
    );
    await expect(hooks.run('bench', { ...job, input: { modelId: 'm1', nope: 1 } }, benchResult())).rejects.toThrow(
      /bench job j3: stored input rejected: \(root\): Unrecognized key/,
    );
    await expect(hooks.run('bench', job, benchResult({ summary: 'boom' }))).rejects.toThrow(
      'cannot store that benchmark',
    );
  });

  it('lets a test stand in for the feature that owns a type', async () => {
    const hooks = app.get(JobSucceededHooks);
    hooks.replaceForTest('convert', async (job) => ({ registeredAs: `m-${job.result.modelId}` }));
    const before = app.get(TestFeature).seen.length;
    const stored = await hooks.run('convert', { id: 'j4', ownerId: 'u1', input: { modelId: 'm9' } }, convertResult);
    expect(stored).toMatchObject({ modelId: 'm9', registeredAs: 'm-m9' });
    expect(app.get(TestFeature).seen).toHaveLength(before);
  });

  it('dispatches durably (msgID = job id) and publishes cancel notices', async () => {
    const queue = app.get(JobQueue);
    const jobId = randomUUID();
    const cancels: string[] = [];
    const sub = bus.subscribe(JobCancelContract, Subjects.jobCancel(jobId), (c) => void cancels.push(c.requestedBy));
    await bus.connection.flush();
    await queue.dispatch({ jobId, type: 'bench', ownerId: 'u1', input: { modelId: 'm1' } });
    await queue.dispatch({ jobId, type: 'bench', ownerId: 'u1', input: { modelId: 'm1' } }); // deduplicated
    const jsm = await bus.jetstreamManager();
    const info = await jsm.streams.info(Streams.jobs('bench'));
    const stored = await jsm.streams.getMessage(Streams.jobs('bench'), { seq: info.state.last_seq });
    expect(decodeMessage(JobDispatchContract, stored.data)).toMatchObject({ jobId, type: 'bench' });
    expect(info.state.messages).toBe(1);
    await jsm.streams.purge(Streams.jobs('bench'));
    queue.cancel(jobId, 'tester');
    for (let i = 0; i < 50 && !cancels.length; i++) await sleep(20);
    expect(cancels).toEqual(['tester']);
    sub.unsubscribe();
  });

  it('applies worker events in order, redelivers one whose apply threw, drops one that breaks its contract', async () => {
    const queue = app.get(JobQueue);
    const jobId = randomUUID();
    const applied: JobEvent[] = [];
    const streamSeqs = new Set<number>();
    let failOnce = true;
    await queue.consumeEvents(async (e, delivery) => {
      if (e.jobId !== jobId) return; // events of other suites on this nats-server
      if (e.seq === 2 && failOnce) {
        failOnce = false;
        throw new Error('database busy');
      }
      // Delivery is at least once (a copy held past the ack wait on a stalled host comes again):
      // an applier keeps what it applied by stream sequence, as the gateway's does.
      if (streamSeqs.has(delivery.streamSeq)) return;
      streamSeqs.add(delivery.streamSeq);
      applied.push(e);
    });
    await expect(queue.consumeEvents(async () => undefined)).rejects.toThrow(/consumed already/);
    expect(app.get(ReadinessChecks).names()).toContain('job-events');
    const at = new Date().toISOString();
    const publish = (seq: number, body: Partial<JobEvent>) =>
      bus.publishDurable(JobEventContract, Subjects.jobProgress(jobId), { jobId, seq, at, ...body });
    await publish(1, { state: 'running', attempt: 1 });
    await publish(2, { progress: 0.5, stage: 'half' });
    await bus.jetstream().publish(Subjects.jobProgress(jobId), new TextEncoder().encode('{"not":"an event"}'));
    await publish(3, { state: 'succeeded', result: { ok: true } });
    for (let i = 0; i < 100 && applied.length < 3; i++) await sleep(50);
    expect(applied.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(failOnce).toBe(false);
  });
});

const trainInput = { modelId: 'm1', datasetId: 'd1', epochs: 1, imgsz: 32, batch: 1 };
const trainResult = {
  modelId: 'm1',
  version: 2,
  onnxPath: '/data/models/m1/v2/model.onnx',
  metadata: {},
  sourcePath: '/data/models/m1/v2/model.pt',
  sourceFormat: 'ultralytics',
  trained: true,
  metrics: { 'metrics/accuracy_top1': 0.5 },
  primaryMetric: 'metrics/accuracy_top1',
  accuracy: 0.5,
  datasetId: 'd1',
  epochs: 1,
  imgsz: 32,
  trainSeconds: 3,
  leaseFencingToken: 7,
};
const convertResult = {
  modelId: 'm9',
  version: 1,
  onnxPath: '/data/models/m9/v1/model.onnx',
  metadata: {},
  sourcePath: null,
  sourceFormat: 'onnx',
  maxAbsDiff: null,
  comparison: null,
  validation: {},
  trained: true,
  preset: null,
  filledExistingVersion: true,
};

/**
 * Worker events go through one consumer shared by every gateway, one event in flight at a time (a
 * job's events keep their order), so a claimed event holds up every job's until it is acked.
 */
describe('the shared worker-event consumer when a gateway is slow or dies (real nats-server, ack wait 3 s)', () => {
  const apps: INestApplicationContext[] = [];
  let bus: MessageBus;

  beforeAll(async () => {
    bus = new MessageBus({ url: process.env.CVP_NATS_URL!, name: 'worker', logger: createLogger('worker', 'silent') });
    await bus.connect();
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
    await bus?.close();
  });

  const publisher = (jobId: string) => (seq: number, body: Partial<JobEvent>) =>
    bus.publishDurable(JobEventContract, Subjects.jobProgress(jobId), {
      jobId,
      seq,
      at: new Date().toISOString(),
      ...body,
    });

  it('a gateway whose apply outlasts the ack wait keeps its claim (heartbeats): the event is applied once, the next after it', async () => {
    const jobId = randomUUID();
    const applied: { gateway: string; seq: number; streamSeq: number; doneAt: number }[] = [];
    for (const gateway of ['A', 'B']) {
      const app = await startGatewayHalf([], true, 3000);
      apps.push(app);
      await app.get(JobQueue).consumeEvents(async (e, delivery) => {
        if (e.jobId !== jobId) return;
        if (e.seq === 1) await sleep(7500); // 2.5 ack waits: a database restarting under the apply
        applied.push({ gateway, seq: e.seq, streamSeq: delivery.streamSeq, doneAt: Date.now() });
      });
    }
    const publish = publisher(jobId);
    await publish(1, { state: 'running', attempt: 1 });
    await publish(2, { progress: 0.5 });
    for (let i = 0; i < 300 && applied.length < 2; i++) await sleep(50);
    // Had the claim lapsed, a copy of the first (redelivered at 3 s, applied 7.5 s later) lands by now.
    await sleep(4000);
    expect(applied.map((a) => a.seq)).toEqual([1, 2]);
    expect(applied[1].streamSeq).toBeGreaterThan(applied[0].streamSeq);
  });

  it('a gateway that dies holding an event stalls the others only for the ack wait: another applies it, then the rest in order', async () => {
    for (const a of apps.splice(0)) await a.close();
    const jobId = randomUUID();
    const publish = publisher(jobId);
    await ensureDurableConsumer(await bus.jetstreamManager(), {
      stream: Streams.jobEvents,
      durable: Consumers.gatewayJobEvents,
      ackWaitMs: 3000,
      maxAckPending: 1,
      deliverPolicy: DeliverPolicy.New,
    });
    await publish(1, { state: 'running', attempt: 1 });
    await publish(2, { progress: 0.5 });
    // The gateway that dies: claims the first event on a connection of its own, then the connection drops.
    const dying = await connect({ servers: process.env.CVP_NATS_URL! });
    const consumer = await dying.jetstream().consumers.get(Streams.jobEvents, Consumers.gatewayJobEvents);
    let claimed;
    for (let i = 0; i < 20 && !claimed; i++) {
      const m = await consumer.next({ expires: 1000 });
      if (!m) continue;
      if (m.json<{ jobId?: string }>().jobId === jobId) claimed = m;
      else m.ack(); // an event of an earlier test
    }
    expect(claimed).toBeDefined();
    await dying.close();
    const diedAt = Date.now();

    const applied: { seq: number; at: number }[] = [];
    const app = await startGatewayHalf([], true, 3000);
    apps.push(app);
    await app.get(JobQueue).consumeEvents(async (e) => {
      if (e.jobId === jobId) applied.push({ seq: e.seq, at: Date.now() });
    });
    for (let i = 0; i < 300 && applied.length < 2; i++) await sleep(50);
    expect(applied.map((a) => a.seq)).toEqual([1, 2]);
    // Redelivered after the 3 s ack wait (plus one pull's expiry), not at once and not never.
    expect(applied[0].at - diedAt).toBeGreaterThanOrEqual(2500);
    expect(applied[0].at - diedAt).toBeLessThan(10_000);
  });
});
