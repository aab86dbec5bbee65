import {
  DATATYPE_BYTES,
  DeadlineExceededError,
  type Engine,
  EngineOverloadedError,
  InvalidInferenceInputError,
  type InferOptions,
  type InferResult,
  type LoadedModel,
  type LoadRequest,
  type ModelSignature,
  type OutputTensor,
  type Tensor,
  type Timing,
} from './engine';
import { classifierImage, detectorImage, type ImageLimits } from '../vision/image-input';
import { explainProviderFailure, ortExecutionProviders } from './ort-providers';
import { FROM_ORT, TO_ORT } from './ort-types';
import type { ItemResult, RunItem } from './ort-worker-protocol';
import { type Feed, OrtWorkerSession, type SharedRef, type Typed, type ValueMeta } from './ort-worker-session';
import type { SharedBufferPool, SharedSlot } from '../buffers/shared-buffer-pool';

const VIEW: Record<Tensor['datatype'], new (b: ArrayBufferLike, o: number, n: number) => Typed> = {
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
  const d = t.data!;
  return { name, datatype, shape: t.dims.map(Number), data: Buffer.from(d.buffer, d.byteOffset, d.byteLength) };
}

const usNow = () => Number(process.hrtime.bigint() / 1000n);
/** Wall-clock µs that means the same in every thread (each thread's own timeOrigin + now). */
const wallUs = () => (performance.timeOrigin + performance.now()) * 1000;

interface JobResult {
  result: ItemResult;
  queueUs: number;
  preUs: number;
  inferUs: number;
  postUs: number;
  batchSize: number;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface Job {
  item: DistributiveOmit<RunItem, 'deadline'>;
  /** ArrayBuffers the job hands to the worker (detached when sent). */
  transfer: ArrayBuffer[];
  /** Shared slots the job's tensors live in (the worker must know their buffers). */
  shared: SharedSlot[];
  fetches?: string[];
  rows: number;
  /** Jobs with equal keys can share a batch; undefined = never batched. */
  key?: string;
  deadline: number;
  signal?: AbortSignal;
  enqueuedUs: number;
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
}

export interface OrtNodeEngineOptions {
  imageLimits: ImageLimits;
  /** Bound on jobs waiting for this model's instances. */
  queueCap: number;
  /** How long the oldest request may wait for a fuller batch (µs); only used when maxBatch > 1. */
  maxQueueDelayUs: number;
  /** Shared buffers for tensors (request bodies are read into them; outputs are written into them). */
  buffers?: SharedBufferPool;
}

/**
 * A model served by N instances, each an ONNX Runtime session (with its own intra-op threads) in
 * its own worker thread, as Triton's instance groups: a free instance takes the oldest queued
 * request (with maxBatch > 1, also later ones of the same shape, stacked along the batch axis).
 * One run at a time per instance: its intra-op pool already uses its threads, and overlapping runs
 * on one session only thrash it.
 */
export class OrtNodeModel implements LoadedModel {
  private readonly queue: Job[] = [];
  /** Batches sent to each instance and not answered yet (running, or next in its worker's queue). */
  private readonly inFlight: number[];
  private running = 0;
  /** Batches each instance ran, by instance. */
  private readonly executions: number[];
  private batchTimer?: NodeJS.Timeout;
  private readonly unsubscribe?: () => void;
  private closed = false;
  readonly signature: ModelSignature;
  private readonly batchable: boolean;
  /**
   * Bytes each output with symbolic non-batch dims (a detector's anchors, a sequence length) had,
   * by output and input shapes. A slot of that size is taken for the next such request, so the
   * worker copies the answer into shared memory instead of handing the event loop's heap a new
   * MB-sized ArrayBuffer per request (which, at tens of MB a second, made V8 run a full
   * mark-compact several times a second there).
   */
  private readonly learnedOutputBytes = new Map<string, number>();
  /** Outputs whose size only a run tells (a symbolic axis beyond the batch one); fixed at load. */
  private readonly freeSizeOutputs: ReadonlySet<string>;

