import { decodeYolov8, nmsClasswise, topkProbs } from '@cvp/measure';
import {
  DATATYPE_BYTES,
  type DataType,
  DeadlineExceededError,
  type Detection,
  type Engine,
  EngineOverloadedError,
  InvalidInferenceInputError,
  type LoadedModel,
  type LoadRequest,
  type ModelSignature,
  type Tensor,
  type Timing,
} from './engine';
import { classifierInput, detectorInput, type ImageLimits } from '../vision/image-input';
import { unletterboxBox } from '../vision/letterbox';
import { explainProviderFailure, ortExecutionProviders } from './ort-providers';
import { type Feed, type OrtType, OrtWorkerSession, type Typed, type ValueMeta } from './ort-worker-session';

const TO_ORT: Record<DataType, OrtType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
};
const FROM_ORT = Object.fromEntries(Object.entries(TO_ORT).map(([k, v]) => [v, k])) as Record<string, DataType>;

const VIEW: Record<DataType, new (b: ArrayBufferLike, o: number, n: number) => Typed> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  INT16: Int16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  UINT64: BigUint64Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

/** A typed view over the tensor's bytes; copies only when the bytes are misaligned for the type. */
export function typedView(t: Pick<Tensor, 'datatype' | 'data'>): Typed {
  const size = DATATYPE_BYTES[t.datatype];
  let buf = t.data;
  if (buf.byteOffset % size !== 0) buf = Buffer.from(buf);
  return new VIEW[t.datatype](buf.buffer, buf.byteOffset, buf.length / size);
}

export function toFeed(t: Tensor): Feed {
  return { type: TO_ORT[t.datatype], dims: t.shape, data: typedView(t) };
}

export function fromFeed(name: string, t: Feed): Tensor {
  const datatype = FROM_ORT[t.type];
  if (!datatype) throw new Error(`output ${name} has unsupported type ${t.type}`);
  const d = t.data as Typed;
  return { name, datatype, shape: t.dims.map(Number), data: Buffer.from(d.buffer, d.byteOffset, d.byteLength) };
}

const usNow = () => Number(process.hrtime.bigint() / 1000n);

interface Job {
  feeds: Record<string, Feed>;
  outputs?: string[];
  rows: number;
  deadline: number;
  signal?: AbortSignal;
  enqueuedUs: number;
  resolve: (r: { outputs: Record<string, Feed>; queueUs: number; inferUs: number; batchSize: number }) => void;
  reject: (e: Error) => void;
}

export interface OrtNodeEngineOptions {
  imageLimits: ImageLimits;
  /** Bound on jobs waiting for this model's session. */
  queueCap: number;
  /** How long a batch may wait to fill (µs); only used when maxBatch > 1. */
  maxQueueDelayUs: number;
}

/**
 * One ONNX Runtime session run by one runner loop: runs are serialised per session (ORT's own
 * intra-op pool already uses every core; overlapping runs only thrash it), and with maxBatch > 1
 * queued requests of the same shape are stacked along the batch axis into one run.
 */
export class OrtNodeModel implements LoadedModel {
  private readonly queue: Job[] = [];
  private busy = false;
  private closed = false;
  readonly signature: ModelSignature;
  private readonly batchable: boolean;

  constructor(
    private readonly session: OrtWorkerSession,
    private readonly maxBatch: number,
    private readonly opts: OrtNodeEngineOptions,
  ) {
    const spec = (m: ValueMeta) => ({
      name: m.name,
      datatype: m.isTensor ? (FROM_ORT[m.type] ?? m.type.toUpperCase()) : 'BYTES',
      shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) : [],
    });
    this.signature = { inputs: session.inputs.map(spec), outputs: session.outputs.map(spec) };
    this.batchable =
      maxBatch > 1 &&
      [...this.signature.inputs, ...this.signature.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
  }

  private enqueue(
    feeds: Record<string, Feed>,
    rows: number,
    outputs: string[] | undefined,
    deadline: number,
    signal?: AbortSignal,
  ) {
    if (this.closed) return Promise.reject(new EngineOverloadedError('model is being unloaded'));
    if (this.queue.length >= this.opts.queueCap)
      return Promise.reject(new EngineOverloadedError(`${this.queue.length} requests queued for this model`));
    return new Promise<{ outputs: Record<string, Feed>; queueUs: number; inferUs: number; batchSize: number }>(
      (resolve, reject) => {
        this.queue.push({ feeds, rows, outputs, deadline, signal, enqueuedUs: usNow(), resolve, reject });
        this.pump();
      },
    );
  }

  private pump(): void {
    if (this.busy || this.queue.length === 0) return;
    this.busy = true;
    const delay = this.batchable && this.queue.length < this.maxBatch ? this.opts.maxQueueDelayUs : 0;
    const go = () => {
      void this.runNext().finally(() => {
        this.busy = false;
        this.pump();
      });
    };
    if (delay > 0) setTimeout(go, Math.ceil(delay / 1000));
    else go();
  }

