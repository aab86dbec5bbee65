import { existsSync } from 'node:fs';
import { bestThreads, measureCandidate, unavailable } from '../candidates';
import type { ProtocolStep } from '../protocol-step';
import { makeVariant } from '../python-variants';

/**
 * Step 3: FP16 (keep_io_types) and INT8 static (QDQ) / dynamic variants made by python, each
 * measured on every engine at that engine's fastest thread count of step 2 (bounds the
 * protocol's time) and compared with the baseline's outputs.
 */
export const variantsStep: ProtocolStep = {
  step: 3,
  name: () => 'FP16 (keep_io_types) and INT8 static (QDQ) / dynamic variants',
  skipReason: (ctx) =>
    ctx.options.python && existsSync(ctx.options.python)
      ? undefined
      : `python venv not found at ${ctx.options.python}: variants cannot be made (run the bootstrap)`,
  async run(ctx, rec) {
    const o = ctx.options;
    const nativeReason = unavailable(ctx, 'native');
    rec.reasons.push(
      ctx.host.gpu.present ? 'fp16 on CUDA: measured in step 4' : `fp16 on CUDA: skipped: ${ctx.host.gpu.reason}`,
    );
    const made: Record<string, unknown> = {};
    rec.details.variants = made;
    const threads = {
      'ort-node': bestThreads(ctx, 'ort-node'),
      native: nativeReason ? null : bestThreads(ctx, 'native'),
    };
    rec.details.threads = { ...threads, why: "variants run at each engine's fastest thread count of step 2" };
    for (const [k, kind] of o.variants.entries()) {
      ctx.progressIn(3, (k / o.variants.length) * 0.5, 'step 3: making variants', { kind });
      const v = await makeVariant(ctx.input.model.path, kind, ctx.dirs.variants, {
        python: o.python!,
        cwd: o.pythonCwd,
        inputShape: ctx.model.shape,
        calibDir: ctx.input.datasetDir ?? null,
        seed: o.seed,
        timeoutMs: o.variantTimeoutMs,
        signal: ctx.signal,
        cacheDir: ctx.dirs.variantCache,
      });
      made[kind] = {
        path: v.path,
        pythonAgreement: v.agreement,
        error: v.error,
        durationMs: v.durationMs,
        reusedFromCache: v.cached,
        ...(kind === 'int8-static' ? { calibration: v.calibration } : {}),
      };
      if (kind === 'int8-static' && v.calibration) {
        // The data set's folder is the data dir's business; the report says which images, not where they live.
        ctx.calibration = ctx.input.datasetDir
          ? v.calibration.replace(ctx.input.datasetDir, 'the attached data set')
          : v.calibration;
        rec.details.calibration = ctx.calibration;
      }
      if (!v.path) {
        rec.reasons.push(`${kind}: variant not made: ${v.error}`);
        continue;
      }
      const config = {
        provider: 'cpu',
        variant: kind,
        modelPath: v.path,
        graphOptimization: 'all',
        batch: 1,
      } as const;
      const c = await measureCandidate(ctx, rec, 3, { ...config, engine: 'ort-node', threads: threads['ort-node'] });
      if (c && !c.agreement) rec.reasons.push(`${c.id}: no agreement measured`);
      if (threads.native !== null)
        await measureCandidate(ctx, rec, 3, { ...config, engine: 'native', threads: threads.native });
    }
    if (nativeReason) rec.reasons.push(`native: skipped: ${nativeReason}`);
  },
};
