import sharp from 'sharp';
import { type Harness, startInference } from '../src/testing/inference-harness';

/** The KServe v2 surface over real HTTP against real onnxruntime-node sessions on fixture models. */
describe('KServe v2 HTTP (ort-node engine, fixture models)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startInference({ CVP_INFER_WORKERS: '2', CVP_INFER_QUEUE_CAP: '8' });
    await h.deploy('multi', 'multi_dtype.onnx');
    await h.deploy('det', 'conv_det.onnx', { task: 'detect', labels: ['cat', 'dog', 'bird'] });
    await h.deploy('cls', 'tiny_cls.onnx', { task: 'classify', labels: ['red', 'green', 'blue'] });
    await h.deploy('probe', 'size_probe.onnx', { task: 'detect', labels: ['from-record'], aliases: ['probe-alias'] });
  });
  afterAll(() => h?.close());

  it('answers server metadata, live and ready', async () => {
    const meta = await (await fetch(`${h.url}/v2`)).json();
    expect(meta).toMatchObject({ name: 'cvp-inference', extensions: expect.arrayContaining(['binary_tensor_data']) });
    expect((await fetch(`${h.url}/v2/health/live`)).status).toBe(200);
    const ready = await fetch(`${h.url}/v2/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
  });

  it('describes a model with KServe datatypes and -1 for symbolic dims', async () => {
    const r = await fetch(`${h.url}/v2/models/multi`);
    expect(r.status).toBe(200);
    const m = await r.json();
    expect(m.name).toBe('multi');
    expect(m.inputs).toEqual([
      { name: 'x', datatype: 'FP32', shape: [-1, 4] },
      { name: 'k', datatype: 'INT64', shape: [-1, 4] },
    ]);
    expect(m.outputs.map((o: { datatype: string }) => o.datatype)).toEqual(['FP32', 'INT64', 'BOOL', 'FP16']);
    expect((await fetch(`${h.url}/v2/models/multi/ready`)).status).toBe(200);
    expect((await fetch(`${h.url}/v2/models/nope/ready`)).status).toBe(404);
    expect((await fetch(`${h.url}/v2/models/nope`)).status).toBe(404);
  });

  it('infers with JSON tensors (nested data accepted) and answers JSON', async () => {
    const r = await fetch(`${h.url}/v2/models/multi/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'req-1',
        inputs: [
          {
            name: 'x',
            datatype: 'FP32',
            shape: [2, 4],
            data: [
              [1, -2, 3.5, 0],
              [0.25, 5, -1, 2],
            ],
          },
          { name: 'k', datatype: 'INT64', shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] },
        ],
      }),
    });
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.id).toBe('req-1');
    const out = Object.fromEntries(body.outputs.map((o: { name: string }) => [o.name, o]));
    expect(out.y.data).toEqual([3, -3, 8, 1, 1.5, 11, -1, 5]);
    expect(out.kk.data).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(out.pos.data).toEqual([true, false, true, false, true, true, false, true]);
    expect(out.h.data).toEqual([1, -2, 3.5, 0, 0.25, 5, -1, 2]);
    expect(out.y.shape).toEqual([2, 4]);
  });

  it('infers with binary tensors in and out (Inference-Header-Content-Length)', async () => {
    const x = new Float32Array([1, 2, 3, 4]);
    const k = new BigInt64Array([10n, 20n, 30n, 40n]);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } },
          { name: 'k', datatype: 'INT64', shape: [1, 4], parameters: { binary_data_size: 32 } },
        ],
        outputs: [{ name: 'y', parameters: { binary_data: true } }, { name: 'kk' }],
      }),
    );
    const body = Buffer.concat([header, Buffer.from(x.buffer), Buffer.from(k.buffer)]);
    const r = await fetch(`${h.url}/v2/models/multi/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(header.length) },
      body,
    });
    expect(r.status).toBe(200);
    const hl = Number(r.headers.get('inference-header-content-length'));
    const buf = Buffer.from(await r.arrayBuffer());
    const json = JSON.parse(buf.subarray(0, hl).toString());
    expect(json.outputs.map((o: { name: string }) => o.name)).toEqual(['y', 'kk']);
    expect(json.outputs[0].parameters.binary_data_size).toBe(16);
    const y = new Float32Array(buf.buffer.slice(buf.byteOffset + hl, buf.byteOffset + hl + 16));
    expect([...y]).toEqual([3, 5, 7, 9]);
    expect(json.outputs[1].data).toEqual([11, 21, 31, 41]);
  });

  it('refuses malformed requests with 4xx problem+json carrying the KServe error field', async () => {
    const bad = async (body: string | Buffer, headers: Record<string, string> = {}) => {
      const r = await fetch(`${h.url}/v2/models/multi/infer`, { method: 'POST', headers, body });
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      const j = await r.json();
      expect(j.error).toBe(j.detail);
      return r.status;
    };
    expect(await bad('not json')).toBe(400);
    expect(
      await bad(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3] }] })),
    ).toBe(400);
    expect(
      await bad(JSON.stringify({ inputs: [{ name: 'zz', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] })),
    ).toBe(400);
    expect(await bad(JSON.stringify({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [1], data: ['a'] }] }))).toBe(
      400,
    );
    expect(
      await bad('{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"parameters":{"binary_data_size":16}}]}', {
        'inference-header-content-length': '5',
      }),
    ).toBe(400);
    // wrong type for the model: FP64 where FP32 is expected
    expect(
      await bad(
        JSON.stringify({
          inputs: [
            { name: 'x', datatype: 'FP64', shape: [1, 4], data: [1, 2, 3, 4] },
            { name: 'k', datatype: 'INT64', shape: [1, 4], data: [1, 2, 3, 4] },
          ],
        }),
      ),
    ).toBe(400);
    const nf = await fetch(`${h.url}/v2/models/ghost/infer`, { method: 'POST', body: '{}' });
    expect(nf.status).toBe(404);
  });

  it('detects on a PNG body and on a multipart upload, boxes in original image coordinates', async () => {
    const png = await sharp({ create: { width: 160, height: 90, channels: 3, background: { r: 200, g: 30, b: 60 } } })
      .composite([
        {
          input: Buffer.from('<svg width="40" height="40"><rect width="40" height="40" fill="#0f0"/></svg>'),
          left: 30,
          top: 20,
        },
      ])
      .png()
      .toBuffer();
    const r = await fetch(`${h.url}/v2/models/det/detect?conf=0.05`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: png,
    });
    expect(r.status).toBe(200);
    const j = await r.json();
    expect(j.image).toEqual({ width: 160, height: 90 });
    expect(j.detections.length).toBeGreaterThan(0);
    for (const d of j.detections) {
      expect(['cat', 'dog', 'bird']).toContain(d.label);
      expect(d.box[0]).toBeGreaterThanOrEqual(0);
      expect(d.box[2]).toBeLessThanOrEqual(160);
      expect(d.box[3]).toBeLessThanOrEqual(90);
      expect(d.score).toBeGreaterThanOrEqual(0.05);
    }
    expect(Object.keys(j.timing_ms)).toEqual(['queue', 'pre', 'infer', 'post']);
    const form = new FormData();
    form.append('image', new Blob([png], { type: 'image/png' }), 'x.png');
    const m = await fetch(`${h.url}/v2/models/det/detect?conf=0.05`, { method: 'POST', body: form });
    expect(m.status).toBe(200);
    expect((await m.json()).detections).toEqual(j.detections);
  });

  it("detects at the model's own imgsz (ONNX metadata) and labels with its own class names", async () => {
    const png = await sharp({ create: { width: 128, height: 128, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const detect = async (query = '') => {
      const r = await fetch(`${h.url}/v2/models/probe/detect${query}`, { method: 'POST', body: png });
      expect(r.status).toBe(200);
      return (await r.json()).detections;
    };
    // The model answers one box [0, 0, 32, 32] in network pixels: at its imgsz 64 that is half
    // the 128 px image; had the data plane used 640, a twentieth.
    const [d] = await detect();
    expect(d.box).toEqual([0, 0, 64, 64]);
    expect(d.label).toBe('probe'); // the file's names win over the deployment's labels
    expect((await detect('?imgsz=640'))[0].box[2]).toBeCloseTo(6.4, 3);
  });

  it('serves a deployment under its aliases too, a served name winning over an alias', async () => {
    const meta = await fetch(`${h.url}/v2/models/probe-alias`);
    expect(meta.status).toBe(200);
    expect((await meta.json()).name).toBe('probe');
    expect((await fetch(`${h.url}/v2/models/probe-alias/ready`)).status).toBe(200);
    const id = await h.deploy('shadow', 'mlp.onnx', { aliases: ['cls'] });
    const cls = await (await fetch(`${h.url}/v2/models/cls`)).json();
    expect([cls.name, cls.inputs[0].name]).toEqual(['cls', 'input']); // tiny_cls, not the mlp
    await h.repository.apply({ schemaVersion: 1, action: 'undeploy', deploymentId: id, modelName: 'shadow' });
  });

  it('classifies a JPEG and refuses non-images by content sniffing', async () => {
    const jpg = await sharp({ create: { width: 50, height: 40, channels: 3, background: { r: 10, g: 20, b: 250 } } })
      .jpeg()
      .toBuffer();
    const r = await fetch(`${h.url}/v2/models/cls/classify?top_k=2`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: jpg,
    });
    expect(r.status).toBe(200);
    const j = await r.json();
    expect(j.classes).toHaveLength(2);
    expect(j.classes[0]).toMatchObject({ class_id: 2, label: 'blue' });
    const bad = await fetch(`${h.url}/v2/models/cls/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: 'GIF89a fake',
    });
    expect(bad.status).toBe(415);
    const q = await fetch(`${h.url}/v2/models/cls/classify?top_k=abc`, { method: 'POST', body: jpg });
    expect(q.status).toBe(400);
  });

  it('reports per-model statistics and Prometheus metrics', async () => {
    const s = await (await fetch(`${h.url}/v2/models/multi/stats`)).json();
    expect(s.model_stats[0].name).toBe('multi');
    expect(s.model_stats[0].inference_stats.success.count).toBeGreaterThanOrEqual(2);
    const all = await (await fetch(`${h.url}/v2/models/stats`)).json();
    expect(all.model_stats.map((m: { name: string }) => m.name).sort()).toEqual(['cls', 'det', 'multi', 'probe']);
    const text = await (await fetch(`${h.url}/metrics`)).text();
    expect(text).toMatch(/cvp_inference_requests_total\{[^}]*model="multi"[^}]*endpoint="infer"[^}]*\} \d+/);
    expect(text).toContain('cvp_inference_request_duration_seconds_bucket');
    expect(text).toContain('cvp_inference_batch_size_bucket');
    expect(text).toMatch(/cvp_inference_failures_total\{[^}]*reason="bad_request"/);
  });

  it('refuses bodies over the cap with 413 and unknown routes with 404', async () => {
    // Over the 64 MB default, declared and chunked: a client still sending reads the 413, never a reset.
    const big = Buffer.alloc(65 * 1024 * 1024, 1);
    async function* chunks() {
      for (let at = 0; at < big.length; at += 1 << 20) yield big.subarray(at, at + (1 << 20));
    }
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++)
      for (const chunked of [false, true]) {
        try {
          const r = await fetch(`${h.url}/v2/models/multi/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': '2' },
            body: chunked ? (chunks() as unknown as BodyInit) : big,
            duplex: 'half',
          } as RequestInit);
          const problem = (await r.json()) as { status?: number };
          outcomes.push(`${r.status} ${problem.status}`);
        } catch (e) {
          outcomes.push(
            `${chunked ? 'chunked' : 'declared'}: ${(e as { cause?: { code?: string } }).cause?.code ?? e}`,
          );
        }
      }
    expect(outcomes).toEqual(Array(8).fill('413 413'));
    expect((await fetch(`${h.url}/v2/nothing`)).status).toBe(404);
    expect((await fetch(`${h.url}/v2/models/multi/infer`)).status).toBe(405);
  });
});
