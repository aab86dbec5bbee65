import { loadTargets, measureLoad } from '../candidates';
import type { ProtocolStep } from '../protocol-step';

/** Step 9: the chosen candidate (else the fastest) under many concurrent users for a fixed time; passes with zero errors. */
export const stabilityStep: ProtocolStep = {
  step: 9,
  name: (ctx) =>
    `stability: ${ctx.options.stabilityUsers} concurrent users for ${ctx.options.stabilityDurationMs / 1000} s, zero errors`,
  skipReason: (ctx) =>
    ctx.options.stabilityUsers > 0 && ctx.options.stabilityDurationMs > 0
      ? undefined
      : 'stability run disabled (CVP_BENCH_STABILITY_USERS or CVP_BENCH_STABILITY_SECONDS is 0)',
  async run(ctx, rec) {
    const target = loadTargets(ctx)[0];
    if (!target) {
      rec.reasons.push('no engine to load');
      throw new Error('stability not measured: no engine');
    }
    const stability = await measureLoad(ctx, target, {
      concurrency: [],
      stabilityUsers: ctx.options.stabilityUsers,
      stabilityDurationMs: ctx.options.stabilityDurationMs,
    }).then(
      (m) => m.stability,
      (e: Error) => {
        if (ctx.signal?.aborted) throw e;
        rec.reasons.push(e.message);
        throw new Error(`stability not measured: ${e.message}`);
      },
    );
    if (!stability) throw new Error('stability not measured: the load run returned no result');
    ctx.stability.push(stability);
    rec.candidateIds.push(target.id);
    rec.details.result = stability;
    if (!stability.passed)
      throw new Error(
        `${stability.errors} errors in ${stability.requests} requests${stability.firstError ? ` (first: ${stability.firstError})` : ''}`,
      );
  },
};
