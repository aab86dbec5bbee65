import type { BenchConstraints } from '@cvp/contracts';
import { DEFAULT_MAX_ACCURACY_DROP, noiseMarginMs, type SelectableCandidate, selectEngine } from './engine-selector';

function cand(
  id: string,
  p95: number,
  o: Partial<{
    std: number;
    rss: number | null;
    vram: number | null;
    drop: number | null;
    tp: number;
    engine: 'native' | 'ort-node';
    provider: 'cpu' | 'cuda';
  }> = {},
): SelectableCandidate {
  return {
    id,
    engine: o.engine ?? 'ort-node',
    options: { provider: o.provider ?? 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 },
    modelPath: `/m/${id}.onnx`,
    throughput: o.tp ?? 1000 / p95,
    peakRssMb: o.rss === undefined ? 200 : o.rss,
    peakVramMb: o.vram === undefined ? null : o.vram,
    latency: { p95Ms: p95, stdMs: o.std ?? 0.5, unstable: false },
    agreement: o.drop === null ? null : { accuracyDrop: o.drop ?? 0 },
  };
}

describe('selectEngine (pure selection under constraints)', () => {
  describe.each<{ name: string; candidates: SelectableCandidate[]; constraints: BenchConstraints; chosen: string }>([
    {
      name: 'fastest wins when clearly ahead',
      candidates: [cand('a', 100), cand('b', 50), cand('c', 80)],
      constraints: {},
      chosen: 'b',
    },
    {
      name: 'within the margin the smaller accuracy drop wins over the faster',
      candidates: [cand('fast-int8', 50, { std: 2, drop: 0.005 }), cand('fp32', 51, { drop: 0 })],
      constraints: {},
      chosen: 'fp32',
    },
    {
      name: 'within the margin and equal drop the smaller memory wins',
      candidates: [cand('big', 50, { std: 2, rss: 400 }), cand('small', 51.5, { rss: 150 })],
      constraints: {},
      chosen: 'small',
    },
    {
      name: 'within the margin and equal drop, memory within the memory margin is noise: the name decides, not a 3 MB wobble',
      candidates: [
        cand('ort-node/cpu/fp32/extended/t1/b1', 50, { std: 2, rss: 201 }),
        cand('ort-node/cpu/fp32/all/t1/b1', 50.5, { rss: 204 }),
      ],
      constraints: {},
      chosen: 'ort-node/cpu/fp32/all/t1/b1',
    },
    {
      name: 'within the margin, same drop and memory: engine name decides (native < ort-node)',
      candidates: [cand('x-ort', 50, { std: 2 }), cand('y-native', 50.5, { engine: 'native' })],
      constraints: {},
      chosen: 'y-native',
    },
    {
      name: 'outside the margin speed wins despite a larger accuracy drop',
      candidates: [cand('int8', 30, { std: 0.5, drop: 0.004 }), cand('fp32', 60, { drop: 0 })],
      constraints: {},
      chosen: 'int8',
    },
    {
      name: 'an infeasible faster candidate is passed over',
      candidates: [cand('fast-bad', 10, { drop: 0.5 }), cand('ok', 40)],
      constraints: { maxAccuracyDrop: 0.01 },
      chosen: 'ok',
    },
    {
      name: 'the baseline has zero drop by definition even without an agreement record',
      candidates: [cand('baseline', 100, { drop: null }), cand('unmeasured', 10, { drop: null })],
      constraints: {},
      chosen: 'baseline',
    },
  ])('$name', ({ candidates, constraints, chosen }) => {
    it('chooses as expected, and the same way for any input order', () => {
      const r = selectEngine(candidates, constraints, { baselineId: 'baseline' });
      expect(r.status).toBe('selected');
      expect(r.chosenId).toBe(chosen);
      expect(r.chosen?.modelPath).toBe(`/m/${chosen}.onnx`);
      const reversed = selectEngine([...candidates].reverse(), constraints, { baselineId: 'baseline' });
      expect(reversed).toEqual(r);
      expect(r.candidates).toHaveLength(candidates.length);
      expect(r.candidates.find((c) => c.candidateId === chosen)?.rank).toBe(1);
      expect(r.candidates.find((c) => c.candidateId === chosen)?.why).toMatch(/^chosen/);
    });
  });

  describe.each<{ constraint: keyof BenchConstraints; limits: BenchConstraints; candidate: SelectableCandidate }>([
    { constraint: 'maxP95Ms', limits: { maxP95Ms: 20 }, candidate: cand('c', 25) },
    { constraint: 'maxRssMb', limits: { maxRssMb: 100 }, candidate: cand('c', 25, { rss: 180 }) },
    {
      constraint: 'maxVramMb',
      limits: { maxVramMb: 1000 },
      candidate: cand('c', 25, { provider: 'cuda', vram: 2000 }),
    },
    { constraint: 'maxAccuracyDrop', limits: { maxAccuracyDrop: 0.001 }, candidate: cand('c', 25, { drop: 0.01 }) },
    { constraint: 'minThroughput', limits: { minThroughput: 100 }, candidate: cand('c', 25, { tp: 40 }) },
  ])('constraint $constraint failing alone', ({ constraint, limits, candidate }) => {
    it('makes the set infeasible, names the closest candidate and that constraint only', () => {
      const r = selectEngine([candidate], limits);
      expect(r.status).toBe('infeasible');
      expect(r.chosen).toBeNull();
      expect(r.closest).toEqual({ candidateId: 'c', failed: [constraint] });
      const checks = r.candidates[0].checks;
      expect(checks).toHaveLength(5);
      expect(checks.filter((k) => !k.passed).map((k) => k.constraint)).toEqual([constraint]);
      expect(r.summary).toContain('no engine satisfies');
      expect(r.summary).toContain(constraint);
    });
    it('passes when the limit is relaxed', () => {
      const relaxed = Object.fromEntries(
        Object.entries(limits).map(([k, v]) => [k, k === 'minThroughput' ? (v as number) / 10 : (v as number) * 100]),
      );
      expect(selectEngine([candidate], relaxed).status).toBe('selected');
    });
  });

  it('an infeasible set names the closest candidate: fewest failures, then smallest overshoot', () => {
    const r = selectEngine([cand('two-fails', 30, { rss: 500 }), cand('far', 100), cand('near', 22)], {
      maxP95Ms: 20,
      maxRssMb: 300,
    });
    expect(r.status).toBe('infeasible');
    expect(r.closest).toEqual({ candidateId: 'near', failed: ['maxP95Ms'] });
    expect(r.candidates.every((c) => !c.feasible && c.rank === null && c.why.startsWith('infeasible'))).toBe(true);
  });

  it('an unmeasured value fails its constraint instead of passing silently', () => {
    const r = selectEngine([cand('c', 10, { rss: null })], { maxRssMb: 500 });
    expect(r.status).toBe('infeasible');
    expect(r.candidates[0].checks.find((k) => k.constraint === 'maxRssMb')?.why).toMatch(/not measured/);
  });

  it('applies the default accuracy threshold where the job sets none', () => {
    const r = selectEngine([cand('drifty', 10, { drop: DEFAULT_MAX_ACCURACY_DROP * 2 }), cand('ok', 40)], {});
    expect(r.chosenId).toBe('ok');
    expect(r.effectiveConstraints.maxAccuracyDrop).toBe(DEFAULT_MAX_ACCURACY_DROP);
  });

  it('the memory margin: a wobble below it does not change the choice, a real difference does', () => {
    const pair = (rssA: number, rssB: number) =>
      selectEngine([cand('a', 50, { std: 2, rss: rssA }), cand('b', 50.2, { rss: rssB })], {}).chosenId;
    // Same two configurations measured twice, peak RSS moving by a few MB each time: same choice.
    expect(new Set([pair(200, 203), pair(205, 199), pair(201, 201), pair(198, 206)])).toEqual(new Set(['a']));
    expect(pair(260, 200)).toBe('b');
    const r = selectEngine([cand('a', 50, { std: 2, rss: 205 }), cand('b', 50.2, { rss: 199 })], {});
    expect(r.candidates.find((c) => c.candidateId === 'b')?.why).toMatch(/name order .*memory margin/);
    expect(
      selectEngine([cand('a', 50, { std: 2, rss: 300 }), cand('b', 50.2, { rss: 199 })], {}).candidates.find(
        (c) => c.candidateId === 'a',
      )?.why,
    ).toMatch(/peak RSS 300 MB vs 199 MB/);
  });

  it('with no candidates answers no-candidates', () => {
    expect(selectEngine([], {})).toMatchObject({ status: 'no-candidates', chosen: null, candidates: [] });
  });

  it('the noise margin comes from the measured spread with a 2 % floor', () => {
    expect(noiseMarginMs(cand('a', 100, { std: 5 }))).toBe(5);
    expect(noiseMarginMs(cand('a', 100, { std: 0.1 }))).toBe(2);
  });

  it('gives identical output for identical input across runs', () => {
    const set = [
      cand('a', 50, { std: 3, drop: 0.002 }),
      cand('b', 51, { rss: 100 }),
      cand('c', 49, { drop: 0.5 }),
      cand('d', 70),
    ];
    const runs = Array.from({ length: 5 }, () =>
      JSON.stringify(selectEngine(set, { maxP95Ms: 60 }, { baselineId: 'd' })),
    );
    expect(new Set(runs).size).toBe(1);
    const r = JSON.parse(runs[0]);
    expect(r.chosenId).toBe('b');
    expect(r.candidates.find((c: { candidateId: string }) => c.candidateId === 'a').why).toMatch(
      /lost the tie-break on accuracy drop/,
    );
    expect(r.candidates.find((c: { candidateId: string }) => c.candidateId === 'd').why).toMatch(
      /infeasible: fails maxP95Ms/,
    );
  });
});

