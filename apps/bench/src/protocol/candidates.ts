import type { Agreement, BenchCandidate, EngineId } from '@cvp/contracts';
import { type EngineMeasurement, type MeasurementPlan, withMapChange } from '@cvp/measure';
import { accuracyCheckPasses, DEFAULT_MAX_ACCURACY_DROP } from '../selection/engine-selector';
import { type CandidateConfig, candidateId, engineOptionsOf } from './candidate-config';
import type { ProtocolContext } from './protocol-context';
import type { StepRecord } from './protocol-step';

/**
 * How a configuration is measured in this run: the run's options, the model's input, the
 * baseline's outputs and mAP matches to compare with. Batch > 1 runs the same model on the same
 * engine as its batch-1 candidate, so agreement and mAP are measured once, there.
 */
export function planFor(
  ctx: ProtocolContext,
  config: CandidateConfig,
  over: Partial<MeasurementPlan> = {},
): MeasurementPlan {
  const o = ctx.options;
  const batch1 = config.batch === 1;
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
    compareWith: batch1 ? ctx.dirs.baselineOutputs : null,
    mapEval: batch1 && ctx.map.plan ? { ...ctx.map.plan, compareMatchesWith: ctx.dirs.baselineMatches } : null,
    ...over,
  };
}

/**
 * Why no agreement figure of this run can show an accuracy loss, or null when it can: a model the
 * registry knows to be untrained (its output barely depends on its input), inputs that were only
 * seeded noise, or a baseline that finds none of the labelled objects (nothing to lose).
 */
export function notAssessableReason(ctx: ProtocolContext, a: Agreement): string | null {
  if (ctx.input.model.trained === false)
    return 'the model version is untrained (the registry says so: a preset with random weights): its output barely depends on its input, so no comparison can show an accuracy loss';
  if (a.inputs?.source === 'seeded')
    return `only seeded synthetic inputs were available (${ctx.input.datasetDir ? 'the attached data set has no images' : 'no data set attached'}): agreement on noise says nothing about accuracy on real images`;
  if (a.accuracyBasis === 'map50' && a.map && a.map.baselineMap50 === 0)
    return `the baseline finds none of the ${a.map.boxes} labelled objects (mAP@0.5 0): there is no accuracy to lose`;
  return null;
}

/**
 * Detectors: the mAP change against the baseline when both were scored, else the reason there is
 * none; then whether the figure says anything about accuracy. A figure that cannot is kept for
 * reference, and the drop the constraint judges is null with the reason, never a 0.
 */
export function withMap(
  ctx: ProtocolContext,
  a: Agreement | null,
  m: Pick<EngineMeasurement, 'detectionMap' | 'mapError'>,
): Agreement | null {
  if (!a) return a;
  let out = a;
  if (ctx.input.model.task === 'detect')
    out =
      ctx.map.baseline && m.detectionMap
        ? withMapChange(a, ctx.map.baseline, m.detectionMap)
        : { ...a, mapSkipReason: ctx.map.reason ?? m.mapError ?? 'not scored' };
  const reason = notAssessableReason(ctx, out);
  return reason
    ? { ...out, accuracyDrop: null, assessable: false, notAssessableReason: reason }
    : { ...out, assessable: true, notAssessableReason: null };
}

/** The batch-1 candidate a batch > 1 configuration shares its model and engine with. */
function batch1Of(ctx: ProtocolContext, config: CandidateConfig): BenchCandidate | undefined {
  const id = candidateId({ ...config, batch: 1 });
  return ctx.candidates.find((c) => c.id === id);
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
    vramReason: m.vramReason,
    agreement: config.batch === 1 ? withMap(ctx, m.agreement, m) : carriedAgreement(ctx, config),
    // Step 6 fills it for the configurations it profiles on the data plane.
    timeSplit: null,
    selectable: config.batch === 1,
  };
}

/** Batch > 1: the agreement of its batch-1 candidate (same model, same engine), saying so. */
function carriedAgreement(ctx: ProtocolContext, config: CandidateConfig): Agreement | null {
  const b1 = batch1Of(ctx, config);
  return b1?.agreement ? { ...b1.agreement, measuredOn: b1.id } : null;
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
 * The fastest (p50) batch-1 CPU candidate, of one engine or of all, among those the selection
 * would let through on accuracy (the job's limit, and its choice for what cannot be assessed):
 * what the batch, load and stability steps build on.
 */
export function fastestBatch1(ctx: ProtocolContext, engine?: EngineId): BenchCandidate | undefined {
  const maxDrop = ctx.input.constraints.maxAccuracyDrop ?? DEFAULT_MAX_ACCURACY_DROP;
  const policy = ctx.input.whenAccuracyNotAssessable ?? 'refuse';
  return ctx.candidates
    .filter(
      (c) =>
        c.batch === 1 &&
        (!engine || c.engine === engine) &&
        c.options.provider === 'cpu' &&
        (c.id === ctx.baseline?.id || accuracyCheckPasses(c.agreement, maxDrop, policy)),
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
