import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InferStreams, type InferStreamStats } from './infer-streams';

/**
 * TypeScript client of the native core (libs/contracts/proto/cvp_inference.proto, package
 * cvp.inference.v1). Field names are the proto's camelCased; bytes are Buffers; int64 read back
 * as numbers. Every call carries a deadline.
 */
export interface NativeEngineConfig {
  provider?: string;
  precision?: string;
  graphOptimization?: string;
  intraOpThreads?: number;
  interOpThreads?: number;
  deviceId?: number;
  trtEngineCacheDir?: string;
  trtTimingCacheDir?: string;
}
export interface NativeBatchingConfig {
  maxBatch?: number;
  maxQueueDelayUs?: number;
  queueCapacity?: number;
  /** Model instances: runs that may execute at once (Triton's instance group count). */
  instanceCount?: number;
  /**
   * 'shared': every instance runs one ONNX Runtime session (weights held once); 'separate': a
   * session, with its own intra-op thread pool, per instance. Unset: the core's default (shared on
   * CPU with one intra-op thread per instance, else separate; see native/README.md).
   */
  instanceSessions?: 'shared' | 'separate' | '';
}
export interface NativeModelInfo {
  id: string;
  path: string;
  engine?: NativeEngineConfig;
  batching?: NativeBatchingConfig;
  dynamicBatching: boolean;
  state: string;
}
export interface NativeTensorInfo {
  name: string;
  datatype: string;
  shape: number[];
  symbolicDims: string[];
}
export interface NativeTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: Buffer;
}
export interface NativeTiming {
  queueUs: number;
  preUs: number;
  inferUs: number;
  postUs: number;
  batchSize: number;
}
export interface NativeDetection {
  classId: number;
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}
export interface NativeHistogram {
  bounds: number[];
  counts: number[];
  sum: number;
  count: number;
}
export interface NativeInstanceStats {
  instance: number;
  /** the session it runs on (0 for all when instances share one) */
  session: number;
  executions: number;
  inferences: number;
  computeUs?: NativeHistogram;
  busy: boolean;
}
export interface NativeModelStats {
  id: string;
  success: number;
  failed: number;
  rejected: number;
  expired: number;
  /** the caller cancelled while queued; dropped unrun */
  cancelled: number;
  executions: number;
  inferences: number;
  queueUs?: NativeHistogram;
  computeUs?: NativeHistogram;
  batchSize?: NativeHistogram;
  queueDepth: number;
  /** batches executing now */
  running?: number;
  instances?: NativeInstanceStats[];
}

/** Per-call options: the correlation id travels as gRPC metadata `x-correlation-id` and appears in the core's logs. */
export interface NativeCallOptions {
  correlationId?: string;
  /** Aborting cancels the call (the core drops a request still queued); used when the HTTP client hangs up. */
  signal?: AbortSignal;
}

export interface NativeInferOptions extends NativeCallOptions {
  /**
   * Where an output of `bytes` bytes that arrives through shared memory is read into (a Buffer of
   * exactly that length, e.g. a view of a reused slot); by default a fresh Buffer.
   */
  outputBuffer?: (bytes: number) => Buffer;
}

