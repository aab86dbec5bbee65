import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { AdmissionPool, AdmissionRejectedError, type AdmissionTicket } from '../admission/admission-pool';
import type { SharedBufferPool, SharedSlot } from '../buffers/shared-buffer-pool';
import {
  DeadlineExceededError,
  EngineOverloadedError,
  InvalidInferenceInputError,
  type Timing,
} from '../engines/engine';
import { type Endpoint, type FailureReason, InferenceMetrics } from '../metrics/inference-metrics';
import { type ModelEntry, ModelRepository } from '../repository/model-repository.service';
import { ImageInputError } from '../vision/image-input';
import { HttpError, readBody, sendJson, sendParts, sendProblem } from './http-util';
import { boundaryOf, firstFilePart } from './multipart';
import {
  encodeInferResponse,
  INFERENCE_HEADER,
  KserveRequestError,
  parseInferRequest,
  wantsBinary,
} from './tensor-codec';

export const KSERVE_OPTIONS = Symbol('KSERVE_OPTIONS');
export interface KserveOptions {
  deadlineMs: number;
  maxBodyBytes: number;
  serverVersion: string;
  /** Reused buffers that request bodies are read into. */
  buffers?: SharedBufferPool;
}

const MODEL_ROUTE =
  /^\/v2\/models\/([A-Za-z0-9][A-Za-z0-9_.-]{0,127})(?:\/versions\/([0-9]+))?(?:\/(ready|stats|infer|detect|classify))?\/?$/;

/** The model a /v2/models/{name}/... route names; undefined for every other path (/v2/models/stats too). */
export function modelNameOf(pathname: string): string | undefined {
  return pathname === '/v2/models/stats' ? undefined : MODEL_ROUTE.exec(pathname)?.[1];
}

const ms = (us: number) => Math.round(us / 10) / 100;

/**
 * The KServe v2 HTTP routes as one raw Node middleware, mounted ahead of Nest's router and body
 * parsers: the hot paths (infer, detect, classify) read the body once as bytes, and tensors stay
 * Buffers from the socket to the engine and back.
 */
@Injectable()
export class KserveRoutes {
  private readonly log = new Logger('KserveRoutes');

  constructor(
    private readonly repository: ModelRepository,
    private readonly pool: AdmissionPool,
    private readonly metrics: InferenceMetrics,
    @Inject(KSERVE_OPTIONS) private readonly opts: KserveOptions,
  ) {}

