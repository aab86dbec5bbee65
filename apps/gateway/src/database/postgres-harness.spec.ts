import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { postgresHarness } from '../testing/test-database';

describe('PostgreSQL test harness (scripts/lib/postgres-server.js)', () => {
  const saved = process.env.CVP_PG_BINDIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.CVP_PG_BINDIR;
    else process.env.CVP_PG_BINDIR = saved;
  });

  it('without server binaries fails with the exact command that installs them, never skips', async () => {
    process.env.CVP_PG_BINDIR = mkdtempSync(path.join(process.env.CVP_TEST_DIR!, 'no-pg-'));
    const err = await postgresHarness.startPostgresServer().catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/PostgreSQL server binaries not found/);
    expect((err as Error).message).toContain('apt-get install -y --no-install-recommends postgresql');
  });
});
