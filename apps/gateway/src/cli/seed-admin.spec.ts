import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { testDatabaseEngine, testDatabaseEnv } from '../testing/test-database';
import { seedAdmin } from './seed-admin';

describe(`seed-admin CLI (real ${testDatabaseEngine()} database)`, () => {
  const base = async () => {
    const dataDir = mkdtempSync(path.join(process.env.CVP_TEST_DIR!, 'seed-'));
    return {
      NODE_ENV: 'test',
      CVP_DATA_DIR: dataDir,
      CVP_JWT_SECRET: randomBytes(32).toString('hex'),
      CVP_LOG_LEVEL: 'silent',
      CVP_BCRYPT_ROUNDS: '4',
      ...(await testDatabaseEnv(dataDir)),
    };
  };

  it('generates and prints a password once on an empty data dir, then does nothing', async () => {
    const env = await base();
    const lines: string[] = [];
    await seedAdmin(env, (l) => lines.push(l));
    expect(lines[0]).toMatch(/admin account created: username=admin password=\S{16,} \(shown once\)/);
    await seedAdmin(env, (l) => lines.push(l));
    expect(lines[1]).toBe('users exist already; nothing seeded');
  });

  it('uses CVP_ADMIN_PASSWORD without printing it', async () => {
    const lines: string[] = [];
    await seedAdmin({ ...(await base()), CVP_ADMIN_PASSWORD: 'from-env-secret-1', CVP_ADMIN_USERNAME: 'root' }, (l) =>
      lines.push(l),
    );
    expect(lines[0]).toBe('admin account created: username=root (password from CVP_ADMIN_PASSWORD)');
    expect(lines.join('')).not.toContain('from-env-secret-1');
  });
});
