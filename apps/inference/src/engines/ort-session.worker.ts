import { parentPort } from 'node:worker_threads';
import { decodeYolov8, nmsClasswise, topkProbs } from '@cvp/measure';
import * as ort from 'onnxruntime-node';
import { decodeToJson } from '../kserve/tensor-codec';
import { IMAGENET_MEAN, IMAGENET_STD, letterboxToChw, normalizeToChw, unletterboxBox } from '../vision/letterbox';
import { FROM_ORT } from './ort-types';
import type {
  DetectionRow,
  Feed,
  ItemResult,
  RunItem,
  Typed,
  ValueMeta,
  WorkerAnswer,
  WorkerRequest,
} from './ort-worker-protocol';

/**
 * One model instance: an ONNX Runtime session in its own worker thread. onnxruntime-node runs a
 * session synchronously on the calling thread, so here it blocks only this thread; the request's
 * CPU work around the model (image to CHW, stacking a batch, YOLO decode and NMS, top-k, JSON
 * encoding of outputs) runs here too, off the event loop that serves every socket.
 */
let session: ort.InferenceSession | undefined;

const usNow = () => Number(process.hrtime.bigint() / 1000n);

const meta = (m: ort.InferenceSession.ValueMetadata): ValueMeta => ({
  name: m.name,
  isTensor: m.isTensor,
  type: (m.isTensor ? m.type : 'string') as ValueMeta['type'],
  shape: m.isTensor ? [...m.shape] : [],
});

/** A typed array that owns its whole buffer, so it can be transferred (a copy only for views). */
function owned<T extends Typed>(data: T): T {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data;
  return data.slice() as T;
}

function concatTyped(parts: Typed[]): Typed {
  const Ctor = parts[0].constructor as new (n: number) => Typed;
  const out = new Ctor(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    (out as Float32Array).set(p as Float32Array, off);
    off += p.length;
  }
  return out;
}

/** The model's input for a batch: the one item's tensors, stacked tensors, or images written as CHW rows. */
function buildFeeds(items: RunItem[], inputName: string): { feeds: Record<string, ort.Tensor>; rows: number[] } {
  const first = items[0];
  if (first.kind === 'tensors') {
    const rows = items.map((i) => (i.kind === 'tensors' ? Number(Object.values(i.feeds)[0]?.dims[0] ?? 1) : 1));
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of Object.keys(first.feeds)) {
      const parts = items.map((i) => (i as Extract<RunItem, { kind: 'tensors' }>).feeds[name]);
      const f = parts[0];
      const data = parts.length === 1 ? f.data : concatTyped(parts.map((p) => p.data));
      const dims = parts.length === 1 ? f.dims : [rows.reduce((a, b) => a + b, 0), ...f.dims.slice(1)];
      feeds[name] = new ort.Tensor(f.type as 'float32', data as Float32Array, dims);
    }
    return { feeds, rows };
  }
  const [h, w] = first.kind === 'detect' ? [first.lb.dstH, first.lb.dstW] : [first.h, first.w];
  const per = 3 * h * w;
  const input = new Float32Array(per * items.length);
  items.forEach((item, k) => {
    const out = input.subarray(k * per, (k + 1) * per);
    if (item.kind === 'detect') letterboxToChw(item.rgb, item.lb, out);
    else if (item.kind === 'classify') {
      const unit = item.normalization === 'unit';
      normalizeToChw(item.rgb, w, h, unit ? [0, 0, 0] : IMAGENET_MEAN, unit ? [1, 1, 1] : IMAGENET_STD, out);
    }
  });
  return {
    feeds: { [inputName]: new ort.Tensor('float32', input, [items.length, 3, h, w]) },
    rows: items.map(() => 1),
  };
}

/** Rows [row, row + n) of a batched output. */
function rowsOf(t: ort.Tensor, row: number, n: number, batch: number): Feed {
  const data = t.data as Typed;
  const dims = t.dims.map(Number);
  if (batch === 1) return { type: t.type as Feed['type'], dims, data };
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  return { type: t.type as Feed['type'], dims: [n, ...dims.slice(1)], data: data.subarray(row * per, (row + n) * per) };
}

