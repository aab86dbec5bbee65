import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { ACCESS_KEY, type AccessDeclaration } from '@cvp/platform';
import type { ApiKeyRole, Principal } from '@cvp/contracts';
import { DataSource } from 'typeorm';
import { ApiKeysService } from '../api-keys/api-keys.service';
import { DatasetEntity } from '../datasets/dataset.entity';
import { DeploymentEntity } from '../deployments/deployment.entity';
import { JobEntity } from '../jobs/job.entity';
import { ModelEntity, ModelVersionEntity } from '../models/model.entity';
import { PackageEntity } from '../packages/package.entity';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { UsersService } from '../users/users.service';

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
/** Every kind of caller: a user of each role, an API key of each role, nobody. */
type Caller = Principal | `key:${ApiKeyRole}` | 'anonymous';
const CALLERS: Caller[] = [
  'admin',
  'engineer',
  'viewer',
  'key:admin',
  'key:engineer',
  'key:viewer',
  'key:infer',
  'anonymous',
];
/** The role a caller acts with (an API key of role R acts as R; its owner here holds at least R). */
const roleOf = (c: Caller): Principal | null =>
  c === 'anonymous' ? null : c.startsWith('key:') ? (c.slice(4) as Principal) : (c as Principal);
/** Routes that refuse API keys whatever their role: a key cannot make keys. */
const USERS_ONLY = new Set(['POST /api-keys']);

/**
 * The platform's role table: which principals may call a route, by what the route does. Routes it
 * leaves out (undefined) are only checked for having a declaration.
 */
function roleTableAllows(r: RouteInfo): Principal[] | 'public' | undefined {
  const p = r.path;
  if (/^\/(health|metrics)/.test(p) || p === '/auth/login' || p === '/auth/refresh') return 'public';
  if (p === '/auth/me' || p === '/users/me/limits') return ['admin', 'engineer', 'viewer', 'infer'];
  if (/^\/api-keys(\/|$)/.test(p)) return ['admin', 'engineer', 'viewer'];
  if (/^\/(users|audit|ownership)(\/|$)/.test(p)) return ['admin'];
  if (/^\/gpu\/leases\/:/.test(p) && r.method === 'DELETE') return ['admin'];
  if (/^\/models\/:id\/infer$/.test(p)) return ['admin', 'engineer', 'viewer', 'infer'];
  if (/^\/(models|datasets|jobs|deployments|benchmarks|packages|gpu\/leases)(\/|$)/.test(p) && r.method === 'GET')
    return /\/events$/.test(p) ? 'public' : ['admin', 'engineer', 'viewer'];
  if (/^\/(models|datasets|deployments|packages)(\/|$)/.test(p) && ['POST', 'DELETE'].includes(r.method))
    return ['admin', 'engineer'];
  if (/^\/jobs(\/:type|\/:id\/cancel)$/.test(p) && r.method === 'POST') return ['admin', 'engineer'];
  return undefined;
}

describe('access: every route declares its roles, and the guard enforces them (e2e, real AppModule)', () => {
  let gw: GatewayTestApp;
  let routes: RouteInfo[];
  const tokens: Partial<Record<Caller, string>> = {};

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    routes = registeredRoutes(gw);
    for (const role of ['admin', 'engineer', 'viewer'] as const) {
      tokens[role] = await gw.login(role);
      tokens[`key:${role}`] = await gw.apiKey(`matrix-${role}`, { role, owner: role });
    }
    tokens['key:infer'] = await gw.apiKey('matrix-infer');
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

  it('role x route matrix: users and API keys of every role are let through exactly where declared (403 otherwise, 401 without credentials)', async () => {
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
      for (const who of CALLERS) {
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
        const role = roleOf(who);
        const allowed =
          role !== null &&
          r.access.roles.includes(role) &&
          !(who.startsWith('key:') && USERS_ONLY.has(`${r.method} ${r.path}`));
        const ok = who === 'anonymous' ? status === 401 : allowed ? status !== 401 && status !== 403 : status === 403;
        if (!ok)
          failures.push(`${who} ${r.method} ${r.path}: ${status} (${allowed ? 'allowed' : 'denied'} by declaration)`);
      }
    }
    expect(failures).toEqual([]);
  });
});

