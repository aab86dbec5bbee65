import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Artifacts, ObjectStoreArtifactStore } from '@cvp/artifacts';
import { connect, type NatsConnection } from 'nats';
import { ModelVersionStore } from './model-version-store';

/**
 * Two trainer-bridge hosts: each its own data dir and NATS connection, one artifact bucket on the
 * real nats-server of the test run, and no folder in common.
 */
describe('ModelVersionStore on two hosts sharing an artifact store', () => {
  const conns: NatsConnection[] = [];
  const bucket = `versions-${randomUUID().slice(0, 8)}`;

  async function host(name: string): Promise<ModelVersionStore> {
    const dataDir = await fs.mkdtemp(path.join(process.env.CVP_TEST_DIR!, `host-${name}-`));
    const nc = await connect({ servers: process.env.CVP_NATS_URL, name });
    conns.push(nc);
    const store = await ObjectStoreArtifactStore.open(nc, {
      bucket,
      replicas: 1,
      cacheDir: path.join(dataDir, 'cache', 'artifacts'),
      cacheMaxBytes: 64 * 1024 * 1024,
      timeoutMs: 10_000,
    });
    return new ModelVersionStore(dataDir, new Artifacts(store, dataDir));
  }
  afterAll(async () => {
    for (const nc of conns) await nc.close();
  });

  it('never gives one version number to two jobs on different hosts; a redelivered job gets its own number back', async () => {
    const [a, b] = [await host('a'), await host('b')];
    // Neither host sees the other's folders, so both start from v1 on their own disk.
    const claims = await Promise.all([
      ...[1, 2, 3].map((i) => a.claim('m1', 1, `a${i}`)),
      ...[1, 2, 3].map((i) => b.claim('m1', 1, `b${i}`)),
    ]);
    expect(claims.map((c) => c.version).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);

    // Job a1 dies on host A before committing; its redelivery on host B takes a1's number again.
    const a1 = claims[0];
    await a.abandon(a1);
    const again = await b.claim('m1', 1, 'a1');
    expect(again.version).toBe(a1.version);
    expect((await b.claim('m1', 1, 'b4')).version).toBe(7);
  });
});