  private takeBatch(): Job[] {
    const now = Date.now();
    // Requests whose deadline passed, or whose client went away, are dropped unrun.
    for (let i = 0; i < this.queue.length;) {
      const j = this.queue[i];
      if (j.deadline <= now)
        this.queue.splice(i, 1)[0].reject(new DeadlineExceededError('deadline passed while queued for the engine'));
      else if (j.signal?.aborted)
        this.queue.splice(i, 1)[0].reject(new DeadlineExceededError('client went away while queued for the engine'));
      else i++;
    }
    const first = this.queue.shift();
    if (!first) return [];
    const batch = [first];
    if (!this.batchable) return batch;
    const key = (j: Job) =>
      JSON.stringify([j.outputs ?? null, Object.entries(j.feeds).map(([n, t]) => [n, t.type, t.dims.slice(1)])]);
    const k0 = key(first);
    let rows = first.rows;
    for (let i = 0; i < this.queue.length && rows < this.maxBatch;) {
      const j = this.queue[i];
      if (j.deadline > now && rows + j.rows <= this.maxBatch && key(j) === k0) {
        batch.push(j);
        rows += j.rows;
        this.queue.splice(i, 1);
      } else i++;
    }
    return batch;
  }

  private async runNext(): Promise<void> {
    const batch = this.takeBatch();
    if (batch.length === 0) return;
    const startUs = usNow();
    try {
      const feeds = batch.length === 1 ? batch[0].feeds : stackFeeds(batch.map((j) => j.feeds));
      const out = await this.session.run(feeds, batch[0].outputs);
      const inferUs = usNow() - startUs;
      const rows = batch.reduce((s, j) => s + j.rows, 0);
      if (batch.length === 1) {
        batch[0].resolve({ outputs: out, queueUs: startUs - batch[0].enqueuedUs, inferUs, batchSize: rows });
        return;
      }
      let row = 0;
      for (const j of batch) {
        const part: Record<string, Feed> = {};
        for (const [n, t] of Object.entries(out)) part[n] = sliceRows(t, row, j.rows);
        row += j.rows;
        j.resolve({ outputs: part, queueUs: startUs - j.enqueuedUs, inferUs, batchSize: rows });
      }
    } catch (e) {
      const err = /input|dimension|shape|type|Got invalid|index/i.test((e as Error).message)
        ? new InvalidInferenceInputError((e as Error).message)
        : (e as Error);
      for (const j of batch) j.reject(err);
    }
  }

  async infer(inputs: Tensor[], outputs: string[] | undefined, deadline: number, signal?: AbortSignal) {
    const known = new Set(this.signature.inputs.map((i) => i.name));
    for (const i of inputs)
      if (!known.has(i.name))
        throw new InvalidInferenceInputError(`unknown input ${i.name}; the model takes ${[...known].join(', ')}`);
    if (outputs) {
      const outs = new Set(this.signature.outputs.map((o) => o.name));
      for (const o of outputs) if (!outs.has(o)) throw new InvalidInferenceInputError(`unknown output ${o}`);
    }
    const preStart = usNow();
    const feeds: Record<string, Feed> = {};
    for (const t of inputs) feeds[t.name] = toFeed(t);
    const rows = inputs[0]?.shape[0] ?? 1;
    const preUs = usNow() - preStart;
    const r = await this.enqueue(feeds, this.batchable ? rows : 1, outputs, deadline, signal);
    const postStart = usNow();
    const names = outputs ?? this.signature.outputs.map((o) => o.name);
    const result = names.map((n) => fromFeed(n, r.outputs[n]));
    const timing: Timing = {
      queueUs: r.queueUs,
      preUs,
      inferUs: r.inferUs,
      postUs: usNow() - postStart,
      batchSize: r.batchSize,
    };
    return { outputs: result, timing };
  }

  /** Input H x W: fixed dims from the model, else the requested size. */
  private imageSize(imgsz: number): [number, number] {
    const s = this.signature.inputs[0]?.shape ?? [];
    if (s.length !== 4)
      throw new InvalidInferenceInputError(`model input has rank ${s.length}; image endpoints need NCHW`);
    return [s[2] > 0 ? s[2] : imgsz, s[3] > 0 ? s[3] : imgsz];
  }

