import { configOf } from '../candidate-config';
import { ENGINES, fastestBatch1, measureCandidate, unavailable } from '../candidates';
import type { ProtocolStep } from '../protocol-step';

/** Step 5: batch sizes 2, 4, ... up to maxBatch on the fastest batch-1 configuration of each engine. */
export const batchSizesStep: ProtocolStep = {
  step: 5,
  name: () => 'batch sizes 1 and 2 (more with a dynamic batch axis)',
  async run(ctx, rec) {
    if (!ctx.model.dynamicBatch) {
      rec.reasons.push('the model has a fixed batch axis of 1: batch sizes above 1 cannot run');
      return;
    }
    const sizes: number[] = [];
    for (let b = 2; b <= Math.max(2, ctx.options.maxBatch); b *= 2) sizes.push(b);
    rec.details.batchSizes = [1, ...sizes];
    for (const engine of ENGINES) {
      const fastest = fastestBatch1(ctx, engine);
      if (fastest) for (const batch of sizes) await measureCandidate(ctx, rec, 5, { ...configOf(fastest), batch });
      else if (unavailable(ctx, engine)) rec.reasons.push(`${engine}: skipped: ${unavailable(ctx, engine)}`);
    }
  },
};
