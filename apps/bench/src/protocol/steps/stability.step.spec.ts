import { selectEngine } from '../../selection/engine-selector';
import { fixtureCandidate } from '../../testing/report-fixture';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { stabilityStep } from './stability.step';

describe('step 9: stability', () => {
  it('holds the chosen candidate under the configured users for the configured time and passes with zero errors', async () => {
    const ctx = await testProtocolContext({ options: { stabilityUsers: 8, stabilityDurationMs: 300 } });
    ctx.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: ctx.input.model.path }));
    ctx.decision = selectEngine(ctx.candidates, {});
    const step = await runStep(ctx, stabilityStep);
    expect(step).toMatchObject({
      name: 'stability: 8 concurrent users for 0.3 s, zero errors',
      status: 'done',
      reasons: [],
      candidateIds: ['ort-node/cpu/fp32/all/t1/b1'],
    });
    expect(ctx.stability).toEqual([step.details.result]);
    expect(ctx.stability[0]).toMatchObject({
      engine: 'ort-node/cpu/fp32/all/t1/b1',
      users: 8,
      errors: 0,
      passed: true,
    });
    expect(ctx.stability[0].requests).toBeGreaterThan(8);
    expect(ctx.stability[0].durationMs).toBeGreaterThanOrEqual(300);
    // The stability run is its own: it adds no concurrency points.
    expect(ctx.concurrency).toEqual([]);
  }, 60_000);

  it('is skipped when disabled; fails with the reason when the target cannot be loaded or there is none', async () => {
    const off = await testProtocolContext({ options: { stabilityUsers: 0 } });
    expect(await runStep(off, stabilityStep)).toMatchObject({
      status: 'skipped',
      reasons: [expect.stringMatching(/stability run disabled/)],
    });

    const broken = await testProtocolContext();
    broken.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: '/nowhere/model.onnx' }));
    broken.decision = selectEngine(broken.candidates, {});
    const failed = await runStep(broken, stabilityStep);
    expect(failed.status).toBe('failed');
    expect(failed.reasons[1]).toMatch(/^stability not measured: .*nowhere/);

    const empty = await testProtocolContext();
    expect(await runStep(empty, stabilityStep)).toMatchObject({
      status: 'failed',
      reasons: ['no engine to load', 'stability not measured: no engine'],
    });
  }, 60_000);
});
