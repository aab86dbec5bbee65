import path from 'node:path';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type { DeploymentChanged } from '@cvp/contracts';
import type { GpuLeaseClient, Lease } from '@cvp/gpu-lease';
import { createLogger } from '@cvp/platform';
import type { Engine, LoadedModel } from '../engines/engine';
import { OrtNodeEngine } from '../engines/ort-node.engine';
import { ModelRepository } from './model-repository.service';

const FIXTURES = path.resolve(__dirname, '../../test/fixtures');
const log = createLogger('test', 'silent');
const ort = new OrtNodeEngine({
  imageLimits: { maxBytes: 1 << 20, maxPixels: 1 << 20 },
  queueCap: 8,
  maxQueueDelayUs: 0,
});
const ev = (over: Partial<DeploymentChanged> & { provider?: 'cpu' | 'cuda' } = {}): DeploymentChanged => ({
  schemaVersion: 1,
  action: 'deploy',
  deploymentId: 'd1',
  modelName: 'm',
  config: {
    engine: 'ort-node',
    modelPath: path.join(FIXTURES, 'multi_dtype.onnx'),
    options: { provider: over.provider ?? 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 },
  },
  ...over,
});

/** Stands in for a GPU engine where no GPU exists: it "loads" without touching a device. */
class StubGpuEngine implements Engine {
  readonly id = 'ort-node' as const;
  closed = 0;
  async load(): Promise<LoadedModel> {
    const fail = () => Promise.reject(new Error('stub'));
    return {
      signature: { inputs: [], outputs: [] },
      infer: fail,
      detect: fail,
      classify: fail,
      warmup: async () => undefined,
      close: async () => void this.closed++,
    };
  }
}

/** Stands in for the gateway's GPU lease service, which only matters on a GPU machine. */
function stubLeases() {
  const granted: { released: boolean; lose: (r: string) => void }[] = [];
  const client: GpuLeaseClient = {
    async acquire(opts) {
      let lose!: (v: { reason: string }) => void;
      const lost = new Promise<{ reason: string }>((r) => (lose = r));
      const entry = { released: false, lose: (reason: string) => lose({ reason }) };
      granted.push(entry);
      const lease: Lease = {
        id: `l${granted.length}`,
        fencingToken: granted.length,
        holder: opts.holder,
        node: opts.node ?? 'test-node',
        lost,
        isHeld: () => !entry.released,
        release: async () => void (entry.released = true),
      };
      return lease;
    },
    close: async () => undefined,
  };
  return { client, granted };
}

