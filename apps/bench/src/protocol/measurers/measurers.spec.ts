import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tinyIdentityOnnx } from '@cvp/measure/testing';
import type { CandidateConfig } from '../candidate-config';
import { NativeMeasurer } from './native.measurer';
import { OrtNodeMeasurer } from './ort-node.measurer';

describe('candidate measurers', () => {
  const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'bench-measurers-'));
  const model = path.join(dir, 'id.onnx');
  writeFileSync(model, tinyIdentityOnnx(['batch', 3, 8, 8]));
  const config: CandidateConfig = {
    engine: 'ort-node',
    provider: 'cpu',
    variant: 'fp32',
    modelPath: model,
    graphOptimization: 'all',
    threads: 1,
    batch: 2,
  };
  const plan = {
    inputShape: [1, 3, 8, 8],
    batch: 2,
    task: null,
    seed: 0,
    warmup: 1,
    iterations: 3,
    cvThreshold: 1,
    maxAttempts: 1,
  };

  it('ort-node: measures a configuration in a child process, whose peak RSS is the engine alone', async () => {
    const m = new OrtNodeMeasurer({ scratchDir: path.join(dir, 'scratch'), timeoutMs: 60_000 });
    expect(m.unavailableReason).toBeNull();
    const r = await m.measure(config, plan);
    expect(r.latency.iterations).toBe(3);
    expect(r.throughput).toBeGreaterThan(0);
    expect(r.peakRssMb).toBeGreaterThan(10);
    await expect(m.measure({ ...config, modelPath: path.join(dir, 'missing.onnx') }, plan)).rejects.toThrow(
      /missing\.onnx/,
    );
  }, 60_000);

  it('native: says why it cannot measure (disabled, not built) and refuses to', async () => {
    const disabled = new NativeMeasurer({ binary: '/bin/true', enabled: false, rpcTimeoutMs: 1000 });
    expect(disabled.unavailableReason).toBe('native engines disabled (CVP_BENCH_NATIVE=false)');
    const missing = new NativeMeasurer({ binary: path.join(dir, 'cvp-core'), enabled: true, rpcTimeoutMs: 1000 });
    expect(missing.unavailableReason).toMatch(/is not built/);
    await expect(missing.measure({ ...config, engine: 'native' }, plan)).rejects.toThrow(/is not built/);
  });
});
