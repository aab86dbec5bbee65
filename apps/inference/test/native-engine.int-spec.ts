import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { type Harness, startInference } from '../src/testing/inference-harness';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { freePort, isPortOpen, waitFor } = require('../../../scripts/lib/ports');

const CORE = path.resolve(__dirname, '../../../native/build/cvp-core');
// The bootstrap always builds the core: a missing binary is a failure, never a silent skip.
if (!existsSync(CORE)) {
  test('the native core is built', () => {
    throw new Error(`${CORE} is not built: run native/scripts/build.sh (the bootstrap does)`);
  });
}
const d = existsSync(CORE) ? describe : describe.skip;

/** A textured test image: gradients and shapes, so the resize kernel matters. */
async function scene(w: number, h: number, fmt: 'png' | 'jpeg'): Promise<Buffer> {
  const svg = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#203080"/><stop offset="1" stop-color="#e0c040"/></linearGradient></defs>
    <rect width="${w}" height="${h}" fill="url(#g)"/>
    <rect x="${w * 0.2}" y="${h * 0.3}" width="${w * 0.25}" height="${h * 0.4}" fill="#10d020"/>
    <circle cx="${w * 0.7}" cy="${h * 0.5}" r="${h * 0.2}" fill="#f02020"/></svg>`;
  const img = sharp(Buffer.from(svg));
  return fmt === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

d('native engine (the real C++ core over gRPC) against the ort-node engine', () => {
  let core: ChildProcess;
  let h: Harness;

  beforeAll(async () => {
    const port = await freePort();
    core = spawn(CORE, ['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn'], { stdio: 'ignore' });
    await waitFor(() => isPortOpen(port), { timeoutMs: 15000, what: 'cvp-core' });
    h = await startInference({ CVP_NATIVE_ADDR: `127.0.0.1:${port}` });
    await h.deploy('det-native', 'conv_det.onnx', { engine: 'native', task: 'detect' });
    await h.deploy('det-ort', 'conv_det.onnx', { engine: 'ort-node', task: 'detect' });
    await h.deploy('multi-native', 'multi_dtype.onnx', { engine: 'native' });
    await h.deploy('cls-native', 'tiny_cls.onnx', { engine: 'native', task: 'classify' });
    await h.deploy('cls-ort', 'tiny_cls.onnx', { engine: 'ort-node', task: 'classify' });
  });
  afterAll(async () => {
    await h?.close();
    core?.kill('SIGTERM');
  });

  it('serves every deployment (ready) with metadata from the core', async () => {
    expect(
      h.repository
        .list()
        .map((e) => e.name)
        .sort(),
    ).toEqual(['cls-native', 'cls-ort', 'det-native', 'det-ort', 'multi-native']);
    const m = await (await fetch(`${h.url}/v2/models/det-native`)).json();
    expect(m.inputs).toEqual([{ name: 'images', datatype: 'FP32', shape: [-1, 3, 64, 64] }]);
    expect(m.parameters.engine).toBe('native');
  });

  it.each([
    [200, 120, 'png'],
    [97, 233, 'jpeg'],
    [64, 64, 'png'],
  ] as const)('detections match between engines for a %ix%i %s (same letterbox rule)', async (w, hgt, fmt) => {
    const img = await scene(w, hgt, fmt);
    const ask = async (model: string) => {
      const r = await fetch(`${h.url}/v2/models/${model}/detect?conf=0.3&iou=0.5`, { method: 'POST', body: img });
      expect(r.status).toBe(200);
      return (await r.json()) as { detections: { class_id: number; score: number; box: number[] }[]; image: unknown };
    };
    const [n, o] = await Promise.all([ask('det-native'), ask('det-ort')]);
    expect(n.image).toEqual(o.image);
    expect(n.detections.length).toBeGreaterThan(0);
    // Decode, NMS and un-letterboxing are identical; resize kernels differ slightly (OpenCV
    // bilinear vs libvips linear), so a detection near a threshold may differ: compare the
    // confident ones by best match.
    let matched = 0;
    for (const a of o.detections) {
      const b = n.detections.find(
        (x) => x.class_id === a.class_id && x.box.every((v, i) => Math.abs(v - a.box[i]) < 2.5),
      );
      if (b) {
        matched++;
        expect(Math.abs(b.score - a.score)).toBeLessThan(0.03);
      }
    }
    expect(matched / Math.max(o.detections.length, n.detections.length)).toBeGreaterThanOrEqual(0.8);
  });

  it('classifications match between engines', async () => {
    const img = await scene(120, 80, 'jpeg');
    const ask = async (m: string) =>
      (await (await fetch(`${h.url}/v2/models/${m}/classify?top_k=3`, { method: 'POST', body: img })).json()).classes;
    const [n, o] = await Promise.all([ask('cls-native'), ask('cls-ort')]);
    expect(n.map((c: { class_id: number }) => c.class_id)).toEqual(o.map((c: { class_id: number }) => c.class_id));
    n.forEach((c: { score: number }, i: number) => expect(Math.abs(c.score - o[i].score)).toBeLessThan(0.02));
  });

  it('binary tensors travel to the core and back unchanged (FP32, INT64, BOOL, FP16)', async () => {
    const r = await fetch(`${h.url}/v2/models/multi-native/infer`, {
      method: 'POST',
      body: JSON.stringify({
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, -2, 0.5, 0] },
          { name: 'k', datatype: 'INT64', shape: [1, 4], data: [1, 2, 3, -4] },
        ],
      }),
    });
    expect(r.status).toBe(200);
    const out = Object.fromEntries(
      (await r.json()).outputs.map((o: { name: string; data: unknown }) => [o.name, o.data]),
    );
    expect(out).toEqual({ y: [3, -3, 2, 1], kk: [2, 3, 4, -3], pos: [true, false, true, false], h: [1, -2, 0.5, 0] });
    const bad = await fetch(`${h.url}/v2/models/multi-native/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }),
    });
    expect(bad.status).toBe(400);
  });
});
