import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dataSourceOptions, openDatabase } from './data-source';

describe('gateway database file', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(tmpdir(), 'cvp-dbfile-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is created and migrated at CVP_DB_FILE, leaving nothing of it in the data dir', async () => {
    const dataDir = path.join(root, 'data');
    const dbFile = path.join(root, 'gateway-only', 'gateway.sqlite');
    mkdirSync(dataDir);
    mkdirSync(path.dirname(dbFile));
    const ds = await openDatabase(dataSourceOptions({ CVP_DATA_DIR: dataDir, CVP_DB_FILE: dbFile }));
    try {
      const tables = (await ds.query(`SELECT name FROM sqlite_master WHERE type = 'table'`)) as { name: string }[];
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['users', 'api_keys', 'jobs']));
    } finally {
      await ds.destroy();
    }
    expect(existsSync(dbFile)).toBe(true);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('defaults to gateway.sqlite in the data dir', () => {
    expect(dataSourceOptions({ CVP_DATA_DIR: '/d' })).toMatchObject({ type: 'sqlite', database: '/d/gateway.sqlite' });
  });
});
