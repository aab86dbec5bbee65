import { type GatewayTestApp, startGatewayTestApp, TEST_PASSWORDS } from '../testing/gateway-test-app';
import { UsersService } from '../users/users.service';

/** A minimal cookie jar over fetch: what a browser would keep for the gateway. */
class Client {
  readonly cookies = new Map<string, string>();
  constructor(private readonly base: string) {}
  async req(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(`${this.base}${path}`, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = pair.split('=');
      if (v) this.cookies.set(k, v);
      else this.cookies.delete(k);
    }
    return res;
  }
  form(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    return this.req(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  }
  async loginCsrf(): Promise<string> {
    const html = await (await this.req('/ui/login')).text();
    return /name="_csrf" value="([^"]+)"/.exec(html)![1];
  }
  async signIn(username: string, password: string): Promise<Response> {
    return this.form('/ui/login', { _csrf: await this.loginCsrf(), username, password });
  }
  async csrf(): Promise<string> {
    const html = await (await this.req('/ui/models')).text();
    return /name="_csrf" value="([^"]+)"/.exec(html)![1];
  }
}

describe('web UI over HTTP (sessions, CSRF, roles, escaping; in-process gateway)', () => {
  let gw: GatewayTestApp;
  beforeAll(async () => {
    gw = await startGatewayTestApp({ env: { CVP_LOGIN_MAX_FAILURES: '3', CVP_LOGIN_LOCKOUT_S: '60' } });
  });
  afterAll(() => gw?.close());

  it('signs in with a Secure, HttpOnly, SameSite=Strict __Host- cookie that maps to the same principal and audit identity', async () => {
    const c = new Client(gw.baseUrl);
    const anon = await c.req('/ui/jobs?type=bench');
    expect(anon.status).toBe(303);
    expect(anon.headers.get('location')).toBe('/ui/login?next=%2Fui%2Fjobs%3Ftype%3Dbench');
    const login = await c.form('/ui/login', {
      _csrf: await c.loginCsrf(),
      username: 'engineer',
      password: TEST_PASSWORDS.engineer,
      next: '/ui/jobs?type=bench',
    });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/ui/jobs?type=bench');
    const cookie = login.headers.getSetCookie().find((s) => s.startsWith('__Host-cvp_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Secure/); // NODE_ENV=test is not development
    expect(cookie).toMatch(/Path=\//);
    const page = await c.req('/ui/models');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('engineer <span class="role">(engineer)</span>');
    // An action through the session is audited under the same user as a REST call would be.
    const r = await c.form('/ui/models/presets', { _csrf: await c.csrf(), preset: 'yolov8n', name: 'audited-preset' });
    expect(r.status).toBe(303);
    await new Promise((res) => setTimeout(res, 100));
    const admin = await gw.login('admin');
    const audit = (await (
      await fetch(`${gw.api}/audit?action=UiModelsController.preset`, { headers: { authorization: `Bearer ${admin}` } })
    ).json()) as { items: Record<string, unknown>[] };
    expect(audit.items[0]).toMatchObject({
      actorId: gw.userIds.engineer,
      actorName: 'engineer',
      actorKind: 'user',
      result: 'success',
    });
    // The cookie is worth nothing on the REST API (which checks no CSRF token).
    expect((await c.req('/api/v1/models')).status).toBe(401);
  });

  it('refuses the sign-in form without its CSRF token, keeps failed sign-ins in the lockout, and never redirects off-site', async () => {
    const c = new Client(gw.baseUrl);
    const forged = await c.form('/ui/login', { username: 'viewer', password: TEST_PASSWORDS.viewer });
    expect(forged.status).toBe(403);
    const admin = await gw.login('admin');
    await fetch(`${gw.api}/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'ui-lock', password: 'right-pass-123', role: 'viewer' }),
    });
    for (let i = 0; i < 3; i++) {
      const bad = await c.signIn('ui-lock', 'wrong-pass');
      expect(bad.status).toBe(401);
      expect(await bad.text()).toContain('invalid username or password');
    }
    const locked = await c.signIn('ui-lock', 'right-pass-123');
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    const empty = await c.signIn('', '');
    expect(empty.status).toBe(400);
    expect(await empty.text()).toMatch(/aria-invalid="true"/);
    const off = await c.form('/ui/login', {
      _csrf: await c.loginCsrf(),
      username: 'viewer',
      password: TEST_PASSWORDS.viewer,
      next: '//evil.example/x',
    });
    expect(off.headers.get('location')).toBe('/ui');
  });

  it('checks CSRF on every action: missing or wrong token, or a foreign Origin, is refused; a bearer token needs none', async () => {
    const c = new Client(gw.baseUrl);
    await c.signIn('engineer', TEST_PASSWORDS.engineer);
    const token = await c.csrf();
    expect((await c.form('/ui/models/presets', { preset: 'yolov8n' })).status).toBe(403);
    expect((await c.form('/ui/models/presets', { _csrf: 'x'.repeat(token.length), preset: 'yolov8n' })).status).toBe(
      403,
    );
    expect(
      (await c.form('/ui/models/presets', { _csrf: token, preset: 'yolov8n' }, { origin: 'http://evil.example' }))
        .status,
    ).toBe(403);
    expect(
      (await c.form('/ui/models/presets', { _csrf: token, preset: 'yolov8n' }, { 'sec-fetch-site': 'cross-site' }))
        .status,
    ).toBe(403);
    // The header htmx sends works as well as the field.
    const viaHeader = await c.form(
      '/ui/models/presets',
      { preset: 'nope' },
      { 'x-csrf-token': token, 'hx-request': 'true' },
    );
    expect(viaHeader.status).toBe(422);
    const html = await viaHeader.text();
    expect(html).toMatch(/id="preset-import-preset"[^>]*aria-invalid="true"/);
    expect(html).toContain('choose a preset');
    const bearer = await gw.login('engineer');
    const r = await fetch(`${gw.baseUrl}/ui/models/presets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'preset=yolov8n',
      redirect: 'manual',
    });
    expect(r.status).toBe(303);
  });

  it('ends sessions at sign-out, on a password change and when the user is disabled; demotion applies at once', async () => {
    const admin = await gw.login('admin');
    const users = gw.app.get(UsersService);
    const u = await users.create({ username: 'ui-temp', password: 'temp-pass-123', role: 'engineer' });
    const a = new Client(gw.baseUrl);
    const b = new Client(gw.baseUrl);
    await a.signIn('ui-temp', 'temp-pass-123');
    await b.signIn('ui-temp', 'temp-pass-123');
    expect((await a.req('/ui/models')).status).toBe(200);
    // Demoted to viewer: the next page has no actions and actions are refused.
    await users.update(u.id, { role: 'viewer' });
    expect(await (await a.req('/ui/models')).text()).not.toContain('id="model-upload"');
    expect((await a.form('/ui/models/presets', { _csrf: await a.csrf(), preset: 'yolov8n' })).status).toBe(403);
    // Signing out ends that session (a copied cookie is worthless), not the other one.
    const stolen = new Map(a.cookies);
    expect((await a.form('/ui/logout', { _csrf: await a.csrf() })).status).toBe(303);
    const replay = new Client(gw.baseUrl);
    for (const [k, v] of stolen) replay.cookies.set(k, v);
    expect((await replay.req('/ui/models')).status).toBe(303);
    expect((await b.req('/ui/models')).status).toBe(200);
    // A password change ends every session of the user.
    const patch = await fetch(`${gw.api}/users/${u.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'new-pass-12345' }),
    });
    expect(patch.status).toBe(200);
    expect((await b.req('/ui/models')).status).toBe(303);
    await b.signIn('ui-temp', 'new-pass-12345');
    expect((await b.req('/ui/models')).status).toBe(200);
    await users.update(u.id, { disabled: true });
    expect((await b.req('/ui/models')).status).toBe(303);
  });

  it('escapes user input in pages (model names), answers HTML errors, and serves htmx from node_modules with long caching', async () => {
    const engineer = await gw.login('engineer');
    const hostile = '<img src=x onerror=alert(1)>"\'&';
    await fetch(`${gw.api}/models/presets/yolov8n`, {
      method: 'POST',
      headers: { authorization: `Bearer ${engineer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: hostile }),
    });
    const c = new Client(gw.baseUrl);
    await c.signIn('viewer', TEST_PASSWORDS.viewer);
    const html = await (await c.req('/ui/models')).text();
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)>&quot;&#39;&amp;'.replace('&#39;', "'"));
    const missing = await c.req('/ui/models/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('text/html');
    expect((await c.req('/ui/admin')).status).toBe(403);
    const asset = /src="(\/ui\/assets\/[0-9a-f]+\/htmx\.min\.js)"/.exec(html)![1];
    const js = await fetch(`${gw.baseUrl}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-type')).toContain('javascript');
    expect(await js.text()).toContain('htmx');
    expect((await fetch(`${gw.baseUrl}/ui/assets/0000/../../package.json`)).status).toBe(404);
  });
});
