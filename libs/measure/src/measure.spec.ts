import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { compareOutputs, readOutputs, writeOutputs } from './agreement';
import { environmentFingerprint, detectGpu, ortProviders, processVramMb } from './environment';
import { imageToTensor, listImages, seededJpeg } from './images';
import { BoundedPool, concurrencyPoint, runLoad, stabilityResult } from './load';
import { makeSamples } from './measurement';
import { measureOrt } from './ort-measure';
import { seededRandom, seededTensor } from './rng';
import { measureRepeated, percentile, summarize } from './stats';
import { tinyIdentityOnnx } from './testing/tiny-onnx';

const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'measure-'));
const busy = (ms: number) => {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  while (process.hrtime.bigint() < end);
};

describe('statistics', () => {
  it('percentiles interpolate; summaries carry p50/p95/p99/mean/std/CV', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([], 50)).toBe(0);
    expect(percentile([5], 99)).toBe(5);
    const s = summarize([10, 10, 10, 10, 20], { warmup: 1, attempts: 1, unstable: false });
    expect(s).toMatchObject({ iterations: 5, p50Ms: 10, minMs: 10, maxMs: 20, meanMs: 12, warmup: 1 });
    expect(s.p95Ms).toBeCloseTo(18, 5);
    expect(s.stdMs).toBeCloseTo(4.472, 2);
    expect(s.cv).toBeCloseTo(0.3727, 3);
  });

  it('re-measures while CV exceeds the threshold, then marks the result unstable instead of failing', async () => {
    let i = 0;
    const noisy = async () => busy(i++ % 2 ? 0.2 : 6);
    const r = await measureRepeated(noisy, { warmup: 1, iterations: 6, cvThreshold: 0.05, maxAttempts: 3 });
    expect(r).toMatchObject({ attempts: 3, unstable: true, iterations: 6 });
    const calm = await measureRepeated(async () => busy(2), {
      warmup: 0,
      iterations: 5,
      cvThreshold: 50,
      maxAttempts: 3,
    });
    expect(calm).toMatchObject({ attempts: 1, unstable: false });
    const ac = new AbortController();
    ac.abort();
    await expect(
      measureRepeated(async () => undefined, {
        warmup: 1,
        iterations: 1,
        cvThreshold: 1,
        maxAttempts: 1,
        signal: ac.signal,
      }),
    ).rejects.toThrow();
  });

  it('seeded inputs are reproducible', () => {
    expect(seededTensor(16, 7)).toEqual(seededTensor(16, 7));
    expect(seededTensor(16, 7)).not.toEqual(seededTensor(16, 8));
    const r = seededRandom(1);
    expect(r()).toBeGreaterThanOrEqual(0);
  });
});

describe('agreement', () => {
  const t = (data: number[], dims: number[]) => ({ data: Float32Array.from(data), dims });
  it('identical outputs: no drop; perturbed: cosine below 1, max abs diff measured', () => {
    const a = [[t([1, 2, 3, 4], [1, 4])]];
    expect(compareOutputs(a, a, null)).toMatchObject({ maxAbsDiff: 0, cosine: 1, accuracyDrop: 0 });
    const b = [[t([1, 2, 3, 5], [1, 4])]];
    const r = compareOutputs(a, b, null);
    expect(r.maxAbsDiff).toBe(1);
    expect(r.cosine).toBeLessThan(1);
    expect(r.accuracyDrop).toBeCloseTo(1 - r.cosine, 6);
  });
  it('classifiers judge top-1 agreement; detectors the confidence change', () => {
    const ref = [[t([0.1, 0.9, 0.2, 0.3], [2, 2])]];
    const other = [[t([0.1, 0.9, 0.3, 0.2], [2, 2])]];
    expect(compareOutputs(ref, other, 'classify')).toMatchObject({ top1Agreement: 0.5, accuracyDrop: 0.5 });
    const det = [[t([10, 10, 4, 4, 0.5, 0.5], [1, 6, 1])]];
    const det2 = [[t([10, 10, 4, 4, 0.5, 0.7], [1, 6, 1])]];
    expect(compareOutputs(det, det2, 'detect').scoreMaxAbsDiff).toBeCloseTo(0.2, 5);
    expect(() => compareOutputs(ref, [[t([1], [1, 1])]], null)).toThrow(/sizes differ/);
  });
});

