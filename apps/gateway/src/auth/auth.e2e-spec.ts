import { createHmac } from 'node:crypto';
import { type GatewayTestApp, startGatewayTestApp, TEST_PASSWORDS } from '../testing/gateway-test-app';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
function sign(header: object, payload: object, secret: string, alg: 'sha256' | 'sha512' = 'sha256'): string {
  const data = `${b64(header)}.${b64(payload)}`;
  return `${data}.${createHmac(alg, secret).update(data).digest('base64url')}`;
}

describe('gateway auth (e2e, in-process gateway, real NATS and SQLite)', () => {
  let gw: GatewayTestApp;
  const me = (token: string) => fetch(`${gw.api}/auth/me`, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    gw = await startGatewayTestApp({ env: { CVP_LOGIN_MAX_FAILURES: '3', CVP_LOGIN_LOCKOUT_S: '60' } });
  });
  afterAll(() => gw?.close());

  it('logs in and reads the principal back', async () => {
    const token = await gw.login('engineer');
    const r = await me(token);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ kind: 'user', role: 'engineer', name: 'engineer' });
  });

  describe('token attacks are answered 401', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const claims = () => ({
      sub: gw.userIds.admin,
      typ: 'access',
      role: 'admin',
      name: 'admin',
      iss: 'cvp-gateway',
      iat: now(),
      exp: now() + 600,
    });

    it('a valid hand-signed token is accepted (control)', async () => {
      expect((await me(sign({ alg: 'HS256', typ: 'JWT' }, claims(), gw.config.CVP_JWT_SECRET))).status).toBe(200);
    });
    it('alg none', async () => {
      const t = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
      const r = await me(t);
      expect(r.status).toBe(401);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
    });
    it('another algorithm (HS512 with the right secret)', async () => {
      expect((await me(sign({ alg: 'HS512', typ: 'JWT' }, claims(), gw.config.CVP_JWT_SECRET, 'sha512'))).status).toBe(
        401,
      );
    });
    it('expired', async () => {
      expect(
        (await me(sign({ alg: 'HS256' }, { ...claims(), iat: now() - 100, exp: now() - 10 }, gw.config.CVP_JWT_SECRET)))
          .status,
      ).toBe(401);
    });
    it('not yet valid (nbf in the future)', async () => {
      expect(
        (await me(sign({ alg: 'HS256' }, { ...claims(), nbf: now() + 300 }, gw.config.CVP_JWT_SECRET))).status,
      ).toBe(401);
    });
    it('tampered payload (role changed after signing)', async () => {
      const token = await gw.login('viewer');
      const [h, p, s] = token.split('.');
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
      payload.role = 'admin';
      payload.sub = gw.userIds.admin;
      expect((await me(`${h}.${b64(payload)}.${s}`)).status).toBe(401);
    });
    it('signed with another secret', async () => {
      expect((await me(sign({ alg: 'HS256' }, claims(), 'x'.repeat(64)))).status).toBe(401);
    });
    it('a refresh token used as an access token', async () => {
      const r = await fetch(`${gw.api}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'viewer', password: TEST_PASSWORDS.viewer }),
      });
      const { refreshToken } = (await r.json()) as { refreshToken: string };
      expect((await me(refreshToken)).status).toBe(401);
    });
    it('tokens of a user disabled, then deleted, after issue', async () => {
      const admin = await gw.login('admin');
      const auth = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
      const created = await fetch(`${gw.api}/users`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ username: 'temp-user', password: 'temp-pass-123', role: 'engineer' }),
      });
      expect(created.status).toBe(201);
      const user = (await created.json()) as { id: string };
      const lr = await fetch(`${gw.api}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'temp-user', password: 'temp-pass-123' }),
      });
      const { accessToken, refreshToken } = (await lr.json()) as { accessToken: string; refreshToken: string };
      expect((await me(accessToken)).status).toBe(200);
      expect(
        (
          await fetch(`${gw.api}/users/${user.id}`, {
            method: 'PATCH',
            headers: auth,
            body: JSON.stringify({ disabled: true }),
          })
        ).status,
      ).toBe(200);
      expect((await me(accessToken)).status).toBe(401);
      const rr = await fetch(`${gw.api}/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken }),
      });
      expect(rr.status).toBe(401);
      expect(
        (
          await fetch(`${gw.api}/users/${user.id}`, {
            method: 'PATCH',
            headers: auth,
            body: JSON.stringify({ disabled: false }),
          })
        ).status,
      ).toBe(200);
      expect((await me(accessToken)).status).toBe(200);
      expect((await fetch(`${gw.api}/users/${user.id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
      expect((await me(accessToken)).status).toBe(401);
    });
    it('no token, a malformed token, a revoked api key', async () => {
      expect((await fetch(`${gw.api}/auth/me`)).status).toBe(401);
      expect((await me('not-a-jwt')).status).toBe(401);
      const key = await gw.apiKey('revoke-me');
      expect((await me(key)).status).toBe(200);
      const admin = await gw.login('admin');
      const list = (await (
        await fetch(`${gw.api}/api-keys`, { headers: { authorization: `Bearer ${admin}` } })
      ).json()) as { items: { id: string; name: string; lastUsedAt: string | null }[] };
      const row = list.items.find((k) => k.name === 'revoke-me')!;
      expect(row.lastUsedAt).not.toBeNull();
      expect(JSON.stringify(list)).not.toContain(key);
      expect(
        (
          await fetch(`${gw.api}/api-keys/${row.id}`, {
            method: 'DELETE',
            headers: { authorization: `Bearer ${admin}` },
          })
        ).status,
      ).toBe(200);
      expect((await me(key)).status).toBe(401);
    });
  });

  it('refresh rotates: the new pair works, the old refresh token is refused and revokes the family', async () => {
    const login = await fetch(`${gw.api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'viewer', password: TEST_PASSWORDS.viewer }),
    });
    const first = (await login.json()) as { refreshToken: string };
    const refresh = (t: string) =>
      fetch(`${gw.api}/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken: t }),
      });
    const r1 = await refresh(first.refreshToken);
    expect(r1.status).toBe(200);
    const second = (await r1.json()) as { accessToken: string; refreshToken: string };
    expect((await me(second.accessToken)).status).toBe(200);
    expect((await refresh(first.refreshToken)).status).toBe(401);
    // reuse detected: the rotated token was revoked too
    expect((await refresh(second.refreshToken)).status).toBe(401);
  });

  it('locks an account after repeated failures, with Retry-After, even for the right password', async () => {
    const admin = await gw.login('admin');
    await fetch(`${gw.api}/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'lock-me', password: 'right-pass-123', role: 'viewer' }),
    });
    const attempt = (password: string) =>
      fetch(`${gw.api}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'lock-me', password }),
      });
    for (let i = 0; i < 3; i++) expect((await attempt('wrong-pass')).status).toBe(401);
    const locked = await attempt('right-pass-123');
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('audits mutating calls with actor, action, target, result and correlation id; admins filter them', async () => {
    const admin = await gw.login('admin');
    const viewer = await gw.login('viewer');
    const denied = await fetch(`${gw.api}/users`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${viewer}`,
        'content-type': 'application/json',
        'x-correlation-id': 'audit-probe-1',
      },
      body: '{}',
    });
    expect(denied.status).toBe(403);
    await new Promise((r) => setTimeout(r, 100));
    const r = await fetch(`${gw.api}/audit?result=denied&limit=5`, { headers: { authorization: `Bearer ${admin}` } });
    expect(r.status).toBe(200);
    const page = (await r.json()) as { items: Record<string, unknown>[]; total: number };
    const row = page.items.find((i) => i.correlationId === 'audit-probe-1');
    expect(row).toMatchObject({
      actorName: 'viewer',
      method: 'POST',
      result: 'denied',
      status: 403,
      path: '/api/v1/users',
    });
    const logins = (await (
      await fetch(`${gw.api}/audit?action=AuthController.login&result=success`, {
        headers: { authorization: `Bearer ${admin}` },
      })
    ).json()) as { items: { detail: string }[] };
    expect(logins.items.length).toBeGreaterThan(0);
    expect(JSON.stringify(logins)).not.toContain(TEST_PASSWORDS.admin);
    expect((await fetch(`${gw.api}/audit`, { headers: { authorization: `Bearer ${viewer}` } })).status).toBe(403);
  });

  it('serves OpenAPI at /api/docs and keeps health and metrics outside /api/v1', async () => {
    const doc = (await (await fetch(`${gw.baseUrl}/api/docs/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/auth/login', '/api/v1/users', '/api/v1/audit']),
    );
    expect((await fetch(`${gw.baseUrl}/health/live`)).status).toBe(200);
    expect((await fetch(`${gw.baseUrl}/metrics`)).status).toBe(200);
    expect((await fetch(`${gw.baseUrl}/api/docs`)).status).toBe(200);
  });

  it('throttles login attempts per client address with 429 (ThrottlerGuard)', async () => {
    const small = await startGatewayTestApp({ env: { CVP_LOGIN_THROTTLE_LIMIT: '3', CVP_LOGIN_THROTTLE_TTL_S: '60' } });
    try {
      const attempt = () =>
        fetch(`${small.api}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'nobody', password: 'whatever-1' }),
        });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await attempt()).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await small.close();
    }
  });
});
