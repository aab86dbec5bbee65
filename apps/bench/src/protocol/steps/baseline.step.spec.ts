import { existsSync, readdirSync, rmSync } from 'node:fs';
import { readSampleOutputs } from '@cvp/measure';
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
    // Seeded inputs only: no figure of this run can show an accuracy loss, and the step says so up front.
    expect(step.details.accuracy).toMatchObject({
      assessable: false,
      reason: expect.stringMatching(/only seeded synthetic inputs/),
      policy: 'refuse',
    });
    expect(step.details.agreementInputs).toBe('32 seeded synthetic inputs (seed 0)');
    // A detector without a labelled data set: the accuracy drop falls back to the outputs' cosine, and says so.
    expect(step.reasons).toEqual([
      expect.stringMatching(/^accuracy not assessable: only seeded synthetic inputs.*refused on maxAccuracyDrop/),
      expect.stringMatching(/^mAP change: skipped: no data set attached.*1 - cosine/),
    ]);
    expect(ctx.baseline).toMatchObject({
      id: 'ort-node/cpu/fp32/disabled/t0/b1',
      step: 1,
      selectable: true,
      options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'disabled', threads: 0, maxBatch: 1 },
      agreement: {
        maxAbsDiff: 0,
        cosine: 1,
        accuracyDrop: 0, // the reference itself
        assessable: true,
        scoreMaxAbsDiff: 0,
        samples: 32,
        inputs: { count: 32, source: 'seeded' },
        mapSkipReason: expect.any(String),
      },
    });
    expect(ctx.baseline!.latency.iterations).toBe(3);
    expect(ctx.candidates).toEqual([ctx.baseline]);
    expect(ctx.inputSource).toMatch(/seeded synthetic inputs/);
    expect(readdirSync(ctx.dirs.baselineOutputs)).toHaveLength(ctx.options.agreementSamples);
    expect((await readSampleOutputs(ctx.dirs.baselineOutputs, 31))![0].dims).toEqual([1, 3, 8, 8]);
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
