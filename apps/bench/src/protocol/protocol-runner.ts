import { promises as fs } from 'node:fs';
import type { BenchReport } from '@cvp/contracts';
import { assembleReport } from '../report/report-assembly';
import { selectEngine } from '../selection/engine-selector';
import { chooseInstances } from './instance-layouts';
import { createProtocolContext, type ProtocolHooks, type ProtocolInput } from './protocol-context';
import type { ProtocolOptions } from './protocol-options';
import { runStep } from './protocol-step';
import { baselineStep, MEASURING_STEPS, SERVING_STEPS } from './steps';

/**
 * The 9-step optimization protocol: the baseline, the measuring steps, the selection under the
 * job's constraints and the chosen configuration's model instances, the serving-path steps (6, 8,
 * 9: the data plane), then the report. Every step is recorded, skipped
 * parts with their reason; only a baseline that cannot run fails the whole protocol, since
 * every other number is judged against it.
 */
export async function runProtocol(
  input: ProtocolInput,
  options: ProtocolOptions,
  hooks: ProtocolHooks = {},
): Promise<BenchReport> {
  const startedAt = Date.now();
  const ctx = await createProtocolContext(input, options, hooks);
  const step1 = await runStep(ctx, baselineStep);
  if (!ctx.baseline) throw new Error(`the baseline could not run: ${step1.reasons.join('; ')}`);
  for (const step of MEASURING_STEPS) await runStep(ctx, step);
  ctx.decision = selectEngine(
    ctx.candidates.filter((c) => c.selectable),
    input.constraints,
    { baselineId: ctx.baseline.id, whenAccuracyNotAssessable: input.whenAccuracyNotAssessable ?? 'refuse' },
  );
  await chooseInstances(ctx, { seconds: options.instanceLayoutSeconds });
  for (const step of SERVING_STEPS) await runStep(ctx, step);
  ctx.progress(1, 'report');
  const report = assembleReport(ctx, startedAt);
  await fs.rm(ctx.dirs.scratch, { recursive: true, force: true });
  return report;
}
