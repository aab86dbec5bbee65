import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { JobEntity } from '../jobs/job.entity';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { uploadMultipart } from '../testing/upload-helpers';

describe('per-user limits: active jobs (429 + Retry-After) and stored bytes (413), shown in the API (e2e, real AppModule)', () => {
  let gw: GatewayTestApp;
  let engineer: string;
  let admin: string;

  const call = async (token: string, method: string, url: string, body?: unknown) => {
    const r = await fetch(`${gw.api}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };

  /** A job of `ownerId` in `state`, as the job stream would have left it. */
  const job = async (ownerId: string, state: string) => {
    const t = new Date().toISOString();
    await gw.app
      .get(DataSource)
      .getRepository(JobEntity)
      .insert({
        id: randomUUID(),
        ownerId,
        type: 'convert',
        input: JSON.stringify({ modelId: randomUUID() }),
        state,
        attempts: 0,
        error: null,
        progress: 0,
        stage: null,
        result: null,
        createdAt: t,
        startedAt: null,
        finishedAt: null,
        updatedAt: t,
        lastEventSeq: 0,
      } as never);
  };

  beforeAll(async () => {
    gw = await startGatewayTestApp({
      env: { CVP_USER_MAX_ACTIVE_JOBS: '2', CVP_USER_MAX_STORED_MB: '1', CVP_USER_LIMIT_RETRY_AFTER_S: '17' },
    });
    engineer = await gw.login('engineer');
    admin = await gw.login('admin');
  });
  afterAll(() => gw?.close());

  it('GET /users/me/limits shows each limit and its use; an API key sees its owner’s', async () => {
    const me = await call(engineer, 'GET', '/users/me/limits');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      userId: gw.userIds.engineer,
      activeJobs: { used: 0, max: 2 },
      storedBytes: { used: 0, max: 1024 ** 2 },
      retryAfterSeconds: 17,
    });
    const key = await gw.apiKey('limits', { role: 'viewer', owner: 'engineer' });
    expect((await call(key, 'GET', '/users/me/limits')).body.userId).toBe(gw.userIds.engineer);
    expect((await call(engineer, 'GET', `/users/${gw.userIds.admin}/limits`)).status).toBe(403);
    expect((await call(admin, 'GET', `/users/${gw.userIds.engineer}/limits`)).body.activeJobs.max).toBe(2);
  });

  it('beyond the active-job limit a new job is 429 with Retry-After; finished jobs do not count; other users are unaffected', async () => {
    await job(gw.userIds.engineer, 'succeeded');
    await job(gw.userIds.engineer, 'queued');
    await job(gw.userIds.engineer, 'running');
    const limits = await call(engineer, 'GET', '/users/me/limits');
    expect(limits.body.activeJobs).toEqual({ used: 2, max: 2 });
    const refused = await call(engineer, 'POST', '/models/presets/yolov8n', { name: 'one-too-many' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('17');
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body.detail).toMatch(/CVP_USER_MAX_ACTIVE_JOBS/);
    // The admin's own count is untouched by the engineer's jobs.
    expect((await call(admin, 'POST', '/models/presets/yolov8n', { name: 'admin-preset' })).status).toBe(202);
  });

  it('an upload that would exceed the stored-bytes limit is 413 and leaves nothing behind', async () => {
    const before = (await call(admin, 'GET', '/users/me/limits')).body.storedBytes.used as number;
    const big = Buffer.alloc(2 * 1024 ** 2, 1);
    const up = await uploadMultipart(
      `${gw.api}/datasets`,
      admin,
      { name: 'too-big', format: 'yolo' },
      { name: 'data.zip', data: big },
    );
    expect(up.status).toBe(413);
    expect(String(up.body.detail)).toMatch(/storage limit/);
    expect((await call(admin, 'GET', '/users/me/limits')).body.storedBytes.used).toBe(before);
    expect((await call(admin, 'GET', '/datasets?owner=me')).body.items).toEqual([]);
  });
});
