import path from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { ALL_MIGRATIONS } from './migrations';

export interface DatabaseConfig {
  CVP_DATA_DIR: string;
  /** postgres://user:pass@host:5432/db switches to PostgreSQL; unset means SQLite under the data dir. */
  CVP_DB_URL?: string;
}

/**
 * The gateway's database: SQLite in WAL mode under the data dir by default, PostgreSQL by
 * config. Schema changes only through migrations (never synchronize); the gateway is the one
 * writer of this database.
 */
export function dataSourceOptions(s: DatabaseConfig): DataSourceOptions {
  const common = { migrations: ALL_MIGRATIONS, migrationsRun: true, synchronize: false, logging: false } as const;
  if (s.CVP_DB_URL) return { type: 'postgres', url: s.CVP_DB_URL, ...common };
  return {
    type: 'sqlite',
    database: path.resolve(s.CVP_DATA_DIR, 'gateway.sqlite'),
    enableWAL: true,
    busyTimeout: 5000,
    busyErrorRetry: 50,
    ...common,
  };
}
