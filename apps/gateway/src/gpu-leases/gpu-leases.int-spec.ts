import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import type { Lease } from '@cvp/gpu-lease';
import { createLogger, type MessageBus } from '@cvp/platform';
import type { NatsGpuLeaseClient } from '@cvp/gpu-lease';
import { GpuLeaseService } from './gpu-lease.service';
import { LeaseStore } from './lease-store';
import { startLeaseClient, startLeaseService, watchLeaseTable, type TableMonitor } from './testing/lease-harness';

const url = process.env.CVP_NATS_URL!;
const logger = createLogger('lease-test', 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples, every few ms, how many client-side leases believe they are held. */
function heldSampler(leases: Set<Lease>) {
  let max = 0;
  const t = setInterval(() => {
    let n = 0;
    for (const l of leases) if (l.isHeld()) n++;
    max = Math.max(max, n);
  }, 2);
  return { max: () => max, stop: () => clearInterval(t) };
}

describe('GPU lease service over real NATS (JetStream KV)', () => {
  const clients: { bus: MessageBus; client: NatsGpuLeaseClient }[] = [];
  const apps: INestApplicationContext[] = [];
  const monitors: TableMonitor[] = [];

  afterEach(async () => {
    for (const m of monitors.splice(0)) await m.stop();
    for (const c of clients.splice(0)) {
      await c.client.close();
      await c.bus.close();
    }
    for (const a of apps.splice(0)) await a.close();
  });

  it('20 concurrent acquirers, 3 crash holding a lease: never more than 2 holders, every waiter served, crashed tokens back within ttl + 1 s', async () => {
    const bucket = `LEASE_T1_${randomUUID().slice(0, 8)}`;
    apps.push(await startLeaseService({ natsUrl: url, bucket, sweepMs: 100 }));
    const monitor = await watchLeaseTable(url, bucket, logger);
    monitors.push(monitor);
    const ttlMs = 1500;
    const live = new Set<Lease>();
    const sampler = heldSampler(live);
    const crashers = new Set([3, 9, 15]);
    const crashes: { leaseId: string; at: number }[] = [];
    const served: number[] = [];

    const run = async (i: number) => {
      const c = await startLeaseClient(url, `acquirer-${i}`, logger, 300);
      clients.push(c);
      await sleep(Math.random() * 200);
      const lease = await c.client.acquire({
        holder: `acq-${i}`,
        priority: i % 3 === 0 ? 'bench' : 'train',
        ttlMs,
        waitMs: 60_000,
      });
      live.add(lease);
      served.push(i);
      await sleep(100 + Math.random() * 400);
      if (crashers.has(i)) {
        // A crash: the process stops renewing and never releases; its connection drops.
        (lease as unknown as { abandon(): void }).abandon();
        crashes.push({ leaseId: lease.id, at: Date.now() });
        await c.bus.close();
        return;
      }
      expect(lease.isHeld()).toBe(true);
      await lease.release();
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => run(i)));
    sampler.stop();
    await sleep(300);

    expect(served.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(sampler.max()).toBeLessThanOrEqual(2);
    expect(sampler.max()).toBe(2); // the tokens were actually contended
    expect(monitor.maxHolders()).toBeLessThanOrEqual(2);
    expect(monitor.seen.size).toBeGreaterThanOrEqual(20);
    for (const c of crashes) {
      const s = monitor.seen.get(c.leaseId)!;
      expect(s.gone).toBeDefined();
      expect(s.gone! - c.at).toBeLessThanOrEqual(ttlMs + 1000);
    }
    const view = await apps[0].get(GpuLeaseService).view();
    expect(view).toMatchObject({ tokens: 2, inUse: 0, holders: [], waiters: [] });
  });

  it('restarting the lease service while 2 leases are held and 3 waiters queue loses nothing', async () => {
    const bucket = `LEASE_T2_${randomUUID().slice(0, 8)}`;
    apps.push(await startLeaseService({ natsUrl: url, bucket }));
    const monitor = await watchLeaseTable(url, bucket, logger);
    monitors.push(monitor);
    const c = await startLeaseClient(url, 'restart-client', logger, 200);
    clients.push(c);
    const ttlMs = 4000;
    const held = [
      await c.client.acquire({ holder: 'h1', priority: 'train', ttlMs, waitMs: 5000 }),
      await c.client.acquire({ holder: 'h2', priority: 'train', ttlMs, waitMs: 5000 }),
    ];
    const lostEarly: string[] = [];
    for (const l of held) void l.lost.then((r) => lostEarly.push(`${l.holder}: ${r.reason}`));
    const waiters: Promise<Lease>[] = [];
    for (const h of ['w1', 'w2', 'w3']) {
      waiters.push(c.client.acquire({ holder: h, priority: 'train', ttlMs, waitMs: 30_000 }));
      await sleep(50); // fixes the FIFO order
    }
    await sleep(300);
    const before = await apps[0].get(GpuLeaseService).view();
    expect(before.holders.map((h) => h.holder)).toEqual(['h1', 'h2']);
    expect(before.waiters.map((w) => w.holder)).toEqual(['w1', 'w2', 'w3']);

    // Down for a while (renews and re-sends get no answer), then back on the same table.
    await apps.pop()!.close();
    await sleep(1500);
    apps.push(await startLeaseService({ natsUrl: url, bucket }));
    await sleep(ttlMs); // longer than a ttl: holders only keep their leases by renewing with the new service

    const after = await apps[0].get(GpuLeaseService).view();
    expect(after.holders.map((h) => [h.id, h.fencingToken])).toEqual(before.holders.map((h) => [h.id, h.fencingToken]));
    expect(after.waiters.map((w) => w.holder)).toEqual(['w1', 'w2', 'w3']);
    expect(lostEarly).toEqual([]);
    expect(held.every((l) => l.isHeld())).toBe(true);

    // The queue drains in order, with fresh (larger) fencing tokens.
    await held[0].release();
    const w1 = await waiters[0];
    expect(w1.holder).toBe('w1');
    await held[1].release();
    const w2 = await waiters[1];
    await w1.release();
    const w3 = await waiters[2];
    expect([w1, w2, w3].map((l) => l.holder)).toEqual(['w1', 'w2', 'w3']);
    expect(Math.min(w1.fencingToken, w2.fencingToken, w3.fencingToken)).toBeGreaterThan(
      Math.max(...held.map((l) => l.fencingToken)),
    );
    expect(w3.fencingToken).toBeGreaterThan(w2.fencingToken);
    await w2.release();
    await w3.release();
    expect(monitor.maxHolders()).toBeLessThanOrEqual(2);
  });

  it('a refused renew (force-release) tells the holder at once; waits time out; aborts withdraw; close releases', async () => {
    const bucket = `LEASE_T3_${randomUUID().slice(0, 8)}`;
    apps.push(await startLeaseService({ natsUrl: url, bucket, tokens: 1 }));
    const svc = apps[0].get(GpuLeaseService);
    const c = await startLeaseClient(url, 'misc-client', logger, 200);
    clients.push(c);
    const a = await c.client.acquire({ holder: 'a', priority: 'bench', ttlMs: 900, waitMs: 1000 });
    await expect(c.client.acquire({ holder: 'b', priority: 'train', ttlMs: 900, waitMs: 400 })).rejects.toThrow(
      /no GPU lease for b within 400 ms/,
    );
    await expect(c.client.acquire({ holder: 'try', priority: 'inference', ttlMs: 900, waitMs: 0 })).rejects.toThrow(
      /within 0 ms/,
    );
    const ac = new AbortController();
    const aborted = c.client.acquire({ holder: 'c', priority: 'train', ttlMs: 900, waitMs: 10_000, signal: ac.signal });
    await sleep(200);
    expect((await svc.view()).waiters.map((w) => w.holder)).toEqual(['c']);
    ac.abort();
    await expect(aborted).rejects.toThrow(/aborted/);
    expect((await svc.view()).waiters).toEqual([]);

    const t0 = Date.now();
    await svc.forceRelease(a.id, 'test');
    const lost = await a.lost;
    expect(lost.reason).toMatch(/expired or was released/);
    expect(Date.now() - t0).toBeLessThan(900);
    expect(a.isHeld()).toBe(false);
    await expect(svc.forceRelease(a.id, 'test')).rejects.toThrow(/no GPU lease/);

    const d = await c.client.acquire({ holder: 'd', priority: 'train', ttlMs: 900, waitMs: 1000 });
    expect(d.fencingToken).toBeGreaterThan(a.fencingToken);
    await c.client.close();
    expect(d.isHeld()).toBe(false);
    expect((await svc.view()).holders).toEqual([]);
    await expect(c.client.acquire({ holder: 'e', priority: 'train', ttlMs: 900, waitMs: 1000 })).rejects.toThrow(
      /closed/,
    );
  });

  it('two lease services on one table at once (old and new gateway overlapping) still never grant more than 2', async () => {
    const bucket = `LEASE_T4_${randomUUID().slice(0, 8)}`;
    apps.push(
      await startLeaseService({ natsUrl: url, bucket, sweepMs: 20 }),
      await startLeaseService({ natsUrl: url, bucket, sweepMs: 20 }),
    );
    const monitor = await watchLeaseTable(url, bucket, logger);
    monitors.push(monitor);
    const live = new Set<Lease>();
    const sampler = heldSampler(live);
    const run = async (i: number) => {
      const c = await startLeaseClient(url, `dual-${i}`, logger, 100);
      clients.push(c);
      for (let k = 0; k < 3; k++) {
        const l = await c.client.acquire({ holder: `dual-${i}-${k}`, priority: 'train', ttlMs: 2000, waitMs: 60_000 });
        live.add(l);
        await sleep(Math.random() * 60);
        await l.release();
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => run(i)));
    sampler.stop();
    expect(monitor.seen.size).toBeGreaterThanOrEqual(24); // more only if a grant expired unclaimed (an overloaded machine)
    expect(monitor.maxHolders()).toBeLessThanOrEqual(2);
    expect(sampler.max()).toBeLessThanOrEqual(2);
    const tokens = [...live].map((l) => l.fencingToken);
    expect(new Set(tokens).size).toBe(24); // no fencing token handed out twice
  });

  it('two gateways granting at once on three nodes with their own pools: no pool ever exceeds its tokens', async () => {
    const bucket = `LEASE_T5_${randomUUID().slice(0, 8)}`;
    // Same pool settings on both (a node's pool size must agree across gateways).
    const pools = { 'gpu-a': 2, 'gpu-b': 1, 'gpu-c': 3 };
    const nodeTokens = 'gpu-b=1,gpu-c=3';
    apps.push(
      await startLeaseService({ natsUrl: url, bucket, sweepMs: 20, nodeTokens }),
      await startLeaseService({ natsUrl: url, bucket, sweepMs: 20, nodeTokens }),
    );
    const monitor = await watchLeaseTable(url, bucket, logger);
    monitors.push(monitor);
    const nodes = Object.keys(pools) as (keyof typeof pools)[];
    const live = Object.fromEntries(nodes.map((n) => [n, new Set<Lease>()])) as Record<string, Set<Lease>>;
    const samplers = Object.fromEntries(nodes.map((n) => [n, heldSampler(live[n])]));
    const fences: number[] = [];
    const perClient = 3;
    const run = async (i: number) => {
      const node = nodes[i % nodes.length];
      const c = await startLeaseClient(url, `pool-${i}`, logger, 100, node);
      clients.push(c);
      for (let k = 0; k < perClient; k++) {
        const l = await c.client.acquire({
          holder: `pool-${i}-${k}`,
          priority: k % 2 ? 'bench' : 'train',
          ttlMs: 2000,
          waitMs: 60_000,
        });
        expect(l.node).toBe(node);
        live[node].add(l);
        fences.push(l.fencingToken);
        await sleep(Math.random() * 60);
        await l.release();
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, i) => run(i)));
    for (const smp of Object.values(samplers)) smp.stop();

    const seenMax = monitor.maxHoldersByNode();
    for (const n of nodes) {
      expect({ node: n, max: seenMax[n] }).toEqual({ node: n, max: expect.any(Number) });
      expect(seenMax[n]).toBeLessThanOrEqual(pools[n]); // watched from the KV table, independently of the service
      expect(samplers[n].max()).toBeLessThanOrEqual(pools[n]); // and from the holders' side
    }
    // The pools were contended and used beyond one token where they have more.
    expect(seenMax['gpu-c']).toBeGreaterThan(1);
    expect(monitor.maxHolders()).toBeGreaterThan(2);
    expect(new Set(fences).size).toBe(12 * perClient);
    // Both gateways decided grants, and their writes raced (each loser decided again on the fresh table).
    const decided = apps.map((a) => a.get(GpuLeaseService).grantsDecided);
    expect(decided.every((d) => d > 0)).toBe(true);
    const conflicts = apps.reduce((n, a) => n + a.get(LeaseStore).casConflicts, 0);
    expect(conflicts).toBeGreaterThan(0);

    const view = await apps[1].get(GpuLeaseService).view();
    expect(view.pools).toEqual(
      nodes
        .map((node) => ({ node, tokens: pools[node], inUse: 0, waiting: 0 }))
        .sort((a, b) => a.node.localeCompare(b.node)),
    );
  });
});
