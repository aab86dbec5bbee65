import { BENCH_REPORT_VERSION, type BenchReport } from '@cvp/contracts';
import { environmentFingerprint } from '@cvp/measure';
import type { ProtocolContext } from '../protocol/protocol-context';
import { buildSimpleView } from './simple-view';

/**
 * The report of a finished protocol run: what was measured (steps, candidates, load), the
 * decision, the environment, the options that shaped it, and the plain-language view.
 */
export function assembleReport(
  ctx: Pick<
    ProtocolContext,
    | 'input'
    | 'options'
    | 'model'
    | 'inputSource'
    | 'calibration'
    | 'servingPath'
    | 'servingPathMissing'
    | 'measurers'
    | 'baseline'
    | 'steps'
    | 'candidates'
    | 'concurrency'
    | 'stability'
    | 'decision'
  >,
  startedAt: number,
): BenchReport {
  const { input, options: o, baseline, decision } = ctx;
  if (!baseline || !decision) throw new Error('a report needs the baseline and the decision');
  const report: Omit<BenchReport, 'simple'> = {
    reportVersion: BENCH_REPORT_VERSION,
    id: input.benchmarkId,
    jobId: input.jobId,
    model: {
      id: input.model.id,
      version: input.model.version,
      name: input.model.name,
      task: input.model.task,
      path: input.model.path,
      inputName: ctx.model.name,
      inputShape: ctx.model.shape,
      dynamicBatch: ctx.model.dynamicBatch,
      trained: input.model.trained ?? null,
    },
    createdAt: new Date(startedAt).toISOString(),
    durationMs: Date.now() - startedAt,
    settings: {
      warmup: o.warmup,
      iterations: o.iterations,
      cvThreshold: o.cvThreshold,
      maxAttempts: o.maxAttempts,
      seed: o.seed,
      threads: o.threads,
      concurrency: o.concurrency,
      concurrencyRequests: o.concurrencyRequests,
      stabilityUsers: o.stabilityUsers,
      stabilityDurationMs: o.stabilityDurationMs,
      inputSource: ctx.inputSource,
      agreementInputs: baseline.agreement?.inputs?.description ?? ctx.inputSource,
      calibration: ctx.calibration,
      servingPath: ctx.servingPath
        ? `the data plane at ${ctx.servingPath.baseUrl}, as scratch deployments`
        : `none: ${ctx.servingPathMissing ?? 'the protocol was started without a serving path'}`,
    },
    environment: environmentFingerprint({
      nativeCore: ctx.measurers.native.unavailableReason ? null : 'cvp-core (gRPC cvp.inference.v1)',
    }),
    baselineId: baseline.id,
    // Steps run 1-5, 7, 6, 8, 9 (step 6 profiles the serving path after the selection); reported by number.
    steps: [...ctx.steps].sort((a, b) => a.step - b.step),
    candidates: ctx.candidates,
    concurrency: ctx.concurrency,
    stability: ctx.stability,
    decision,
  };
  return { ...report, simple: buildSimpleView(report) };
}
