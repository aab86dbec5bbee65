import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { NatsGpuLeaseClient } from '@cvp/gpu-lease';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { decodeMessage, type JobDeadLetter, JobDeadLetterContract, Streams } from '@cvp/contracts';
import { JobSucceededHooks, JobWorkerModule, processGroupAlive } from '@cvp/jobs';
import { FIXTURE_LEASES, FixtureConvertHandler } from '@cvp/jobs/testing';
import { baseConfigSchema, createLogger, MessageBus, PlatformModule } from '@cvp/platform';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import type { JobView } from './jobs.dto';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startWorker(): Promise<INestApplicationContext> {
  const config = baseConfigSchema.parse({ CVP_NATS_URL: process.env.CVP_NATS_URL });
  const logger = createLogger('test-worker', 'silent');
  @Module({
    imports: [
      PlatformModule.forRoot({ serviceName: 'test-worker', config, logger }),
      JobWorkerModule.forRoot({
        handlers: [FixtureConvertHandler],
        // The fixture's hold-* jobs take a real GPU lease from the gateway's lease service.
        providers: [
          {
            provide: FIXTURE_LEASES,
            inject: [MessageBus],
            useFactory: (bus: MessageBus) => new NatsGpuLeaseClient(bus, { logger, pollMs: 200 }),
          },
        ],
        ackWaitMs: 2000,
        maxDeliveries: 2,
        backoffMs: [200],
        progressIntervalMs: 50,
      }),
    ],
  })
  class WorkerModule {}
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  await app.init();
  return app;
}

interface SseEvent {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** Reads an SSE stream until it ends (the server closes it after the terminal event) or the deadline. */
async function readSse(
  url: string,
  headers: Record<string, string> = {},
  deadlineMs = 20_000,
): Promise<{ events: SseEvent[]; comments: string[]; status: number }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), deadlineMs);
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  if (res.status !== 200 || !res.body) {
    clearTimeout(timer);
    return { events, comments, status: res.status };
  }
  let buf = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += Buffer.from(chunk).toString('utf8');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: Partial<SseEvent> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) comments.push(line);
          else if (line.startsWith('id: ')) e.id = Number(line.slice(4));
          else if (line.startsWith('event: ')) e.event = line.slice(7);
          else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6)) as Record<string, unknown>;
        }
        if (e.id !== undefined) events.push(e as SseEvent);
      }
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
  }
  return { events, comments, status: res.status };
}

