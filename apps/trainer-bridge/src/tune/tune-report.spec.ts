import { renderTuneReportHtml, scatterSvg, type TuneReport } from './tune-report';

const base: TuneReport = {
  jobId: 'job-1',
  modelId: 'm1',
  datasetId: 'd1',
  strategy: 'nsga2',
  objectives: ['accuracy', 'latency_p50_ms'],
  trialsRequested: 4,
  completed: 3,
  failed: 1,
  finishedBeforeStart: 2,
  parallel: 2,
  best: { number: 2, params: { lr0: 0.01 }, accuracy: 0.5, latency_ms: 3 },
  paretoFront: [
    { number: 0, params: { lr0: 0.001 }, accuracy: 0.2, latency_ms: 1 },
    { number: 2, params: { lr0: 0.01 }, accuracy: 0.5, latency_ms: 3 },
  ],
  trials: [
    { number: 0, status: 'complete', accuracy: 0.2, latency_ms: 1, params: { lr0: 0.001 }, duration_s: 10 },
    { number: 1, status: 'complete', accuracy: 0.1, latency_ms: 4, params: { lr0: 0.05 }, duration_s: 11 },
    { number: 2, status: 'complete', accuracy: 0.5, latency_ms: 3, params: { lr0: 0.01 }, duration_s: 12 },
    { number: 3, status: 'failed', error: 'boom <script>', params: { lr0: 0.02 } },
  ],
  registered: { modelId: 'm1', version: 3, onnxPath: '/x/model.onnx' },
  generatedAt: '2026-01-01T00:00:00Z',
};

describe('tune report', () => {
  it('shows the best configuration, every trial, and the Pareto front as inline SVG for nsga2', () => {
    const html = renderTuneReportHtml(base);
    expect(html).toContain('<h2>Pareto front</h2>');
    expect(html.match(/class="pareto"/g)).toHaveLength(2 + 1); // 2 front points + best marker in history
    expect(html).toContain('<polyline class="front"');
    expect(html).toContain('version <b>3</b>');
    expect(html).toContain('resumed: 2 trials');
    expect(html).toContain('boom &lt;script&gt;'); // escaped
    expect(html).not.toContain('<script>');
    expect(html.match(/<tr class="/g)).toHaveLength(4);
  });

  it('has no Pareto section for single-objective strategies and says when nothing completed', () => {
    const html = renderTuneReportHtml({
      ...base,
      strategy: 'tpe',
      paretoFront: undefined,
      best: null,
      registered: null,
      trials: [],
    });
    expect(html).not.toContain('Pareto front');
    expect(html).toContain('No trial completed.');
    expect(scatterSvg([], 'x', 'y', 't')).toContain('no completed trials');
  });

  it('shows a trial that produced no metric as failed with its reason, never as accuracy 0', () => {
    const html = renderTuneReportHtml({
      ...base,
      strategy: 'tpe',
      paretoFront: undefined,
      best: { number: 0, params: { lr0: 0.001 }, accuracy: 0.2 },
      trials: [
        { number: 0, status: 'complete', accuracy: 0.2, params: { lr0: 0.001 } },
        {
          number: 1,
          status: 'failed',
          error_code: 'no_metric',
          error: 'training finished without a value for metrics/mAP50-95(B) (got None); not scored',
          params: { lr0: 0.05 },
        },
      ],
    });
    const row = html.split('\n').find((l) => l.startsWith('<tr class="failed"'))!;
    expect(row).toContain('<td>failed</td><td>–</td>');
    expect(row).toContain('without a value for metrics/mAP50-95(B)');
    expect(row).not.toMatch(/<td>0<\/td>/);
    // the history chart plots the one measured trial only
    expect(html.match(/<circle /g)).toHaveLength(1);
  });

  it('scales points into the plot area', () => {
    const svg = scatterSvg(
      [
        { x: 0, y: 0, label: 'a' },
        { x: 10, y: 1, label: 'b' },
        { x: 5, y: 5, label: 'single' },
      ],
      'x',
      'y',
      't',
    );
    const cx = [...svg.matchAll(/cx="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(Math.min(...cx)).toBeGreaterThanOrEqual(64);
    expect(Math.max(...cx)).toBeLessThanOrEqual(540);
  });
});
