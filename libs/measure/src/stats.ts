import type { LatencyStats } from '@cvp/contracts';

/** Linear-interpolated percentile (q in 0..100) of an ascending-sorted array. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = ((sorted.length - 1) * Math.min(100, Math.max(0, q))) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Most samples a report keeps per measurement (for the distribution chart). */
export const MAX_KEPT_SAMPLES = 500;

/** p50/p95/p99/mean/std/CV of latency samples in milliseconds. */
export function summarize(
  samplesMs: readonly number[],
  meta: { warmup: number; attempts: number; unstable: boolean },
): LatencyStats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n ? sorted.reduce((a, b) => a + b, 0) / n : 0;
  const variance = n > 1 ? sorted.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const std = Math.sqrt(variance);
  return {
    iterations: n,
    warmup: meta.warmup,
    p50Ms: round(percentile(sorted, 50)),
    p95Ms: round(percentile(sorted, 95)),
    p99Ms: round(percentile(sorted, 99)),
    meanMs: round(mean),
    stdMs: round(std),
    minMs: round(n ? sorted[0] : 0),
    maxMs: round(n ? sorted[n - 1] : 0),
    cv: mean > 0 ? round(std / mean, 4) : 0,
    attempts: meta.attempts,
    unstable: meta.unstable,
    samplesMs: samplesMs.slice(0, MAX_KEPT_SAMPLES).map((x) => round(x)),
  };
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface RepeatOptions {
  warmup: number;
  iterations: number;
  /** Re-measure while CV exceeds this. */
  cvThreshold: number;
  /** Attempts at most (>= 1); after the last the result is marked unstable instead of failing. */
  maxAttempts: number;
  /** Per-attempt time budget: stop iterating once it is spent and minIterations ran (bounds slow models). */
  timeBudgetMs?: number;
  /** Iterations an attempt always runs, budget or not (default min(5, iterations)). */
  minIterations?: number;
  signal?: AbortSignal;
}

/**
 * Runs `once` warm-up times, then `iterations` timed calls; when the coefficient of variation
 * exceeds the threshold re-measures (up to maxAttempts) and keeps the calmest attempt.
 */
export async function measureRepeated(once: () => Promise<unknown>, o: RepeatOptions): Promise<LatencyStats> {
  for (let i = 0; i < o.warmup; i++) {
    o.signal?.throwIfAborted();
    await once();
  }
  let best: LatencyStats | undefined;
  const attempts = Math.max(1, o.maxAttempts);
  for (let a = 1; a <= attempts; a++) {
    const samples: number[] = [];
    const started = Date.now();
    const minIter = Math.min(o.iterations, o.minIterations ?? 5);
    for (let i = 0; i < o.iterations; i++) {
      o.signal?.throwIfAborted();
      if (o.timeBudgetMs !== undefined && i >= minIter && Date.now() - started >= o.timeBudgetMs) break;
      const t0 = process.hrtime.bigint();
      await once();
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const s = summarize(samples, { warmup: o.warmup, attempts: a, unstable: false });
    if (!best || s.cv < best.cv) best = s;
    if (s.cv <= o.cvThreshold) return { ...s, attempts: a };
  }
  return { ...best!, attempts, unstable: true };
}
