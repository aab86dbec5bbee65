import {
  isCancelled,
  isDeadlineExceeded,
  isInvalidArgument,
  isResourceExhausted,
  type NativeCoreApi,
  type NativeTiming,
} from '@cvp/native-client';
import { currentCorrelationId } from '@cvp/platform';
import { SharedBufferPool, type SharedSlot } from '../buffers/shared-buffer-pool';
import {
  DATATYPES,
  type DataType,
  DeadlineExceededError,
  type Engine,
  EngineOverloadedError,
  type InferResult,
  InvalidInferenceInputError,
  type LoadedModel,
  type LoadRequest,
  type ModelSignature,
  type Tensor,
  type Timing,
} from './engine';

export interface NativeEngineOptions {
  /** Bound on model load + warm-up in the core (TensorRT builds are slow). */
  loadTimeoutMs: number;
  /** Per-model queue capacity in the core. */
  queueCap: number;
  maxQueueDelayUs: number;
  /** Reused buffers for outputs that arrive through the core's shared memory. */
  buffers?: SharedBufferPool;
}

function timing(t: NativeTiming | undefined): Timing {
  return {
    queueUs: t?.queueUs ?? 0,
    preUs: t?.preUs ?? 0,
    inferUs: t?.inferUs ?? 0,
    postUs: t?.postUs ?? 0,
    batchSize: t?.batchSize || 1,
  };
}

/** Maps gRPC status codes to the data plane's errors (429, 400, deadline). */
function mapError(e: unknown): Error {
  if (isResourceExhausted(e)) return new EngineOverloadedError((e as Error).message);
  if (isDeadlineExceeded(e)) return new DeadlineExceededError((e as Error).message);
  if (isCancelled(e)) return new DeadlineExceededError('client went away');
  if (isInvalidArgument(e))
    return new InvalidInferenceInputError((e as { details?: string }).details || (e as Error).message);
  return e as Error;
}

const remaining = (deadline: number) => Math.max(1, deadline - Date.now());

/** A model loaded in the native core; tensors and images cross gRPC as bytes. */
export class NativeModel implements LoadedModel {
  constructor(
    private readonly core: NativeCoreApi,
    private readonly id: string,
    readonly signature: ModelSignature,
    /** Reused buffers the outputs are read into from the core's shared memory (else fresh ones). */
    private readonly buffers?: SharedBufferPool,
  ) {}

  async infer(
    inputs: Tensor[],
    outputs: string[] | undefined,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<InferResult> {
    // Outputs land in pool slots rather than a fresh MB-sized Buffer per request (page faults on
    // first touch, and external memory for V8 to collect on the event loop's isolate).
    const slots: SharedSlot[] = [];
    const pool = this.buffers;
    const release = () => {
      for (const s of slots.splice(0)) pool!.give(s);
    };
    try {
      const r = await this.core.infer({ modelId: this.id, inputs, outputs: outputs ?? [] }, remaining(deadline), {
        signal,
        correlationId: currentCorrelationId(),
        outputBuffer: pool
          ? (bytes) => {
              const slot = pool.take(bytes);
              slots.push(slot);
              return SharedBufferPool.view(slot, 0, bytes);
            }
          : undefined,
      });
      const outs: Tensor[] = r.outputs.map((o) => {
        if (!(DATATYPES as readonly string[]).includes(o.datatype))
          throw new Error(`core returned unsupported datatype ${o.datatype}`);
        return { name: o.name, datatype: o.datatype as DataType, shape: o.shape.map(Number), data: o.data };
      });
      return { outputs: outs, timing: timing(r.timing), ...(slots.length ? { release } : {}) };
    } catch (e) {
      release();
      throw mapError(e);
    }
  }

  async detect(
    image: Buffer,
    opts: { conf: number; iou: number; maxDet: number; imgsz: number },
    deadline: number,
    signal?: AbortSignal,
  ) {
    try {
      const r = await this.core.detect(
        {
          modelId: this.id,
          image,
          confThreshold: opts.conf,
          iouThreshold: opts.iou,
          maxDetections: opts.maxDet,
          imgsz: opts.imgsz,
        },
        remaining(deadline),
        { signal, correlationId: currentCorrelationId() },
      );
      return {
        detections: r.detections.map((d) => ({
          classId: d.classId,
          score: d.score,
          box: [d.x1, d.y1, d.x2, d.y2] as [number, number, number, number],
        })),
        timing: timing(r.timing),
        width: r.imageWidth,
        height: r.imageHeight,
      };
    } catch (e) {
      throw mapError(e);
    }
  }

  async classify(
    image: Buffer,
    opts: { topK: number; imgsz: number; normalization: 'imagenet' | 'unit' },
    deadline: number,
    signal?: AbortSignal,
  ) {
    try {
      const r = await this.core.classify(
        { modelId: this.id, image, topK: opts.topK, imgsz: opts.imgsz, normalization: opts.normalization },
        remaining(deadline),
        { signal, correlationId: currentCorrelationId() },
      );
      return { classes: r.classes.map((c) => ({ classId: c.classId, score: c.score })), timing: timing(r.timing) };
    } catch (e) {
      throw mapError(e);
    }
  }

  /** The core warms up during LoadModel (warmup: true). */
  async warmup(): Promise<void> {}

  async close(): Promise<void> {
    await this.core.unloadModel({ id: this.id }, 30_000);
  }
}

/** The C++ core over gRPC (CVP_NATIVE_ADDR). */
export class NativeEngine implements Engine {
  readonly id = 'native' as const;
  constructor(
    private readonly core: NativeCoreApi,
    private readonly opts: NativeEngineOptions,
  ) {}

  async load(req: LoadRequest): Promise<LoadedModel> {
    const o = req.config.options;
    await this.core.loadModel(
      {
        id: req.id,
        path: req.config.modelPath,
        engine: {
          provider: o.provider,
          precision: o.precision,
          graphOptimization: o.graphOptimization,
          intraOpThreads: o.threads,
          interOpThreads: 1,
        },
        batching: {
          maxBatch: o.maxBatch,
          maxQueueDelayUs: o.maxBatch > 1 ? this.opts.maxQueueDelayUs : 0,
          queueCapacity: this.opts.queueCap,
          // Model instances: runs the core executes at once for this model, each with `threads`.
          instanceCount: o.instances ?? 1,
        },
        warmup: true,
      },
      this.opts.loadTimeoutMs,
    );
    const md = await this.core.modelMetadata({ id: req.id }, 10_000);
    const spec = (t: { name: string; datatype: string; shape: number[] }) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape.map(Number),
    });
    return new NativeModel(
      this.core,
      req.id,
      { inputs: md.inputs.map(spec), outputs: md.outputs.map(spec) },
      this.opts.buffers,
    );
  }
}
