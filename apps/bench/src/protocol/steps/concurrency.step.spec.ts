import { selectEngine } from '../../selection/engine-selector';
import { fixtureCandidate } from '../../testing/report-fixture';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { concurrencyStep } from './concurrency.step';

// The sweep itself runs against the real data plane in e2e/flows/src/bench-serving.e2e-spec.ts
// (scratch deployments, 429s under a small queue, removal after a failure).
describe('step 8: concurrency sweep', () => {
  it('is skipped with the reason when the protocol has no data plane to deploy on', async () => {
    const ctx = await testProtocolContext({ hooks: { servingPathMissing: 'CVP_INFERENCE_URL is empty' } });
    ctx.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: ctx.input.model.path }));
    ctx.decision = selectEngine(ctx.candidates, {});
    expect(await runStep(ctx, concurrencyStep)).toMatchObject({
      status: 'skipped',
      reasons: ['no data plane to deploy on: CVP_INFERENCE_URL is empty'],
    });
    expect(ctx.concurrency).toEqual([]);
  });
});
