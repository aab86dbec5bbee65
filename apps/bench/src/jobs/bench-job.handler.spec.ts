import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchReportSchema, jobResultSchemas } from '@cvp/contracts';
import { JobCancelledError, type JobContext, PermanentJobError, RetryableJobError } from '@cvp/jobs';
import { tinyIdentityOnnx } from '@cvp/measure/testing';
import { parseConfig } from '@cvp/platform';
import pino from 'pino';
import { benchOptionsFrom } from '../bench-options';
import { benchConfigSchema } from '../config';
import { acquireHostLock } from '../protocol/host-lock';
import { type BenchModelFacts, type BenchRegistryClient, imgszFromMetadata } from '../registry/bench-registry.client';
import { BenchJobHandler, benchmarkIdFor } from './bench-job.handler';

/**
 * The handler alone over a real (tiny) ONNX model and the real protocol; the registry is an
 * in-process stand-in (the NATS path is covered by e2e/flows/src/bench.e2e-spec.ts).
 */
describe('BenchJobHandler', () => {
  const root = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'bench-handler-'));
  const dataDir = path.join(root, 'data');
  const onnx = path.join(root, 'id.onnx');
  writeFileSync(onnx, tinyIdentityOnnx(['batch', 3, 16, 16]));
  const lockFile = path.join(root, 'measure.lock');
  const options = benchOptionsFrom(
    parseConfig(benchConfigSchema, {
      CVP_DATA_DIR: dataDir,
      CVP_BENCH_ITERATIONS: '3',
      CVP_BENCH_WARMUP: '1',
      CVP_BENCH_MAX_ATTEMPTS: '1',
      CVP_BENCH_THREADS: '1',
      CVP_BENCH_CONCURRENCY: '1,2',
      CVP_BENCH_CONCURRENCY_REQUESTS: '4',
      CVP_BENCH_STABILITY_USERS: '10',
      CVP_BENCH_STABILITY_SECONDS: '0.3',
      CVP_BENCH_INSTANCE_SECONDS: '0.3',
      CVP_BENCH_MAX_BATCH: '2',
      CVP_BENCH_NATIVE: 'false',
      CVP_PYTHON: path.join(root, 'no-python'),
      CVP_BENCH_LOCK_FILE: lockFile,
      CVP_BENCH_LOCK_WAIT_MS: '200',
    }),
  );
  const facts: BenchModelFacts = {
    id: 'm1',
    name: 'identity',
    task: 'detect',
    version: 2,
    onnxPath: onnx,
    imgsz: 16,
    trained: true,
  };
  const registry = {
    describeModel: async (id: string) => {
      if (id !== 'm1') throw new PermanentJobError(`model ${id} not found`);
      return facts;
    },
    dataset: async () => ({ path: root, format: 'imagefolder' }),
  } as unknown as BenchRegistryClient;
  const ctx = (
    jobId: string,
    signal = new AbortController().signal,
  ): JobContext & { events: { progress?: number; stage?: string }[] } => {
    const events: { progress?: number; stage?: string }[] = [];
    return {
      jobId,
      ownerId: 'u1',
      attempt: 1,
      signal,
      logger: pino({ level: 'silent' }),
      progress: (u) => events.push(u),
      events,
    };
  };

  it('runs the protocol and returns what the gateway stores; reports land under benchmarks/<id>/', async () => {
    const handler = new BenchJobHandler(options, registry);
    const c = ctx('job-a');
    const result = jobResultSchemas.bench.parse(
      await handler.handle({ modelId: 'm1', constraints: { maxP95Ms: 10_000 } }, c),
    );
    expect(result).toMatchObject({
      benchmarkId: benchmarkIdFor('job-a'),
      modelId: 'm1',
      modelVersion: 2,
      status: 'selected',
    });
    expect(result.reportDir).toBe(path.join(dataDir, 'benchmarks', 'bm-job-a'));
    const report = benchReportSchema.parse(
      JSON.parse(readFileSync(path.join(result.reportDir, 'report.json'), 'utf8')),
    );
    expect(report.steps.map((s) => [s.step, s.status])).toEqual([
      [1, 'done'],
      [2, 'done'],
      [3, 'skipped'],
      [4, 'skipped'],
      [5, 'done'],
      [6, 'done'],
      [7, 'done'],
      [8, 'skipped'],
      [9, 'skipped'],
    ]);
    // No data plane in this test (the service's provider is not wired here): steps 8 and 9 say so.
    expect(report.steps[7].reasons).toEqual([expect.stringMatching(/^no data plane to deploy on/)]);
    expect(report.model.trained).toBe(true);
    expect(report.settings.servingPath).toMatch(/^none: /);
    expect(report.steps[2].reasons[0]).toMatch(/python venv not found/);
    expect(report.steps[1].reasons.join(' ')).toMatch(/native: skipped: native engines disabled/);
    expect(report.model.inputShape).toEqual([1, 3, 16, 16]);
    for (const f of ['technical.html', 'simple.html', 'decision.json'])
      expect(existsSync(path.join(result.reportDir, f))).toBe(true);
    expect(existsSync(path.join(result.reportDir, 'scratch'))).toBe(false);
    expect(c.events[0].stage).toMatch(/lock/);
    expect(c.events.some((e) => /step 6/.test(e.stage ?? ''))).toBe(true);
    // Progress only moves forward, whatever order the steps run in.
    const fractions = c.events.map((e) => e.progress ?? 0);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(existsSync(lockFile)).toBe(false);
  }, 120_000);

  it('turns a busy host into a retryable error, and an unknown model into a permanent one', async () => {
    const handler = new BenchJobHandler(options, registry);
    const release = await acquireHostLock(lockFile, 'someone else', { waitMs: 100 });
    try {
      await expect(handler.handle({ modelId: 'm1', constraints: {} }, ctx('job-b'))).rejects.toBeInstanceOf(
        RetryableJobError,
      );
    } finally {
      await release();
    }
    await expect(handler.handle({ modelId: 'nope', constraints: {} }, ctx('job-c'))).rejects.toBeInstanceOf(
      PermanentJobError,
    );
  });

  it('a cancelled job stops, leaves no report folder and frees the lock', async () => {
    const handler = new BenchJobHandler(options, registry);
    const ac = new AbortController();
    const c = ctx('job-d', ac.signal);
    setTimeout(() => ac.abort(), 1500);
    await expect(handler.handle({ modelId: 'm1', constraints: {} }, c)).rejects.toBeInstanceOf(JobCancelledError);
    expect(existsSync(path.join(dataDir, 'benchmarks', 'bm-job-d'))).toBe(false);
    expect(existsSync(lockFile)).toBe(false);
  }, 60_000);

  it('a model that is not an NCHW image model fails permanently with the reason', async () => {
    const flat = path.join(root, 'flat.onnx');
    writeFileSync(flat, tinyIdentityOnnx(['batch', 4]));
    const handler = new BenchJobHandler(options, {
      describeModel: async () => ({ ...facts, onnxPath: flat }),
    } as unknown as BenchRegistryClient);
    await expect(handler.handle({ modelId: 'm1', constraints: {} }, ctx('job-e'))).rejects.toThrow(/NCHW/);
  });

  it('config parsing into options, and metadata parsing', () => {
    expect(options.protocol).toMatchObject({
      threads: [1],
      concurrency: [1, 2],
      stabilityDurationMs: 300,
      native: false,
      variants: ['fp16', 'int8-static', 'int8-dynamic'],
    });
    expect(() => parseConfig(benchConfigSchema, { CVP_BENCH_CONCURRENCY: 'a,b' })).toThrow(/CVP_BENCH_CONCURRENCY/);
    expect(() => parseConfig(benchConfigSchema, { CVP_BENCH_VARIANTS: 'int4' })).toThrow(/CVP_BENCH_VARIANTS/);
    const defaults = benchOptionsFrom(parseConfig(benchConfigSchema, {}));
    expect(defaults.protocol.threads.length).toBeGreaterThan(0);
    expect(defaults.protocol).toMatchObject({ agreementSamples: 32, servedImages: 16, profileMs: 3000 });
    expect(defaults.serving).toMatchObject({ inferenceUrl: 'http://127.0.0.1:8000' });
    expect(benchOptionsFrom(parseConfig(benchConfigSchema, { CVP_INFERENCE_URL: '' }))).toMatchObject({
      serving: null,
      servingPathMissing: 'CVP_INFERENCE_URL is empty',
    });
    // Fewer than 32 agreement inputs cannot give a bound worth reporting.
    expect(() => parseConfig(benchConfigSchema, { CVP_BENCH_AGREEMENT_SAMPLES: '2' })).toThrow(
      /CVP_BENCH_AGREEMENT_SAMPLES/,
    );
    expect(imgszFromMetadata({ metadata_props: { imgsz: '[320, 320]' } })).toBe(320);
    expect(imgszFromMetadata(null)).toBeNull();
  });
});
