'use strict';
// Starts a real nats-server with JetStream on loopback; used by the supervisor and by tests.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const { freePort, isPortOpen, waitFor } = require('./ports');

/**
 * @param {{port?: number, storeDir: string, logFile?: string}} opts
 * @returns {Promise<{url: string, port: number, pid: number, stop: () => Promise<void>}>}
 */
async function startNatsServer({ port, storeDir, logFile }) {
  const p = port ?? (await freePort());
  fs.mkdirSync(storeDir, { recursive: true });
  const out = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(p), '-js', '-sd', storeDir], {
    stdio: ['ignore', out, out],
    detached: true,
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new Error('nats-server exited during start-up');
      return isPortOpen(p);
    },
    { timeoutMs: 15000, what: `nats-server on port ${p}` },
  );
  const stop = async () => {
    if (exited) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const deadline = Date.now() + 5000;
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!exited) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };
  return { url: `nats://127.0.0.1:${p}`, port: p, pid: child.pid, stop };
}

module.exports = { startNatsServer };
