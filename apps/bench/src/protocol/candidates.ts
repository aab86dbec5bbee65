import type { Agreement, BenchCandidate, EngineId } from '@cvp/contracts';
import { type EngineMeasurement, type LoadPlan, type MeasurementPlan, withMapChange } from '@cvp/measure';
import { DEFAULT_MAX_ACCURACY_DROP } from '../selection/engine-selector';
import { type CandidateConfig, candidateId, configOf, engineOptionsOf } from './candidate-config';
import type { ProtocolContext } from './protocol-context';
import type { StepRecord } from './protocol-step';

/**
 * How a configuration is measured in this run: the run's options, the model's input, the
 * baseline's outputs to compare with. Batch > 1 runs the same model on the same engine as its
 * batch-1 candidate, so the time split and mAP are measured once, there.
 */
export function planFor(
  ctx: ProtocolContext,
  config: CandidateConfig,
  over: Partial<MeasurementPlan> = {},
): MeasurementPlan {
  const o = ctx.options;
  return {
    inputShape: ctx.model.shape,
    batch: config.batch,
    task: ctx.input.model.task,
    seed: o.seed,
    warmup: o.warmup,
    iterations: o.iterations,
    cvThreshold: o.cvThreshold,
    maxAttempts: o.maxAttempts,
    timeBudgetMs: o.timeBudgetMs,
    datasetDir: ctx.input.datasetDir ?? null,
    agreementSamples: o.agreementSamples,
    compareWith: ctx.dirs.baselineOutputs,
    timeSplit: config.batch === 1,
    mapEval: config.batch === 1 ? ctx.map.plan : null,
    ...over,
  };
}

/** Detectors: the mAP change against the baseline when both were scored, else the reason there is none. */
export function withMap(
  ctx: ProtocolContext,
  a: Agreement | null,
  m: Pick<EngineMeasurement, 'detectionMap' | 'mapError'>,
  batch: number,
): Agreement | null {
  if (!a || ctx.input.model.task !== 'detect') return a;
  if (ctx.map.baseline && m.detectionMap) return withMapChange(a, ctx.map.baseline, m.detectionMap);
  return {
    ...a,
    mapSkipReason:
      ctx.map.reason ??
      m.mapError ??
      (batch > 1 ? 'batch > 1: scored on its batch-1 candidate (same model and engine)' : 'not scored'),
  };
}

/** A measured configuration as the report records it; only batch-1 candidates are selectable. */
export function toCandidate(
  ctx: ProtocolContext,
  step: number,
  config: CandidateConfig,
  m: EngineMeasurement,
): BenchCandidate {
  return {
    id: candidateId(config),
    engine: config.engine,
    options: engineOptionsOf(config),
    variant: config.variant,
    modelPath: config.modelPath,
    batch: config.batch,
    step,
    latency: m.latency,
    throughput: m.throughput,
    buildMs: m.buildMs,
    firstInferenceMs: m.firstInferenceMs,
    peakRssMb: m.peakRssMb,
    peakVramMb: m.peakVramMb,
    agreement: withMap(ctx, m.agreement, m, config.batch),
    timeSplit: m.timeSplit,
    selectable: config.batch === 1,
  };
}

/**
 * Measures a configuration on its engine's measurer and adds it to the run's candidates and the
 * step's record; a failed measurement is a reason in the step, not a failed step.
 */
export async function measureCandidate(
  ctx: ProtocolContext,
  rec: StepRecord,
  step: number,
  config: CandidateConfig,
): Promise<BenchCandidate | null> {
  try {
    const m = await ctx.measurers[config.engine].measure(config, planFor(ctx, config), ctx.signal);
    const c = toCandidate(ctx, step, config, m);
    ctx.candidates.push(c);
    rec.candidateIds.push(c.id);
    return c;
  } catch (e) {
    if (ctx.signal?.aborted) throw e;
    rec.reasons.push(`${candidateId(config)}: failed: ${(e as Error).message}`);
    return null;
  }
}

/** The engines each step goes through, in report order: onnxruntime-node first, the engine of the baseline. */
export const ENGINES: readonly EngineId[] = ['ort-node', 'native'];

/** Why an engine is not measured in this run, or null when it is. */
export const unavailable = (ctx: ProtocolContext, engine: EngineId): string | null =>
  ctx.measurers[engine].unavailableReason;

const byP50 = (a: BenchCandidate, b: BenchCandidate) => a.latency.p50Ms - b.latency.p50Ms || (a.id < b.id ? -1 : 1);

/**
 * The fastest (p50) batch-1 CPU candidate, of one engine or of all, among those within the
 * job's accuracy limit: what the batch, load and stability steps build on.
 */
export function fastestBatch1(ctx: ProtocolContext, engine?: EngineId): BenchCandidate | undefined {
  const maxDrop = ctx.input.constraints.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP;
  return ctx.candidates
    .filter(
      (c) =>
        c.batch === 1 &&
        (!engine || c.engine === engine) &&
        c.options.provider === 'cpu' &&
        (c.agreement?.accuracyDrop ?? 1) <= maxDrop,
    )
    .sort(byP50)[0];
}

/** An engine's fastest thread count in step 2 (the first configured one when step 2 measured none). */
export function bestThreads(ctx: ProtocolContext, engine: EngineId): number {
  return (
    ctx.candidates.filter((c) => c.engine === engine && c.step === 2).sort(byP50)[0]?.options.threads ??
    ctx.options.threads[0]
  );
}

/** What the serving-path steps load: the chosen candidate (else the fastest), then the fastest of each engine. */
export function loadTargets(ctx: ProtocolContext): BenchCandidate[] {
  const chosen = ctx.candidates.find((c) => c.id === ctx.decision?.chosenId);
  return [chosen ?? fastestBatch1(ctx), ...ENGINES.map((e) => fastestBatch1(ctx, e))].filter(
    (c, i, a): c is BenchCandidate => !!c && a.findIndex((x) => x?.id === c.id) === i,
  );
}

/**
 * Load on a measured candidate's configuration in a fresh engine process, through a bounded pool
 * as wide as the sweep's highest level (at most 10, the serving path's default worker pool): the
 * concurrency sweep, the stability run, or both. A short latency pass only warms the engine up.
 */
export function measureLoad(
  ctx: ProtocolContext,
  c: BenchCandidate,
  load: Pick<LoadPlan, 'concurrency' | 'stabilityUsers' | 'stabilityDurationMs'>,
): Promise<EngineMeasurement> {
  const o = ctx.options;
  const config = configOf(c);
  return ctx.measurers[c.engine].measure(
    config,
    planFor(ctx, config, {
      warmup: 1,
      iterations: 2,
      maxAttempts: 1,
      compareWith: null,
      timeSplit: false,
      mapEval: null,
      load: {
        ...load,
        requestsPerLevel: o.concurrencyRequests,
        poolSize: Math.max(1, Math.min(10, o.concurrency[o.concurrency.length - 1] ?? 1)),
        engineName: c.id,
      },
    }),
    ctx.signal,
  );
}
