import { parentPort } from 'node:worker_threads';
import { decodeYolov8, nmsClasswise, topkProbs } from '@cvp/measure';
import * as ort from 'onnxruntime-node';
import { copyBytes } from '../buffers/shared-buffer-pool';
import { decodeToJson } from '../kserve/tensor-codec';
import { IMAGENET_MEAN, IMAGENET_STD, letterboxToChw, normalizeToChw, unletterboxBox } from '../vision/letterbox';
import { FROM_ORT } from './ort-types';
import type {
  DetectionRow,
  Feed,
  ItemResult,
  RunItem,
  SharedRef,
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
/** The shared pool's buffers this worker was given, by slot id. */
const sabs = new Map<number, SharedArrayBuffer>();
/**
 * Worker-local ArrayBuffers reused run after run (one run at a time here): onnxruntime-node takes
 * neither SharedArrayBuffers nor views it cannot own, so shared bytes are copied in and out of
 * these, and nothing is allocated per request in steady state.
 */
const scratch = new Map<string, ArrayBuffer>();
function scratchOf(key: string, bytes: number): ArrayBuffer {
  const k = `${key}:${bytes}`;
  let b = scratch.get(k);
  if (!b) {
    if (scratch.size > 64) scratch.clear(); // many shapes in turn: start over rather than grow
    scratch.set(k, (b = new ArrayBuffer(bytes)));
  }
  return b;
}

type TypedCtor = { new (b: ArrayBuffer, o: number, n: number): Typed; readonly BYTES_PER_ELEMENT: number };
const TYPED: Record<string, TypedCtor> = {
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  uint64: BigUint64Array,
  int64: BigInt64Array,
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
};

function sharedBytes(ref: SharedRef): Uint8Array {
  const sab = sabs.get(ref.id);
  if (!sab) throw new Error(`shared buffer ${ref.id} unknown to this worker`);
  return new Uint8Array(sab, ref.offset, ref.bytes);
}

/** A feed's typed array: its own data, or its shared bytes copied into scratch (slot `k` of the batch). */
function feedData(f: Feed, key: string): Typed {
  if (f.data) return f.data;
  const src = sharedBytes(f.ref!);
  const buf = scratchOf(key, src.length);
  copyBytes(new Uint8Array(buf), src);
  const Ctor = TYPED[f.type];
  return new Ctor(buf, 0, src.length / Ctor.BYTES_PER_ELEMENT);
}

const usNow = () => Number(process.hrtime.bigint() / 1000n);

const meta = (m: ort.InferenceSession.ValueMetadata): ValueMeta => ({
  name: m.name,
  isTensor: m.isTensor,
  type: (m.isTensor ? m.type : 'string') as ValueMeta['type'],
  shape: m.isTensor ? [...m.shape] : [],
});

/** A typed array that owns its whole buffer, so it can be transferred (a copy for views and for scratch). */
function owned<T extends Typed>(data: T): T {
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  if (whole && ![...scratch.values()].includes(data.buffer as ArrayBuffer)) return data;
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
      const data =
        parts.length === 1
          ? feedData(f, `in:${name}`)
          : concatTyped(parts.map((p, k) => feedData(p, `in:${name}:${k}`)));
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

/**
 * Outputs of a one-request tensor batch whose dims are known in advance are written by ONNX
 * Runtime straight into reused scratch (then copied once into the request's shared slot); the
 * others it allocates itself.
 */
function preallocated(items: RunItem[], names: readonly string[]): ort.InferenceSession.FetchesType {
  const only = items.length === 1 && items[0].kind === 'tensors' ? items[0] : undefined;
  if (!only?.outputSlots) return [...names];
  const meta = new Map(session!.outputMetadata.map((m) => [m.name, m]));
  const fetches: Record<string, ort.Tensor | null> = {};
  for (const n of names) {
    const slot = only.outputSlots[n];
    const m = meta.get(n);
    const type = m?.isTensor ? m.type : undefined;
    const Ctor = type ? TYPED[type] : undefined;
    if (!slot?.dims || !type || !Ctor || only.jsonOutputs?.includes(n)) {
      fetches[n] = null;
      continue;
    }
    const count = slot.dims.reduce((a, b) => a * b, 1);
    const buf = scratchOf(`out:${n}`, count * Ctor.BYTES_PER_ELEMENT);
    fetches[n] = new ort.Tensor(type as 'float32', new Ctor(buf, 0, count) as Float32Array, slot.dims);
  }
  return fetches;
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
        const slot = item.outputSlots?.[n];
        const datatype = FROM_ORT[f.type];
        if (slot && f.data!.byteLength <= slot.ref.bytes && !item.jsonOutputs?.includes(n)) {
          const src = f.data!;
          copyBytes(sharedBytes(slot.ref), new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
          outputs[n] = { type: f.type, dims: f.dims, ref: { ...slot.ref, bytes: src.byteLength } };
          continue;
        }
        if (item.jsonOutputs?.includes(n) && datatype) {
          const bytes = Buffer.from(f.data!.buffer, f.data!.byteOffset, f.data!.byteLength);
          const text = JSON.stringify(decodeToJson({ name: n, datatype, shape: f.dims, data: bytes }));
          json[n] = { type: f.type, dims: f.dims, text };
          continue;
        }
        f.data = owned(f.data!);
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
  if (m.op === 'forget') {
    for (const id of m.ids) sabs.delete(id);
    return { answer: { id: m.id, forgot: m.ids.length }, transfer: [] };
  }
  if (m.op === 'close') {
    await session?.release();
    session = undefined;
    return { answer: { id: m.id, closed: true }, transfer: [] };
  }
  for (const [id, sab] of Object.entries(m.sabs ?? {})) sabs.set(Number(id), sab);
  if (!session) throw new Error('no session loaded');
  const startedUs = (performance.timeOrigin + performance.now()) * 1000;
  // A batch may have waited here behind another: what expired meanwhile is dropped unrun.
  const now = Date.now();
  const live = m.items.filter((i) => i.deadline > now);
  const results: ItemResult[] = m.items.map(() => ({ kind: 'expired' }));
  if (live.length === 0)
    return { answer: { id: m.id, results, rows: 0, startedUs, preUs: 0, inferUs: 0, postUs: 0 }, transfer: [] };
  const t0 = usNow();
  const { feeds, rows } = buildFeeds(live, session.inputNames[0]);
  const t1 = usNow();
  const out = await session.run(feeds, preallocated(live, m.fetches ?? session.outputNames));
  const t2 = usNow();
  const transfer: ArrayBuffer[] = [];
  const names = m.fetches ?? session.outputNames;
  const done = postProcess(live, rows, out, names, transfer);
  m.items.forEach((item, k) => {
    const at = live.indexOf(item);
    if (at >= 0) results[k] = done[at];
  });
  return {
    answer: {
      id: m.id,
      results,
      rows: rows.reduce((a, b) => a + b, 0),
      startedUs,
      preUs: t1 - t0,
      inferUs: t2 - t1,
      postUs: usNow() - t2,
    },
    transfer,
  };
}

// One message at a time: the main thread may send the next batch while this one runs, and it must
// wait its turn here rather than interleave with it.
let turn: Promise<void> = Promise.resolve();
parentPort?.on('message', (m: WorkerRequest) => {
  turn = turn.then(() =>
    handle(m).then(
      ({ answer, transfer }) => parentPort!.postMessage(answer, transfer),
      (e: unknown) => parentPort!.postMessage({ id: m.id, error: String((e as Error)?.message ?? e) }),
    ),
  );
});
