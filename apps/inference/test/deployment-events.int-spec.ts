import path from 'node:path';
import {
  DeploymentChangedContract,
  type DeploymentStatus,
  DeploymentStatusContract,
  InferenceLookups,
  Subjects,
} from '@cvp/contracts';
import { createLogger, MessageBus } from '@cvp/platform';
import { CpuProfiler } from '../src/profiling/cpu-profiler';
import { FIXTURES, type Harness, startInference } from '../src/testing/inference-harness';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startNatsServer } = require('../../../scripts/lib/nats-server');

const cpu = { provider: 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 } as const;

/**
 * The NATS path end to end: cvp.deployments.changed in, cvp.deployments.status out. This file
 * runs its own nats-server so its events never reach inference apps of other test files.
 */
describe('deployments over NATS (real nats-server)', () => {
  let nats: { url: string; stop: () => Promise<void> };
  let bus: MessageBus;
  let h: Harness | undefined;
  const statuses: DeploymentStatus[] = [];

  beforeAll(async () => {
    nats = await startNatsServer({ storeDir: path.join(process.env.CVP_TEST_DIR!, `nats-deploy-${process.pid}`) });
    bus = new MessageBus({ url: nats.url, name: 'test-gateway', logger: createLogger('test', 'warn') });
    await bus.connect();
    bus.subscribe(DeploymentStatusContract, Subjects.deploymentStatus, (s) => void statuses.push(s));
  });
  afterAll(async () => {
    await h?.close();
    await bus?.close();
    await nats?.stop();
  });

  const waitStatus = async (deploymentId: string, state: DeploymentStatus['state'], timeoutMs = 20000) => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const s = statuses.find((x) => x.deploymentId === deploymentId && x.state === state);
      if (s) return s;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no ${state} status for ${deploymentId}; saw ${JSON.stringify(statuses)}`);
  };
  const publish = (ev: Omit<Parameters<MessageBus['publish']>[2], never>) =>
    bus.publish(DeploymentChangedContract, Subjects.deploymentChanged, ev as never);

  it('loads on a deploy event, reports loading then ready, and readiness follows', async () => {
    h = await startInference({ CVP_NATS_URL: nats.url });
    await new Promise((r) => setTimeout(r, 200)); // subscription in place
    publish({
      action: 'deploy',
      deploymentId: 'd-1',
      modelName: 'mlp',
      config: { engine: 'ort-node', modelPath: path.join(FIXTURES, 'mlp.onnx'), options: cpu },
    });
    await waitStatus('d-1', 'loading');
    await waitStatus('d-1', 'ready');
    expect((await fetch(`${h.url}/v2/models/mlp/ready`)).status).toBe(200);
    expect((await fetch(`${h.url}/v2/health/ready`)).status).toBe(200);
    // the platform's /health/ready carries the same check
    expect((await fetch(`${h.url}/health/ready`)).status).toBe(200);
  });

  it('answers a CPU profile request: the functions of this process that held the CPU while it was sampled', async () => {
    const { subject, request, reply } = InferenceLookups.cpuProfile;
    const busy = setInterval(() => {
      const end = Date.now() + 5;
      while (Date.now() < end); // something to sample on the main thread
    }, 10);
    try {
      const r = await bus.request(request, reply, subject, { durationMs: 400, top: 5 }, 10_000);
      expect(r).toMatchObject({ ok: true, pid: process.pid });
      expect(r.profile!.samples).toBeGreaterThan(50);
      expect(r.profile!.top.length).toBeGreaterThan(0);
      expect(r.profile!.top.length).toBeLessThanOrEqual(5);
      expect(r.profile!.durationMs).toBeGreaterThanOrEqual(300);
      // One profile at a time per process: the profiler itself refuses a second one meanwhile (the
      // subscription hands requests over one by one, so over NATS the second one waits instead).
      const profiler = h!.app.get(CpuProfiler);
      const first = profiler.profile(200, 3);
      await expect(profiler.profile(100, 3)).rejects.toThrow(/already being taken/);
      expect((await first).samples).toBeGreaterThan(0);
    } finally {
      clearInterval(busy);
    }
  });
  it('reports failed for a model that cannot load, and stays ready for the others', async () => {
    publish({
      action: 'deploy',
      deploymentId: 'd-bad',
      modelName: 'broken',
      config: { engine: 'ort-node', modelPath: '/nonexistent/model.onnx', options: cpu },
    });
    const s = await waitStatus('d-bad', 'failed');
    expect(s.error).toBeTruthy();
    expect((await fetch(`${h!.url}/v2/models/broken/ready`)).status).toBe(404);
    expect((await fetch(`${h!.url}/v2/health/ready`)).status).toBe(200);
  });

  it('refuses a GPU engine config on this machine, honestly, instead of silently using the CPU', async () => {
    publish({
      action: 'deploy',
      deploymentId: 'd-gpu',
      modelName: 'gpu',
      config: { engine: 'ort-node', modelPath: path.join(FIXTURES, 'mlp.onnx'), options: { ...cpu, provider: 'cuda' } },
    });
    const s = await waitStatus('d-gpu', 'failed');
    // Where a GPU exists the lease client decides instead; this machine has none.
    expect(s.error).toMatch(/needs an NVIDIA GPU|needs a GPU lease/);
  });

  it('restores the deployed set after a restart, without any event', async () => {
    const dataDir = h!.dataDir;
    await h!.close();
    h = await startInference({ CVP_NATS_URL: nats.url, CVP_DATA_DIR: dataDir });
    const until = Date.now() + 20000;
    while ((await fetch(`${h.url}/v2/health/ready`)).status !== 200 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    expect((await fetch(`${h.url}/v2/models/mlp/ready`)).status).toBe(200);
    // the failed and refused deployments were not kept
    expect(h.repository.list().map((e) => e.name)).toEqual(['mlp']);
    await h.close();
    h = undefined;
  });

  it('unloads on an undeploy event and reports removed', async () => {
    h = await startInference({ CVP_NATS_URL: nats.url });
    await new Promise((r) => setTimeout(r, 200));
    publish({
      action: 'deploy',
      deploymentId: 'd-2',
      modelName: 'cls',
      config: { engine: 'ort-node', modelPath: path.join(FIXTURES, 'tiny_cls.onnx'), options: cpu },
    });
    await waitStatus('d-2', 'ready');
    publish({ action: 'undeploy', deploymentId: 'd-2', modelName: 'cls' });
    await waitStatus('d-2', 'removed');
    expect((await fetch(`${h.url}/v2/models/cls/ready`)).status).toBe(404);
  });
});
