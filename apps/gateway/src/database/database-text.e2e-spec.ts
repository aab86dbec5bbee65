import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { JobEntity } from '../jobs/job.entity';
import { JobsService } from '../jobs/jobs.service';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { testDatabaseEngine } from '../testing/test-database';

/**
 * Text that one engine stores and the other cannot gets the same answer on both: NUL characters
 * are refused with 400 (PostgreSQL's text cannot hold them), everything else round-trips exactly.
 */
describe(`gateway text handling (real gateway, ${testDatabaseEngine()})`, () => {
  let gw: GatewayTestApp;
  let admin: string;

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    admin = await gw.login('admin');
  });
  afterAll(() => gw?.close());

  const call = (method: string, p: string, body?: unknown) =>
    fetch(`${gw.api}${p}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });

  it.each([
    ['GET', '/models?name=a%00b', undefined],
    ['GET', '/audit?actor=%00', undefined],
    ['GET', '/benchmarks/%00', undefined],
    ['GET', '/benchmarks?modelId=%00', undefined],
    ['GET', '/deployments/%00', undefined],
    ['GET', '/deployments?modelId=%00', undefined],
    ['GET', '/packages/%00', undefined],
    ['POST', '/auth/login', { username: 'a\u0000b', password: 'whatever-1' }],
    ['POST', '/models/presets/yolov8n', { name: 'a\u0000b' }],
    ['POST', '/api-keys', { name: 'a\u0000b' }],
    ['POST', '/deployments', { modelId: 'a\u0000b', engine: 'native' }],
    ['POST', '/api-keys', { name: 'ok', ['x\u0000']: 1 }],
  ])('%s %s with a NUL character -> 400 problem+json', async (method, p, body) => {
    const r = await call(method, p, body);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await r.json()) as { detail: string }).detail).toMatch(/NUL/);
  });

  it('refuses absurdly nested JSON with 400 instead of walking it', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 200; i++) deep = { d: deep };
    const r = await call('POST', '/api-keys', { name: 'deep', extra: deep });
    expect(r.status).toBe(400);
  });

  it('audits a refused request with what it sent, NUL shown as U+FFFD', async () => {
    expect((await call('POST', '/auth/login', { username: 'mallory\u0000', password: 'whatever-1' })).status).toBe(400);
    const r = await call('GET', '/audit?action=AuthController.login&result=failure');
    expect(r.status).toBe(200);
    const rows = ((await r.json()) as { items: { status: number; detail: string | null }[] }).items;
    expect(rows).toContainEqual(expect.objectContaining({ status: 400, detail: 'username=mallory\uFFFD' }));
  });

  it('stores and returns other text exactly: non-Latin scripts, emoji, quotes, backslashes, a name at its length cap', async () => {
    for (const name of ['ключ 模型 🔑', `it's "quoted" \\ and % _ *`, '😀'.repeat(50)]) {
      const created = await call('POST', '/api-keys', { name });
      expect(created.status).toBe(201);
      const id = ((await created.json()) as { id: string }).id;
      const list = (await (await call('GET', '/api-keys?limit=200')).json()) as {
        items: { id: string; name: string }[];
      };
      expect(list.items.find((k) => k.id === id)?.name).toBe(name);
    }
  });

  it("stores a worker's error or stage with NUL characters (as U+FFFD) instead of retrying it forever", async () => {
    const id = randomUUID();
    const t = new Date().toISOString();
    await gw.app.get(DataSource).getRepository(JobEntity).insert({
      id,
      ownerId: gw.userIds.engineer,
      type: 'convert',
      input: '{}',
      state: 'running',
      attempts: 1,
      error: null,
      progress: 0,
      stage: null,
      result: null,
      createdAt: t,
      startedAt: t,
      finishedAt: null,
      updatedAt: t,
      lastEventSeq: 0,
    });
    const jobs = gw.app.get(JobsService);
    await jobs.applyWorkerEvent({ schemaVersion: 1, jobId: id, seq: 1, at: t, stage: 'step\u00001', progress: 0.5 });
    await jobs.applyWorkerEvent({
      schemaVersion: 1,
      jobId: id,
      seq: 2,
      at: t,
      state: 'failed',
      error: 'child said \u0000\u0000',
    });
    expect(await jobs.get(id)).toMatchObject({
      state: 'failed',
      stage: 'step\uFFFD1',
      error: 'child said \uFFFD\uFFFD',
    });
  });
});