describe('ModelRepository', () => {
  it('loads, reports statuses, persists the deployed set and swaps a redeploy only once it is ready', async () => {
    const stateFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'repo-')), 'deployments.json');
    const repo = new ModelRepository([ort], { stateFile, loadTimeoutMs: 20000 }, log);
    const statuses: string[] = [];
    repo.onStatus((s) => statuses.push(`${s.deploymentId}:${s.state}`));
    expect(repo.readiness()).toBe('restoring deployments');
    await repo.restore();
    expect(repo.readiness()).toBe(true);
    await repo.apply(ev());
    expect(repo.get('m')?.state).toBe('ready');
    const first = repo.get('m')!;
    first.enter(); // a request in flight on the old model
    const redeploy = repo.apply(ev({ deploymentId: 'd2' }));
    await new Promise((r) => setTimeout(r, 300));
    first.leave();
    await redeploy;
    expect(repo.get('m')?.deploymentId).toBe('d2');
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).map((d: DeploymentChanged) => d.deploymentId)).toEqual(['d2']);
    await repo.apply(ev({ deploymentId: 'd2' })); // redelivery: idempotent
    await repo.apply({ schemaVersion: 1, action: 'undeploy', deploymentId: 'd2', modelName: 'm' });
    expect(repo.get('m')).toBeUndefined();
    expect(statuses).toEqual(['d1:loading', 'd1:ready', 'd2:loading', 'd2:ready', 'd2:ready', 'd2:removed']);
    await repo.apply(ev({ deploymentId: 'd3', config: undefined }));
    expect(statuses.at(-1)).toBe('d3:failed');
    await repo.onApplicationShutdown();
  });

  it("scratch deployments (a benchmark's) are neither persisted nor waited for by readiness", async () => {
    const stateFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'repo-')), 'deployments.json');
    let finishLoad!: () => void;
    const slow: Engine = {
      id: 'ort-node',
      load: async (spec) => {
        await new Promise<void>((r) => (finishLoad = r));
        return ort.load(spec);
      },
    };
    const repo = new ModelRepository([slow], { stateFile, loadTimeoutMs: 20000 }, log);
    await repo.restore();
    const loading = repo.apply(ev({ deploymentId: 'scratch-1', modelName: 'bench-scratch', scratch: true }));
    await new Promise((r) => setTimeout(r, 50));
    expect(repo.readiness()).toBe(true); // a scratch model loading leaves the data plane ready
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toEqual([]);
    finishLoad();
    await loading;
    expect(repo.get('bench-scratch')?.scratch).toBe(true);
    const regular = repo.apply(ev({ deploymentId: 'd9', modelName: 'served' }));
    await new Promise((r) => setTimeout(r, 50));
    expect(repo.readiness()).toBe('loading: served'); // a regular one still gates readiness
    finishLoad();
    await regular;
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).map((d: DeploymentChanged) => d.deploymentId)).toEqual(['d9']);
    await repo.onApplicationShutdown();
  });

  it('refuses a GPU provider where no GPU is present (this machine), with the reason', async () => {
    const repo = new ModelRepository([ort], { loadTimeoutMs: 5000, gpuPresent: () => false }, log);
    const errors: string[] = [];
    repo.onStatus((s) => s.error && errors.push(s.error));
    await repo.apply(ev({ provider: 'cuda' }));
    expect(errors[0]).toMatch(/needs an NVIDIA GPU/);
    const noClient = new ModelRepository([ort], { loadTimeoutMs: 5000, gpuPresent: () => true }, log);
    noClient.onStatus((s) => s.error && errors.push(s.error));
    await noClient.apply(ev({ provider: 'cuda' }));
    expect(errors[1]).toMatch(/no lease client/);
  });

  it('holds one GPU lease per loaded instance and unloads when the lease is lost (GPU simulated: stub engine and lease client)', async () => {
    const engine = new StubGpuEngine();
    const leases = stubLeases();
    const repo = new ModelRepository([engine], { loadTimeoutMs: 5000, gpuPresent: () => true }, log, leases.client);
    const statuses: string[] = [];
    repo.onStatus((s) => statuses.push(`${s.state}${s.error ? `:${s.error}` : ''}`));
    await repo.apply(ev({ provider: 'cuda' }));
    expect(repo.get('m')?.state).toBe('ready');
    expect(leases.granted).toHaveLength(1);
    leases.granted[0].lose('not renewed');
    await new Promise((r) => setTimeout(r, 50));
    expect(repo.get('m')).toBeUndefined();
    expect(statuses.at(-1)).toBe('failed:GPU lease lost: not renewed');
    expect(leases.granted[0].released).toBe(true);
    expect(engine.closed).toBe(1);
  });

  it('releases the lease when a GPU load fails, and reports unknown engines', async () => {
    const leases = stubLeases();
    const repo = new ModelRepository([ort], { loadTimeoutMs: 5000, gpuPresent: () => true }, log, leases.client);
    const errors: string[] = [];
    repo.onStatus((s) => s.error && errors.push(s.error));
    await repo.apply(
      ev({
        provider: 'cuda',
        config: {
          engine: 'native',
          modelPath: 'x.onnx',
          options: { provider: 'cuda', precision: 'fp32', graphOptimization: 'all', threads: 0, maxBatch: 1 },
        },
      }),
    );
    expect(errors[0]).toMatch(/engine native is not available/);
    expect(leases.granted[0].released).toBe(true);
  });
});
