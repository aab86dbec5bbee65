import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { histogramDelta, histogramOf, histogramQuantile, parsePrometheusText, sumOf } from './prometheus-text';
import { DeploymentLoadService } from './deployment-load.service';

async function exposition() {
  const r = new Registry();
  const h = new Histogram({
    name: 'cvp_inference_request_duration_seconds',
    help: 'x',
    labelNames: ['model', 'endpoint', 'code'],
    buckets: [0.01, 0.1, 1],
    registers: [r],
  });
  const requests = new Counter({
    name: 'cvp_inference_requests_total',
    help: 'x',
    labelNames: ['model', 'endpoint'],
    registers: [r],
  });
  const failures = new Counter({
    name: 'cvp_inference_failures_total',
    help: 'x',
    labelNames: ['model', 'endpoint', 'reason'],
    registers: [r],
  });
  const inFlight = new Gauge({ name: 'cvp_inference_in_flight', help: 'x', labelNames: ['model'], registers: [r] });
  return { r, h, requests, failures, inFlight };
}

describe('Prometheus text of the data plane', () => {
  it('keeps the labels of histogram series (what the npm parsers tried here lose) and escaped label values', async () => {
    const { r, h } = await exposition();
    h.observe({ model: 'm"1', endpoint: 'detect', code: '200' }, 0.05);
    h.observe({ model: 'm"1', endpoint: 'detect', code: '429' }, 0.005);
    const samples = parsePrometheusText(await r.metrics());
    const buckets = samples.filter((s) => s.name === 'cvp_inference_request_duration_seconds_bucket');
    expect(buckets).toHaveLength(8);
    expect(buckets[0].labels).toEqual({ le: '0.01', model: 'm"1', endpoint: 'detect', code: '200' });
    expect(parsePrometheusText('bad line\nx{a="1" 2\n# comment\nok 3')).toEqual([{ name: 'ok', labels: {}, value: 3 }]);
  });

  it('sums one model over endpoints and codes, and interpolates quantiles like histogram_quantile', async () => {
    const { r, h } = await exposition();
    for (let i = 0; i < 90; i++) h.observe({ model: 'a', endpoint: 'detect', code: '200' }, 0.005);
    for (let i = 0; i < 10; i++) h.observe({ model: 'a', endpoint: 'infer', code: '200' }, 0.5);
    h.observe({ model: 'b', endpoint: 'detect', code: '200' }, 0.9);
    const hist = histogramOf(
      parsePrometheusText(await r.metrics()),
      'cvp_inference_request_duration_seconds',
      (l) => l.model === 'a',
    );
    expect(hist.counts.at(-1)).toBe(100);
    expect(histogramQuantile(0.5, hist)).toBeCloseTo(0.01 * (50 / 90), 6);
    expect(histogramQuantile(0.95, hist)).toBeCloseTo(0.1 + 0.9 * 0.5, 6);
    expect(histogramQuantile(0.5, { bounds: [0.1, Infinity], counts: [0, 0] })).toBeNull();
    expect(histogramQuantile(0.99, { bounds: [0.1, Infinity], counts: [0, 4] })).toBe(0.1);
    expect(histogramDelta(hist, hist).counts.every((c) => c === 0)).toBe(true);
  });

  it('turns two scrapes into per-model requests, rate, recent quantiles, 429s and in-flight', async () => {
    const { r, h, requests, failures, inFlight } = await exposition();
    const svc = new DeploymentLoadService({ CVP_INFERENCE_URL: 'http://127.0.0.1:9' } as never);
    requests.inc({ model: 'a', endpoint: 'detect' }, 10);
    for (let i = 0; i < 10; i++) h.observe({ model: 'a', endpoint: 'detect', code: '200' }, 0.5);
    const first = svc.summarise(1_000, parsePrometheusText(await r.metrics()));
    expect(first).toMatchObject({
      ok: true,
      windowS: null,
      models: { a: { requests: 10, ratePerS: null, latencyOver: 'since start' } },
    });
    requests.inc({ model: 'a', endpoint: 'detect' }, 20);
    for (let i = 0; i < 20; i++) h.observe({ model: 'a', endpoint: 'detect', code: '200' }, 0.005);
    failures.inc({ model: 'a', endpoint: 'detect', reason: 'rejected' }, 3);
    failures.inc({ model: 'a', endpoint: 'detect', reason: 'deadline' }, 1);
    failures.inc({ model: 'a', endpoint: 'detect', reason: 'bad_request' }, 5);
    inFlight.set({ model: 'a' }, 2);
    const second = svc.summarise(11_000, parsePrometheusText(await r.metrics()));
    if (!second.ok) throw new Error('scrape failed');
    const a = second.models.a;
    expect(a).toMatchObject({ requests: 30, throttled: 4, inFlight: 2, latencyOver: 'recent' });
    expect(a.ratePerS).toBeCloseTo(2, 6); // 20 requests in 10 s
    expect(a.p99Ms!).toBeLessThan(10); // only the recent fast requests count
    expect(sumOf([], 'x', () => true)).toBe(0);
  });

  it('reports an unreachable data plane as such, without throwing', async () => {
    const svc = new DeploymentLoadService({
      CVP_INFERENCE_URL: 'http://127.0.0.1:9',
      CVP_UI_METRICS_TIMEOUT_MS: 500,
    } as never);
    const load = await svc.read();
    expect(load).toMatchObject({ ok: false, error: expect.stringContaining('data plane metrics unavailable') });
  });
});
