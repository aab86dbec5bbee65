import path from 'node:path';
import { DescribeModelReply, DescribeModelRequest, Registry } from '@cvp/contracts';
import { createLogger, MessageBus } from '@cvp/platform';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { postgresHarness, type PostgresServer } from '../testing/test-database';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startNatsServer } = require('../../../../scripts/lib/nats-server') as {
  startNatsServer(o: { storeDir: string }): Promise<{ url: string; stop(): Promise<void> }>;
};

/**
 * The gateway on a real PostgreSQL server that stops and starts again under it: requests in
 * between fail with 503 problem+json (never 500, never a hang), readiness names the database, and
 * everything works again afterwards without restarting the gateway.
 */
describe('gateway across a PostgreSQL restart (real server, private to this file)', () => {
  let pg: PostgresServer;
  let nats: { url: string; stop(): Promise<void> };
  let gw: GatewayTestApp;
  let bus: MessageBus;
  let token: string;

  beforeAll(async () => {
    // Private: stopping the run's shared server would break other test files, and registry
    // requests must reach this gateway and no other.
    pg = await postgresHarness.startPostgresServer();
    nats = await startNatsServer({ storeDir: path.join(process.env.CVP_TEST_DIR!, 'nats-pg-restart') });
    const url = await pg.createDatabase('cvp_restart');
    gw = await startGatewayTestApp({ env: { CVP_DB_URL: url, CVP_NATS_URL: nats.url } });
    token = await gw.login('engineer');
    bus = new MessageBus({ url: nats.url, name: 'pg-restart-test', logger: createLogger('t', 'silent') });
    await bus.connect();
  });
  afterAll(async () => {
    await bus?.close();
    await gw?.close();
    await nats?.stop();
    await pg?.destroy();
  });

  const listModels = () =>
    fetch(`${gw.api}/models`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
  const ready = async () => {
    const r = await fetch(`${gw.baseUrl}/health/ready`, { signal: AbortSignal.timeout(15_000) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const expectUnavailable = async (r: Response) => {
    expect(r.status).toBe(503);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    const body = (await r.json()) as { status: number; detail: string };
    expect(body.status).toBe(503);
    expect(body.detail).toMatch(/database/);
  };

  it('answers 503 problem+json while the database is down and recovers on its own when it is back', async () => {
    expect((await listModels()).status).toBe(200);
    expect((await ready()).status).toBe(200);
    const created = await fetch(`${gw.api}/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await gw.login('admin')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'written-before', password: 'written-before-1', role: 'viewer' }),
    });
    expect(created.status).toBe(201);

    await pg.stop('fast');
    try {
      await expectUnavailable(await listModels());
      // A login reads the users table: unavailable, not "wrong password".
      await expectUnavailable(
        await fetch(`${gw.api}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'viewer', password: 'whatever-it-is' }),
        }),
      );
      const r = await ready();
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ checks: { database: { status: 'down' } } });
      // The process itself is fine: liveness stays up, so an orchestrator does not restart it.
      expect((await fetch(`${gw.baseUrl}/health/live`)).status).toBe(200);
      // Workers asking the registry hear "unavailable" (retry the job), not "not found" (fail it).
      const reply = await bus.request(
        DescribeModelRequest,
        DescribeModelReply,
        Registry.describeModel,
        { modelId: 'any-model' },
        10_000,
      );
      expect(reply).toMatchObject({ found: false, unavailable: true });
    } finally {
      await pg.start();
    }

    // The pool reconnects by itself: no gateway restart, and what was written before is there.
    expect((await listModels()).status).toBe(200);
    expect((await ready()).status).toBe(200);
    const login = await fetch(`${gw.api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'written-before', password: 'written-before-1' }),
    });
    expect(login.status).toBe(200);
  });

  it('gives every request made around a crash and restart either its answer or a 503, nothing else', async () => {
    const statuses: number[] = [];
    let done = false;
    const load = (async () => {
      // Bounded: one request at a time until the restart is over, at most 2000.
      for (let i = 0; !done && i < 2000; i++) {
        const r = await listModels();
        if (r.status !== 200) await expectUnavailable(r);
        else await r.arrayBuffer();
        statuses.push(r.status);
      }
    })();
    const until = async (what: string, cond: () => boolean) => {
      for (const deadline = Date.now() + 20_000; !cond(); await new Promise((r) => setTimeout(r, 20)))
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    };
    try {
      await until('a first answer', () => statuses.length > 0);
      await pg.stop('immediate'); // no clean shutdown: what a crashed server looks like
      await until('a 503 during the outage', () => statuses.includes(503));
      await pg.start(); // crash recovery, then ready
      const seen = statuses.length;
      await until('a 200 after the restart', () => statuses.slice(seen).includes(200));
    } finally {
      done = true;
      if (!pg.isRunning()) await pg.start();
    }
    await load;
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(statuses.at(-1)).toBe(200);
  });
});
