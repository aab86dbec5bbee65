import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { copyDatabaseCli } from '../cli/copy-database';
import { type GatewayTestApp, startGatewayTestApp } from '../testing/gateway-test-app';
import { testPostgres } from '../testing/test-database';
import { dataSourceOptions, openDatabase } from './data-source';

/** Every row of every table, ordered, with each engine's spelling of booleans and bigints made one. */
async function dump(ds: DataSource): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const qr = ds.createQueryRunner();
  try {
    for (const t of ds.entityMetadatas.map((m) => m.tableName).sort()) {
      const table = (await qr.getTable(t))!;
      const order = table.primaryColumns.map((c) => ds.driver.escape(c.name)).join(', ');
      const rows = (await ds.query(`SELECT * FROM ${ds.driver.escape(t)} ORDER BY ${order}`)) as Record<
        string,
        unknown
      >[];
      out[t] = rows.map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [
            k,
            typeof v === 'boolean' ? String(Number(v)) : v === null ? null : String(v),
          ]),
        ),
      );
    }
    return out;
  } finally {
    await qr.release();
  }
}

/**
 * A team that outgrows one box moves its gateway database from SQLite to PostgreSQL with the
 * copy-database CLI: every row of every table arrives as it was, and a gateway on the copy serves it.
 */
describe('copy-database: SQLite to PostgreSQL (real engines)', () => {
  let pg: Awaited<ReturnType<typeof testPostgres>>;
  const gateways: GatewayTestApp[] = [];
  const open: DataSource[] = [];

  beforeAll(async () => {
    pg = await testPostgres();
  });
  afterAll(async () => {
    for (const g of gateways) await g.close();
    for (const ds of open) if (ds.isInitialized) await ds.destroy();
    await pg?.close();
  });

  it('copies every row, keeps the values exact, and refuses a target that is not empty', async () => {
    // The source: a gateway on SQLite with users, an API key, audit rows and registry rows.
    const before = await startGatewayTestApp({ env: { CVP_DB_URL: undefined } });
    gateways.push(before);
    const admin = await before.login('admin');
    const key = await fetch(`${before.api}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'clé 🔑' }),
    });
    expect(key.status).toBe(201);
    const ds = before.app.get(DataSource);
    expect(ds.options.type).toBe('sqlite');
    const modelId = randomUUID();
    const t = new Date().toISOString();
    await ds.query(
      `INSERT INTO models (id, name, task, source_format, preset, labels, owner_id, latest_version, created_at, updated_at)
       VALUES (?, 'copied', 'detect', 'onnx', NULL, '["a","b"]', ?, 1, ?, ?)`,
      [modelId, before.userIds.engineer, t, t],
    );
    await ds.query(
      `INSERT INTO model_versions (model_id, version, source_size, source_format, trained, metadata, created_at)
       VALUES (?, 1, 5000000000, 'onnx', 1, '{"opset":17}', ?)`,
      [modelId, t],
    );
    await ds.query(
      `INSERT INTO jobs (id, owner_id, type, input, state, progress, created_at, updated_at)
       VALUES (?, ?, 'bench', '{}', 'running', 0.3333333333333333, ?, ?)`,
      [randomUUID(), before.userIds.engineer, t, t],
    );
    await before.close();
    gateways.pop();

    const target = await pg.createDatabase('cvp_copy_target');
    const lines: string[] = [];
    const counts = await copyDatabaseCli(['--from', before.dataDir, '--to', target], (l) => lines.push(l));
    expect(counts).toMatchObject({ users: 3, api_keys: 1, models: 1, model_versions: 1, jobs: 1 });
    expect(counts.audit_log).toBeGreaterThan(0);
    expect(lines.at(-1)).toMatch(/^done: \d+ rows in \d+ tables$/);

    const sqlite = await openDatabase({
      ...dataSourceOptions({ CVP_DATA_DIR: before.dataDir }),
      entities: ds.entityMetadatas.map((m) => m.target as new () => unknown),
    });
    const postgres = await openDatabase({
      ...dataSourceOptions({ CVP_DATA_DIR: before.dataDir, CVP_DB_URL: target }),
      entities: ds.entityMetadatas.map((m) => m.target as new () => unknown),
    });
    open.push(sqlite, postgres);
    expect(await dump(postgres)).toEqual(await dump(sqlite));

    // A gateway on the copy: the same accounts log in, the registry reads the same.
    const after = await startGatewayTestApp({ env: { CVP_DB_URL: target } });
    gateways.push(after);
    const token = await after.login('engineer');
    const model = (await (
      await fetch(`${after.api}/models/${modelId}`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { labels: string[]; versions: { sourceSize: number; trained: boolean }[] };
    expect(model.labels).toEqual(['a', 'b']);
    expect(model.versions[0]).toMatchObject({ sourceSize: 5_000_000_000, trained: true });

    await expect(copyDatabaseCli(['--from', before.dataDir, '--to', target], () => undefined)).rejects.toThrow(
      /holds \d+ rows; copy into an empty database only/,
    );
    await expect(copyDatabaseCli(['--from', '/nonexistent', '--to', target])).rejects.toThrow(/no gateway.sqlite/);
  });
});
