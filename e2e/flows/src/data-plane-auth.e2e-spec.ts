/**
 * Data plane authentication: the real inference service with credentials required, checked by
 * the real gateway over the run's nats-server (cvp.auth.verify). No key and a wrong key are 401
 * before the body is read, API keys of every role and gateway access tokens infer, health stays
 * open, /metrics takes its own token, and Triton's own Python client works with the header.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ScratchDeploymentsPublisher } from '@cvp/bench/testing';
import { type GatewayTestApp, startGatewayTestApp } from '@cvp/gateway/testing';
import { FIXTURES, type InferenceHarness, startInference } from '@cvp/inference/testing';
import { createLogger, MessageBus } from '@cvp/platform';
import { REPO_ROOT } from './support/paths';

const run = promisify(execFile);
const PYTHON = path.join(REPO_ROOT, 'python/.venv/bin/python');
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

describe('data plane authentication (gateway + inference, real NATS)', () => {
  let gw: GatewayTestApp;
  let inf: InferenceHarness;
  const keys: Record<string, string> = {};
  const body = JSON.stringify({
    inputs: [{ name: 'a', shape: [1, 256], datatype: 'FP32', data: new Array(256).fill(0.5) }],
  });
  const infer = (headers: Record<string, string> = {}, payload: string = body) =>
    fetch(`${inf.url}/v2/models/mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: payload,
    });

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    inf = await startInference({ CVP_INFER_AUTH: 'required', CVP_METRICS_TOKEN: METRICS_TOKEN });
    await inf.deploy('mlp', path.join(FIXTURES, 'mlp.onnx'));
    keys.infer = await gw.apiKey('dp-infer');
    keys.viewer = await gw.apiKey('dp-viewer', { role: 'viewer', owner: 'viewer' });
    keys.engineer = await gw.apiKey('dp-engineer', { role: 'engineer', owner: 'engineer' });
  });
  afterAll(async () => {
    await inf?.close();
    await gw?.close();
  });

  it('no credential: 401 problem+json with WWW-Authenticate, before the body is read', async () => {
    const r = await infer();
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await r.json()) as { error: string }).error).toMatch(/missing credential/);
    // A body far beyond the cap is not read: the answer is still 401, not 413.
    expect((await infer({}, 'x'.repeat(80 << 20))).status).toBe(401);
  });

  it('a wrong key, a revoked key and a forged token are 401', async () => {
    expect((await infer({ authorization: 'Bearer cvp_not-a-real-key' })).status).toBe(401);
    expect((await infer({ authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x' })).status).toBe(401);
    const doomed = await gw.apiKey('dp-doomed');
    expect((await infer({ authorization: `Bearer ${doomed}` })).status).toBe(200);
    const admin = await gw.login('admin');
    const list = (await (
      await fetch(`${gw.api}/api-keys?limit=200`, { headers: { authorization: `Bearer ${admin}` } })
    ).json()) as { items: { id: string; name: string }[] };
    const id = list.items.find((k) => k.name === 'dp-doomed')!.id;
    const del = await fetch(`${gw.api}/api-keys/${id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(del.status).toBeLessThan(300);
    // The data plane caches a verdict for at most 30 s: a fresh inference service sees the revocation at once.
    const fresh = await startInference({ CVP_INFER_AUTH: 'required' });
    try {
      await fresh.deploy('mlp', path.join(FIXTURES, 'mlp.onnx'));
      const r = await fetch(`${fresh.url}/v2/models/mlp/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${doomed}` },
        body,
      });
      expect(r.status).toBe(401);
    } finally {
      await fresh.close();
    }
  });

  it('API keys of every role and gateway access tokens infer (200)', async () => {
    for (const role of ['infer', 'viewer', 'engineer'])
      expect([role, (await infer({ authorization: `Bearer ${keys[role]}` })).status]).toEqual([role, 200]);
    const viewerToken = await gw.login('viewer');
    const r = await infer({ authorization: `Bearer ${viewerToken}` });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { outputs: { name: string }[] }).outputs[0].name).toBe('b');
  });

  it('health stays open; metrics need their own token', async () => {
    expect((await fetch(`${inf.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${inf.url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${inf.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${inf.url}/v2/models/mlp`)).status).toBe(401);
    expect((await fetch(`${inf.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${inf.url}/metrics`, { headers: { authorization: `Bearer ${keys.infer}` } })).status).toBe(
      401,
    );
    const m = await fetch(`${inf.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(m.status).toBe(200);
    expect(await m.text()).toMatch(/# TYPE/);
  });

  it("bench's scratch deployment is reached with its own credential, on its own routes only, while it is served", async () => {
    const bus = new MessageBus({
      url: process.env.CVP_NATS_URL!,
      name: 'dp-auth-scratch',
      logger: createLogger('t', 'silent'),
    });
    await bus.connect();
    const publisher = new ScratchDeploymentsPublisher(bus, {
      inferenceUrl: inf.url,
      statusTimeoutMs: 15_000,
      loadTimeoutMs: 60_000,
      removeTimeoutMs: 15_000,
    });
    const scratchInfer = (headers: Record<string, string>) =>
      fetch(`${inf.url}/v2/models/scratch-mlp/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    try {
      // deploy() itself checks /v2/models/scratch-mlp/ready with the credential: it throws on a 401
      const d = await publisher.deploy({
        deploymentId: 'dp-auth-scratch-1',
        modelName: 'scratch-mlp',
        task: null,
        config: {
          engine: 'ort-node',
          modelPath: path.join(FIXTURES, 'mlp.onnx'),
          options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 },
        },
      });
      expect(d.headers.authorization).toMatch(/^Bearer [A-Za-z0-9_-]{43}$/);
      expect((await scratchInfer(d.headers)).status).toBe(200);
      expect((await fetch(`${inf.url}/v2/models/scratch-mlp`, { headers: d.headers })).status).toBe(200);
      // no credential, or another scratch credential: refused
      expect((await scratchInfer({})).status).toBe(401);
      expect((await scratchInfer({ authorization: `Bearer ${'A'.repeat(43)}` })).status).toBe(401);
      // the credential opens nothing but its own model's routes
      expect((await infer(d.headers)).status).toBe(401);
      expect((await fetch(`${inf.url}/v2/models/stats`, { headers: d.headers })).status).toBe(401);
      expect(await publisher.remove(d.deploymentId, d.modelName)).toEqual({ removed: true, reason: null });
      // once the deployment is gone, neither is its credential
      expect((await fetch(`${inf.url}/v2/models/scratch-mlp/ready`, { headers: d.headers })).status).toBe(401);
    } finally {
      await bus.close();
    }
  });

  it('tritonclient works with the Authorization header (and is refused without it)', async () => {
    const script = `
import sys, numpy as np, tritonclient.http as h
from tritonclient.utils import InferenceServerException
c = h.InferenceServerClient(url=sys.argv[1], network_timeout=30.0)
assert c.is_server_live()
x = np.full((1, 256), 0.5, dtype=np.float32)
i = h.InferInput("a", [1, 256], "FP32"); i.set_data_from_numpy(x, binary_data=True)
try:
    c.infer("mlp", [i])
    print("unauthenticated: ok")
except InferenceServerException as e:
    print("unauthenticated: refused", e.status())
r = c.infer("mlp", [i], headers={"Authorization": "Bearer " + sys.argv[2]})
print("authenticated:", r.as_numpy("b").shape)
`;
    const { stdout } = await run(PYTHON, ['-c', script, inf.url.replace('http://', ''), keys.infer]);
    expect(stdout).toMatch(/unauthenticated: refused/);
    expect(stdout).toContain('authenticated: (1, 256)');
  });
});
