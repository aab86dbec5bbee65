import type { BenchCandidate } from '@cvp/contracts';
import { fixtureCandidate } from '../testing/report-fixture';
import { fixtureMeasurement, testProtocolContext } from '../testing/protocol-context';
import { type CandidateConfig, candidateId, configOf, engineOptionsOf } from './candidate-config';
import {
  bestThreads,
  fastestBatch1,
  loadTargets,
  notAssessableReason,
  planFor,
  toCandidate,
  withMap,
} from './candidates';
import { selectEngine } from '../selection/engine-selector';

describe('candidate configurations', () => {
  const config: CandidateConfig = {
    engine: 'native',
    provider: 'cpu',
    variant: 'int8-static',
    modelPath: '/m/int8-static.onnx',
    graphOptimization: 'extended',
    threads: 2,
    batch: 1,
  };

  it('one id names engine, provider, variant, graph level, threads and batch; options carry the precision', () => {
    expect(candidateId(config)).toBe('native/cpu/int8-static/extended/t2/b1');
    expect(engineOptionsOf({ ...config, batch: 4 })).toEqual({
      provider: 'cpu',
      precision: 'int8',
      graphOptimization: 'extended',
      threads: 2,
      maxBatch: 4,
    });
  });

  it('TensorRT FP16 from the FP32 file is labelled by what ran: fp16 in the id and the options, the FP32 file as the variant', () => {
    const trt: CandidateConfig = {
      ...config,
      engine: 'native',
      provider: 'tensorrt',
      variant: 'fp32',
      precision: 'fp16',
    };
    expect(candidateId(trt)).toBe('native/tensorrt/fp16/extended/t2/b1');
    expect(engineOptionsOf(trt)).toMatchObject({ provider: 'tensorrt', precision: 'fp16' });
    expect(candidateId({ ...trt, precision: 'fp32' })).toBe('native/tensorrt/fp32/extended/t2/b1');
  });

  it('a recorded candidate gives back the configuration it ran; the plan follows the run options, batch > 1 carries the agreement of its batch-1 candidate', async () => {
    const ctx = await testProtocolContext({ options: { seed: 7, iterations: 5 } });
    const c = toCandidate(ctx, 3, config, fixtureMeasurement());
    expect(c).toMatchObject({ id: candidateId(config), step: 3, selectable: true, peakVramMb: 900, timeSplit: null });
    expect(configOf(c)).toEqual(config);
    const trt: CandidateConfig = { ...config, provider: 'tensorrt', variant: 'fp32', precision: 'fp16' };
    expect(configOf(toCandidate(ctx, 4, trt, fixtureMeasurement()))).toEqual(trt);
    ctx.candidates.push(c);
    const b2 = toCandidate(ctx, 5, { ...config, batch: 2 }, fixtureMeasurement({ agreement: null }));
    expect(b2.selectable).toBe(false);
    expect(b2.agreement).toEqual({ ...c.agreement, measuredOn: c.id });
    expect(planFor(ctx, config)).toMatchObject({
      inputShape: [1, 3, 8, 8],
      batch: 1,
      seed: 7,
      iterations: 5,
      agreementSamples: 32,
      compareWith: ctx.dirs.baselineOutputs,
    });
    expect(planFor(ctx, { ...config, batch: 2 })).toMatchObject({ batch: 2, compareWith: null, mapEval: null });
  });

  it('judges whether a figure can show an accuracy loss: untrained model, seeded inputs, a baseline that finds nothing', async () => {
    const fromData = fixtureMeasurement().agreement!;
    const seeded = { ...fromData, inputs: { count: 32, source: 'seeded' as const, description: '32 seeded' } };
    const trained = await testProtocolContext({ datasetDir: '/data/set' });
    trained.input.model.trained = true;
    expect(withMap(trained, fromData, { detectionMap: null, mapError: null })).toMatchObject({
      assessable: true,
      accuracyDrop: fromData.accuracyDrop,
    });
    expect(withMap(trained, seeded, { detectionMap: null, mapError: null })).toMatchObject({
      assessable: false,
      accuracyDrop: null,
      notAssessableReason: expect.stringMatching(/only seeded synthetic inputs .*the attached data set has no images/),
    });
    const untrained = await testProtocolContext({ datasetDir: '/data/set' });
    untrained.input.model.trained = false;
    expect(notAssessableReason(untrained, fromData)).toMatch(/untrained/);
    const blind = {
      ...fromData,
      accuracyBasis: 'map50' as const,
      map: { split: 'val', images: 4, boxes: 7, baselineMap50: 0, map50: 0, baselineMap50_95: 0, map50_95: 0 },
    };
    expect(notAssessableReason(trained, blind)).toMatch(/finds none of the 7 labelled objects/);
  });

  it('picks the fastest batch-1 CPU candidate within the accuracy limit, the best thread count of step 2, and the load targets', async () => {
    const ctx = await testProtocolContext({ constraints: { maxAccuracyDrop: 0.05 } });
    const withDrop = (id: string, p50: number, drop: number, over: Partial<BenchCandidate> = {}) =>
      fixtureCandidate(id, p50, {
        agreement: { ...fixtureCandidate(id, p50).agreement!, accuracyDrop: drop },
        ...over,
      });
    ctx.candidates.push(
      withDrop('ort-node/cpu/fp32/all/t1/b1', 10, 0),
      withDrop('ort-node/cpu/fp32/all/t2/b1', 8, 0),
      withDrop('ort-node/cpu/int8-dynamic/all/t2/b1', 3, 0.2, { step: 3 }),
      withDrop('native/cpu/fp32/all/t1/b1', 9, 0, { peakRssMb: 100 }),
      withDrop('ort-node/cpu/fp32/all/t2/b2', 1, 0, { step: 5 }),
      withDrop('ort-node/cuda/fp32/all/t0/b1', 0.5, 0, { step: 4 }),
    );
    expect(fastestBatch1(ctx)?.id).toBe('ort-node/cpu/fp32/all/t2/b1');
    // Not assessable: refused by default, let through when the job accepts such candidates.
    const unassessable = withDrop('ort-node/cpu/int8-static/all/t2/b1', 2, 0, { step: 3 });
    unassessable.agreement = {
      ...unassessable.agreement!,
      accuracyDrop: null,
      assessable: false,
      notAssessableReason: 'x',
    };
    ctx.candidates.push(unassessable);
    expect(fastestBatch1(ctx)?.id).toBe('ort-node/cpu/fp32/all/t2/b1');
    ctx.input.whenAccuracyNotAssessable = 'accept';
    expect(fastestBatch1(ctx)?.id).toBe('ort-node/cpu/int8-static/all/t2/b1');
    ctx.input.whenAccuracyNotAssessable = 'refuse';
    ctx.candidates.pop();
    expect(fastestBatch1(ctx, 'native')?.id).toBe('native/cpu/fp32/all/t1/b1');
    expect(bestThreads(ctx, 'ort-node')).toBe(2);
    expect(bestThreads(ctx, 'native')).toBe(1);
    const empty = await testProtocolContext({ options: { threads: [4, 1] } });
    expect(bestThreads(empty, 'native')).toBe(4);
    // Before selection the fastest comes first; after it the chosen one, then each engine's fastest, once each.
    expect(loadTargets(ctx).map((c) => c.id)).toEqual(['ort-node/cpu/fp32/all/t2/b1', 'native/cpu/fp32/all/t1/b1']);
    ctx.decision = selectEngine(
      ctx.candidates.filter((c) => c.selectable),
      { maxAccuracyDrop: 0.05, maxRssMb: 150 },
    );
    expect(ctx.decision.chosenId).toBe('native/cpu/fp32/all/t1/b1');
    expect(loadTargets(ctx).map((c) => c.id)).toEqual(['native/cpu/fp32/all/t1/b1', 'ort-node/cpu/fp32/all/t2/b1']);
  });
});
