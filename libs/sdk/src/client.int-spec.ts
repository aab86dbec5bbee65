import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startCompiledGateway } from '../../../scripts/lib/gateway-process';
import { freePort } from '../../../scripts/lib/ports';
import { tinyIdentityOnnx } from '@cvp/measure/testing';
import {
  CvpApiError,
  CvpClient,
  CvpNetworkError,
  CvpSessionExpiredError,
  type JobEvent,
  MemorySessionStore,
  type Session,
  SessionAuth,
  sessionFromTokens,
  tokenAuth,
} from './index';

type Gateway = Awaited<ReturnType<typeof startCompiledGateway>>;
const ROOT = path.resolve(__dirname, '../../..');

/** A store that counts refreshes (each save of a session with a new access token). */
class CountingStore extends MemorySessionStore {
  saves = 0;
  override async save(s: Session | null) {
    this.saves++;
    await super.save(s);
  }
}

describe('SDK against the compiled gateway (its own process, real NATS and SQLite)', () => {
  let gw: Gateway;
  let admin: CvpClient;
  let session: Session;
  const onnx = () => {
    const file = path.join(process.env.CVP_TEST_DIR!, 'sdk-tiny.onnx');
    writeFileSync(file, tinyIdentityOnnx(['batch', 3, 8, 8]));
    return file;
  };

  beforeAll(async () => {
    gw = await startCompiledGateway({
      natsUrl: process.env.CVP_NATS_URL!,
      env: { CVP_JWT_ACCESS_TTL_S: '10', CVP_MODEL_UPLOAD_MAX_BYTES: '65536' },
    });
    const pair = await new CvpClient({ url: gw.origin }).auth.login('admin', gw.adminPassword);
    session = sessionFromTokens(gw.origin, 'admin', pair);
    admin = new CvpClient({ url: gw.origin, auth: new SessionAuth(new MemorySessionStore(session), { earlyMs: 0 }) });
    await admin.users.create({ username: 'sdk-viewer', password: 'viewer-pass-1', role: 'viewer' });
  });
  afterAll(() => gw?.stop());

  it('the committed SDK is what the live OpenAPI document generates (else: node scripts/generate-sdk.js)', async () => {
    // The generator runs as its own process (openapi-typescript loads ES modules jest cannot).
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/generate-sdk.js'), '--check', '--url', gw.origin], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect({ status: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({
      status: 0,
      out: 'SDK matches the live document',
    });
  });

  it('login: a wrong password is a 401 problem; the right one gives a session that knows who it is', async () => {
    const anon = new CvpClient({ url: gw.origin });
    const err = await anon.auth.login('admin', 'wrong-password').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CvpApiError);
    expect(err).toMatchObject({
      status: 401,
      problem: { title: 'Unauthorized', detail: 'invalid username or password' },
    });
    expect(await admin.auth.me()).toMatchObject({ kind: 'user', name: 'admin', role: 'admin' });
  });

  it('refreshes before expiry once for two clients sharing a session, and the gateway accepts both after', async () => {
    const pair = await new CvpClient({ url: gw.origin }).auth.login('admin', gw.adminPassword);
    const store = new CountingStore(sessionFromTokens(gw.origin, 'admin', pair));
    // A clock 6 s ahead with a 5 s margin: the 10 s token from login is due, a fresh one is not.
    const clock = { earlyMs: 5_000, now: () => Date.now() + 6_000 };
    const a = new CvpClient({ url: gw.origin, auth: new SessionAuth(store, clock) });
    const b = new CvpClient({ url: gw.origin, auth: new SessionAuth(store, clock) });
    const [ma, mb] = await Promise.all([a.auth.me(), b.auth.me()]);
    expect([ma.name, mb.name]).toEqual(['admin', 'admin']);
    // One refresh: a second use of the same refresh token would have revoked every session.
    expect(store.saves).toBe(1);
    expect((await store.load())!.refreshToken).not.toBe(pair.refreshToken);
    expect((await a.auth.me()).name).toBe('admin');
    expect(store.saves).toBe(1);
  });

  it('renews after a 401 and repeats the call; a revoked refresh token ends the session', async () => {
    // Its own user: spending a refresh token twice revokes every session of that user.
    await admin.users.create({ username: 'sdk-renew', password: 'renew-pass-1', role: 'engineer' });
    const pair = await new CvpClient({ url: gw.origin }).auth.login('sdk-renew', 'renew-pass-1');
    const store = new MemorySessionStore({
      ...sessionFromTokens(gw.origin, 'sdk-renew', pair),
      accessToken: `${pair.accessToken.slice(0, -4)}AAAA`, // the gateway refuses its signature
    });
    const c = new CvpClient({ url: gw.origin, auth: new SessionAuth(store, { earlyMs: 0 }) });
    expect((await c.auth.me()).name).toBe('sdk-renew');
    expect((await store.load())!.refreshToken).not.toBe(pair.refreshToken);

    await store.save({ ...(await store.load())!, accessToken: 'x.y.z', refreshToken: pair.refreshToken });
    const err = await c.auth.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CvpSessionExpiredError);
    expect(await store.load()).toBeNull();
  });

  it('upload: streams an ONNX file and gets the conversion job; viewers are refused with 403; over the cap is 413', async () => {
    const file = onnx();
    const accepted = await admin.models.upload(file, { format: 'onnx', task: 'classify', name: 'sdk-tiny' });
    expect(accepted.model).toMatchObject({ name: 'sdk-tiny', task: 'classify', sourceFormat: 'onnx' });
    expect(accepted.job.id).toMatch(/^[0-9a-f-]{36}$/);
    const listed = await admin.models.list({ name: 'sdk-tiny' });
    expect(listed.items.map((m) => m.id)).toEqual([accepted.model.id]);
    expect((await admin.models.get(accepted.model.id)).id).toBe(accepted.model.id);

    const viewerPair = await new CvpClient({ url: gw.origin }).auth.login('sdk-viewer', 'viewer-pass-1');
    const viewer = new CvpClient({ url: gw.origin, auth: tokenAuth(viewerPair.accessToken) });
    expect(await viewer.models.upload(file, { format: 'onnx', task: 'classify' }).catch((e) => e)).toMatchObject({
      status: 403,
      problem: { title: 'Forbidden' },
    });

    const big = path.join(process.env.CVP_TEST_DIR!, 'sdk-big.onnx');
    writeFileSync(big, Buffer.alloc(70_000, 1));
    expect(await admin.models.upload(big, { format: 'onnx', task: 'classify' }).catch((e) => e)).toMatchObject({
      status: 413,
      problem: { title: 'Payload Too Large' },
    });
    expect(await admin.models.get('00000000-0000-4000-8000-000000000000').catch((e) => e)).toMatchObject({
      status: 404,
    });
  });

  it('job SSE: the history, then live events until the terminal state; resumes after a given event', async () => {
    const job = await admin.jobs.create('convert', { modelId: 'no-worker-consumes-this' });
    expect(job.state).toBe('queued');
    const seen: JobEvent[] = [];
    const following = admin.jobs.wait(job.id, (e) => seen.push(e));
    // Live: the cancel happens while the stream is open.
    for (let i = 0; i < 300 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(seen[0]).toMatchObject({ kind: 'state', state: 'queued', jobId: job.id });
    expect((await admin.jobs.cancel(job.id)).state).toBe('cancelled');
    const final = await following;
    expect(final.state).toBe('cancelled');
    expect(seen.map((e) => e.state)).toEqual(['queued', 'cancelled']);

    const resumed: JobEvent[] = [];
    for await (const e of admin.jobs.events(job.id, { after: seen[0].seq })) resumed.push(e);
    expect(resumed.map((e) => e.seq)).toEqual([seen[1].seq]);
    expect((await admin.jobs.list({ state: 'cancelled' })).items.map((j) => j.id)).toContain(job.id);
    expect(await admin.jobs.cancel(job.id).catch((e) => e)).toMatchObject({ status: 409 });
  });

  it('an API key authenticates as scope infer; an unreachable gateway is a network error', async () => {
    const key = await admin.apiKeys.create('sdk-test');
    const c = new CvpClient({ url: gw.origin, auth: tokenAuth(key.key) });
    expect(await c.auth.me()).toMatchObject({ kind: 'apiKey', role: 'infer' });
    expect(await c.leases.list().catch((e) => e)).toMatchObject({ status: 403 });
    expect((await admin.leases.list()).tokens).toBeGreaterThan(0);

    const down = new CvpClient({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2000 });
    const err = await down.auth.login('a', 'b').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CvpNetworkError);
    expect((err as CvpNetworkError).reason).toMatch(/ECONNREFUSED/);
  });
});
