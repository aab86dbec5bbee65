import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchReportSchema } from '@cvp/contracts';
import { fixtureReport } from '../testing/report-fixture';
import { simpleHtml, technicalHtml } from './report-html';
import { writeReport } from './report-writer';
import { buildSimpleView } from './simple-view';
import { barChart, esc, lineChart } from './svg-charts';

describe('bench reports', () => {
  it('the fixture is a valid report and the simple view states the choice, the speed-up and the caveats', () => {
    const r = fixtureReport();
    expect(benchReportSchema.parse(r)).toBeTruthy();
    expect(r.decision.chosenId).toBe('ort-node/cpu/int8-static/all/t1/b1');
    expect(r.simple.speedup).toBe(2.5);
    expect(r.simple.headline).toMatch(/^Use onnxruntime-node on CPU, INT8 \(static\).*2\.50x faster/);
    expect(r.simple.accuracyImpact).toMatch(/cosine similarity 0\.99999/);
    expect(r.simple.caveats.join(' ')).toMatch(/seeded synthetic inputs/);
    expect(r.simple.caveats.join(' ')).toMatch(/stayed noisy/);
    expect(r.simple.caveats.join(' ')).toMatch(/Step 4 .* was skipped: no NVIDIA GPU/);
    expect(r.simple.caveats.join(' ')).toMatch(/VRAM: skipped/);
  });

  it('an infeasible decision reads as "no engine meets your constraints" with the closest candidate', () => {
    const r = fixtureReport('bm-x', { maxP95Ms: 1 });
    expect(r.decision.status).toBe('infeasible');
    const s = buildSimpleView(r);
    expect(s).toMatchObject({ chosen: null, speedup: null, headline: 'No engine meets your constraints.' });
    expect(s.recommendation).toMatch(/closest is .* which fails maxP95Ms/);
    expect(simpleHtml(r)).not.toContain('data-chart="simple-speed"');
  });

  it('technical HTML: every chart as inline SVG, escaped labels, no scripts or remote resources', () => {
    const html = technicalHtml(fixtureReport());
    for (const id of [
      'latency-distribution',
      'latency-bars',
      'throughput-concurrency',
      'time-split',
      'memory',
      'batch-throughput',
    ])
      expect(html).toContain(`data-chart="${id}"`);
    expect(html).toContain('yolov8n &lt;test&gt; &amp; &quot;quotes&quot;');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain('Decision record');
    expect(html).toMatch(/FAIL|pass/);
  });

  it('writes report.json, decision.json and both HTML views atomically', async () => {
    const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'report-'));
    const r = fixtureReport();
    const { files } = await writeReport(dir, r);
    expect(files.map((f) => path.basename(f)).sort()).toEqual([
      'decision.json',
      'report.json',
      'simple.html',
      'technical.html',
    ]);
    expect(JSON.parse(readFileSync(path.join(dir, 'decision.json'), 'utf8')).chosenId).toBe(r.decision.chosenId);
    expect(benchReportSchema.parse(JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'))).id).toBe(r.id);
    await expect(writeReport(dir, { ...r, steps: 'nope' } as unknown as typeof r)).rejects.toThrow();
  });

  it('svg helpers escape and scale', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const bars = barChart('b', 't', ['a'], [{ label: 'x', values: [0] }], { unit: 'ms' });
    expect(bars).toContain('data-chart="b"');
    const line = lineChart('l', 't', [{ name: 's', points: [{ x: 1, y: 2 }] }], { xLabel: 'x', yLabel: 'y' });
    expect(line).toContain('<polyline');
  });
});

describe('bench reports, version 2', () => {
  it('a version-1 report (written before accuracy assessability and served load counts) still parses', () => {
    const v1 = JSON.parse(JSON.stringify(fixtureReport())) as Record<string, unknown> & {
      candidates: Record<string, unknown>[];
    };
    v1.reportVersion = 1;
    for (const c of v1.candidates) {
      delete c.vramReason;
      const a = c.agreement as Record<string, unknown> | null;
      if (a) for (const k of ['assessable', 'notAssessableReason', 'inputs', 'bound', 'measuredOn']) delete a[k];
    }
    expect(benchReportSchema.parse(v1).reportVersion).toBe(1);
    expect(() => benchReportSchema.parse({ ...v1, reportVersion: 3 })).toThrow();
  });

  it('a candidate whose accuracy could not be assessed shows "not assessable" in both views, never a drop of 0', () => {
    const r = fixtureReport();
    for (const c of r.candidates.filter((x) => x.id !== r.baselineId && x.agreement))
      c.agreement = {
        ...c.agreement!,
        accuracyDrop: null,
        assessable: false,
        notAssessableReason: 'only seeded synthetic inputs were available (no data set attached)',
      };
    r.decision.accuracyPolicy = { whenNotAssessable: 'accept' };
    const simple = buildSimpleView(r);
    expect(simple.accuracyAssessable).toBe(false);
    expect(simple.accuracyImpact).toMatch(/^Not assessable: only seeded synthetic inputs/);
    expect(simple.caveats.join(' ')).toMatch(/you chose to accept them/);
    const html = technicalHtml({ ...r, simple });
    expect(html).toContain('not assessable');
    expect(html).toMatch(/Accuracy not assessable:<\/span> only seeded synthetic inputs/);
    expect(simpleHtml({ ...r, simple })).toContain('Not assessable');
  });
});
