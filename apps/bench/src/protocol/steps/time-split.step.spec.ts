import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CellObject, tinyDetectorOnnx, writeCellDataset } from '@cvp/measure/testing';
import { selectEngine } from '../../selection/engine-selector';
import { fixtureCandidate } from '../../testing/report-fixture';
import { testProtocolContext } from '../../testing/protocol-context';
import { runStep } from '../protocol-step';
import { timeSplitStep } from './time-split.step';

describe('step 6: time split', () => {
  it("times the data plane's own stages on the data set's images (decode+resize, letterbox+normalise, infer, NMS); without a data plane the served split is a reason", async () => {
    const root = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'bench-split-'));
    const o = (row: number, col: number, cls: 0 | 1): CellObject => ({ row, col, cls });
    const datasetDir = await writeCellDataset(path.join(root, 'ds'), [
      { drawn: [o(1, 1, 0)], labels: [o(1, 1, 0)] },
      { drawn: [o(2, 3, 1)], labels: [o(2, 3, 1)] },
      { drawn: [], labels: [] },
    ]);
    const ctx = await testProtocolContext({
      onnx: tinyDetectorOnnx(8),
      task: 'detect',
      datasetDir,
      hooks: { servingPathMissing: 'CVP_INFERENCE_URL is empty' },
    });
    ctx.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: ctx.input.model.path }));
    ctx.decision = selectEngine(ctx.candidates, {});
    const step = await runStep(ctx, timeSplitStep);
    expect(step).toMatchObject({
      status: 'done',
      candidateIds: [],
      reasons: ['served split: skipped: no data plane to deploy on: CVP_INFERENCE_URL is empty'],
      details: {
        images: '3 images of the attached data set (3 of split val)',
        stages: { candidate: 'ort-node/cpu/fp32/all/t1/b1', images: 3 },
      },
    });
    const stages = (step.details.stages as { stages: { stage: string; meanMs: number }[] }).stages;
    expect(stages.map((s) => s.stage)).toEqual(['decode+resize', 'letterbox+normalise', 'infer', 'nms']);
    for (const s of stages) expect(s.meanMs).toBeGreaterThan(0);
  }, 60_000);

  it('a model that is neither detector nor classifier has no image pipeline to time, and says so', async () => {
    const ctx = await testProtocolContext();
    ctx.candidates.push(fixtureCandidate('ort-node/cpu/fp32/all/t1/b1', 2, { modelPath: ctx.input.model.path }));
    const step = await runStep(ctx, timeSplitStep);
    expect(step).toMatchObject({
      status: 'skipped',
      reasons: ['not a detector or classifier: the data plane has no image pipeline for it'],
    });
  });
});
