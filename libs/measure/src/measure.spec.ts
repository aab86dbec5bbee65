import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { compareOutputs, readSampleOutputs, wilsonInterval, worstCaseCoverage, writeSampleOutputs } from './agreement';
import { summarizeCpuProfile } from './cpu-profile';
import {
  detectGpu,
  detectGpuAsync,
  environmentFingerprint,
  ortProviders,
  ortProvidersAsync,
  ownVramPeak,
  processVram,
  vramFigure,
} from './environment';
import { runHttpLoad, servedConcurrencyPoint, servedStabilityResult } from './http-load';
import { agreementImages, imageToTensor, listImages, seededJpeg } from './images';
import { makeSamples } from './measurement';
import { measureOrt, ortProviderList } from './ort-measure';
import { profileServingStages } from './serving-stages';
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
    expect(compareOutputs(a, a, null)).toMatchObject({ maxAbsDiff: 0, cosine: 1, accuracyDrop: 0, samples: 1 });
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
  it('bounds what it measured: Wilson interval of top-1 agreement, coverage of the worst output seen', () => {
    const w = wilsonInterval(31, 32);
    expect(w.lower).toBeCloseTo(0.8426, 3); // Wilson 95 % for 31/32
    expect(w.upper).toBeCloseTo(0.9945, 3);
    expect(wilsonInterval(0, 0)).toEqual({ lower: 0, upper: 1 });
    expect(worstCaseCoverage(32)).toBeCloseTo(0.9107, 3); // 0.05^(1/32)
    const ref = Array.from({ length: 32 }, (_, i) => [t(i === 0 ? [0.9, 0.1] : [0.1, 0.9], [1, 2])]);
    const other = Array.from({ length: 32 }, () => [t([0.2, 0.8], [1, 2])]);
    const inputs = { count: 32, source: 'dataset' as const, description: '32 images' };
    const c = compareOutputs(ref, other, 'classify', inputs);
    expect(c).toMatchObject({ top1Agreement: 31 / 32, samples: 32, inputs });
    expect(c.bound).toMatchObject({ method: 'wilson', of: 'top1Agreement', confidence: 0.95 });
    expect(c.bound!.dropUpper).toBeCloseTo(1 - w.lower, 3);
    const d = compareOutputs(ref, ref, 'detect');
    expect(d.bound).toMatchObject({ method: 'order-statistic', of: 'outputCoverage', dropUpper: null });
    expect(d.bound!.lower).toBeCloseTo(0.9107, 3);
  });
  it('the baseline writes one outputs file per input; a candidate reads them one at a time', async () => {
    const outDir = path.join(dir, 'outs');
    await writeSampleOutputs(outDir, 0, [t([1, 2], [1, 2]), t([3], [1])]);
    await writeSampleOutputs(outDir, 1, [t([4, 5], [1, 2]), t([6], [1])]);
    expect(readdirSync(outDir).sort()).toEqual(['0.out', '1.out']);
    const one = await readSampleOutputs(outDir, 1);
    expect(one!.map((o) => [Array.from(o.data), o.dims])).toEqual([
      [
        [4, 5],
        [1, 2],
      ],
      [[6], [1]],
    ]);
    expect(await readSampleOutputs(outDir, 2)).toBeNull();
  });
});

