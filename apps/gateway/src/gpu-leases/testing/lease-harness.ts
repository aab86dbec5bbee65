/**
 * Test and stress harness for the lease service: boots only the lease service (PlatformModule +
 * GpuLeasesModule, no database) on its own NATS connection, makes clients on connections of their
 * own, and watches the KV table independently of both.
 */
import 'reflect-metadata';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NatsGpuLeaseClient } from '@cvp/gpu-lease';
import { baseConfigSchema, createLogger, MessageBus, PlatformModule } from '@cvp/platform';
import type { Logger } from 'pino';
import { gpuLeaseConfigSchema } from '../gpu-leases.config';
import { GpuLeasesModule } from '../gpu-leases.module';
import type { LeaseState } from '../lease-state';

export interface LeaseServiceOptions {
  natsUrl: string;
  bucket: string;
  tokens?: number;
  /** CVP_GPU_NODE_TOKENS, e.g. "gpu-b=1,gpu-c=3". */
  nodeTokens?: string;
  sweepMs?: number;
  waiterStaleMs?: number;
  logLevel?: string;
}

export async function startLeaseService(s: LeaseServiceOptions): Promise<INestApplicationContext> {
  const config = {
    ...baseConfigSchema.parse({ CVP_NATS_URL: s.natsUrl, CVP_LOG_LEVEL: s.logLevel ?? 'silent' }),
    ...gpuLeaseConfigSchema.parse({
      CVP_GPU_LEASE_BUCKET: s.bucket,
      CVP_GPU_TOKENS: s.tokens ?? 2,
      CVP_GPU_NODE_TOKENS: s.nodeTokens ?? '',
      CVP_GPU_LEASE_SWEEP_MS: s.sweepMs ?? 100,
      CVP_GPU_LEASE_WAITER_STALE_MS: s.waiterStaleMs ?? 5000,
    }),
  };
  const logger = createLogger('lease-service', config.CVP_LOG_LEVEL);
  @Module({ imports: [PlatformModule.forRoot({ serviceName: 'lease-service', config, logger }), GpuLeasesModule] })
  class LeaseServiceModule {}
  const app = await NestFactory.createApplicationContext(LeaseServiceModule, { logger: false });
  app.enableShutdownHooks();
  await app.init();
  return app;
}

/** A client with a NATS connection of its own (closing it is what a crashed process looks like to the broker). */
export async function startLeaseClient(
  natsUrl: string,
  name: string,
  logger: Logger,
  pollMs = 300,
  node = 'test-node',
): Promise<{ bus: MessageBus; client: NatsGpuLeaseClient }> {
  const bus = new MessageBus({ url: natsUrl, name, logger });
  await bus.connect();
  return {
    bus,
    client: new NatsGpuLeaseClient(bus, { logger, pollMs, requestTimeoutMs: 1000, renewRetryMs: 100, node }),
  };
}

export interface TableMonitor {
  /** Most holders seen in any revision of the table. */
  maxHolders(): number;
  /** Most holders of each node seen in any revision of the table. */
  maxHoldersByNode(): Record<string, number>;
  /** When each lease id was first and last seen in the table (epoch ms). */
  seen: Map<string, { first: number; gone?: number }>;
  revisions(): number;
  stop(): Promise<void>;
}

/** Watches every write of the lease table from a connection of its own. */
export async function watchLeaseTable(natsUrl: string, bucket: string, logger: Logger): Promise<TableMonitor> {
  const bus = new MessageBus({ url: natsUrl, name: 'lease-monitor', logger });
  await bus.connect();
  const kv = await bus.jetstream().views.kv(bucket, { history: 1 });
  const watch = await kv.watch({ key: 'table' });
  let max = 0;
  let revs = 0;
  const maxByNode: Record<string, number> = {};
  const seen = new Map<string, { first: number; gone?: number }>();
  const done = (async () => {
    for await (const e of watch) {
      if (e.operation !== 'PUT') continue;
      revs++;
      const t = Date.now();
      const s = JSON.parse(new TextDecoder().decode(e.value)) as LeaseState;
      max = Math.max(max, s.holders.length);
      const byNode: Record<string, number> = {};
      for (const h of s.holders) byNode[h.node ?? 'default'] = (byNode[h.node ?? 'default'] ?? 0) + 1;
      for (const [n, c] of Object.entries(byNode)) maxByNode[n] = Math.max(maxByNode[n] ?? 0, c);
      const ids = new Set(s.holders.map((h) => h.leaseId));
      for (const id of ids) if (!seen.has(id)) seen.set(id, { first: t });
      for (const [id, v] of seen) if (!ids.has(id) && v.gone === undefined) v.gone = t;
    }
  })();
  return {
    maxHolders: () => max,
    maxHoldersByNode: () => ({ ...maxByNode }),
    seen,
    revisions: () => revs,
    stop: async () => {
      watch.stop();
      await done.catch(() => undefined);
      await bus.close();
    },
  };
}
