import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { type BenchReport, benchReportSchema } from '@cvp/contracts';
import { makeYoloPreset, startBenchWorker } from '@cvp/bench/testing';
import { BenchmarksService, type GatewayTestApp, seedConvertedModel, startGatewayTestApp } from '@cvp/gateway/testing';
import { type InferenceHarness, startInference } from '@cvp/inference/testing';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from './support/paths';

const ARTIFACTS = path.join(REPO_ROOT, 'artifacts');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Bench end to end: the real gateway (SQLite, auth, jobs on JetStream, registry responders,
 * benchmarks module), the real bench worker (JobWorkerModule, child-process measurements, python
 * variants, the native core when built) and the real data plane (steps 6, 8 and 9 deploy scratch
 * deployments on it) in one process, over the jest run's nats-server. The model is the yolov8n
 * preset made by python at 64 px so two full protocols fit in minutes.
 */
describe('bench: yolov8n preset -> bench job -> 9 steps, selection, decision record, reports (real gateway + worker)', () => {
  let gw: GatewayTestApp;
  let bench: INestApplication;
  let dataPlane: InferenceHarness;
  let engineer: string;
  let viewer: string;
  let modelId: string;

  const api = (p: string, token: string, init: RequestInit = {}) =>
    fetch(`${gw.api}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });

  async function runBenchJob(constraints: Record<string, number>): Promise<Record<string, unknown>> {
    const r = await api('/jobs/bench', engineer, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelId, constraints }),
    });
    expect(r.status).toBeLessThan(300);
    const job = (await r.json()) as { id: string };
    const until = Date.now() + 280_000;
    let last: Record<string, unknown> = {};
    while (Date.now() < until) {
      try {
        last = (await (await api(`/jobs/${job.id}`, viewer)).json()) as Record<string, unknown>;
      } catch {
        // A pooled keep-alive socket the busy server closed meanwhile (ECONNRESET): poll again.
      }
      if (['succeeded', 'failed', 'cancelled'].includes(String(last.state))) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    expect(last).toMatchObject({ state: 'succeeded' });
    return last.result as Record<string, unknown>;
  }

  beforeAll(async () => {
    const modelDir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? '/tmp', 'bench-e2e-model-'));
    const presetOnnx = makeYoloPreset(modelDir, 64);
    gw = await startGatewayTestApp();
    engineer = await gw.login('engineer');
    viewer = await gw.login('viewer');
    // The model row as the preset import leaves it: version 1 with its ONNX under the data dir.
    modelId = await seedConvertedModel(gw, {
      onnx: presetOnnx,
      task: 'detect',
      name: 'yolov8n-64',
      sourceFormat: 'ultralytics',
      preset: 'yolov8n',
      metadata: { metadata_props: { imgsz: '[64, 64]' } },
    });
    dataPlane = await startInference({ CVP_NATS_URL: process.env.CVP_NATS_URL!, CVP_DATA_DIR: gw.dataDir });
    bench = await startBenchWorker(gw.dataDir, { CVP_INFERENCE_URL: dataPlane.url });
  }, 240_000);

  afterAll(async () => {
    await bench?.close();
    await dataPlane?.close();
    await gw?.close();
  });

  let first: Record<string, unknown>;
  let report: BenchReport;

  it('runs the protocol: every step recorded (skips with reasons), a selection and a decision record', async () => {
    first = await runBenchJob({ maxP95Ms: 5000, maxAccuracyDrop: 0.01, maxRssMb: 4096 });
    expect(first).toMatchObject({
      status: 'selected',
      benchmarkId: expect.stringMatching(/^bm-/),
      reportUrl: expect.stringContaining('/benchmarks/'),
    });
    const r = await api(`/benchmarks/${String(first.benchmarkId)}/report?view=technical&format=json`, viewer);
    expect(r.status).toBe(200);
    report = benchReportSchema.parse(await r.json());
    expect(report.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const s of report.steps) if (s.status !== 'done') expect(s.reasons.length).toBeGreaterThan(0);
    expect(report.steps[0]).toMatchObject({ status: 'done' });
    expect(report.steps[1].candidateIds.length).toBeGreaterThanOrEqual(3); // basic/extended/all
    expect(report.steps[2].candidateIds.some((id) => id.includes('int8-static'))).toBe(true);
    expect(report.steps[2].candidateIds.some((id) => id.includes('fp16'))).toBe(true);
    expect(report.steps[3]).toMatchObject({ status: 'skipped', reasons: [expect.stringMatching(/GPU/)] }); // no GPU here
    expect(report.steps[4].candidateIds.some((id) => id.endsWith('/b2'))).toBe(true);
    // The serving-path steps went through the data plane, and left nothing deployed there.
    expect(report.steps[7]).toMatchObject({ status: 'done' });
    expect(report.steps[8]).toMatchObject({ status: 'done' });
    expect(report.stability[0]).toMatchObject({ users: 100, errors: 0, rejected: 0, passed: true, via: 'data-plane' });
    expect(report.concurrency.map((p) => p.concurrency)).toEqual(expect.arrayContaining([1, 4]));
    for (const p of report.concurrency) expect(p).toMatchObject({ via: 'data-plane', errors: 0 });
    expect(report.settings.servingPath).toContain(dataPlane.url);
    expect(dataPlane.repository.list()).toEqual([]);
    // An untrained preset benchmarked on seeded inputs: its accuracy cannot be assessed, and the
    // report says so instead of a drop of 0.
    expect(report.model.trained).toBe(false);
    expect(report.steps[0].details.accuracy).toMatchObject({ assessable: false, policy: 'refuse' });
    const base = report.candidates.find((c) => c.id === report.baselineId)!;
    expect(base.options).toMatchObject({ graphOptimization: 'disabled', precision: 'fp32', provider: 'cpu' });
    for (const c of report.candidates.filter((x) => x.id !== base.id)) expect(c.agreement).not.toBeNull();
    // Decision record: every candidate, every constraint, pass/fail and why.
    const d = report.decision;
    expect(d.status).toBe('selected');
    expect(d.candidates).toHaveLength(report.candidates.filter((c) => c.selectable).length);
    for (const c of d.candidates) {
      expect(c.checks.map((k) => k.constraint)).toEqual([
        'maxP95Ms',
        'maxRssMb',
        'maxVramMb',
        'maxAccuracyDrop',
        'minThroughput',
      ]);
      expect(c.why.length).toBeGreaterThan(5);
    }
    expect(first.selectedId).toBe(d.chosenId);
    expect(report.environment.cores).toBeGreaterThan(0);
    // The gateway knows the selection (deployments with engine "selected" use it).
    const sel = await gw.app.get(BenchmarksService).latestSelection(modelId);
    expect(sel).toEqual({ benchmarkId: first.benchmarkId, config: d.chosen });
  }, 300_000);

  it('serves the simple view (JSON and HTML) and lists benchmarks of the model', async () => {
    const simple = (await (
      await api(`/benchmarks/${String(first.benchmarkId)}/report?view=simple&format=json`, viewer)
    ).json()) as { headline: string };
    expect(simple).toMatchObject({
      chosen: report.decision.chosenId,
      headline: expect.stringMatching(/^Use /),
      accuracyImpact: expect.any(String),
      caveats: expect.any(Array),
    });
    const html = await api(`/benchmarks/${String(first.benchmarkId)}/report?view=simple&format=html`, viewer);
    expect(html.headers.get('content-type')).toContain('text/html');
    expect(await html.text()).toContain(simple.headline.slice(0, 40).replace(/"/g, '&quot;'));
    const list = (await (await api(`/benchmarks?modelId=${modelId}`, viewer)).json()) as { id: string }[];
    expect(list.map((b) => b.id)).toContain(first.benchmarkId);
  });

  it('the technical HTML report renders its charts offline in headless Chromium (screenshot saved)', async () => {
    const r = await api(`/benchmarks/${String(first.benchmarkId)}/report?view=technical&format=html`, viewer);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await r.text();
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const requests: string[] = [];
      page.on('request', (q) => requests.push(q.url()));
      await page.setContent(html, { waitUntil: 'load' });
      const charts = await page.$$eval('svg.chart', (els) =>
        els.map((e) => ({
          id: e.getAttribute('data-chart'),
          width: e.getBoundingClientRect().width,
          marks: e.querySelectorAll('rect,circle,polyline').length,
        })),
      );
      expect(charts.map((c) => c.id)).toEqual(
        expect.arrayContaining([
          'latency-distribution',
          'latency-bars',
          'throughput-concurrency',
          'time-split',
          'memory',
        ]),
      );
      for (const c of charts) {
        expect(c.width).toBeGreaterThan(100);
        expect(c.marks).toBeGreaterThan(0);
      }
      expect(requests.filter((u) => !u.startsWith('about:') && !u.startsWith('data:'))).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'bench-technical-report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('a second bench run on the same model chooses the same engine configuration (unless the protocol flagged the deciding measurements as noisy)', async () => {
    const second = await runBenchJob({ maxP95Ms: 5000, maxAccuracyDrop: 0.01, maxRssMb: 4096 });
    expect(second.benchmarkId).not.toBe(first.benchmarkId);
    const again = benchReportSchema.parse(
      await (await api(`/benchmarks/${String(second.benchmarkId)}/report?view=technical&format=json`, viewer)).json(),
    );
    // The full configuration, not just engine and precision: the candidate id names engine,
    // provider, variant, graph level, threads and batch; the config is what a deployment runs.
    const config = (r: BenchReport) => {
      const c = r.candidates.find((x) => x.id === r.decision.chosenId)!;
      return {
        id: c.id,
        engine: c.engine,
        options: c.options,
        variant: c.variant,
        batch: c.batch,
        modelFile: path.basename(c.modelPath),
        // The serving layout (instances x threads) is measured after selection, under load, and
        // named with its reason in each record (decision.instances): compared per run, below.
        chosen: {
          ...r.decision.chosen,
          modelPath: path.basename(r.decision.chosen!.modelPath),
          options: withoutLayout(r.decision.chosen!.options),
        },
      };
    };
    const withoutLayout = (o: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'instances' && k !== 'threads'));
    for (const r of [report, again])
      if (r.decision.instances) {
        const o = r.decision.chosen!.options;
        expect({ instances: o.instances ?? 1, threads: o.threads }).toEqual(r.decision.instances.chosen);
      }
    // Same measurements give the same choice (engine-selector.spec); two runs give the same choice
    // only where their measurements agree. On a loaded 2-core host the p95 of a few iterations is
    // its slowest sample, and one preemption moves it past any margin the spread within a run
    // gives (the same configuration measured 1.3 ms and 9.3 ms at p95, 1.0 ms at p50 both times,
    // at load average 6-8). The protocol flags such a measurement `unstable` (CV above the
    // threshold after every attempt). So a different choice must be explained by that flag on one
    // of the two chosen configurations, in the run where it lost; otherwise it is a real failure.
    const firstId = report.decision.chosenId!;
    const secondId = again.decision.chosenId!;
    expect(second.selectedId).toBe(secondId);
    if (firstId !== secondId) {
      const unstableIn = (r: BenchReport, id: string) => r.candidates.find((c) => c.id === id)?.latency.unstable;
      const why = [
        unstableIn(again, firstId) && `${firstId} (chosen first) was measured unstable in the second run`,
        unstableIn(report, secondId) && `${secondId} (chosen second) was measured unstable in the first run`,
      ].filter((x): x is string => typeof x === 'string');
      if (why.length === 0)
        throw new Error(
          `the runs chose ${firstId}, then ${secondId}, and each was measured stable in the run where it lost`,
        );
      console.warn(`bench runs chose differently on a noisy host, as their own records explain: ${why.join('; ')}`);
    } else {
      expect(second.selectedId).toBe(first.selectedId);
      // What the job hands to a deployment is what its own record chose, layout included.
      expect(second.selected).toMatchObject({
        engine: again.decision.chosen!.engine,
        options: again.decision.chosen!.options,
      });
      expect(config(again)).toEqual(config(report));
    }
    // The ranked order past the choice is not asserted: ranks outside the noise margin follow p95
    // values measured afresh on a shared host, and the rule promises "same measurements -> same
    // record" (engine-selector.spec), not the same p95 ordering of two measurements. What is the
    // same input both times is asserted: of the candidates both runs measured (a measurement that
    // failed in one run is recorded with its reason, not compared), the same ones are feasible;
    // the limits are loose on latency and memory, and accuracy drops are deterministic.
    const both = new Set(
      report.decision.candidates
        .map((c) => c.candidateId)
        .filter((id) => again.decision.candidates.some((c) => c.candidateId === id)),
    );
    const feasible = (r: BenchReport) =>
      r.decision.candidates
        .filter((c) => c.feasible && both.has(c.candidateId))
        .map((c) => c.candidateId)
        .sort();
    expect(both.size).toBeGreaterThanOrEqual(3);
    expect(feasible(again)).toEqual(feasible(report));
    const latest = await gw.app.get(BenchmarksService).latestSelection(modelId);
    expect(latest?.benchmarkId).toBe(second.benchmarkId);
  }, 300_000);
});
