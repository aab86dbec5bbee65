import path from 'node:path';
import { SharedBufferPool } from '../buffers/shared-buffer-pool';
import type { LoadedModel, Tensor } from './engine';
import { OrtNodeEngine } from './ort-node.engine';

const FIXTURES = path.resolve(__dirname, '../../test/fixtures');

/** y = 2x + 1 over x ["batch", "n"]: an output whose size the model does not declare. */
describe('ort-node outputs with symbolic non-batch dims (free_len.onnx, real ONNX Runtime)', () => {
  const pool = new SharedBufferPool({ maxIdleBytes: 64 << 20, idleMs: 60_000 });
  let model: LoadedModel;
  beforeAll(async () => {
    model = await new OrtNodeEngine({
      imageLimits: { maxBytes: 1 << 20, maxPixels: 1 << 20 },
      queueCap: 8,
      maxQueueDelayUs: 0,
      buffers: pool,
    }).load({
      config: {
        engine: 'ort-node',
        modelPath: path.join(FIXTURES, 'free_len.onnx'),
        options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 },
      },
    } as Parameters<OrtNodeEngine['load']>[0]);
  }, 60_000);
  afterAll(async () => {
    await model?.close();
    pool.close();
  });

  const input = (n: number, seed: number): Tensor => {
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i));
    return { name: 'x', datatype: 'FP32', shape: [1, n], data: Buffer.from(x.buffer) };
  };
  const run = async (n: number, seed: number) => {
    const x = input(n, seed);
    const expected = Array.from(new Float32Array(x.data.buffer, x.data.byteOffset, n), (v) => 2 * v + 1);
    const r = await model.infer([x], undefined, Date.now() + 30_000);
    const out = r.outputs[0];
    const got = Array.from(new Float32Array(out.data.buffer, out.data.byteOffset, out.data.byteLength / 4));
    const shared = pool.slotOf(out.data.buffer) !== undefined;
    r.release?.();
    return { shape: out.shape, got, expected, shared };
  };

  it('answers the first request of a shape in a fresh buffer, then writes later ones into a reused shared slot', async () => {
    const first = await run(4096, 1);
    expect(first.shared).toBe(false);
    expect(first.shape).toEqual([1, 4096]);
    first.got.forEach((v, i) => expect(v).toBeCloseTo(first.expected[i], 5));

    const idleBefore = pool.idleByteCount;
    const second = await run(4096, 2);
    expect(second.shared).toBe(true);
    expect(second.shape).toEqual([1, 4096]);
    expect(second.got).toHaveLength(4096);
    second.got.forEach((v, i) => expect(v).toBeCloseTo(second.expected[i], 5));
    // released slots go back to the pool for the next request
    expect(pool.idleByteCount).toBeGreaterThan(idleBefore);
  });

  it('keeps sizes per input shape: another length is answered right, in its own buffer first', async () => {
    const other = await run(100, 3);
    expect(other.shared).toBe(false);
    expect(other.got).toHaveLength(100);
    other.got.forEach((v, i) => expect(v).toBeCloseTo(other.expected[i], 5));
    const again = await run(100, 4);
    expect(again.shared).toBe(true);
    expect(again.got).toHaveLength(100);
    again.got.forEach((v, i) => expect(v).toBeCloseTo(again.expected[i], 5));
    // and the first shape still uses its learned size
    expect((await run(4096, 5)).shared).toBe(true);
  });
});