type OwnedKind = 'model' | 'dataset' | 'job' | 'deployment' | 'package' | 'apiKey';

/**
 * How each route that changes an owned resource is called against one that belongs to the owner
 * engineer. A new mutating route under an owned prefix must be added here or to NOT_OWNERSHIP_ROUTES.
 */
const OWNERSHIP_ROUTES: Record<string, (r: Record<OwnedKind, string>) => { path: string; body?: unknown }> = {
  'DELETE /models/:id': (r) => ({ path: `/models/${r.model}` }),
  'DELETE /datasets/:id': (r) => ({ path: `/datasets/${r.dataset}` }),
  'POST /jobs/:id/cancel': (r) => ({ path: `/jobs/${r.job}/cancel` }),
  'POST /jobs/:type': (r) => ({ path: '/jobs/convert', body: { modelId: r.model } }),
  'POST /deployments': (r) => ({ path: '/deployments', body: { modelId: r.model, engine: 'ort-node' } }),
  'DELETE /deployments/:id': (r) => ({ path: `/deployments/${r.deployment}` }),
  'DELETE /packages/:id': (r) => ({ path: `/packages/${r.package}` }),
  'DELETE /api-keys/:id': (r) => ({ path: `/api-keys/${r.apiKey}` }),
};
/** Mutating routes under owned prefixes that change nothing someone else owns, and why. */
const NOT_OWNERSHIP_ROUTES: Record<string, string> = {
  'POST /models': 'creates a model of the caller',
  'POST /models/presets/:name': 'creates a model of the caller',
  'POST /datasets': 'creates a data set of the caller',
  'POST /api-keys': 'creates a key of the caller (for others: admins only, tested below)',
  'POST /models/:id/infer': 'reads: runs the deployed model',
  'POST /jobs/:id/events/token': 'reads: a token for the job event stream',
};
const OWNED_PREFIX = /^\/(models|datasets|jobs|deployments|packages|api-keys)(\/|$)/;

