'use strict';
/**
 * Starts the compiled gateway (dist/) as its own process on a free loopback port, for the SDK
 * generator and for tests of clients (SDK, cvp) against a real gateway: real NATS, a scratch
 * SQLite data dir, the admin seeded with a known password. Bounded start-up; stop() ends it.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { freePort } = require('./ports');

const ROOT = path.resolve(__dirname, '../..');

/**
 * @param {{natsUrl: string, dataDir?: string, env?: Record<string, string>, readyTimeoutMs?: number}} opts
 * @returns {Promise<{origin: string, port: number, dataDir: string, adminPassword: string, logs: () => string, stop: () => Promise<void>}>}
 */
async function startCompiledGateway({ natsUrl, dataDir, env = {}, readyTimeoutMs = 90_000 }) {
  const main = path.join(ROOT, 'dist/apps/gateway/src/main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: build first (npm run build)`);
  const dir = dataDir ?? fs.mkdtempSync(path.join(process.env.CVP_TEST_DIR || os.tmpdir(), 'gateway-'));
  const port = await freePort();
  const adminPassword = env.CVP_ADMIN_PASSWORD ?? `admin-${randomBytes(6).toString('hex')}`;
  const base = { ...process.env };
  delete base.CVP_DB_URL; // always SQLite in the scratch dir
  const child = spawn(process.execPath, ['-r', path.join(ROOT, 'scripts/register-paths.js'), main], {
    cwd: ROOT,
    env: {
      ...base,
      NODE_ENV: 'test',
      CVP_LOG_LEVEL: 'warn',
      CVP_DATA_DIR: dir,
      CVP_NATS_URL: natsUrl,
      CVP_HOST: '127.0.0.1',
      CVP_GATEWAY_PORT: String(port),
      CVP_JWT_SECRET: randomBytes(32).toString('hex'),
      CVP_BCRYPT_ROUNDS: '4',
      CVP_ADMIN_USERNAME: 'admin',
      CVP_ADMIN_PASSWORD: adminPassword,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (c) => (output = (output + c).slice(-8000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  child.once('exit', () => (exited = true));
  const origin = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!exited) child.kill('SIGKILL');
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) throw new Error(`the gateway exited during start-up:\n${output}`);
    try {
      const r = await fetch(`${origin}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the gateway was not ready within ${readyTimeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { origin, port, dataDir: dir, adminPassword, logs: () => output, stop };
}

module.exports = { startCompiledGateway };
