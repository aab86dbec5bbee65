import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { LatestBenchmarkReply, LatestBenchmarkRequest, Registry } from '@cvp/contracts';
import { createLogger, MessageBus } from '@cvp/platform';
import { fixtureReport, writeReport } from '@cvp/bench/testing';
import { BenchmarksService, type GatewayTestApp, startGatewayTestApp } from '@cvp/gateway/testing';
import { JobSucceededHooks } from '@cvp/jobs';

/** Benchmarks in the real gateway (SQLite, auth, NATS): rows from bench results, report views, latest selection. */
describe('gateway benchmarks module (real gateway, SQLite, NATS)', () => {
  let gw: GatewayTestApp;
  let viewer: string;
  let service: BenchmarksService;
  let bus: MessageBus;
  const report = fixtureReport('bm-fixture-1');

  function resultFor(id: string, dir: string, over: Record<string, unknown> = {}) {
    return {
      benchmarkId: id,
      modelId: 'model-a',
      modelVersion: 1,
      reportDir: dir,
      status: report.decision.status,
      selected: report.decision.chosen,
      selectedId: report.decision.chosenId,
      baselineP50Ms: 100,
      selectedP50Ms: 40,
      summary: report.decision.summary,
      ...over,
    };
  }
  const api = (p: string, token?: string) =>
    fetch(`${gw.api}${p}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    viewer = await gw.login('viewer');
    service = gw.app.get(BenchmarksService);
    bus = new MessageBus({
      url: process.env.CVP_NATS_URL!,
      name: 'benchmarks-test',
      logger: createLogger('t', 'silent'),
    });
    await bus.connect();
  });
  afterAll(async () => {
    await bus?.close();
    await gw?.close();
  });

  it('a succeeded bench job becomes a row through the completion hook; latestSelection answers it', async () => {
    expect(await service.latestSelection('model-a')).toBeNull();
    const dir = path.join(gw.dataDir, 'benchmarks', 'bm-fixture-1');
    await writeReport(dir, report);
    const merged = await gw.app
      .get(JobSucceededHooks)
      .run(
        'bench',
        { id: 'job-1', ownerId: gw.userIds.engineer, input: { modelId: 'model-a' } },
        resultFor('bm-fixture-1', dir),
      );
    expect(merged).toMatchObject({ benchmarkId: 'bm-fixture-1', reportUrl: '/api/v1/benchmarks/bm-fixture-1/report' });
    expect(await service.latestSelection('model-a')).toEqual({
      benchmarkId: 'bm-fixture-1',
      config: report.decision.chosen,
    });
    // Idempotent by job id (a redelivered completion).
    expect((await service.recordFromJob({ id: 'job-1', ownerId: 'x' }, resultFor('bm-fixture-1', dir))).id).toBe(
      'bm-fixture-1',
    );
    // A later infeasible benchmark does not replace the selection; it is the latest benchmark though.
    await new Promise((r) => setTimeout(r, 5));
    const dir2 = path.join(gw.dataDir, 'benchmarks', 'bm-fixture-2');
    mkdirSync(dir2, { recursive: true });
    await service.recordFromJob(
      { id: 'job-2', ownerId: 'x' },
      resultFor('bm-fixture-2', dir2, { status: 'infeasible', selected: null, selectedId: null, selectedP50Ms: null }),
    );
    expect((await service.latestSelection('model-a'))?.benchmarkId).toBe('bm-fixture-1');
    expect((await service.latest('model-a'))?.id).toBe('bm-fixture-2');
  });

  it('refuses results it cannot store: invalid shape, report outside the data dir', async () => {
    await expect(
      gw.app
        .get(JobSucceededHooks)
        .run('bench', { id: 'job-3', ownerId: 'x', input: { modelId: 'model-a' } }, { benchmarkId: 'bad id!' }),
    ).rejects.toThrow(/^bench result rejected: benchmarkId: Invalid/);
    await expect(service.recordFromJob({ id: 'job-4', ownerId: 'x' }, resultFor('bm-outside', '/etc'))).rejects.toThrow(
      /outside the data dir/,
    );
  });

  it('serves reports by view and format to viewers; 400 on bad queries, 404 on unknown ids, 401 without a token', async () => {
    const tech = await api('/benchmarks/bm-fixture-1/report?view=technical&format=json', viewer);
    expect(tech.status).toBe(200);
    expect(((await tech.json()) as { decision: { chosenId: string } }).decision.chosenId).toBe(
      report.decision.chosenId,
    );
    const simple = (await (await api('/benchmarks/bm-fixture-1/report?view=simple', viewer)).json()) as Record<
      string,
      unknown
    >;
    expect(simple).toMatchObject({
      id: 'bm-fixture-1',
      headline: report.simple.headline,
      status: 'selected',
      caveats: expect.any(Array),
    });
    const html = await api('/benchmarks/bm-fixture-1/report?view=technical&format=html', viewer);
    expect(html.headers.get('content-type')).toContain('text/html');
    expect(await html.text()).toContain('data-chart="latency-distribution"');
    expect((await api('/benchmarks/bm-fixture-1/report?view=simple&format=html', viewer)).status).toBe(200);
    const bad = await api('/benchmarks/bm-fixture-1/report?view=fancy', viewer);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect((await api('/benchmarks/bm-fixture-1/report?extra=1', viewer)).status).toBe(400);
    expect((await api('/benchmarks/nope/report', viewer)).status).toBe(404);
    expect((await api('/benchmarks/bm-fixture-2/report?format=html', viewer)).status).toBe(404); // folder without files
    expect((await api('/benchmarks/bm-fixture-1/report')).status).toBe(401);
  });

  it('lists benchmarks (optionally of one model) and reads one', async () => {
    const all = (await (await api('/benchmarks', viewer)).json()) as { id: string }[];
    expect(all.map((b) => b.id)).toEqual(['bm-fixture-2', 'bm-fixture-1']);
    expect(await (await api('/benchmarks?modelId=other', viewer)).json()).toEqual([]);
    expect((await api('/benchmarks?limit=0', viewer)).status).toBe(400);
    const one = (await (await api('/benchmarks/bm-fixture-1', viewer)).json()) as Record<string, unknown>;
    expect(one).toMatchObject({
      id: 'bm-fixture-1',
      modelId: 'model-a',
      status: 'selected',
      selected: report.decision.chosen,
    });
    expect((await api('/benchmarks/none', viewer)).status).toBe(404);
  });

  it('answers cvp.registry.benchmark.latest over NATS', async () => {
    const found = await bus.request(
      LatestBenchmarkRequest,
      LatestBenchmarkReply,
      Registry.latestBenchmark,
      { modelId: 'model-a' },
      5000,
    );
    expect(found).toMatchObject({
      found: true,
      benchmark: { id: 'bm-fixture-1', modelId: 'model-a', selected: report.decision.chosen },
    });
    const none = await bus.request(
      LatestBenchmarkRequest,
      LatestBenchmarkReply,
      Registry.latestBenchmark,
      { modelId: 'unknown' },
      5000,
    );
    expect(none).toMatchObject({ found: false });
  });
});
