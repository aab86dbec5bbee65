import type { BenchStep } from '@cvp/contracts';
import type { ProtocolContext } from './protocol-context';

/** What a step records while it runs: reasons for what it skipped or what failed, the candidates it measured or judged, details. */
export interface StepRecord {
  reasons: string[];
  candidateIds: string[];
  details: Record<string, unknown>;
}

/** One step of the optimization protocol, over the context the steps share. */
export interface ProtocolStep {
  readonly step: number;
  /** The step's name in the report. */
  name(ctx: ProtocolContext): string;
  /** Why the whole step cannot run here (recorded as skipped without running it); undefined when it can. */
  skipReason?(ctx: ProtocolContext): string | undefined;
  /**
   * Measures or judges and records into `rec`. A throw fails the step with the error as its
   * reason (the protocol goes on); a step that records no candidate and no detail counts as skipped.
   */
  run(ctx: ProtocolContext, rec: StepRecord): Promise<void>;
}

/** Runs one step and appends its record to the context; a cancelled run throws instead of recording. */
export async function runStep(ctx: ProtocolContext, s: ProtocolStep): Promise<BenchStep> {
  const name = s.name(ctx);
  const skip = s.skipReason?.(ctx);
  if (skip) {
    const skipped: BenchStep = {
      step: s.step,
      name,
      status: 'skipped',
      reasons: [skip],
      durationMs: 0,
      candidateIds: [],
      details: {},
    };
    ctx.steps.push(skipped);
    return skipped;
  }
  ctx.signal?.throwIfAborted();
  ctx.progressIn(s.step, 0, `step ${s.step}: ${name}`);
  const t0 = Date.now();
  const rec: StepRecord = { reasons: [], candidateIds: [], details: {} };
  let status: BenchStep['status'] = 'done';
  try {
    await s.run(ctx, rec);
    if (rec.candidateIds.length === 0 && Object.keys(rec.details).length === 0) status = 'skipped';
  } catch (e) {
    if (ctx.signal?.aborted) throw e;
    status = 'failed';
    rec.reasons.push((e as Error).message);
  }
  const done: BenchStep = {
    step: s.step,
    name,
    status,
    reasons: rec.reasons,
    durationMs: Date.now() - t0,
    candidateIds: rec.candidateIds,
    details: rec.details,
  };
  ctx.steps.push(done);
  return done;
}
