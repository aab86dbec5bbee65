import { existsSync } from 'node:fs';
import path from 'node:path';
import { PYTHON } from '../../testing/bench-fixtures';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { variantsStep } from './variants.step';

describe('step 3: FP16 and INT8 variants', () => {
  it('makes each variant with python, measures it at the best thread count of step 2, and reuses it from the cache next time', async () => {
    if (!existsSync(PYTHON)) throw new Error(`python venv missing at ${PYTHON}: the bootstrap creates it`);
    const ctx = await testProtocolContext({ withBaseline: true, options: { python: PYTHON, variants: ['fp16'] } });
    const step = await runStep(ctx, variantsStep);
    expect(step.status).toBe('done');
    expect(step.candidateIds).toEqual(['ort-node/cpu/fp16/all/t1/b1']);
    expect(step.reasons).toEqual([
      `fp16 on CUDA: skipped: ${ctx.host.gpu.reason}`,
      'native: skipped: native engines disabled (CVP_BENCH_NATIVE=false)',
    ]);
    expect(step.details).toMatchObject({
      threads: { 'ort-node': 1, native: null },
      variants: { fp16: { path: path.join(ctx.dirs.variants, 'fp16.onnx'), error: null, reusedFromCache: false } },
    });
    const fp16 = ctx.candidates.find((c) => c.id === 'ort-node/cpu/fp16/all/t1/b1')!;
    expect(fp16).toMatchObject({ variant: 'fp16', step: 3, options: { precision: 'fp16', graphOptimization: 'all' } });
    // FP16 weights and arithmetic move the outputs a little; they are still the baseline's outputs.
    expect(fp16.agreement!.cosine).toBeGreaterThan(0.999);

    // A second benchmark in the same data dir gets the variant from the cache.
    const again = await testProtocolContext({
      withBaseline: true,
      options: { python: PYTHON, variants: ['fp16'] },
      dataDir: path.dirname(path.dirname(ctx.input.outDir)),
    });
    expect(again.dirs.variantCache).toBe(ctx.dirs.variantCache);
    const second = await runStep(again, variantsStep);
    expect(second.details.variants).toMatchObject({ fp16: { reusedFromCache: true } });
  }, 180_000);

  it('is skipped, with the reason, where the python venv is missing', async () => {
    const ctx = await testProtocolContext({ options: { python: '/nowhere/python', variants: ['fp16'] } });
    const step = await runStep(ctx, variantsStep);
    expect(step).toMatchObject({
      status: 'skipped',
      reasons: [expect.stringMatching(/python venv not found at \/nowhere\/python/)],
      candidateIds: [],
    });
  });

  it('a variant python cannot make is a reason, and the step goes on', async () => {
    if (!existsSync(PYTHON)) throw new Error(`python venv missing at ${PYTHON}: the bootstrap creates it`);
    const ctx = await testProtocolContext({
      withBaseline: true,
      options: { python: PYTHON, variants: ['fp16'], variantTimeoutMs: 1 },
    });
    const step = await runStep(ctx, variantsStep);
    expect(step.reasons).toContainEqual(expect.stringMatching(/^fp16: variant not made: timed out after 1 ms/));
    expect(step.candidateIds).toEqual([]);
    expect(step.details.variants).toMatchObject({ fp16: { path: null } });
  }, 60_000);
});
