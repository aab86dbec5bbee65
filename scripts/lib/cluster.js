'use strict';
/**
 * The scale-out shape of deploy/docker-compose.cluster.yml as processes on loopback: three
 * nats-server nodes clustered (every stream, KV and object bucket at R3), PostgreSQL from Debian's
 * packages in a temp dir, two gateways, two of each worker (trainer-bridge, bench, packager) and two
 * inference replicas, each service with its own data dir (nothing shared but NATS and the database),
 * plus a small round-robin balancer in front of the gateways and one in front of the inference
 * replicas (HAProxy's role in the compose file). Every process runs in its own process group with its
 * log in the run's temp dir; start-up waits are bounded; stop() (and exit, SIGINT, SIGTERM) kills
 * every group this module started.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { freePort, isPortOpen } = require('./ports');
const { startPostgresServer } = require('./postgres-server');

const ROOT = path.resolve(__dirname, '../..');
const WORKERS = {
  'trainer-bridge': 'CVP_TRAINER_PORT',
  bench: 'CVP_BENCH_PORT',
  packager: 'CVP_PACKAGER_PORT',
};

/** Every process group started by any cluster of this process, so a crash or signal still kills them. */
const liveGroups = new Set();
/** PostgreSQL data dirs of running servers: pg_ctl daemonizes it outside our process groups. */
const livePostgres = new Set();
/** Immediate shutdown of a server by its postmaster pid (synchronous: usable in an exit hook). */
function killPostgres(dataDir) {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (pid > 0) process.kill(pid, 'SIGQUIT');
  } catch {
    /* not running */
  }
}
let exitHooksInstalled = false;
function killGroup(pid, signal = 'SIGKILL') {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
function installExitHooks() {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = () => {
    for (const pid of liveGroups) killGroup(pid);
    for (const dir of livePostgres) killPostgres(dir);
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + (os.constants.signals[sig] ?? 1));
    });
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function httpOk(url, timeoutMs = 2000) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await r.arrayBuffer().catch(() => undefined);
    return r.status === 200;
  } catch {
    return false;
  }
}

/** One started process: its own group, its log file, bounded readiness. */
class ManagedProcess {
  constructor(name, cmd, args, { env, logDir, ready, cwd = ROOT }) {
    this.name = name;
    this.cmd = cmd;
    this.args = args;
    this.env = env;
    this.cwd = cwd;
    this.logFile = path.join(logDir, `${name}.log`);
    this.ready = ready;
    this.child = undefined;
    this.exited = true;
    this.starts = 0;
  }

  get pid() {
    return this.child?.pid;
  }

  start() {
    const fd = fs.openSync(this.logFile, 'a');
    fs.writeSync(fd, `\n==== start ${++this.starts} at ${new Date().toISOString()} ====\n`);
    const child = spawn(this.cmd, this.args, {
      cwd: this.cwd,
      env: this.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    fs.closeSync(fd);
    this.child = child;
    this.exited = false;
    liveGroups.add(child.pid);
    child.once('exit', (code, signal) => {
      if (this.child === child) {
        this.exited = true;
        this.exitCode = code ?? signal;
      }
      liveGroups.delete(child.pid);
    });
    child.once('error', (e) => {
      this.exited = true;
      this.exitCode = e.message;
    });
    return this;
  }

  async waitReady(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`${this.name} exited during start-up (${this.exitCode}); log: ${this.logFile}`);
      if (await this.ready()) return;
      if (Date.now() > deadline)
        throw new Error(`${this.name} not ready within ${timeoutMs} ms; log tail:\n${this.logTail()}`);
      await sleep(250);
    }
  }

  logTail(chars = 3000) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }

  /** SIGKILL to the whole group (a crash: no shutdown hooks run). */
  async kill() {
    if (this.exited || !this.child) return;
    killGroup(this.child.pid, 'SIGKILL');
    await this.waitExit(10_000);
  }

  /** SIGTERM to the group, SIGKILL after the grace. */
  async stop(graceMs = 10_000) {
    if (this.exited || !this.child) return;
    killGroup(this.child.pid, 'SIGTERM');
    if (!(await this.waitExit(graceMs))) killGroup(this.child.pid, 'SIGKILL');
    await this.waitExit(5000);
    killGroup(this.child.pid, 'SIGKILL'); // grandchildren (python) must not outlive it
  }

  async waitExit(ms) {
    const deadline = Date.now() + ms;
    while (!this.exited && Date.now() < deadline) await sleep(50);
    return this.exited;
  }
}

