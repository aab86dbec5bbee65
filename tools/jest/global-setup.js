'use strict';
// One real nats-server (JetStream) and one scratch data dir per jest run; workers inherit the env.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNatsServer } = require('../../scripts/lib/nats-server');

module.exports = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-test-'));
  const nats = await startNatsServer({ storeDir: path.join(dir, 'nats'), logFile: path.join(dir, 'nats.log') });
  globalThis.__CVP_TEST__ = { dir, nats };
  process.env.CVP_NATS_URL = nats.url;
  process.env.CVP_TEST_DIR = dir;
  process.env.CVP_DATA_DIR = path.join(dir, 'data');
  process.env.NODE_ENV = 'test';
};