  constructor(
    private readonly sessions: OrtWorkerSession[],
    private readonly maxBatch: number,
    private readonly opts: OrtNodeEngineOptions,
    /** Image side for symbolic H/W when warming up (the model's own imgsz, else 640). */
    private readonly warmupImgsz = 640,
  ) {
    if (sessions.length === 0) throw new RangeError('a model needs at least one instance');
    this.inFlight = sessions.map(() => 0);
    // Slots the pool lets go are forgotten by the workers too, so their memory really goes.
    this.unsubscribe = opts.buffers?.onDropped((ids) => sessions.forEach((s) => s.forget(ids)));
    this.executions = sessions.map(() => 0);
    const spec = (m: ValueMeta) => ({
      name: m.name,
      datatype: m.isTensor ? (FROM_ORT[m.type] ?? m.type.toUpperCase()) : 'BYTES',
      shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) : [],
    });
    this.signature = { inputs: sessions[0].inputs.map(spec), outputs: sessions[0].outputs.map(spec) };
    this.batchable =
      maxBatch > 1 &&
      [...this.signature.inputs, ...this.signature.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
    this.freeSizeOutputs = new Set(
      this.signature.outputs.filter((o) => o.shape.slice(1).some((d) => d < 0)).map((o) => o.name),
    );
  }

  get instances(): number {
    return this.sessions.length;
  }

  /** Batches run so far, per instance. */
  instanceExecutions(): number[] {
    return [...this.executions];
  }

  private enqueue(job: Omit<Job, 'enqueuedUs' | 'resolve' | 'reject'>): Promise<JobResult> {
    if (this.closed) return Promise.reject(new EngineOverloadedError('model is being unloaded'));
    if (this.queue.length >= this.opts.queueCap)
      return Promise.reject(new EngineOverloadedError(`${this.queue.length} requests queued for this model`));
    return new Promise<JobResult>((resolve, reject) => {
      this.queue.push({ ...job, key: this.batchable ? job.key : undefined, enqueuedUs: wallUs(), resolve, reject });
      this.pump();
    });
  }

  /**
   * The instance to send the next batch to: an idle one first; else one that is running but has
   * nothing queued, so that its worker starts the next batch the moment it finishes, without a
   * round trip through this thread's event loop (which may be busy writing responses). Depth 2
   * per instance keeps that at one batch whose order is fixed early.
   */
  private nextInstance(): number {
    const idle = this.inFlight.indexOf(0);
    return idle >= 0 ? idle : this.inFlight.indexOf(1);
  }

  private pump(): void {
    while (this.queue.length > 0 && this.nextInstance() >= 0) {
      if (this.batchable && this.opts.maxQueueDelayUs > 0 && this.queue[0].key !== undefined) {
        // Wait for a fuller batch, at most until the oldest request has waited maxQueueDelayUs.
        const rows = this.queue.reduce((s, j) => s + (j.key === this.queue[0].key ? j.rows : 0), 0);
        const waitUs = this.queue[0].enqueuedUs + this.opts.maxQueueDelayUs - wallUs();
        if (rows < this.maxBatch && waitUs > 0) {
          this.batchTimer ??= setTimeout(
            () => {
              this.batchTimer = undefined;
              this.pump();
            },
            Math.ceil(waitUs / 1000),
          );
          return;
        }
      }
      const batch = this.takeBatch();
      if (batch.length === 0) return;
      void this.runBatch(this.nextInstance(), batch);
    }
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
    if (first.key === undefined) return batch;
    let rows = first.rows;
    for (let i = 0; i < this.queue.length && rows < this.maxBatch;) {
      const j = this.queue[i];
      if (rows + j.rows <= this.maxBatch && j.key === first.key) {
        batch.push(j);
        rows += j.rows;
        this.queue.splice(i, 1);
      } else i++;
    }
    return batch;
  }

