import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { JobCancelledError, PermanentJobError, RetryableJobError } from '@cvp/jobs';
import * as ort from 'onnxruntime-node';
import { FakeRegistry } from '../testing/fake-registry';
import { handlerDeps, testOptions } from '../testing/handler-harness';
import { testJobContext, type TestJobContext } from '../testing/job-context';
import { MemoryLeaseClient } from '../testing/memory-lease-client';
import { TrainJobHandler } from './train-job.handler';

const input = (over: Record<string, unknown> = {}) => ({
  modelId: 'train-m',
  datasetId: 'ds-ok',
  epochs: 1,
  imgsz: 32,
  batch: 4,
  device: 'cpu',
  seed: 0,
  ...over,
});

/** Resolves once the handler has started python under its lease. */
const whenTraining = (ctx: TestJobContext) =>
  new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (ctx.updates.some((u) => u.stage === 'training')) {
        clearInterval(t);
        // let python get past its imports so the signal meets a real training
        setTimeout(resolve, 4000);
      }
    }, 50);
  });

describe('TrainJobHandler (real Ultralytics training on CPU; in-process lease double until the NATS lease client lands)', () => {
  const options = testOptions('train-data');
  let registry: FakeRegistry;
  let deps: Awaited<ReturnType<typeof handlerDeps>>;
  let leases: MemoryLeaseClient;
  let handler: TrainJobHandler;
  const modelDir = path.join(options.dataDir, 'models/train-m');

  beforeAll(async () => {
    registry = await new FakeRegistry().start();
    deps = await handlerDeps(options);
    leases = new MemoryLeaseClient(2);
    handler = new TrainJobHandler(deps.registry, deps.python, leases, options);
    const dsDir = path.join(options.dataDir, 'datasets/ds-ok');
    await deps.python.run('synth-dataset', [
      '--kind',
      'yolo',
      '--out',
      dsDir,
      '--images',
      '8',
      '--imgsz',
      '64',
      '--classes',
      '2',
    ]);
    registry.datasets.set('ds-ok', {
      id: 'ds-ok',
      name: 'ok',
      format: 'yolo',
      path: dsDir,
      valid: true,
      classes: ['class0', 'class1'],
    });
    registry.datasets.set('ds-bad', {
      id: 'ds-bad',
      name: 'bad',
      format: 'yolo',
      path: dsDir,
      valid: false,
      classes: [],
    });
    registry.models.set('train-m', {
      id: 'train-m',
      name: 't',
      task: 'detect',
      preset: 'yolov8n',
      latestVersion: 0,
      versions: [],
    });
    registry.models.set('cls-m', {
      id: 'cls-m',
      name: 'c',
      task: 'classify',
      preset: 'resnet50',
      latestVersion: 0,
      versions: [],
    });
  });
  afterAll(async () => {
    await deps.bus.close();
    await registry.stop();
  });

  it('trains yolov8n 1 epoch under a lease: epoch progress, a new version with an ONNX that loads', async () => {
    const ctx = testJobContext('job-train-1');
    const res = await handler.handle(input(), ctx);
    expect(res).toMatchObject({
      modelId: 'train-m',
      version: 1,
      trained: true,
      sourceFormat: 'ultralytics',
      datasetId: 'ds-ok',
      epochs: 1,
      imgsz: 32,
    });
    expect(res.primaryMetric).toBe('metrics/mAP50-95(B)');
    expect(res.metrics).toHaveProperty(['metrics/mAP50-95(B)']);
    expect(res.onnxPath).toBe(path.join(modelDir, 'v1/model.onnx'));
    expect(existsSync(res.sourcePath)).toBe(true);
    const sess = await ort.InferenceSession.create(res.onnxPath);
    expect(sess.inputNames).toEqual(['images']);
    expect(sess.outputNames).toEqual(['output0']);

    const epoch = ctx.updates.find((u) => u.stage === 'epoch');
    expect(epoch?.detail).toMatchObject({
      epoch: 1,
      epochs: 1,
      losses: expect.any(Object),
      metrics: expect.any(Object),
      lr: expect.any(Object),
      etaS: expect.any(Number),
    });
    expect(epoch?.progress).toBeCloseTo(0.9);
    expect(ctx.updates.at(-1)).toMatchObject({ stage: 'committed', progress: 1 });
    // the lease was held with priority train for this job, and given back
    expect(leases.grants.at(-1)).toMatchObject({ holder: 'trainer-bridge:job-train-1' });
    expect(res.leaseFencingToken).toBe(leases.grants.at(-1)!.fencingToken);
    expect(leases.held.size).toBe(0);

    // redelivery after commit: same version, no second training, no lease taken
    const grants = leases.grants.length;
    const again = await handler.handle(input(), testJobContext('job-train-1', 2));
    expect(again.version).toBe(1);
    expect(leases.grants.length).toBe(grants);
  });

  it('refuses a data set that failed validation and a data set of the wrong kind, before taking a lease', async () => {
    const grants = leases.grants.length;
    await expect(handler.handle(input({ datasetId: 'ds-bad' }), testJobContext('job-train-2'))).rejects.toThrow(
      /failed validation/,
    );
    await expect(handler.handle(input({ modelId: 'cls-m' }), testJobContext('job-train-3'))).rejects.toThrow(
      PermanentJobError,
    );
    await expect(handler.handle(input({ datasetId: 'ds-none' }), testJobContext('job-train-4'))).rejects.toThrow(
      /not found/,
    );
    expect(leases.grants.length).toBe(grants);
  });

  it('cancel mid-training stops python within 5 s, releases the lease, commits nothing', async () => {
    const ctx = testJobContext('job-train-cancel');
    const p = handler.handle(input({ epochs: 50 }), ctx);
    await whenTraining(ctx);
    const t0 = Date.now();
    ctx.controller.abort();
    await expect(p).rejects.toThrow(JobCancelledError);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(leases.held.size).toBe(0);
    expect((await fs.readdir(modelDir)).sort()).toEqual(['v1']);
  });

  it('losing the lease mid-training stops python and fails retryably', async () => {
    const ctx = testJobContext('job-train-lost');
    const p = handler.handle(input({ epochs: 50 }), ctx);
    await whenTraining(ctx);
    const t0 = Date.now();
    leases.revokeAll('not renewed in time');
    const err = await p.catch((e: Error) => e);
    expect(err).toBeInstanceOf(RetryableJobError);
    expect((err as Error).message).toMatch(/GPU lease .* lost \(not renewed in time\)/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await fs.readdir(modelDir)).sort()).toEqual(['v1']);
  });
});
