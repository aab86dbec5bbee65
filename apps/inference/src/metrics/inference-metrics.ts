import { Injectable } from '@nestjs/common';
import { metricsRegistry } from '@cvp/platform';
import { Counter, Gauge, Histogram } from 'prom-client';

export type Endpoint = 'infer' | 'detect' | 'classify';
export type FailureReason = 'rejected' | 'deadline' | 'aborted' | 'bad_request' | 'not_ready' | 'error';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];

/** Prometheus metrics of the data plane, per model (names documented in apps/inference/README.md). */
const requests = new Counter({
  name: 'cvp_inference_requests_total',
  help: 'Inference requests received',
  labelNames: ['model', 'endpoint'] as const,
  registers: [metricsRegistry],
});
const successes = new Counter({
  name: 'cvp_inference_success_total',
  help: 'Inference requests answered 200',
  labelNames: ['model', 'endpoint'] as const,
  registers: [metricsRegistry],
});
const failures = new Counter({
  name: 'cvp_inference_failures_total',
  help: 'Inference requests not answered 200, by reason (rejected = 429 overload)',
  labelNames: ['model', 'endpoint', 'reason'] as const,
  registers: [metricsRegistry],
});
const inFlight = new Gauge({
  name: 'cvp_inference_in_flight',
  help: 'Requests admitted and running',
  labelNames: ['model'] as const,
  registers: [metricsRegistry],
});
const queueSeconds = new Histogram({
  name: 'cvp_inference_queue_seconds',
  help: 'Time waiting for a worker and for the engine',
  labelNames: ['model'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});
const computeSeconds = new Histogram({
  name: 'cvp_inference_compute_seconds',
  help: 'Engine run time (pre + infer + post)',
  labelNames: ['model'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});
const durationSeconds = new Histogram({
  name: 'cvp_inference_request_duration_seconds',
  help: 'Whole request time on the server, body read to response',
  labelNames: ['model', 'endpoint', 'code'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});
const batchSize = new Histogram({
  name: 'cvp_inference_batch_size',
  help: 'Rows in the engine batch a request ran in',
  labelNames: ['model'] as const,
  buckets: [1, 2, 4, 8, 16, 32, 64],
  registers: [metricsRegistry],
});
const queueDepth = new Gauge({
  name: 'cvp_inference_queue_depth',
  help: 'Requests waiting for a worker (all models)',
  registers: [metricsRegistry],
});

interface Durations {
  count: number;
  ns: number;
}
/** Triton-style statistics kept in memory for GET /v2/models/{m}/stats. */
export interface ModelStatistics {
  inferenceCount: number;
  executionCount: number;
  lastInference: number;
  success: Durations;
  fail: Durations;
  queue: Durations;
  computeInput: Durations;
  computeInfer: Durations;
  computeOutput: Durations;
}

const zero = (): Durations => ({ count: 0, ns: 0 });

@Injectable()
export class InferenceMetrics {
  private readonly stats = new Map<string, ModelStatistics>();

  private statsOf(model: string): ModelStatistics {
    let s = this.stats.get(model);
    if (!s) {
      s = {
        inferenceCount: 0,
        executionCount: 0,
        lastInference: 0,
        success: zero(),
        fail: zero(),
        queue: zero(),
        computeInput: zero(),
        computeInfer: zero(),
        computeOutput: zero(),
      };
      this.stats.set(model, s);
    }
    return s;
  }

  received(model: string, endpoint: Endpoint): void {
    requests.inc({ model, endpoint });
  }

  admitted(model: string): void {
    inFlight.inc({ model });
  }

  finished(model: string): void {
    inFlight.dec({ model });
  }

  setQueueDepth(n: number): void {
    queueDepth.set(n);
  }

  succeeded(
    model: string,
    endpoint: Endpoint,
    t: { queueUs: number; preUs: number; inferUs: number; postUs: number; batchSize: number },
    totalMs: number,
  ): void {
    successes.inc({ model, endpoint });
    queueSeconds.observe({ model }, t.queueUs / 1e6);
    computeSeconds.observe({ model }, (t.preUs + t.inferUs + t.postUs) / 1e6);
    batchSize.observe({ model }, t.batchSize);
    durationSeconds.observe({ model, endpoint, code: '200' }, totalMs / 1000);
    const s = this.statsOf(model);
    s.inferenceCount++;
    // One execution per batch: a request that ran in a batch of b counts 1/b of it.
    s.executionCount += 1 / Math.max(1, t.batchSize);
    s.lastInference = Date.now();
    s.success.count++;
    s.success.ns += totalMs * 1e6;
    s.queue.count++;
    s.queue.ns += t.queueUs * 1e3;
    s.computeInput.count++;
    s.computeInput.ns += t.preUs * 1e3;
    s.computeInfer.count++;
    s.computeInfer.ns += t.inferUs * 1e3;
    s.computeOutput.count++;
    s.computeOutput.ns += t.postUs * 1e3;
  }

  failed(model: string, endpoint: Endpoint, reason: FailureReason, status: number, totalMs: number): void {
    failures.inc({ model, endpoint, reason });
    durationSeconds.observe({ model, endpoint, code: String(status) }, totalMs / 1000);
    const s = this.statsOf(model);
    s.fail.count++;
    s.fail.ns += totalMs * 1e6;
  }

  statistics(model: string): ModelStatistics {
    return this.statsOf(model);
  }

  forget(model: string): void {
    this.stats.delete(model);
  }
}