describe('load', () => {
  it('closed-loop load counts requests and errors within its bounds', async () => {
    let n = 0;
    const r = await runLoad(
      async () => {
        if (++n % 5 === 0) throw new Error('boom');
        await new Promise((res) => setTimeout(res, 2));
      },
      { users: 4, maxRequests: 20, durationMs: 5000 },
    );
    expect(r).toMatchObject({ requests: 20, errors: 4, firstError: 'boom' });
    expect(concurrencyPoint('e', 4, r)).toMatchObject({ engine: 'e', concurrency: 4, requests: 20, errors: 4 });
    expect(stabilityResult('e', 4, r).passed).toBe(false);
  });
  it('the bounded pool runs at most `size` at once and refuses beyond its queue cap', async () => {
    const pool = new BoundedPool(2, 1);
    let running = 0;
    let peak = 0;
    const job = () =>
      pool.run(async () => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
      });
    const results = await Promise.allSettled([job(), job(), job(), job()]);
    expect(peak).toBe(2);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
  });
});

describe('onnxruntime-node measurement', () => {
  const model = path.join(dir, 'id.onnx');
  writeFileSync(model, tinyIdentityOnnx());
  const base = {
    modelPath: model,
    graphOptimization: 'all' as const,
    threads: 1,
    batch: 1,
    inputShape: [1, 3, 8, 8],
    task: null,
    seed: 0,
    warmup: 1,
    iterations: 5,
    cvThreshold: 1,
    maxAttempts: 1,
  };

  it('measures build, first inference, latency, time split, memory, agreement and load', async () => {
    const outs = path.join(dir, 'base.out');
    const a = await measureOrt({ ...base, graphOptimization: 'disabled', writeOutputsTo: outs, agreementSamples: 2 });
    expect(a.latency.iterations).toBe(5);
    expect(a.buildMs).toBeGreaterThan(0);
    expect(a.peakRssMb).toBeGreaterThan(10);
    expect((await readOutputs(outs)).length).toBe(2);
    const b = await measureOrt({
      ...base,
      batch: 2,
      compareWith: outs,
      agreementSamples: 2,
      timeSplit: true,
      load: {
        concurrency: [1, 2],
        requestsPerLevel: 6,
        poolSize: 2,
        stabilityUsers: 5,
        stabilityDurationMs: 200,
        engineName: 'id',
      },
    });
    expect(b.agreement).toMatchObject({ maxAbsDiff: 0, accuracyDrop: 0 });
    expect(b.throughput).toBeGreaterThan(0);
    expect(b.timeSplit!.preMs).toBeGreaterThan(0);
    expect(b.concurrency.map((p) => [p.concurrency, p.requests, p.errors])).toEqual([
      [1, 6, 0],
      [2, 6, 0],
    ]);
    expect(b.stability).toMatchObject({ users: 5, errors: 0, passed: true });
    expect(b.inputSource).toMatch(/seeded/);
  });

  it('uses real images of an attached data set for inputs', async () => {
    const ds = path.join(dir, 'ds', 'images');
    mkdirSync(ds, { recursive: true });
    await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 255, g: 0, b: 0 } } })
      .png()
      .toFile(path.join(ds, 'a.png'));
    writeFileSync(path.join(ds, 'notes.txt'), 'x');
    expect(await listImages(path.dirname(ds), 10)).toHaveLength(1);
    const { samples, source } = await makeSamples([1, 3, 8, 8], 2, 0, path.dirname(ds));
    expect(source).toMatch(/1 images from the attached data set/);
    expect(samples).toHaveLength(2);
    expect(samples[0][0]).toBeCloseTo(1, 2); // red channel of a red image
    expect(samples[0][64]).toBeCloseTo(0, 2); // green plane
    const r = await measureOrt({ ...base, datasetDir: path.dirname(ds) });
    expect(r.inputSource).toMatch(/attached data set/);
  });

  it('images and fingerprint helpers', async () => {
    const jpg = await seededJpeg(1, 32, 16);
    expect(jpg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect((await imageToTensor(jpg, 3, 4, 4)).length).toBe(48);
    const env = environmentFingerprint({ nativeCore: 'x' });
    expect(env).toMatchObject({ nativeCore: 'x', onnxruntimeNode: expect.stringMatching(/^\d+\.\d+/) });
    expect(env.cores).toBeGreaterThan(0);
    expect(ortProviders()).toContain('cpu');
    if (!detectGpu().present) expect(processVramMb(process.pid)).toBeNull();
    expect(detectGpu().present ? detectGpu().reason : detectGpu().reason).toEqual(
      detectGpu().present ? null : expect.stringMatching(/no NVIDIA GPU/),
    );
    const outs = path.join(dir, 'o.out');
    await writeOutputs(outs, [[{ data: Float32Array.from([1, 2]), dims: [1, 2] }]]);
    expect(Array.from((await readOutputs(outs))[0][0].data)).toEqual([1, 2]);
  });
});
