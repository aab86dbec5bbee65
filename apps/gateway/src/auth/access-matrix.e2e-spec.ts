import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { ACCESS_KEY, type AccessDeclaration } from '@cvp/platform';
import type { Principal } from '@cvp/contracts';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';

interface RouteInfo {
  controller: string;
  handler: string;
  method: string;
  path: string;
  access: AccessDeclaration | undefined;
}

/** Every route of every controller registered in the real AppModule, with its access declaration. */
function registeredRoutes(gw: GatewayTestApp): RouteInfo[] {
  const out: RouteInfo[] = [];
  const join = (...parts: (string | string[] | undefined)[]) =>
    '/' +
    parts
      .flatMap((p) => (Array.isArray(p) ? p[0] : p) ?? '')
      .map((p) => String(p).replace(/^\/+|\/+$/g, ''))
      .filter(Boolean)
      .join('/');
  for (const mod of gw.app.get(ModulesContainer).values()) {
    for (const wrapper of mod.controllers.values()) {
      const ctrl = wrapper.metatype as (new (...a: unknown[]) => unknown) | undefined;
      if (!ctrl) continue;
      const base = Reflect.getMetadata(PATH_METADATA, ctrl) as string | string[] | undefined;
      const proto = ctrl.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        if (name === 'constructor') continue;
        const fn = proto[name];
        if (typeof fn !== 'function') continue;
        const sub = Reflect.getMetadata(PATH_METADATA, fn) as string | string[] | undefined;
        if (sub === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, fn) as number];
        const access = (Reflect.getMetadata(ACCESS_KEY, fn) ?? Reflect.getMetadata(ACCESS_KEY, ctrl)) as
          AccessDeclaration | undefined;
        out.push({ controller: ctrl.name, handler: name, method, path: join(base, sub), access });
      }
    }
  }
  return out;
}

const ROOT_PATHS = /^\/(health|metrics|ui)(\/|$)/;
/** The web UI's pages: HTML, not API (no OpenAPI entry); without a session they redirect to sign-in. */
const UI_PATHS = /^\/ui(\/|$)/;
const PRINCIPALS: (Principal | 'anonymous')[] = ['admin', 'engineer', 'viewer', 'infer', 'anonymous'];

/**
 * The platform's role table: which principals may call a route, by what the route does. Routes it
 * leaves out (undefined) are only checked for having a declaration.
 */
function roleTableAllows(r: RouteInfo): Principal[] | 'public' | undefined {
  const p = r.path;
  if (/^\/(health|metrics)/.test(p) || p === '/auth/login' || p === '/auth/refresh') return 'public';
  if (/^\/(users|api-keys|audit)(\/|$)/.test(p)) return ['admin'];
  if (/^\/gpu\/leases\/:/.test(p) && r.method === 'DELETE') return ['admin'];
  if (/^\/models\/:id\/infer$/.test(p)) return ['admin', 'engineer', 'viewer', 'infer'];
  if (
    /^\/(models|datasets|jobs|deployments|benchmarks|gpu\/leases)(\/|$)/.test(p) &&
    r.method === 'GET' &&
    !/\/events$/.test(p)
  )
    return ['admin', 'engineer', 'viewer'];
  if (/^\/(models|datasets|deployments)(\/|$)/.test(p) && ['POST', 'DELETE'].includes(r.method))
    return ['admin', 'engineer'];
  if (/^\/jobs(\/:type|\/:id\/cancel)$/.test(p) && r.method === 'POST') return ['admin', 'engineer'];
  return undefined;
}

describe('access: every route declares its roles, and the guard enforces them (e2e, real AppModule)', () => {
  let gw: GatewayTestApp;
  let routes: RouteInfo[];
  const tokens: Partial<Record<Principal, string>> = {};

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    routes = registeredRoutes(gw);
    for (const role of ['admin', 'engineer', 'viewer'] as const) tokens[role] = await gw.login(role);
    tokens.infer = await gw.apiKey('matrix');
  });
  afterAll(() => gw?.close());

  it('finds the routes of every feature module', () => {
    const paths = routes.map((r) => `${r.method} ${r.path}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        'POST /auth/login',
        'GET /users',
        'POST /api-keys',
        'GET /audit',
        'POST /models',
        'GET /models/:id',
        'POST /datasets',
        'GET /health/ready',
      ]),
    );
  });

  it('no route lacks an access declaration (deny by default)', () => {
    const undeclared = routes
      .filter((r) => !r.access)
      .map((r) => `${r.method} ${r.path} (${r.controller}.${r.handler})`);
    expect(undeclared).toEqual([]);
  });

  it('declarations match the role table where it speaks', () => {
    const mismatches: string[] = [];
    for (const r of routes) {
      const allowed = roleTableAllows(r);
      if (!allowed || !r.access) continue;
      const declared = 'public' in r.access ? 'public' : [...r.access.roles].sort().join(',');
      const expected = allowed === 'public' ? 'public' : [...allowed].sort().join(',');
      if (declared !== expected) mismatches.push(`${r.method} ${r.path}: declared ${declared}, role table ${expected}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('OpenAPI at /api/docs documents every registered route', async () => {
    const doc = (await (await fetch(`${gw.baseUrl}/api/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)),
    );
    const toOpenApi = (r: RouteInfo) =>
      `${r.method} ${ROOT_PATHS.test(r.path) ? '' : '/api/v1'}${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`;
    const missing = routes
      .filter((r) => !UI_PATHS.test(r.path))
      .map(toOpenApi)
      .filter((k) => !documented.has(k));
    expect(missing).toEqual([]);
  });

  it('role x route matrix: each principal is let through exactly where declared (403 otherwise, 401 without credentials)', async () => {
    const failures: string[] = [];
    const fill = (p: string) =>
      p
        .replace(/:id\b/g, '00000000-0000-4000-8000-000000000000')
        .replace(/:name\b/g, 'no-such-preset')
        .replace(/:type\b/g, 'convert')
        .replace(/:[A-Za-z]+/g, 'x');
    for (const r of routes) {
      if (!r.access || 'public' in r.access) continue;
      const url = `${ROOT_PATHS.test(r.path) ? gw.baseUrl : gw.api}${fill(r.path)}`;
      for (const who of PRINCIPALS) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (who !== 'anonymous') headers.authorization = `Bearer ${tokens[who]}`;
        const ctl = new AbortController();
        const timer = setTimeout(() => ctl.abort(), 3000);
        let status: number;
        try {
          const res = await fetch(url, {
            method: r.method,
            headers,
            body: ['GET', 'HEAD'].includes(r.method) ? undefined : '{}',
            signal: ctl.signal,
            redirect: 'manual',
          });
          status = res.status;
          // A UI page sends the anonymous to its sign-in page instead of answering 401.
          if (
            who === 'anonymous' &&
            status === 303 &&
            UI_PATHS.test(r.path) &&
            res.headers.get('location')?.startsWith('/ui/login')
          )
            status = 401;
          await res.body?.cancel();
        } catch {
          status = 0; // a stream that stays open (SSE) was let through
        } finally {
          clearTimeout(timer);
        }
        const allowed = who !== 'anonymous' && r.access.roles.includes(who);
        const ok = who === 'anonymous' ? status === 401 : allowed ? status !== 401 && status !== 403 : status === 403;
        if (!ok)
          failures.push(`${who} ${r.method} ${r.path}: ${status} (${allowed ? 'allowed' : 'denied'} by declaration)`);
      }
    }
    expect(failures).toEqual([]);
  });
});
