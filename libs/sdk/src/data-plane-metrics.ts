/**
 * Per-model traffic of the inference data plane, from its Prometheus /metrics (the gateway does
 * not aggregate it): request rate, p95 latency and 429s, as the difference of two scrapes.
 */

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (0.0.4) into samples by metric name. */
export function parsePrometheusText(text: string): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l; (l = re.exec(m[3] ?? ''));)
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const list = out.get(m[1]) ?? [];
    list.push({ labels, value });
    out.set(m[1], list);
  }
  return out;
}

interface ModelCounters {
  requests: number;
  rejected: number;
  /** Cumulative bucket counts of successful request durations, by upper bound in seconds. */
  buckets: Map<number, number>;
}

export interface TrafficSnapshot {
  at: number;
  models: Map<string, ModelCounters>;
}

const M_REQUESTS = 'cvp_inference_requests_total';
const M_FAILURES = 'cvp_inference_failures_total';
const M_DURATION = 'cvp_inference_request_duration_seconds_bucket';
/** Failure reasons the data plane answers with 429 (queue full, deadline passed in the queue). */
const REJECTED = new Set(['rejected', 'deadline']);

export function snapshotFromText(text: string, at = Date.now()): TrafficSnapshot {
  const samples = parsePrometheusText(text);
  const models = new Map<string, ModelCounters>();
  const of = (model: string) => {
    let c = models.get(model);
    if (!c) models.set(model, (c = { requests: 0, rejected: 0, buckets: new Map() }));
    return c;
  };
  for (const s of samples.get(M_REQUESTS) ?? []) if (s.labels.model) of(s.labels.model).requests += s.value;
  for (const s of samples.get(M_FAILURES) ?? [])
    if (s.labels.model && REJECTED.has(s.labels.reason)) of(s.labels.model).rejected += s.value;
  for (const s of samples.get(M_DURATION) ?? []) {
    if (!s.labels.model || s.labels.code !== '200') continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    const b = of(s.labels.model).buckets;
    b.set(le, (b.get(le) ?? 0) + s.value);
  }
  return { at, models };
}

/** histogram_quantile over cumulative buckets (linear within a bucket, as Prometheus does). */
export function quantileFromBuckets(buckets: Map<number, number>, q: number): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = bounds.length ? buckets.get(bounds[bounds.length - 1])! : 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const b of bounds) {
    const c = buckets.get(b)!;
    if (c >= rank) {
      if (b === Infinity) return prevBound;
      return prevBound + ((b - prevBound) * (rank - prevCount)) / Math.max(c - prevCount, 1e-12);
    }
    prevBound = b;
    prevCount = c;
  }
  return prevBound;
}

export interface ModelTraffic {
  model: string;
  /** Requests per second over the window (null without an earlier scrape). */
  requestsPerS: number | null;
  /** p95 of successful requests in the window, or over all time when the window saw none. */
  p95Ms: number | null;
  /** 429 answers: in the window, and since the data plane started. */
  rejectedInWindow: number | null;
  rejectedTotal: number;
  requestsTotal: number;
}

/** Traffic of every model between two scrapes (`before` may be null for the first one). */
export function trafficBetween(before: TrafficSnapshot | null, after: TrafficSnapshot): ModelTraffic[] {
  const dt = before ? (after.at - before.at) / 1000 : 0;
  return [...after.models.entries()]
    .map(([model, now]) => {
      const then = before?.models.get(model);
      const window = new Map<number, number>();
      for (const [le, c] of now.buckets) window.set(le, c - (then?.buckets.get(le) ?? 0));
      const p95 = quantileFromBuckets(window, 0.95) ?? quantileFromBuckets(now.buckets, 0.95);
      return {
        model,
        requestsPerS: before && dt > 0 ? Math.max(0, now.requests - (then?.requests ?? 0)) / dt : null,
        p95Ms: p95 === null ? null : p95 * 1000,
        rejectedInWindow: before ? Math.max(0, now.rejected - (then?.rejected ?? 0)) : null,
        rejectedTotal: now.rejected,
        requestsTotal: now.requests,
      };
    })
    .sort((a, b) => a.model.localeCompare(b.model));
}

/** Scrapes the data plane's /metrics (bounded wait). */
export async function scrapeTraffic(inferenceUrl: string, timeoutMs = 3000): Promise<TrafficSnapshot> {
  const res = await fetch(new URL('/metrics', inferenceUrl), { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${inferenceUrl}/metrics -> ${res.status}`);
  return snapshotFromText(await res.text());
}
