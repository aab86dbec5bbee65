import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { JobSucceededHooks } from '@cvp/jobs';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import type { PackageView } from './packages.dto';

/**
 * Gateway packages module against the real gateway (real SQLite, real NATS, real auth): a package
 * job's success goes through JobSucceededHooks exactly as the jobs module runs it.
 */
describe('packages (gateway e2e)', () => {
  let gw: GatewayTestApp;
  const tokens: Record<string, string> = {};
  const auth = (role: string) => ({ authorization: `Bearer ${tokens[role]}` });

  const packageId = `pkg-${'a1'.repeat(12)}`;
  const tarballRel = `packages/${packageId}/cvp-bundle-${packageId}.tar.gz`;
  const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 251));
  const sha256 = createHash('sha256').update(body).digest('hex');
  const result = (over: Record<string, unknown> = {}) => ({
    packageId,
    modelId: 'm-pack',
    modelVersion: 2,
    engine: 'ort-node',
    engineConfig: { engine: 'ort-node', options: {}, modelPath: 'model.onnx' },
    selected: true,
    variant: 'cpu',
    benchmarkId: 'b-1',
    tarballPath: tarballRel,
    bundlePath: `packages/${packageId}/bundle`,
    sha256,
    sizeBytes: body.length,
    fileCount: 12,
    ...over,
  });

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    for (const role of ['admin', 'engineer', 'viewer'] as const) tokens[role] = await gw.login(role);
    mkdirSync(path.join(gw.dataDir, 'packages', packageId), { recursive: true });
    writeFileSync(path.join(gw.dataDir, tarballRel), body);
  });
  afterAll(async () => {
    await gw?.close();
  });

  const complete = (jobId: string, r: Record<string, unknown>) =>
    gw.app
      .get(JobSucceededHooks)
      .run(
        'package',
        { id: jobId, ownerId: gw.userIds.engineer, input: { modelId: 'm-pack', engine: 'selected', variant: 'cpu' } },
        r,
      );

  it('a succeeded package job becomes a row, and its stored result gains the download URL', async () => {
    const merged = await complete('job-p1', result());
    expect(merged).toMatchObject({ packageId, downloadUrl: `/api/v1/packages/${packageId}/download`, sha256 });
    // the same content from another job is the same package (idempotent upsert)
    await complete('job-p2', result());
    const list = (await (await fetch(`${gw.api}/packages`, { headers: auth('viewer') })).json()) as PackageView[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      id: packageId,
      jobId: 'job-p2',
      modelId: 'm-pack',
      modelVersion: 2,
      engine: 'ort-node',
      selected: true,
      variant: 'cpu',
      sizeBytes: body.length,
      sha256,
    });
    const one = await fetch(`${gw.api}/packages/${packageId}`, { headers: auth('engineer') });
    expect(one.status).toBe(200);
  });

  it('refuses results it cannot trust: bad shape, tarball outside packages/, wrong size', async () => {
    await expect(complete('job-bad1', result({ packageId: 'nope' }))).rejects.toThrow(
      /package result rejected: packageId/,
    );
    // `..` is refused by the result contract itself (tarballPath is an artifact key) ...
    await expect(complete('job-bad2', result({ tarballPath: '../../etc/passwd' }))).rejects.toThrow(
      /package result rejected: tarballPath: must be an artifact key/,
    );
    // ... and a key outside packages/ by the gateway.
    await expect(complete('job-bad4', result({ tarballPath: 'models/m1/v1/model.onnx' }))).rejects.toThrow(
      /outside the data dir's packages folder/,
    );
    await expect(complete('job-bad3', result({ sizeBytes: 5 }))).rejects.toThrow(/missing or not 5 bytes/);
  });

  it('streams the tarball with Content-Length and its SHA-256 to every read role', async () => {
    for (const role of ['admin', 'engineer', 'viewer']) {
      const r = await fetch(`${gw.api}/packages/${packageId}/download`, { headers: auth(role) });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/gzip');
      expect(r.headers.get('content-length')).toBe(String(body.length));
      expect(r.headers.get('x-checksum-sha256')).toBe(sha256);
      expect(r.headers.get('repr-digest')).toBe(`sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`);
      expect(r.headers.get('content-disposition')).toBe(`attachment; filename="cvp-bundle-${packageId}.tar.gz"`);
      const got = Buffer.from(await r.arrayBuffer());
      expect(createHash('sha256').update(got).digest('hex')).toBe(sha256);
    }
  });

  it('denies anonymous callers and infer-scoped API keys; unknown ids and lost files are 404 problem+json', async () => {
    expect((await fetch(`${gw.api}/packages/${packageId}/download`)).status).toBe(401);
    expect((await fetch(`${gw.api}/packages`)).status).toBe(401);
    const key = await gw.apiKey('pk-key');
    const withKey = await fetch(`${gw.api}/packages/${packageId}/download`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(withKey.status).toBe(403);
    const missing = await fetch(`${gw.api}/packages/pkg-000000000000000000000000/download`, {
      headers: auth('viewer'),
    });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/problem\+json/);
    rmSync(path.join(gw.dataDir, tarballRel));
    const lost = await fetch(`${gw.api}/packages/${packageId}/download`, { headers: auth('viewer') });
    expect(lost.status).toBe(404);
    expect(((await lost.json()) as { detail: string }).detail).toMatch(/no longer in the data dir/);
    const badQuery = await fetch(`${gw.api}/packages?limit=0`, { headers: auth('viewer') });
    expect(badQuery.status).toBe(400);
  });
});
