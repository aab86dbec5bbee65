import type { Letterbox } from '../vision/letterbox';

/**
 * Messages between the data plane's main thread and an ONNX Runtime worker thread (one per model
 * instance). Tensors travel as ArrayBuffers with an offset, transferred, never cloned; a batch of
 * requests travels as one message and is answered as one.
 */
export type OrtType =
  | 'bool'
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'uint64'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'string';

export type Typed =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/** Bytes in a slot of the shared buffer pool (apps/inference/src/buffers), known to the worker by id. */
export interface SharedRef {
  id: number;
  offset: number;
  bytes: number;
}

/** A tensor: its bytes in a shared slot (`ref`), or a typed array that travels with the message (`data`). */
export interface Feed {
  type: OrtType;
  dims: number[];
  data?: Typed;
  ref?: SharedRef;
}

export interface ValueMeta {
  name: string;
  isTensor: boolean;
  type: OrtType;
  shape: (number | string)[];
}

export interface OrtSessionOptions {
  executionProviders: unknown[];
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
}

/**
 * One request of a batch: raw tensors, or an image decoded to RGB on the main thread (sharp,
 * libuv's pool). `deadline` (Date.now() ms): the worker drops an item whose deadline has passed
 * by the time its turn comes, unrun.
 */
export type RunItem = { deadline: number } & (
  | {
      kind: 'tensors';
      feeds: Record<string, Feed>;
      /** Outputs to answer as JSON text (the KServe `data` array) instead of bytes. */
      jsonOutputs?: string[];
      /**
       * Slots to write outputs into. With `dims` (known when only the batch axis is symbolic) ONNX
       * Runtime writes straight into them; without, the output is copied in when it fits (a size
       * learned from earlier runs of the same input shapes, which a model may not keep).
       */
      outputSlots?: Record<string, { ref: SharedRef; dims?: number[] }>;
    }
  | {
      kind: 'detect';
      /** Resized RGB (HWC uint8) of lb.newW x lb.newH. */
      rgb: Uint8Array;
      lb: Letterbox;
      conf: number;
      iou: number;
      maxDet: number;
    }
  | {
      kind: 'classify';
      /** Resized RGB (HWC uint8) of w x h. */
      rgb: Uint8Array;
      w: number;
      h: number;
      normalization: 'imagenet' | 'unit';
      topK: number;
    }
);

export interface DetectionRow {
  cls: number;
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export type ItemResult =
  | {
      kind: 'tensors';
      outputs: Record<string, Feed>;
      /** Outputs asked for as JSON: their KServe `data` array as JSON text. */
      json: Record<string, { type: OrtType; dims: number[]; text: string }>;
    }
  | { kind: 'detect'; detections: DetectionRow[] }
  | { kind: 'classify'; classes: { classId: number; score: number }[] }
  | { kind: 'expired' };

export type WorkerRequest =
  | { op: 'load'; id: number; path: string; options: OrtSessionOptions }
  | {
      op: 'run';
      id: number;
      items: RunItem[];
      fetches?: string[];
      /** Shared buffers this worker sees for the first time, by slot id. */
      sabs?: Record<number, SharedArrayBuffer>;
    }
  | { op: 'forget'; id: number; ids: number[] }
  | { op: 'close'; id: number };

export type WorkerAnswer =
  | { id: number; error: string }
  | { id: number; inputs: ValueMeta[]; outputs: ValueMeta[] }
  | {
      id: number;
      results: ItemResult[];
      /** Rows the model ran on (the batch). */
      rows: number;
      /** When the worker took the batch up (wall-clock µs, timeOrigin + now). */
      startedUs: number;
      /** Building the input in the worker (image to CHW, stacking a batch), µs. */
      preUs: number;
      inferUs: number;
      /** Splitting the batch, decoding, NMS and JSON encoding in the worker, µs. */
      postUs: number;
    }
  | { id: number; closed: true }
  | { id: number; forgot: number };
