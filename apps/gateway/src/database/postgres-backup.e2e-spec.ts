import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { postgresHarness, testPostgres } from '../testing/test-database';

const run = promisify(execFile);

/**
 * The backup and restore that deploy/README.md prescribes, done for real: pg_dump of a live
 * gateway's database (custom format), pg_restore into an empty database, a second gateway on the
 * copy that finds every row and no migration left to run.
 */
describe('PostgreSQL backup and restore of the gateway database (pg_dump / pg_restore)', () => {
  let pg: Awaited<ReturnType<typeof testPostgres>>;
  const gateways: GatewayTestApp[] = [];

  beforeAll(async () => {
    pg = await testPostgres();
  });
  afterAll(async () => {
    for (const g of gateways) await g.close();
    await pg?.close();
  });

  it('restores a dump taken while the gateway runs into a database a new gateway serves as it was', async () => {
    const source = await pg.createDatabase('cvp_backup_source');
    const live = await startGatewayTestApp({ env: { CVP_DB_URL: source } });
    gateways.push(live);
    const admin = await live.login('admin');
    const key = await fetch(`${live.api}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'kept across the restore' }),
    });
    expect(key.status).toBe(201);
    const keyId = ((await key.json()) as { id: string }).id;

    // A consistent snapshot while the gateway keeps writing (pg_dump reads one transaction).
    const dump = path.join(process.env.CVP_TEST_DIR!, 'gateway.dump');
    await run(postgresHarness.pgTool('pg_dump'), ['--format=custom', `--file=${dump}`, `--dbname=${source}`], {
      timeout: 60_000,
    });
    const target = await pg.createDatabase('cvp_backup_restored');
    await run(
      postgresHarness.pgTool('pg_restore'),
      ['--no-owner', '--no-privileges', '--exit-on-error', `--dbname=${target}`, dump],
      { timeout: 60_000 },
    );

    const restored = await startGatewayTestApp({ env: { CVP_DB_URL: target } });
    gateways.push(restored);
    const token = await restored.login('admin'); // the users (and their hashes) came back
    const keys = (await (
      await fetch(`${restored.api}/api-keys`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { items: { id: string; name: string }[] };
    expect(keys.items).toContainEqual(expect.objectContaining({ id: keyId, name: 'kept across the restore' }));
    // The schema came back whole: nothing pending for the migrations of this release.
    expect(await restored.app.get(DataSource).showMigrations()).toBe(false);
  });
});
