import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SharedSlot } from '../buffers/shared-buffer-pool';
import type {
  ItemResult,
  OrtSessionOptions,
  RunItem,
  ValueMeta,
  WorkerAnswer,
  WorkerRequest,
} from './ort-worker-protocol';

export type { Feed, OrtSessionOptions, OrtType, RunItem, SharedRef, Typed, ValueMeta } from './ort-worker-protocol';

/** What a batch run answers: one result per item, and where the time went. */
export interface BatchAnswer {
  results: ItemResult[];
  rows: number;
  startedUs: number;
  preUs: number;
  inferUs: number;
  postUs: number;
}

/**
 * Running from TypeScript sources (the tests), the worker's entry is a .ts file: a preload compiles
 * it on require. Compiled code (dist/, bundles) starts the compiled entry, whose @cvp/* imports the
 * process's own `-r register-paths.js` preload resolves (worker threads inherit it).
 */
const FROM_SOURCES = __filename.endsWith('.ts');
const WORKER_ENTRY = path.join(__dirname, `ort-session.worker.${FROM_SOURCES ? 'ts' : 'js'}`);
const TS_REGISTER = path.resolve(__dirname, '../../../../tools/jest/ts-register.js');

/** How long a closing worker may take to release its session before it is terminated. */
const CLOSE_GRACE_MS = 5000;

interface Pending {
  resolve: (v: WorkerAnswer) => void;
  reject: (e: Error) => void;
}

/**
 * The main thread's handle on one ONNX Runtime session living in its own worker thread
 * (ort-session.worker.ts). Requests go over as one message per batch, tensors and images as
 * transferred ArrayBuffers, and the answers come back the same way.
 */
export class OrtWorkerSession {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private exited = false;
  /** Shared slots this worker has been given. */
  private readonly known = new Set<number>();
  inputs: ValueMeta[] = [];
  outputs: ValueMeta[] = [];

  private constructor() {
    this.worker = new Worker(`require(require('node:worker_threads').workerData.entry)`, {
      eval: true,
      name: 'ort-session',
      workerData: { entry: WORKER_ENTRY },
      execArgv: FROM_SOURCES ? [...process.execArgv, '--require', TS_REGISTER] : undefined,
    });
    this.worker.on('message', (m: WorkerAnswer) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if ('error' in m) p.reject(new Error(m.error));
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

  static async create(modelPath: string, options: OrtSessionOptions): Promise<OrtWorkerSession> {
    const s = new OrtWorkerSession();
    try {
      const r = (await s.send({ op: 'load', path: modelPath, options })) as {
        inputs: ValueMeta[];
        outputs: ValueMeta[];
      };
      s.inputs = r.inputs;
      s.outputs = r.outputs;
      return s;
    } catch (e) {
      await s.worker.terminate();
      throw e;
    }
  }

  private send(msg: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<WorkerAnswer> {
    if (this.exited) return Promise.reject(new Error('ort worker is gone'));
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /**
   * Runs one batch. `transfer` lists the ArrayBuffers the caller hands over (they are detached
   * here: the caller must not touch them again); everything else is cloned.
   */
  async run(
    items: RunItem[],
    fetches?: string[],
    transfer: ArrayBuffer[] = [],
    shared: SharedSlot[] = [],
  ): Promise<BatchAnswer> {
    // A shared buffer crosses to the worker once; later messages name it by id.
    const fresh = shared.filter((s) => !this.known.has(s.id));
    const sabs = fresh.length ? Object.fromEntries(fresh.map((s) => [s.id, s.sab])) : undefined;
    for (const s of fresh) this.known.add(s.id);
    return (await this.send({ op: 'run', items, fetches, sabs }, transfer)) as BatchAnswer & { id: number };
  }

  /** The pool dropped these slots: the worker lets go of their buffers too. */
  forget(ids: number[]): void {
    const mine = ids.filter((id) => this.known.delete(id));
    if (mine.length && !this.exited) void this.send({ op: 'forget', ids: mine }).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.send({ op: 'close' }),
        new Promise((r) => {
          timer = setTimeout(r, CLOSE_GRACE_MS);
        }),
      ]);
    } catch {
      // a worker that failed to close is terminated below all the same
    } finally {
      clearTimeout(timer);
      await this.worker.terminate();
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
