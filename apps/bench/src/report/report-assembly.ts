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
    },
    environment: environmentFingerprint({
      nativeCore: ctx.measurers.native.unavailableReason ? null : 'cvp-core (gRPC cvp.inference.v1)',
    }),
    baselineId: baseline.id,
    steps: ctx.steps,
    candidates: ctx.candidates,
    concurrency: ctx.concurrency,
    stability: ctx.stability,
    decision,
  };
  return { ...report, simple: buildSimpleView(report) };
}
