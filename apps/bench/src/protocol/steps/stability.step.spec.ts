import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { stabilityStep } from './stability.step';

// The run itself goes through the real data plane in e2e/flows/src/bench-serving.e2e-spec.ts.
describe('step 9: stability', () => {
  it('is skipped when disabled, or without a data plane, with the reason', async () => {
    const off = await testProtocolContext({ options: { stabilityUsers: 0 } });
    expect(await runStep(off, stabilityStep)).toMatchObject({
      status: 'skipped',
      reasons: [expect.stringMatching(/stability run disabled/)],
    });
    const none = await testProtocolContext();
    expect(await runStep(none, stabilityStep)).toMatchObject({
      status: 'skipped',
      name: 'stability: 5 concurrent users for 0.3 s, zero errors',
      reasons: ['no data plane to deploy on: the protocol was started without a serving path'],
    });
  });
});