describe('HTTP load (autocannon)', () => {
  // A server that answers like the data plane: 200, or 429 problem+json saying why, or 500.
  let server: http.Server;
  let url: string;
  let seen = 0;
  const bodies: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const n = ++seen;
        bodies.push(Buffer.concat(chunks).toString());
        const problem = (status: number, detail: string) => {
          res.writeHead(status, { 'content-type': 'application/problem+json' });
          res.end(JSON.stringify({ status, detail }));
        };
        if (req.headers.authorization !== 'Bearer t') return problem(401, 'no credentials');
        if (n % 10 === 3) return problem(429, 'all 1 workers busy and 1 requests queued');
        if (n % 10 === 6) return problem(429, 'waited 31 ms in the queue, past the request deadline');
        if (n % 10 === 9) return problem(500, 'inference failed');
        setTimeout(() => res.end('{"ok":true}'), 2);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/models/m/detect`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('counts every request by how it ended: answered, 429 queue full, 429 deadline, errors', async () => {
    seen = 0;
    bodies.length = 0;
    const r = await runHttpLoad({
      url,
      headers: { authorization: 'Bearer t' },
      bodies: [
        { body: Buffer.from('a'), contentType: 'image/png' },
        { body: Buffer.from('b'), contentType: 'image/png' },
      ],
      connections: 2,
      amount: 20,
    });
    expect(r).toMatchObject({ sent: 20, answered: 14, rejected: 2, deadlineExpired: 2, errors: 2, unanswered: 0 });
    expect(r.statusCodes).toEqual({ 200: 14, 429: 4, 500: 2 });
    expect(r.firstError).toMatch(/HTTP 500/);
    expect(new Set(bodies)).toEqual(new Set(['a', 'b']));
    const point = servedConcurrencyPoint('cand', 2, r);
    expect(point).toMatchObject({
      engine: 'cand',
      concurrency: 2,
      requests: 20,
      answered: 14,
      rejected: 2,
      deadlineExpired: 2,
    });
    expect(point.errors).toBe(2);
    expect(point.p95Ms).toBeGreaterThan(0);
    const stab = servedStabilityResult('cand', 2, r);
    expect(stab).toMatchObject({ passed: false, via: 'data-plane' });
  });

  it('a time-bounded run ends on time; a clean one passes; an abort stops it', async () => {
    seen = 4; // skip the failing slots for a few requests
    const t0 = Date.now();
    const ok = await runHttpLoad({
      url,
      headers: { authorization: 'Bearer t' },
      bodies: [{ body: Buffer.from('x'), contentType: 'image/png' }],
      connections: 1,
      amount: 1,
    });
    expect(servedStabilityResult('c', 1, ok)).toMatchObject({ passed: true, answered: 1 });
    const timed = await runHttpLoad({
      url,
      bodies: [{ body: Buffer.from('x'), contentType: 'image/png' }],
      connections: 3,
      durationMs: 300,
    });
    expect(timed.errors).toBeGreaterThan(0); // 401 without credentials
    expect(Date.now() - t0).toBeLessThan(5000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const aborted = await runHttpLoad({
      url,
      headers: { authorization: 'Bearer t' },
      bodies: [{ body: Buffer.from('x'), contentType: 'image/png' }],
      connections: 2,
      durationMs: 30_000,
      signal: ac.signal,
    });
    expect(aborted.elapsedMs).toBeLessThan(5000);
    await expect(runHttpLoad({ url, bodies: [], connections: 1 })).rejects.toThrow(/at least one/);
  });
});

describe('CPU profile summary', () => {
  it('self time per function from samples and time deltas, largest first, idle share apart', () => {
    const frame = (functionName: string, lineNumber: number, url = '/app/x.js') => ({ functionName, url, lineNumber });
    const s = summarizeCpuProfile(
      {
        nodes: [
          { id: 1, callFrame: frame('(root)', -1, '') },
          { id: 2, callFrame: frame('letterboxToChw', 9) },
          { id: 3, callFrame: frame('nmsClasswise', 19) },
          { id: 4, callFrame: frame('(idle)', -1, '') },
          { id: 5, callFrame: frame('letterboxToChw', 9) }, // same function, another call site
        ],
        startTime: 0,
        endTime: 10_000,
        samples: [2, 3, 4, 4, 5, 2],
        timeDeltas: [0, 1000, 2000, 3000, 1000, 1000],
      },
      3,
    );
    expect(s.samples).toBe(6);
    expect(s.top.map((f) => [f.functionName, f.line, f.selfMs])).toEqual([
      ['(idle)', 0, 4],
      ['letterboxToChw', 10, 3.7],
      ['nmsClasswise', 20, 2],
    ]);
    expect(s.idlePct).toBeGreaterThan(40);
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

  it('measures build, first inference, latency, memory and agreement on 32 inputs by default, input by input', async () => {
    const outs = path.join(dir, 'base-outs');
    const a = await measureOrt({ ...base, graphOptimization: 'disabled', writeOutputsTo: outs });
    expect(a.latency.iterations).toBe(5);
    expect(a.buildMs).toBeGreaterThan(0);
    expect(a.peakRssMb).toBeGreaterThan(10);
    expect(readdirSync(outs)).toHaveLength(32);
    expect(a).toMatchObject({ peakVramMb: null, vramReason: 'CPU engine: uses no GPU memory' });
    const b = await measureOrt({ ...base, batch: 2, compareWith: outs });
    expect(b.agreement).toMatchObject({
      maxAbsDiff: 0,
      accuracyDrop: 0,
      samples: 32,
      inputs: { count: 32, source: 'seeded', description: '32 seeded synthetic inputs (seed 0)' },
      bound: { method: 'order-statistic' },
    });
    expect(b.throughput).toBeGreaterThan(0);
    expect(b.inputSource).toMatch(/seeded/);
    await expect(measureOrt({ ...base, compareWith: outs, agreementSamples: 33 })).rejects.toThrow(
      /no outputs for agreement input 32/,
    );
  });

  it('uses real images of an attached data set for inputs, held-out split first', async () => {
    const root = path.join(dir, 'ds');
    const val = path.join(root, 'images', 'val');
    const train = path.join(root, 'images', 'train');
    mkdirSync(val, { recursive: true });
    mkdirSync(train, { recursive: true });
    const png = (r: number) =>
      sharp({ create: { width: 20, height: 10, channels: 3, background: { r, g: 0, b: 0 } } }).png();
    await png(255).toFile(path.join(val, 'a.png'));
    await png(0).toFile(path.join(train, 'b.png'));
    await png(0).toFile(path.join(train, 'c.png'));
    writeFileSync(path.join(val, 'notes.txt'), 'x');
    expect(await listImages(val, 10)).toHaveLength(1);
    const picked = await agreementImages(root, 2);
    expect(picked.files.map((f) => path.relative(root, f))).toEqual(['images/val/a.png', 'images/train/b.png']);
    expect(picked.description).toBe('2 images of the attached data set (1 of split val, 1 of split train)');
    const { samples, source } = await makeSamples([1, 3, 8, 8], 2, 0, root);
    expect(source).toMatch(/2 images of the attached data set/);
    expect(samples).toHaveLength(2);
    expect(samples[0][0]).toBeCloseTo(1, 2); // red channel of the red val image
    expect(samples[0][64]).toBeCloseTo(0, 2); // green plane
    const r = await measureOrt({ ...base, datasetDir: root, writeOutputsTo: path.join(dir, 'ds-outs') });
    expect(r.inputSource).toBe('3 images of the attached data set (1 of split val, 2 of split train)');
  });

  it('images, providers and fingerprint helpers; GPU configurations run TensorRT with a CUDA fallback', async () => {
    const jpg = await seededJpeg(1, 32, 16);
    expect(jpg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect((await imageToTensor(jpg, 3, 4, 4)).length).toBe(48);
    const env = environmentFingerprint({ nativeCore: 'x' });
    expect(env).toMatchObject({ nativeCore: 'x', onnxruntimeNode: expect.stringMatching(/^\d+\.\d+/) });
    expect(env.cores).toBeGreaterThan(0);
    expect(ortProviders()).toContain('cpu');
    expect(await ortProvidersAsync()).toEqual(ortProviders());
    expect(await detectGpuAsync()).toEqual(detectGpu());
    expect(detectGpu().present ? detectGpu().reason : detectGpu().reason).toEqual(
      detectGpu().present ? null : expect.stringMatching(/no NVIDIA GPU/),
    );
    expect(ortProviderList('tensorrt')).toEqual(['tensorrt', 'cuda']);
    expect(ortProviderList('cuda')).toEqual(['cuda']);
    expect(ortProviderList(undefined)).toEqual(['cpu']);
  });
});

describe('VRAM: a figure only when NVML attributes memory to the process', () => {
  const reading = (peakMb: number | null, error: string | null = null) => ({
    peakMb,
    lastMb: peakMb,
    samples: 3,
    error,
  });
  it('null with the reason when NVML did not list the process, listed it at 0, or gave no figure; the peak otherwise', () => {
    expect(vramFigure(reading(512.5), [42])).toEqual({ peakMb: 512.5, reason: null });
    expect(vramFigure(reading(0), [42])).toEqual({
      peakMb: null,
      reason: expect.stringMatching(/NVML attributed no GPU memory to pid 42 although it ran on the GPU/),
    });
    const notListed =
      'NVML never listed pid(s) [42] (3 other process(es) listed); in a container NVML reports host PIDs';
    expect(vramFigure(reading(null, notListed), [42])).toEqual({ peakMb: null, reason: notListed });
    expect(vramFigure(reading(null), [42]).reason).toBe('NVML gave no figure');
  });
  it("on a host where NVML sees no GPU, every reading is null with NVML's reason", async () => {
    if (detectGpu().present) return; // the figure is real there: gpu-discovery.spec checks the sampler
    expect(processVram(process.pid)).toEqual({ peakMb: null, reason: detectGpu().reason });
    expect(await ownVramPeak()).toEqual({ peakMb: null, reason: detectGpu().reason });
  });
});

describe("serving stages (the data plane's own pre- and post-processing)", () => {
  it('times decode+resize, letterbox+normalise, infer and NMS on real images, infer given by the caller', async () => {
    const images = [await seededJpeg(1, 64, 48), await seededJpeg(2, 40, 80)];
    const shapes: number[][] = [];
    const split = await profileServingStages({
      images,
      inputShape: [1, 3, 32, 32],
      task: 'detect',
      infer: async (tensor, shape) => {
        shapes.push([...shape]);
        expect(tensor.length).toBe(3 * 32 * 32);
        // A head of [1, 4 + 2 classes, 3 anchors] with one box above the serving threshold.
        return {
          dims: [1, 6, 3],
          data: Float32Array.from([10, 0, 0, 10, 0, 0, 4, 0, 0, 4, 0, 0, 0.9, 0, 0, 0, 0.1, 0]),
        };
      },
    });
    expect(shapes).toEqual([
      [1, 3, 32, 32],
      [1, 3, 32, 32],
    ]);
    expect(split.images).toBe(2);
    expect(split.stages.map((s) => s.stage)).toEqual(['decode+resize', 'letterbox+normalise', 'infer', 'nms']);
    expect(split.stages[0].meanMs).toBeGreaterThan(0);
    expect(split.stages.reduce((a, s) => a + s.pct, 0)).toBeCloseTo(100, 0);
    const cls = await profileServingStages({
      images: images.slice(0, 1),
      inputShape: [1, 3, 16, 16],
      task: 'classify',
      infer: async () => ({ dims: [1, 3], data: Float32Array.from([1, 2, 3]) }),
    });
    expect(cls.stages.map((s) => s.stage)).toEqual(['decode+resize', 'normalise', 'infer', 'top-k']);
  });
});