function postProcess(
  items: RunItem[],
  rows: number[],
  out: ort.InferenceSession.OnnxValueMapType,
  names: readonly string[],
  transfer: ArrayBuffer[],
): ItemResult[] {
  const batch = rows.reduce((a, b) => a + b, 0);
  let row = 0;
  return items.map((item, k) => {
    const at = row;
    row += rows[k];
    if (item.kind === 'tensors') {
      const outputs: Record<string, Feed> = {};
      const json: Extract<ItemResult, { kind: 'tensors' }>['json'] = {};
      for (const n of names) {
        const f = rowsOf(out[n] as ort.Tensor, at, rows[k], batch);
        const datatype = FROM_ORT[f.type];
        if (item.jsonOutputs?.includes(n) && datatype) {
          const bytes = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
          const text = JSON.stringify(decodeToJson({ name: n, datatype, shape: f.dims, data: bytes }));
          json[n] = { type: f.type, dims: f.dims, text };
          continue;
        }
        f.data = owned(f.data);
        transfer.push(f.data.buffer as ArrayBuffer);
        outputs[n] = f;
      }
      return { kind: 'tensors', outputs, json };
    }
    const t = out[names[0]] as ort.Tensor;
    const dims = t.dims.map(Number);
    const data = t.data as Float32Array;
    if (item.kind === 'detect') {
      if (dims.length !== 3)
        throw new Error(`detector output has rank ${dims.length}; expected [batch, 4 + classes, anchors]`);
      const [, c, a] = dims;
      const dets = nmsClasswise(decodeYolov8(data, c, a, item.conf, at * c * a), item.iou, item.maxDet);
      const detections: DetectionRow[] = dets.map((d) => {
        const [x1, y1, x2, y2] = unletterboxBox(item.lb, [d.x1, d.y1, d.x2, d.y2]);
        return { cls: d.cls, score: d.score, x1, y1, x2, y2 };
      });
      return { kind: 'detect', detections };
    }
    const per = dims.slice(1).reduce((x, y) => x * y, 1);
    return { kind: 'classify', classes: topkProbs(data.subarray(at * per, (at + 1) * per), item.topK) };
  });
}

async function handle(m: WorkerRequest): Promise<{ answer: WorkerAnswer; transfer: ArrayBuffer[] }> {
  if (m.op === 'load') {
    session = await ort.InferenceSession.create(m.path, m.options as ort.InferenceSession.SessionOptions);
    return {
      answer: { id: m.id, inputs: session.inputMetadata.map(meta), outputs: session.outputMetadata.map(meta) },
      transfer: [],
    };
  }
  if (m.op === 'close') {
    await session?.release();
    session = undefined;
    return { answer: { id: m.id, closed: true }, transfer: [] };
  }
  if (!session) throw new Error('no session loaded');
  const t0 = usNow();
  const { feeds, rows } = buildFeeds(m.items, session.inputNames[0]);
  const t1 = usNow();
  const out = m.fetches ? await session.run(feeds, m.fetches) : await session.run(feeds);
  const t2 = usNow();
  const transfer: ArrayBuffer[] = [];
  const names = m.fetches ?? session.outputNames;
  const results = postProcess(m.items, rows, out, names, transfer);
  return {
    answer: {
      id: m.id,
      results,
      rows: rows.reduce((a, b) => a + b, 0),
      preUs: t1 - t0,
      inferUs: t2 - t1,
      postUs: usNow() - t2,
    },
    transfer,
  };
}

parentPort?.on('message', (m: WorkerRequest) => {
  handle(m).then(
    ({ answer, transfer }) => parentPort!.postMessage(answer, transfer),
    (e: unknown) => parentPort!.postMessage({ id: m.id, error: String((e as Error)?.message ?? e) }),
  );
});
