import { decisionRecordSchema } from '@cvp/contracts';
import { selectEngine } from '../selection/engine-selector';
import { fixtureCandidate } from '../testing/report-fixture';
import { testProtocolContext } from '../testing/protocol-context';
import { chooseInstances, layoutsFor, pickLayout } from './instance-layouts';
import type { LayoutMeasurement } from './measurers/candidate-measurer';

const m = (instances: number, threads: number, throughput: number, over: Partial<LayoutMeasurement> = {}) => ({
  instances,
  threads,
  throughput,
  p50Ms: 10,
  p95Ms: 12,
  peakRssMb: 100 * instances,
  runs: 50,
  ...over,
});

describe('model-instance layouts', () => {
  it('tries one instance on every core, one per core, and two halves from 4 cores', () => {
    expect(layoutsFor(1)).toEqual([{ instances: 1, threads: 1 }]);
    expect(layoutsFor(2)).toEqual([
      { instances: 1, threads: 2 },
      { instances: 2, threads: 1 },
    ]);
    expect(layoutsFor(8)).toEqual([
      { instances: 1, threads: 8 },
      { instances: 8, threads: 1 },
      { instances: 2, threads: 4 },
    ]);
  });

  it('picks the most throughput within the limits; near-ties go to fewer instances', () => {
    expect(pickLayout([m(1, 2, 40), m(2, 1, 60)], {}).chosen).toMatchObject({ instances: 2, threads: 1 });
    // 2 x 1 is within 5 % of 4 x 1: fewer instances (less memory) win.
    expect(pickLayout([m(4, 1, 100), m(2, 1, 96)], {}).chosen).toMatchObject({ instances: 2 });
    const limited = pickLayout([m(1, 2, 40), m(2, 1, 60, { p95Ms: 80 })], { maxP95Ms: 50 });
    expect(limited.chosen).toMatchObject({ instances: 1, threads: 2 });
    expect(limited.layouts[1]).toMatchObject({ feasible: false, why: 'p95 80 ms > maxP95Ms 50' });
    const rss = pickLayout([m(1, 2, 40), m(2, 1, 60)], { maxRssMb: 150 });
    expect(rss.chosen).toMatchObject({ instances: 1 });
    expect(rss.layouts[1].why).toBe('peak RSS 200 MB > maxRssMb 150');
    expect(pickLayout([m(1, 2, 40)], { maxRssMb: 50 }).chosen).toBeNull();
  });

  it('measures the chosen ort-node configuration on a real model and the chosen options carry the layout', async () => {
    const ctx = await testProtocolContext();
    ctx.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: ctx.input.model.path }));
    ctx.decision = selectEngine(ctx.candidates, {});
    await chooseInstances(ctx, { seconds: 0.5, cores: 2 });
    const d = decisionRecordSchema.parse(ctx.decision);
    expect(d.instances?.layouts.map((l) => `${l.instances}x${l.threads}`)).toEqual(['1x2', '2x1']);
    for (const l of d.instances!.layouts) {
      expect(l.throughput).toBeGreaterThan(0);
      expect(l.peakRssMb).toBeGreaterThan(10);
      expect(l.feasible).toBe(true);
    }
    expect(d.chosen?.options).toMatchObject(d.instances!.chosen);
    expect(d.instances!.why).toMatch(/instance\(s\) x \d thread\(s\)/);
  }, 60_000);

  it('keeps one instance, saying why, where layouts are not measured', async () => {
    const ctx = await testProtocolContext();
    ctx.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: ctx.input.model.path }));
    ctx.decision = selectEngine(ctx.candidates, {});
    await chooseInstances(ctx, { seconds: 0 });
    expect(ctx.decision.instances).toMatchObject({ layouts: [], chosen: { instances: 1 }, why: /disabled/ });
    expect(ctx.decision.chosen?.options.instances).toBeUndefined();
  });
});
