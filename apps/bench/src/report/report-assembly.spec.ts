import { benchReportSchema } from '@cvp/contracts';
import { selectEngine } from '../selection/engine-selector';
import { fixtureCandidate } from '../testing/report-fixture';
import { testProtocolContext } from '../testing/protocol-context';
import { assembleReport } from './report-assembly';

describe('report assembly', () => {
  it('builds a valid report from a finished run: model, options, steps, candidates, load, decision and the simple view', async () => {
    const ctx = await testProtocolContext({ task: 'detect', options: { seed: 3, iterations: 4 } });
    const base = fixtureCandidate('ort-node/cpu/fp32/disabled/t0/b1', 10, { step: 1 });
    const fast = fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 4);
    ctx.baseline = base;
    ctx.candidates.push(base, fast);
    ctx.steps.push({
      step: 1,
      name: 'baseline',
      status: 'done',
      reasons: [],
      durationMs: 5,
      candidateIds: [base.id],
      details: {},
    });
    ctx.concurrency.push({
      engine: fast.id,
      concurrency: 1,
      requests: 4,
      errors: 0,
      throughputRps: 200,
      p50Ms: 4,
      p95Ms: 5,
    });
    ctx.inputSource = 'seeded synthetic inputs (seed 3)';
    ctx.decision = selectEngine(ctx.candidates, {}, { baselineId: base.id });
    const startedAt = Date.now() - 1500;
    const report = benchReportSchema.parse(assembleReport(ctx, startedAt));
    expect(report).toMatchObject({
      id: ctx.input.benchmarkId,
      jobId: null,
      model: {
        path: ctx.input.model.path,
        task: 'detect',
        inputName: 'images',
        inputShape: [1, 3, 8, 8],
        dynamicBatch: true,
      },
      createdAt: new Date(startedAt).toISOString(),
      baselineId: base.id,
      settings: { seed: 3, iterations: 4, threads: [1], inputSource: 'seeded synthetic inputs (seed 3)' },
      environment: { nativeCore: null },
      steps: ctx.steps,
      candidates: ctx.candidates,
      concurrency: ctx.concurrency,
      stability: [],
      decision: { chosenId: fast.id },
      simple: { chosen: fast.id, speedup: 2.5, baselineP50Ms: 10, chosenP50Ms: 4 },
    });
    expect(report.durationMs).toBeGreaterThanOrEqual(1500);
  });

  it('a run without a baseline or a decision has no report', async () => {
    const ctx = await testProtocolContext();
    expect(() => assembleReport(ctx, Date.now())).toThrow(/baseline and the decision/);
  });
});
