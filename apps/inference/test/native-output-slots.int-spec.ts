import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { NativeCoreClient } from '@cvp/native-client';
import { SharedBufferPool } from '../src/buffers/shared-buffer-pool';
import type { LoadedModel, Tensor } from '../src/engines/engine';
import { NativeEngine } from '../src/engines/native.engine';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { freePort, isPortOpen, waitFor } = require('../../../scripts/lib/ports');

const CORE = path.resolve(__dirname, '../../../native/build/cvp-core');
const FIXTURES = path.resolve(__dirname, 'fixtures');
if (!existsSync(CORE)) {
  test('the native core is built', () => {
    throw new Error(`${CORE} is not built: run native/scripts/build.sh (the bootstrap does)`);
  });
}
const d = existsSync(CORE) ? describe : describe.skip;

/** The native engine reads outputs from the core's shared memory into the data plane's reused slots. */
d('native engine outputs in reused shared slots (the real C++ core, y = 2x + 1 over ["batch", "n"])', () => {
  let core: ChildProcess;
  let client: NativeCoreClient;
  let model: LoadedModel;
  const pool = new SharedBufferPool({ maxIdleBytes: 64 << 20, idleMs: 60_000 });

  beforeAll(async () => {
    const port = await freePort();
    core = spawn(CORE, ['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn'], { stdio: 'ignore' });
    await waitFor(() => isPortOpen(port), { timeoutMs: 15000, what: 'cvp-core' });
    client = new NativeCoreClient({ address: `127.0.0.1:${port}` });
    model = await new NativeEngine(client, {
      loadTimeoutMs: 60_000,
      queueCap: 16,
      maxQueueDelayUs: 0,
      buffers: pool,
    }).load({
      id: 'free-len',
      config: {
        engine: 'native',
        modelPath: path.join(FIXTURES, 'free_len.onnx'),
        options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 },
      },
    } as Parameters<NativeEngine['load']>[0]);
  }, 60_000);
  afterAll(async () => {
    await model?.close().catch(() => undefined);
    client?.close();
    core?.kill('SIGTERM');
    pool.close();
  });

  const run = async (n: number, seed: number) => {
    const x = Float32Array.from({ length: n }, (_, i) => Math.cos(seed + i));
    const input: Tensor = { name: 'x', datatype: 'FP32', shape: [1, n], data: Buffer.from(x.buffer) };
    const r = await model.infer([input], undefined, Date.now() + 30_000);
    const out = r.outputs[0];
    const got = new Float32Array(out.data.buffer, out.data.byteOffset, out.data.byteLength / 4);
    got.forEach((v, i) => expect(v).toBeCloseTo(2 * x[i] + 1, 5));
    return { r, out, got };
  };

  it('answers right, with outputs in pool slots that go back to the pool on release', async () => {
    await run(50_000, 0); // the first answer of a shape teaches the client its output size
    const idle = pool.idleByteCount;
    const { r, out, got } = await run(50_000, 1);
    expect(got).toHaveLength(50_000);
    expect(out.shape).toEqual([1, 50_000]);
    expect(client.fastPathStats().sharedMemory).toBeGreaterThan(0);
    expect(pool.slotOf(out.data.buffer)).toBeDefined();
    expect(r.release).toBeInstanceOf(Function);
    r.release!();
    expect(pool.idleByteCount).toBeGreaterThan(idle);
    // the next request reuses that slot rather than allocating
    const next = await run(50_000, 2);
    expect(pool.slotOf(next.out.data.buffer)).toBe(pool.slotOf(out.data.buffer));
    next.r.release?.();
  });
});
