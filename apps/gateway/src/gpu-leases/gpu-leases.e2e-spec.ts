import { randomUUID } from 'node:crypto';
import { createLogger } from '@cvp/platform';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { startLeaseClient } from './testing/lease-harness';

describe('GET/DELETE /api/v1/gpu/leases and lease metrics (real gateway, real NATS)', () => {
  let gw: GatewayTestApp;
  const tokens: Record<string, string> = {};
  const logger = createLogger('lease-e2e', 'silent');

  beforeAll(async () => {
    gw = await startGatewayTestApp({
      env: { CVP_GPU_LEASE_BUCKET: `LEASE_E2E_${randomUUID().slice(0, 8)}`, CVP_GPU_TOKENS: '1' },
    });
    for (const r of ['admin', 'engineer', 'viewer'] as const) tokens[r] = await gw.login(r);
  });
  afterAll(() => gw?.close());

  const call = (method: string, p: string, role: string) =>
    fetch(`${gw.api}${p}`, { method, headers: { authorization: `Bearer ${tokens[role]}` } });

  it('lists holders and waiters with ages for every role, lets only admins force-release, and exports the metrics', async () => {
    const c = await startLeaseClient(process.env.CVP_NATS_URL!, 'e2e-client', logger, 200);
    try {
      const held = await c.client.acquire({ holder: 'bench:job-1', priority: 'bench', ttlMs: 3000, waitMs: 1000 });
      const waiting = c.client.acquire({ holder: 'train:job-2', priority: 'train', ttlMs: 3000, waitMs: 10_000 });
      await new Promise((r) => setTimeout(r, 300));

      for (const role of ['admin', 'engineer', 'viewer']) {
        const r = await call('GET', '/gpu/leases', role);
        expect(r.status).toBe(200);
        const v = (await r.json()) as {
          tokens: number;
          inUse: number;
          pools: Record<string, unknown>[];
          holders: Record<string, unknown>[];
          waiters: Record<string, unknown>[];
        };
        expect(v).toMatchObject({ tokens: 1, inUse: 1 });
        expect(v.pools).toEqual([{ node: 'test-node', tokens: 1, inUse: 1, waiting: 1 }]);
        expect(v.holders).toEqual([
          expect.objectContaining({
            id: held.id,
            holder: 'bench:job-1',
            node: 'test-node',
            priority: 'bench',
            fencingToken: held.fencingToken,
            ageMs: expect.any(Number),
            expiresInMs: expect.any(Number),
          }),
        ]);
        expect(v.waiters).toEqual([
          expect.objectContaining({ holder: 'train:job-2', position: 1, waitingMs: expect.any(Number) }),
        ]);
      }
      expect((await fetch(`${gw.api}/gpu/leases`)).status).toBe(401);

      const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/cvp_gpu_leases_in_use(\{[^}]*\})? 1/);
      expect(metrics).toMatch(/cvp_gpu_lease_queue_depth(\{[^}]*\})? 1/);
      expect(metrics).toContain('cvp_gpu_lease_wait_seconds_bucket');

      expect((await call('DELETE', `/gpu/leases/${held.id}`, 'engineer')).status).toBe(403);
      expect((await call('DELETE', `/gpu/leases/${held.id}`, 'viewer')).status).toBe(403);
      const del = await call('DELETE', `/gpu/leases/${held.id}`, 'admin');
      expect(del.status).toBe(204);
      expect((await held.lost).reason).toMatch(/expired or was released/);
      const next = await waiting;
      expect(next.fencingToken).toBeGreaterThan(held.fencingToken);
      const gone = await call('DELETE', `/gpu/leases/${held.id}`, 'admin');
      expect(gone.status).toBe(404);
      expect(gone.headers.get('content-type')).toContain('application/problem+json');
      await next.release();
    } finally {
      await c.client.close();
      await c.bus.close();
    }
  });
});
