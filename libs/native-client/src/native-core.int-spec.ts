/**
 * Integration (issue #5): starts the real native/build/cvp-core on a free port and checks it
 * against onnxruntime-node on the committed fixture models. Needs `native/scripts/build.sh`.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { isInvalidArgument, NativeCoreClient } from './native-client';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'native/build/cvp-core');
const fixtures = path.join(root, 'native/tests/fixtures');

interface Core {
  proc: ChildProcessWithoutNullStreams;
  port: number;
  logs: string[];
  exited: Promise<number | null>;
}

function startCore(): Promise<Core> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run native/scripts/build.sh`);
  const proc = spawn(bin, ['--port', '0', '--log-level', 'debug', '--drain-timeout-ms', '5000']);
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cvp-core did not report a port within 20 s:\n' + logs.join('\n'))), 20000);
    let buf = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (j.msg === 'listening' && j.port) {
            clearTimeout(timer);
            resolve({ proc, port: j.port, logs, exited });
          }
        } catch {
          /* non-JSON output is kept in logs for the failure message */
        }
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cvp-core exited early (${code}):\n${logs.join('\n')}`));
    });
  });
}

/**
 * Reference run through onnxruntime-node in a plain node child process: inside jest's sandbox the
 * library's typed arrays come from another realm and its Tensor constructor rejects them.
 */
function ortNodeRun(modelPath: string, inputName: string, shape: number[], data: Float32Array): Record<string, { dims: number[]; data: Float32Array }> {
  const script = `
    const ort = require(${JSON.stringify(require.resolve('onnxruntime-node'))});
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c)).on('end', async () => {
      const req = JSON.parse(Buffer.concat(chunks).toString());
      const buf = Buffer.from(req.data, 'base64');
      const input = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      const session = await ort.InferenceSession.create(req.model);
      const out = await session.run({ [req.input]: new ort.Tensor('float32', input, req.shape) });
      const res = {};
      for (const [k, v] of Object.entries(out)) res[k] = { dims: v.dims.map(Number), data: Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).toString('base64') };
      process.stdout.write(JSON.stringify(res));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], {
    input: JSON.stringify({ model: modelPath, input: inputName, shape, data: toBuffer(data).toString('base64') }),
    timeout: 60000,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`onnxruntime-node reference failed: ${r.stderr}`);
  const parsed = JSON.parse(r.stdout.toString()) as Record<string, { dims: number[]; data: string }>;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, { dims: v.dims, data: toFloats(Buffer.from(v.data, 'base64')) }]));
}

/** Seeded uniform floats (mulberry32) so both engines see identical inputs. */
function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return out;
}