export interface NativeCoreApi {
  loadModel(
    req: { id: string; path: string; engine?: NativeEngineConfig; batching?: NativeBatchingConfig; warmup?: boolean },
    timeoutMs: number,
    opts?: NativeCallOptions,
  ): Promise<{
    model: NativeModelInfo;
    loadUs: number;
    warmupUs: number;
    /** session creation alone (TensorRT: the engine build, or loading it from the cache) */
    sessionCreateUs?: number;
    /** TensorRT: this model's engine cache folder (keyed by model hash, GPU and TensorRT version) */
    engineCacheDir?: string;
  }>;
  unloadModel(req: { id: string }, timeoutMs: number, opts?: NativeCallOptions): Promise<Record<string, never>>;
  listModels(
    req: Record<string, never>,
    timeoutMs: number,
    opts?: NativeCallOptions,
  ): Promise<{ models: NativeModelInfo[] }>;
  modelMetadata(
    req: { id: string },
    timeoutMs: number,
    opts?: NativeCallOptions,
  ): Promise<{ id: string; inputs: NativeTensorInfo[]; outputs: NativeTensorInfo[]; model?: NativeModelInfo }>;
  infer(
    req: { modelId: string; inputs: NativeTensor[]; outputs?: string[] },
    timeoutMs: number,
    opts?: NativeInferOptions,
  ): Promise<{ modelId: string; outputs: NativeTensor[]; timing: NativeTiming }>;
  detect(
    req: {
      modelId: string;
      image: Buffer;
      confThreshold?: number;
      iouThreshold?: number;
      maxDetections?: number;
      imgsz?: number;
      anchorsFirst?: boolean;
    },
    timeoutMs: number,
    opts?: NativeCallOptions,
  ): Promise<{
    modelId: string;
    detections: NativeDetection[];
    timing: NativeTiming;
    imageWidth: number;
    imageHeight: number;
  }>;
  classify(
    req: { modelId: string; image: Buffer; topK?: number; imgsz?: number; normalization?: string },
    timeoutMs: number,
    opts?: NativeCallOptions,
  ): Promise<{ modelId: string; classes: { classId: number; score: number }[]; timing: NativeTiming }>;
  stats(
    req: { modelId?: string },
    timeoutMs: number,
    opts?: NativeCallOptions,
  ): Promise<{ models: NativeModelStats[] }>;
}