  private async runBatch(instance: number, batch: Job[]): Promise<void> {
    this.running++;
    this.inFlight[instance]++;
    this.executions[instance]++;
    try {
      const transfer = [...new Set(batch.flatMap((j) => j.transfer))];
      const a = await this.sessions[instance].run(
        batch.map((j) => ({ ...j.item, deadline: j.deadline }) as RunItem),
        batch[0].fetches,
        transfer,
        batch.flatMap((j) => j.shared),
      );
      a.results.forEach((result, k) => {
        if (result.kind === 'expired')
          return batch[k].reject(new DeadlineExceededError('deadline passed while queued for the engine'));
        batch[k].resolve({
          result,
          // until the worker started it: the wait here and the wait in the worker's own queue
          queueUs: Math.max(0, Math.round(a.startedUs - batch[k].enqueuedUs)),
          preUs: a.preUs,
          inferUs: a.inferUs,
          postUs: a.postUs,
          batchSize: a.rows,
        });
      });
    } catch (e) {
      const err = /input|dimension|shape|type|Got invalid|index|rank/i.test((e as Error).message)
        ? new InvalidInferenceInputError((e as Error).message)
        : (e as Error);
      for (const j of batch) j.reject(err);
    } finally {
      this.running--;
      this.inFlight[instance]--;
      this.pump();
    }
  }

  async infer(
    inputs: Tensor[],
    outputs: string[] | undefined,
    deadline: number,
    signal?: AbortSignal,
    o: InferOptions = {},
  ): Promise<InferResult> {
    const known = new Set(this.signature.inputs.map((i) => i.name));
    for (const i of inputs)
      if (!known.has(i.name))
        throw new InvalidInferenceInputError(`unknown input ${i.name}; the model takes ${[...known].join(', ')}`);
    if (outputs) {
      const outs = new Set(this.signature.outputs.map((x) => x.name));
      for (const x of outputs) if (!outs.has(x)) throw new InvalidInferenceInputError(`unknown output ${x}`);
    }
    const preStart = usNow();
    const pool = this.opts.buffers;
    const feeds: Record<string, Feed> = {};
    const transfer = new Set<ArrayBuffer>();
    const shared = new Set<SharedSlot>();
    for (const t of inputs) {
      // Bytes already in a shared slot (the request body) are named, not moved.
      const slot = pool?.slotOf(t.data.buffer);
      if (slot) {
        feeds[t.name] = {
          type: TO_ORT[t.datatype],
          dims: t.shape,
          ref: { id: slot.id, offset: t.data.byteOffset, bytes: t.data.length },
        };
        shared.add(slot);
        continue;
      }
      const f = toFeed(t);
      feeds[t.name] = f;
      // Only a buffer the tensor fills alone can move: a copy made for alignment is ours; the
      // caller's bytes move only when it says so (a view into a larger buffer is cloned).
      const d = f.data!;
      const whole =
        d.byteOffset === 0 && d.byteLength === d.buffer.byteLength && !(d.buffer instanceof SharedArrayBuffer);
      if (whole && (o.transferInputs || d.buffer !== t.data.buffer)) transfer.add(d.buffer as ArrayBuffer);
    }
    const rows = inputs[0]?.shape[0] ?? 1;
    const names = outputs ?? this.signature.outputs.map((x) => x.name);
    // Only models with free-size outputs pay for the key (per request, on the event loop).
    const shapesKey = this.freeSizeOutputs.size ? JSON.stringify(inputs.map((t) => t.shape)) : '';
    const outputSlots = pool ? this.outputSlots(pool, names, rows, o.jsonOutputs, shapesKey) : {};
    for (const s of Object.values(outputSlots)) shared.add(s.slot);
    const release = () => {
      for (const s of Object.values(outputSlots)) pool!.give(s.slot);
    };
    const key = JSON.stringify([
      outputs ?? null,
      o.jsonOutputs ?? null,
      inputs.map((t) => [t.name, t.datatype, t.shape.slice(1)]),
    ]);
    const preUs = usNow() - preStart;
    let r: JobResult;
    try {
      r = await this.enqueue({
        item: {
          kind: 'tensors',
          feeds,
          jsonOutputs: o.jsonOutputs,
          outputSlots: Object.keys(outputSlots).length
            ? Object.fromEntries(Object.entries(outputSlots).map(([n, s]) => [n, { ref: s.ref, dims: s.dims }]))
            : undefined,
        },
        transfer: [...transfer],
        shared: [...shared],
        fetches: outputs,
        rows: this.batchable ? rows : 1,
        key,
        deadline,
        signal,
      });
    } catch (e) {
      release();
      throw e;
    }
    const postStart = usNow();
    if (r.result.kind !== 'tensors') {
      release();
      throw new Error('worker answered a tensor request with a non-tensor result');
    }
    const res = r.result;
    const result: OutputTensor[] = names.map((n) => {
      const json = res.json[n];
      if (json !== undefined) {
        const datatype = FROM_ORT[json.type];
        if (!datatype) throw new Error(`output ${n} has unsupported type ${json.type}`);
        return { name: n, datatype, shape: json.dims.map(Number), data: EMPTY, json: json.text };
      }
      const f = res.outputs[n];
      if (!f.ref) {
        if (pool && f.data && this.freeSizeOutputs.has(n)) this.learnOutputBytes(n, shapesKey, f.data.byteLength);
        return fromFeed(n, f);
      }
      const datatype = FROM_ORT[f.type];
      if (!datatype) throw new Error(`output ${n} has unsupported type ${f.type}`);
      return {
        name: n,
        datatype,
        shape: f.dims.map(Number),
        data: Buffer.from(outputSlots[n].slot.sab, 0, f.ref.bytes),
      };
    });
    const timing: Timing = {
      queueUs: r.queueUs,
      preUs: preUs + r.preUs,
      inferUs: r.inferUs,
      postUs: r.postUs + usNow() - postStart,
      batchSize: r.batchSize,
    };
    return { outputs: result, timing, release };
  }

