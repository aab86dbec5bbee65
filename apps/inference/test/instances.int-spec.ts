import type { OrtNodeModel } from '../src/engines/ort-node.engine';
import { type Harness, startInference } from '../src/testing/inference-harness';

/** Model instances in the ort-node engine: N sessions, each in its own worker thread, serving one model. */
describe('model instances (ort-node)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startInference({ CVP_INFER_WORKERS: '8' });
    await h.deploy('mlp-2x1', 'mlp.onnx', { options: { instances: 2, threads: 1 } });
    await h.deploy('mlp-1', 'mlp.onnx');
  });
  afterAll(() => h?.close());

  const request = (rows: number, seed: number) => {
    const data = new Float32Array(rows * 256).map((_, i) => Math.sin(seed * 13 + i) / 2);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'a', datatype: 'FP32', shape: [rows, 256], parameters: { binary_data_size: data.byteLength } },
        ],
        outputs: [{ name: 'b', parameters: { binary_data: true } }],
      }),
    );
    return {
      headers: { 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, Buffer.from(data.buffer)]),
    };
  };
  const ask = async (model: string, rows: number, seed: number) => {
    const r = await fetch(`${h.url}/v2/models/${model}/infer`, { method: 'POST', ...request(rows, seed) });
    expect(r.status).toBe(200);
    const buf = Buffer.from(await r.arrayBuffer());
    const head = Number(r.headers.get('inference-header-content-length'));
    return new Float32Array(buf.buffer.slice(buf.byteOffset + head, buf.byteOffset + buf.length));
  };

  it('spreads concurrent requests over every instance, with the same answers as one instance', async () => {
    const model = h.repository.get('mlp-2x1')!.model as OrtNodeModel;
    expect(model.instances).toBe(2);
    const meta = await (await fetch(`${h.url}/v2/models/mlp-2x1`)).json();
    expect(meta.parameters).toMatchObject({ instances: 2, threads: 1, max_batch: 1 });
    const before = model.instanceExecutions();
    // Two requests arriving together go to the two idle instances at once, whatever the timing.
    const both = await Promise.all([ask('mlp-2x1', 256, 1), ask('mlp-2x1', 256, 2)]);
    const after = model.instanceExecutions();
    expect(after.map((n, i) => n - before[i])).toEqual([1, 1]);
    const reference = await Promise.all([ask('mlp-1', 256, 1), ask('mlp-1', 256, 2)]);
    both.forEach((out, i) => {
      expect(out.length).toBe(256 * 256);
      expect(Math.max(...out.map((v, k) => Math.abs(v - reference[i][k])))).toBeLessThan(1e-4);
    });
  });
});