/** Finds the proto from the source tree or from dist/ (walks up to the repository root). */
export function findProto(start = __dirname): string {
  let dir = start;
  for (let i = 0; i < 8; i++) {
    const p = path.join(dir, 'libs/contracts/proto/cvp_inference.proto');
    if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  const cwd = path.resolve('libs/contracts/proto/cvp_inference.proto');
  if (existsSync(cwd)) return cwd;
  throw new Error('cvp_inference.proto not found above ' + start);
}

/** True for errors that mean "the core's queue for this model is full". */
export function isResourceExhausted(e: unknown): boolean {
  return (e as { code?: number })?.code === grpc.status.RESOURCE_EXHAUSTED;
}
export function isDeadlineExceeded(e: unknown): boolean {
  return (e as { code?: number })?.code === grpc.status.DEADLINE_EXCEEDED;
}
export function isInvalidArgument(e: unknown): boolean {
  const c = (e as { code?: number })?.code;
  return (
    c === grpc.status.INVALID_ARGUMENT ||
    c === grpc.status.NOT_FOUND ||
    c === grpc.status.FAILED_PRECONDITION ||
    c === grpc.status.OUT_OF_RANGE
  );
}
export function isCancelled(e: unknown): boolean {
  return (e as { code?: number })?.code === grpc.status.CANCELLED;
}
export function isUnavailable(e: unknown): boolean {
  return (e as { code?: number })?.code === grpc.status.UNAVAILABLE;
}

export interface NativeClientOptions {
  /** host:port of the core (loopback), or unix:/path. */
  address: string;
  maxMessageBytes?: number;
  /**
   * How infer() reaches the core. By default it sends requests on long-lived streams (one per
   * concurrent request, at most `maxStreams`, default 16): connections to the core's fast socket
   * when the core runs on this host (`socket`, default true), else InferStream calls; and, on this
   * host, it passes tensors through a shared-memory region the core creates per stream (at most
   * `maxRegionMb` MB, default 256) instead of inside the messages. Calls beyond `maxStreams`, and
   * every call with `maxStreams: 0`, are plain unary RPCs; tensors that do not fit a region travel
   * in the messages. Results are the same either way; see native/README.md for the costs.
   */
  fastPath?: { maxStreams?: number; socket?: boolean; sharedMemory?: boolean; maxRegionMb?: number; shmDir?: string };
}

/** True when the address names this host (loopback or a Unix socket): shared memory can work. */
export function isLocalAddress(address: string): boolean {
  if (address.startsWith('unix:')) return true;
  const host = address
    .replace(/^dns:\/*/, '')
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

type Unary = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

export class NativeCoreClient implements NativeCoreApi {
  private readonly client: grpc.Client & Record<string, Unary>;
  private readonly streams: InferStreams;

  constructor(opts: NativeClientOptions) {
    const def = protoLoader.loadSync(findProto(), {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      arrays: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      cvp: { inference: { v1: { InferenceCore: grpc.ServiceClientConstructor } } };
    };
    const max = opts.maxMessageBytes ?? 256 * 1024 * 1024;
    this.client = new pkg.cvp.inference.v1.InferenceCore(opts.address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
      // Image tensors are MBs; with HTTP/2's default 64 KB window the transfer stalls on window
      // updates. Measured on a 4.8 MB request + response to cvp-core: 84 -> 67 ms wall.
      'grpc-node.flow_control_window': 8 * 1024 * 1024,
    }) as unknown as grpc.Client & Record<string, Unary>;
    const fp = opts.fastPath ?? {};
    const duplex = this.client as unknown as Record<
      string,
      (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, never>
    >;
    const streamDef = def['cvp.inference.v1.InferenceCore'] as Record<
      string,
      protoLoader.MethodDefinition<object, object>
    >;
    const inferStream = streamDef.InferStream;
    this.streams = new InferStreams(
      {
        openStream: () => duplex.InferStream.call(this.client, new grpc.Metadata()),
        serverInfo: () => this.call<{ fastSocket: string }>('ServerInfo', {}, 5000),
        encodeRequest: (m) => inferStream.requestSerialize(m),
        decodeAnswer: (b) => inferStream.responseDeserialize(b) as never,
      },
      {
        maxStreams: fp.maxStreams ?? 16,
        socket: fp.socket ?? true,
        sharedMemory: fp.sharedMemory ?? true,
        maxRegionBytes: Math.max(1, fp.maxRegionMb ?? 256) * 1024 * 1024,
        shmDir: fp.shmDir ?? '/dev/shm',
        maxFrameBytes: max,
      },
      isLocalAddress(opts.address),
    );
  }

  private call<T>(method: string, req: unknown, timeoutMs: number, opts?: NativeCallOptions): Promise<T> {
    const meta = new grpc.Metadata();
    if (opts?.correlationId) meta.set('x-correlation-id', opts.correlationId);
    const signal = opts?.signal;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = this.client[method].call(
        this.client,
        req,
        meta,
        { deadline: Date.now() + Math.max(1, timeoutMs) },
        (e, res) => {
          signal?.removeEventListener('abort', onAbort);
          if (e) reject(e);
          else resolve(res as T);
        },
      );
      if (signal?.aborted) call.cancel();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Waits (bounded) until the channel is connected. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (e) => (e ? reject(e) : resolve())),
    );
  }

  loadModel: NativeCoreApi['loadModel'] = (r, t, o) => this.call('LoadModel', r, t, o);
  unloadModel: NativeCoreApi['unloadModel'] = (r, t, o) => this.call('UnloadModel', r, t, o);
  listModels: NativeCoreApi['listModels'] = (r, t, o) => this.call('ListModels', r, t, o);
  modelMetadata: NativeCoreApi['modelMetadata'] = (r, t, o) => this.call('ModelMetadata', r, t, o);
  infer: NativeCoreApi['infer'] = async (r, t, o) => {
    const streamed = await this.streams.infer(r, t, o);
    if (streamed) return streamed as Awaited<ReturnType<NativeCoreApi['infer']>>;
    this.streams.countUnary();
    return this.call('Infer', r, t, o);
  };
  detect: NativeCoreApi['detect'] = (r, t, o) => this.call('Detect', r, t, o);
  classify: NativeCoreApi['classify'] = (r, t, o) => this.call('Classify', r, t, o);
  stats: NativeCoreApi['stats'] = (r, t, o) => this.call('Stats', r, t, o);

  /** What infer()'s fast path did so far (streams, shared memory, unary fallbacks). */
  fastPathStats(): InferStreamStats {
    return this.streams.stats();
  }

  close(): void {
    this.streams.close();
    this.client.close();
  }
}
