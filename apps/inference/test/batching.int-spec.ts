import { type Harness, startInference } from '../src/testing/inference-harness';

/** Dynamic batching in the ort-node engine: concurrent rows stacked into one run, answers split back. */
describe('dynamic batching (ort-node, maxBatch > 1, symbolic batch axis)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startInference({ CVP_INFER_WORKERS: '16', CVP_INFER_BATCH_DELAY_US: '20000' });
    await h.deploy('mlp-b', 'mlp.onnx', { options: { maxBatch: 8 } });
    await h.deploy('mlp-1', 'mlp.onnx');
  });
  afterAll(() => h?.close());

  const body = (seed: number) =>
    JSON.stringify({
      inputs: [
        {
          name: 'a',
          datatype: 'FP32',
          shape: [1, 256],
          data: Array.from({ length: 256 }, (_, i) => Math.sin(seed * 7 + i) / 2),
        },
      ],
    });
  const ask = async (model: string, seed: number) => {
    const r = await fetch(`${h.url}/v2/models/${model}/infer`, { method: 'POST', body: body(seed) });
    expect(r.status).toBe(200);
    return ((await r.json()) as { outputs: { data: number[]; shape: number[] }[] }).outputs[0];
  };

  it('answers every request with its own rows, equal to unbatched runs, and records batch sizes > 1', async () => {
    const batched = await Promise.all(Array.from({ length: 12 }, (_, i) => ask('mlp-b', i)));
    const single = await Promise.all(Array.from({ length: 12 }, (_, i) => ask('mlp-1', i)));
    batched.forEach((b, i) => {
      expect(b.shape).toEqual([1, 256]);
      b.data.forEach((v, k) => expect(v).toBeCloseTo(single[i].data[k], 4));
    });
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    const le1 = Number(/cvp_inference_batch_size_bucket\{le="1",[^}]*model="mlp-b"[^}]*\} (\d+)/.exec(metrics)?.[1]);
    const count = Number(/cvp_inference_batch_size_count\{[^}]*model="mlp-b"[^}]*\} (\d+)/.exec(metrics)?.[1]);
    expect(count).toBe(12);
    expect(le1).toBeLessThan(12); // some requests ran in a batch of more than one row
    const stats = (await (await fetch(`${h.url}/v2/models/mlp-b/stats`)).json()) as {
      model_stats: { execution_count: number; inference_count: number }[];
    };
    expect(stats.model_stats[0].inference_count).toBe(12);
    expect(stats.model_stats[0].execution_count).toBeLessThan(12);
  });
});
