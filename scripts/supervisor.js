#!/usr/bin/env node
'use strict';
/**
 * Local platform supervisor (`npm start`): starts nats-server (JetStream), the native core and the
 * five services on loopback, waits for each to be ready, prints one status table, seeds and runs
 * the demo on an empty data dir, and on SIGINT/SIGTERM stops every process group it started.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const { isPortOpen, waitFor } = require('./lib/ports');

const ROOT = path.resolve(__dirname, '..');
const env = process.env;
const DATA = path.resolve(ROOT, env.CVP_DATA_DIR || 'var');
const LOGS = path.join(DATA, 'logs');
const RUN = path.join(DATA, 'run');
const READY_TIMEOUT_MS = Number(env.CVP_READY_TIMEOUT_MS || 120000);
const STOP_GRACE_MS = 10000;

const port = (name, def) => Number(env[name] || def);
const ports = {
  nats: port('CVP_NATS_PORT', 4222),
  native: port('CVP_NATIVE_PORT', 8001),
  gateway: port('CVP_GATEWAY_PORT', 3000),
  inference: port('CVP_INFERENCE_PORT', 8000),
  trainer: port('CVP_TRAINER_PORT', 3101),
  bench: port('CVP_BENCH_PORT', 3102),
  packager: port('CVP_PACKAGER_PORT', 3103),
};
const nativeBin = path.join(ROOT, 'native/build/cvp-core');

/** Secrets and who needs them: every other process starts without them. */
const SECRETS = { CVP_JWT_SECRET: ['gateway'], CVP_ADMIN_PASSWORD: ['gateway'], CVP_METRICS_TOKEN: ['inference'] };

function serviceEnv(name) {
  const own = { ...env };
  for (const [key, holders] of Object.entries(SECRETS)) if (!holders.includes(name)) delete own[key];
  return {
    ...own,
    CVP_DATA_DIR: DATA,
    CVP_NATS_URL: `nats://127.0.0.1:${ports.nats}`,
    CVP_NATIVE_ADDR: `127.0.0.1:${ports.native}`,
    CVP_NATIVE_PORT: String(ports.native),
    CVP_GATEWAY_PORT: String(ports.gateway),
    CVP_INFERENCE_PORT: String(ports.inference),
    CVP_TRAINER_PORT: String(ports.trainer),
    CVP_BENCH_PORT: String(ports.bench),
    CVP_PACKAGER_PORT: String(ports.packager),
    CVP_INFERENCE_URL: `http://127.0.0.1:${ports.inference}`,
  };
}

const nodeService = (name, portKey) => ({
  name,
  port: ports[portKey],
  cmd: process.execPath,
  args: ['-r', path.join(ROOT, 'scripts/register-paths.js'), path.join(ROOT, `dist/apps/${name}/src/main.js`)],
  ready: () => httpOk(`http://127.0.0.1:${ports[portKey]}/health/ready`),
  url: `http://127.0.0.1:${ports[portKey]}`,
});

const processes = [
  {
    name: 'nats',
    port: ports.nats,
    cmd: 'nats-server',
    args: ['-a', '127.0.0.1', '-p', String(ports.nats), '-js', '-sd', path.join(DATA, 'nats')],
    ready: () => isPortOpen(ports.nats),
    url: `nats://127.0.0.1:${ports.nats}`,
  },
  {
    name: 'native-core',
    port: ports.native,
    cmd: nativeBin,
    args: ['--host', '127.0.0.1', '--port', String(ports.native)],
    ready: () => isPortOpen(ports.native),
    url: `grpc://127.0.0.1:${ports.native}`,
    optional: () => (fs.existsSync(nativeBin) ? null : 'native/build/cvp-core not built (issue #5)'),
  },
  nodeService('gateway', 'gateway'),
  nodeService('inference', 'inference'),
  nodeService('trainer-bridge', 'trainer'),
  nodeService('bench', 'bench'),
  nodeService('packager', 'packager'),
];

