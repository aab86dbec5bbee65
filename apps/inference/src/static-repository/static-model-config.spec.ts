import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { DeploymentChanged } from '@cvp/contracts';
import type { ModelRepository } from '../repository/model-repository.service';
import { readStaticModelConfig, StaticModelConfigError, StaticModelConfigLoader } from './static-model-config';

const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'static-config-'));
const valid = {
  schemaVersion: 1,
  action: 'deploy',
  deploymentId: 'bundle-m1-v1',
  modelName: 'street-cams',
  task: 'detect',
  labels: ['car'],
  config: {
    engine: 'ort-node',
    options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 },
    modelPath: 'model.onnx',
  },
};
const write = (name: string, v: unknown) => {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
  return p;
};

describe('readStaticModelConfig (real files)', () => {
  it('validates the deployment and resolves the model path against the file folder', async () => {
    const file = write('bundle/model/model-config.json', valid);
    const ev = await readStaticModelConfig(file);
    expect(ev.modelName).toBe('street-cams');
    expect(ev.config!.modelPath).toBe(path.join(dir, 'bundle/model/model.onnx'));
    const abs = write('abs.json', { ...valid, config: { ...valid.config, modelPath: '/srv/models/m.onnx' } });
    expect((await readStaticModelConfig(abs)).config!.modelPath).toBe('/srv/models/m.onnx');
  });

  it('names the file and the problem for a missing, oversized, non-JSON, invalid or undeploy config', async () => {
    await expect(readStaticModelConfig(path.join(dir, 'nope.json'))).rejects.toThrow(
      /cannot read model config .*nope\.json/,
    );
    await expect(readStaticModelConfig(dir)).rejects.toThrow(/is not a file/);
    await expect(readStaticModelConfig(write('big.json', 'x'.repeat(1024 * 1024 + 1)))).rejects.toThrow(/larger than/);
    await expect(readStaticModelConfig(write('bad.json', '{nope'))).rejects.toThrow(/bad\.json is invalid/);
    await expect(readStaticModelConfig(write('extra.json', { ...valid, surprise: 1 }))).rejects.toThrow(
      StaticModelConfigError,
    );
    await expect(readStaticModelConfig(write('undeploy.json', { ...valid, action: 'undeploy' }))).rejects.toThrow(
      /must be a "deploy"/,
    );
  });
});

/** In-memory stand-in for ModelRepository: the loader's control flow only (loading real engines is the inference suites' job). */
class RecordingRepository {
  applied: DeploymentChanged[] = [];
  restored = 0;
  constructor(private readonly loads: boolean) {}
  async apply(ev: DeploymentChanged) {
    this.applied.push(ev);
  }
  get(name: string) {
    return this.loads && this.applied.some((e) => e.modelName === name) ? { state: 'ready' } : undefined;
  }
  async restore() {
    this.restored++;
  }
}

describe('StaticModelConfigLoader (in-memory repository stand-in)', () => {
  const log = pino({ level: 'silent' });
  const settle = () => new Promise((r) => setTimeout(r, 20));

  it('applies the deployment at module init, then marks the repository restored', async () => {
    const repo = new RecordingRepository(true);
    const fatal = jest.fn();
    const loader = new StaticModelConfigLoader(
      repo as unknown as ModelRepository,
      write('ok/model-config.json', valid),
      log,
      fatal,
    );
    await loader.onModuleInit();
    await settle();
    expect(repo.applied).toHaveLength(1);
    expect(repo.applied[0].config!.modelPath).toBe(path.join(dir, 'ok/model.onnx'));
    expect(repo.restored).toBe(1);
    expect(fatal).not.toHaveBeenCalled();
  });

  it('reports a model that did not load as fatal, and an invalid file at start-up', async () => {
    const repo = new RecordingRepository(false);
    const fatal = jest.fn();
    await new StaticModelConfigLoader(
      repo as unknown as ModelRepository,
      write('fail/model-config.json', valid),
      log,
      fatal,
    ).onModuleInit();
    await settle();
    expect(fatal).toHaveBeenCalledWith(
      expect.objectContaining({ message: expect.stringMatching(/street-cams .* did not load/) }),
    );
    expect(repo.restored).toBe(0);
    await expect(
      new StaticModelConfigLoader(
        repo as unknown as ModelRepository,
        path.join(dir, 'missing.json'),
        log,
        fatal,
      ).onModuleInit(),
    ).rejects.toThrow(StaticModelConfigError);
  });
});