  /**
   * A shared slot for every output whose size is known before the run: from the model when only
   * the batch axis is symbolic (the worker has ONNX Runtime write the answer where the response is
   * sent from), else as learned from earlier runs of the same input shapes (the worker copies the
   * answer in when it fits).
   */
  private outputSlots(
    pool: SharedBufferPool,
    names: string[],
    rows: number,
    jsonOutputs: string[] | undefined,
    shapesKey: string,
  ): Record<string, { slot: SharedSlot; ref: SharedRef; dims?: number[] }> {
    const out: Record<string, { slot: SharedSlot; ref: SharedRef; dims?: number[] }> = {};
    for (const n of names) {
      if (jsonOutputs?.includes(n)) continue;
      const spec = this.signature.outputs.find((x) => x.name === n);
      const size = spec && DATATYPE_BYTES[spec.datatype as Tensor['datatype']];
      if (!spec || !size || spec.shape.length === 0) continue;
      if (this.freeSizeOutputs.has(n)) {
        const learned = this.learnedOutputBytes.get(`${n} ${shapesKey}`);
        if (!learned) continue;
        const slot = pool.take(learned);
        out[n] = { slot, ref: { id: slot.id, offset: 0, bytes: slot.bytes } };
        continue;
      }
      const dims = [spec.shape[0] < 0 ? rows : spec.shape[0], ...spec.shape.slice(1)];
      const bytes = dims.reduce((a, b) => a * b, 1) * size;
      if (bytes === 0) continue;
      const slot = pool.take(bytes);
      out[n] = { slot, ref: { id: slot.id, offset: 0, bytes }, dims };
    }
    return out;
  }

  private learnOutputBytes(name: string, shapesKey: string, bytes: number): void {
    if (bytes === 0) return;
    // Many input shapes in turn (free image sizes): start over rather than grow without bound.
    if (this.learnedOutputBytes.size >= 256) this.learnedOutputBytes.clear();
    this.learnedOutputBytes.set(`${name} ${shapesKey}`, bytes);
  }

  /** Input H x W: fixed dims from the model, else the requested size. */
  private imageSize(imgsz: number): [number, number] {
    const s = this.signature.inputs[0]?.shape ?? [];
    if (s.length !== 4)
      throw new InvalidInferenceInputError(`model input has rank ${s.length}; image endpoints need NCHW`);
    return [s[2] > 0 ? s[2] : imgsz, s[3] > 0 ? s[3] : imgsz];
  }

  private static imageKey(kind: string, h: number, w: number, extra: unknown[]): string {
    return JSON.stringify([kind, h, w, ...extra]);
  }