describe('jobs (gateway + a worker over real NATS JetStream)', () => {
  let gw: GatewayTestApp;
  let worker: INestApplicationContext;
  let engineer: string;
  let viewer: string;
  const hookCalls: string[] = [];

  const auth = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });
  const post = (p: string, token: string, body?: unknown) =>
    fetch(`${gw.api}${p}`, {
      method: 'POST',
      headers: auth(token),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const getJob = async (id: string) =>
    (await (await fetch(`${gw.api}/jobs/${id}`, { headers: auth(engineer) })).json()) as JobView;
  const waitFor = async (id: string, pred: (j: JobView) => boolean, ms = 20_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const j = await getJob(id);
      if (pred(j)) return j;
      if (Date.now() > end) throw new Error(`job ${id} stuck in ${JSON.stringify(j)}`);
      await sleep(100);
    }
  };
  const create = async (modelId: string) => {
    const r = await post('/jobs/convert', engineer, { modelId });
    expect(r.status).toBe(202);
    return (await r.json()) as JobView;
  };

  beforeAll(async () => {
    gw = await startGatewayTestApp({ env: { CVP_JOB_SSE_HEARTBEAT_MS: '200' } });
    engineer = await gw.login('engineer');
    viewer = await gw.login('viewer');
    // This suite stands in for the models module: its convert hook needs real model files.
    gw.app.get(JobSucceededHooks).replaceForTest('convert', async (job) => {
      hookCalls.push(job.id);
      if (job.result.modelId === 'ok-hookfail') throw new Error('registry said no');
      return { registeredAs: `m-${job.result.modelId}` };
    });
    // Start from empty queues: earlier suites on this nats-server may have left messages.
    const jsm = await gw.app.get(MessageBus).jetstreamManager();
    await jsm.streams.purge(Streams.jobs('convert')).catch(() => undefined);
    worker = await startWorker();
  });
  afterAll(async () => {
    await worker?.close();
    await gw?.close();
  });

  it('refuses bad input with 400 problem+json listing every error, and viewers with 403', async () => {
    const r = await post('/jobs/train', engineer, { modelId: 'm', epochs: 0, extra: 1 });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    const body = (await r.json()) as { errors: { path: string }[] };
    const paths = body.errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['datasetId', 'epochs']));
    expect(JSON.stringify(body)).toContain('extra');
    expect((await post('/jobs/convert', viewer, { modelId: 'x' })).status).toBe(403);
    expect((await post('/jobs/nonsense', engineer, { modelId: 'x' })).status).toBe(400);
    expect((await fetch(`${gw.api}/jobs/00000000-0000-4000-8000-000000000000`, { headers: auth(viewer) })).status).toBe(
      404,
    );
  });

  it('runs a job to success: SSE shows queued -> running -> progress -> succeeded, hook result merged, Last-Event-ID resumes', async () => {
    const job = await create('ok-1');
    expect(job.state).toBe('queued');
    const tr = await post(`/jobs/${job.id}/events/token`, viewer);
    expect(tr.status).toBe(201);
    const { streamToken } = (await tr.json()) as { streamToken: string };
    const { events, status } = await readSse(`${gw.api}/jobs/${job.id}/events?streamToken=${streamToken}`);
    expect(status).toBe(200);
    const states = events.filter((e) => e.data.state).map((e) => e.data.state);
    expect(states).toEqual(['queued', 'running', 'succeeded']);
    expect(events.some((e) => e.data.stage === 'halfway')).toBe(true);
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort((a, b) => a - b));
    const done = await getJob(job.id);
    expect(done).toMatchObject({
      state: 'succeeded',
      progress: 1,
      result: { modelId: 'ok-1', metadata: { attempt: 1 }, registeredAs: 'm-ok-1' },
      error: null,
    });
    expect(done.startedAt).toBeTruthy();
    expect(done.finishedAt).toBeTruthy();

    // Resume: only what came after the given id.
    const resumed = await readSse(`${gw.api}/jobs/${job.id}/events?streamToken=${streamToken}`, {
      'last-event-id': String(events[1].id),
    });
    expect(resumed.events.map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));

    // The token opens this job's stream only; no token, no stream.
    const other = await create('ok-2');
    expect((await readSse(`${gw.api}/jobs/${other.id}/events?streamToken=${streamToken}`)).status).toBe(401);
    expect((await readSse(`${gw.api}/jobs/${other.id}/events`)).status).toBe(401);
    await waitFor(other.id, (j) => j.state === 'succeeded');

    const list = (await (
      await fetch(`${gw.api}/jobs?type=convert&state=succeeded&limit=1`, { headers: auth(viewer) })
    ).json()) as { items: JobView[]; total: number };
    expect(list.items).toHaveLength(1);
    expect(list.total).toBeGreaterThanOrEqual(2);
  });

  it('stores the job failed when a completion hook throws', async () => {
    const job = await create('ok-hookfail');
    const j = await waitFor(job.id, (x) => x.state !== 'queued' && x.state !== 'running');
    expect(j.state).toBe('failed');
    expect(j.error).toContain('registry said no');
  });

  it('fails at once on a permanent error, without retries', async () => {
    const job = await create('bad-1');
    const j = await waitFor(job.id, (x) => x.state === 'failed');
    expect(j.error).toContain('unsupported model bad-1');
    expect(j.attempts).toBe(1);
  });

  it('sends a poison message to the dead-letter subject and fails the job with the reason', async () => {
    const js = gw.app.get(MessageBus).jetstream();
    const job = await create('poison-1');
    const j = await waitFor(job.id, (x) => x.state === 'failed');
    expect(j.error).toMatch(/failed after 2 deliveries: poison pill poison-1/);
    expect(j.attempts).toBe(2);
    // The dead letter, read from its stream.
    const consumer = await js.consumers.get(Streams.deadLetter);
    let dl: JobDeadLetter | undefined;
    for (let i = 0; i < 20 && !dl; i++) {
      const m = await consumer.next({ expires: 1000 });
      if (!m) break;
      const d = decodeMessage(JobDeadLetterContract, m.data);
      if (d.jobId === job.id) dl = d;
    }
    expect(dl).toMatchObject({ jobId: job.id, type: 'convert', deliveries: 2 });
    expect(dl!.reason).toContain('poison pill');
  });

  it('cancels a running job: the worker kills its child process group, releases its GPU lease, and the job ends cancelled', async () => {
    const job = await create('hold-1');
    const pidFile = path.join(process.env.CVP_TEST_DIR!, `${job.id}.pid`);
    await waitFor(job.id, (x) => x.stage === 'child running');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(processGroupAlive(pid)).toBe(true);
    const leasesOf = async () =>
      (
        (await (await fetch(`${gw.api}/gpu/leases`, { headers: auth(viewer) })).json()) as {
          holders: { holder: string }[];
        }
      ).holders.filter((h) => h.holder === `fixture:${job.id}`);
    expect(await leasesOf()).toHaveLength(1);
    // Someone watches the job while it is cancelled: heartbeats while idle, then the terminal event ends the stream.
    const { streamToken } = (await (await post(`/jobs/${job.id}/events/token`, viewer)).json()) as {
      streamToken: string;
    };
    const watching = readSse(`${gw.api}/jobs/${job.id}/events?streamToken=${streamToken}`);
    await sleep(700);
    const t0 = Date.now();
    const r = await post(`/jobs/${job.id}/cancel`, engineer);
    expect(r.status).toBe(202);
    expect(((await r.json()) as JobView).state).toBe('cancelled');
    while (processGroupAlive(pid) && Date.now() - t0 < 5000) await sleep(50);
    expect(processGroupAlive(pid)).toBe(false);
    while ((await leasesOf()).length > 0 && Date.now() - t0 < 5000) await sleep(50);
    expect(await leasesOf()).toHaveLength(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await getJob(job.id)).state).toBe('cancelled');
    const watched = await watching;
    expect(watched.comments.some((c) => c.startsWith(': heartbeat'))).toBe(true);
    expect(watched.events.at(-1)?.data).toMatchObject({ state: 'cancelled', jobId: job.id });
    expect((await post(`/jobs/${job.id}/cancel`, engineer)).status).toBe(409);
    expect(existsSync(pidFile)).toBe(true);
  });

  it('a worker killed mid-job (SIGKILL) is redelivered after the ack wait and the job succeeds exactly once', async () => {
    // Only the child worker consumes while the job starts.
    await worker.close();
    const root = path.resolve(__dirname, '../../../..');
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '-r',
        path.join(root, 'libs/jobs/src/testing/register-ts.js'),
        path.join(root, 'libs/jobs/src/testing/worker-process.ts'),
      ],
      {
        env: { ...process.env, CVP_TEST_ACK_WAIT_MS: '2000' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('child worker did not start')), 30_000);
        child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && (clearTimeout(t), resolve()));
        child.once('exit', (c) => reject(new Error(`child worker exited ${c}`)));
      });
      const job = await create('slow-kill');
      await waitFor(job.id, (x) => x.state === 'running' && x.progress > 0);
      child.kill('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
    const runsBefore = FixtureConvertHandler.runs.length;
    worker = await startWorker();
    const list = (await (
      await fetch(`${gw.api}/jobs?state=running&type=convert`, { headers: auth(viewer) })
    ).json()) as { items: JobView[] };
    const id = list.items.find((j) => (j.input as { modelId?: string }).modelId === 'slow-kill')!.id;
    const done = await waitFor(id, (x) => x.state === 'succeeded', 30_000);
    expect(done.attempts).toBe(2);
    expect(done.result).toMatchObject({ modelId: 'slow-kill', metadata: { attempt: 2, pid: process.pid } });
    expect(FixtureConvertHandler.runs.slice(runsBefore).filter((r) => r === id)).toHaveLength(1);
    expect(hookCalls.filter((h) => h === id)).toHaveLength(1);
    // Exactly one succeeded event in the job's log, even if the message is delivered again.
    const tr = await post(`/jobs/${id}/events/token`, viewer);
    const { streamToken } = (await tr.json()) as { streamToken: string };
    const { events } = await readSse(`${gw.api}/jobs/${id}/events?streamToken=${streamToken}`);
    expect(events.filter((e) => e.data.state === 'succeeded')).toHaveLength(1);
    expect(events.filter((e) => e.data.state === 'running').map((e) => e.data.attempt)).toEqual([1, 2]);
  });
});
