/**
 * End to end through REST: the real gateway (in-process: auth, data sets, models, jobs, SSE, GPU
 * lease service) and trainer-bridge (in-process: job workers, python children) over the test
 * run's nats-server. Upload a generated data set -> preset yolov8n -> train 1 epoch at imgsz 32
 * on CPU -> a new model version whose ONNX loads in onnxruntime-node, progress seen over SSE;
 * then a ga tune whose trials each hold a lease from the gateway's 2-token service.
 */
import 'reflect-metadata';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { buildZip, type GatewayTestApp, startGatewayTestApp } from '@cvp/gateway/testing';
import { maxOverlap, startTrainerBridge, type TrainerBridgeTestApp } from '@cvp/trainer-bridge/testing';
import * as ort from 'onnxruntime-node';
import { collectJobEvents, type SseEvent } from './support/sse';

jest.setTimeout(20 * 60_000);

describe('train and tune through REST (gateway + trainer-bridge in process, real python)', () => {
  let gw: GatewayTestApp;
  let trainer: TrainerBridgeTestApp;
  let token: string;
  let modelId: string;
  let datasetId: string;

  const api = async (method: string, url: string, body?: unknown) => {
    const r = await fetch(`${gw.api}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
  };

  /** Follows a job over SSE to its end; returns the events and the stored job. */
  const follow = async (
    jobId: string,
    timeoutMs = 10 * 60_000,
  ): Promise<{ events: SseEvent[]; job: Record<string, any> }> => {
    const t = await api('POST', `/jobs/${jobId}/events/token`);
    expect(t.status).toBe(201);
    const events = await collectJobEvents(`${gw.baseUrl}${t.body.url}`, timeoutMs);
    const job = (await api('GET', `/jobs/${jobId}`)).body;
    return { events, job };
  };

  beforeAll(async () => {
    gw = await startGatewayTestApp({ env: { CVP_GPU_TOKENS: '2' } });
    token = await gw.login('engineer');
    trainer = await startTrainerBridge(gw.dataDir, {
      // the coordinator may start 3 trials; the gateway's 2 tokens must hold them to 2 at once
      CVP_GPU_TOKENS: '3',
      CVP_LEASE_TTL_MS: '5000',
      CVP_TRAIN_THREADS: '1',
    });

    // A generated YOLO data set, zipped with a portable data.yaml (relative splits).
    const dsDir = path.join(process.env.CVP_TEST_DIR!, 'e2e-synth');
    await trainer.python.run('synth-dataset', [
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
    const entries = [
      { name: 'data.yaml', data: 'train: images/train\nval: images/val\nnames:\n  0: class0\n  1: class1\n' },
    ];
    for (const sub of ['images/train', 'images/val', 'labels/train', 'labels/val']) {
      for (const f of await fs.readdir(path.join(dsDir, sub)))
        entries.push({ name: `${sub}/${f}`, data: (await fs.readFile(path.join(dsDir, sub, f))) as unknown as string });
    }
    const fd = new FormData();
    fd.append('format', 'yolo');
    fd.append('name', 'shapes');
    fd.append('file', new Blob([new Uint8Array(buildZip(entries))]), 'shapes.zip');
    const up = await fetch(`${gw.api}/datasets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: fd,
    });
    const ds = (await up.json()) as Record<string, any>;
    expect([200, 201]).toContain(up.status);
    expect(ds.valid).toBe(true);
    datasetId = ds.id;

    // Preset yolov8n: the convert job runs in this service and registers v1.
    const preset = await api('POST', '/models/presets/yolov8n', { name: 'e2e-yolo' });
    expect([200, 201, 202]).toContain(preset.status);
    modelId = preset.body.model.id;
    const conv = await follow(preset.body.job.id);
    expect(conv.job.state).toBe('succeeded');
  });

  afterAll(async () => {
    await trainer?.close();
    await gw?.close();
  });

  it('train: 1 epoch at imgsz 32 on CPU -> progress over SSE -> model version 2 with an ONNX that loads', async () => {
    const created = await api('POST', '/jobs/train', {
      modelId,
      datasetId,
      epochs: 1,
      imgsz: 32,
      batch: 4,
      device: 'cpu',
      seed: 0,
    });
    expect(created.status).toBe(202);
    const { events, job } = await follow(created.body.id);
    expect(job.state).toBe('succeeded');
    const epoch = events.find((e) => e.data.stage === 'epoch');
    expect(epoch?.data.detail).toMatchObject({
      epoch: 1,
      epochs: 1,
      losses: expect.any(Object),
      metrics: expect.any(Object),
    });
    expect(events.some((e) => e.data.state === 'running')).toBe(true);
    expect(job.result).toMatchObject({ modelId, version: 2, trained: true });

    const model = (await api('GET', `/models/${modelId}`)).body;
    const v2 = model.versions.find((v: { version: number }) => v.version === 2);
    expect(v2).toMatchObject({ version: 2, converted: true });
    const sess = await ort.InferenceSession.create(job.result.onnxPath);
    expect(sess.inputNames).toEqual(['images']);
  });

  it('tune (ga, 3 trials): every trial holds its own lease; never more than the 2 tokens at once; best registered as version 3 with a report', async () => {
    const created = await api('POST', '/jobs/tune', {
      modelId,
      datasetId,
      strategy: 'ga',
      trials: 3,
      epochs: 1,
      imgsz: 32,
      device: 'cpu',
      seed: 1,
    });
    expect(created.status).toBe(202);
    const { events, job } = await follow(created.body.id, 15 * 60_000);
    expect(job.state).toBe('succeeded');
    expect(job.result).toMatchObject({ modelId, version: 3, strategy: 'ga', completed: 3 });
    expect(events.filter((e) => e.data.stage === 'trial')).toHaveLength(3);

    // lease.json per trial, written by the wrapper: the grant-to-release intervals
    const trialsDir = path.join(gw.dataDir, 'jobs', created.body.id, 'trials');
    const leases = await Promise.all(
      (await fs.readdir(trialsDir)).map(
        async (d) =>
          JSON.parse(await fs.readFile(path.join(trialsDir, d, 'lease.json'), 'utf8')) as Record<string, any>,
      ),
    );
    expect(leases).toHaveLength(3);
    expect(new Set(leases.map((l) => l.fencingToken)).size).toBe(3);
    expect(leases.every((l) => l.holder.startsWith(`trainer-bridge:${created.body.id}:trial-`))).toBe(true);
    const held = leases.map((l) => [Date.parse(l.grantedAt), Date.parse(l.releasedAt)] as [number, number]);
    expect(maxOverlap(held)).toBe(2);
    // the result carries the best trial's token, which the gateway checked before recording version 3
    const best = JSON.parse(
      await fs.readFile(
        path.join(trialsDir, `trial_${String(job.result.best.number).padStart(4, '0')}`, 'lease.json'),
        'utf8',
      ),
    ) as Record<string, any>;
    expect(job.result.leaseFencingToken).toBe(best.fencingToken);

    const html = await fs.readFile(path.join(gw.dataDir, 'jobs', created.body.id, 'tune-report.html'), 'utf8');
    expect(html).toContain('Best configuration');
    await ort.InferenceSession.create(job.result.onnxPath);
  });
});
