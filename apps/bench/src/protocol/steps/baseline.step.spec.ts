import { existsSync, rmSync } from 'node:fs';
import { readOutputs } from '@cvp/measure';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { baselineStep } from './baseline.step';

describe('step 1: baseline', () => {
  it('measures ONNX Runtime CPU FP32 without graph optimizations, writes the reference outputs and agrees with itself', async () => {
    const ctx = await testProtocolContext({ task: 'detect' });
    const step = await runStep(ctx, baselineStep);
    expect(step).toMatchObject({
      step: 1,
      status: 'done',
      candidateIds: ['ort-node/cpu/fp32/disabled/t0/b1'],
      details: { threads: 'ONNX Runtime default (0)', map: { skipped: expect.stringMatching(/no data set attached/) } },
    });
    // A detector without a labelled data set: the accuracy drop falls back to the outputs' cosine, and says so.
    expect(step.reasons).toEqual([expect.stringMatching(/^mAP change: skipped: no data set attached.*1 - cosine/)]);
    expect(ctx.baseline).toMatchObject({
      id: 'ort-node/cpu/fp32/disabled/t0/b1',
      step: 1,
      selectable: true,
      options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'disabled', threads: 0, maxBatch: 1 },
      agreement: { maxAbsDiff: 0, cosine: 1, accuracyDrop: 0, scoreMaxAbsDiff: 0, mapSkipReason: expect.any(String) },
    });
    expect(ctx.baseline!.latency.iterations).toBe(3);
    expect(ctx.candidates).toEqual([ctx.baseline]);
    expect(ctx.inputSource).toMatch(/seeded synthetic inputs/);
    const outputs = await readOutputs(ctx.dirs.baselineOutputs);
    expect(outputs).toHaveLength(ctx.options.agreementSamples);
    expect(outputs[0][0].dims).toEqual([1, 3, 8, 8]);
  }, 60_000);

  it('a baseline that cannot run fails the step with the reason and leaves no baseline', async () => {
    const ctx = await testProtocolContext({ task: 'classify' });
    rmSync(ctx.input.model.path);
    const step = await runStep(ctx, baselineStep);
    expect(step).toMatchObject({
      status: 'failed',
      candidateIds: [],
      reasons: [expect.stringMatching(/File doesn't exist/)],
    });
    expect(ctx.baseline).toBeNull();
    expect(existsSync(ctx.dirs.baselineOutputs)).toBe(false);
  }, 60_000);
});