const toBuffer = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);
const toFloats = (b: Buffer) => new Float32Array(Uint8Array.from(b).buffer);

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Minimal RGB8 PNG encoder (solid colour) built on node:zlib. */
function solidPng(w: number, h: number, rgb: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(rgb, y * (w * 3 + 1) + 1 + x * 3);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('native core (real cvp-core binary) against onnxruntime-node', () => {
  let core: Core;
  let client: NativeCoreClient;

  beforeAll(async () => {
    core = await startCore();
    client = new NativeCoreClient({ address: `127.0.0.1:${core.port}` });
    await client.waitForReady(10000);
  });

  afterAll(async () => {
    client?.close();
    if (core && core.proc.exitCode === null) {
      core.proc.kill('SIGKILL');
      await core.exited;
    }
  });

  it.each(['small_cnn.onnx', 'tiny_cls.onnx'])('Infer on %s equals onnxruntime-node within 1e-5', async (file) => {
    const modelPath = path.join(fixtures, file);
    const id = file.replace('.onnx', '');
    await client.loadModel({ id, path: modelPath, batching: { maxBatch: 4, maxQueueDelayUs: 1000 } }, 20000);
    const meta = await client.modelMetadata({ id }, 5000);
    const input = meta.inputs[0];
    expect(input.shape[0]).toBe(-1);
    expect(input.symbolicDims[0]).toBe('batch');
    const shape = [2, ...input.shape.slice(1)];
    const data = seeded(shape.reduce((a, b) => a * b, 1), 5);

    const res = await client.infer({ modelId: id, inputs: [{ name: input.name, datatype: 'FP32', shape, data: toBuffer(data) }] }, 10000);
    const refOut = ortNodeRun(modelPath, input.name, shape, data)[meta.outputs[0].name];
    const got = toFloats(res.outputs[0].data);
    expect(res.outputs[0].shape).toEqual(refOut.dims);
    expect(got.length).toBe(refOut.data.length);
    expect(got.length).toBeGreaterThan(0);
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - refOut.data[i]));
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
  });

  it('Detect matches the decode of the raw outputs, mapped back to the original image', async () => {
    const modelPath = path.join(fixtures, 'tiny_det.onnx');
    await client.loadModel({ id: 'det', path: modelPath }, 20000);
    // raw head output from onnxruntime-node: [1, 4+nc, anchors], independent of the pixels here
    const raw = ortNodeRun(modelPath, 'images', [1, 3, 64, 64], new Float32Array(3 * 64 * 64)).output0;
    const [, ch, n] = raw.dims;
    const d = raw.data;
    // 128x64 image into 64x64: r = 0.5, padding top = round(16 - 0.1) = 16, left = 0
    const r = 0.5;
    const top = 16;
    const expected: { classId: number; score: number; box: number[] }[] = [];
    for (let a = 0; a < n; a++) {
      let best = 0;
      for (let c = 1; c < ch - 4; c++) if (d[(4 + c) * n + a] > d[(4 + best) * n + a]) best = c;
      const score = d[(4 + best) * n + a];
      if (score < 0.25) continue;
      const [cx, cy, w, h] = [0, 1, 2, 3].map((k) => d[k * n + a]);
      expected.push({ classId: best, score, box: [(cx - w / 2) / r, (cy - h / 2 - top) / r, (cx + w / 2) / r, (cy + h / 2 - top) / r] });
    }
    expected.sort((p, q) => q.score - p.score);
    // class-wise NMS at IoU 0.45 on the fixture removes the near-duplicate class-0 box (IoU 0.9)
    const iou = (p: number[], q: number[]) => {
      const iw = Math.max(0, Math.min(p[2], q[2]) - Math.max(p[0], q[0]));
      const ih = Math.max(0, Math.min(p[3], q[3]) - Math.max(p[1], q[1]));
      const inter = iw * ih;
      return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter);
    };
    const kept = expected.filter((e, i) => !expected.slice(0, i).some((k) => k.classId === e.classId && iou(k.box, e.box) > 0.45));

    const res = await client.detect({ modelId: 'det', image: solidPng(128, 64, [30, 60, 90]) }, 10000, { correlationId: 'jest-detect-1' });
    expect(res.imageWidth).toBe(128);
    expect(res.imageHeight).toBe(64);
    expect(res.detections).toHaveLength(kept.length);
    expect(kept.length).toBe(2);
    res.detections.forEach((det, i) => {
      expect(det.classId).toBe(kept[i].classId);
      expect(det.score).toBeCloseTo(kept[i].score, 6);
      [det.x1, det.y1, det.x2, det.y2].forEach((v, k) => expect(v).toBeCloseTo(kept[i].box[k], 3));
    });
    expect(res.timing.inferUs).toBeGreaterThanOrEqual(0);
  });

  it('refuses hostile images with INVALID_ARGUMENT and logs the correlation id', async () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (isInvalidArgument(e) ? 'invalid' : String(e)));
    expect(await codeOf(client.detect({ modelId: 'det', image: Buffer.from('GIF89a not an image') }, 5000, { correlationId: 'jest-bad-image' }))).toBe('invalid');
    const truncated = solidPng(64, 64, [1, 2, 3]).subarray(0, 40);
    expect(await codeOf(client.detect({ modelId: 'det', image: truncated }, 5000))).toBe('invalid');
    expect(core.logs.some((l) => l.includes('"correlation_id":"jest-bad-image"'))).toBe(true);
    expect(core.logs.some((l) => l.includes('"correlation_id":"jest-detect-1"'))).toBe(true);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    core.proc.kill('SIGTERM');
    expect(await core.exited).toBe(0);
    expect(core.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });
});
