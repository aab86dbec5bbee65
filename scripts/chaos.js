#!/usr/bin/env node
'use strict';
/**
 * Chaos run on the loopback cluster (scripts/lib/cluster.js): while conversion and package jobs,
 * GPU lease traffic and inference requests flow, it SIGKILLs one NATS node, one gateway (with an SSE
 * client attached), a trainer-bridge in the middle of a job and an inference replica, and restarts
 * PostgreSQL. Then it checks:
 *   - every job reached exactly one terminal state (the jobs row and its event log), succeeded, with
 *     its artifacts intact (the version's ONNX, the package tarball's SHA-256);
 *   - no lease pool ever had more holders than tokens, watched on the KV table by NATS clients of
 *     its own (every revision seen, none missing);
 *   - the SSE client resumed on the other gateway with Last-Event-ID and lost no event;
 *   - inference clients saw only 200, 429 or 503, and every 429/503 carried Retry-After.
 * Writes bench/results/chaos-<date>.json (or --out); exits 1 when an assertion fails, 2 when the
 * run broke. Every service has its own data dir; --shared-data-dir gives them one, which jobs need
 * for as long as artifacts travel between services as file paths.
 *
 *   node scripts/chaos.js [--jobs 6] [--packages 2] [--clients 4] [--budget-s 330] [--keep-logs] [--shared-data-dir] [--out FILE]
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createHash, randomUUID } = require('node:crypto');

const ROOT = path.resolve(__dirname, '..');
require(path.join(ROOT, 'libs/jobs/src/testing/register-ts.js'));
require('reflect-metadata');
const { startCluster } = require('./lib/cluster');

const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const FIXTURES = path.join(ROOT, 'apps/inference/test/fixtures');

function args() {
  const a = {
    jobs: 6,
    packages: 2,
    clients: 4,
    leaseClients: 4,
    budgetS: 330,
    keepLogs: false,
    sharedDataDir: false,
    tokens: 2,
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--keep-logs') a.keepLogs = true;
    else if (k === '--shared-data-dir') a.sharedDataDir = true;
    else if (k === '--out') a.out = path.resolve(argv[++i]);
    else if (k === '--jobs') a.jobs = Number(argv[++i]);
    else if (k === '--packages') a.packages = Number(argv[++i]);
    else if (k === '--clients') a.clients = Number(argv[++i]);
    else if (k === '--lease-clients') a.leaseClients = Number(argv[++i]);
    else if (k === '--budget-s') a.budgetS = Number(argv[++i]);
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** Polls until `probe` returns a truthy value; bounded. */
async function until(what, timeoutMs, probe, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** REST client over one base URL (the balancer, or one gateway). */
function api(base, token) {
  const call = async (method, p, body, headers = {}) => {
    const init = {
      method,
      headers: { authorization: `Bearer ${token()}`, ...headers },
      signal: AbortSignal.timeout(20_000),
    };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['content-type'] = 'application/json';
    }
    const r = await fetch(`${base}/api/v1${p}`, init);
    const text = await r.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.status, json, text };
  };
  return {
    get: (p) => call('GET', p),
    post: (p, b) => call('POST', p, b ?? {}),
    raw: (p) =>
      fetch(`${base}/api/v1${p}`, {
        headers: { authorization: `Bearer ${token()}` },
        signal: AbortSignal.timeout(30_000),
      }),
  };
}

/** Retries a REST call through transient 5xx and connection errors (a killed gateway, a database restart). */
async function retrying(what, fn, timeoutMs = 60_000) {
  return until(
    what,
    timeoutMs,
    async () => {
      const r = await fn();
      if (r.status >= 500) throw new Error(`${r.status} ${r.text.slice(0, 200)}`);
      return r;
    },
    500,
  );
}

/**
 * A job's SSE stream read with fetch from one gateway, from `lastEventId` on; resolves with how it
 * ended ('terminal' or 'broken') and the last id seen. Events are appended to `sink`.
 */
