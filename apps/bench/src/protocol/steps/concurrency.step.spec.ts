import { selectEngine } from '../../selection/engine-selector';
import { fixtureCandidate } from '../../testing/report-fixture';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { concurrencyStep } from './concurrency.step';

describe('step 8: concurrency sweep', () => {
  it('sweeps the concurrency levels on the chosen candidate and on the fastest of each engine, through a bounded pool', async () => {
    const ctx = await testProtocolContext({ options: { concurrency: [1, 2], concurrencyRequests: 4 } });
    ctx.candidates.push(
      fixtureCandidate('ort-node/cpu/fp32/basic/t1/b1', 5, { modelPath: ctx.input.model.path, peakRssMb: 200 }),
      fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: ctx.input.model.path, peakRssMb: 5000 }),
    );
    // Chosen under a memory limit that rules the faster one out, so the chosen and the fastest differ.
    ctx.decision = selectEngine(ctx.candidates, { maxRssMb: 1000 });
    expect(ctx.decision.chosenId).toBe('ort-node/cpu/fp32/basic/t1/b1');
    const step = await runStep(ctx, concurrencyStep);
    expect(step).toMatchObject({
      status: 'done',
      candidateIds: ['ort-node/cpu/fp32/basic/t1/b1', 'ort-node/cpu/fp32/all/t1/b1'],
      reasons: ['native: skipped: native engines disabled (CVP_BENCH_NATIVE=false)'],
      details: { levels: [1, 2], servingPath: expect.stringMatching(/bounded worker pool/) },
    });
    expect(ctx.concurrency.map((p) => [p.engine, p.concurrency, p.requests, p.errors])).toEqual([
      ['ort-node/cpu/fp32/basic/t1/b1', 1, 4, 0],
      ['ort-node/cpu/fp32/basic/t1/b1', 2, 4, 0],
      ['ort-node/cpu/fp32/all/t1/b1', 1, 4, 0],
      ['ort-node/cpu/fp32/all/t1/b1', 2, 4, 0],
    ]);
    for (const p of ctx.concurrency) expect(p.p95Ms).toBeGreaterThan(0);
    expect(ctx.stability).toEqual([]);
  }, 120_000);

  it('a target that cannot be loaded is a reason of the step', async () => {
    const ctx = await testProtocolContext();
    ctx.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: '/nowhere/model.onnx' }));
    ctx.decision = selectEngine(ctx.candidates, {});
    const step = await runStep(ctx, concurrencyStep);
    expect(step.reasons[0]).toMatch(/^ort-node\/cpu\/fp32\/all\/t1\/b1: failed: .*nowhere/);
    expect(step.candidateIds).toEqual([]);
    expect(ctx.concurrency).toEqual([]);
  }, 60_000);
});
