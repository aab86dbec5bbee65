import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  type ConvertJobResult,
  DescribeModelReply,
  DescribeModelRequest,
  Registry,
  type TrainJobResult,
  UNTRAINED_PRESET_NOTE,
} from '@cvp/contracts';
import { JobSucceededHooks } from '@cvp/jobs';
import { MessageBus } from '@cvp/platform';
import { randomUUID } from 'node:crypto';
import { GpuLeaseService } from '../gpu-leases/gpu-lease.service';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { buildOnnx } from '../testing/onnx-builder';
import { filesUnder, uploadMultipart } from '../testing/upload-helpers';

/**
 * Version registration through the job succeeded hooks, driven with results of the contract's shape
 * (the worker itself runs in model-conversion.e2e-spec.ts); presets; registry describe.
 */
const convertResult = (r: Pick<ConvertJobResult, 'modelId' | 'version' | 'onnxPath'> & Partial<ConvertJobResult>) => ({
  sourcePath: null,
  sourceFormat: 'onnx' as const,
  metadata: {},
  maxAbsDiff: null,
  comparison: null,
  validation: {},
  trained: true,
  preset: null,
  filledExistingVersion: true,
  ...r,
});
const trainResult = (
  r: Pick<TrainJobResult, 'modelId' | 'version' | 'onnxPath' | 'sourcePath'> & Partial<TrainJobResult>,
) => ({
  sourceFormat: 'ultralytics' as const,
  trained: true as const,
  metadata: {},
  metrics: {},
  primaryMetric: 'metrics/accuracy_top1',
  accuracy: null,
  datasetId: 'd1',
  epochs: 1,
  imgsz: 32,
  trainSeconds: null,
  leaseFencingToken: 1,
  ...r,
});

