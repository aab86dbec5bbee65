import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchReportSchema } from '@cvp/contracts';
import { measureOrt, type OrtMeasureRequest, withMapChange } from '@cvp/measure';
import { type CellObject, tinyDetectorOnnx, tinyIdentityOnnx, writeCellDataset } from '@cvp/measure/testing';
import { technicalHtml } from '../report/report-html';
import { selectEngine } from '../selection/engine-selector';
import { planMap } from './protocol-context';
import { defaultProtocolOptions, type ProtocolOptions } from './protocol-options';
import { runProtocol } from './protocol-runner';

/**
 * mAP change for detectors with a labelled data set (the accuracy-agreement part of the protocol): a real
 * ONNX detector with a YOLOv8 head (tinyDetectorOnnx) on a generated YOLO data set, through the
 * real protocol (child-process measurements) and through measureOrt directly.
 */
describe('mAP change against a labelled data set', () => {
  const root = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'bench-map-'));
  const model = path.join(root, 'detector.onnx');
  writeFileSync(model, tinyDetectorOnnx(8));
  const shifted = path.join(root, 'detector-shifted.onnx');
  writeFileSync(shifted, tinyDetectorOnnx(8, 0.6)); // boxes 0.6 cell off: IoU 0.25 with their objects
  const o = (row: number, col: number, cls: 0 | 1): CellObject => ({ row, col, cls });
  // Mostly right labels, plus one wrong class and one box nothing was drawn for: the detector
  // cannot score 1, so the numbers compared below are not trivially equal by construction.
  const images = [
    { drawn: [o(1, 1, 0), o(5, 6, 1)], labels: [o(1, 1, 0), o(5, 6, 1)] },
    { drawn: [o(2, 3, 1)], labels: [o(2, 3, 1)] },
    { drawn: [o(0, 7, 0), o(7, 0, 0)], labels: [o(0, 7, 0), o(7, 0, 1)] },
    { drawn: [o(4, 4, 1)], labels: [o(4, 4, 1), o(6, 2, 0)] },
    { drawn: [], labels: [] },
  ];
  let datasetDir: string;
  beforeAll(async () => {
    datasetDir = await writeCellDataset(path.join(root, 'dataset'), images);
  });

  const options = (): ProtocolOptions => ({
    ...defaultProtocolOptions(),
    warmup: 1,
    iterations: 3,
    maxAttempts: 1,
    timeBudgetMs: 500,
    threads: [1],
    concurrency: [1],
    concurrencyRequests: 2,
    stabilityUsers: 0,
    stabilityDurationMs: 0,
    instanceLayoutSeconds: 0.3,
    python: null,
    native: false,
    mapImages: 16,
  });

  it('the protocol scores every detector candidate on the labelled images: mapChange is finite and is candidate mAP50 - baseline mAP50', async () => {
    const outDir = path.join(root, 'bm-map');
    const report = benchReportSchema.parse(
      await runProtocol(
        {
          benchmarkId: 'bm-map',
          jobId: null,
          model: { id: 'm', version: 1, name: 'tiny-detector', task: 'detect', path: model },
          datasetDir,
          datasetFormat: 'yolo',
          constraints: { maxAccuracyDrop: 0.01 },
          outDir,
        },
        options(),
      ),
    );
    const base = report.candidates.find((c) => c.id === report.baselineId)!;
    const baseMap = base.agreement!.map!;
    expect(baseMap).toMatchObject({
      split: 'val',
      images: images.length,
      boxes: images.reduce((s, i) => s + i.labels.length, 0),
    });
    expect(baseMap.baselineMap50).toBeGreaterThan(0);
    expect(baseMap.baselineMap50).toBeLessThan(1);
    expect(base.agreement).toMatchObject({ mapChange: 0, accuracyDrop: 0, accuracyBasis: 'map50' });
    expect(report.steps[0].details.map).toMatchObject({ split: 'val', map50: baseMap.baselineMap50 });

    const scored = report.candidates.filter((c) => c.selectable && c.id !== base.id);
    expect(scored.length).toBeGreaterThanOrEqual(3); // graph levels basic / extended / all
    for (const c of scored) {
      const a = c.agreement!;
      expect(Number.isFinite(a.mapChange)).toBe(true);
      expect(a.map).toMatchObject({
        split: 'val',
        images: images.length,
        baselineMap50: baseMap.baselineMap50,
        baselineMap50_95: baseMap.baselineMap50_95,
      });
      expect(a.mapChange).toBeCloseTo(a.map!.map50 - a.map!.baselineMap50, 6);
      expect(a.accuracyDrop).toBeCloseTo(Math.max(0, -a.mapChange!), 6);
      expect(a.accuracyBasis).toBe('map50');
    }
    // Batch > 1 is the same model and engine as its batch-1 candidate: not scored again, and says so.
    for (const c of report.candidates.filter((x) => x.batch > 1))
      expect(c.agreement).toMatchObject({ mapChange: null, mapSkipReason: expect.stringMatching(/batch > 1/) });
    const html = technicalHtml(report);
    expect(html).toContain('mAP@0.5 (Δ)');
    expect(html).toContain(`baseline mAP@0.5 ${baseMap.baselineMap50.toFixed(3)}`);
  }, 180_000);

  it('a detector that localises worse loses mAP: negative change, that loss is its accuracy drop, and selection holds it infeasible', async () => {
    const req = (modelPath: string): OrtMeasureRequest => ({
      modelPath,
      graphOptimization: 'all',
      threads: 1,
      batch: 1,
      inputShape: [1, 3, 8, 8],
      task: 'detect',
      seed: 0,
      warmup: 1,
      iterations: 3,
      cvThreshold: 1,
      maxAttempts: 1,
      datasetDir,
      mapEval: { datasetDir, maxImages: 16 },
    });
    const good = await measureOrt(req(model));
    const worse = await measureOrt(req(shifted));
    expect(good.mapError).toBeNull();
    const g = good.detectionMap!;
    const w = worse.detectionMap!;
    expect(w.map50).toBeLessThan(g.map50!);
    const agreement = withMapChange(
      {
        maxAbsDiff: 1,
        meanAbsDiff: 0.1,
        cosine: 0.99,
        top1Agreement: null,
        scoreMaxAbsDiff: 0,
        mapChange: null,
        accuracyDrop: 0.01,
        samples: 2,
      },
      g,
      w,
    );
    expect(agreement.mapChange).toBeCloseTo(w.map50! - g.map50!, 6);
    expect(agreement.mapChange).toBeLessThan(0);
    expect(agreement.accuracyDrop).toBeCloseTo(-agreement.mapChange!, 6);
    const pick = (drop: number) => ({
      engine: 'ort-node' as const,
      options: {
        provider: 'cpu' as const,
        precision: 'fp32' as const,
        graphOptimization: 'all' as const,
        threads: 1,
        maxBatch: 1,
      },
      modelPath: 'x',
      throughput: 100,
      peakRssMb: 100,
      peakVramMb: null,
      agreement: { accuracyDrop: drop },
    });
    const decision = selectEngine(
      [
        { id: 'worse', ...pick(agreement.accuracyDrop!), latency: { p95Ms: 1, stdMs: 0, unstable: false } },
        { id: 'good', ...pick(0), latency: { p95Ms: 10, stdMs: 0, unstable: false } },
      ],
      { maxAccuracyDrop: 0.01 },
    );
    expect(decision.chosenId).toBe('good');
    expect(decision.candidates.find((c) => c.candidateId === 'worse')?.why).toMatch(/maxAccuracyDrop/);
  }, 60_000);

  it('without a labelled YOLO data set there is no mAP change, and the reason is recorded', async () => {
    const detector = { task: 'detect' as const, id: 'm', version: 1, name: 'd', path: model };
    const s = options();
    const unlabelled = mkdtempSync(path.join(root, 'unlabelled-'));
    await writeCellDataset(unlabelled, [{ drawn: [o(1, 1, 0)], labels: [] }]);
    const cases: [Parameters<typeof planMap>[0], RegExp][] = [
      [{ model: { ...detector, task: 'classify' }, datasetDir }, /not a detector/],
      [{ model: detector, datasetDir: null }, /no data set attached/],
      [{ model: detector, datasetDir, datasetFormat: 'imagefolder' }, /imagefolder/],
      [{ model: detector, datasetDir: path.join(root, 'nowhere') }, /no images\/<split>/],
      [{ model: detector, datasetDir: unlabelled }, /no labelled boxes/],
    ];
    for (const [input, reason] of cases)
      expect(await planMap(input, s)).toEqual({ eval: null, reason: expect.stringMatching(reason) });
    expect(await planMap({ model: detector, datasetDir }, { mapImages: 0 })).toEqual({
      eval: null,
      reason: expect.stringMatching(/CVP_BENCH_MAP_IMAGES=0/),
    });
    expect(await planMap({ model: detector, datasetDir, datasetFormat: 'yolo' }, s)).toEqual({
      eval: { datasetDir, maxImages: s.mapImages },
      reason: null,
    });

    // Through the protocol: a detector benchmarked on seeded inputs records the reason in step 1 and on each candidate.
    const identity = path.join(root, 'identity.onnx');
    writeFileSync(identity, tinyIdentityOnnx([1, 3, 8, 8]));
    const report = await runProtocol(
      {
        benchmarkId: 'bm-nomap',
        jobId: null,
        model: { id: 'm', version: 1, name: 'id', task: 'detect', path: identity },
        constraints: {},
        outDir: path.join(root, 'bm-nomap'),
      },
      { ...options(), threads: [1], concurrency: [1] },
    );
    expect(report.steps[0].reasons.join(' ')).toMatch(/mAP change: skipped: no data set attached/);
    for (const c of report.candidates.filter((x) => x.agreement))
      expect(c.agreement).toMatchObject({
        mapChange: null,
        mapSkipReason: expect.stringMatching(/no data set attached/),
      });
  }, 120_000);
});
