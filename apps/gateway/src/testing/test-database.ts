/**
 * Which database a test gateway uses. By default SQLite in its data dir. When the jest run was
 * started with CVP_TEST_DB=postgres, the global setup runs a real PostgreSQL server and exports its
 * maintenance URL as CVP_TEST_PG_URL; each data dir then gets a database of its own on it, named
 * after the dir, so a test that restarts a gateway on the same data dir finds its rows again.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

/** The harness in scripts/lib/postgres-server.js (shared with the chaos test and scripts). */
export interface PostgresServer {
  host: string;
  port: number;
  dir: string;
  adminUrl: string;
  urlFor(database: string): string;
  createDatabase(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  isRunning(): boolean;
  start(): Promise<void>;
  stop(mode?: 'fast' | 'immediate' | 'smart'): Promise<void>;
  restart(mode?: 'fast' | 'immediate' | 'smart'): Promise<void>;
  destroy(opts?: { keepDir?: boolean }): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const postgresHarness = require('../../../../scripts/lib/postgres-server') as {
  startPostgresServer(opts?: {
    dir?: string;
    port?: number;
    settings?: Record<string, string>;
  }): Promise<PostgresServer>;
  ensureDatabase(adminUrl: string, name: string): Promise<string>;
  dropDatabase(adminUrl: string, name: string): Promise<void>;
  pgTool(name: string): string;
};

/** The engine the current jest run tests against. */
export function testDatabaseEngine(): 'postgres' | 'sqlite' {
  return process.env.CVP_TEST_PG_URL ? 'postgres' : 'sqlite';
}

/** `{ CVP_DB_URL }` of the PostgreSQL database for this data dir, or `{}` for SQLite in it. */
export async function testDatabaseEnv(dataDir: string): Promise<{ CVP_DB_URL?: string }> {
  const adminUrl = process.env.CVP_TEST_PG_URL;
  if (!adminUrl) return {};
  const name = `cvp_${createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 24)}`;
  return { CVP_DB_URL: await postgresHarness.ensureDatabase(adminUrl, name) };
}

/**
 * A PostgreSQL server for tests that need one in every run (SQLite runs included): the run's
 * shared server when there is one, otherwise a private one started here and stopped by `close`.
 */
export async function testPostgres(): Promise<{
  createDatabase(name: string): Promise<string>;
  close(): Promise<void>;
}> {
  const shared = process.env.CVP_TEST_PG_URL;
  if (shared)
    return { createDatabase: (name) => postgresHarness.ensureDatabase(shared, name), close: async () => undefined };
  const server = await postgresHarness.startPostgresServer();
  return { createDatabase: (name) => server.createDatabase(name), close: () => server.destroy() };
}
