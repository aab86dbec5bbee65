/**
 * The whole package path over real parts: the real gateway (REST, auth, SQLite, jobs, registry
 * responders, packages module) and the real packager service module (JobWorkerModule over the
 * real nats-server): POST /api/v1/jobs/package -> worker builds the bundle -> completion hook
 * stores the row -> GET /api/v1/packages/:id/download streams a tarball whose manifest verifies.
 * The model's converted version is registered through the gateway's own job succeeded hooks
 * (no convert worker runs here: conversion is covered by train-and-tune).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { Streams } from '@cvp/contracts';
import { type GatewayTestApp, startGatewayTestApp, uploadMultipart } from '@cvp/gateway/testing';
import { JobSucceededHooks } from '@cvp/jobs';
import { makeYoloModel, platformSnapshot, scratchDir, startPackagerWorker } from '@cvp/packager/testing';
import { MessageBus } from '@cvp/platform';

interface Job {
  id: string;
  state: string;
  result: Record<string, unknown> | null;
  error: string | null;
}

describe('package job end to end: gateway REST -> packager worker over NATS -> packages row -> download', () => {
  let gw: GatewayTestApp;
  let packager: INestApplicationContext;
  let token: string;
  let modelId: string;
  const auth = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    const dir = scratchDir('package-flow');
    const onnx = makeYoloModel(path.join(dir, 'model'));
    gw = await startGatewayTestApp();
    token = await gw.login('engineer');
    const jsm = await gw.app.get(MessageBus).jetstreamManager();
    await jsm.streams.purge(Streams.jobs('package')).catch(() => undefined);

    const up = await uploadMultipart(
      `${gw.api}/models`,
      token,
      { format: 'onnx', task: 'detect', name: 'flow yolo' },
      { name: 'model.onnx', data: readFileSync(onnx) },
    );
    if (up.status !== 202) throw new Error(`model upload answered ${up.status}: ${JSON.stringify(up.body)}`);
    modelId = (up.body.model as { id: string }).id;
    const convertJobId = (up.body.job as { id: string }).id;
    // What a convert worker reports: version 1 with its ONNX inside the model's folder.
    const v1 = path.join(gw.dataDir, 'models', modelId, 'v1', 'model.onnx');
    mkdirSync(path.dirname(v1), { recursive: true });
    copyFileSync(onnx, v1);
    await gw.app.get(JobSucceededHooks).run(
      'convert',
      { id: convertJobId, ownerId: gw.userIds.engineer, input: { modelId } },
      {
        modelId,
        version: 1,
        onnxPath: v1,
        sourcePath: null,
        sourceFormat: 'onnx',
        metadata: {},
        maxAbsDiff: null,
        comparison: null,
        validation: {},
        trained: true,
        preset: null,
        filledExistingVersion: true,
      },
    );

    packager = await startPackagerWorker({
      CVP_DATA_DIR: gw.dataDir,
      CVP_PACKAGER_PLATFORM_ROOT: platformSnapshot(path.join(dir, 'platform')),
      CVP_LOG_LEVEL: 'silent',
    });
  }, 300_000);

  afterAll(async () => {
    await packager?.close();
    await gw?.close();
  });

  const runJob = async (input: Record<string, unknown>): Promise<Job> => {
    const r = await fetch(`${gw.api}/jobs/package`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
    expect(r.status).toBe(202);
    const { id } = (await r.json()) as Job;
    const end = Date.now() + 120_000;
    for (;;) {
      const j = (await (await fetch(`${gw.api}/jobs/${id}`, { headers: auth() })).json()) as Job;
      if (['succeeded', 'failed', 'cancelled'].includes(j.state)) return j;
      if (Date.now() > end) throw new Error(`package job ${id} still ${j.state} after 120 s`);
      await new Promise((res) => setTimeout(res, 200));
    }
  };

  it('a package job succeeds, its row is listed, and the download verifies', async () => {
    const job = await runJob({ modelId, engine: 'ort-node', variant: 'cpu' });
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    const packageId = job.result!.packageId as string;
    expect(job.result).toMatchObject({
      packageId: expect.stringMatching(/^pkg-[0-9a-f]{24}$/),
      downloadUrl: `/api/v1/packages/${packageId}/download`,
      modelId,
      engine: 'ort-node',
    });

    const list = (await (await fetch(`${gw.api}/packages?modelId=${modelId}`, { headers: auth() })).json()) as {
      id: string;
      jobId: string;
    }[];
    expect(list.map((p) => [p.id, p.jobId])).toEqual([[packageId, job.id]]);

    const r = await fetch(`${gw.baseUrl}${job.result!.downloadUrl as string}`, { headers: auth() });
    expect(r.status).toBe(200);
    const bytes = Buffer.from(await r.arrayBuffer());
    expect(r.headers.get('content-length')).toBe(String(bytes.length));
    expect(bytes.equals(readFileSync(path.join(gw.dataDir, job.result!.tarballPath as string)))).toBe(true);
    const tgz = path.join(gw.dataDir, '..', `${packageId}.tar.gz`);
    writeFileSync(tgz, bytes);
    expect(execFileSync('sha256sum', [tgz], { encoding: 'utf8' }).split(' ')[0]).toBe(
      r.headers.get('x-checksum-sha256'),
    );
    const out = path.join(gw.dataDir, '..', `x-${packageId}`);
    mkdirSync(out, { recursive: true });
    execFileSync('tar', ['-xzf', tgz, '-C', out]);
    const check = spawnSync('sha256sum', ['-c', '--strict', '--quiet', 'MANIFEST.sha256'], {
      cwd: path.join(out, `cvp-bundle-${packageId}`),
      encoding: 'utf8',
    });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('engine "selected" without a benchmark fails the job at once with the reason', async () => {
    const job = await runJob({ modelId, engine: 'selected', variant: 'cpu' });
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/engine "selected" needs a benchmark that selected an engine for model/);
  });
});
