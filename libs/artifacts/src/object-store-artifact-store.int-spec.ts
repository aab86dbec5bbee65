import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { artifactsConfigSchema, createArtifactStore } from './config';
import {
  ArtifactChangedError,
  ArtifactCorruptError,
  ArtifactError,
  ArtifactNotFoundError,
  ArtifactTimeoutError,
} from './errors';
import { ObjectStoreArtifactStore } from './object-store-artifact-store';

// The shared start-up helper of the repository's scripts (plain JS, outside the Nx graph).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startNatsServer } = require('../../../scripts/lib/nats-server') as {
  startNatsServer(o: { storeDir: string }): Promise<{ url: string; stop(): Promise<void> }>;
};

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One "host": its own data dir, cache dir and NATS connection. */
interface Host {
  dataDir: string;
  nc: NatsConnection;
  store: ObjectStoreArtifactStore;
}

describe('ObjectStoreArtifactStore against a real nats-server with JetStream', () => {
  const root = path.join(process.env.CVP_TEST_DIR!, `objectstore-${randomUUID().slice(0, 8)}`);
  const hosts: Host[] = [];
  let bucket: string;

  async function host(
    name: string,
    cacheMaxBytes = 64 * 1024 * 1024,
    extra: { flushEveryBytes?: number } = {},
  ): Promise<Host> {
    const dataDir = path.join(root, bucket, name);
    fs.mkdirSync(dataDir, { recursive: true });
    const nc = await connect({ servers: process.env.CVP_NATS_URL, name });
    const store = await ObjectStoreArtifactStore.open(nc, {
      bucket,
      replicas: 1,
      cacheDir: path.join(dataDir, 'cache', 'artifacts'),
      cacheMaxBytes,
      timeoutMs: 10_000,
      chunkBytes: 64 * 1024,
      ...extra,
    });
    const h = { dataDir, nc, store };
    hosts.push(h);
    return h;
  }

  /** Writes `data` at `key` under the host's data dir, as a service would, and returns the path. */
  function writeArtifact(h: Host, key: string, data: Buffer): string {
    const file = path.join(h.dataDir, ...key.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
    return file;
  }

  beforeEach(() => {
    bucket = `t-${randomUUID().slice(0, 8)}`;
  });
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.nc.close();
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('moves a file written on host A to host B, chunked, verified, with no shared directory', async () => {
    const a = await host('a');
    const b = await host('b');
    const data = randomBytes(1024 * 1024 + 123); // 17 chunks of 64 KiB
    const key = 'models/m1/model.onnx';
    const info = await a.store.publish(key, writeArtifact(a, key, data));
    expect(info).toEqual({ key, size: data.length, sha256: sha(data) });

    // Stored in the Object Store's own format: the nats client reads it and checks its digest.
    const viaClient = await b.nc
      .jetstream()
      .views.os(bucket)
      .then((os) => os.getBlob(key));
    expect(Buffer.from(viaClient!).equals(data)).toBe(true);

    const lease = await b.store.materialize(key);
    expect(lease.path.startsWith(b.dataDir)).toBe(true);
    expect(fs.readFileSync(lease.path).equals(data)).toBe(true);
    expect(lease.sha256).toBe(sha(data));
    lease.release();
    expect(b.store.cache.stats()).toMatchObject({ fills: 1, entries: 1 });
    // The writer's host already holds it (hard link at publish): no download there.
    const own = await a.store.materialize(key);
    expect(fs.readFileSync(own.path).equals(data)).toBe(true);
    own.release();
    expect(a.store.cache.stats().fills).toBe(0);
  });

  it('fetches once for concurrent gets of one key', async () => {
    const a = await host('a');
    const b = await host('b');
    const data = randomBytes(512 * 1024);
    await a.store.publish('variants/v1/model.onnx', writeArtifact(a, 'variants/v1/model.onnx', data));
    const leases = await Promise.all(Array.from({ length: 10 }, () => b.store.materialize('variants/v1/model.onnx')));
    expect(new Set(leases.map((l) => l.path)).size).toBe(1);
    expect(b.store.cache.stats()).toMatchObject({ fills: 1, pinned: 1 });
    for (const l of leases) l.release();
    expect(b.store.cache.stats().pinned).toBe(0);
  });

  it('detects a corrupted chunk in the store and keeps nothing of it', async () => {
    const a = await host('a');
    const b = await host('b');
    const data = randomBytes(300 * 1024);
    const key = 'bundles/b1/bundle.tar';
    await a.store.publish(key, writeArtifact(a, key, data));

    // Flip one byte of the last chunk, as a bad disk or a buggy writer would.
    const jsm = await a.nc.jetstreamManager();
    const objInfo = await a.nc
      .jetstream()
      .views.os(bucket)
      .then((os) => os.info(key));
    const stream = `OBJ_${bucket}`;
    const subj = `$O.${bucket}.C.${objInfo!.nuid}`;
    const last = await jsm.streams.getMessage(stream, { last_by_subj: subj });
    const bad = Uint8Array.from(last.data);
    bad[0] ^= 0xff;
    await jsm.streams.deleteMessage(stream, last.seq);
    await a.nc.jetstream().publish(subj, bad);

    await expect(b.store.materialize(key)).rejects.toBeInstanceOf(ArtifactCorruptError);
    const stats = b.store.cache.stats();
    expect(stats).toMatchObject({ entries: 0, bytes: 0, fills: 0 });
    expect(fs.readdirSync(b.store.cache.tmpDir)).toEqual([]);
    // A second try fails the same way (nothing half-written was cached).
    await expect(b.store.materialize(key)).rejects.toBeInstanceOf(ArtifactCorruptError);
  });

  it('detects a chunk missing from the store at once, without waiting for a timeout', async () => {
    const a = await host('a');
    const b = await host('b');
    const key = 'variants/v2/model.onnx';
    await a.store.publish(key, writeArtifact(a, key, randomBytes(200 * 1024)));
    const jsm = await a.nc.jetstreamManager();
    const objInfo = await a.nc
      .jetstream()
      .views.os(bucket)
      .then((os) => os.info(key));
    const first = await jsm.streams.getMessage(`OBJ_${bucket}`, { last_by_subj: `$O.${bucket}.C.${objInfo!.nuid}` });
    await jsm.streams.deleteMessage(`OBJ_${bucket}`, first.seq);

    const err = await b.store.materialize(key).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactCorruptError);
    expect(String(err)).toMatch(/holds 3 of 4 chunks/);
    expect(b.store.cache.stats().entries).toBe(0);
  });

  it('evicts the least recently used artifact past the cache cap, never one in use', async () => {
    const a = await host('a');
    const b = await host('b', 8 * 1024 * 1024); // room for two of the three 3 MiB files
    const files = [1, 2, 3].map(() => randomBytes(3 * 1024 * 1024));
    for (const [i, d] of files.entries())
      await a.store.publish(`models/m${i}/model.onnx`, writeArtifact(a, `models/m${i}/model.onnx`, d));

    const inUse = await b.store.materialize('models/m0/model.onnx');
    (await b.store.materialize('models/m1/model.onnx')).release();
    (await b.store.materialize('models/m2/model.onnx')).release();
    // m1 was the least recently used file not in use; m0 is held and stays.
    expect(fs.readFileSync(inUse.path).equals(files[0])).toBe(true);
    expect(b.store.cache.has(sha(files[1]))).toBe(false);
    expect(b.store.cache.has(sha(files[2]))).toBe(true);
    expect(b.store.cache.stats()).toMatchObject({ entries: 2, evictions: 1 });
    inUse.release();
    // Fetched again on demand after eviction.
    const again = await b.store.materialize('models/m1/model.onnx');
    expect(fs.readFileSync(again.path).equals(files[1])).toBe(true);
    again.release();
    await b.store.cache.idle();
    expect(b.store.cache.stats().bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
  });

  it('re-publishing identical content uploads nothing; a new content replaces the key', async () => {
    const a = await host('a');
    const b = await host('b');
    const key = 'reports/r1/report.json';
    const file = writeArtifact(a, key, Buffer.from('{"v":1}'));
    const first = await a.store.publish(key, file);
    const os = await a.nc.jetstream().views.os(bucket);
    const rev = (await os.info(key))!.revision;
    expect(await a.store.publish(key, file)).toEqual(first);
    expect((await os.info(key))!.revision).toBe(rev);

    fs.writeFileSync(file, '{"v":2}');
    await a.store.publish(key, file);
    const l = await b.store.materialize(key);
    expect(fs.readFileSync(l.path, 'utf8')).toBe('{"v":2}');
    l.release();
    await a.store.remove(key);
    expect(await b.store.stat(key)).toBeNull();
    await expect(b.store.materialize(key)).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it('refuses a file that changes while it is published and keeps the previous version', async () => {
    // One chunk in flight at a time, so the put is still running when the file changes.
    const a = await host('a', 64 * 1024 * 1024, { flushEveryBytes: 64 * 1024 });
    const b = await host('b');
    const key = 'models/m9/model.onnx';
    const v1 = randomBytes(100 * 1024);
    const file = writeArtifact(a, key, v1);
    await a.store.publish(key, file);
    const jsm = await a.nc.jetstreamManager();
    const stream = `OBJ_${bucket}`;
    const messagesBefore = (await jsm.streams.info(stream)).state.messages;

    fs.writeFileSync(file, randomBytes(8 * 1024 * 1024));
    const publishing = a.store.publish(key, file).catch((e: unknown) => e);
    // Append once the new chunks are arriving (bounded poll).
    for (let i = 0; i < 2000 && (await jsm.streams.info(stream)).state.messages < messagesBefore + 3; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    fs.appendFileSync(file, 'late bytes');
    expect(await publishing).toBeInstanceOf(ArtifactChangedError);

    // The failed put's chunks are gone and readers still get version 1.
    expect((await jsm.streams.info(stream)).state.messages).toBe(messagesBefore);
    const l = await b.store.materialize(key);
    expect(fs.readFileSync(l.path).equals(v1)).toBe(true);
    l.release();
  });

  it('claims a key for exactly one owner when hosts race, and gives a repeated claim its own answer', async () => {
    const [a, b, c] = [await host('a'), await host('b'), await host('c')];
    const key = 'models/m1/v3';
    const owners = ['job-a', 'job-b', 'job-c'];
    const answers = await Promise.all([a, b, c].map((h, i) => h.store.claim(key, owners[i])));
    // Every host sees the same single winner, one of the racers.
    expect(new Set(answers).size).toBe(1);
    expect(owners).toContain(answers[0]);
    const winner = answers[0];
    // A redelivered job claiming again on another host keeps its claim; a loser still loses.
    expect(await c.store.claim(key, winner)).toBe(winner);
    expect(await a.store.claim(key, 'job-late')).toBe(winner);
    expect(await a.store.claim('models/m1/v4', 'job-late')).toBe('job-late');
    await expect(a.store.claim('../v1', 'x')).rejects.toThrow();
  });

  it('removes a folder: its artifacts, its tree tar and its claims, nothing beside it, and only folders of two segments', async () => {
    const a = await host('a');
    const b = await host('b');
    const keys = {
      gone: ['models/m1/v1/model.onnx', 'models/m1/v2/model.onnx', 'models/m1.tar'],
      kept: ['models/m10/v1/model.onnx', 'models/m1x.tar', 'datasets/m1/data.tar'],
    };
    for (const k of [...keys.gone, ...keys.kept]) await a.store.publish(k, writeArtifact(a, k, randomBytes(1000)));
    await a.store.claim('models/m1/v3', 'job-1');
    await a.store.claim('models/m10/v2', 'job-2');
    await b.store.removeTree('models/m1');
    for (const k of keys.gone) expect(await a.store.stat(k)).toBeNull();
    for (const k of keys.kept) expect(await a.store.stat(k)).not.toBeNull();
    // The claim went with the folder (a new claimant wins it); the sibling's stays.
    expect(await a.store.claim('models/m1/v3', 'job-3')).toBe('job-3');
    expect(await a.store.claim('models/m10/v2', 'job-3')).toBe('job-2');
    await b.store.removeTree('models/m1'); // again: nothing left to remove, no error
    await expect(b.store.removeTree('models')).rejects.toThrow(/two segments/);
    await expect(b.store.removeTree('models/../x')).rejects.toThrow();
  });

  it('handles an empty file', async () => {
    const a = await host('a');
    const b = await host('b');
    await a.store.publish('reports/empty/log.txt', writeArtifact(a, 'reports/empty/log.txt', Buffer.alloc(0)));
    const l = await b.store.materialize('reports/empty/log.txt');
    expect(fs.statSync(l.path).size).toBe(0);
    l.release();
  });

  it('is chosen by config and refuses a bucket with other replicas at start-up', async () => {
    const a = await host('a');
    const cfg = artifactsConfigSchema.parse({ CVP_ARTIFACTS: 'objectstore', CVP_ARTIFACTS_BUCKET: bucket });
    const store = await createArtifactStore({ ...cfg, CVP_DATA_DIR: a.dataDir }, a.nc);
    expect(store.kind).toBe('objectstore');
    expect((store as ObjectStoreArtifactStore).cache.dir).toBe(path.join(a.dataDir, 'cache', 'artifacts'));
    await expect(
      createArtifactStore({ ...cfg, CVP_ARTIFACTS_REPLICAS: 3, CVP_DATA_DIR: a.dataDir }, a.nc),
    ).rejects.toThrow(/exists with 1 replica/);
  });

  it('bounds every wait: a get with the server gone fails with a timeout instead of hanging', async () => {
    const own = await startNatsServer({ storeDir: path.join(root, 'own-nats') });
    const nc = await connect({ servers: own.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    try {
      const store = await ObjectStoreArtifactStore.open(nc, {
        bucket,
        replicas: 1,
        cacheDir: path.join(root, 'own-cache'),
        cacheMaxBytes: 1 << 24,
        timeoutMs: 1500,
      });
      await own.stop();
      const err = await store.materialize('models/x/model.onnx').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArtifactError);
      expect(err).toBeInstanceOf(ArtifactTimeoutError);
    } finally {
      await nc.close();
      await own.stop();
    }
  });
});
