import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import type { GatewayConfig } from '../../config';
import { deploymentsConfig } from '../../deployments/deployments.config';
import { uiConfig } from '../ui.config';
import {
  type Histogram,
  histogramDelta,
  histogramOf,
  histogramQuantile,
  parsePrometheusText,
  type Sample,
  sumOf,
} from './prometheus-text';

/** What the data plane reports about one served model, as the deployments page shows it. */
export interface ModelLoad {
  /** Requests received since the data plane started. */
  requests: number;
  /** Requests per second over the recent window; null until two reads span some time. */
  ratePerS: number | null;
  /** Latency quantiles (ms) of the whole request on the server, over the recent window when it saw requests. */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  latencyOver: 'recent' | 'since start' | 'none';
  /** Answered 429 (queue full, or the deadline passed while queued) since start. */
  throttled: number;
  inFlight: number;
}

export type PlaneLoad =
  | { ok: true; at: string; windowS: number | null; queueDepth: number; models: Record<string, ModelLoad> }
  | { ok: false; at: string; error: string };

interface Snapshot {
  t: number;
  perModel: Map<string, { requests: number; hist: Histogram }>;
}

const KEEP = new Set([
  'cvp_inference_requests_total',
  'cvp_inference_failures_total',
  'cvp_inference_in_flight',
  'cvp_inference_queue_depth',
  'cvp_inference_request_duration_seconds_bucket',
]);
/** Rates and recent quantiles are over at most this much history. */
const WINDOW_MS = 30_000;
/** Reads closer together than this are answered from the last one (many open pages, one scrape). */
const REUSE_MS = 1000;
const MAX_METRICS_BYTES = 8 * 1024 * 1024;

/**
 * Reads the data plane's Prometheus /metrics (the same numbers Grafana shows) and turns them into
 * per-model request counts, rates, latency quantiles, 429s and in-flight requests. Keeps the last
 * half-minute of reads in memory for rates; one scrape at a time, reused for a second.
 */
@Injectable()
export class DeploymentLoadService {
  private readonly url: string;
  private readonly timeoutMs: number;
  private history: Snapshot[] = [];
  private last?: { t: number; load: PlaneLoad };
  private inFlight?: Promise<PlaneLoad>;

  constructor(@InjectConfig() config: GatewayConfig) {
    const c = config as unknown as Record<string, unknown>;
    this.url = `${deploymentsConfig(c).CVP_INFERENCE_URL.replace(/\/$/, '')}/metrics`;
    this.timeoutMs = uiConfig(c).CVP_UI_METRICS_TIMEOUT_MS;
  }

  read(): Promise<PlaneLoad> {
    if (this.last && Date.now() - this.last.t < REUSE_MS) return Promise.resolve(this.last.load);
    this.inFlight ??= this.scrape().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async scrape(): Promise<PlaneLoad> {
    const t = Date.now();
    let text: string;
    try {
      const res = await fetch(this.url, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (!res.ok) throw new Error(`answered ${res.status}`);
      text = await res.text();
      if (text.length > MAX_METRICS_BYTES) throw new Error('metrics page too large');
    } catch (e) {
      const load: PlaneLoad = {
        ok: false,
        at: new Date(t).toISOString(),
        error: `data plane metrics unavailable (${(e as Error).message})`,
      };
      this.last = { t, load };
      return load;
    }
    const load = this.summarise(
      t,
      parsePrometheusText(text, (n) => KEEP.has(n)),
    );
    this.last = { t, load };
    return load;
  }

  /** Exposed for tests: the load a scrape at time t with these samples gives, against the kept history. */
  summarise(t: number, samples: Sample[]): PlaneLoad {
    const models = new Set(samples.map((s) => s.labels.model).filter((m): m is string => !!m));
    const snap: Snapshot = { t, perModel: new Map() };
    const base = this.history.find((s) => t - s.t <= WINDOW_MS && t - s.t >= 500);
    const out: Record<string, ModelLoad> = {};
    for (const model of models) {
      const of = (l: Record<string, string>) => l.model === model;
      const requests = sumOf(samples, 'cvp_inference_requests_total', of);
      const hist = histogramOf(samples, 'cvp_inference_request_duration_seconds', of);
      snap.perModel.set(model, { requests, hist });
      const before = base?.perModel.get(model);
      const recent = histogramDelta(hist, before?.hist);
      const useRecent = !!before && (recent.counts.at(-1) ?? 0) > 0;
      const h = useRecent ? recent : hist;
      const q = (p: number) => {
        const v = histogramQuantile(p, h);
        return v === null ? null : v * 1000;
      };
      out[model] = {
        requests,
        ratePerS: base ? Math.max(0, requests - (before?.requests ?? 0)) / ((t - base.t) / 1000) : null,
        p50Ms: q(0.5),
        p95Ms: q(0.95),
        p99Ms: q(0.99),
        latencyOver: (h.counts.at(-1) ?? 0) === 0 ? 'none' : useRecent ? 'recent' : 'since start',
        throttled: sumOf(
          samples,
          'cvp_inference_failures_total',
          (l) => of(l) && (l.reason === 'rejected' || l.reason === 'deadline'),
        ),
        inFlight: sumOf(samples, 'cvp_inference_in_flight', of),
      };
    }
    this.history = [...this.history.filter((s) => t - s.t <= WINDOW_MS), snap];
    return {
      ok: true,
      at: new Date(t).toISOString(),
      windowS: base ? (t - base.t) / 1000 : null,
      queueDepth: sumOf(samples, 'cvp_inference_queue_depth', () => true),
      models: out,
    };
  }
}