function httpOk(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

const log = (msg) => process.stdout.write(`[supervisor] ${msg}\n`);
const running = new Map(); // name -> { child, exited }
let stopping = false;
let adminPasswordGenerated = false;

function start(p) {
  const logFile = path.join(LOGS, `${p.name}.log`);
  const fd = fs.openSync(logFile, 'a');
  // Own process group per child, so stopping it also stops anything it spawned.
  const child = spawn(p.cmd, p.args, { cwd: ROOT, env: serviceEnv(p.name), stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  const entry = { child, exited: false, code: null };
  running.set(p.name, entry);
  child.on('exit', (code, signal) => {
    entry.exited = true;
    entry.code = code ?? signal;
    if (!stopping) log(`${p.name} exited unexpectedly (${entry.code}); see ${path.relative(ROOT, logFile)}`);
  });
  child.on('error', (e) => {
    entry.exited = true;
    log(`${p.name} failed to start: ${e.message}`);
  });
  writeRunFile();
}

function writeRunFile() {
  const state = { supervisorPid: process.pid, ports, processes: {} };
  for (const [name, e] of running) state.processes[name] = { pid: e.child.pid, exited: e.exited };
  fs.writeFileSync(path.join(RUN, 'supervisor.json'), JSON.stringify(state, null, 2));
}

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  log('stopping all processes');
  const order = [...running.keys()].reverse(); // services before NATS
  for (const name of order) {
    const e = running.get(name);
    if (e.exited) continue;
    try {
      process.kill(-e.child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const deadline = Date.now() + STOP_GRACE_MS;
    while (!e.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!e.exited) {
      log(`${name} ignored SIGTERM for ${STOP_GRACE_MS} ms; killing`);
      try {
        process.kill(-e.child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // The group may still hold grandchildren (python workers); make sure none outlive us.
    try {
      process.kill(-e.child.pid, 'SIGKILL');
    } catch {
      /* group empty */
    }
  }
  try {
    fs.rmSync(path.join(RUN, 'supervisor.json'), { force: true });
  } catch {
    /* ignore */
  }
  log('stopped');
  process.exit(code);
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ')).join('\n');
}

async function main() {
  for (const d of [DATA, LOGS, RUN]) fs.mkdirSync(d, { recursive: true });
  // A first start is told by SQLite's file. With PostgreSQL (CVP_DB_URL) only the gateway knows:
  // it seeds the admin itself on an empty users table (password from CVP_ADMIN_PASSWORD, or
  // printed once in var/logs/gateway.log), and the demo, which needs an empty registry, is skipped.
  const freshDataDir = !env.CVP_DB_URL && !fs.existsSync(env.CVP_DB_FILE ?? path.join(DATA, 'gateway.sqlite'));
  // The gateway seeds the admin on an empty users table; the supervisor picks the password so it
  // can print it once and the demo can log in with it.
  if (freshDataDir && !env.CVP_ADMIN_PASSWORD) {
    env.CVP_ADMIN_PASSWORD = require('node:crypto').randomBytes(12).toString('base64url');
    adminPasswordGenerated = true;
  }
  // Outside development mode the gateway refuses a missing secret; the local platform makes a
  // strong one once and keeps it under the data dir (owner-only), so tokens survive restarts.
  if (!env.CVP_JWT_SECRET) {
    const secretFile = path.join(RUN, 'jwt-secret');
    if (!fs.existsSync(secretFile))
      fs.writeFileSync(secretFile, require('node:crypto').randomBytes(48).toString('base64url'), { mode: 0o600 });
    env.CVP_JWT_SECRET = fs.readFileSync(secretFile, 'utf8').trim();
  }
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const rows = [['process', 'state', 'address', 'log']];
  for (const p of processes) {
    const skip = p.optional?.();
    if (skip) {
      rows.push([p.name, `skipped: ${skip}`, '-', '-']);
      continue;
    }
    if (await isPortOpen(p.port)) {
      log(`port ${p.port} for ${p.name} is already in use; stop whatever holds it or set another port`);
      return stopAll(1);
    }
    start(p);
    try {
      await waitFor(
        async () => {
          if (running.get(p.name).exited) throw new Error('exited');
          return p.ready();
        },
        { timeoutMs: READY_TIMEOUT_MS, what: `${p.name} readiness` },
      );
    } catch {
      const e = running.get(p.name);
      log(`${p.name} did not become ready${e.exited ? ` (exited ${e.code})` : ''}; see var/logs/${p.name}.log`);
      return stopAll(1);
    }
    rows.push([p.name, 'ready', p.url, path.relative(ROOT, path.join(LOGS, `${p.name}.log`))]);
  }
  process.stdout.write(`\n${table(rows)}\n\n`);
  log(`gateway: http://127.0.0.1:${ports.gateway}/api/v1  (OpenAPI UI: http://127.0.0.1:${ports.gateway}/api/docs)`);
  log(`web UI:  http://127.0.0.1:${ports.gateway}/ui`);
  if (adminPasswordGenerated) {
    log(
      `admin account created: username=${env.CVP_ADMIN_USERNAME || 'admin'} password=${env.CVP_ADMIN_PASSWORD}  (shown once; set CVP_ADMIN_PASSWORD to choose it)`,
    );
  }
  log(`all processes ready (pid ${process.pid}); Ctrl-C stops everything`);
  if (env.CVP_DB_URL && env.CVP_DEMO !== '0')
    log('demo skipped: it runs on a fresh SQLite data dir, not with CVP_DB_URL');

  if (freshDataDir && env.CVP_DEMO !== '0') {
    try {
      await require('./demo').runDemo({
        root: ROOT,
        dataDir: DATA,
        ports,
        log,
        admin: { username: env.CVP_ADMIN_USERNAME || 'admin', password: env.CVP_ADMIN_PASSWORD },
      });
    } catch (e) {
      log(`demo failed: ${e.message}`);
    }
  }
}

main().catch((e) => {
  log(`fatal: ${e.stack || e}`);
  void stopAll(1);
});
