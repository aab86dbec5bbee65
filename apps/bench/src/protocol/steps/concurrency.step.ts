import { loadTargets, measureLoad, unavailable } from '../candidates';
import type { ProtocolStep } from '../protocol-step';

/**
 * Step 8: the concurrency sweep on the chosen candidate and on the fastest of each engine, each
 * behind a bounded pool the way the serving path admits requests.
 */
export const concurrencyStep: ProtocolStep = {
  step: 8,
  name: () => 'concurrency sweep through the serving path',
  async run(ctx, rec) {
    rec.details.levels = ctx.options.concurrency;
    rec.details.servingPath =
      'ort-node: one session behind a bounded worker pool (as apps/inference); native: the core over gRPC with its own queue';
    const targets = loadTargets(ctx);
    for (const [i, c] of targets.entries()) {
      ctx.progress((7 + i / targets.length) / 9, 'step 8: concurrency sweep', { candidate: c.id });
      try {
        const m = await measureLoad(ctx, c, {
          concurrency: ctx.options.concurrency,
          stabilityUsers: 0,
          stabilityDurationMs: 0,
        });
        ctx.concurrency.push(...m.concurrency);
        if (m.concurrency.length) rec.candidateIds.push(c.id);
      } catch (e) {
        if (ctx.signal?.aborted) throw e;
        rec.reasons.push(`${c.id}: failed: ${(e as Error).message}`);
      }
    }
    const nativeReason = unavailable(ctx, 'native');
    if (nativeReason) rec.reasons.push(`native: skipped: ${nativeReason}`);
  },
};
