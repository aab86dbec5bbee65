import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PermanentJobError } from '@cvp/jobs';
import { JOB_MARKER, ModelVersionStore } from './model-version-store';

describe('ModelVersionStore', () => {
  let store: ModelVersionStore;
  beforeEach(async () => {
    store = new ModelVersionStore(await fs.mkdtemp(path.join(process.env.CVP_TEST_DIR!, 'store-')));
  });

  it('claims distinct versions for concurrent jobs and never reuses one on disk', async () => {
    const claims = await Promise.all([1, 2, 3, 4].map((i) => store.claim('m1', 1, `job${i}`)));
    expect(claims.map((c) => c.version).sort()).toEqual([1, 2, 3, 4]);
    const next = await store.claim('m1', 2, 'job5');
    expect(next.version).toBe(5);
    const later = await store.claim('m1', 9, 'job6');
    expect(later.version).toBe(9);
  });

  it('commits atomically with a marker that a redelivery finds; abandon leaves nothing', async () => {
    const v = await store.claim('m1', 1, 'jobA');
    await fs.writeFile(path.join(v.tmpDir, 'model.onnx'), 'x');
    expect(store.finalPath(v, path.join(v.tmpDir, 'model.onnx'))).toBe(path.join(v.dir, 'model.onnx'));
    expect(await store.findCommitted('m1', 'jobA')).toBeUndefined();
    await store.commit(v, 'jobA', { version: v.version, ok: true });
    expect(existsSync(path.join(v.dir, 'model.onnx'))).toBe(true);
    expect(existsSync(v.tmpDir)).toBe(false);
    expect(JSON.parse(await fs.readFile(path.join(v.dir, JOB_MARKER), 'utf8')).jobId).toBe('jobA');
    expect(await store.findCommitted('m1', 'jobA')).toEqual({ version: 1, ok: true });
    expect(await store.findCommitted('m1', 'jobB')).toBeUndefined();

    const w = await store.claim('m1', 1, 'jobB');
    await fs.writeFile(path.join(w.tmpDir, 'partial'), 'x');
    await store.abandon(w);
    expect(existsSync(w.dir) || existsSync(w.tmpDir)).toBe(false);
    await fs.writeFile(path.join(store.modelDir('m1'), 'v1', JOB_MARKER + '.bak'), 'junk');
    expect(await store.findCommitted('missing-model', 'jobA')).toBeUndefined();
  });

  it('refuses ids that would leave the data dir', () => {
    expect(() => store.modelDir('../etc')).toThrow(PermanentJobError);
    expect(() => store.jobDir('a/b')).toThrow(PermanentJobError);
    expect(store.jobDir('job-1')).toBe(path.join(store.dataDir, 'jobs', 'job-1'));
  });
});
