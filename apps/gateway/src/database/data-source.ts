import path from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { ALL_MIGRATIONS } from './migrations';

export interface DatabaseConfig {
  CVP_DATA_DIR: string;
  /** postgres://user:pass@host:5432/db switches to PostgreSQL; unset means SQLite under the data dir. */
  CVP_DB_URL?: string;
  /** PostgreSQL connections per gateway process. */
  CVP_DB_POOL_SIZE?: number;
  /**
   * The SQLite file; unset means gateway.sqlite in the data dir. Compose points it at a volume only
   * the gateway mounts, so the workers' shared artifact volume holds no password or key hashes.
   */
  CVP_DB_FILE?: string;
}

/** A fixed key for pg_advisory_lock: every gateway on the database migrates under it. */
const MIGRATION_LOCK_KEY = 4_211_780_018;
/** How long a gateway waits for another one's migrations before it gives up (and is restarted). */
const MIGRATION_LOCK_WAIT_MS = 10 * 60_000;

/**
 * The gateway's database: SQLite in WAL mode under the data dir by default, PostgreSQL by
 * config. Schema changes only through migrations (never synchronize), run by `openDatabase`; the
 * gateway is the one writer of this database.
 */
export function dataSourceOptions(s: DatabaseConfig): DataSourceOptions {
  const common = { migrations: ALL_MIGRATIONS, migrationsRun: false, synchronize: false, logging: false } as const;
  if (s.CVP_DB_URL)
    return {
      type: 'postgres',
      url: s.CVP_DB_URL,
      applicationName: 'cvp-gateway',
      poolSize: s.CVP_DB_POOL_SIZE ?? 10,
      // Without it a request waits forever on an unreachable server instead of failing with 503.
      connectTimeoutMS: 5000,
      ...common,
    };
  return {
    type: 'sqlite',
    database: s.CVP_DB_FILE ?? path.resolve(s.CVP_DATA_DIR, 'gateway.sqlite'),
    enableWAL: true,
    busyTimeout: 5000,
    busyErrorRetry: 50,
    ...common,
  };
}

/**
 * Runs the pending migrations, all in one transaction. On PostgreSQL under an advisory lock, so
 * gateway replicas that start together migrate once: the first runs them, the others wait and
 * then find nothing pending.
 */
export async function runMigrations(ds: DataSource): Promise<void> {
  if (ds.options.type !== 'postgres') {
    await ds.runMigrations({ transaction: 'all' });
    return;
  }
  const lock = ds.createQueryRunner();
  try {
    const deadline = Date.now() + MIGRATION_LOCK_WAIT_MS;
    for (;;) {
      const [row] = (await lock.query('SELECT pg_try_advisory_lock($1) AS ok', [MIGRATION_LOCK_KEY])) as {
        ok: boolean;
      }[];
      if (row.ok) break;
      if (Date.now() > deadline)
        throw new Error(`another gateway held the migration lock for ${MIGRATION_LOCK_WAIT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    try {
      await ds.runMigrations({ transaction: 'all' });
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await lock.release();
  }
}

/** Connects and brings the schema up to date; nothing is left open when that fails. */
export async function openDatabase(options: DataSourceOptions): Promise<DataSource> {
  const ds = await new DataSource(options).initialize();
  try {
    await runMigrations(ds);
  } catch (e) {
    await ds.destroy().catch(() => undefined);
    throw e;
  }
  return ds;
}
