import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';

interface Op {
  operationId: string;
  security?: unknown[];
  parameters?: { in: string; name: string }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }>; headers?: object }>;
}

describe('OpenAPI document: every status a client can get is listed, errors as problem+json', () => {
  let gw: GatewayTestApp;
  let ops: { method: string; path: string; op: Op }[];

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    const doc = (await (await fetch(`${gw.baseUrl}/api/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Op>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.components.schemas.Problem).toBeDefined();
    ops = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith('/api/v1/'))
      .flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ method, path, op })));
  });
  afterAll(() => gw.close());

  it('secures every non-public route with 401, and 403 where a role is excluded', () => {
    const open = ops.filter((o) => !o.op.security).map((o) => `${o.method} ${o.path}`);
    expect(open.sort()).toEqual([
      'get /api/v1/jobs/{id}/events',
      'post /api/v1/auth/login',
      'post /api/v1/auth/refresh',
    ]);
    for (const { op } of ops) expect(Object.keys(op.responses)).toContain('401');
    const noForbidden = ops.filter((o) => !o.op.responses['403']).map((o) => `${o.method} ${o.path}`);
    expect(noForbidden.sort()).toEqual([
      'get /api/v1/auth/me',
      'get /api/v1/jobs/{id}/events',
      'get /api/v1/users/me/limits',
      'post /api/v1/auth/login',
      'post /api/v1/auth/refresh',
      'post /api/v1/models/{id}/infer',
    ]);
  });

  it('lists 400 for parsed input, 404 for named resources, 413 for bodies, 500 everywhere', () => {
    for (const { path, op } of ops) {
      const codes = Object.keys(op.responses);
      expect(codes).toContain('500');
      if (path.includes('{')) expect(codes).toEqual(expect.arrayContaining(['400', '404']));
      if (op.requestBody) expect(codes).toEqual(expect.arrayContaining(['400', '413']));
    }
  });

  it('describes every error answer as application/problem+json and every success with a schema', () => {
    for (const { method, path, op } of ops) {
      for (const [code, r] of Object.entries(op.responses)) {
        if (Number(code) >= 400) {
          expect(r.content?.['application/problem+json']?.schema?.$ref).toBe('#/components/schemas/Problem');
        } else if (code !== '204') {
          // A typed client needs the shape of every success (a stream or a file counts as a string).
          expect({ route: `${method} ${path}`, content: r.content && Object.keys(r.content).length > 0 }).toEqual({
            route: `${method} ${path}`,
            content: true,
          });
        }
      }
      if (op.responses['429']) expect(op.responses['429'].headers).toHaveProperty('Retry-After');
    }
  });

  it('names route-specific statuses: conflicts, uploads, throttling, the data plane', () => {
    const codes = (method: string, path: string) =>
      Object.keys(ops.find((o) => o.method === method && o.path === path)!.op.responses);
    expect(codes('post', '/api/v1/users')).toContain('409');
    expect(codes('post', '/api/v1/jobs/{id}/cancel')).toContain('409');
    expect(codes('post', '/api/v1/deployments')).toEqual(expect.arrayContaining(['404', '409']));
    expect(codes('post', '/api/v1/models')).toEqual(expect.arrayContaining(['413', '415', '422', '429']));
    expect(codes('post', '/api/v1/datasets')).toEqual(expect.arrayContaining(['413', '415', '422', '429']));
    expect(codes('post', '/api/v1/auth/login')).toEqual(expect.arrayContaining(['401', '429']));
    expect(codes('post', '/api/v1/models/{id}/infer')).toEqual(
      expect.arrayContaining(['200', '413', '415', '429', '503', '504']),
    );
  });

  it('answers a forbidden role and a missing token with the documented problem+json', async () => {
    const viewer = await gw.login('viewer');
    const r = await fetch(`${gw.api}/users`, { headers: { authorization: `Bearer ${viewer}` } });
    expect(r.status).toBe(403);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await r.json()).toMatchObject({ status: 403, title: 'Forbidden' });
    expect((await fetch(`${gw.api}/models`)).status).toBe(401);
  });
});
