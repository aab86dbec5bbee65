import autocannon from 'autocannon';
import type { ConcurrencyPoint, StabilityResult } from '@cvp/contracts';
import { percentile, round } from './stats';

/** One request body the load cycles through (each connection sends them in order). */
export interface LoadBody {
  body: Buffer;
  contentType: string;
}

export interface HttpLoadOptions {
  /** Full URL of the endpoint, e.g. http://127.0.0.1:8000/v2/models/m/detect. */
  url: string;
  /** Sent with every request (credentials of the data plane, say). */
  headers?: Record<string, string>;
  bodies: LoadBody[];
  /** Concurrent users, each on its own keep-alive connection, each sending the next request when the last is answered. */
  connections: number;
  /** Requests in total; when absent the run lasts `durationMs`. */
  amount?: number;
  durationMs?: number;
  /** How long one request may stay unanswered before the generator counts it as a timeout. */
  requestTimeoutMs?: number;
  /** Bound on the whole run, whatever `amount` says (default: durationMs + requestTimeoutMs, or 10 minutes). */
  maxRunMs?: number;
  signal?: AbortSignal;
}

/** How every request of a run ended: each one sent is in exactly one of answered, rejected, deadlineExpired, errors, unanswered. */
export interface HttpLoadResult {
  sent: number;
  /** 200 answers. */
  answered: number;
  /** 429: every worker busy and the queue full. */
  rejected: number;
  /** 429: the request's deadline passed while it waited. */
  deadlineExpired: number;
  /** Other answers (4xx, 5xx) and transport failures, timeouts included. */
  errors: number;
  /** Requests the generator timed out on (also counted in errors). */
  timeouts: number;
  /** Still in flight when the run ended (a time-bounded run ends with up to `connections` of them). */
  unanswered: number;
  statusCodes: Record<string, number>;
  elapsedMs: number;
  /** Latencies of the answered requests. */
  latenciesMs: number[];
  firstError: string | null;
}

/**
 * HTTP load with autocannon, the load benchmark's generator (scripts/load-bench.js): closed-loop
 * users on keep-alive connections, bounded in requests or time and always by `maxRunMs`. A 429 is
 * told apart by its problem body: the data plane says "deadline" when the request's deadline
 * passed while it waited, anything else is a refusal at admission.
 */
export function runHttpLoad(o: HttpLoadOptions): Promise<HttpLoadResult> {
  if (o.bodies.length === 0) return Promise.reject(new Error('runHttpLoad needs at least one request body'));
  const connections = Math.max(1, Math.floor(o.connections));
  const requestTimeoutMs = o.requestTimeoutMs ?? 60_000;
  let answered = 0;
  let rejected = 0;
  let deadlineExpired = 0;
  let otherStatus = 0;
  let responses = 0;
  let firstError: string | null = null;
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  const requests: autocannon.Request[] = o.bodies.map((b) => ({
    method: 'POST',
    headers: { ...o.headers, 'content-type': b.contentType },
    body: b.body,
    onResponse: (status, body) => {
      if (status === 429) {
        if (/deadline/i.test(body)) deadlineExpired++;
        else rejected++;
      } else if (status < 200 || status >= 300) {
        otherStatus++;
        firstError ??= `HTTP ${status}: ${body.slice(0, 300)}`;
      }
    },
  }));
  const amount = o.amount !== undefined ? Math.max(connections, Math.floor(o.amount)) : undefined;
  const durationMs = o.durationMs ?? 10_000;
  const maxRunMs = o.maxRunMs ?? (amount !== undefined ? 600_000 : durationMs + requestTimeoutMs);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const stoppers: { guard?: NodeJS.Timeout; onAbort?: () => void } = {};
    const finish = () => {
      clearTimeout(stoppers.guard);
      if (stoppers.onAbort) o.signal?.removeEventListener('abort', stoppers.onAbort);
    };
    let inst: autocannon.Instance;
    try {
      inst = autocannon(
        {
          url: o.url,
          connections,
          ...(amount !== undefined ? { amount } : { duration: durationMs / 1000 }),
          timeout: Math.max(1, Math.ceil(requestTimeoutMs / 1000)),
          requests,
        },
        (err, res) => {
          finish();
          if (err) return reject(err);
          const transport = res.errors;
          const sent = res.requests.sent;
          resolve({
            sent,
            answered,
            rejected,
            deadlineExpired,
            errors: otherStatus + transport,
            timeouts: res.timeouts,
            unanswered: Math.max(0, sent - responses - transport),
            statusCodes,
            elapsedMs: Date.now() - t0,
            latenciesMs: latencies,
            firstError,
          });
        },
      );
    } catch (e) {
      reject(e as Error);
      return;
    }
    inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      responses++;
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status >= 200 && status < 300) {
        answered++;
        latencies.push(ms);
      }
    });
    inst.on('reqError', (e: Error) => {
      firstError ??= e.message;
    });
    stoppers.guard = setTimeout(() => inst.stop(), maxRunMs);
    stoppers.onAbort = () => inst.stop();
    if (o.signal?.aborted) inst.stop();
    else o.signal?.addEventListener('abort', stoppers.onAbort, { once: true });
  });
}

const sortedLatencies = (r: HttpLoadResult) => [...r.latenciesMs].sort((a, b) => a - b);

/** A sweep level as the report records it: the engine (candidate id), the users, every request's fate. */
export function servedConcurrencyPoint(engine: string, concurrency: number, r: HttpLoadResult): ConcurrencyPoint {
  const sorted = sortedLatencies(r);
  return {
    engine,
    concurrency,
    requests: r.sent,
    errors: r.errors,
    throughputRps: round(r.elapsedMs > 0 ? (r.answered * 1000) / r.elapsedMs : 0, 2),
    p50Ms: round(percentile(sorted, 50)),
    p95Ms: round(percentile(sorted, 95)),
    answered: r.answered,
    rejected: r.rejected,
    deadlineExpired: r.deadlineExpired,
    unanswered: r.unanswered,
    p99Ms: round(percentile(sorted, 99)),
    via: 'data-plane',
  };
}

/**
 * A stability run passes when no request failed: no error (a request the generator timed out on
 * included), no 429, no deadline expiry. Requests still in flight when the window closed are
 * reported as unanswered; the generator hung up on them, so they are not held against the server.
 */
export function servedStabilityResult(engine: string, users: number, r: HttpLoadResult): StabilityResult {
  const sorted = sortedLatencies(r);
  const firstError =
    r.firstError ??
    (r.rejected
      ? `${r.rejected} request(s) refused with 429 (queue full)`
      : r.deadlineExpired
        ? `${r.deadlineExpired} request(s) expired their deadline while queued (429)`
        : null);
  return {
    engine,
    users,
    durationMs: r.elapsedMs,
    requests: r.sent,
    errors: r.errors,
    p95Ms: round(percentile(sorted, 95)),
    passed: r.answered > 0 && r.errors === 0 && r.rejected === 0 && r.deadlineExpired === 0,
    ...(firstError ? { firstError: firstError.slice(0, 500) } : {}),
    answered: r.answered,
    rejected: r.rejected,
    deadlineExpired: r.deadlineExpired,
    unanswered: r.unanswered,
    p99Ms: round(percentile(sorted, 99)),
    via: 'data-plane',
  };
}