async function readSse(origin, jobId, streamToken, lastEventId, sink, timeoutMs, onOpen = () => undefined) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let last = lastEventId;
  try {
    const res = await fetch(`${origin}/api/v1/jobs/${jobId}/events?streamToken=${encodeURIComponent(streamToken)}`, {
      headers: { accept: 'text/event-stream', 'last-event-id': String(lastEventId) },
      signal: ac.signal,
    });
    if (res.status !== 200 || !res.body) return { end: `status ${res.status}`, last };
    onOpen();
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk, { stream: true });
      let idx;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        let id;
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) id = Number(line.slice(4));
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (!data || id === undefined) continue;
        const ev = JSON.parse(data);
        sink.push({ id, state: ev.state, origin });
        last = id;
        if (TERMINAL.includes(String(ev.state))) {
          ac.abort();
          return { end: 'terminal', last };
        }
      }
    }
    return { end: 'closed', last };
  } catch (e) {
    return { end: ac.signal.aborted ? 'timeout' : `broken (${e.cause?.code ?? e.message})`, last };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Watches every revision of the lease table from its own NATS connection (plain client, no service
 * code): a KV watch, plus a poll of the key's retained history (64 revisions) every second, each on a
 * connection of its own to a different node, so a node going down cannot blind both while they
 * reconnect. Revisions seen by neither are counted.
 */
async function watchLeaseTable(servers, bucket, tokensPerPool) {
  const { connect } = require('nats');
  const open = async (first, name) => {
    const nc = await connect({
      servers: [first, ...servers.filter((u) => u !== first)],
      noRandomize: true,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    return { nc, kv: await nc.jetstream({ timeout: 5000 }).views.kv(bucket) };
  };
  const watchConn = await open(servers[servers.length - 1], 'chaos-lease-watch');
  // A mirror of the bucket's stream at R3, without the bucket's 64-revision history limit: the
  // servers copy every revision into it, whatever happens to this process's connections.
  const jsm = await watchConn.nc.jetstreamManager({ timeout: 10_000 });
  const mirrorName = 'CHAOS_LEASE_AUDIT';
  await jsm.streams.add({ name: mirrorName, mirror: { name: `KV_${bucket}` }, num_replicas: 3, storage: 'file' });
  const pollConn = await open(servers[servers.length - 2] ?? servers[0], 'chaos-lease-history');
  const kv = watchConn.kv;
  const w = {
    maxByPool: {},
    revisions: 0,
    firstRevision: 0,
    lastRevision: 0,
    overTokens: [],
    fromHistory: 0,
    fromMirror: 0,
    mirrorMessages: 0,
  };
  const seen = new Set();
  const take = (e, via) => {
    if (e.operation !== 'PUT' || seen.has(e.revision)) return;
    seen.add(e.revision);
    if (via === 'history') w.fromHistory++;
    if (via === 'mirror') w.fromMirror++;
    w.revisions++;
    if (!w.firstRevision || e.revision < w.firstRevision) w.firstRevision = e.revision;
    w.lastRevision = Math.max(w.lastRevision, e.revision);
    const s = JSON.parse(new TextDecoder().decode(e.value));
    const byPool = {};
    for (const h of s.holders ?? []) byPool[h.node ?? 'default'] = (byPool[h.node ?? 'default'] ?? 0) + 1;
    for (const [pool, n] of Object.entries(byPool)) {
      w.maxByPool[pool] = Math.max(w.maxByPool[pool] ?? 0, n);
      if (n > tokensPerPool) w.overTokens.push({ revision: e.revision, pool, holders: n });
    }
  };
  const watcher = await kv.watch({ key: 'table' });
  const done = (async () => {
    for await (const e of watcher) take(e, 'watch');
  })();
  let polling = true;
  const poll = async () => {
    const it = await pollConn.kv.history({ key: 'table' });
    for await (const e of it) take(e, 'history');
  };
  const poller = (async () => {
    while (polling) {
      await Promise.race([poll(), sleep(5000)]).catch(() => undefined);
      await sleep(1000);
    }
  })();
  return {
    state: w,
    /** Revisions between the first and the last seen that neither the watch nor the history poll saw. */
    notSeen: () => w.lastRevision - w.firstRevision + 1 - seen.size,
    /** The first few revisions not seen, for the report. */
    missing: () => {
      const m = [];
      for (let r = w.firstRevision; r <= w.lastRevision && m.length < 20; r++) if (!seen.has(r)) m.push(r);
      return m;
    },
    stop: async () => {
      polling = false;
      await poller;
      await poll().catch(() => undefined);
      // The mirror keeps the origin's sequence numbers (the KV revisions): read back every one of them.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const info = await jsm.streams.info(mirrorName).catch(() => undefined);
        if ((info?.state.last_seq ?? 0) >= w.lastRevision || Date.now() > deadline) break;
        await sleep(250);
      }
      const info = await jsm.streams.info(mirrorName);
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(mirrorName, { seq }).catch(() => undefined);
        if (!m) continue;
        w.mirrorMessages++;
        take({ operation: m.header?.get('KV-Operation') || 'PUT', revision: m.seq, value: m.data }, 'mirror');
      }
      await jsm.streams.delete(mirrorName).catch(() => undefined);
      watcher.stop();
      await done.catch(() => undefined);
      await watchConn.nc.close();
      await pollConn.nc.close();
    },
  };
}

/** Lease clients on connections of their own, each acquiring, holding briefly and releasing, until stopped. */
async function startLeaseLoad(servers, n, pool) {
  const { startLeaseClient } = require(path.join(ROOT, 'apps/gateway/src/gpu-leases/testing/lease-harness.ts'));
  const { createLogger } = require(path.join(ROOT, 'libs/platform/src/index.ts'));
  const logger = createLogger('chaos-lease-client', 'silent');
  const stats = { grants: 0, timeouts: 0, errors: 0, lost: 0, maxHeldByClients: 0 };
  let held = 0;
  let stopping = false;
  const clients = [];
  for (let i = 0; i < n; i++)
    clients.push(await startLeaseClient(servers[i % servers.length], `chaos-lease-${i}`, logger, 300, pool));
  const loops = clients.map(async ({ client }, i) => {
    while (!stopping) {
      try {
        const lease = await client.acquire({
          holder: `chaos:${i}:${randomUUID().slice(0, 8)}`,
          priority: 'train',
          ttlMs: 3000,
          waitMs: 15_000,
        });
        stats.grants++;
        held++;
        stats.maxHeldByClients = Math.max(stats.maxHeldByClients, held);
        const lost = lease.lost.then(() => 'lost');
        const r = await Promise.race([lost, sleep(200 + Math.random() * 400).then(() => 'done')]);
        if (r === 'lost') stats.lost++;
        held--;
        await lease.release().catch(() => undefined);
      } catch (e) {
        if (/no GPU lease/.test(e.message)) stats.timeouts++;
        else stats.errors++;
        await sleep(300);
      }
    }
  });
  return {
    stats,
    stop: async () => {
      stopping = true;
      await Promise.race([Promise.all(loops), sleep(20_000)]);
      for (const { client, bus } of clients) {
        await client.close().catch(() => undefined);
        await bus.close().catch(() => undefined);
      }
    },
  };
}

/** Inference clients through the balancer, counting every status (and Retry-After on 429/503). */
function startInferenceLoad(url, model, apiKey, image, n) {
  const s = { statuses: {}, missingRetryAfter: 0, connectionErrors: 0, other: [], total: 0 };
  let stopping = false;
  const loops = Array.from({ length: n }, async () => {
    while (!stopping) {
      try {
        const r = await fetch(`${url}${model}/detect`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'image/png' },
          body: image,
          signal: AbortSignal.timeout(30_000),
        });
        await r.arrayBuffer();
        s.total++;
        s.statuses[r.status] = (s.statuses[r.status] ?? 0) + 1;
        if ((r.status === 429 || r.status === 503) && !r.headers.get('retry-after')) s.missingRetryAfter++;
        if (r.status !== 200) await sleep(200);
      } catch (e) {
        s.total++;
        s.connectionErrors++;
        if (s.other.length < 10) s.other.push(e.cause?.code ?? e.message);
        await sleep(200);
      }
    }
  });
  return {
    stats: s,
    stop: async () => {
      stopping = true;
      await Promise.race([Promise.all(loops), sleep(35_000)]);
    },
  };
}