describe('model versions from job results, presets, describe (e2e, gateway only)', () => {
  let gw: GatewayTestApp;
  let token: string;
  let hooks: JobSucceededHooks;
  const get = async (id: string) =>
    (await (await fetch(`${gw.api}/models/${id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<
      string,
      unknown
    > & { versions: Record<string, unknown>[] };
  const describe_ = (modelId: string) =>
    gw.app.get(MessageBus).request(DescribeModelRequest, DescribeModelReply, Registry.describeModel, { modelId }, 3000);

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    token = await gw.login('engineer');
    hooks = gw.app.get(JobSucceededHooks);
  });
  afterAll(() => gw?.close());

  /** A lease granted by this gateway's lease service, as a trainer holds one while it trains. */
  const grantLease = async (ttlMs = 60_000) => {
    const r = await gw.app.get(GpuLeaseService).acquire({
      requestId: randomUUID(),
      holder: 'trainer-bridge:test',
      node: 'versions-test',
      priority: 'train',
      ttlMs,
      waitMs: 1000,
    });
    if (r.status !== 'granted') throw new Error(`no lease: ${JSON.stringify(r)}`);
    return r.lease;
  };

  const upload = async () => {
    const r = await uploadMultipart(
      `${gw.api}/models`,
      token,
      { format: 'onnx', task: 'classify', inputShape: '1,4,1,1' },
      { name: 'm.onnx', data: buildOnnx() },
    );
    expect(r.status).toBe(202);
    return (r.body.model as { id: string }).id;
  };

  it('convert result fills version 1; train result adds version 2 with metrics; describe shows both', async () => {
    const id = await upload();
    const before = await describe_(id);
    expect(before.model).toMatchObject({ latestVersion: 1, task: 'classify', preset: null });
    const v1 = before.model!.versions[0];
    expect(v1).toMatchObject({
      version: 1,
      onnxPath: null,
      sourceFormat: 'onnx',
      metadata: { inputShape: [1, 4, 1, 1] },
    });
    const onnx1 = path.join(gw.dataDir, 'models', id, 'v1', 'model.onnx');
    copyFileSync(v1.sourcePath!, onnx1);
    const meta = {
      inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 4] }],
      opset: 13,
      parameters: 0,
      flops: 0,
      size_bytes: 99,
      sha256: 'a'.repeat(64),
      path: onnx1,
    };
    const merged = await hooks.run(
      'convert',
      { id: 'job-c1', ownerId: gw.userIds.engineer, input: { modelId: id } },
      convertResult({
        modelId: id,
        version: 1,
        onnxPath: onnx1,
        sourcePath: v1.sourcePath,
        metadata: meta,
        validation: { checker: 'ok' },
      }),
    );
    expect(merged).toMatchObject({ modelId: id, version: 1 });
    let m = await get(id);
    expect(m).toMatchObject({
      latestVersion: 1,
      opset: 13,
      sha256: 'a'.repeat(64),
      inputs: meta.inputs,
      outputs: meta.outputs,
    });
    expect(m.versions[0]).toMatchObject({
      converted: true,
      jobId: 'job-c1',
      metadata: { inputShape: [1, 4, 1, 1], validation: { checker: 'ok' } },
    });
    expect(JSON.stringify(m)).not.toContain(gw.dataDir); // no absolute paths over REST

    const onnx2 = path.join(gw.dataDir, 'models', id, 'v2', 'model.onnx');
    mkdirSync(path.dirname(onnx2));
    copyFileSync(onnx1, onnx2);
    const trainInput = { modelId: id, datasetId: 'd1', epochs: 1, imgsz: 32, batch: 1 };
    // the trainer committed under its lease and released it, then the result arrived
    const lease = await grantLease();
    await gw.app.get(GpuLeaseService).release({ leaseId: lease.leaseId });
    await hooks.run(
      'train',
      { id: 'job-t1', ownerId: gw.userIds.engineer, input: trainInput },
      trainResult({
        modelId: id,
        version: 2,
        onnxPath: onnx2,
        sourcePath: path.join(path.dirname(onnx2), 'model.pt'),
        metadata: { ...meta, sha256: 'b'.repeat(64) },
        metrics: { 'metrics/accuracy_top1': 0.75 },
        leaseFencingToken: lease.fencingToken,
      }),
    );
    m = await get(id);
    expect(m).toMatchObject({ latestVersion: 2, sha256: 'b'.repeat(64), trained: true });
    expect(m.versions[1]).toMatchObject({ version: 2, metrics: { 'metrics/accuracy_top1': 0.75 }, jobId: 'job-t1' });
    expect((await describe_(id)).model!.versions.map((v) => v.version)).toEqual([1, 2]);

    // deleting removes every version folder and the source blob
    expect(
      (await fetch(`${gw.api}/models/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(204);
    expect(filesUnder(gw.dataDir).filter((f) => f.startsWith('models/') || f.startsWith('blobs/'))).toEqual([]);
  });

  it('commits a train or tune result only under a lease still held or released by its holder; a lapsed, force-released or unknown one is refused and its files removed', async () => {
    const id = await upload();
    const leases = gw.app.get(GpuLeaseService);
    const trainInput = { modelId: id, datasetId: 'd1', epochs: 1, imgsz: 32, batch: 1 };
    const versionFolder = (v: number) => {
      const dir = path.join(gw.dataDir, 'models', id, `v${v}`);
      mkdirSync(dir, { recursive: true });
      return path.join(dir, 'model.onnx');
    };
    const run = (v: number, leaseFencingToken: number) =>
      hooks.run(
        'train',
        { id: `job-fence-${v}`, ownerId: gw.userIds.engineer, input: trainInput },
        trainResult({
          modelId: id,
          version: v,
          onnxPath: versionFolder(v),
          sourcePath: path.join(gw.dataDir, 'models', id, `v${v}`, 'model.pt'),
          leaseFencingToken,
        }),
      );

    // held while the result is committed: recorded
    const held = await grantLease();
    await expect(run(2, held.fencingToken)).resolves.toMatchObject({ version: 2 });
    await leases.release({ leaseId: held.leaseId });

    // the holder stopped renewing and its ttl passed (even before a sweep wrote it): refused
    const lapsed = await grantLease(200);
    await new Promise((r) => setTimeout(r, 350));
    await expect(run(3, lapsed.fencingToken)).rejects.toThrow(/train job job-fence-3 refused: .*lost/);
    expect(existsSync(path.join(gw.dataDir, 'models', id, 'v3'))).toBe(false);

    // an admin took it away: refused, even though the holder later releases it
    const revoked = await grantLease();
    await leases.forceRelease(revoked.leaseId, 'admin');
    await leases.release({ leaseId: revoked.leaseId });
    await expect(run(4, revoked.fencingToken)).rejects.toThrow(/lost/);

    // a token no lease service granted
    await expect(run(5, 1_000_000)).rejects.toThrow(/never granted/);
    expect((await get(id)).versions.map((v) => v.version)).toEqual([1, 2]);

    // a tune job carries its best trial's token: checked the same way
    const tune = (v: number, leaseFencingToken: number) =>
      hooks.run(
        'tune',
        {
          id: `job-tune-fence-${v}`,
          ownerId: gw.userIds.engineer,
          input: { modelId: id, datasetId: 'd1', strategy: 'random', trials: 2, epochs: 1, imgsz: 32 },
        },
        {
          modelId: id,
          version: v,
          onnxPath: versionFolder(v),
          metadata: {},
          strategy: 'random',
          trials: [],
          completed: 1,
          failed: 0,
          best: { number: 0, params: {}, accuracy: 0.5 },
          sourcePath: path.join(gw.dataDir, 'models', id, `v${v}`, 'model.pt'),
          sourceFormat: 'ultralytics',
          trained: true,
          metrics: {},
          reportPath: path.join(gw.dataDir, 'jobs', `job-tune-fence-${v}`, 'tune-report.json'),
          reportHtmlPath: path.join(gw.dataDir, 'jobs', `job-tune-fence-${v}`, 'tune-report.html'),
          studyPath: path.join(gw.dataDir, 'jobs', `job-tune-fence-${v}`, 'study.db'),
          leaseFencingToken,
        },
      );
    const trial = await grantLease();
    await leases.release({ leaseId: trial.leaseId });
    await expect(tune(6, trial.fencingToken)).resolves.toMatchObject({ version: 6 });
    const lostTrial = await grantLease();
    await leases.forceRelease(lostTrial.leaseId, 'admin');
    await expect(tune(7, lostTrial.fencingToken)).rejects.toThrow(/tune job job-tune-fence-7 refused: .*lost/);
    expect(existsSync(path.join(gw.dataDir, 'models', id, 'v7'))).toBe(false);
    expect((await get(id)).versions.map((v) => v.version)).toEqual([1, 2, 6]);
  });

  it('refuses results pointing outside the model folder, lacking fields (named), or for a deleted model (whose files are removed)', async () => {
    const id = await upload();
    const job = { id: 'job-x', ownerId: gw.userIds.engineer, input: { modelId: id } };
    await expect(
      hooks.run('convert', job, convertResult({ modelId: id, version: 1, onnxPath: '/etc/passwd' })),
    ).rejects.toThrow(/outside/);
    await expect(hooks.run('convert', job, { modelId: id })).rejects.toThrow(
      /^convert result rejected: version: Required; onnxPath: Required/,
    );
    expect(
      (await fetch(`${gw.api}/models/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(204);
    // the worker finished after the delete and wrote a version folder: it must not stay
    const late = path.join(gw.dataDir, 'models', id, 'v2');
    mkdirSync(late, { recursive: true });
    await expect(
      hooks.run('convert', job, convertResult({ modelId: id, version: 2, onnxPath: path.join(late, 'model.onnx') })),
    ).rejects.toThrow(/deleted/);
    expect(existsSync(path.join(gw.dataDir, 'models', id))).toBe(false);
  });

  it('presets: 202 with an honest untrained note; unknown preset 400; listed with filters; describe carries the preset name', async () => {
    const post = (name: string) =>
      fetch(`${gw.api}/models/presets/${name}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `my-${name}` }),
      });
    const r = await post('resnet50');
    expect(r.status).toBe(202);
    const body = (await r.json()) as {
      model: { id: string; task: string; latestVersion: number };
      job: { id: string; type: string };
      note: string;
    };
    expect(body.note).toBe(`${UNTRAINED_PRESET_NOTE} Architecture: torchvision resnet50(weights=None).`);
    expect(body.note).toMatch(/UNTRAINED/);
    expect(body.model).toMatchObject({ task: 'classify', latestVersion: 0 });
    expect(body.job.type).toBe('convert');
    expect((await post('yolov99')).status).toBe(400);
    const d = await describe_(body.model.id);
    expect(d.model).toMatchObject({ preset: 'resnet50', latestVersion: 0, versions: [] });
    const list = (await (
      await fetch(`${gw.api}/models?task=classify&limit=1`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { items: { id: string }[]; total: number; limit: number };
    expect(list.limit).toBe(1);
    expect(list.items).toHaveLength(1);
    expect(list.total).toBeGreaterThanOrEqual(1);
    const none = (await (
      await fetch(`${gw.api}/models?task=detect&name=nothing`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { total: number };
    expect(none.total).toBe(0);
  });
});
