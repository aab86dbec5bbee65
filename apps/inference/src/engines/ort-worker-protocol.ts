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

/** A tensor as a typed array over (part of) an ArrayBuffer. */
export interface Feed {
  type: OrtType;
  dims: number[];
  data: Typed;
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

/** One request of a batch: raw tensors, or an image decoded to RGB on the main thread (sharp, libuv's pool). */
export type RunItem =
  | {
      kind: 'tensors';
      feeds: Record<string, Feed>;
      /** Outputs to answer as JSON text (the KServe `data` array) instead of bytes. */
      jsonOutputs?: string[];
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
    };

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
  | { kind: 'classify'; classes: { classId: number; score: number }[] };

export type WorkerRequest =
  | { op: 'load'; id: number; path: string; options: OrtSessionOptions }
  | { op: 'run'; id: number; items: RunItem[]; fetches?: string[] }
  | { op: 'close'; id: number };

export type WorkerAnswer =
  | { id: number; error: string }
  | { id: number; inputs: ValueMeta[]; outputs: ValueMeta[] }
  | {
      id: number;
      results: ItemResult[];
      /** Rows the model ran on (the batch). */
      rows: number;
      /** Building the input in the worker (image to CHW, stacking a batch), µs. */
      preUs: number;
      inferUs: number;
      /** Splitting the batch, decoding, NMS and JSON encoding in the worker, µs. */
      postUs: number;
    }
  | { id: number; closed: true };
