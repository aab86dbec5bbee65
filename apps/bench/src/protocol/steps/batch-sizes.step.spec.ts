import { tinyIdentityOnnx } from '@cvp/measure/testing';
import { fixtureCandidate } from '../../testing/report-fixture';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { batchSizesStep } from './batch-sizes.step';

describe('step 5: batch sizes', () => {
  it('runs batch 2, 4 ... up to maxBatch on the fastest batch-1 CPU configuration within the accuracy limit', async () => {
    const ctx = await testProtocolContext({ withBaseline: true, options: { maxBatch: 4 } });
    const at = (id: string, p50: number, drop: number) =>
      fixtureCandidate(id, p50, {
        modelPath: ctx.input.model.path,
        agreement: { ...fixtureCandidate(id, p50).agreement!, accuracyDrop: drop },
      });
    // Faster than anything the tiny model measures (the baseline included), so the choice is on these.
    ctx.candidates.push(
      at('ort-node/cpu/fp32/basic/t1/b1', 0.002, 0),
      at('ort-node/cpu/fp32/all/t1/b1', 0.001, 0),
      // Faster still, but beyond the default accuracy limit (0.01): not what batching builds on.
      at('ort-node/cpu/int8-dynamic/all/t1/b1', 0.0005, 0.5),
    );
    const step = await runStep(ctx, batchSizesStep);
    expect(step).toMatchObject({
      status: 'done',
      details: { batchSizes: [1, 2, 4] },
      candidateIds: ['ort-node/cpu/fp32/all/t1/b2', 'ort-node/cpu/fp32/all/t1/b4'],
      reasons: ['native: skipped: native engines disabled (CVP_BENCH_NATIVE=false)'],
    });
    const b4 = ctx.candidates.find((c) => c.id === 'ort-node/cpu/fp32/all/t1/b4')!;
    // Not selectable (the serving path's batch is the core's business); no time split or mAP of its own.
    expect(b4).toMatchObject({ batch: 4, selectable: false, timeSplit: null, options: { maxBatch: 4 } });
    expect(b4.throughput).toBeGreaterThan(0);
  }, 120_000);

  it('a model with a fixed batch axis of 1 has nothing to run, and says so', async () => {
    const ctx = await testProtocolContext({ onnx: tinyIdentityOnnx([1, 3, 8, 8]) });
    expect(await runStep(ctx, batchSizesStep)).toMatchObject({
      status: 'skipped',
      candidateIds: [],
      reasons: ['the model has a fixed batch axis of 1: batch sizes above 1 cannot run'],
    });
  });
});