  /** Express-compatible middleware: handles /v2/**, passes everything else on. */
  readonly middleware = (req: IncomingMessage, res: ServerResponse, next: (e?: unknown) => void): void => {
    const url = req.url ?? '/';
    if (!url.startsWith('/v2')) return next();
    this.route(req, res).catch((e) => {
      this.log.error(`${req.method} ${url}: ${(e as Error)?.stack ?? String(e)}`);
      sendProblem(res, 500, 'internal error; the correlation id identifies it in the logs', url.split('?')[0]);
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [pathname, query = ''] = (req.url ?? '/').split('?', 2);
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') {
      if (pathname === '/v2' || pathname === '/v2/')
        return sendJson(res, 200, {
          name: 'cvp-inference',
          version: this.opts.serverVersion,
          extensions: ['binary_tensor_data', 'statistics', 'detect', 'classify'],
        });
      if (pathname === '/v2/health/live') return sendJson(res, 200, { live: true });
      if (pathname === '/v2/health/ready') {
        const r = this.repository.readiness();
        return r === true ? sendJson(res, 200, { ready: true }) : sendJson(res, 503, { ready: false, reason: r });
      }
      if (pathname === '/v2/models/stats')
        return sendJson(res, 200, { model_stats: this.repository.list().map((e) => this.stats(e)) });
    }
    const m = MODEL_ROUTE.exec(pathname);
    if (!m) return sendProblem(res, 404, `no route ${method} ${pathname}`, pathname);
    const [, name, , action] = m;
    const entry = this.repository.get(name);
    if (method === 'POST' && (action === 'infer' || action === 'detect' || action === 'classify')) {
      if (!entry) return this.drainAnd(req, () => sendProblem(res, 404, `model ${name} is not deployed`, pathname));
      return this.run(req, res, entry, action, new URLSearchParams(query), pathname);
    }
    if (method !== 'GET' && method !== 'HEAD')
      return sendProblem(res, 405, `${method} is not allowed on ${pathname}`, pathname);
    if (action === 'ready')
      return entry
        ? sendJson(res, 200, { name, ready: true })
        : sendProblem(res, 404, `model ${name} is not deployed or not ready`, pathname);
    if (!entry) return sendProblem(res, 404, `model ${name} is not deployed`, pathname);
    if (action === 'stats') return sendJson(res, 200, { model_stats: [this.stats(entry)] });
    if (action === undefined) return sendJson(res, 200, this.metadata(entry));
    return sendProblem(res, 405, `${method} is not allowed on ${pathname}`, pathname);
  }

  private drainAnd(req: IncomingMessage, fn: () => void): void {
    req.resume(); // the unread body is discarded so the keep-alive connection stays usable
    fn();
  }

  private metadata(e: ModelEntry) {
    const sig = e.model!.signature;
    return {
      name: e.name,
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: sig.inputs,
      outputs: sig.outputs,
      parameters: {
        deployment_id: e.deploymentId,
        engine: e.config.engine,
        provider: e.config.options.provider,
        precision: e.config.options.precision,
        max_batch: e.config.options.maxBatch,
        instances: e.config.options.instances ?? 1,
        threads: e.config.options.threads,
        aliases: e.aliases,
        task: e.task ?? null,
      },
    };
  }

  private stats(e: ModelEntry) {
    const s = this.metrics.statistics(e.name);
    return {
      name: e.name,
      version: '1',
      last_inference: s.lastInference,
      inference_count: s.inferenceCount,
      execution_count: Math.round(s.executionCount),
      inference_stats: {
        success: s.success,
        fail: s.fail,
        queue: s.queue,
        compute_input: s.computeInput,
        compute_infer: s.computeInfer,
        compute_output: s.computeOutput,
      },
    };
  }

  private async run(
    req: IncomingMessage,
    res: ServerResponse,
    entry: ModelEntry,
    endpoint: Endpoint,
    q: URLSearchParams,
    instance: string,
  ): Promise<void> {
    const t0 = performance.now();
    const name = entry.name;
    this.metrics.received(name, endpoint);
    const fail = (status: number, reason: FailureReason, detail: string, retryAfter?: number) => {
      this.metrics.failed(name, endpoint, reason, status, performance.now() - t0);
      // A 429 says which bound refused it, so clients and load tests can tell them apart.
      const overload = status === 429 ? (reason === 'deadline' ? 'deadline' : 'queue_full') : undefined;
      sendProblem(res, status, detail, instance, retryAfter, overload);
    };
    // A place in admission is taken before a byte of the body is read: beyond workers + queue cap
    // the answer is 429 at once, so a burst cannot make the server buffer its bodies.
    let ticket: AdmissionTicket;
    try {
      ticket = this.pool.admit();
    } catch (e) {
      const r = e as AdmissionRejectedError;
      this.metrics.setQueueDepth(this.pool.queued);
      return this.drainAnd(req, () =>
        r.reason === 'closed'
          ? fail(503, 'rejected', r.message, r.retryAfterSeconds)
          : fail(429, 'rejected', `server overloaded: ${r.message}`, r.retryAfterSeconds),
      );
    }
    this.metrics.setQueueDepth(this.pool.queued);
    const deadline = Date.now() + this.opts.deadlineMs;
    // A client that hangs up cancels its request wherever it waits (admission queue, engine queue, core).
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const signal = ac.signal;
    entry.enter();
    let bodySlot: SharedSlot | undefined;
    try {
      const headerLength = endpoint === 'infer' ? this.headerLength(req) : undefined;
      const read = await readBody(req, {
        maxBytes: this.opts.maxBodyBytes,
        timeoutMs: deadline - Date.now(),
        alignAt: headerLength,
        pool: this.opts.buffers,
      });
      const body = read.body;
      bodySlot = read.slot;
      let respond: () => void;
      let timing: Timing;
      if (endpoint === 'infer') {
        const parsed = parseInferRequest(body, headerLength);
        const names = parsed.outputs ?? entry.model!.signature.outputs.map((o) => o.name);
        const jsonOutputs = names.filter((n) => !wantsBinary(parsed, n));
        const r = await this.admitted(ticket, name, deadline, signal, (queuedUs) =>
          entry
            .model!.infer(parsed.inputs, parsed.outputs, deadline, signal, {
              // The body is this request's own buffer and is not read again: engines may detach it.
              transferInputs: true,
              jsonOutputs: jsonOutputs.length ? jsonOutputs : undefined,
            })
            .then((x) => ((x.timing.queueUs += queuedUs), x)),
        );
        timing = r.timing;
        // Output buffers go back to the engine once the response is out (or the client left).
        if (r.release) res.once('close', r.release);
        respond = () => {
          const enc = encodeInferResponse(name, parsed, r.outputs);
          const headers: Record<string, string | number> =
            enc.headerLength !== undefined
              ? { 'content-type': 'application/octet-stream', [INFERENCE_HEADER]: enc.headerLength }
              : { 'content-type': 'application/json' };
          sendParts(res, 200, headers, enc.parts);
        };
      } else {
        const image = this.imageOf(req, body);
        if (endpoint === 'detect') {
          const opts = {
            conf: num(q, 'conf', 0.25, 0, 1),
            iou: num(q, 'iou', 0.45, 0, 1),
            maxDet: Math.round(num(q, 'max_det', 300, 1, 10000)),
            imgsz: Math.round(num(q, 'imgsz', entry.imgsz(640), 32, 4096)),
          };
          const r = await this.admitted(ticket, name, deadline, signal, (queuedUs) =>
            entry.model!.detect(image, opts, deadline, signal).then((x) => ((x.timing.queueUs += queuedUs), x)),
          );
          timing = r.timing;
          respond = () =>
            sendJson(res, 200, {
              model_name: name,
              image: { width: r.width, height: r.height },
              detections: r.detections.map((d) => ({
                class_id: d.classId,
                label: entry.label(d.classId),
                score: d.score,
                box: d.box,
              })),
              timing_ms: {
                queue: ms(r.timing.queueUs),
                pre: ms(r.timing.preUs),
                infer: ms(r.timing.inferUs),
                post: ms(r.timing.postUs),
              },
            });
        } else {
          const norm = q.get('normalization') ?? 'imagenet';
          if (norm !== 'imagenet' && norm !== 'unit')
            throw new HttpError(400, 'normalization must be imagenet or unit');
          const opts = {
            topK: Math.round(num(q, 'top_k', 5, 1, 1000)),
            imgsz: Math.round(num(q, 'imgsz', entry.imgsz(224), 16, 4096)),
            normalization: norm as 'imagenet' | 'unit',
          };
          const r = await this.admitted(ticket, name, deadline, signal, (queuedUs) =>
            entry.model!.classify(image, opts, deadline, signal).then((x) => ((x.timing.queueUs += queuedUs), x)),
          );
          timing = r.timing;
          respond = () =>
            sendJson(res, 200, {
              model_name: name,
              classes: r.classes.map((c) => ({ class_id: c.classId, label: entry.label(c.classId), score: c.score })),
              timing_ms: {
                queue: ms(r.timing.queueUs),
                pre: ms(r.timing.preUs),
                infer: ms(r.timing.inferUs),
                post: ms(r.timing.postUs),
              },
            });
        }
      }
      respond();
      this.metrics.succeeded(name, endpoint, timing, performance.now() - t0);
    } catch (e) {
      if (signal.aborted || res.socket?.destroyed) return fail(499, 'aborted', 'client closed the request');
      if (e instanceof AdmissionRejectedError) {
        if (e.reason === 'closed') return fail(503, 'rejected', e.message, e.retryAfterSeconds);
        return fail(429, e.reason === 'deadline' ? 'deadline' : 'rejected', e.message, e.retryAfterSeconds);
      }
      if (e instanceof EngineOverloadedError) return fail(429, 'rejected', e.message, this.pool.retryAfterSeconds());
      if (e instanceof DeadlineExceededError)
        return fail(
          429,
          'deadline',
          `request deadline (${this.opts.deadlineMs} ms) exceeded: ${e.message}`,
          this.pool.retryAfterSeconds(),
        );
      if (e instanceof HttpError) return fail(e.status, 'bad_request', e.message, e.retryAfterSeconds);
      if (e instanceof KserveRequestError || e instanceof InvalidInferenceInputError)
        return fail(400, 'bad_request', e.message);
      if (e instanceof ImageInputError) return fail(e.status, 'bad_request', e.message);
      this.log.error(`${name} ${endpoint} failed: ${(e as Error)?.stack ?? String(e)}`);
      return fail(500, 'error', `inference failed: ${(e as Error)?.message ?? String(e)}`);
    } finally {
      // The engine has answered (or never got the request): nothing reads the body any more.
      if (bodySlot) this.opts.buffers?.give(bodySlot);
      ticket.release();
      entry.leave();
      this.metrics.setQueueDepth(this.pool.queued);
    }
  }

  /** Inference-Header-Content-Length: undefined when absent, a 400 when it is not a byte count. */
  private headerLength(req: IncomingMessage): number | undefined {
    const h = req.headers[INFERENCE_HEADER];
    if (h === undefined) return undefined;
    const n = Number(h);
    if (!Number.isSafeInteger(n) || n < 0) throw new KserveRequestError(`${INFERENCE_HEADER} must be a byte count`);
    return n;
  }

  /** Runs work once the admitted request holds a worker slot; the in-flight gauge covers exactly that time. */
  private async admitted<T>(
    ticket: AdmissionTicket,
    name: string,
    deadline: number,
    signal: AbortSignal,
    work: (queuedUs: number) => Promise<T>,
  ): Promise<T> {
    const queuedMs = await ticket.acquire(deadline, signal);
    this.metrics.admitted(name);
    this.metrics.setQueueDepth(this.pool.queued);
    try {
      return await work(queuedMs * 1000);
    } finally {
      this.metrics.finished(name);
    }
  }

  private imageOf(req: IncomingMessage, body: Buffer): Buffer {
    const boundary = boundaryOf(req.headers['content-type']);
    if (boundary) {
      const part = firstFilePart(body, boundary);
      if (!part) throw new HttpError(400, 'multipart body has no image part (field "image" or "file")');
      return part;
    }
    if (body.length === 0) throw new HttpError(400, 'request body is empty; send a JPEG or PNG');
    return body;
  }
}

function num(q: URLSearchParams, key: string, def: number, min: number, max: number): number {
  const raw = q.get(key);
  if (raw === null || raw === '') return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max)
    throw new HttpError(400, `${key} must be a number in [${min}, ${max}]`);
  return v;
}
