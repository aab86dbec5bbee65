import type { EngineConfig, ModelTask } from '@cvp/contracts';

/** KServe v2 tensor datatypes the data plane carries (BYTES is not supported by any engine here). */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
] as const;
export type DataType = (typeof DATATYPES)[number];

export const DATATYPE_BYTES: Record<DataType, number> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
};

/** A tensor as it travels through the data plane: raw little-endian bytes, never a JS number array. */
export interface Tensor {
  name: string;
  datatype: DataType;
  shape: number[];
  data: Buffer;
}

/** An output as an engine returns it: bytes, or (when asked for JSON and the engine encoded it off the event loop) JSON text. */
export interface OutputTensor extends Tensor {
  /** The KServe `data` array as JSON text; `data` is then empty. */
  json?: string;
}

/** How a tensor request may be handled beyond its inputs and outputs. */
export interface InferOptions {
  /**
   * Input tensors that fill their ArrayBuffer alone belong to this request and may be handed to
   * another thread (detached) instead of copied; the caller never reads them again.
   */
  transferInputs?: boolean;
  /** Outputs the client wants as JSON: an engine may encode them off the event loop (OutputTensor.json). */
  jsonOutputs?: string[];
}

export interface InferResult {
  outputs: OutputTensor[];
  timing: Timing;
  /**
   * Hands the outputs' buffers back to the engine (they may live in reused shared slots): call it
   * once the response no longer needs them (it has been written out, or the request failed).
   */
  release?: () => void;
}

export interface TensorSpec {
  name: string;
  datatype: string;
  /** -1 where the dimension is symbolic. */
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export interface Timing {
  queueUs: number;
  preUs: number;
  inferUs: number;
  postUs: number;
  batchSize: number;
}

export interface Detection {
  classId: number;
  score: number;
  box: [number, number, number, number];
}

export interface DetectOptions {
  conf: number;
  iou: number;
  maxDet: number;
  imgsz: number;
}

export interface ClassifyOptions {
  topK: number;
  imgsz: number;
  normalization: 'imagenet' | 'unit';
}

/** What a loaded model can do; every call is bounded by an absolute deadline (Date.now() ms) and dropped when `signal` aborts (client gone). */
export interface LoadedModel {
  readonly signature: ModelSignature;
  infer(
    inputs: Tensor[],
    outputs: string[] | undefined,
    deadline: number,
    signal?: AbortSignal,
    options?: InferOptions,
  ): Promise<InferResult>;
  detect(
    image: Buffer,
    opts: DetectOptions,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<{ detections: Detection[]; timing: Timing; width: number; height: number }>;
  classify(
    image: Buffer,
    opts: ClassifyOptions,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<{ classes: { classId: number; score: number }[]; timing: Timing }>;
  /** Runs one zero input so the first user request does not pay for lazy initialisation. */
  warmup(): Promise<void>;
  close(): Promise<void>;
}

export interface LoadRequest {
  /** Unique per deployment: engines key their sessions by it. */
  id: string;
  name: string;
  task?: ModelTask;
  config: EngineConfig;
  /** The model's own input size (ONNX metadata `imgsz`), for warm-up of symbolic H/W. */
  imgsz?: number;
}

export interface Engine {
  readonly id: EngineConfig['engine'];
  load(req: LoadRequest): Promise<LoadedModel>;
}

/** The engine's queue for this model is full: the caller answers 429. */
export class EngineOverloadedError extends Error {
  constructor(message = 'engine queue full') {
    super(message);
    this.name = 'EngineOverloadedError';
  }
}

/** The request's deadline passed before it ran or finished. */
export class DeadlineExceededError extends Error {
  constructor(message = 'deadline exceeded') {
    super(message);
    this.name = 'DeadlineExceededError';
  }
}

/** The request is wrong for this model (names, shapes, dtypes): a 400. */
export class InvalidInferenceInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidInferenceInputError';
  }
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new InvalidInferenceInputError(`invalid dimension ${d} in shape [${shape.join(',')}]`);
    n *= d;
    if (n > 2 ** 31) throw new InvalidInferenceInputError(`shape [${shape.join(',')}] is too large`);
  }
  return n;
}