describe('ownership: engineers change only what they own, admins everything, viewers nothing (e2e, real AppModule)', () => {
  let gw: GatewayTestApp;
  let ds: DataSource;
  let owner: string;
  let other: string;
  const tokens: Record<string, string> = {};

  /** A fresh model (with an ONNX version), data set, queued job, deployment, package and API key of `ownerId`. */
  const seed = async (ownerId: string): Promise<Record<OwnedKind, string>> => {
    const t = new Date().toISOString();
    const model = randomUUID();
    const onnx = path.join(gw.dataDir, 'models', model, 'v1', 'model.onnx');
    mkdirSync(path.dirname(onnx), { recursive: true });
    writeFileSync(onnx, 'not really onnx');
    await ds.getRepository(ModelEntity).insert({
      id: model,
      name: 'owned',
      task: 'detect',
      sourceFormat: 'onnx',
      preset: null,
      labels: null,
      ownerId,
      latestVersion: 1,
      createdAt: t,
      updatedAt: t,
    });
    await ds.getRepository(ModelVersionEntity).insert({
      modelId: model,
      version: 1,
      sourcePath: onnx,
      sourceSha256: null,
      sourceSize: 15,
      sourceFormat: 'onnx',
      onnxPath: onnx,
      trained: false,
      metadata: null,
      metrics: null,
      jobId: null,
      createdAt: t,
    });
    const dataset = randomUUID();
    await ds.getRepository(DatasetEntity).insert({
      id: dataset,
      name: 'owned',
      format: 'yolo',
      valid: false,
      classes: [],
      report: { valid: false, problems: [], problemsTruncated: 0, classes: [] } as never,
      sha256: '0'.repeat(64),
      size: 10,
      ownerId,
      createdAt: t,
    });
    const job = randomUUID();
    await ds.getRepository(JobEntity).insert({
      id: job,
      ownerId,
      type: 'convert',
      input: JSON.stringify({ modelId: model }),
      state: 'queued',
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
    });
    const deployment = `dep-${randomUUID().replace(/-/g, '').slice(0, 24)}`;
    await ds.getRepository(DeploymentEntity).insert({
      id: deployment,
      modelId: model,
      modelVersion: 1,
      requestedEngine: 'ort-node',
      engine: 'ort-node',
      config: JSON.stringify({ engine: 'ort-node', options: {}, modelPath: onnx }),
      benchmarkId: null,
      state: 'ready',
      error: null,
      ownerId,
      createdAt: t,
      updatedAt: t,
    });
    const pkg = `pkg-${randomUUID().replace(/-/g, '').slice(0, 24)}`;
    const tarball = path.join('packages', pkg, 'bundle.tar.gz');
    mkdirSync(path.join(gw.dataDir, 'packages', pkg), { recursive: true });
    writeFileSync(path.join(gw.dataDir, tarball), 'x');
    await ds.getRepository(PackageEntity).insert({
      id: pkg,
      jobId: randomUUID(),
      ownerId,
      modelId: model,
      modelVersion: 1,
      engine: 'ort-node',
      selected: false,
      variant: 'cpu',
      benchmarkId: null,
      sha256: '0'.repeat(64),
      sizeBytes: 1,
      fileCount: 1,
      tarballPath: tarball,
      createdAt: t,
    });
    const apiKey = (
      await gw.app
        .get(ApiKeysService)
        .create({ name: 'owned', role: 'infer', ownerId }, { kind: 'user', ownerId: gw.userIds.admin, role: 'admin' })
    ).id;
    return { model, dataset, job, deployment, package: pkg, apiKey };
  };

  const call = async (token: string, method: string, url: string, body?: unknown) => {
    const r = await fetch(`${gw.api}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? (method === 'GET' ? undefined : '{}') : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    ds = gw.app.get(DataSource);
    owner = gw.userIds.engineer;
    other = (
      await gw.app.get(UsersService).create({ username: 'engineer-b', password: 'engineer-b-pass-1', role: 'engineer' })
    ).id;
    const login = async (username: string, password: string) =>
      (
        (await (
          await fetch(`${gw.api}/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username, password }),
          })
        ).json()) as { accessToken: string }
      ).accessToken;
    const keyOf = async (ownerId: string, role: ApiKeyRole) =>
      (
        await gw.app
          .get(ApiKeysService)
          .create({ name: `k-${role}`, role, ownerId }, { kind: 'user', ownerId: gw.userIds.admin, role: 'admin' })
      ).key;
    tokens['owner engineer'] = await gw.login('engineer');
    tokens["owner engineer's key"] = await keyOf(owner, 'engineer');
    tokens['other engineer'] = await login('engineer-b', 'engineer-b-pass-1');
    tokens["other engineer's key"] = await keyOf(other, 'engineer');
    tokens.viewer = await gw.login('viewer');
    tokens['viewer key'] = await keyOf(gw.userIds.viewer, 'viewer');
    tokens['infer key'] = await keyOf(gw.userIds.admin, 'infer');
    tokens.admin = await gw.login('admin');
    tokens['admin key'] = await keyOf(gw.userIds.admin, 'admin');
  });
  afterAll(() => gw?.close());

  const MAY_CHANGE = new Set(['owner engineer', "owner engineer's key", 'admin', 'admin key']);

  it('every route that changes an owned resource is in the ownership table', () => {
    const unknown = registeredRoutes(gw)
      .filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method) && OWNED_PREFIX.test(r.path))
      .map((r) => `${r.method} ${r.path}`)
      .filter((k) => !(k in OWNERSHIP_ROUTES) && !(k in NOT_OWNERSHIP_ROUTES));
    expect(unknown).toEqual([]);
  });

  it('owner x route matrix: the owner (user or key) and admins (user or key) change it; another engineer, viewers and infer keys get 403', async () => {
    const failures: string[] = [];
    for (const [route, target] of Object.entries(OWNERSHIP_ROUTES)) {
      const method = route.split(' ')[0];
      for (const who of Object.keys(tokens)) {
        const { path: url, body } = target(await seed(owner)); // fresh resources: an allowed call changes them
        const r = await call(tokens[who], method, url, body);
        const allowed = MAY_CHANGE.has(who);
        if (allowed ? r.status >= 300 : r.status !== 403)
          failures.push(
            `${who} ${route}: ${r.status} (${allowed ? 'owner or admin' : 'not theirs'}) ${r.body.detail ?? ''}`,
          );
      }
    }
    expect(failures).toEqual([]);
  });

  it("the web UI's actions apply the same ownership: another engineer gets 403, the owner and an admin succeed", async () => {
    const ui = async (token: string, url: string) => {
      const r = await fetch(`${gw.baseUrl}${url}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        redirect: 'manual',
      });
      await r.body?.cancel();
      return r.status;
    };
    const actions = (r: Record<OwnedKind, string>) => [
      `/ui/models/${r.model}/delete`,
      `/ui/jobs/${r.job}/cancel`,
      `/ui/deployments/${r.deployment}/undeploy`,
    ];
    const failures: string[] = [];
    for (const [who, expected] of [
      ['other engineer', [403]],
      ['viewer', [403]],
      ['owner engineer', [303]],
      ['admin', [303]],
    ] as const) {
      for (const url of actions(await seed(owner))) {
        const status = await ui(tokens[who], url);
        if (!(expected as readonly number[]).includes(status)) failures.push(`${who} POST ${url}: ${status}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('API keys for another user: only an admin makes them, and never above that user’s role; keys cannot make keys', async () => {
    const other403 = await call(tokens['owner engineer'], 'POST', '/api-keys', { name: 'x', ownerId: other });
    expect(other403.status).toBe(403);
    const mine = await call(tokens['owner engineer'], 'POST', '/api-keys', { name: 'mine', role: 'engineer' });
    expect(mine.status).toBe(201);
    expect(mine.body).toMatchObject({ ownerId: owner, role: 'engineer' });
    expect(
      (await call(tokens['owner engineer'], 'POST', '/api-keys', { name: 'too-much', role: 'admin' })).status,
    ).toBe(403);
    expect((await call(tokens.viewer, 'POST', '/api-keys', { name: 'v', role: 'engineer' })).status).toBe(403);
    expect((await call(tokens.viewer, 'POST', '/api-keys', { name: 'v', role: 'viewer' })).status).toBe(201);
    const forOther = await call(tokens.admin, 'POST', '/api-keys', { name: 'for-b', role: 'engineer', ownerId: other });
    expect(forOther.status).toBe(201);
    expect(forOther.body.ownerId).toBe(other);
    expect((await call(tokens["owner engineer's key"], 'POST', '/api-keys', { name: 'from-key' })).status).toBe(403);
    // Non-admins list only their own keys.
    const listed = await call(tokens['other engineer'], 'GET', '/api-keys?limit=200');
    expect(listed.body.items.length).toBeGreaterThan(0);
    expect(listed.body.items.every((k: { ownerId: string }) => k.ownerId === other)).toBe(true);
  });

  it('a key acts with the lower of its role and its owner’s: demoting the owner demotes the key at once', async () => {
    const u = await gw.app
      .get(UsersService)
      .create({ username: 'demoted', password: 'demoted-pass-1', role: 'engineer' });
    const key = (
      await gw.app
        .get(ApiKeysService)
        .create(
          { name: 'eng', role: 'engineer', ownerId: u.id },
          { kind: 'user', ownerId: gw.userIds.admin, role: 'admin' },
        )
    ).key;
    expect((await call(key, 'POST', '/jobs/convert', { modelId: randomUUID() })).status).toBe(202);
    await gw.app.get(UsersService).update(u.id, { role: 'viewer' });
    expect((await call(key, 'POST', '/jobs/convert', { modelId: randomUUID() })).status).toBe(403);
    expect((await call(key, 'GET', '/auth/me')).body.role).toBe('viewer');
  });

  it('lists filter by owner: ?owner=me and ?owner=<user id>', async () => {
    const mine = await seed(owner);
    const theirs = await seed(other);
    for (const [kind, list] of [
      ['model', '/models'],
      ['dataset', '/datasets'],
      ['job', '/jobs'],
    ] as const) {
      const me = (await call(tokens['owner engineer'], 'GET', `${list}?owner=me&limit=200`)).body.items as {
        id: string;
        ownerId: string;
      }[];
      expect(me.map((x) => x.id)).toContain(mine[kind]);
      expect(me.every((x) => x.ownerId === owner)).toBe(true);
      const b = (await call(tokens.viewer, 'GET', `${list}?owner=${other}&limit=200`)).body.items as { id: string }[];
      expect(b.map((x) => x.id)).toEqual(expect.arrayContaining([theirs[kind]]));
      expect(b.map((x) => x.id)).not.toContain(mine[kind]);
    }
    const deps = (await call(tokens.viewer, 'GET', `/deployments?owner=${other}`)).body as { id: string }[];
    expect(deps.map((d) => d.id)).toEqual([theirs.deployment]);
    const pkgs = (await call(tokens['other engineer'], 'GET', '/packages?owner=me')).body as { id: string }[];
    expect(pkgs.map((p) => p.id)).toContain(theirs.package);
    expect(pkgs.map((p) => p.id)).not.toContain(mine.package);
    expect((await call(tokens.viewer, 'GET', '/models?owner=not-a-user')).status).toBe(400);
  });

  it('an admin hands ownership over (all of a user’s resources, or named ones); the new owner may change them, the old one no longer; the handover is audited', async () => {
    const a = await seed(owner);
    // Named resources only.
    const one = await call(tokens.admin, 'POST', '/ownership/handover', {
      fromUserId: owner,
      toUserId: other,
      resources: [
        { kind: 'models', id: a.model },
        { kind: 'datasets', id: randomUUID() },
      ],
    });
    expect(one.status).toBe(200);
    expect(one.body.moved).toMatchObject({ models: 1, datasets: 0 });
    expect(one.body.notMoved).toEqual([expect.objectContaining({ kind: 'datasets', reason: 'not found' })]);
    expect((await call(tokens['owner engineer'], 'DELETE', `/models/${a.model}`)).status).toBe(403);
    // Everything else of the owner.
    const all = await call(tokens.admin, 'POST', '/ownership/handover', { fromUserId: owner, toUserId: other });
    expect(all.status).toBe(200);
    for (const kind of ['datasets', 'jobs', 'deployments', 'packages', 'apiKeys'])
      expect(all.body.moved[kind]).toBeGreaterThan(0);
    expect((await call(tokens['other engineer'], 'DELETE', `/datasets/${a.dataset}`)).status).toBe(204);
    expect((await call(tokens['other engineer'], 'POST', `/jobs/${a.job}/cancel`)).status).toBe(202);
    expect((await call(tokens['owner engineer'], 'DELETE', `/packages/${a.package}`)).status).toBe(403);
    expect((await call(tokens['other engineer'], 'DELETE', `/models/${a.model}`)).status).toBe(204);
    // Only admins hand over, to an existing user.
    expect(
      (await call(tokens['owner engineer'], 'POST', '/ownership/handover', { fromUserId: other, toUserId: owner }))
        .status,
    ).toBe(403);
    expect(
      (await call(tokens.admin, 'POST', '/ownership/handover', { fromUserId: owner, toUserId: randomUUID() })).status,
    ).toBe(404);
    const audit = await call(tokens.admin, 'GET', '/audit?action=HandoverController.handover&limit=10');
    const details = (audit.body.items as { target: string; detail: string; result: string }[]).filter(
      (e) => e.result === 'success',
    );
    expect(details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          target: owner,
          detail: expect.stringMatching(new RegExp(`to=${other} moved models=1 of models:${a.model}`)),
        }),
        expect.objectContaining({
          target: owner,
          detail: expect.stringMatching(/moved .*datasets=\d+.*\(everything\)/),
        }),
      ]),
    );
  });
});
