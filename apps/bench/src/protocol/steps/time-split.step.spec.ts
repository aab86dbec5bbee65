import { fixtureCandidate } from '../../testing/report-fixture';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { timeSplitStep } from './time-split.step';

describe('step 6: time split', () => {
  it('records the pre / infer / post split of every candidate that measured one', async () => {
    const ctx = await testProtocolContext();
    ctx.candidates.push(
      fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 10, { timeSplit: { preMs: 2, inferMs: 10, postMs: 1 } }),
      fixtureCandidate('native/cpu/fp32/all/t1/b1', 12, { timeSplit: { preMs: 1, inferMs: 12, postMs: 0.5 } }),
      fixtureCandidate('ort-node/cpu/fp32/all/t1/b2', 15, { timeSplit: null }),
    );
    expect(await runStep(ctx, timeSplitStep)).toMatchObject({
      status: 'done',
      reasons: [],
      candidateIds: ['ort-node/cpu/fp32/all/t1/b1', 'native/cpu/fp32/all/t1/b1'],
      details: {
        splits: {
          'ort-node/cpu/fp32/all/t1/b1': { preMs: 2, inferMs: 10, postMs: 1 },
          'native/cpu/fp32/all/t1/b1': { preMs: 1, inferMs: 12, postMs: 0.5 },
        },
        method: expect.stringMatching(/^pre: decode/),
      },
    });
  });

  it('no split measured is a reason', async () => {
    const ctx = await testProtocolContext();
    ctx.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b2', 15, { timeSplit: null }));
    const step = await runStep(ctx, timeSplitStep);
    expect(step).toMatchObject({ candidateIds: [], reasons: ['no candidate measured a time split'] });
    expect(step.details.splits).toEqual({});
  });
});
