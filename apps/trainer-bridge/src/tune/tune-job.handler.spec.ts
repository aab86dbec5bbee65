import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { JobCancelledError, PermanentJobError } from '@cvp/jobs';
import * as ort from 'onnxruntime-node';
import { FakeRegistry } from '../testing/fake-registry';
import { handlerDeps, testOptions } from '../testing/handler-harness';
import { testJobContext } from '../testing/job-context';
import { maxOverlap } from '../testing/overlap';
import type { TrainerBridgeOptions } from '../trainer-bridge.options';
import { shellQuote, TuneJobHandler } from './tune-job.handler';

const input = (over: Record<string, unknown> = {}) => ({
  modelId: 'tune-m',
  datasetId: 'tune-ds',
  strategy: 'random' as const,
  trials: 4,
  epochs: 1,
  imgsz: 32,
  device: 'cpu',
  seed: 3,
  ...over,
});

describe('TuneJobHandler (real python coordinator and trainings, 2 trials at a time)', () => {
  let options: TrainerBridgeOptions;
  let registry: FakeRegistry;
  let deps: Awaited<ReturnType<typeof handlerDeps>>;
  let handler: TuneJobHandler;

  beforeAll(async () => {
    options = testOptions('tune-data', { gpuTokens: 2 });
    registry = await new FakeRegistry().start();
    deps = await handlerDeps(options);
    handler = new TuneJobHandler(deps.registry, deps.python, options);
    const dsDir = path.join(options.dataDir, 'datasets/tune-ds');
    await deps.python.run('synth-dataset', [
      '--kind',
      'yolo',
      '--out',
      dsDir,
      '--images',
      '6',
      '--imgsz',
      '32',
      '--classes',
      '2',
    ]);
    registry.datasets.set('tune-ds', {
      id: 'tune-ds',
      name: 'ds',
      format: 'yolo',
      path: dsDir,
      valid: true,
      classes: ['class0', 'class1'],
    });
    registry.models.set('tune-m', {
      id: 'tune-m',
      name: 't',
      task: 'detect',
      preset: 'yolov8n',
      latestVersion: 0,
      versions: [],
    });
  });
  afterAll(async () => {
    await deps.bus.close();
    await registry.stop();
  });

  it('random strategy: 3 trials, two at a time and never three, best registered as a version, report written', async () => {
    const ctx = testJobContext('job-tune-1');
    const res = await handler.handle(input({ trials: 3 }), ctx);
    expect(res.completed).toBe(3);
    expect(res.trials).toHaveLength(3);
    const intervals = res.trials.map(
      (t) => [Date.parse(String(t.started_at)), Date.parse(String(t.finished_at))] as [number, number],
    );
    expect(maxOverlap(intervals)).toBe(2);
    expect(res.best).toMatchObject({ number: expect.any(Number), params: expect.any(Object) });
    expect(res).toMatchObject({ modelId: 'tune-m', version: 1, trained: true, sourceFormat: 'ultralytics' });
    await ort.InferenceSession.create(res.onnxPath);
    expect(ctx.updates.filter((u) => u.stage === 'trial')).toHaveLength(3);
    expect(ctx.updates.some((u) => u.stage === 'trial_start')).toBe(true);
    const report = JSON.parse(await fs.readFile(res.reportPath, 'utf8'));
    expect(report).toMatchObject({ strategy: 'random', completed: 3, registered: { version: 1 } });
    const html = await fs.readFile(res.reportHtmlPath, 'utf8');
    expect(html).toContain('Best configuration');
    expect(html).not.toContain('Pareto front');
    expect(existsSync(res.studyPath)).toBe(true);
    // No trial wrapper here, so no lease: no token to check (the flows test has both).
    expect(res.leaseFencingToken).toBeUndefined();
  });

  it('cancel stops the coordinator and its trial within 5 s; the redelivery resumes the study and skips the finished trial', async () => {
    // one token: trial 0 finishes, trial 1 is running when the cancel comes
    const serial = new TuneJobHandler(deps.registry, deps.python, { ...options, gpuTokens: 1 });
    const ctx = testJobContext('job-tune-2');
    const p = serial.handle(input({ trials: 2, strategy: 'tpe' }), ctx);
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (ctx.updates.some((u) => u.stage === 'trial_start' && u.detail?.trial === 1)) {
          clearInterval(t);
          resolve();
        }
      }, 100);
    });
    const t0 = Date.now();
    ctx.controller.abort();
    await expect(p).rejects.toThrow(JobCancelledError);
    expect(Date.now() - t0).toBeLessThan(5000);

    const ctx2 = testJobContext('job-tune-2', 2);
    const res = await serial.handle(input({ trials: 2, strategy: 'tpe' }), ctx2);
    const start = ctx2.updates.find((u) => u.stage === 'tune_start');
    expect(start?.detail).toMatchObject({ resumed: true, finished_before: 1 });
    // only the interrupted trial ran again
    expect(ctx2.updates.filter((u) => u.stage === 'trial')).toHaveLength(1);
    expect(res.completed).toBe(2);
    expect(res.version).toBe(2);
  });

  it('refuses an invalid data set before starting the coordinator', async () => {
    registry.datasets.set('tune-bad', {
      id: 'tune-bad',
      name: 'b',
      format: 'yolo',
      path: '/nowhere',
      valid: false,
      classes: [],
    });
    await expect(handler.handle(input({ datasetId: 'tune-bad' }), testJobContext('job-tune-3'))).rejects.toThrow(
      PermanentJobError,
    );
  });

  it('quotes wrapper tokens for shlex', () => {
    expect(shellQuote('/a b/node')).toBe("'/a b/node'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('--holder')).toBe('--holder');
    expect(
      maxOverlap([
        [0, 10],
        [5, 15],
        [10, 20],
      ]),
    ).toBe(2);
  });
});
