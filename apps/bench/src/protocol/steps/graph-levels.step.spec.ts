import { testProtocolContext } from '../../testing/protocol-context';
import { NativeMeasurer } from '../measurers/native.measurer';
import { runStep } from '../protocol-step';
import { graphLevelsStep } from './graph-levels.step';

describe('step 2: graph optimization levels', () => {
  it('measures the FP32 model at basic / extended / all for each thread count, compared with the baseline; a disabled engine is a reason', async () => {
    const ctx = await testProtocolContext({ withBaseline: true, options: { threads: [1, 2] } });
    const step = await runStep(ctx, graphLevelsStep);
    expect(step.status).toBe('done');
    expect(step.candidateIds).toEqual([
      'ort-node/cpu/fp32/basic/t1/b1',
      'ort-node/cpu/fp32/basic/t2/b1',
      'ort-node/cpu/fp32/extended/t1/b1',
      'ort-node/cpu/fp32/extended/t2/b1',
      'ort-node/cpu/fp32/all/t1/b1',
      'ort-node/cpu/fp32/all/t2/b1',
    ]);
    expect(step.reasons).toEqual(['native: skipped: native engines disabled (CVP_BENCH_NATIVE=false)']);
    for (const c of ctx.candidates.filter((x) => x.step === 2))
      // Seeded inputs only: the outputs match exactly, and that still says nothing about accuracy.
      expect(c).toMatchObject({
        selectable: true,
        agreement: { maxAbsDiff: 0, cosine: 1, samples: 32, accuracyDrop: null, assessable: false },
      });
  }, 120_000);

  it('measures the native core too where it is built (else records why not)', async () => {
    const ctx = await testProtocolContext({ withBaseline: true, options: { native: true } });
    const native = ctx.measurers.native as NativeMeasurer;
    const step = await runStep(ctx, graphLevelsStep);
    if (native.unavailableReason) {
      // Detected at run time: the core binary is not built on this machine.
      expect(step.reasons).toEqual([`native: skipped: ${native.unavailableReason}`]);
      return;
    }
    expect(step.reasons).toEqual([]);
    expect(step.candidateIds.filter((id) => id.startsWith('native/'))).toEqual([
      'native/cpu/fp32/basic/t1/b1',
      'native/cpu/fp32/extended/t1/b1',
      'native/cpu/fp32/all/t1/b1',
    ]);
    const c = ctx.candidates.find((x) => x.id === 'native/cpu/fp32/all/t1/b1')!;
    expect(c.agreement).toMatchObject({ maxAbsDiff: 0, accuracyDrop: null, assessable: false });
    expect(c.peakRssMb).toBeGreaterThan(1);
  }, 120_000);

  it('a configuration that fails to measure is a reason of the step, which goes on', async () => {
    const ctx = await testProtocolContext({ options: { measureTimeoutMs: 1 } });
    const step = await runStep(ctx, graphLevelsStep);
    expect(step).toMatchObject({ status: 'skipped', candidateIds: [] });
    expect(
      step.reasons.filter((r) => /^ort-node\/cpu\/fp32\/\w+\/t1\/b1: failed: measurement timed out/.test(r)),
    ).toHaveLength(3);
  }, 60_000);
});
