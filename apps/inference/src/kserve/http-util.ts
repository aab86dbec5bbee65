import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROBLEM_CONTENT_TYPE } from '@cvp/contracts';
import { currentCorrelationId, drainRefusedBody, problem } from '@cvp/platform';
import { copyBytes, type SharedBufferPool, type SharedSlot } from '../buffers/shared-buffer-pool';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ReadBodyOptions {
  maxBytes: number;
  /** Bound on the whole read (ms); past it the request is answered 408. */
  timeoutMs: number;
  /**
   * Offset into the body where binary tensors start (the JSON header's length): the body is
   * placed so that this offset is 8-byte aligned, and tensors can be viewed without a copy.
   */
  alignAt?: number;
  /** Where bodies of a declared length are read into (reused shared slots); absent = a fresh buffer. */
  pool?: SharedBufferPool;
}

export interface ReadBody {
  body: Buffer;
  /** The pool slot holding the body: give it back once nothing reads the body any more. */
  slot?: SharedSlot;
}

/**
 * Reads the whole body into one buffer that belongs to this request alone (never a slice of the
 * socket's or Buffer's shared pools, so it may be handed to another thread). Refuses (413) beyond
 * maxBytes: from Content-Length before reading, else as it streams; 408 past the time bound. A
 * refused body is discarded for a bounded time, then the connection closes (drainRefusedBody).
 */
export function readBody(req: IncomingMessage, o: ReadBodyOptions): Promise<ReadBody> {
  const declared = Number(req.headers['content-length']);
  const known = req.headers['content-length'] !== undefined && Number.isSafeInteger(declared) && declared >= 0;
  if (known && declared > o.maxBytes) {
    drainRefusedBody(req);
    return Promise.reject(new HttpError(413, `body of ${declared} bytes exceeds the ${o.maxBytes}-byte limit`));
  }
  const pad = o.alignAt === undefined ? 0 : (8 - (o.alignAt % 8)) % 8;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // With a known length the bytes go straight into their final place: one copy, as concat would make.
    const slot = known && o.pool && declared > 0 ? o.pool.take(pad + declared) : undefined;
    const dest = slot
      ? Buffer.from(slot.sab, pad, declared)
      : known
        ? Buffer.allocUnsafeSlow(pad + declared).subarray(pad)
        : undefined;
    let done = false;
    const finish = (err?: Error, body?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err) {
        if (slot) o.pool!.give(slot);
        drainRefusedBody(req); // the answer goes out; the connection stays usable if the rest comes soon
        reject(err);
      } else resolve({ body: body!, slot });
    };
    const timer = setTimeout(
      () => finish(new HttpError(408, `request body not received within ${o.timeoutMs} ms`)),
      Math.max(1, o.timeoutMs),
    );
    const onData = (c: Buffer) => {
      if (size + c.length > (dest ? dest.length : o.maxBytes)) {
        finish(
          dest
            ? new HttpError(400, `body is longer than its Content-Length of ${dest.length} bytes`)
            : new HttpError(413, `body exceeds the ${o.maxBytes}-byte limit`),
        );
        return;
      }
      if (dest) copyBytes(dest, c, size);
      else chunks.push(c);
      size += c.length;
    };
    const onEnd = () => {
      if (dest) {
        if (size !== dest.length)
          return finish(new HttpError(400, `body ended after ${size} of its ${dest.length} declared bytes`));
        return finish(undefined, dest);
      }
      const body = Buffer.allocUnsafeSlow(pad + size).subarray(pad);
      let at = 0;
      for (const c of chunks) at += c.copy(body, at);
      finish(undefined, body);
    };
    const onError = (e: Error) => finish(new HttpError(400, `request body aborted: ${e.message}`));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * Writes a response made of several buffers (a JSON header, then tensors) without joining them:
 * corked, so they leave in one write, and the tensor bytes are never copied into a new buffer.
 */
export function sendParts(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number>,
  parts: (Buffer | string)[],
): void {
  let length = 0;
  for (const p of parts) length += typeof p === 'string' ? Buffer.byteLength(p) : p.length;
  res.writeHead(status, { ...headers, 'content-length': length });
  res.cork();
  for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
  res.end(parts[parts.length - 1] ?? ''); // end() uncorks
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

/**
 * RFC 9457 problem+json, plus the KServe `error` field that Triton's clients read, and for a 429
 * the bound that refused it (`reason`: queue_full or deadline).
 */
export function sendProblem(
  res: ServerResponse,
  status: number,
  detail: string,
  instance: string,
  retryAfterSeconds?: number,
  reason?: 'queue_full' | 'deadline',
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = problem(status, detail, { instance, error: detail, ...(reason ? { reason } : {}) });
  const cid = currentCorrelationId();
  if (cid) body.correlationId = cid;
  const s = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(s),
  };
  if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
  res.writeHead(status, headers);
  res.end(s);
}
