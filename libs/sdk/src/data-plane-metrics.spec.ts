import { parsePrometheusText, quantileFromBuckets, snapshotFromText, trafficBetween } from './data-plane-metrics';

/** The data plane's exposition, as prom-client writes it (names and labels of apps/inference). */
function exposition(ok: number, rejected: number, fastShare: number): string {
  const fast = Math.round(ok * fastShare);
  return [
    '# HELP cvp_inference_requests_total requests received',
    '# TYPE cvp_inference_requests_total counter',
    `cvp_inference_requests_total{model="m1",endpoint="detect"} ${ok + rejected}`,
    `cvp_inference_requests_total{model="m\\"2",endpoint="infer"} 3`,
    '# TYPE cvp_inference_failures_total counter',
    `cvp_inference_failures_total{model="m1",endpoint="detect",reason="rejected"} ${rejected}`,
    `cvp_inference_failures_total{model="m1",endpoint="detect",reason="bad_request"} 7`,
    '# TYPE cvp_inference_request_duration_seconds histogram',
    `cvp_inference_request_duration_seconds_bucket{le="0.01",model="m1",endpoint="detect",code="200"} ${fast}`,
    `cvp_inference_request_duration_seconds_bucket{le="0.05",model="m1",endpoint="detect",code="200"} ${ok}`,
    `cvp_inference_request_duration_seconds_bucket{le="+Inf",model="m1",endpoint="detect",code="200"} ${ok}`,
    `cvp_inference_request_duration_seconds_bucket{le="0.001",model="m1",endpoint="detect",code="429"} ${rejected}`,
    `cvp_inference_request_duration_seconds_sum{model="m1",endpoint="detect",code="200"} 1.5`,
    'process_cpu_seconds_total 12.5',
  ].join('\n');
}

describe('data plane traffic from Prometheus text', () => {
  it('parses names, labels with escapes and special values', () => {
    const s = parsePrometheusText('a{x="q\\"uote",y="n\\\\l"} +Inf\n# c\nb 2 1700000000\n');
    expect(s.get('a')).toEqual([{ labels: { x: 'q"uote', y: 'n\\l' }, value: Infinity }]);
    expect(s.get('b')).toEqual([{ labels: {}, value: 2 }]);
  });

  it('interpolates quantiles inside buckets like histogram_quantile', () => {
    const b = new Map([
      [0.01, 90],
      [0.05, 100],
      [Infinity, 100],
    ]);
    expect(quantileFromBuckets(b, 0.5)).toBeCloseTo(0.01 * (50 / 90));
    expect(quantileFromBuckets(b, 0.95)).toBeCloseTo(0.01 + 0.04 * 0.5);
    expect(quantileFromBuckets(new Map(), 0.95)).toBeNull();
  });

  it('gives rate, window p95 and 429s per model between two scrapes', () => {
    const t0 = snapshotFromText(exposition(100, 2, 1), 1_000);
    const t1 = snapshotFromText(exposition(300, 12, 0.5), 3_000);
    const traffic = trafficBetween(t0, t1);
    const m1 = traffic.find((t) => t.model === 'm1')!;
    const m2 = traffic.find((t) => t.model !== 'm1')!;
    expect(m1.requestsPerS).toBeCloseTo((312 - 102) / 2);
    expect(m1.rejectedInWindow).toBe(10);
    expect(m1.rejectedTotal).toBe(12);
    // window: 200 successes, 50 under 10 ms (150 - 100), 150 between 10 and 50 ms -> p95 in the upper bucket
    expect(m1.p95Ms).toBeCloseTo((0.01 + (0.04 * (190 - 50)) / 150) * 1000);
    expect(m2).toMatchObject({ model: 'm"2', requestsTotal: 3, p95Ms: null });
    const first = trafficBetween(null, t0).find((t) => t.model === 'm1');
    expect(first).toMatchObject({ requestsPerS: null, rejectedInWindow: null });
    expect(first!.p95Ms).toBeCloseTo(9.5);
  });
});