  async detect(
    image: Buffer,
    opts: { conf: number; iou: number; maxDet: number; imgsz: number },
    deadline: number,
    signal?: AbortSignal,
  ) {
    const preStart = usNow();
    const [h, w] = this.imageSize(opts.imgsz);
    const input = await detectorInput(image, w, h, this.opts.imageLimits);
    const inName = this.signature.inputs[0].name;
    const preUs = usNow() - preStart;
    const r = await this.enqueue(
      { [inName]: { type: 'float32', data: input.tensor, dims: [1, 3, h, w] } },
      1,
      undefined,
      deadline,
      signal,
    );
    const postStart = usNow();
    const out = r.outputs[this.signature.outputs[0].name];
    if (out.dims.length !== 3)
      throw new InvalidInferenceInputError(
        `detector output has rank ${out.dims.length}; expected [batch, 4 + classes, anchors]`,
      );
    const dets = nmsClasswise(
      decodeYolov8(out.data as Float32Array, Number(out.dims[1]), Number(out.dims[2]), opts.conf),
      opts.iou,
      opts.maxDet,
    );
    const detections: Detection[] = dets.map((d) => ({
      classId: d.cls,
      score: d.score,
      box: unletterboxBox(input.lb, [d.x1, d.y1, d.x2, d.y2]),
    }));
    return {
      detections,
      width: input.width,
      height: input.height,
      timing: { queueUs: r.queueUs, preUs, inferUs: r.inferUs, postUs: usNow() - postStart, batchSize: r.batchSize },
    };
  }

  async classify(
    image: Buffer,
    opts: { topK: number; imgsz: number; normalization: 'imagenet' | 'unit' },
    deadline: number,
    signal?: AbortSignal,
  ) {
    const preStart = usNow();
    const [h, w] = this.imageSize(opts.imgsz);
    const tensor = await classifierInput(image, w, h, opts.normalization, this.opts.imageLimits);
    const preUs = usNow() - preStart;
    const r = await this.enqueue(
      { [this.signature.inputs[0].name]: { type: 'float32', data: tensor, dims: [1, 3, h, w] } },
      1,
      undefined,
      deadline,
      signal,
    );
    const postStart = usNow();
    const out = r.outputs[this.signature.outputs[0].name];
    const classes = topkProbs(out.data as Float32Array, opts.topK);
    return {
      classes,
      timing: { queueUs: r.queueUs, preUs, inferUs: r.inferUs, postUs: usNow() - postStart, batchSize: r.batchSize },
    };
  }

  async warmup(): Promise<void> {
    const feeds: Record<string, Feed> = {};
    for (const i of this.session.inputs) {
      if (!i.isTensor) return;
      const dt = FROM_ORT[i.type];
      if (!dt) return;
      // Symbolic dims: batch 1, image dims 640 for NCHW (the detector default), else 1.
      const shape = i.shape.map((d, k) =>
        typeof d === 'number' && d > 0 ? d : i.shape.length === 4 && k >= 2 ? 640 : 1,
      );
      const n = shape.reduce((a, b) => a * b, 1);
      feeds[i.name] = toFeed({ name: i.name, datatype: dt, shape, data: Buffer.alloc(n * DATATYPE_BYTES[dt]) });
    }
    await this.session.run(feeds);
  }

  async close(): Promise<void> {
    this.closed = true;
    // Queued work finishes (the repository stops routing here first), then the session goes.
    const until = Date.now() + 30_000;
    while ((this.busy || this.queue.length) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await this.session.close();
  }
}

function stackFeeds(list: Record<string, Feed>[]): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const name of Object.keys(list[0])) {
    const parts = list.map((f) => f[name]);
    const rows = parts.reduce((s, t) => s + Number(t.dims[0]), 0);
    const first = parts[0].data as Typed;
    const Ctor = first.constructor as new (n: number) => Typed;
    const data = new Ctor(parts.reduce((s, t) => s + (t.data as Typed).length, 0));
    let off = 0;
    for (const t of parts) {
      (data as Float32Array).set(t.data as Float32Array, off);
      off += (t.data as Typed).length;
    }
    out[name] = { type: parts[0].type, data, dims: [rows, ...parts[0].dims.slice(1)] };
  }
  return out;
}

function sliceRows(t: Feed, row: number, rows: number): Feed {
  const per = t.dims.slice(1).reduce((a, b) => a * Number(b), 1);
  const d = t.data as Typed;
  return { type: t.type, data: d.subarray(row * per, (row + rows) * per), dims: [rows, ...t.dims.slice(1)] };
}

/** onnxruntime-node in process. GPU providers are refused here unless the repository granted a GPU. */
export class OrtNodeEngine implements Engine {
  readonly id = 'ort-node' as const;
  constructor(private readonly opts: OrtNodeEngineOptions) {}

  async load(req: LoadRequest): Promise<LoadedModel> {
    const o = req.config.options;
    const session = await OrtWorkerSession.create(req.config.modelPath, {
      executionProviders: ortExecutionProviders(o),
      graphOptimizationLevel: o.graphOptimization,
      // 0 = ORT's default (all cores); the key must be absent, not undefined, for ORT.
      ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
      interOpNumThreads: 1,
      executionMode: 'sequential',
    }).catch((e: unknown) => {
      throw explainProviderFailure(o.provider, e);
    });
    return new OrtNodeModel(session, o.maxBatch, this.opts);
  }
}