/**
 * Round-robin HTTP balancer with HAProxy's behaviour in deploy/cluster/haproxy.cfg: a health check
 * per backend (GET readyPath every checkMs; only backends whose last check passed get traffic), a
 * refused connection is redispatched to the next backend, no backend left -> 503 + Retry-After.
 * A backend that dies after the request reached it answers 503 + Retry-After (the request is not
 * replayed: it may not be idempotent).
 * backends: functions returning the port of a running backend, or null.
 */
function startBalancer(name, backends, { readyPath, checkMs = 500 } = {}) {
  let next = 0;
  const counts = { proxied: 0, redispatched: 0, noBackend: 0, diedMidRequest: 0 };
  const healthy = backends.map(() => false);
  const unavailable = (res, detail) => {
    res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
    res.end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail }));
  };
  const check = async () => {
    await Promise.all(
      backends.map(async (b, i) => {
        const port = b();
        healthy[i] = !!port && (await httpOk(`http://127.0.0.1:${port}${readyPath}`, Math.max(200, checkMs * 2)));
      }),
    );
  };
  let checking = true;
  const checker = (async () => {
    while (checking) {
      await check().catch(() => undefined);
      await sleep(checkMs);
    }
  })();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const order = backends.map((_, i) => (next + i) % backends.length).filter((i) => healthy[i]);
      next = (next + 1) % backends.length;
      const attempt = (k) => {
        if (k >= order.length) {
          counts.noBackend++;
          return unavailable(res, `no ${name} backend available`);
        }
        const i = order[k];
        const port = backends[i]();
        if (!port) return attempt(k + 1);
        const up = http.request(
          {
            host: '127.0.0.1',
            port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: `127.0.0.1:${port}` },
          },
          (ur) => {
            counts.proxied++;
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
            ur.on('error', () => res.destroy());
          },
        );
        up.on('error', (e) => {
          if (res.headersSent) return res.destroy();
          if (e.code === 'ECONNREFUSED') {
            healthy[i] = false;
            counts.redispatched++;
            return attempt(k + 1);
          }
          counts.diedMidRequest++;
          healthy[i] = false;
          unavailable(res, `${name} backend failed during the request (${e.code ?? e.message})`);
        });
        up.end(body);
      };
      attempt(0);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        counts,
        healthy: () => [...healthy],
        close: async () => {
          checking = false;
          await checker;
          server.closeAllConnections?.();
          await new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}

/** Waits until JetStream answers on a fresh cluster (its meta leader is elected a few seconds after start). */
async function waitForJetStream(servers, timeoutMs) {
  const { connect } = require('nats');
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    let nc;
    try {
      nc = await connect({ servers, timeout: 2000 });
      const jsm = await nc.jetstreamManager({ timeout: 2000 });
      await jsm.getAccountInfo();
      return;
    } catch (e) {
      last = e;
    } finally {
      await nc?.close().catch(() => undefined);
    }
    await sleep(500);
  }
  throw new Error(`JetStream not available within ${timeoutMs} ms: ${last?.message}`);
}

/**
 * What deploy/cluster/jetstream-init.sh does, with the nats client: the job streams from
 * deploy/cluster/jetstream/*.json, the lease KV bucket and the artifact object bucket, all at R3,
 * before any service starts (services would create them at R1).
 */
async function initJetStream(servers, { leaseBucket = 'CVP_GPU_LEASES', artifactsBucket = 'cvp-artifacts' } = {}) {
  const { connect, StorageType } = require('nats');
  const nc = await connect({ servers, timeout: 5000 });
  try {
    const jsm = await nc.jetstreamManager({ timeout: 10_000 });
    const dir = path.join(ROOT, 'deploy/cluster/jetstream');
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      await jsm.streams.add(cfg);
    }
    const js = nc.jetstream({ timeout: 10_000 });
    await js.views.kv(leaseBucket, { history: 64, storage: StorageType.File, replicas: 3 });
    await js.views.os(artifactsBucket, { storage: StorageType.File, replicas: 3 });
    const streams = [];
    for await (const s of jsm.streams.list()) streams.push({ name: s.config.name, replicas: s.config.num_replicas });
    return streams;
  } finally {
    await nc.close();
  }
}

/**
 * Starts the whole shape. Options: workers (replicas of each worker, default 2), gateways (2),
 * inference (2), readyTimeoutMs per process, gpuTokens, sharedDataDir (one data dir for all, default
 * false), env / gatewayEnv / inferenceEnv (extra variables), logLevel, log (a line logger).
 */
