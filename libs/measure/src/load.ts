import type { ConcurrencyPoint, StabilityResult } from '@cvp/contracts';
import { percentile, round } from './stats';

export interface LoadOptions {
  /** Concurrent callers. */
  users: number;
  /** Stop after this many requests in total (whichever bound comes first). */
  maxRequests: number;
  /** Stop after this long. */
  durationMs: number;
  signal?: AbortSignal;
}

export interface LoadResult {
  requests: number;
  errors: number;
  elapsedMs: number;
  latenciesMs: number[];
  firstError: string | null;
}

/**
 * Closed-loop load: `users` callers each send the next request when the previous one answers,
 * bounded in requests and in time. Errors are counted, never thrown.
 */
export async function runLoad(call: () => Promise<unknown>, o: LoadOptions): Promise<LoadResult> {
  const t0 = Date.now();
  const deadline = t0 + o.durationMs;
  let started = 0;
  let errors = 0;
  let firstError: string | null = null;
  const lat: number[] = [];
  const user = async () => {
    while (started < o.maxRequests && Date.now() < deadline && !o.signal?.aborted) {
      started++;
      const s = process.hrtime.bigint();
      try {
        await call();
        lat.push(Number(process.hrtime.bigint() - s) / 1e6);
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: o.users }, user));
  return { requests: started, errors, elapsedMs: Date.now() - t0, latenciesMs: lat, firstError };
}

export function concurrencyPoint(engine: string, concurrency: number, r: LoadResult): ConcurrencyPoint {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  return {
    engine,
    concurrency,
    requests: r.requests,
    errors: r.errors,
    throughputRps: round(r.elapsedMs > 0 ? ((r.requests - r.errors) * 1000) / r.elapsedMs : 0, 2),
    p50Ms: round(percentile(sorted, 50)),
    p95Ms: round(percentile(sorted, 95)),
  };
}

export function stabilityResult(engine: string, users: number, r: LoadResult): StabilityResult {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  return {
    engine,
    users,
    durationMs: r.elapsedMs,
    requests: r.requests,
    errors: r.errors,
    p95Ms: round(percentile(sorted, 95)),
    passed: r.errors === 0 && r.requests > 0,
    ...(r.firstError ? { firstError: r.firstError.slice(0, 500) } : {}),
  };
}

/** Bounded admission like the serving path's worker pool: at most `size` calls run, `queueCap` wait. */
export class BoundedPool {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly size: number,
    private readonly queueCap: number,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) {
      if (this.waiting.length >= this.queueCap) throw new Error('overloaded: queue full');
      await new Promise<void>((r) => this.waiting.push(r));
    } else {
      this.running++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
