import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PermanentJobError } from '@cvp/jobs';
import * as ort from 'onnxruntime-node';
import { FakeRegistry } from '../testing/fake-registry';
import { handlerDeps, testOptions } from '../testing/handler-harness';
import { testJobContext } from '../testing/job-context';
import { REPO_ROOT } from '../testing/python-env';
import { latencyCommand } from '../tune/tune-job.handler';
import { ConvertJobHandler } from './convert-job.handler';

describe('ConvertJobHandler (real python, registry answered over the test NATS)', () => {
  const options = testOptions('convert-data');
  let registry: FakeRegistry;
  let deps: Awaited<ReturnType<typeof handlerDeps>>;
  let handler: ConvertJobHandler;

  beforeAll(async () => {
    registry = await new FakeRegistry().start();
    deps = await handlerDeps(options);
    handler = new ConvertJobHandler(deps.registry, deps.python, options);
  });
  afterAll(async () => {
    await deps.bus.close();
    await registry.stop();
  });

  let presetOnnx: string;

  it('builds preset yolov8n into v1: validated ONNX that onnxruntime-node loads, untrained, metadata with shapes', async () => {
    registry.models.set('preset-m', {
      id: 'preset-m',
      name: 'p',
      task: 'detect',
      preset: 'yolov8n',
      latestVersion: 0,
      versions: [],
    });
    const ctx = testJobContext('job-convert-1');
    const res = await handler.handle({ modelId: 'preset-m' }, ctx);
    expect(res).toMatchObject({
      modelId: 'preset-m',
      version: 1,
      trained: false,
      preset: 'yolov8n',
      sourceFormat: 'ultralytics',
      filledExistingVersion: false,
    });
    expect(res.onnxPath).toBe(path.join(options.dataDir, 'models/preset-m/v1/model.onnx'));
    expect(existsSync(res.sourcePath!)).toBe(true);
    expect(typeof res.maxAbsDiff).toBe('number');
    expect(res.maxAbsDiff!).toBeLessThan(1e-2);
    expect(res.metadata).toMatchObject({
      opset: expect.any(Number),
      parameters: expect.any(Number),
      path: res.onnxPath,
    });
    expect((res.metadata.inputs as { shape: unknown[] }[])[0].shape).toEqual(['batch', 3, 'height', 'width']);
    const sess = await ort.InferenceSession.create(res.onnxPath);
    expect(sess.inputNames).toEqual(['images']);
    expect(ctx.updates.map((u) => u.stage)).toEqual(
      expect.arrayContaining(['preset', 'build', 'export', 'validate', 'committed']),
    );
    // nothing temporary left beside the versions
    expect((await fs.readdir(path.join(options.dataDir, 'models/preset-m'))).sort()).toEqual(['v1']);
    presetOnnx = res.onnxPath;

    // A redelivery of the same job returns the committed version instead of making another.
    const again = await handler.handle({ modelId: 'preset-m' }, testJobContext('job-convert-1', 2));
    expect(again.version).toBe(1);
    expect((await fs.readdir(path.join(options.dataDir, 'models/preset-m'))).sort()).toEqual(['v1']);
  });

  it("the nsga2 latency command (bench's scripts/measure-latency.js) measures a converted model and prints p50_ms", () => {
    const [cmd, ...args] = latencyCommand(
      { node: process.execPath, latencyScript: path.join(REPO_ROOT, 'scripts/measure-latency.js') },
      64,
    ).map((a) => (a === '{onnx}' ? presetOnnx : a));
    const out = execFileSync(cmd, args, { cwd: REPO_ROOT, timeout: 120_000 }).toString().trim().split('\n').pop()!;
    expect(JSON.parse(out).p50_ms).toBeGreaterThan(0);
  });

  it('an uploaded ONNX version without ONNX output gets model.onnx in its own folder (same version)', async () => {
    const vdir = path.join(options.dataDir, 'models/up-m/v1');
    await fs.mkdir(vdir, { recursive: true });
    const src = path.join(vdir, 'source.onnx');
    await fs.copyFile(presetOnnx, src);
    registry.models.set('up-m', {
      id: 'up-m',
      name: 'u',
      task: 'detect',
      preset: null,
      latestVersion: 1,
      versions: [
        {
          version: 1,
          onnxPath: null,
          sourcePath: src,
          sourceFormat: 'onnx',
          trained: true,
          createdAt: new Date().toISOString(),
          metadata: null,
        },
      ],
    });
    const res = await handler.handle({ modelId: 'up-m' }, testJobContext('job-convert-2'));
    expect(res).toMatchObject({
      modelId: 'up-m',
      version: 1,
      filledExistingVersion: true,
      sourcePath: src,
      trained: true,
      maxAbsDiff: null,
    });
    expect(res.onnxPath).toBe(path.join(vdir, 'model.onnx'));
    await ort.InferenceSession.create(res.onnxPath);
    expect((await fs.readdir(path.join(options.dataDir, 'models/up-m'))).sort()).toEqual(['v1']);
  });

  it('re-converting a version that already has ONNX makes a new version with its own copy of the source', async () => {
    const v1 = path.join(options.dataDir, 'models/up-m/v1');
    registry.models.set('up-m', {
      id: 'up-m',
      name: 'u',
      task: 'detect',
      preset: null,
      latestVersion: 1,
      versions: [
        {
          version: 1,
          onnxPath: path.join(v1, 'model.onnx'),
          sourcePath: path.join(v1, 'source.onnx'),
          sourceFormat: 'onnx',
          trained: true,
          createdAt: new Date().toISOString(),
          metadata: null,
        },
      ],
    });
    const res = await handler.handle({ modelId: 'up-m' }, testJobContext('job-convert-6'));
    expect(res).toMatchObject({ version: 2, filledExistingVersion: false, sourceFormat: 'onnx' });
    expect(res.sourcePath).toBe(path.join(options.dataDir, 'models/up-m/v2/source.onnx'));
    expect(existsSync(res.onnxPath)).toBe(true);
    expect((await fs.readdir(path.join(options.dataDir, 'models/up-m'))).sort()).toEqual(['v1', 'v2']);
  });

  it("a broken upload fails permanently with the parser's reason and leaves no ONNX", async () => {
    const vdir = path.join(options.dataDir, 'models/bad-m/v1');
    await fs.mkdir(vdir, { recursive: true });
    const src = path.join(vdir, 'source.onnx');
    await fs.writeFile(src, 'this is not a protobuf');
    registry.models.set('bad-m', {
      id: 'bad-m',
      name: 'b',
      task: 'detect',
      preset: null,
      latestVersion: 1,
      versions: [
        {
          version: 1,
          onnxPath: null,
          sourcePath: src,
          sourceFormat: 'onnx',
          trained: true,
          createdAt: new Date().toISOString(),
          metadata: null,
        },
      ],
    });
    const err = await handler.handle({ modelId: 'bad-m' }, testJobContext('job-convert-3')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(PermanentJobError);
    expect((await fs.readdir(path.join(options.dataDir, 'models/bad-m'))).sort()).toEqual(['v1']);
    expect(await fs.readdir(vdir)).toEqual(['source.onnx']);
  });

  it('unknown models and models with nothing to convert fail permanently', async () => {
    await expect(handler.handle({ modelId: 'nope' }, testJobContext('job-convert-4'))).rejects.toThrow(
      /model nope not found/,
    );
    registry.models.set('empty-m', {
      id: 'empty-m',
      name: 'e',
      task: 'detect',
      preset: null,
      latestVersion: 0,
      versions: [],
    });
    await expect(handler.handle({ modelId: 'empty-m' }, testJobContext('job-convert-5'))).rejects.toThrow(
      PermanentJobError,
    );
  });
});