  async detect(
    image: Buffer,
    opts: { conf: number; iou: number; maxDet: number; imgsz: number },
    deadline: number,
    signal?: AbortSignal,
  ) {
    const preStart = usNow();
    const [h, w] = this.imageSize(opts.imgsz);
    const img = await detectorImage(image, w, h, this.opts.imageLimits);
    const preUs = usNow() - preStart;
    const r = await this.enqueue({
      item: { kind: 'detect', rgb: img.rgb, lb: img.lb, conf: opts.conf, iou: opts.iou, maxDet: opts.maxDet },
      transfer: [img.rgb.buffer as ArrayBuffer],
      shared: [],
      rows: 1,
      key: OrtNodeModel.imageKey('detect', h, w, []),
      deadline,
      signal,
    });
    if (r.result.kind !== 'detect') throw new Error('worker answered a detect request with another result');
    return {
      detections: r.result.detections.map((d) => ({
        classId: d.cls,
        score: d.score,
        box: [d.x1, d.y1, d.x2, d.y2] as [number, number, number, number],
      })),
      width: img.width,
      height: img.height,
      timing: {
        queueUs: r.queueUs,
        preUs: preUs + r.preUs,
        inferUs: r.inferUs,
        postUs: r.postUs,
        batchSize: r.batchSize,
      },
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
    const rgb = await classifierImage(image, w, h, this.opts.imageLimits);
    const preUs = usNow() - preStart;
    const r = await this.enqueue({
      item: { kind: 'classify', rgb, w, h, normalization: opts.normalization, topK: opts.topK },
      transfer: [rgb.buffer as ArrayBuffer],
      shared: [],
      rows: 1,
      key: OrtNodeModel.imageKey('classify', h, w, [opts.normalization, opts.topK]),
      deadline,
      signal,
    });
    if (r.result.kind !== 'classify') throw new Error('worker answered a classify request with another result');
    return {
      classes: r.result.classes,
      timing: {
        queueUs: r.queueUs,
        preUs: preUs + r.preUs,
        inferUs: r.inferUs,
        postUs: r.postUs,
        batchSize: r.batchSize,
      },
    };
  }

  /** One zero input through every instance, so no user request pays for a session's first run. */
  async warmup(): Promise<void> {
    const feeds: Record<string, Feed> = {};
    const inputs = this.sessions[0].inputs;
    for (const i of inputs) {
      if (!i.isTensor) return;
      const dt = FROM_ORT[i.type];
      if (!dt) return;
      // Symbolic dims: batch 1, image dims for NCHW (the model's imgsz), else 1.
      const shape = i.shape.map((d, k) =>
        typeof d === 'number' && d > 0 ? d : i.shape.length === 4 && k >= 2 ? this.warmupImgsz : 1,
      );
      const n = shape.reduce((a, b) => a * b, 1);
      feeds[i.name] = toFeed({ name: i.name, datatype: dt, shape, data: Buffer.alloc(n * DATATYPE_BYTES[dt]) });
    }
    await Promise.all(this.sessions.map((s) => s.run([{ kind: 'tensors', feeds, deadline: Infinity }])));
  }

  async close(): Promise<void> {
    this.closed = true;
    // Queued work finishes (the repository stops routing here first), then the sessions go.
    const until = Date.now() + 30_000;
    while ((this.running || this.queue.length) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    clearTimeout(this.batchTimer);
    this.unsubscribe?.();
    await Promise.all(this.sessions.map((s) => s.close()));
  }
}

const EMPTY = Buffer.alloc(0);

/** onnxruntime-node in process. GPU providers are refused here unless the repository granted a GPU. */
export class OrtNodeEngine implements Engine {
  readonly id = 'ort-node' as const;
  constructor(private readonly opts: OrtNodeEngineOptions) {}

  async load(req: LoadRequest): Promise<LoadedModel> {
    const o = req.config.options;
    const options = {
      executionProviders: ortExecutionProviders(o),
      graphOptimizationLevel: o.graphOptimization,
      // 0 = ORT's default (all cores); the key must be absent, not undefined, for ORT.
      ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
      interOpNumThreads: 1,
      executionMode: 'sequential' as const,
    };
    const created = await Promise.allSettled(
      Array.from({ length: o.instances ?? 1 }, () => OrtWorkerSession.create(req.config.modelPath, options)),
    );
    const failed = created.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) {
      await Promise.all(created.map((c) => (c.status === 'fulfilled' ? c.value.close() : undefined)));
      throw explainProviderFailure(o.provider, failed.reason);
    }
    const sessions = created.map((c) => (c as PromiseFulfilledResult<OrtWorkerSession>).value);
    return new OrtNodeModel(sessions, o.maxBatch, this.opts, req.imgsz ?? 640);
  }
}
