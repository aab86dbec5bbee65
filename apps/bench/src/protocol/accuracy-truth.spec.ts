import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchReportSchema } from '@cvp/contracts';
import { trainedDetector, type TrainedDetector } from '@cvp/measure/testing';
import { selectEngine } from '../selection/engine-selector';
import { makeYoloPreset } from '../testing/bench-fixtures';
import { configOf } from './candidate-config';
import { measureCandidate } from './candidates';
import { createProtocolContext, type ProtocolInput } from './protocol-context';
import { defaultProtocolOptions, type ProtocolOptions } from './protocol-options';
import { runProtocol } from './protocol-runner';
import { runStep } from './protocol-step';
import { makeVariant } from './python-variants';
import { baselineStep, variantsStep } from './steps';

/**
 * The accuracy guard on real models: a trained YOLO detector with its held-out images
 * (`cvp_ml trained-detector`, cached across runs), its INT8 variants made by python, and the
 * untrained yolov8n preset. Everything runs for real: python, onnxruntime-node, mAP scoring.
 */
describe('accuracy: what the maxAccuracyDrop guard can and cannot tell', () => {
  const root = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'bench-accuracy-'));
  let det: TrainedDetector;
  const options = (over: Partial<ProtocolOptions> = {}): ProtocolOptions => ({
    ...defaultProtocolOptions(),
    warmup: 1,
    iterations: 3,
    maxAttempts: 1,
    timeBudgetMs: 500,
    threads: [1],
    native: false,
    variants: [],
    mapImages: 32,
    agreementSamples: 32,
    ...over,
  });
  const input = (id: string, over: Partial<ProtocolInput> = {}): ProtocolInput => ({
    benchmarkId: id,
    jobId: null,
    model: {
      id: 'm',
      version: 1,
      name: 'shapes detector',
      task: 'detect',
      path: det.onnx,
      imgsz: det.imgsz,
      trained: true,
    },
    datasetDir: det.dataDir,
    datasetFormat: 'yolo',
    constraints: {},
    outDir: path.join(root, id),
    ...over,
  });

  beforeAll(async () => {
    det = await trainedDetector({ recipe: 'shapes-small' });
  }, 1_800_000);

  it('INT8 static of a trained detector: its mAP@0.5 change on held-out images is measured with a bootstrap bound, whatever its sign, and the selector refuses the INT8 variant with the larger measured drop once maxAccuracyDrop is below it', async () => {
    const o = options({ variants: ['int8-static'] });
    const ctx = await createProtocolContext(input('bm-int8'), o);
    expect((await runStep(ctx, baselineStep)).status).toBe('done');
    expect(ctx.baseline!.agreement).toMatchObject({
      assessable: true,
      inputs: { count: 32, source: 'dataset', description: '32 images of the attached data set (32 of split val)' },
      map: { split: 'val', images: 32 },
    });
    const base = ctx.baseline!.agreement!.map!.baselineMap50;
    expect(base).toBeGreaterThan(0.3); // learned weights: it finds the shapes

    // INT8 static as the protocol makes it: calibrated on the data set's images.
    const s3 = await runStep(ctx, variantsStep);
    expect(s3.details.calibration).toMatch(/^\d+ images from the attached data set$/);
    expect(ctx.calibration).toBe(s3.details.calibration);
    const calibrated = ctx.candidates.find((c) => c.variant === 'int8-static')!;
    const a = calibrated.agreement!;
    expect(a).toMatchObject({ assessable: true, accuracyBasis: 'map50', samples: 32 });
    expect(Number.isFinite(a.mapChange)).toBe(true);
    expect(a.map!.map50).not.toBe(base); // INT8 moves the detections: a real, measured change
    expect(a.bound).toMatchObject({ method: 'paired-bootstrap', of: 'mapChange', resamples: 1000 });
    expect(a.bound!.lower).toBeLessThanOrEqual(a.mapChange!);
    expect(a.bound!.upper).toBeGreaterThanOrEqual(a.mapChange!);

    // The same variant kind calibrated on seeded noise instead (t2 gives it an id of its own).
    const noise = await makeVariant(det.onnx, 'int8-static', path.join(root, 'noise'), {
      python: o.python!,
      cwd: o.pythonCwd,
      inputShape: ctx.model.shape,
      calibDir: null,
      seed: 0,
      timeoutMs: o.variantTimeoutMs,
    });
    expect(noise.calibration).toMatch(/seeded synthetic inputs/);
    const rec = { reasons: [], candidateIds: [], details: {} };
    const noisy = await measureCandidate(ctx, rec, 3, { ...configOf(calibrated), modelPath: noise.path!, threads: 2 });
    const n = noisy!.agreement!;
    expect(n).toMatchObject({ assessable: true, accuracyBasis: 'map50', bound: { method: 'paired-bootstrap' } });
    expect(n.bound!.lower).toBeLessThanOrEqual(n.mapChange!);
    expect(n.bound!.upper).toBeGreaterThanOrEqual(n.mapChange!);

    // The sign of an INT8 change depends on the model and the images scored (either calibration can
    // gain a little on 32 images), so the refusal is shown on whichever variant measured the larger
    // drop, with the limit set from that measurement. A trained detector quantized twice with no
    // loss at all on its held-out images would mean the guard has nothing to judge: that fails here.
    const lossy = [calibrated, noisy!].sort((x, y) => y.agreement!.accuracyDrop! - x.agreement!.accuracyDrop!)[0];
    const drop = lossy.agreement!.accuracyDrop!;
    expect(drop).toBeGreaterThan(0);
    expect(drop).toBeCloseTo(-lossy.agreement!.mapChange!, 6);

    const pick = (maxAccuracyDrop: number) =>
      selectEngine([ctx.baseline!, lossy], { maxAccuracyDrop }, { baselineId: ctx.baseline!.id });
    const strict = pick(drop / 2);
    expect(strict.chosenId).toBe(ctx.baseline!.id);
    const refused = strict.candidates.find((c) => c.candidateId === lossy.id)!;
    expect(refused.feasible).toBe(false);
    expect(refused.checks.find((k) => k.constraint === 'maxAccuracyDrop')).toMatchObject({
      passed: false,
      value: drop,
      limit: drop / 2,
    });
    const lax = pick(Math.min(1, drop * 2));
    expect(lax.candidates.find((c) => c.candidateId === lossy.id)).toMatchObject({ feasible: true });
  }, 900_000);

  it('an untrained model is not assessable, even on real images: refused by default, accepted with a caveat in both views when the job says so', async () => {
    const preset = makeYoloPreset(path.join(root, 'preset'), 96);
    const o = options({ concurrency: [1], stabilityUsers: 0 });
    const untrained = (id: string, policy?: 'refuse' | 'accept') =>
      input(id, {
        model: { id: 'p', version: 1, name: 'yolov8n preset', task: 'detect', path: preset, imgsz: 96, trained: false },
        ...(policy ? { whenAccuracyNotAssessable: policy } : {}),
      });
    const refused = benchReportSchema.parse(await runProtocol(untrained('bm-untrained'), o));
    // Every candidate but the reference (and the reference's own configuration at batch 2).
    const others = refused.candidates.filter(
      (c) => c.id !== refused.baselineId && c.agreement?.measuredOn !== refused.baselineId,
    );
    expect(others.length).toBeGreaterThanOrEqual(3);
    for (const c of others)
      expect(c.agreement).toMatchObject({
        assessable: false,
        accuracyDrop: null,
        notAssessableReason: expect.stringMatching(/untrained/),
        inputs: { source: 'dataset' },
      });
    expect(refused.steps[0].details.accuracy).toMatchObject({ assessable: false, policy: 'refuse' });
    expect(refused.decision).toMatchObject({
      chosenId: refused.baselineId,
      accuracyPolicy: { whenNotAssessable: 'refuse' },
    });
    for (const d of refused.decision.candidates.filter((x) => x.candidateId !== refused.baselineId))
      expect(d.checks.find((k) => k.constraint === 'maxAccuracyDrop')).toMatchObject({
        passed: false,
        assessable: false,
        value: null,
        why: expect.stringMatching(/^not assessable: the model version is untrained.*refused/),
      });
    expect(refused.simple.caveats.join(' ')).toMatch(/could not be assessed .* refused/);

    const accepted = benchReportSchema.parse(await runProtocol(untrained('bm-untrained-accept', 'accept'), o));
    expect(accepted.decision.accuracyPolicy).toEqual({ whenNotAssessable: 'accept' });
    expect(accepted.decision.candidates.filter((c) => c.feasible).length).toBeGreaterThan(1);
    expect(accepted.simple.caveats.join(' ')).toMatch(/you chose to accept them/);
    const chosen = accepted.candidates.find((c) => c.id === accepted.decision.chosenId)!;
    if (chosen.id !== accepted.baselineId) {
      expect(accepted.simple).toMatchObject({
        accuracyAssessable: false,
        accuracyImpact: expect.stringMatching(/^Not assessable/),
      });
      expect(accepted.decision.summary).toMatch(/could not be assessed and was accepted with a caveat/);
    }
  }, 900_000);
});
