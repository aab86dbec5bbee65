import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type {
  Agreement,
  BenchCandidate,
  BenchConstraints,
  BenchReport,
  BenchStep,
  ConcurrencyPoint,
  EngineId,
  GraphOptLevel,
  Precision,
  Provider,
  StabilityResult,
  VariantKind,
} from '@cvp/contracts';
import { BENCH_REPORT_VERSION } from '@cvp/contracts';
import {
  type DetectionMap,
  detectGpu,
  environmentFingerprint,
  loadYoloLabelledSet,
  type OrtMeasureRequest,
  type OrtMeasureResult,
  ortProviders,
  withMapChange,
} from '@cvp/measure';
import { selectEngine } from '../selection/engine-selector';
import { buildSimpleView } from '../report/simple-view';
import { measureInChild } from './child-measure';
import { measureNative, type NativeMeasureResult, nativeUnavailableReason } from './native-measure';
import type { ProtocolSettings } from './protocol-settings';
import { makeVariant } from './python-variants';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');

export interface ProtocolInput {
  benchmarkId: string;
  jobId: string | null;
  model: {
    id: string;
    version: number;
    name: string;
    task: 'detect' | 'classify' | null;
    path: string;
    imgsz?: number | null;
  };
  /** Fills symbolic dims (N,C,H,W). */
  inputShape?: number[];
  datasetDir?: string | null;
  /** Format of the attached data set (the registry's): only 'yolo' sets carry detection labels for mAP. */
  datasetFormat?: 'yolo' | 'imagefolder' | null;
  constraints: BenchConstraints;
  /** benchmarks/<id>/: variants and scratch files go below it. */
  outDir: string;
}

export interface ProtocolHooks {
  progress?: (fraction: number, stage: string, detail?: Record<string, unknown>) => void;
  signal?: AbortSignal;
  /** Runs GPU work under a GPU lease (the handler provides it); absent = no GPU work possible. */
  withGpuLease?: <T>(fn: () => Promise<T>) => Promise<T>;
}

const GRAPH_LEVELS: GraphOptLevel[] = ['basic', 'extended', 'all'];
const PRECISION_OF: Record<VariantKind, Precision> = {
  fp32: 'fp32',
  fp16: 'fp16',
  'int8-static': 'int8',
  'int8-dynamic': 'int8',
};

interface ResolvedInput {
  name: string;
  shape: number[];
  dynamicBatch: boolean;
}

/** Input name and a concrete batch-1 shape: the job's inputShape, else the model's dims, else imgsz/640. */
export async function resolveInput(modelPath: string, given?: number[], imgsz?: number | null): Promise<ResolvedInput> {
  const s = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: 'disabled' });
  try {
    const meta = (s as unknown as { inputMetadata?: { name: string; shape?: (number | string)[] }[] })
      .inputMetadata?.[0];
    const dims = meta?.shape ?? [];
    const dynamicBatch = dims.length > 0 && typeof dims[0] !== 'number';
    const fallback = (i: number) => (i === 0 ? 1 : i === 1 ? 3 : (imgsz ?? 640));
    let shape = dims.map((d, i) => (typeof d === 'number' && d > 0 ? d : (given?.[i] ?? fallback(i))));
    if (shape.length === 0 && given) shape = given;
    if (shape.length !== 4)
      throw new Error(`only image models with one NCHW input are benchmarked; input shape is [${dims.join(', ')}]`);
    return { name: meta?.name ?? s.inputNames[0], shape: [1, ...shape.slice(1)], dynamicBatch };
  } finally {
    await s.release().catch(() => undefined);
  }
}

/**
 * Whether detector candidates get an mAP change: only a detector with an attached YOLO data set
 * that holds labelled boxes (val split first). Otherwise the reason, recorded in step 1.
 */
