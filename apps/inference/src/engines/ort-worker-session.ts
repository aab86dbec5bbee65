import { Worker } from 'node:worker_threads';
import type { OrtExecutionProvider } from './ort-providers';

/**
 * An ONNX Runtime session living in its own worker thread. onnxruntime-node runs inference
 * synchronously on the calling thread, so a session on the main thread would block every
 * socket for the length of a run; here the event loop stays free and tensors cross the thread
 * boundary as transferred (not copied) ArrayBuffers where they own their whole buffer.
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
  executionProviders: OrtExecutionProvider[];
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
}

const WORKER_SOURCE = (ortPath: string) => `
const { parentPort } = require('node:worker_threads');
const ort = require(${JSON.stringify(ortPath)});
let session;
const meta = (m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.isTensor ? [...m.shape] : [] });
parentPort.on('message', async (m) => {
  try {
    if (m.op === 'load') {
      session = await ort.InferenceSession.create(m.path, m.options);
      parentPort.postMessage({ id: m.id, inputs: session.inputMetadata.map(meta), outputs: session.outputMetadata.map(meta) });
    } else if (m.op === 'run') {
      const feeds = {};
      for (const n of Object.keys(m.feeds)) { const f = m.feeds[n]; feeds[n] = new ort.Tensor(f.type, f.data, f.dims); }
      const out = m.fetches ? await session.run(feeds, m.fetches) : await session.run(feeds);
      const outputs = {};
      const transfer = [];
      for (const n of Object.keys(out)) {
        const t = out[n];
        let data = t.data;
        // Own the whole buffer so it can be transferred instead of copied.
        if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
        outputs[n] = { type: t.type, dims: [...t.dims], data };
        transfer.push(data.buffer);
      }
      try { parentPort.postMessage({ id: m.id, outputs }, transfer); } catch { parentPort.postMessage({ id: m.id, outputs }); }
    } else if (m.op === 'close') {
      if (session) await session.release();
      session = undefined;
      parentPort.postMessage({ id: m.id });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  }
});
`;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class OrtWorkerSession {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private exited = false;
  inputs: ValueMeta[] = [];
  outputs: ValueMeta[] = [];

  private constructor() {
    this.worker = new Worker(WORKER_SOURCE(require.resolve('onnxruntime-node')), { eval: true, name: 'ort-session' });
    this.worker.on('message', (m: { id: number; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m);
    });
    const failAll = (e: Error) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`ort worker exited with code ${code}`)));
  }

  static async create(path: string, options: OrtSessionOptions): Promise<OrtWorkerSession> {
    const s = new OrtWorkerSession();
    try {
      const r = (await s.send({ op: 'load', path, options })) as { inputs: ValueMeta[]; outputs: ValueMeta[] };
      s.inputs = r.inputs;
      s.outputs = r.outputs;
      return s;
    } catch (e) {
      await s.worker.terminate();
      throw e;
    }
  }

  private send(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error('ort worker is gone'));
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /**
   * Runs the session. Feeds whose typed array owns its whole ArrayBuffer are transferred (the
   * caller must not touch them afterwards); views into larger buffers are copied by the clone.
   */
  async run(feeds: Record<string, Feed>, fetches?: string[]): Promise<Record<string, Feed>> {
    const transfer: ArrayBuffer[] = [];
    for (const f of Object.values(feeds)) {
      const b = f.data.buffer as ArrayBuffer;
      if (
        Object.prototype.toString.call(b) === '[object ArrayBuffer]' &&
        f.data.byteOffset === 0 &&
        f.data.byteLength === b.byteLength &&
        !transfer.includes(b)
      )
        transfer.push(b);
    }
    const r = (await this.send({ op: 'run', feeds, fetches }, transfer)) as { outputs: Record<string, Feed> };
    return r.outputs;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    try {
      await Promise.race([this.send({ op: 'close' }), new Promise((r) => setTimeout(r, 5000))]);
    } finally {
      await this.worker.terminate();
    }
  }
}
