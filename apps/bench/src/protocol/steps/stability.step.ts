import { runHttpLoad, servedStabilityResult } from '@cvp/measure';
import { loadTargets } from '../candidates';
import type { ProtocolStep } from '../protocol-step';
import { noServingPath, requestUrl, servedBodies, withScratchDeployment } from '../served';
import { REQUEST_TIMEOUT_MS } from './concurrency.step';

/**
 * Step 9: the chosen candidate (else the fastest) as a scratch deployment on the data plane, under
 * many concurrent users for a fixed time, over HTTP; passes when no request failed (no error, no
 * 429, no deadline expiry). The deployment is removed afterwards, whatever happened.
 */
export const stabilityStep: ProtocolStep = {
  step: 9,
  name: (ctx) =>
    `stability: ${ctx.options.stabilityUsers} concurrent users for ${ctx.options.stabilityDurationMs / 1000} s, zero errors`,
  skipReason: (ctx) =>
    !(ctx.options.stabilityUsers > 0 && ctx.options.stabilityDurationMs > 0)
      ? 'stability run disabled (CVP_BENCH_STABILITY_USERS or CVP_BENCH_STABILITY_SECONDS is 0)'
      : noServingPath(ctx),
  async run(ctx, rec) {
    const target = loadTargets(ctx)[0];
    if (!target) {
      rec.reasons.push('no engine to load');
      throw new Error('stability not measured: no engine');
    }
    const { bodies, description } = await servedBodies(ctx);
    rec.details.requests = description;
    const stability = await withScratchDeployment(ctx, rec, target, 's9', async (d) => {
      const r = await runHttpLoad({
        url: requestUrl(ctx, d),
        headers: d.headers,
        bodies,
        connections: ctx.options.stabilityUsers,
        durationMs: ctx.options.stabilityDurationMs,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        signal: ctx.signal,
      });
      ctx.signal?.throwIfAborted();
      return servedStabilityResult(target.id, ctx.options.stabilityUsers, r);
    }).catch((e: Error) => {
      if (ctx.signal?.aborted) throw e;
      rec.reasons.push(e.message);
      throw new Error(`stability not measured: ${e.message}`);
    });
    ctx.stability.push(stability);
    rec.candidateIds.push(target.id);
    rec.details.result = stability;
    if (!stability.passed)
      throw new Error(
        `${stability.errors} errors, ${stability.rejected ?? 0} refused (429), ${stability.deadlineExpired ?? 0} past their deadline (429) in ${stability.requests} requests${stability.firstError ? ` (first: ${stability.firstError})` : ''}`,
      );
  },
};