/**
 * An artifact's bytes as another host gets them: fetched from the bucket by the artifact store's
 * reader (which keeps them only if they match the digest the bucket recorded) into a scratch cache,
 * then hashed here again. Null when the bucket does not have it.
 */
async function readArtifact(servers, key, scratch) {
  const { connect } = require('nats');
  const { ObjectStoreArtifactStore } = require(path.join(ROOT, 'libs/artifacts/src/index.ts'));
  const nc = await connect({ servers, name: 'chaos-artifact-check', timeout: 5000 });
  try {
    const store = await ObjectStoreArtifactStore.open(nc, {
      bucket: 'cvp-artifacts',
      replicas: 3,
      cacheDir: scratch,
      cacheMaxBytes: 1024 * 1024 * 1024,
      timeoutMs: 20_000,
    });
    const lease = await store.materialize(key).catch(() => null);
    if (!lease) return null;
    try {
      return fs.readFileSync(lease.path);
    } finally {
      await lease.release();
    }
  } finally {
    await nc.close();
  }
}

/** The child processes of `pid` (a worker's python child means a job is running in it). */
function childrenOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** Whether `pid` runs a conversion now: a child whose command line is cvp_ml's convert (sandboxed or not). */
function convertingIn(pid) {
  return childrenOf(pid).some((c) => {
    try {
      return / convert /.test(` ${fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').replace(/\0/g, ' ')} `);
    } catch {
      return false;
    }
  });
}

