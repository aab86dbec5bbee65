import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  concurrencyStep,
  makeYoloPreset,
  runStep,
  ScratchDeploymentsPublisher,
  selectEngine,
  stabilityStep,
  testProtocolContext,
  timeSplitStep,
} from '@cvp/bench/testing';
import { type InferenceHarness, startInference } from '@cvp/inference/testing';
import { createLogger, MessageBus } from '@cvp/platform';

const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });

interface ScratchRecord {
  candidate: string;
  deploymentId: string;
  loadMs: number | null;
  removed: boolean;
}

/**
 * Bench's serving-path steps (6, 8, 9) against the real data plane: the inference service in
 * process on the run's nats-server, scratch deployments over its deployment events, load over
 * HTTP with autocannon. The model is the yolov8n preset at 64 px, through /detect.
 */
describe('bench steps 6, 8 and 9 through the data plane (real inference service and NATS)', () => {
  let bus: MessageBus;
  let model: Buffer;
  let h: InferenceHarness | undefined;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? '/tmp', 'bench-serving-'));
    model = readFileSync(makeYoloPreset(dir, 64));
    bus = new MessageBus({
      url: process.env.CVP_NATS_URL!,
      name: 'bench-serving-test',
      logger: createLogger('t', 'silent'),
    });
    await bus.connect();
  }, 240_000);

  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  afterAll(async () => {
    await bus?.close();
  });

  async function contextOn(
    inferenceUrl: string,
    options: NonNullable<Parameters<typeof testProtocolContext>[0]>['options'] = {},
    signal?: AbortSignal,
  ) {
    const servingPath = new ScratchDeploymentsPublisher(bus, {
      inferenceUrl,
      statusTimeoutMs: 15_000,
      loadTimeoutMs: 120_000,
      removeTimeoutMs: 15_000,
    });
    const ctx = await testProtocolContext({
      onnx: model,
      task: 'detect',
      options: { agreementSamples: 2, ...options },
      hooks: { servingPath, signal },
      withBaseline: true,
    });
    // What the steps load: the baseline's model at graph level all on one thread (the baseline's own
    // settings, ONNX Runtime's default threads, crawl on a loaded 2-core host).
    const chosen = {
      ...ctx.baseline!,
      id: 'ort-node/cpu/fp32/all/t1/b1',
      options: { ...ctx.baseline!.options, graphOptimization: 'all' as const, threads: 1 },
    };
    ctx.candidates.push(chosen);
    ctx.decision = selectEngine([chosen], {});
    return ctx;
  }

  const scratchOn = (x: InferenceHarness) => x.repository.list().filter((e) => e.name.startsWith('scratch-'));

  it("with default admission: step 6 reports the served split per stage, step 8 sweeps over HTTP and names the serving process's top functions, step 9 holds its users; every scratch deployment is removed", async () => {
    h = await startInference({ CVP_NATS_URL: process.env.CVP_NATS_URL! });
    await new Promise((r) => setTimeout(r, 200)); // subscriptions in place
    const ctx = await contextOn(h.url, {
      concurrency: [1, 4],
      concurrencyRequests: 8,
      stabilityUsers: 20,
      stabilityDurationMs: 1000,
      profileMs: 800,
    });
    const id = ctx.decision!.chosenId!;
    const chosen = ctx.candidates.find((c) => c.id === id)!;

    const s6 = await runStep(ctx, timeSplitStep);
    expect(s6).toMatchObject({ status: 'done', candidateIds: [id] });
    expect(
      (s6.details.served as Record<string, { requests: number; preMs: number; inferMs: number }>)[id],
    ).toMatchObject({
      requests: 4,
    });
    expect(chosen.timeSplit!.inferMs).toBeGreaterThan(0);
    expect((s6.details.stages as { stages: { stage: string }[] }).stages.map((s) => s.stage)).toEqual([
      'decode+resize',
      'letterbox+normalise',
      'infer',
      'nms',
    ]);

    const s8 = await runStep(ctx, concurrencyStep);
    expect(s8).toMatchObject({ status: 'done', candidateIds: [id] });
    expect(
      ctx.concurrency.map((p) => [p.concurrency, p.requests, p.answered, p.rejected, p.deadlineExpired, p.errors]),
    ).toEqual([
      [1, 8, 8, 0, 0, 0],
      [4, 8, 8, 0, 0, 0],
    ]);
    for (const p of ctx.concurrency) expect(p).toMatchObject({ via: 'data-plane', unanswered: 0 });
    const profile = s8.details.cpuProfile as { samples: number; top: { functionName: string; selfMs: number }[] };
    expect(profile.samples).toBeGreaterThan(100);
    expect(profile.top.length).toBeGreaterThan(3);
    expect(profile.top[0].functionName.length).toBeGreaterThan(0);

    // Step 9 passes only with answers, and a request still in flight when the window ends is
    // unanswered: 20 users on a loaded 2-core host can keep every request of a 1 s window in flight.
    // So the window is sized from what step 8 just measured (p95 at 4 users, scaled to 20 users).
    const at4 = ctx.concurrency.find((p) => p.concurrency === 4)!;
    ctx.options.stabilityDurationMs = Math.max(1000, Math.ceil(2 * at4.p95Ms * (20 / 4)));
    const s9 = await runStep(ctx, stabilityStep);
    expect(s9).toMatchObject({ status: 'done', candidateIds: [id] });
    expect(ctx.stability[0]).toMatchObject({ users: 20, passed: true, errors: 0, rejected: 0, deadlineExpired: 0 });
    expect(ctx.stability[0].answered).toBeGreaterThan(0);

    for (const s of [s6, s8, s9])
      for (const d of s.details.scratchDeployments as ScratchRecord[])
        expect(d).toMatchObject({ candidate: id, removed: true, loadMs: expect.any(Number) });
    expect(scratchOn(h)).toEqual([]);
  }, 240_000);

  it("a queue smaller than the load: steps 8 and 9 see 429s from the data plane's admission, and step 9 fails with them", async () => {
    h = await startInference({
      CVP_NATS_URL: process.env.CVP_NATS_URL!,
      CVP_INFER_WORKERS: '1',
      CVP_INFER_QUEUE_CAP: '1',
    });
    await new Promise((r) => setTimeout(r, 200));
    const ctx = await contextOn(h.url, {
      concurrency: [8],
      concurrencyRequests: 48,
      stabilityUsers: 8,
      stabilityDurationMs: 1500,
      profileMs: 0,
    });
    const s8 = await runStep(ctx, concurrencyStep);
    expect(s8.status).toBe('done');
    const [point] = ctx.concurrency;
    expect(point.rejected).toBeGreaterThan(0);
    expect(point.answered).toBeGreaterThan(0);
    expect(point.answered! + point.rejected! + point.deadlineExpired! + point.errors + point.unanswered!).toBe(
      point.requests,
    );
    const s9 = await runStep(ctx, stabilityStep);
    expect(s9.status).toBe('failed');
    expect(s9.reasons.join(' ')).toMatch(/refused \(429\)/);
    expect(ctx.stability[0]).toMatchObject({ passed: false, users: 8 });
    expect(ctx.stability[0].rejected).toBeGreaterThan(0);
    expect(scratchOn(h)).toEqual([]);
  }, 240_000);

  it('removes the scratch deployment after a failure (the data plane loaded it, bench cannot reach it over HTTP) and after a cancel', async () => {
    h = await startInference({ CVP_NATS_URL: process.env.CVP_NATS_URL! });
    await new Promise((r) => setTimeout(r, 200));
    const statuses: string[] = [];
    const failing = await contextOn(`http://127.0.0.1:${await closedPort()}`, { concurrency: [1] });
    const s8 = await runStep(failing, concurrencyStep);
    expect(s8.status).toBe('failed');
    expect(s8.reasons[0]).toMatch(/not reachable over HTTP/);
    const [rec] = s8.details.scratchDeployments as ScratchRecord[];
    expect(rec).toMatchObject({ removed: true, loadMs: null });
    expect(h.repository.get(rec.deploymentId)).toBeUndefined();
    expect(scratchOn(h)).toEqual([]);

    // Cancelled while step 9 loads the data plane: the run stops, and the deployment goes all the same.
    // The step would run for 10 min; ending within a minute of the cancel (on a loaded 2-core
    // machine) tells a cancel that stops it from one that is ignored, without a tight timing.
    const ac = new AbortController();
    const cancelled = await contextOn(h.url, { stabilityUsers: 10, stabilityDurationMs: 600_000 }, ac.signal);
    let abortedAt = 0;
    const watch = setInterval(() => {
      if (scratchOn(h!).length) statuses.push('loaded');
      if (statuses.includes('loaded') && !abortedAt) {
        abortedAt = Date.now() + 300;
        setTimeout(() => ac.abort(), 300);
      }
    }, 50);
    try {
      await expect(runStep(cancelled, stabilityStep)).rejects.toThrow();
    } finally {
      clearInterval(watch);
    }
    expect(statuses).toContain('loaded');
    expect(Date.now() - abortedAt).toBeLessThan(60_000);
    expect(scratchOn(h)).toEqual([]);
  }, 240_000);
});
