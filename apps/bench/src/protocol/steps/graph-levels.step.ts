import type { GraphOptLevel } from '@cvp/contracts';
import { ENGINES, measureCandidate, unavailable } from '../candidates';
import type { ProtocolStep } from '../protocol-step';

const GRAPH_LEVELS: GraphOptLevel[] = ['basic', 'extended', 'all'];

/** Step 2: the FP32 model at each graph optimization level and thread count, on every engine that runs here. */
export const graphLevelsStep: ProtocolStep = {
  step: 2,
  name: () => 'graph optimization levels basic / extended / all',
  async run(ctx, rec) {
    const threads = ctx.options.threads;
    const total = GRAPH_LEVELS.length * threads.length;
    // Each engine gets half of the step's share of the progress.
    for (const [e, engine] of ENGINES.entries()) {
      let i = 0;
      const reason = unavailable(ctx, engine);
      if (reason) {
        rec.reasons.push(`${engine}: skipped: ${reason}`);
        continue;
      }
      for (const graphOptimization of GRAPH_LEVELS) {
        for (const t of threads) {
          ctx.progressIn(2, e * 0.5 + (i++ / total) * 0.5, 'step 2: graph optimization levels', {
            level: graphOptimization,
            threads: t,
            engine,
          });
          await measureCandidate(ctx, rec, 2, {
            engine,
            provider: 'cpu',
            variant: 'fp32',
            modelPath: ctx.input.model.path,
            graphOptimization,
            threads: t,
            batch: 1,
          });
        }
      }
    }
  },
};
