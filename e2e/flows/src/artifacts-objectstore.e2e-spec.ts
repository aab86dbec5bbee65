/**
 * The model path across hosts without a shared folder: every service runs with its own data dir
 * and CVP_ARTIFACTS=objectstore on the run's nats-server, so each artifact reaches the next
 * service only through the JetStream Object Store bucket and that service's own cache.
 *
 * gateway upload -> trainer-bridge convert -> bench (a quick protocol) -> deploy "selected" and
 * infer on the data plane -> packager bundle -> download through the gateway.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { startBenchWorker } from '@cvp/bench/testing';
import { type GatewayTestApp, startGatewayTestApp, uploadMultipart } from '@cvp/gateway/testing';
import { FIXTURES, type InferenceHarness, startInference } from '@cvp/inference/testing';
import { platformSnapshot, startPackagerWorker } from '@cvp/packager/testing';
import { startTrainerBridge, type TrainerBridgeTestApp } from '@cvp/trainer-bridge/testing';
import { connect } from 'nats';
import sharp from 'sharp';

interface Job {
  id: string;
  state: string;
  result: Record<string, unknown> | null;
  error: string | null;
}

/** Every file under `dir`, relative, with `/` separators. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  walk(dir, '');
  return out;
}

describe('artifacts through the JetStream Object Store: every service on its own data dir, no shared folder', () => {
  const root = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? '/tmp', 'artifacts-flow-'));
  const dirs = {
    gateway: path.join(root, 'gateway'),
    trainer: path.join(root, 'trainer-bridge'),
    bench: path.join(root, 'bench'),
    inference: path.join(root, 'inference'),
    packager: path.join(root, 'packager'),
  };
  // A bucket of this suite's own: nothing published by another suite can satisfy a read here.
  const store = { CVP_ARTIFACTS: 'objectstore', CVP_ARTIFACTS_BUCKET: `flow-${randomUUID().slice(0, 8)}` };
  let gw: GatewayTestApp;
  let trainer: TrainerBridgeTestApp;
  let bench: INestApplication;
  let inf: InferenceHarness;
  let packager: INestApplicationContext;
  let token: string;
  let modelId: string;

  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${gw.api}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  const post = (p: string, body: unknown) =>
    api(p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  async function waitJob(id: string, timeoutMs: number): Promise<Job> {
    const end = Date.now() + timeoutMs;
    let j: Job | undefined;
    for (;;) {
      try {
        j = (await (await api(`/jobs/${id}`)).json()) as Job;
      } catch {
        // A pooled keep-alive socket the busy server closed meanwhile (ECONNRESET): poll again.
      }
      if (j && ['succeeded', 'failed', 'cancelled'].includes(j.state)) return j;
      if (Date.now() > end) throw new Error(`job ${id} still ${j?.state} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  beforeAll(async () => {
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    const platformRoot = platformSnapshot(path.join(root, 'platform'));
    inf = await startInference({ ...store, CVP_DATA_DIR: dirs.inference, CVP_NATS_URL: process.env.CVP_NATS_URL! });
    gw = await startGatewayTestApp({ dataDir: dirs.gateway, env: { ...store, CVP_INFERENCE_URL: inf.url } });
    token = await gw.login('engineer');
    trainer = await startTrainerBridge(dirs.trainer, store);
    // A quick protocol: no python variants, short measurements; steps 6, 8 and 9 deploy scratch
    // candidates on the data plane, which fetches them by key.
    bench = await startBenchWorker(dirs.bench, {
      ...store,
      CVP_INFERENCE_URL: inf.url,
      CVP_BENCH_VARIANTS: '',
      CVP_BENCH_NATIVE: 'false',
      CVP_BENCH_CONCURRENCY: '1',
      CVP_BENCH_STABILITY_USERS: '4',
      CVP_BENCH_STABILITY_SECONDS: '0.3',
      CVP_BENCH_INSTANCE_SECONDS: '0',
      CVP_BENCH_MAP_IMAGES: '0',
    });
    packager = await startPackagerWorker({
      ...store,
      CVP_DATA_DIR: dirs.packager,
      CVP_PACKAGER_PLATFORM_ROOT: platformRoot,
      CVP_LOG_LEVEL: 'silent',
    } as Record<string, string>);
  }, 180_000);

  afterAll(async () => {
    await packager?.close();
    await bench?.close();
    await trainer?.close();
    await gw?.close();
    await inf?.close();
  });

  it('upload -> convert -> bench -> deploy + infer -> package -> download, each service reading only the store', async () => {
    // Upload on the gateway: the source is published from the gateway's data dir.
    const up = await uploadMultipart(
      `${gw.api}/models`,
      token,
      { format: 'onnx', task: 'classify', name: 'store flow', labels: 'red,green,blue' },
      { name: 'tiny_cls.onnx', data: readFileSync(path.join(FIXTURES, 'tiny_cls.onnx')) },
    );
    expect(up.status).toBe(202);
    modelId = (up.body.model as { id: string }).id;

    // Convert on the trainer-bridge: it fetches the source, publishes model.onnx; the row holds keys.
    const convert = await waitJob((up.body.job as { id: string }).id, 120_000);
    expect(convert.error).toBeNull();
    expect(convert.result).toMatchObject({
      onnxPath: `models/${modelId}/v1/model.onnx`,
      sourcePath: `models/${modelId}/v1/source.onnx`,
    });
    expect(existsSync(path.join(dirs.trainer, 'models', modelId, 'v1', 'model.onnx'))).toBe(true);
    expect(existsSync(path.join(dirs.gateway, 'models', modelId, 'v1', 'model.onnx'))).toBe(false);

    // Bench on its own host: the ONNX comes from the store; the report dir goes back into it.
    const b = await post('/jobs/bench', {
      modelId,
      constraints: { maxP95Ms: 10_000, maxAccuracyDrop: 0.05 },
      whenAccuracyNotAssessable: 'accept',
    });
    expect(b.status).toBe(202);
    const benchJob = await waitJob(((await b.json()) as { id: string }).id, 150_000);
    expect(benchJob.error).toBeNull();
    const benchmarkId = String(benchJob.result!.benchmarkId);
    expect(benchJob.result).toMatchObject({ status: 'selected', reportDir: `benchmarks/${benchmarkId}` });
    expect((benchJob.result!.selected as { modelPath: string }).modelPath).toBe(`models/${modelId}/v1/model.onnx`);
    // The gateway serves the report from the store: it never had the file.
    expect(existsSync(path.join(dirs.gateway, 'benchmarks', benchmarkId))).toBe(false);
    const report = await api(`/benchmarks/${benchmarkId}/report?view=technical&format=json`);
    expect(report.status).toBe(200);
    const technical = (await report.json()) as {
      model: { id: string; path: string };
      steps: { step: number; status: string; reasons: string[] }[];
    };
    expect(technical.model).toMatchObject({ id: modelId, path: `models/${modelId}/v1/model.onnx` });
    // Step 8 served the candidates through the data plane on its own data dir (it fetched them by key).
    expect(technical.steps[7]).toMatchObject({ step: 8, status: 'done' });

    // Deploy bench's choice: the data plane fetches the ONNX into its cache and serves it.
    const dep = await post('/deployments', { modelId, engine: 'selected' });
    expect(dep.status).toBe(202);
    const depId = ((await dep.json()) as { id: string }).id;
    const until = Date.now() + 60_000;
    let state = '';
    while (Date.now() < until && state !== 'ready' && state !== 'failed') {
      state = ((await (await api(`/deployments/${depId}`)).json()) as { state: string }).state;
      if (state !== 'ready') await new Promise((r) => setTimeout(r, 100));
    }
    expect(state).toBe('ready');
    const green = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 0, g: 255, b: 0 } } })
      .png()
      .toBuffer();
    const inferred = await api(`/models/${modelId}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(green),
    });
    expect(inferred.status).toBe(200);
    expect(JSON.stringify(await inferred.json())).toContain('green');
    expect(filesUnder(path.join(dirs.inference, 'cache', 'artifacts')).some((f) => f.startsWith('sha256/'))).toBe(true);

    // Package on its own host, download through the gateway (which fetches the tarball).
    const p = await post('/jobs/package', { modelId, engine: 'selected', variant: 'cpu' });
    expect(p.status).toBe(202);
    const pkg = await waitJob(((await p.json()) as { id: string }).id, 120_000);
    expect(pkg.error).toBeNull();
    const tarballPath = String(pkg.result!.tarballPath);
    expect(existsSync(path.join(dirs.gateway, tarballPath))).toBe(false);
    const dl = await fetch(`${gw.baseUrl}${String(pkg.result!.downloadUrl)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(dl.status).toBe(200);
    const bytes = Buffer.from(await dl.arrayBuffer());
    expect(bytes.equals(readFileSync(path.join(dirs.packager, tarballPath)))).toBe(true);
    const tgz = path.join(root, 'bundle.tar.gz');
    writeFileSync(tgz, bytes);
    expect(execFileSync('sha256sum', [tgz], { encoding: 'utf8' }).split(' ')[0]).toBe(
      dl.headers.get('x-checksum-sha256'),
    );
    const out = path.join(root, 'bundle');
    mkdirSync(out, { recursive: true });
    execFileSync('tar', ['-xzf', tgz, '-C', out]);
    const bundle = path.join(out, `cvp-bundle-${String(pkg.result!.packageId)}`);
    const check = spawnSync('sha256sum', ['-c', '--strict', '--quiet', 'MANIFEST.sha256'], {
      cwd: bundle,
      encoding: 'utf8',
    });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
    // The bundle carries the model the trainer-bridge made and the report bench wrote, byte for byte.
    expect(
      readFileSync(path.join(bundle, 'model', 'model.onnx')).equals(
        readFileSync(path.join(dirs.trainer, 'models', modelId, 'v1', 'model.onnx')),
      ),
    ).toBe(true);
    expect(existsSync(path.join(bundle, 'reports', 'decision.json'))).toBe(true);

    // No service holds another's files: each wrote only under its own data dir.
    expect(filesUnder(path.join(dirs.bench, 'models'))).toEqual([]);
    expect(filesUnder(path.join(dirs.packager, 'benchmarks'))).toEqual([]);

    // Deleting the package and the model takes their objects out of the bucket, and nothing else.
    const packageId = String(pkg.result!.packageId);
    const bucketKeys = async () => {
      const nc = await connect({ servers: process.env.CVP_NATS_URL! });
      try {
        const os = await nc.jetstream().views.os(store.CVP_ARTIFACTS_BUCKET);
        return (await os.list()).filter((i) => !i.deleted).map((i) => i.name);
      } finally {
        await nc.close();
      }
    };
    const before = await bucketKeys();
    const owned = (k: string) => k.startsWith(`models/${modelId}/`) || k.startsWith(`packages/${packageId}/`);
    expect(before.filter(owned).length).toBeGreaterThanOrEqual(2);
    expect((await api(`/packages/${packageId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/models/${modelId}`, { method: 'DELETE' })).status).toBe(204);
    expect(await bucketKeys()).toEqual(before.filter((k) => !owned(k)));
  }, 420_000);
});
