import { randomUUID } from 'node:crypto';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { baseConfigSchema, createLogger, MessageBus, PlatformModule } from '@cvp/platform';
import {
  GPU_LEASE_CLIENT,
  type GpuLeaseClient,
  GpuLeaseModule,
  LeaseRefusedError,
  hostGpuNode,
  LeaseTimeoutError,
  NatsGpuLeaseClient,
} from '@cvp/gpu-lease';
// The lease client (libs/gpu-lease) is tested here, against the real lease service, not a stand-in.
import { GpuLeaseService } from './gpu-lease.service';
import { startLeaseService } from './testing/lease-harness';

const url = process.env.CVP_NATS_URL!;
const logger = createLogger('lease-client-test', 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NatsGpuLeaseClient against the real lease service', () => {
  let service: INestApplicationContext | undefined;
  let bucket: string;
  let bus: MessageBus;
  let client: NatsGpuLeaseClient;
  const view = () => service!.get(GpuLeaseService).view();

  beforeEach(async () => {
    bucket = `LEASE_C_${randomUUID().slice(0, 8)}`;
    service = await startLeaseService({ natsUrl: url, bucket, tokens: 1, waiterStaleMs: 2000 });
    bus = new MessageBus({ url, name: 'client-test', logger });
    await bus.connect();
    client = new NatsGpuLeaseClient(bus, { logger, pollMs: 100, requestTimeoutMs: 300, renewRetryMs: 100 });
  });
  afterEach(async () => {
    await client.close();
    await bus.close();
    await service?.close();
    service = undefined;
  });

  it('renews every ttl/3 so a lease outlives its ttl, and releases idempotently', async () => {
    const l = await client.acquire({ holder: 'renewer', priority: 'train', ttlMs: 600, waitMs: 1000 });
    await sleep(1500);
    expect(l.isHeld()).toBe(true);
    const v = await view();
    expect(v.holders.map((h) => h.id)).toEqual([l.id]);
    expect(v.holders[0].ageMs).toBeGreaterThan(1400);
    expect(client.heldLeases()).toHaveLength(1);
    await expect(
      client.acquire({ holder: 'impatient', priority: 'inference', ttlMs: 600, waitMs: 200 }),
    ).rejects.toBeInstanceOf(LeaseTimeoutError);
    expect((await view()).waiters).toEqual([]);
    await l.release();
    await l.release();
    expect(l.isHeld()).toBe(false);
    expect((await view()).holders).toEqual([]);
  });

  it('keeps a lease through a short service outage, and loses it once the ttl passes without a renew', async () => {
    const l = await client.acquire({ holder: 'outage', priority: 'train', ttlMs: 2500, waitMs: 1000 });
    await service!.close();
    await sleep(400);
    // Back within the ttl: renews get answered again.
    service = await startLeaseService({ natsUrl: url, bucket, tokens: 1 });
    await sleep(2500);
    expect(l.isHeld()).toBe(true);
    expect((await view()).holders.map((h) => h.id)).toEqual([l.id]);
    await service.close();
    const t0 = Date.now();
    const lost = await l.lost;
    expect(lost.reason).toBe('ttl passed without a successful renew');
    expect(Date.now() - t0).toBeLessThan(2600);
    expect(l.isHeld()).toBe(false);
    service = await startLeaseService({ natsUrl: url, bucket, tokens: 1 });
  });

  it('tells a holder whose renewals stop getting through stopMarginMs before the service may hand the token on', async () => {
    const t0 = Date.now();
    const l = await client.acquire({
      holder: 'margin',
      priority: 'train',
      ttlMs: 2500,
      waitMs: 1000,
      stopMarginMs: 1000,
    });
    await service!.close();
    const lost = await l.lost;
    const firedAfter = Date.now() - t0;
    expect(lost.reason).toBe('ttl passed without a successful renew');
    // The service's expiry is ~ttl after t0 (less the grant's own round trip); the holder hears of the
    // loss ~margin before it.
    expect(firedAfter).toBeGreaterThanOrEqual(2500 - 1000 - 300);
    expect(firedAfter).toBeLessThan(2500 - 400);
    expect(l.isHeld()).toBe(false);
    service = await startLeaseService({ natsUrl: url, bucket, tokens: 1 });
  });

  it('waits for a service that is not up yet', async () => {
    await service!.close();
    service = undefined;
    const pending = client.acquire({ holder: 'early', priority: 'inference', ttlMs: 900, waitMs: 10_000 });
    await sleep(500);
    service = await startLeaseService({ natsUrl: url, bucket, tokens: 1 });
    const l = await pending;
    expect(l.isHeld()).toBe(true);
    await l.release();
  });

  it('refuses when the queue is full, withdraws on abort before and during the wait', async () => {
    await service!.close();
    service = await startLeaseService({ natsUrl: url, bucket: `${bucket}_Q`, tokens: 1 });
    const svc = service.get(GpuLeaseService);
    (svc.policy as { maxWaiters: number }).maxWaiters = 1;
    const held = await client.acquire({ holder: 'a', priority: 'train', ttlMs: 900, waitMs: 1000 });
    const waiting = client.acquire({ holder: 'b', priority: 'train', ttlMs: 900, waitMs: 5000 });
    await sleep(200);
    await expect(client.acquire({ holder: 'c', priority: 'train', ttlMs: 900, waitMs: 5000 })).rejects.toBeInstanceOf(
      LeaseRefusedError,
    );
    const ac = new AbortController();
    ac.abort();
    await expect(
      client.acquire({ holder: 'd', priority: 'train', ttlMs: 900, waitMs: 5000, signal: ac.signal }),
    ).rejects.toThrow(/aborted/);
    await held.release();
    const b = await waiting;
    expect(b.holder).toBe('b');
    await b.release();
  });

  it('GpuLeaseModule provides the client to a Nest service and releases its leases on shutdown', async () => {
    // The service's CVP_GPU_NODE names the pool its acquires count against.
    const config = { ...baseConfigSchema.parse({ CVP_NATS_URL: url }), CVP_GPU_NODE: 'gpu-from-config' };
    @Module({
      imports: [
        PlatformModule.forRoot({ serviceName: 'lease-user', config, logger }),
        GpuLeaseModule.forRoot({ pollMs: 100 }),
      ],
    })
    class UserModule {}
    const app = await NestFactory.createApplicationContext(UserModule, { logger: false });
    await app.init();
    const leases = app.get<GpuLeaseClient>(GPU_LEASE_CLIENT);
    expect(app.get(NatsGpuLeaseClient)).toBe(leases);
    const l = await leases.acquire({ holder: 'nest-user', priority: 'bench', ttlMs: 5000, waitMs: 1000 });
    expect(l.node).toBe('gpu-from-config');
    expect((await view()).holders.map((h) => [h.holder, h.node])).toEqual([['nest-user', 'gpu-from-config']]);
    await app.close();
    expect(l.isHeld()).toBe(false);
    expect((await view()).holders).toEqual([]);
  });
});

describe('hostGpuNode', () => {
  it('makes a valid pool name of any host name', () => {
    expect(hostGpuNode('gpu-a.cluster.local')).toBe('gpu-a.cluster.local');
    expect(hostGpuNode('_weird host!')).toBe('weird-host-');
    expect(hostGpuNode('x'.repeat(100))).toHaveLength(63);
    expect(hostGpuNode('')).toBe('localhost');
    expect(hostGpuNode()).toMatch(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}$/);
  });
});
