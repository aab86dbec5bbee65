import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { Artifacts } from './artifacts';
import { InvalidArtifactKeyError } from './errors';
import { LocalArtifactStore } from './local-artifact-store';
import { ObjectStoreArtifactStore } from './object-store-artifact-store';

const write = (file: string, data: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return file;
};

describe('Artifacts: references in payloads, and opening them on another host', () => {
  const root = path.join(process.env.CVP_TEST_DIR!, `artifacts-refs-${randomUUID().slice(0, 8)}`);
  const conns: NatsConnection[] = [];
  const stores: ObjectStoreArtifactStore[] = [];

  async function objectHost(name: string, bucket: string): Promise<Artifacts> {
    const dataDir = path.join(root, name);
    const nc = await connect({ servers: process.env.CVP_NATS_URL, name });
    conns.push(nc);
    const store = await ObjectStoreArtifactStore.open(nc, {
      bucket,
      replicas: 1,
      cacheDir: path.join(dataDir, 'cache', 'artifacts'),
      cacheMaxBytes: 64 * 1024 * 1024,
      timeoutMs: 10_000,
    });
    stores.push(store);
    return new Artifacts(store, dataDir);
  }

  afterAll(async () => {
    for (const s of stores) await s.close();
    for (const nc of conns) await nc.close();
  });

  it('local: references stay the absolute paths payloads always carried; nothing is copied', async () => {
    const dataDir = path.join(root, 'local');
    const a = new Artifacts(new LocalArtifactStore(dataDir), dataDir);
    const file = write(path.join(dataDir, 'models', 'm1', 'v1', 'model.onnx'), 'onnx');
    expect(await a.publishFile(file)).toBe(file);
    expect(await a.publishDir(path.dirname(file))).toBe(path.dirname(file));
    expect(a.refOf('models/m1/v1/model.onnx')).toBe(file);
    expect(a.keyOf(file)).toBe('models/m1/v1/model.onnx');
    expect(await a.stage(file, path.join(root, 'unused'))).toBe(file);
    expect(fs.existsSync(path.join(root, 'unused'))).toBe(false);
    // A path outside the data dir opens where it is (tests and tools hand such paths today).
    const outside = write(path.join(root, 'elsewhere.onnx'), 'x');
    expect(await a.withFile(outside, async (p) => fs.readFileSync(p, 'utf8'))).toBe('x');
    expect(() => a.normalizeRef(outside)).toThrow(InvalidArtifactKeyError);
    expect(() => a.normalizeRef('models/../../etc/passwd')).toThrow(InvalidArtifactKeyError);
    expect(a.normalizeRef('models/m1/v1/model.onnx')).toBe(file);
  });

  it('objectstore: a file and a folder published on host A are opened by key on host B, named like the key when staged', async () => {
    const bucket = `refs-${randomUUID().slice(0, 8)}`;
    const a = await objectHost('a', bucket);
    const b = await objectHost('b', bucket);
    const onnx = write(path.join(a.dataDir, 'models', 'm1', 'v1', 'model.onnx'), 'weights');
    expect(await a.publishFile(onnx)).toBe('models/m1/v1/model.onnx');
    const reportDir = path.join(a.dataDir, 'benchmarks', 'bm-1');
    write(path.join(reportDir, 'report.json'), '{"ok":true}');
    write(path.join(reportDir, 'variants', 'fp16.onnx'), 'half');
    expect(await a.publishDir(reportDir)).toBe('benchmarks/bm-1');

    // Host B has none of these files: it reads them through the bucket into its own cache.
    expect(fs.existsSync(path.join(b.dataDir, 'benchmarks'))).toBe(false);
    expect(
      await b.withFile(b.childRef('benchmarks/bm-1', 'report.json'), async (p) => fs.readFileSync(p, 'utf8')),
    ).toBe('{"ok":true}');
    expect(
      await b.withFile(b.childRef('benchmarks/bm-1', 'variants', 'fp16.onnx'), async (p) => fs.readFileSync(p, 'utf8')),
    ).toBe('half');
    const staged = await b.stage('models/m1/v1/model.onnx', path.join(b.dataDir, 'in'));
    expect(staged).toBe(path.join(b.dataDir, 'in', 'model.onnx'));
    expect(fs.readFileSync(staged, 'utf8')).toBe('weights');
    // An absolute path of host B's own data dir (a row from before keys) is its key there.
    expect(b.normalizeRef(path.join(b.dataDir, 'models', 'm1', 'v1', 'model.onnx'))).toBe('models/m1/v1/model.onnx');
    expect(b.refOfFile(path.join(b.dataDir, 'x', 'y.json'))).toBe('x/y.json');
  });

  it('objectstore: a data set folder (any file names) travels as one tar and is unpacked once per host', async () => {
    const bucket = `tree-${randomUUID().slice(0, 8)}`;
    const a = await objectHost('tree-a', bucket);
    const b = await objectHost('tree-b', bucket);
    const data = path.join(a.dataDir, 'datasets', 'd1', 'data');
    write(path.join(data, 'set', 'data.yaml'), 'names: [cat]');
    write(path.join(data, 'set', 'images', 'train', 'img 1 (copy).jpg'), 'jpeg');
    expect(await a.publishTree(data)).toBe('datasets/d1/data');
    expect(await a.store.stat('datasets/d1/data.tar')).toMatchObject({ key: 'datasets/d1/data.tar' });

    // A reader asks for the sub-folder the registry names; the tar of its parent is found and unpacked.
    const local = await b.stageTree('datasets/d1/data/set');
    expect(local).toBe(path.join(b.dataDir, 'datasets', 'd1', 'data', 'set'));
    expect(fs.readFileSync(path.join(local, 'images', 'train', 'img 1 (copy).jpg'), 'utf8')).toBe('jpeg');
    // Unpacked once: a second stage reuses the tree (a marker written last says it is complete).
    fs.writeFileSync(path.join(local, 'data.yaml'), 'changed here');
    expect(await b.stageTree('datasets/d1/data/set')).toBe(local);
    expect(fs.readFileSync(path.join(local, 'data.yaml'), 'utf8')).toBe('changed here');
    await expect(b.stageTree('datasets/nope/data')).rejects.toThrow(/no published folder/);
  });
});