export async function planMap(
  input: Pick<ProtocolInput, 'model' | 'datasetDir' | 'datasetFormat'>,
  s: Pick<ProtocolSettings, 'mapImages'>,
): Promise<{ eval: { datasetDir: string; maxImages: number } | null; reason: string | null }> {
  if (input.model.task !== 'detect') return { eval: null, reason: 'not a detector' };
  if (!input.datasetDir)
    return { eval: null, reason: 'no data set attached to the bench job (mAP needs a labelled YOLO data set)' };
  if (input.datasetFormat && input.datasetFormat !== 'yolo')
    return { eval: null, reason: `the attached data set is ${input.datasetFormat}, which has no detection labels` };
  if (s.mapImages <= 0) return { eval: null, reason: 'mAP scoring disabled by settings (CVP_BENCH_MAP_IMAGES=0)' };
  const set = await loadYoloLabelledSet(input.datasetDir, s.mapImages).catch((e: Error) => ({
    reason: `the data set could not be read: ${e.message}`,
  }));
  if ('reason' in set) return { eval: null, reason: set.reason };
  if (set.boxes === 0)
    return { eval: null, reason: `no labelled boxes in the first ${set.images.length} image(s) of split ${set.split}` };
  return { eval: { datasetDir: input.datasetDir, maxImages: s.mapImages }, reason: null };
}

const candidateId = (
  engine: EngineId,
  provider: Provider,
  variant: VariantKind,
  level: GraphOptLevel,
  threads: number,
  batch: number,
) => `${engine}/${provider}/${variant}/${level}/t${threads}/b${batch}`;

/**
 * The 9-step optimization protocol (SPEC): every step is recorded, skipped parts with their
 * reason. Returns the full report, selection and decision record included.
 */