async function startCluster(opts = {}) {
  installExitHooks();
  for (const f of ['dist/apps/gateway/src/main.js', 'dist/apps/inference/src/main.js']) {
    if (!fs.existsSync(path.join(ROOT, f)))
      throw new Error(`${f} is missing: build first (npx tsc -p tsconfig.build.json)`);
  }
  const log = opts.log ?? ((m) => process.stdout.write(`[cluster] ${m}\n`));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
  const dir = fs.mkdtempSync(path.join(opts.baseDir ?? os.tmpdir(), 'cvp-cluster-'));
  // PostgreSQL runs as its own user when this runs as root: it must be able to reach dir/postgres.
  fs.chmodSync(dir, 0o711);
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const procs = [];
  const balancers = [];
  let pg;
  const cluster = { dir, logDir, procs, nats: [], gateways: [], inference: [], workers: {}, balancers };

  const stop = async () => {
    // services before NATS, in parallel (each has its grace)
    const services = procs.filter((p) => !p.name.startsWith('nats-'));
    await Promise.all(services.map((p) => p.stop(5000)));
    await Promise.all(procs.filter((p) => p.name.startsWith('nats-')).map((p) => p.stop(5000)));
    for (const b of balancers) await b.close().catch(() => undefined);
    if (pg) {
      await pg.destroy({ keepDir: true }).catch((e) => log(`postgres stop: ${e.message}`));
      killPostgres(pg.dataDir);
      livePostgres.delete(pg.dataDir);
    }
    for (const p of procs) if (p.pid) killGroup(p.pid);
  };
  cluster.stop = stop;

  try {
    // ---- NATS: three nodes, routes to all three ----
    const natsPorts = [];
    for (let i = 0; i < 3; i++) natsPorts.push({ client: await freePort(), cluster: await freePort() });
    const routes = natsPorts.map((p) => `nats-route://127.0.0.1:${p.cluster}`);
    for (let i = 0; i < 3; i++) {
      const name = `nats-${i + 1}`;
      const conf = path.join(dir, `${name}.conf`);
      fs.writeFileSync(
        conf,
        [
          `server_name: ${name}`,
          'host: 127.0.0.1',
          `port: ${natsPorts[i].client}`,
          `jetstream { store_dir: "${path.join(dir, name)}" }`,
          `cluster { name: cvp, host: 127.0.0.1, port: ${natsPorts[i].cluster}, routes: [${routes.join(', ')}] }`,
          '',
        ].join('\n'),
      );
      const p = new ManagedProcess(name, 'nats-server', ['-c', conf], {
        env: process.env,
        logDir,
        ready: () => isPortOpen(natsPorts[i].client),
      });
      p.port = natsPorts[i].client;
      p.url = `nats://127.0.0.1:${p.port}`;
      procs.push(p.start());
      cluster.nats.push(p);
    }
    await Promise.all(cluster.nats.map((p) => p.waitReady(30_000)));
    const allNats = cluster.nats.map((p) => p.url);
    cluster.natsUrls = allNats;
    await waitForJetStream(allNats, 60_000);
    cluster.streams = await initJetStream(allNats);
    log(`NATS: 3 nodes clustered, ${cluster.streams.length} streams/buckets at R3`);

    // ---- PostgreSQL ----
    livePostgres.add(path.join(dir, 'postgres', 'data'));
    pg = await startPostgresServer({ dir: path.join(dir, 'postgres') });
    cluster.postgres = pg;
    const dbUrl = await pg.createDatabase('cvp');
    log(`PostgreSQL on port ${pg.port}`);

    const secrets = {
      jwt: randomBytes(32).toString('hex'),
      admin: `admin-${randomBytes(8).toString('hex')}`,
      metrics: randomBytes(16).toString('hex'),
    };
    cluster.adminPassword = secrets.admin;

    // Services spread over the nodes: each connects to one and learns the others from it.
    let spread = 0;
    const natsFor = () => allNats[spread++ % allNats.length];
    const base = { ...process.env };
    for (const k of Object.keys(base)) if (k.startsWith('CVP_')) delete base[k];

    const inferencePorts = [await freePort(), await freePort()].slice(0, opts.inference ?? 2);
    const gatewayPorts = [await freePort(), await freePort()].slice(0, opts.gateways ?? 2);
    const gatewayAlive = (i) => () => (cluster.gateways[i] && !cluster.gateways[i].exited ? gatewayPorts[i] : null);
    const inferenceAlive = (i) => () =>
      cluster.inference[i] && !cluster.inference[i].exited ? inferencePorts[i] : null;
    const inferenceLb = await startBalancer(
      'inference',
      inferencePorts.map((_, i) => inferenceAlive(i)),
      { readyPath: '/v2/health/ready' },
    );
    const gatewayLb = await startBalancer(
      'gateway',
      gatewayPorts.map((_, i) => gatewayAlive(i)),
      { readyPath: '/health/ready' },
    );
    balancers.push(inferenceLb, gatewayLb);
    cluster.inferenceUrl = inferenceLb.url;
    cluster.gatewayUrl = gatewayLb.url;
    cluster.inferenceBalancer = inferenceLb;
    cluster.gatewayBalancer = gatewayLb;

    // sharedDataDir: one CVP_DATA_DIR for every service, the workaround while artifacts travel as
    // file paths; each replica keeps its own artifact cache either way.
    const service = (app, name, env) => {
      const dataDir = path.join(dir, 'data', opts.sharedDataDir ? 'shared' : name);
      fs.mkdirSync(dataDir, { recursive: true });
      const p = new ManagedProcess(
        name,
        process.execPath,
        ['-r', path.join(ROOT, 'scripts/register-paths.js'), path.join(ROOT, `dist/apps/${app}/src/main.js`)],
        {
          logDir,
          env: {
            ...base,
            NODE_ENV: 'production',
            CVP_LOG_LEVEL: opts.logLevel ?? 'info',
            CVP_HOST: '127.0.0.1',
            CVP_DATA_DIR: dataDir,
            CVP_NATS_URL: natsFor(),
            CVP_ARTIFACTS: 'objectstore',
            CVP_ARTIFACTS_REPLICAS: '3',
            CVP_ARTIFACTS_CACHE_DIR: path.join(dir, 'data', name, 'artifacts-cache'),
            CVP_GPU_NODE: 'gpu-node-1',
            CVP_INFERENCE_URL: inferenceLb.url,
            ...opts.env,
            ...env,
          },
          ready: () => httpOk(`http://127.0.0.1:${env.__port}${env.__readyPath ?? '/health/ready'}`),
        },
      );
      p.port = Number(env.__port);
      p.url = `http://127.0.0.1:${p.port}`;
      p.dataDir = dataDir;
      delete p.env.__port;
      delete p.env.__readyPath;
      procs.push(p);
      return p;
    };

    // ---- gateways: the first alone (it migrates the empty database), then the rest with everything else ----
    gatewayPorts.forEach((port, i) =>
      cluster.gateways.push(
        service('gateway', `gateway-${i + 1}`, {
          __port: port,
          CVP_GATEWAY_PORT: String(port),
          CVP_DB_URL: dbUrl,
          CVP_DB_POOL_SIZE: '5',
          CVP_JWT_SECRET: secrets.jwt,
          CVP_ADMIN_USERNAME: 'admin',
          CVP_ADMIN_PASSWORD: secrets.admin,
          CVP_BCRYPT_ROUNDS: '4',
          CVP_GPU_TOKENS: String(opts.gpuTokens ?? 2),
          ...opts.gatewayEnv,
        }),
      ),
    );
    inferencePorts.forEach((port, i) =>
      cluster.inference.push(
        service('inference', `inference-${i + 1}`, {
          __port: port,
          __readyPath: '/v2/health/live',
          CVP_INFERENCE_PORT: String(port),
          CVP_INFER_AUTH: 'required',
          CVP_METRICS_TOKEN: secrets.metrics,
          ...opts.inferenceEnv,
        }),
      ),
    );
    for (const [app, portKey] of Object.entries(WORKERS)) {
      cluster.workers[app] = [];
      for (let i = 0; i < (opts.workers ?? 2); i++) {
        const port = await freePort();
        cluster.workers[app].push(service(app, `${app}-${i + 1}`, { __port: port, [portKey]: String(port) }));
      }
    }

    const t0 = Date.now();
    await cluster.gateways[0].start().waitReady(readyTimeoutMs);
    const rest = procs.filter((p) => p.exited && !p.name.startsWith('nats-'));
    for (const p of rest) p.start();
    await Promise.all(rest.map((p) => p.waitReady(readyTimeoutMs)));
    cluster.startupMs = Date.now() - t0;
    log(`${procs.length - 3} services ready in ${cluster.startupMs} ms (logs: ${logDir})`);
    return cluster;
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}

module.exports = { startCluster, startBalancer, initJetStream, ManagedProcess, killGroup };
