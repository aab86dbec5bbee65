import path from 'node:path';
import { BenchmarkEntity, type GatewayTestApp, seedConvertedModel, startGatewayTestApp } from '@cvp/gateway/testing';
import { FIXTURES, type InferenceHarness, startInference } from '@cvp/inference/testing';
import sharp from 'sharp';
import { DataSource } from 'typeorm';

/**
 * Deployments end to end: the real gateway (SQLite, auth, NATS publish) and the real inference
 * service (NATS subscribe, onnxruntime-node) in one process, talking over the jest run's nats-server.
 */
describe('deployments and the inference proxy (gateway + data plane, real NATS)', () => {
  let gw: GatewayTestApp;
  let inf: InferenceHarness;
  let engineer: string;
  let viewer: string;
  let apiKey: string;
  let detModel: string;
  let png: Uint8Array<ArrayBuffer>;

  /** A model row as a finished conversion leaves it, from one of the data plane's ONNX fixtures. */
  const seedModel = (fixture: string, task: 'detect' | 'classify', labels: string[]) =>
    seedConvertedModel(gw, { onnx: path.join(FIXTURES, fixture), task, labels, trained: true });

  const api = (p: string, token: string, init: RequestInit = {}) =>
    fetch(`${gw.api}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  const json = (p: string, token: string, body: unknown) =>
    api(p, token, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  async function waitState(id: string, state: string, timeoutMs = 20000) {
    const until = Date.now() + timeoutMs;
    let last: any = {};
    while (Date.now() < until) {
      last = (await (await api(`/deployments/${id}`, engineer)).json()) as any;
      if (last.state === state) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`deployment ${id} never reached ${state}: ${JSON.stringify(last)}`);
  }

  beforeAll(async () => {
    inf = await startInference({ CVP_INFER_WORKERS: '1', CVP_INFER_QUEUE_CAP: '0' });
    gw = await startGatewayTestApp({ env: { CVP_INFERENCE_URL: inf.url, CVP_INFER_PROXY_TIMEOUT_MS: '20000' } });
    engineer = await gw.login('engineer');
    viewer = await gw.login('viewer');
    apiKey = await gw.apiKey('infer-key');
    detModel = await seedModel('conv_det.onnx', 'detect', ['cat', 'dog', 'bird']);
    png = new Uint8Array(
      await sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 90, g: 160, b: 30 } } })
        .png()
        .toBuffer(),
    );
  });
  afterAll(async () => {
    await gw?.close();
    await inf?.close();
  });

  it('refuses bad deployment requests: roles, validation, unknown model, "selected" without a benchmark', async () => {
    expect((await json('/deployments', viewer, { modelId: detModel, engine: 'ort-node' })).status).toBe(403);
    expect((await json('/deployments', engineer, { modelId: detModel, engine: 'tensorflow' })).status).toBe(400);
    expect((await json('/deployments', engineer, { modelId: detModel, engine: 'ort-node', extra: 1 })).status).toBe(
      400,
    );
    expect((await json('/deployments', engineer, { modelId: 'no-such-model', engine: 'ort-node' })).status).toBe(404);
    const sel = await json('/deployments', engineer, { modelId: detModel, engine: 'selected' });
    expect(sel.status).toBe(409);
    expect(sel.headers.get('content-type')).toContain('application/problem+json');
    expect(((await sel.json()) as any).detail).toMatch(/no benchmark/);
  });

  it('deploys through NATS, reaches ready, and infers through the gateway for users and API keys', async () => {
    const r = await json('/deployments', engineer, { modelId: detModel, engine: 'ort-node', options: { threads: 1 } });
    expect(r.status).toBe(202);
    const dep = (await r.json()) as any;
    expect(dep).toMatchObject({
      modelId: detModel,
      engine: 'ort-node',
      requestedEngine: 'ort-node',
      state: 'loading',
      inferUrl: `/api/v1/models/${detModel}/infer`,
    });
    await waitState(dep.id, 'ready');
    for (const token of [viewer, apiKey]) {
      const res = await api(`/models/${detModel}/infer?conf=0.05`, token, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: png,
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as any;
      expect(body.image).toEqual({ width: 120, height: 80 });
      expect(Array.isArray(body.detections)).toBe(true);
      expect(body.detections[0]).toHaveProperty('label');
    }
    // The same answer as the data plane gives directly: the proxy only streams bytes.
    const direct = (await (
      await fetch(`${inf.url}/v2/models/${detModel}/detect?conf=0.05`, { method: 'POST', body: png })
    ).json()) as any;
    const proxied = (await (
      await api(`/models/${detModel}/infer?conf=0.05`, apiKey, { method: 'POST', body: png })
    ).json()) as any;
    expect(proxied.detections).toEqual(direct.detections);
    expect((await fetch(`${gw.api}/models/${detModel}/infer`, { method: 'POST', body: png })).status).toBe(401);
    const list = (await (await api(`/deployments?modelId=${detModel}`, viewer)).json()) as any;
    expect(list.map((d: { id: string }) => d.id)).toEqual([dep.id]);
  });

  it('a data plane that starts after the gateway with an empty data dir (a rescheduled pod) asks for the active deployments and serves them', async () => {
    const late = await startInference({ CVP_INFER_WORKERS: '1' });
    try {
      let status = 0;
      for (const until = Date.now() + 30_000; status !== 200 && Date.now() < until;) {
        status = (await fetch(`${late.url}/v2/models/${detModel}/ready`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
      const res = await fetch(`${late.url}/v2/models/${detModel}/detect?conf=0.05`, { method: 'POST', body: png });
      expect(res.status).toBe(200);
    } finally {
      await late.close();
    }
  });

  it("passes the data plane's 429 + Retry-After through at once, and 4xx for bad images", async () => {
    // One worker and no queue on the data plane: concurrent large images overflow it.
    const big = new Uint8Array(
      await sharp({
        create: { width: 640, height: 640, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 40 } } as any,
      })
        .png()
        .toBuffer(),
    );
    const answers = await Promise.all(
      Array.from({ length: 12 }, () =>
        api(`/models/${detModel}/infer`, apiKey, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: big,
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    const refused = answers.find((a) => a.status === 429);
    expect(refused).toBeDefined();
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused!.headers.get('content-type')).toContain('application/problem+json');
    const bad = await api(`/models/${detModel}/infer`, apiKey, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new TextEncoder().encode('not an image at all'),
    });
    expect(bad.status).toBe(415);
  });

  it('deploys bench\'s selection with engine "selected"', async () => {
    const clsModel = await seedModel('tiny_cls.onnx', 'classify', ['red', 'green', 'blue']);
    const ds = gw.app.get(DataSource);
    const modelPath = path.join(gw.dataDir, 'models', clsModel, 'v1', 'model.onnx');
    await ds.getRepository(BenchmarkEntity).save({
      id: `bench-${clsModel.slice(0, 8)}`,
      modelId: clsModel,
      modelVersion: 1,
      jobId: `job-${clsModel}`,
      ownerId: gw.userIds.engineer,
      status: 'selected',
      selectedConfig: JSON.stringify({
        engine: 'ort-node',
        options: {
          provider: 'cpu',
          precision: 'fp32',
          graphOptimization: 'basic',
          threads: 1,
          maxBatch: 1,
          instances: 2,
        },
        modelPath,
      }),
      selectedId: 'ort-node-cpu-fp32-basic',
      baselineP50Ms: 1,
      selectedP50Ms: 0.5,
      summary: 'test selection',
      reportDir: path.join(gw.dataDir, 'benchmarks', 'x'),
      createdAt: new Date().toISOString(),
    });
    const r = await json('/deployments', engineer, { modelId: clsModel, engine: 'selected' });
    expect(r.status).toBe(202);
    const dep = (await r.json()) as any;
    expect(dep).toMatchObject({
      requestedEngine: 'selected',
      engine: 'ort-node',
      benchmarkId: `bench-${clsModel.slice(0, 8)}`,
      options: { graphOptimization: 'basic', instances: 2 },
    });
    await waitState(dep.id, 'ready');
    // Bench's model instances travel with the selection to the data plane.
    const meta = (await (await fetch(`${inf.url}/v2/models/${clsModel}`)).json()) as any;
    expect(meta.parameters).toMatchObject({ instances: 2, threads: 1 });
    const jpg = new Uint8Array(
      await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 250, g: 10, b: 10 } } })
        .jpeg()
        .toBuffer(),
    );
    const res = await api(`/models/${clsModel}/infer?top_k=1`, viewer, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: jpg,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).classes[0]).toMatchObject({ class_id: 0, label: 'red' });
  });

  it('a redeploy replaces the previous deployment; undeploy removes it and the proxy answers 404', async () => {
    const first = ((await (await api(`/deployments?modelId=${detModel}`, viewer)).json()) as any)[0];
    const r = await json('/deployments', engineer, {
      modelId: detModel,
      engine: 'ort-node',
      options: { threads: 1, graphOptimization: 'extended' },
    });
    const second = (await r.json()) as any;
    await waitState(second.id, 'ready');
    expect(((await (await api(`/deployments/${first.id}`, viewer)).json()) as any).state).toBe('replaced');
    const del = await api(`/deployments/${second.id}`, engineer, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect(((await del.json()) as any).state).toBe('removing');
    await waitState(second.id, 'removed');
    await new Promise((r2) => setTimeout(r2, 2100)); // the proxy's target cache
    const gone = await api(`/models/${detModel}/infer`, apiKey, { method: 'POST', body: png });
    expect(gone.status).toBe(404);
    expect((await fetch(`${inf.url}/v2/models/${detModel}/ready`)).status).toBe(404);
    expect((await api(`/deployments/${second.id}`, viewer, { method: 'DELETE' })).status).toBe(403);
  });
});
