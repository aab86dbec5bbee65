'use strict';
// One real nats-server (JetStream) and one scratch data dir per jest run; workers inherit the env.
// CVP_TEST_DB=postgres also starts a real PostgreSQL server: every test gateway then gets a fresh
// database of its own on it instead of SQLite (apps/gateway/src/testing/test-database.ts).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNatsServer } = require('../../scripts/lib/nats-server');
const { startPostgresServer } = require('../../scripts/lib/postgres-server');

module.exports = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-test-'));
  const nats = await startNatsServer({ storeDir: path.join(dir, 'nats'), logFile: path.join(dir, 'nats.log') });
  globalThis.__CVP_TEST__ = { dir, nats };
  process.env.CVP_NATS_URL = nats.url;
  process.env.CVP_TEST_DIR = dir;
  process.env.CVP_DATA_DIR = path.join(dir, 'data');
  process.env.NODE_ENV = 'test';
  const engine = process.env.CVP_TEST_DB ?? 'sqlite';
  if (engine === 'postgres') {
    // Its own scratch dir: the server runs as another user, who cannot enter the owner-only `dir`.
    let pg;
    try {
      pg = await startPostgresServer();
    } catch (e) {
      await nats.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    globalThis.__CVP_TEST__.pg = pg;
    process.env.CVP_TEST_PG_URL = pg.adminUrl;
  } else if (engine !== 'sqlite') {
    throw new Error(`CVP_TEST_DB=${engine}: expected sqlite or postgres`);
  }
};