export async function runProtocol(
  input: ProtocolInput,
  s: ProtocolSettings,
  hooks: ProtocolHooks = {},
): Promise<BenchReport> {
  const started = Date.now();
  const signal = hooks.signal;
  const progress = (f: number, stage: string, detail?: Record<string, unknown>) =>
    hooks.progress?.(Math.min(1, Math.max(0, f)), stage, detail);
  const scratch = path.join(input.outDir, 'scratch');
  const variantsDir = path.join(input.outDir, 'variants');
  await fs.mkdir(scratch, { recursive: true });
  await fs.mkdir(variantsDir, { recursive: true });
  const baselineOut = path.join(scratch, 'baseline.out');
  const task = input.model.task;
  const resolved = await resolveInput(input.model.path, input.inputShape, input.model.imgsz);
  const steps: BenchStep[] = [];
  const candidates: BenchCandidate[] = [];
  const nativeReason = s.native ? nativeUnavailableReason(s.nativeBinary) : 'native engines disabled by settings';
  const gpu = detectGpu();
  const providers = ortProviders();
  let inputSource = input.datasetDir ? 'attached data set' : `seeded synthetic inputs (seed ${s.seed})`;
  const mapPlan = await planMap(input, s);
  let baseMap: DetectionMap | null = null;
  let mapReason = mapPlan.reason;

  const step = async (
    n: number,
    name: string,
    body: (rec: { reasons: string[]; ids: string[]; details: Record<string, unknown> }) => Promise<void>,
    skipAll?: string,
  ) => {
    const t0 = Date.now();
    const rec = { reasons: [] as string[], ids: [] as string[], details: {} as Record<string, unknown> };
    if (skipAll) {
      steps.push({
        step: n,
        name,
        status: 'skipped',
        reasons: [skipAll],
        durationMs: 0,
        candidateIds: [],
        details: {},
      });
      return;
    }
    signal?.throwIfAborted();
    progress((n - 1) / 9, `step ${n}: ${name}`);
    let status: BenchStep['status'] = 'done';
    try {
      await body(rec);
      if (rec.ids.length === 0 && Object.keys(rec.details).length === 0) status = 'skipped';
    } catch (e) {
      if (signal?.aborted) throw e;
      status = 'failed';
      rec.reasons.push((e as Error).message);
    }
    steps.push({
      step: n,
      name,
      status,
      reasons: rec.reasons,
      durationMs: Date.now() - t0,
      candidateIds: rec.ids,
      details: rec.details,
    });
  };

  const ortRequest = (
    modelPath: string,
    level: GraphOptLevel,
    threads: number,
    batch: number,
    extra: Partial<OrtMeasureRequest> = {},
  ): OrtMeasureRequest => ({
    modelPath,
    graphOptimization: level,
    threads,
    batch,
    inputShape: resolved.shape,
    task,
    seed: s.seed,
    warmup: s.warmup,
    iterations: s.iterations,
    cvThreshold: s.cvThreshold,
    maxAttempts: s.maxAttempts,
    timeBudgetMs: s.timeBudgetMs,
    datasetDir: input.datasetDir ?? null,
    agreementSamples: s.agreementSamples,
    compareWith: baselineOut,
    timeSplit: batch === 1,
    // Batch > 1 runs the same model on the same engine as its batch-1 candidate: mAP is scored once, there.
    mapEval: batch === 1 ? mapPlan.eval : null,
    ...extra,
  });

  const toCandidate = (
    stepNo: number,
    engine: EngineId,
    provider: Provider,
    variant: VariantKind,
    modelPath: string,
    level: GraphOptLevel,
    threads: number,
    batch: number,
    r: OrtMeasureResult | NativeMeasureResult,
  ): BenchCandidate => ({
    id: candidateId(engine, provider, variant, level, threads, batch),
    engine,
    options: { provider, precision: PRECISION_OF[variant], graphOptimization: level, threads, maxBatch: batch },
    variant,
    modelPath,
    batch,
    step: stepNo,
    latency: r.latency,
    throughput: r.throughput,
    buildMs: r.buildMs,
    firstInferenceMs: r.firstInferenceMs,
    peakRssMb: r.peakRssMb,
    peakVramMb: 'peakVramMb' in r ? r.peakVramMb : null,
    agreement: withMap(r.agreement, r, batch),
    timeSplit: r.timeSplit,
    selectable: batch === 1,
  });

  /** Detectors: the mAP change against the baseline when both were scored, else the reason there is none. */
  const withMap = (a: Agreement | null, r: OrtMeasureResult | NativeMeasureResult, batch: number): Agreement | null => {
    if (!a || task !== 'detect') return a;
    if (baseMap && r.detectionMap) return withMapChange(a, baseMap, r.detectionMap);
    return {
      ...a,
      mapSkipReason:
        mapReason ??
        r.mapError ??
        (batch > 1 ? 'batch > 1: scored on its batch-1 candidate (same model and engine)' : 'not scored'),
    };
  };

  const measureOrtCandidate = async (
    rec: { reasons: string[]; ids: string[] },
    stepNo: number,
    variant: VariantKind,
    modelPath: string,
    level: GraphOptLevel,
    threads: number,
    batch: number,
    provider: Provider = 'cpu',
  ) => {
    const id = candidateId('ort-node', provider, variant, level, threads, batch);
    try {
      const r = await measureInChild(ortRequest(modelPath, level, threads, batch, { provider }), scratch, {
        timeoutMs: s.measureTimeoutMs,
        signal,
      });
      const c = toCandidate(stepNo, 'ort-node', provider, variant, modelPath, level, threads, batch, r);
      candidates.push(c);
      rec.ids.push(c.id);
      return c;
    } catch (e) {
      if (signal?.aborted) throw e;
      rec.reasons.push(`${id}: failed: ${(e as Error).message}`);
      return null;
    }
  };

  const nativeRequest = (
    modelPath: string,
    variant: VariantKind,
    level: GraphOptLevel,
    threads: number,
    batch: number,
  ) => ({
    binary: s.nativeBinary,
    modelPath,
    graphOptimization: level,
    threads,
    precision: PRECISION_OF[variant],
    batch,
    inputShape: resolved.shape,
    task,
    seed: s.seed,
    warmup: s.warmup,
    iterations: s.iterations,
    cvThreshold: s.cvThreshold,
    maxAttempts: s.maxAttempts,
    timeBudgetMs: s.timeBudgetMs,
    datasetDir: input.datasetDir ?? null,
    agreementSamples: s.agreementSamples,
    compareWith: baselineOut,
    timeSplit: batch === 1,
    mapEval: batch === 1 ? mapPlan.eval : null,
    rpcTimeoutMs: s.rpcTimeoutMs,
  });

  const measureNativeCandidate = async (
    rec: { reasons: string[]; ids: string[] },
    stepNo: number,
    variant: VariantKind,
    modelPath: string,
    level: GraphOptLevel,
    threads: number,
    batch: number,
  ) => {
    const id = candidateId('native', 'cpu', variant, level, threads, batch);
    try {
      const r = await measureNative(nativeRequest(modelPath, variant, level, threads, batch), signal);
      const c = toCandidate(stepNo, 'native', 'cpu', variant, modelPath, level, threads, batch, r);
      candidates.push(c);
      rec.ids.push(c.id);
      return c;
    } catch (e) {
      if (signal?.aborted) throw e;
      rec.reasons.push(`${id}: failed: ${(e as Error).message}`);
      return null;
    }
  };

  // Step 1: the ground truth for outputs.
  let baseline: BenchCandidate | null = null;
  await step(1, 'baseline: ONNX Runtime CPU FP32, graph optimizations off', async (rec) => {
    const r = await measureInChild(
      ortRequest(input.model.path, 'disabled', 0, 1, { compareWith: null, writeOutputsTo: baselineOut }),
      scratch,
      { timeoutMs: s.measureTimeoutMs, signal },
    );
    inputSource = r.inputSource;
    if (mapPlan.eval && !r.detectionMap) mapReason = `the baseline could not be scored: ${r.mapError ?? 'no result'}`;
    else if (r.detectionMap && r.detectionMap.map50 === null)
      mapReason = `no ground-truth boxes in the ${r.detectionMap.images} scored image(s) of split ${r.detectionMap.split}`;
    else baseMap = r.detectionMap;
    baseline = toCandidate(1, 'ort-node', 'cpu', 'fp32', input.model.path, 'disabled', 0, 1, r);
    const identical: Agreement = {
      maxAbsDiff: 0,
      meanAbsDiff: 0,
      cosine: 1,
      top1Agreement: task === 'classify' ? 1 : null,
      scoreMaxAbsDiff: task === 'detect' ? 0 : null,
      mapChange: null,
      accuracyDrop: 0,
      samples: s.agreementSamples,
      accuracyBasis: task === 'classify' ? 'top1' : 'cosine',
    };
    baseline.agreement = withMap(identical, r, 1);
    candidates.push(baseline);
    rec.ids.push(baseline.id);
    rec.details.threads = 'ONNX Runtime default (0)';
    if (task === 'detect') {
      rec.details.map = baseMap
        ? {
            ...baseMap,
            rule: 'accuracyDrop = max(0, baseline mAP@0.5 - candidate mAP@0.5) for every candidate scored on these images',
          }
        : { skipped: mapReason };
      if (!baseMap) rec.reasons.push(`mAP change: skipped: ${mapReason}; accuracy drop is 1 - cosine of the outputs`);
    }
  });
  if (!baseline) throw new Error(`the baseline could not run: ${steps[0].reasons.join('; ')}`);
  const base: BenchCandidate = baseline;

  // Step 2: graph optimization levels x thread settings, on both engines.
  await step(2, 'graph optimization levels basic / extended / all', async (rec) => {
    const total = GRAPH_LEVELS.length * s.threads.length;
    let i = 0;
    for (const level of GRAPH_LEVELS) {
      for (const t of s.threads) {
        progress((1 + (i++ / total) * 0.5) / 9, 'step 2: graph optimization levels', {
          level,
          threads: t,
          engine: 'ort-node',
        });
        await measureOrtCandidate(rec, 2, 'fp32', input.model.path, level, t, 1);
      }
    }
    if (nativeReason) rec.reasons.push(`native: skipped: ${nativeReason}`);
    else {
      for (const level of GRAPH_LEVELS) {
        for (const t of s.threads) {
          progress((1.5 + (i++ / total) * 0.5) / 9, 'step 2: graph optimization levels', {
            level,
            threads: t,
            engine: 'native',
          });
          await measureNativeCandidate(rec, 2, 'fp32', input.model.path, level, t, 1);
        }
      }
    }
  });

  const bestThreads = (engine: EngineId): number =>
    candidates
      .filter((c) => c.engine === engine && c.step === 2)
      .sort((a, b) => a.latency.p50Ms - b.latency.p50Ms || (a.id < b.id ? -1 : 1))[0]?.options.threads ?? s.threads[0];

  // Step 3: FP16 and INT8 variants from python, each validated against the baseline.
  await step(
    3,
    'FP16 (keep_io_types) and INT8 static (QDQ) / dynamic variants',
    async (rec) => {
      rec.reasons.push(gpu.present ? 'fp16 on CUDA: measured in step 4' : `fp16 on CUDA: skipped: ${gpu.reason}`);
      const made: Record<string, unknown> = {};
      rec.details.variants = made;
      rec.details.threads = {
        'ort-node': bestThreads('ort-node'),
        native: nativeReason ? null : bestThreads('native'),
        why: "variants run at each engine's fastest thread setting of step 2",
      };
      let k = 0;
      for (const kind of s.variants) {
        progress((2 + (k++ / s.variants.length) * 0.5) / 9, 'step 3: making variants', { kind });
        const v = await makeVariant(input.model.path, kind, variantsDir, {
          python: s.python!,
          cwd: s.pythonCwd,
          inputShape: resolved.shape,
          calibDir: input.datasetDir ?? null,
          seed: s.seed,
          timeoutMs: s.variantTimeoutMs,
          signal,
          cacheDir: path.join(path.dirname(input.outDir), '.variant-cache'),
        });
        made[kind] = {
          path: v.path,
          pythonAgreement: v.agreement,
          error: v.error,
          durationMs: v.durationMs,
          reusedFromCache: v.cached,
        };
        if (!v.path) {
          rec.reasons.push(`${kind}: variant not made: ${v.error}`);
          continue;
        }
        // Each engine runs the variant at its best thread setting of step 2 (bounds the protocol's time).
        const c = await measureOrtCandidate(rec, 3, kind, v.path, 'all', bestThreads('ort-node'), 1);
        if (c && !c.agreement) rec.reasons.push(`${c.id}: no agreement measured`);
        if (!nativeReason) await measureNativeCandidate(rec, 3, kind, v.path, 'all', bestThreads('native'), 1);
      }
      if (nativeReason) rec.reasons.push(`native: skipped: ${nativeReason}`);
    },
    s.python && existsSync(s.python)
      ? undefined
      : `python venv not found at ${s.python}: variants cannot be made (run the bootstrap)`,
  );

  // Step 4: GPU execution providers.
  const gpuSkip = !gpu.present
    ? `${gpu.reason}; CUDA and TensorRT execution providers not measured`
    : !providers.includes('cuda')
      ? 'a GPU is present but onnxruntime-node has no CUDA provider libraries here'
      : !hooks.withGpuLease
        ? 'no GPU lease client configured'
        : undefined;
  await step(
    4,
    'TensorRT FP16 and CUDA FP32/FP16 (GPU)',
    async (rec) => {
      const fp16 = candidates.find((c) => c.variant === 'fp16');
      await hooks.withGpuLease!(async () => {
        await measureOrtCandidate(rec, 4, 'fp32', input.model.path, 'all', 0, 1, 'cuda');
        if (fp16) await measureOrtCandidate(rec, 4, 'fp16', fp16.modelPath, 'all', 0, 1, 'cuda');
        if (providers.includes('tensorrt'))
          await measureOrtCandidate(rec, 4, 'fp16', fp16?.modelPath ?? input.model.path, 'all', 0, 1, 'tensorrt');
        else rec.reasons.push('tensorrt: provider libraries not available');
      });
      rec.details.vram =
        "sampled with nvidia-smi (NVML) in each GPU candidate's own process after measuring; a candidate whose VRAM could not be read is held infeasible under a VRAM limit";
    },
    gpuSkip,
  );

  const fastestB1 = (engine?: EngineId) =>
    candidates
      .filter(
        (c) =>
          c.batch === 1 &&
          (!engine || c.engine === engine) &&
          c.options.provider === 'cpu' &&
          (c.agreement?.accuracyDrop ?? 1) <= (input.constraints.maxAccuracyDrop ?? 0.01),
      )
      .sort((a, b) => a.latency.p50Ms - b.latency.p50Ms || (a.id < b.id ? -1 : 1))[0];

  // Step 5: batch sizes on the fastest configuration of each engine.
  await step(5, 'batch sizes 1 and 2 (more with a dynamic batch axis)', async (rec) => {
    if (!resolved.dynamicBatch) {
      rec.reasons.push('the model has a fixed batch axis of 1: batch sizes above 1 cannot run');
      return;
    }
    const sizes: number[] = [];
    for (let b = 2; b <= Math.max(2, s.maxBatch); b *= 2) sizes.push(b);
    rec.details.batchSizes = [1, ...sizes];
    const o = fastestB1('ort-node');
    if (o)
      for (const b of sizes)
        await measureOrtCandidate(rec, 5, o.variant, o.modelPath, o.options.graphOptimization, o.options.threads, b);
    const n = fastestB1('native');
    if (n)
      for (const b of sizes)
        await measureNativeCandidate(rec, 5, n.variant, n.modelPath, n.options.graphOptimization, n.options.threads, b);
    else if (nativeReason) rec.reasons.push(`native: skipped: ${nativeReason}`);
  });

  // Step 6: where the time goes (measured with each batch-1 candidate).
  await step(6, 'time split pre-processing / inference / post-processing', async (rec) => {
    const split = candidates.filter((c) => c.timeSplit);
    rec.details.splits = Object.fromEntries(split.map((c) => [c.id, c.timeSplit]));
    rec.ids.push(...split.map((c) => c.id));
    rec.details.method =
      'pre: decode + resize + normalize a seeded 640x480 JPEG; infer: the engine; post: YOLO decode + NMS (detect) or softmax top-5 (classify). Native: the core reports its own timing.';
    if (split.length === 0) rec.reasons.push('no candidate measured a time split');
  });

  // Step 7: memory per engine.
  await step(7, 'peak RSS per engine; peak VRAM (NVML)', async (rec) => {
    rec.details.peakRssMb = Object.fromEntries(candidates.map((c) => [c.id, c.peakRssMb]));
    rec.ids.push(...candidates.map((c) => c.id));
    rec.details.method =
      'each engine measured alone in a fresh process (ort-node: child node process, native: its own core process); peak = the process high-water mark';
    const gpuCands = candidates.filter((c) => c.options.provider !== 'cpu');
    if (gpuCands.length) rec.details.peakVramMb = Object.fromEntries(gpuCands.map((c) => [c.id, c.peakVramMb]));
    else rec.reasons.push(`VRAM: skipped: ${gpu.present ? 'no GPU engine was measured' : gpu.reason}`);
  });

  const decision = selectEngine(
    candidates.filter((c) => c.selectable),
    input.constraints,
    { baselineId: base.id },
  );
  const chosen = candidates.find((c) => c.id === decision.chosenId) ?? null;

  // Steps 8 and 9: through the serving path, the chosen engine (and the best of the other engine).
  const concurrency: ConcurrencyPoint[] = [];
  const stability: StabilityResult[] = [];
  const loadTargets = [
    chosen ?? fastestB1(),
    ...(['ort-node', 'native'] as EngineId[]).map((e) => fastestB1(e)),
  ].filter((c, i, a): c is BenchCandidate => !!c && a.findIndex((x) => x?.id === c.id) === i);
  const loadRuns = new Map<
    string,
    { concurrency: ConcurrencyPoint[]; stability: StabilityResult | null; error?: string }
  >();
  const runLoadFor = async (c: BenchCandidate, withStability: boolean) => {
    const load = {
      concurrency: s.concurrency,
      requestsPerLevel: s.concurrencyRequests,
      poolSize: Math.max(1, Math.min(10, s.concurrency[s.concurrency.length - 1] ?? 1)),
      stabilityUsers: withStability ? s.stabilityUsers : 0,
      stabilityDurationMs: withStability ? s.stabilityDurationMs : 0,
      engineName: c.id,
    };
    try {
      const r =
        c.engine === 'ort-node'
          ? await measureInChild(
              ortRequest(c.modelPath, c.options.graphOptimization, c.options.threads, 1, {
                warmup: 1,
                iterations: 2,
                maxAttempts: 1,
                compareWith: null,
                timeSplit: false,
                mapEval: null,
                load,
                provider: c.options.provider,
              }),
              scratch,
              { timeoutMs: s.measureTimeoutMs + s.stabilityDurationMs, signal },
            )
          : await measureNative(
              {
                ...nativeRequest(c.modelPath, c.variant, c.options.graphOptimization, c.options.threads, 1),
                warmup: 1,
                iterations: 2,
                maxAttempts: 1,
                compareWith: null,
                timeSplit: false,
                mapEval: null,
                load,
              },
              signal,
            );
      loadRuns.set(c.id, { concurrency: r.concurrency, stability: r.stability });
    } catch (e) {
      if (signal?.aborted) throw e;
      loadRuns.set(c.id, { concurrency: [], stability: null, error: (e as Error).message });
    }
  };
  await step(8, 'concurrency sweep through the serving path', async (rec) => {
    rec.details.levels = s.concurrency;
    rec.details.servingPath =
      'ort-node: one session behind a bounded worker pool (as apps/inference); native: the core over gRPC with its own queue';
    for (const [i, c] of loadTargets.entries()) {
      progress((7 + i / loadTargets.length) / 9, 'step 8: concurrency sweep', { candidate: c.id });
      await runLoadFor(c, i === 0 && s.stabilityUsers > 0 && s.stabilityDurationMs > 0);
      const r = loadRuns.get(c.id)!;
      if (r.error) rec.reasons.push(`${c.id}: failed: ${r.error}`);
      concurrency.push(...r.concurrency);
      if (r.concurrency.length) rec.ids.push(c.id);
    }
    if (nativeReason) rec.reasons.push(`native: skipped: ${nativeReason}`);
  });
  await step(
    9,
    `stability: ${s.stabilityUsers} concurrent users for ${s.stabilityDurationMs / 1000} s, zero errors`,
    async (rec) => {
      const target = loadTargets[0];
      const r = target ? loadRuns.get(target.id) : undefined;
      if (!target || !r?.stability) {
        rec.reasons.push(r?.error ?? 'no engine to load');
        throw new Error(`stability not measured: ${r?.error ?? 'no engine'}`);
      }
      stability.push(r.stability);
      rec.ids.push(target.id);
      rec.details.result = r.stability;
      if (!r.stability.passed)
        throw new Error(
          `${r.stability.errors} errors in ${r.stability.requests} requests${r.stability.firstError ? ` (first: ${r.stability.firstError})` : ''}`,
        );
    },
    s.stabilityUsers > 0 && s.stabilityDurationMs > 0 ? undefined : 'stability run disabled by settings',
  );

  progress(1, 'report');
  const environment = environmentFingerprint({ nativeCore: nativeReason ? null : 'cvp-core (gRPC cvp.inference.v1)' });
  const report: BenchReport = {
    reportVersion: BENCH_REPORT_VERSION,
    id: input.benchmarkId,
    jobId: input.jobId,
    model: {
      id: input.model.id,
      version: input.model.version,
      name: input.model.name,
      task,
      path: input.model.path,
      inputName: resolved.name,
      inputShape: resolved.shape,
      dynamicBatch: resolved.dynamicBatch,
    },
    createdAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    settings: {
      warmup: s.warmup,
      iterations: s.iterations,
      cvThreshold: s.cvThreshold,
      maxAttempts: s.maxAttempts,
      seed: s.seed,
      threads: s.threads,
      concurrency: s.concurrency,
      concurrencyRequests: s.concurrencyRequests,
      stabilityUsers: s.stabilityUsers,
      stabilityDurationMs: s.stabilityDurationMs,
      inputSource,
    },
    environment,
    baselineId: base.id,
    steps,
    candidates,
    concurrency,
    stability,
    decision,
    simple: {
      headline: '',
      chosen: null,
      speedup: null,
      baselineP50Ms: base.latency.p50Ms,
      chosenP50Ms: null,
      accuracyImpact: '',
      recommendation: '',
      caveats: [],
    },
  };
  report.simple = buildSimpleView(report);
  await fs.rm(scratch, { recursive: true, force: true });
  return report;
}
