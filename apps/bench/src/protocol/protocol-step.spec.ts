import { testProtocolContext } from '../testing/protocol-context';
import { type ProtocolStep, runStep } from './protocol-step';

const step = (over: Partial<ProtocolStep>): ProtocolStep => ({
  step: 4,
  name: () => 'a step',
  run: async () => undefined,
  ...over,
});

describe('runStep', () => {
  it('records a step that cannot run as skipped with its reason, without running it', async () => {
    const ctx = await testProtocolContext();
    let ran = false;
    const s = await runStep(
      ctx,
      step({
        skipReason: () => 'no GPU here',
        run: async () => {
          ran = true;
        },
      }),
    );
    expect(ran).toBe(false);
    expect(s).toEqual({
      step: 4,
      name: 'a step',
      status: 'skipped',
      reasons: ['no GPU here'],
      durationMs: 0,
      candidateIds: [],
      details: {},
    });
    expect(ctx.steps).toEqual([s]);
  });

  it('done when it records something, skipped when it records nothing, failed (and the run goes on) when it throws', async () => {
    const stages: string[] = [];
    const ctx = await testProtocolContext({
      hooks: { progress: (f, stage) => stages.push(`${f.toFixed(3)} ${stage}`) },
    });
    const done = await runStep(
      ctx,
      step({
        run: async (_c, rec) => {
          rec.candidateIds.push('x');
          rec.reasons.push('y: skipped: why');
        },
      }),
    );
    expect(done).toMatchObject({ status: 'done', candidateIds: ['x'], reasons: ['y: skipped: why'] });
    const nothing = await runStep(
      ctx,
      step({
        run: async (_c, rec) => {
          rec.reasons.push('nothing to measure');
        },
      }),
    );
    expect(nothing).toMatchObject({ status: 'skipped', reasons: ['nothing to measure'] });
    const failed = await runStep(
      ctx,
      step({
        run: async (_c, rec) => {
          rec.details.partial = true;
          throw new Error('engine crashed');
        },
      }),
    );
    expect(failed).toMatchObject({ status: 'failed', reasons: ['engine crashed'], details: { partial: true } });
    expect(ctx.steps).toHaveLength(3);
    expect(stages).toEqual(['0.333 step 4: a step', '0.333 step 4: a step', '0.333 step 4: a step']);
  });

  it('a cancelled run throws instead of recording', async () => {
    const ac = new AbortController();
    const ctx = await testProtocolContext({ hooks: { signal: ac.signal } });
    ac.abort();
    await expect(runStep(ctx, step({}))).rejects.toThrow();
    const during = new AbortController();
    const ctx2 = await testProtocolContext({ hooks: { signal: during.signal } });
    await expect(
      runStep(
        ctx2,
        step({
          run: async () => {
            during.abort();
            throw new Error('measurement cancelled');
          },
        }),
      ),
    ).rejects.toThrow('measurement cancelled');
    expect(ctx.steps).toEqual([]);
    expect(ctx2.steps).toEqual([]);
  });
});
