import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withArtifact } from './artifact-store';
import { Artifacts } from './artifacts';
import { artifactsConfigSchema, createArtifactStore } from './config';
import { ArtifactError, ArtifactNotFoundError, InvalidArtifactKeyError } from './errors';
import { LocalArtifactStore } from './local-artifact-store';

describe('LocalArtifactStore (single host, today’s data-dir layout)', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'local-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('publishes a file already at its key without copying and materializes it in place', async () => {
    const store = new LocalArtifactStore(dataDir);
    const file = path.join(dataDir, 'models', 'm1', 'model.onnx');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'onnx');
    const ino = fs.statSync(file).ino;
    expect(await store.publish('models/m1/model.onnx', file)).toEqual({ key: 'models/m1/model.onnx', size: 4 });
    expect(fs.statSync(file).ino).toBe(ino);
    const seen = await withArtifact(store, 'models/m1/model.onnx', async (p) => p);
    expect(seen).toBe(file);
  });

  it('copies a file from elsewhere into the data dir via a temp name', async () => {
    const store = new LocalArtifactStore(dataDir);
    const outside = path.join(dataDir, '..', `${path.basename(dataDir)}-src.bin`);
    fs.writeFileSync(outside, 'bytes');
    try {
      await store.publish('reports/r1/report.json', outside);
    } finally {
      fs.rmSync(outside);
    }
    expect(fs.readFileSync(path.join(dataDir, 'reports', 'r1', 'report.json'), 'utf8')).toBe('bytes');
    expect(fs.readdirSync(path.join(dataDir, 'reports', 'r1'))).toEqual(['report.json']);
    await store.remove('reports/r1/report.json');
    expect(await store.stat('reports/r1/report.json')).toBeNull();
  });

  it('removes a folder under the data dir and nothing beside it; a store that fails to is logged by discardTree, not thrown', async () => {
    const store = new LocalArtifactStore(dataDir);
    for (const k of ['models/m1/v1/model.onnx', 'models/m10/v1/model.onnx']) {
      fs.mkdirSync(path.dirname(path.join(dataDir, k)), { recursive: true });
      fs.writeFileSync(path.join(dataDir, k), 'onnx');
    }
    await store.removeTree('models/m1');
    expect(fs.readdirSync(path.join(dataDir, 'models'))).toEqual(['m10']);
    await expect(store.removeTree('models')).rejects.toBeInstanceOf(InvalidArtifactKeyError);
    await expect(store.removeTree('models/../..')).rejects.toBeInstanceOf(InvalidArtifactKeyError);

    const failing = Object.assign(Object.create(store) as LocalArtifactStore, {
      removeTree: () => Promise.reject(new ArtifactError('bucket unreachable', 'models/m10')),
    });
    const warned: unknown[] = [];
    await new Artifacts(failing, dataDir).discardTree('models/m10', { warn: (o: unknown) => void warned.push(o) });
    expect(warned).toEqual([expect.objectContaining({ key: 'models/m10' })]);
  });

  it('answers not-found and invalid keys with their own errors', async () => {
    const store = new LocalArtifactStore(dataDir);
    await expect(store.materialize('models/none.onnx')).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.publish('models/x.onnx', path.join(dataDir, 'missing'))).rejects.toBeInstanceOf(
      ArtifactNotFoundError,
    );
    await expect(store.materialize('../etc/passwd')).rejects.toBeInstanceOf(InvalidArtifactKeyError);
  });
});

describe('artifacts config', () => {
  it('defaults to local, today’s behaviour', async () => {
    const cfg = artifactsConfigSchema.parse({});
    expect(cfg).toMatchObject({
      CVP_ARTIFACTS: 'local',
      CVP_ARTIFACTS_BUCKET: 'cvp-artifacts',
      CVP_ARTIFACTS_REPLICAS: 1,
    });
    const store = await createArtifactStore({ ...cfg, CVP_DATA_DIR: '/tmp/x' });
    expect(store.kind).toBe('local');
  });

  it.each([
    [{ CVP_ARTIFACTS: 's3' }, 'CVP_ARTIFACTS'],
    [{ CVP_ARTIFACTS_REPLICAS: '7' }, 'CVP_ARTIFACTS_REPLICAS'],
    [{ CVP_ARTIFACTS_BUCKET: 'a.b' }, 'CVP_ARTIFACTS_BUCKET'],
    [{ CVP_ARTIFACTS_CACHE_MAX_BYTES: '1k' }, 'CVP_ARTIFACTS_CACHE_MAX_BYTES'],
    [{ CVP_ARTIFACTS_TIMEOUT_MS: '0' }, 'CVP_ARTIFACTS_TIMEOUT_MS'],
  ])('rejects %j naming %s', (env, key) => {
    const r = artifactsConfigSchema.safeParse(env);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path).toEqual([key]);
  });

  it('refuses objectstore without a NATS connection', async () => {
    const cfg = artifactsConfigSchema.parse({ CVP_ARTIFACTS: 'objectstore' });
    await expect(createArtifactStore({ ...cfg, CVP_DATA_DIR: '/tmp/x' })).rejects.toBeInstanceOf(ArtifactError);
  });
});
