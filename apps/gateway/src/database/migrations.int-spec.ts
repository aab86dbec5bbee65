import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { testPostgres } from '../testing/test-database';
import { dataSourceOptions, openDatabase, runMigrations } from './data-source';
import { ALL_MIGRATIONS } from './migrations';

/** Every entity of the gateway, found the way a new feature adds one (a *.entity.ts file). */
const ENTITIES = [path.join(__dirname, '..', '**', '*.entity.ts')];

interface ColumnShape {
  type: string;
  nullable: boolean;
  primary: boolean;
}
type SchemaShape = Record<string, Record<string, ColumnShape>>;

/** Both engines' spellings of one column type, reduced to what the gateway relies on. */
function typeFamily(t: string): string {
  const s = t.toLowerCase();
  if (/^(varchar|character varying|text|character)/.test(s)) return 'text';
  if (s === 'bigint' || s === 'int8') return 'bigint';
  if (/^(integer|int|int4)$/.test(s)) return 'integer';
  if (/^(real|double precision|float8|float4|double)$/.test(s)) return 'float';
  if (s === 'boolean' || s === 'bool') return 'boolean';
  return s;
}

async function schemaOf(ds: DataSource): Promise<SchemaShape> {
  const qr = ds.createQueryRunner();
  try {
    const names = (
      (await (ds.options.type === 'postgres'
        ? qr.query(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`)
        : qr.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`))) as {
        name: string;
      }[]
    )
      .map((r) => r.name)
      .filter((n) => n !== 'migrations' && n !== 'typeorm_metadata');
    const shape: SchemaShape = {};
    for (const t of await qr.getTables(names)) {
      shape[t.name] = Object.fromEntries(
        t.columns.map((c) => [c.name, { type: typeFamily(c.type), nullable: c.isNullable, primary: c.isPrimary }]),
      );
    }
    return shape;
  } finally {
    await qr.release();
  }
}

async function executedMigrations(ds: DataSource): Promise<string[]> {
  const rows = (await ds.query(`SELECT name FROM migrations ORDER BY timestamp`)) as { name: string }[];
  return rows.map((r) => r.name);
}

describe('gateway migrations on SQLite and PostgreSQL (real engines)', () => {
  let pg: Awaited<ReturnType<typeof testPostgres>>;
  const open: DataSource[] = [];
  const sqliteOptions = (): DataSourceOptions => ({
    ...dataSourceOptions({ CVP_DATA_DIR: mkdtempSync(path.join(process.env.CVP_TEST_DIR!, 'migrations-')) }),
    entities: ENTITIES,
  });
  const postgresOptions = async (name: string): Promise<DataSourceOptions> => ({
    ...dataSourceOptions({ CVP_DATA_DIR: process.env.CVP_TEST_DIR!, CVP_DB_URL: await pg.createDatabase(name) }),
    entities: ENTITIES,
  });
  const track = (ds: DataSource) => (open.push(ds), ds);

  beforeAll(async () => {
    pg = await testPostgres();
  });
  afterAll(async () => {
    for (const ds of open) if (ds.isInitialized) await ds.destroy();
    await pg?.close();
  });

  it('build the same schema on both engines, one the entities agree with, and undo it completely', async () => {
    const sqlite = track(await openDatabase(sqliteOptions()));
    const postgres = track(await openDatabase(await postgresOptions('cvp_migrations_same')));
    const expected = ALL_MIGRATIONS.map((m) => new (m as new () => { name: string })().name);
    for (const ds of [sqlite, postgres]) expect(await executedMigrations(ds)).toEqual(expected);

    const sqliteSchema = await schemaOf(sqlite);
    expect(Object.keys(sqliteSchema).length).toBeGreaterThanOrEqual(10);
    expect(await schemaOf(postgres)).toEqual(sqliteSchema);

    // What TypeORM would change to make PostgreSQL fit the entities: nothing. (Its SQLite diff
    // is not exact: it rebuilds tables over how a default is spelled; the equal shapes above
    // carry the agreement over to SQLite.)
    const diff = await postgres.driver.createSchemaBuilder().log();
    expect(diff.upQueries.map((q) => q.query)).toEqual([]);

    for (const ds of [sqlite, postgres]) {
      for (let i = 0; i < expected.length; i++) await ds.undoLastMigration({ transaction: 'all' });
      expect(await executedMigrations(ds)).toEqual([]);
      expect(await schemaOf(ds)).toEqual({});
      await runMigrations(ds);
      expect(await schemaOf(ds)).toEqual(sqliteSchema);
    }
  });

  it('run once when several gateways start together on an empty PostgreSQL database', async () => {
    const options = await postgresOptions('cvp_migrations_race');
    const gateways = await Promise.all([1, 2, 3].map(() => openDatabase(options)));
    gateways.forEach(track);
    expect(await executedMigrations(gateways[0])).toHaveLength(ALL_MIGRATIONS.length);
    const again = track(await openDatabase(options)); // a later start finds nothing pending
    expect(await executedMigrations(again)).toHaveLength(ALL_MIGRATIONS.length);
  });

  it('keep a double-precision latency exact on both engines', async () => {
    for (const ds of [
      track(await openDatabase(sqliteOptions())),
      track(await openDatabase(await postgresOptions('cvp_migrations_float'))),
    ]) {
      await ds.query(
        `INSERT INTO benchmarks (id, model_id, model_version, job_id, owner_id, status, baseline_p50_ms, summary, report_dir, created_at)
         VALUES ('b1', 'm', 1, 'j1', 'o', 'selected', 12.3456789012, 's', 'r', '2025-01-01T00:00:00.000Z')`,
      );
      const [row] = (await ds.query(`SELECT baseline_p50_ms AS v FROM benchmarks WHERE id = 'b1'`)) as { v: number }[];
      expect({ engine: ds.options.type, v: Number(row.v) }).toEqual({ engine: ds.options.type, v: 12.3456789012 });
    }
  });
});