async function main() {
  const a = args();
  const started = Date.now();
  const budgetMs = a.budgetS * 1000;
  const left = () => budgetMs - (Date.now() - started);
  const load1 = os.loadavg()[0];
  const failures = [];
  const check = (ok, msg) => {
    if (!ok) failures.push(msg);
    log(`${ok ? 'ok  ' : 'FAIL'} ${msg}`);
  };
  const timeline = [];
  const mark = (event, extra = {}) => {
    timeline.push({ t: +((Date.now() - started) / 1000).toFixed(1), event, ...extra });
    log(event);
  };

  // A hard stop past the budget: whatever hangs, the processes die with this one (the cluster's exit hook).
  setTimeout(() => {
    log(`budget of ${a.budgetS} s exceeded by 60 s: giving up`);
    process.exit(2);
  }, budgetMs + 60_000).unref();
  const cluster = await startCluster({ gpuTokens: a.tokens, sharedDataDir: a.sharedDataDir, log, logLevel: 'info' });
  mark('cluster ready', { startupMs: cluster.startupMs });
  const stops = [];
  let report;
  try {
    let token = '';
    const login = async () => {
      const r = await retrying('login', () =>
        fetch(`${cluster.gatewayUrl}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'admin', password: cluster.adminPassword }),
        }).then(async (res) => ({ status: res.status, text: await res.text() })),
      );
      if (r.status !== 200 && r.status !== 201) throw new Error(`login answered ${r.status}: ${r.text}`);
      token = JSON.parse(r.text).accessToken;
    };
    await login();
    const gw = api(cluster.gatewayUrl, () => token);
    const key = await gw.post('/api-keys', { name: 'chaos-infer', role: 'infer' });
    if (key.status !== 201) throw new Error(`api key: ${key.status} ${key.text}`);
    const apiKey = key.json.key;

    // ---- independent watchers and lease load ----
    const watch = await watchLeaseTable(cluster.natsUrls, 'CVP_GPU_LEASES', a.tokens);
    stops.push(() => watch.stop());
    const leaseLoad = await startLeaseLoad(cluster.natsUrls, a.leaseClients, 'gpu-node-1');
    stops.push(() => leaseLoad.stop());

    // ---- one model converted and deployed for the inference traffic ----
    const upload = async (fixture, name) => {
      const fd = new FormData();
      fd.append('format', 'onnx');
      fd.append('task', 'detect');
      fd.append('name', name);
      fd.append('labels', 'cat,dog,bird');
      fd.append('file', new Blob([fs.readFileSync(path.join(FIXTURES, fixture))]), fixture);
      const r = await retrying(`upload ${name}`, () => gw.post('/models', fd));
      if (r.status !== 202) throw new Error(`upload ${name}: ${r.status} ${r.text}`);
      return { modelId: r.json.model.id, jobId: r.json.job.id };
    };
    const jobs = new Map(); // id -> {type, modelId}
    const first = await upload('conv_det.onnx', 'chaos-serve');
    jobs.set(first.jobId, { type: 'convert', modelId: first.modelId });
    {
      const j = await until('the first conversion', 120_000, async () => {
        const r = (await gw.get(`/jobs/${first.jobId}`)).json;
        return TERMINAL.includes(r?.state) && r;
      });
      if (j.state !== 'succeeded') throw new Error(`the first conversion ${j.state}: ${j.error}`);
    }
    const dep = await gw.post('/deployments', { modelId: first.modelId, engine: 'ort-node' });
    if (dep.status !== 201 && dep.status !== 202) throw new Error(`deploy: ${dep.status} ${dep.text}`);
    const deployment = await until('the deployment to be ready', 90_000, async () => {
      const d = (await gw.get(`/deployments/${dep.json.id}`)).json;
      if (d?.state === 'failed') throw new Error(`deployment failed: ${d.error}`);
      return d?.state === 'ready' ? d : null;
    });
    // both replicas must serve it before the traffic starts
    for (const inf of cluster.inference)
      await until(
        `${inf.name} to serve ${deployment.servedAs}`,
        60_000,
        async () =>
          (await fetch(`${inf.url}${deployment.servedAs}/ready`, { headers: { authorization: `Bearer ${apiKey}` } }))
            .status === 200,
      );
    const sharp = require('sharp');
    const image = await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 90, g: 160, b: 30 } } })
      .png()
      .toBuffer();
    const infLoad = startInferenceLoad(cluster.inferenceUrl, deployment.servedAs, apiKey, image, a.clients);
    stops.push(() => infLoad.stop());
    mark('deployment serving; inference and lease traffic flowing', { servedAs: deployment.servedAs });

    // ---- the jobs that flow through the chaos ----
    for (let i = 0; i < a.jobs; i++) {
      const u = await upload('conv_det.onnx', `chaos-${i}`);
      jobs.set(u.jobId, { type: 'convert', modelId: u.modelId });
    }
    for (let i = 0; i < a.packages; i++) {
      const r = await retrying('package job', () =>
        gw.post('/jobs/package', { modelId: first.modelId, engine: 'ort-node', variant: 'cpu' }),
      );
      if (r.status !== 202) throw new Error(`package job: ${r.status} ${r.text}`);
      jobs.set(r.json.id, { type: 'package', modelId: first.modelId });
    }
    mark(`${jobs.size} jobs submitted`);

    // ---- chaos ----
    const recover = {};
    // 1. a trainer-bridge in the middle of a conversion (its python child is running)
    const tb = cluster.workers['trainer-bridge'];
    // Killed the moment a conversion is seen in it: any round trip in between lets a short job finish first.
    const victim = await until(
      'a trainer-bridge running a conversion',
      60_000,
      async () => tb.find((p) => !p.exited && convertingIn(p.pid)),
      20,
    );
    await victim.kill();
    const busyJobs = [];
    for (const [id, j] of jobs)
      if (j.type === 'convert' && (await gw.get(`/jobs/${id}`)).json?.state === 'running') busyJobs.push(id);
    mark(`SIGKILL ${victim.name} mid-job`, { runningJobs: busyJobs });

    await sleep(2000); // traffic under each failure before the next
    // 2. a NATS node
    const natsVictim = cluster.nats[0];
    await natsVictim.kill();
    mark(`SIGKILL ${natsVictim.name}`);

    await sleep(2000);
    // ---- SSE client on gateway-1, on a job submitted now (so it is still running when that gateway dies) ----
    const sseUpload = await upload('conv_det.onnx', 'chaos-sse');
    jobs.set(sseUpload.jobId, { type: 'convert', modelId: sseUpload.modelId });
    const sseJob = sseUpload.jobId;
    const tokenRes = await gw.post(`/jobs/${sseJob}/events/token`);
    if (tokenRes.status !== 200 && tokenRes.status !== 201)
      throw new Error(`stream token: ${tokenRes.status} ${tokenRes.text}`);
    const streamToken = tokenRes.json.streamToken;
    const sseEvents = [];
    const [gw1, gw2] = cluster.gateways;
    const sseFirst = readSse(gw1.url, sseJob, streamToken, 0, sseEvents, Math.max(30_000, left()));
    await until('the SSE client to receive its first event', 30_000, async () => sseEvents.length > 0, 5);

    // 3. the gateway the SSE client is on
    await gw1.kill();
    const gwKilledAt = Date.now();
    mark(`SIGKILL ${gw1.name} (SSE client attached)`);
    const firstEnd = await sseFirst;
    let resumes = 0;
    let lastId = firstEnd.last;
    let sseEnd = firstEnd;
    while (sseEnd.end !== 'terminal' && left() > 20_000 && resumes < 20) {
      resumes++;
      sseEnd = await readSse(gw2.url, sseJob, streamToken, lastId, sseEvents, left() - 10_000, () => {
        recover.sseReconnectedMs ??= Date.now() - gwKilledAt;
      });
      lastId = sseEnd.last;
      if (sseEnd.end !== 'terminal') await sleep(500);
    }
    recover.sseTerminalAfterGatewayKillMs = Date.now() - gwKilledAt;
    mark(`SSE client resumed on ${gw2.name} after id ${firstEnd.last} (${sseEnd.end})`);

    // 4. an inference replica
    await cluster.inference[0].kill();
    mark(`SIGKILL ${cluster.inference[0].name}`);
    await sleep(2000);

    // 5. PostgreSQL restart
    const pgAt = Date.now();
    await cluster.postgres.restart('fast');
    mark('PostgreSQL restarted');
    recover.gatewayAfterPostgresMs = await until(
      'the gateway to answer after the database restart',
      60_000,
      async () => (await gw.get('/jobs?limit=1')).status === 200 && Date.now() - pgAt,
    );

    // ---- restarts of what was killed, timed ----
    const t = Date.now();
    for (const p of [natsVictim, gw1, victim, cluster.inference[0]]) p.start();
    await Promise.all(
      [natsVictim, gw1, victim, cluster.inference[0]].map(async (p) => {
        await p.waitReady(Math.max(30_000, Math.min(120_000, left() - 30_000)));
        recover[`${p.name}ReadyMs`] = Date.now() - t;
      }),
    );
    mark('killed processes restarted and ready');
    await until(
      'the restarted inference replica back in the balancer',
      60_000,
      async () => cluster.inferenceBalancer.healthy()[0],
    );
    recover['inference-1InRotationMs'] = Date.now() - t;

    // ---- every job to a terminal state (bounded by the budget) ----
    await until(
      'every job to reach a terminal state',
      Math.max(10_000, left() - 25_000),
      async () => {
        for (const id of jobs.keys()) {
          const r = await gw.get(`/jobs/${id}`);
          if (r.status === 401) await login();
          if (!TERMINAL.includes(r.json?.state)) return false;
        }
        return true;
      },
      1000,
    );
    recover.allJobsTerminalS = +((Date.now() - started) / 1000).toFixed(1);
    mark('every job terminal');
    await sleep(1500); // inference traffic after the restarts
    for (const s of stops.splice(0).reverse()) await s();

    // ---- assertions ----
    const { Client } = require('pg');
    const db = new Client({ connectionString: cluster.postgres.urlFor('cvp') });
    await db.connect();
    const byState = {};
    const perJob = [];
    try {
      for (const [id, j] of jobs) {
        const row = (await db.query('SELECT state, result, last_event_seq FROM jobs WHERE id = $1', [id])).rows[0];
        const evs = (await db.query('SELECT seq, payload FROM job_events WHERE job_id = $1 ORDER BY seq', [id])).rows;
        const terminalEvents = evs.filter((e) => TERMINAL.includes(JSON.parse(e.payload).state));
        const contiguous = evs.every((e, i) => Number(e.seq) === i + 1);
        byState[row.state] = (byState[row.state] ?? 0) + 1;
        const result = row.result ? JSON.parse(row.result) : {};
        let intact = false;
        let detail = '';
        if (row.state === 'succeeded' && j.type === 'convert') {
          const m = await gw.get(`/models/${result.modelId ?? j.modelId}`);
          const v = (m.json?.versions ?? []).find((x) => x.version === result.version);
          // The ONNX as another host would get it: from the artifact bucket (a key), or the file (a path).
          const onnx = path.isAbsolute(result.onnxPath)
            ? fs.existsSync(result.onnxPath)
              ? fs.readFileSync(result.onnxPath)
              : null
            : await readArtifact(cluster.natsUrls, result.onnxPath, path.join(cluster.dir, 'artifact-check'));
          const sum = onnx ? sha256(onnx) : null;
          intact = !!v?.converted && !!onnx && onnx.length > 0 && (!m.json?.sha256 || m.json.sha256 === sum);
          detail = `${v ? `version ${v.version}` : 'version missing'}, ONNX ${onnx ? `${onnx.length} bytes, sha256 ${m.json?.sha256 === sum ? 'matches' : 'differs'}` : 'missing'}`;
        } else if (row.state === 'succeeded' && j.type === 'package') {
          const r = await gw.raw(`/packages/${result.packageId}/download`);
          const buf = Buffer.from(await r.arrayBuffer());
          intact = r.status === 200 && sha256(buf) === result.sha256;
          detail = `download ${r.status}, ${buf.length} bytes`;
        }
        perJob.push({
          id,
          type: j.type,
          state: row.state,
          events: evs.length,
          terminalEvents: terminalEvents.length,
          contiguous,
          intact,
          detail,
          attempts: evs.filter((e) => JSON.parse(e.payload).state === 'running').length,
        });
      }
      // How long job events stopped after the gateway kill: the first any gateway stored afterwards
      // (an event the dead gateway held blocks the shared event consumer until its ack wait passes).
      const next = (
        await db.query('SELECT min(at) AS at FROM job_events WHERE at > $1', [new Date(gwKilledAt).toISOString()])
      ).rows[0]?.at;
      if (next) recover.firstJobEventAfterGatewayKillMs = Date.parse(next) - gwKilledAt;
    } finally {
      await db.end();
    }
    for (const p of perJob) {
      check(
        p.terminalEvents === 1 && TERMINAL.includes(p.state),
        `job ${p.id} (${p.type}) has exactly one terminal event (${p.terminalEvents}) and ended ${p.state}`,
      );
      check(
        p.state === 'succeeded' && p.intact,
        `job ${p.id} (${p.type}) succeeded with its artifacts intact (${p.detail})`,
      );
      check(p.contiguous, `job ${p.id} event log has no gap`);
    }
    check(
      perJob.some((p) => p.attempts >= 2),
      `the killed worker's job ran again elsewhere (${perJob.filter((p) => p.attempts >= 2).length} job(s) with 2+ attempts)`,
    );
    const w = watch.state;
    for (const [pool, max] of Object.entries(w.maxByPool))
      check(max <= a.tokens, `lease pool ${pool}: at most ${max} holders observed (tokens ${a.tokens})`);
    check(
      w.overTokens.length === 0,
      `no lease table revision over its tokens (${w.revisions} revisions seen; ${w.fromHistory} only by the history poll, ${w.fromMirror} only in the mirror of ${w.mirrorMessages})`,
    );
    check(watch.notSeen() === 0, `every lease table revision was seen (${watch.notSeen()} not seen)`);
    check(leaseLoad.stats.grants > 0, `lease clients were granted leases (${leaseLoad.stats.grants})`);

    const logIds = perJob.find((p) => p.id === sseJob).events;
    const seen = new Set(sseEvents.map((e) => e.id));
    const missing = [];
    for (let i = 1; i <= logIds; i++) if (!seen.has(i)) missing.push(i);
    check(
      missing.length === 0,
      `SSE: ${seen.size}/${logIds} events received across ${resumes + 1} connections, missing ${JSON.stringify(missing)}`,
    );
    check(
      sseEvents.some((e) => e.origin === gw1.url) && sseEvents.some((e) => e.origin === gw2.url),
      'SSE: events came from both gateways (resumed on the other)',
    );
    check(sseEnd.end === 'terminal', `SSE ended with the terminal event (${sseEnd.end})`);

    const inf = infLoad.stats;
    const bad = Object.keys(inf.statuses).filter((s) => !['200', '429', '503'].includes(s));
    check(
      bad.length === 0 && inf.connectionErrors === 0,
      `inference statuses ${JSON.stringify(inf.statuses)}, connection errors ${inf.connectionErrors}`,
    );
    check(inf.missingRetryAfter === 0, `every 429/503 carried Retry-After (${inf.missingRetryAfter} without)`);
    check((inf.statuses[200] ?? 0) > 0, 'inference answered 200 during the run');

    report = {
      script: 'scripts/chaos.js',
      date: new Date().toISOString(),
      host: { cpus: os.cpus().length, loadavg1Start: +load1.toFixed(2), loadavg1End: +os.loadavg()[0].toFixed(2) },
      shape: {
        nats: '3 nodes clustered, JetStream R3',
        streams: cluster.streams,
        postgres: 'Debian PostgreSQL in a temp dir',
        dataDirs: a.sharedDataDir ? 'one shared by every service (--shared-data-dir)' : 'one per service',
        services: cluster.procs.filter((p) => !p.name.startsWith('nats-')).map((p) => p.name),
        gpuTokens: a.tokens,
      },
      durationS: +((Date.now() - started) / 1000).toFixed(1),
      timeline,
      jobs: { total: perJob.length, byState, perJob },
      leases: {
        maxHoldersByPool: w.maxByPool,
        tokens: a.tokens,
        revisionsSeen: w.revisions,
        revisionsSeenOnlyByHistoryPoll: w.fromHistory,
        revisionsSeenOnlyInMirror: w.fromMirror,
        mirrorMessages: w.mirrorMessages,
        revisionsNotSeen: watch.notSeen(),
        firstNotSeen: watch.missing(),
        overTokens: w.overTokens,
        clients: leaseLoad.stats,
      },
      sse: {
        jobId: sseJob,
        expected: logIds,
        received: seen.size,
        missing,
        connections: resumes + 1,
        firstConnectionEnd: firstEnd.end,
        end: sseEnd.end,
      },
      inference: { ...inf, balancer: cluster.inferenceBalancer.counts },
      recover,
      assertionsFailed: failures,
      passed: failures.length === 0,
    };
  } catch (e) {
    log(`run broke: ${e.stack ?? e}`);
    report = {
      script: 'scripts/chaos.js',
      date: new Date().toISOString(),
      broke: String(e.message ?? e),
      timeline,
      passed: false,
      logs: cluster.logDir,
    };
    failures.push(`run broke: ${e.message}`);
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await cluster.stop();
  }
  const out = a.out ?? path.join(ROOT, 'bench/results', `chaos-${new Date().toISOString().slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(report, null, 2)}\n`);
  fs.renameSync(tmp, out);
  if (!a.keepLogs && report.passed) fs.rmSync(cluster.dir, { recursive: true, force: true });
  else log(`logs kept in ${cluster.logDir}`);
  log(
    `${report.passed ? 'PASSED' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s; ${path.relative(ROOT, out)}`,
  );
  process.exit(report.broke ? 2 : report.passed ? 0 : 1);
}

main().catch((e) => {
  log(`fatal: ${e.stack ?? e}`);
  process.exit(2);
});