describe('accuracy that cannot be assessed (only synthetic inputs, an untrained model)', () => {
  const blind = (id: string, p95: number) => ({
    ...cand(id, p95),
    agreement: {
      accuracyDrop: null,
      assessable: false,
      notAssessableReason: 'only seeded synthetic inputs were available',
    },
  });
  const set = [cand('baseline', 100), blind('int8', 20), blind('fp32-all', 60)];

  it('is refused by default: only the baseline (the reference, drop 0 by definition) passes, and the record says why', () => {
    const d = selectEngine(set, {}, { baselineId: 'baseline' });
    expect(d).toMatchObject({ chosenId: 'baseline', accuracyPolicy: { whenNotAssessable: 'refuse' } });
    const check = d.candidates
      .find((c) => c.candidateId === 'int8')!
      .checks.find((k) => k.constraint === 'maxAccuracyDrop');
    expect(check).toEqual({
      constraint: 'maxAccuracyDrop',
      limit: DEFAULT_MAX_ACCURACY_DROP,
      value: null,
      passed: false,
      assessable: false,
      why: 'not assessable: only seeded synthetic inputs were available; refused (whenAccuracyNotAssessable: refuse)',
    });
  });

  it('is accepted with a caveat when the job says so: the fastest wins, and the summary says its accuracy was not assessed', () => {
    const d = selectEngine(set, {}, { baselineId: 'baseline', whenAccuracyNotAssessable: 'accept' });
    expect(d).toMatchObject({ chosenId: 'int8', accuracyPolicy: { whenNotAssessable: 'accept' } });
    expect(d.summary).toMatch(/its accuracy could not be assessed and was accepted with a caveat/);
    expect(
      d.candidates.find((c) => c.candidateId === 'int8')!.checks.find((k) => k.constraint === 'maxAccuracyDrop'),
    ).toMatchObject({ passed: true, value: null, why: expect.stringMatching(/accepted with a caveat/) });
    // Within the noise margin a measured drop still beats an unknown one.
    const close = selectEngine(
      [blind('unknown', 20), cand('measured', 20.1, { drop: 0.004 })],
      {},
      { whenAccuracyNotAssessable: 'accept' },
    );
    expect(close.chosenId).toBe('measured');
  });

  it('a GPU candidate whose VRAM NVML could not attribute is infeasible under the VRAM limit, with the reason', () => {
    const gpu = { ...cand('cuda', 10, { provider: 'cuda', vram: null }), vramReason: 'NVML never listed pid 42' };
    const d = selectEngine([gpu, cand('cpu', 50)], {});
    expect(d.chosenId).toBe('cpu');
    expect(
      d.candidates.find((c) => c.candidateId === 'cuda')!.checks.find((k) => k.constraint === 'maxVramMb'),
    ).toMatchObject({
      passed: false,
      value: null,
      why: expect.stringMatching(/^VRAM not attributable \(NVML never listed pid 42\)/),
    });
  });
});
