#!/usr/bin/env node
'use strict';
/**
 * Races acquire / renew / release / crash against the real GPU lease service for a given time and
 * prints the largest number of simultaneous holders it observed (from the service's own table, as
 * an independent KV watcher sees every write, and from the clients' side) and the grant latency
 * percentiles. Writes the result to bench/results/lease-stress.json (or --out).
 * --gateways N runs N lease services on one table (N gateways); --nodes N spreads the clients
 * over N nodes, each with its own pool of --tokens, and checks every pool separately.
 *
 *   node scripts/lease-stress.js [--seconds 20] [--clients 16] [--tokens 2] [--ttl-ms 1000] [--crash-rate 0.1]
 *     [--gateways 1] [--nodes 1] [--out FILE] [--nats nats://127.0.0.1:4222]
 *
 * Without --nats it starts its own nats-server (JetStream) in a temp dir. Loads the TypeScript
 * sources directly (no build needed).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const root = path.resolve(__dirname, '..');
require(path.join(root, 'libs/jobs/src/testing/register-ts.js'));
require('reflect-metadata');
const { startNatsServer } = require('./lib/nats-server');
const { startLeaseService, startLeaseClient, watchLeaseTable } = require(
  path.join(root, 'apps/gateway/src/gpu-leases/testing/lease-harness.ts'),
);
const { createLogger } = require(path.join(root, 'libs/platform/src/index.ts'));

function args() {
  const a = {
    seconds: 20,
    clients: 16,
    tokens: 2,
    ttlMs: 1000,
    crashRate: 0.1,
    gateways: 1,
    nodes: 1,
    nats: undefined,
    out: path.join(root, 'bench/results/lease-stress.json'),
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--clients') a.clients = Number(v);
    else if (k === '--tokens') a.tokens = Number(v);
    else if (k === '--ttl-ms') a.ttlMs = Number(v);
    else if (k === '--crash-rate') a.crashRate = Number(v);
    else if (k === '--gateways') a.gateways = Number(v);
    else if (k === '--nodes') a.nodes = Number(v);
    else if (k === '--nats') a.nats = v;
    else if (k === '--out') a.out = path.resolve(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!(a.seconds > 0 && a.seconds <= 3600)) throw new Error('--seconds must be in (0, 3600]');
  if (!(a.clients >= 1 && a.clients <= 200)) throw new Error('--clients must be 1..200');
  if (!(Number.isInteger(a.gateways) && a.gateways >= 1 && a.gateways <= 8)) throw new Error('--gateways must be 1..8');
  if (!(Number.isInteger(a.nodes) && a.nodes >= 1 && a.nodes <= 16)) throw new Error('--nodes must be 1..16');
  return a;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : null;
const PRIORITIES = ['inference', 'bench', 'train'];

async function main() {
  const a = args();
  const logger = createLogger('lease-stress', 'silent');
  let nats;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-lease-stress-'));
  if (!a.nats) nats = await startNatsServer({ storeDir: path.join(dir, 'nats'), logFile: path.join(dir, 'nats.log') });
  const url = a.nats ?? nats.url;
  const bucket = `LEASE_STRESS_${randomUUID().slice(0, 8)}`;
  // Several lease services on one table = several gateways; each node has a pool of `tokens`.
  const services = [];
  for (let g = 0; g < a.gateways; g++)
    services.push(await startLeaseService({ natsUrl: url, bucket, tokens: a.tokens, sweepMs: 50 }));
  const nodeOf = (i) => (a.nodes === 1 ? 'test-node' : `gpu-${(i % a.nodes) + 1}`);
  const monitor = await watchLeaseTable(url, bucket, logger);

  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const live = new Set();
  let clientMax = 0;
  const clientMaxByNode = {};
  const sampler = setInterval(() => {
    const byNode = {};
    for (const l of live) if (l.isHeld()) byNode[l.node] = (byNode[l.node] ?? 0) + 1;
    for (const [n, c] of Object.entries(byNode)) {
      if (c > clientMax) clientMax = c;
      if (c > (clientMaxByNode[n] ?? 0)) clientMaxByNode[n] = c;
    }
  }, 1);
  const latencies = [];
  const counts = { grants: 0, releases: 0, crashes: 0, lost: 0, errors: 0 };
  const lostReasons = {};
  const deadline = Date.now() + a.seconds * 1000;

  const worker = async (i) => {
    let c = await startLeaseClient(url, `stress-${i}`, logger, 200, nodeOf(i));
    while (Date.now() < deadline) {
      const t0 = process.hrtime.bigint();
      let lease;
      try {
        lease = await c.client.acquire({
          holder: `stress-${i}`,
          priority: PRIORITIES[i % 3],
          ttlMs: a.ttlMs,
          waitMs: 30_000,
        });
      } catch (e) {
        counts.errors++;
        continue;
      }
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      counts.grants++;
      live.add(lease);
      lease.lost.then((r) => {
        counts.lost++;
        lostReasons[r.reason] = (lostReasons[r.reason] ?? 0) + 1;
      });
      // Hold across renewals sometimes (up to 2 ttl), mostly briefly.
      await sleep(Math.random() < 0.2 ? Math.random() * 2 * a.ttlMs : Math.random() * 100);
      if (Math.random() < a.crashRate) {
        counts.crashes++;
        lease.abandon(); // stops renewing, never releases; then the "process" dies
        await c.bus.close();
        c = await startLeaseClient(url, `stress-${i}-r${counts.crashes}`, logger, 200, nodeOf(i));
      } else {
        await lease.release();
        counts.releases++;
      }
      live.delete(lease);
    }
    await c.client.close();
    await c.bus.close();
  };
  await Promise.all(Array.from({ length: a.clients }, (_, i) => worker(i)));

  // The service's own latency, without queueing: one client, tokens always free.
  const solo = await startLeaseClient(url, 'stress-solo', logger, 200);
  const soloLatencies = [];
  for (let i = 0; i < 200; i++) {
    const t0 = process.hrtime.bigint();
    const l = await solo.client.acquire({ holder: 'stress-solo', priority: 'train', ttlMs: a.ttlMs, waitMs: 5000 });
    soloLatencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    live.add(l);
    await l.release();
    live.delete(l);
  }
  await solo.client.close();
  await solo.bus.close();
  clearInterval(sampler);
  await sleep(200);
  await monitor.stop();
  const { GpuLeaseService } = require(path.join(root, 'apps/gateway/src/gpu-leases/gpu-lease.service.ts'));
  const { LeaseStore } = require(path.join(root, 'apps/gateway/src/gpu-leases/lease-store.ts'));
  const perGateway = services.map((s) => ({
    grantsDecided: s.get(GpuLeaseService).grantsDecided,
    casConflicts: s.get(LeaseStore).casConflicts,
  }));
  for (const s of services) await s.close();
  if (nats) await nats.stop();
  fs.rmSync(dir, { recursive: true, force: true });

  const sorted = latencies.sort((x, y) => x - y);
  const r2 = (x) => (x === null ? null : Math.round(x * 100) / 100);
  const result = {
    at: new Date().toISOString(),
    settings: {
      seconds: a.seconds,
      clients: a.clients,
      tokens: a.tokens,
      ttlMs: a.ttlMs,
      crashRate: a.crashRate,
      gateways: a.gateways,
      nodes: a.nodes,
    },
    note0: 'tokens is the pool of each node; maxSimultaneousHolders is the largest number on one node',
    maxSimultaneousHolders: Math.max(...Object.values(monitor.maxHoldersByNode()), clientMax, 0),
    maxHoldersInServiceTable: Math.max(...Object.values(monitor.maxHoldersByNode()), 0),
    maxHoldersClientSide: clientMax,
    maxHoldersByNode: { serviceTable: monitor.maxHoldersByNode(), clientSide: clientMaxByNode },
    tableRevisionsObserved: monitor.revisions(),
    invariantHeld: Math.max(...Object.values(monitor.maxHoldersByNode()), clientMax, 0) <= a.tokens,
    gateways: perGateway,
    ...counts,
    lostReasons,
    grantLatencyMs: {
      p50: r2(pct(sorted, 50)),
      p95: r2(pct(sorted, 95)),
      p99: r2(pct(sorted, 99)),
      max: r2(sorted.at(-1) ?? null),
    },
    note: 'grantLatencyMs: acquire() call to grant under contention, queueing for a token included (lower priorities wait behind higher ones); uncontendedGrantLatencyMs: 200 sequential acquire+release by one client, tokens free',
    uncontendedGrantLatencyMs: (() => {
      const s2 = soloLatencies.sort((x, y) => x - y);
      return { p50: r2(pct(s2, 50)), p95: r2(pct(s2, 95)), p99: r2(pct(s2, 99)), max: r2(s2.at(-1) ?? null) };
    })(),
    // Service, clients and monitor share this process: a renew timer that fires later than the
    // ttl (an overloaded machine) loses its lease, safely; this shows how loaded it was.
    eventLoopDelayMs: { p99: r2(lag.percentile(99) / 1e6), max: r2(lag.max / 1e6) },
    machine: { cpus: os.cpus().length, loadAverage1m: r2(os.loadavg()[0]), node: process.version },
  };
  fs.mkdirSync(path.dirname(a.out), { recursive: true });
  fs.writeFileSync(a.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `max simultaneous holders: ${result.maxSimultaneousHolders} (tokens ${a.tokens}; service table ${result.maxHoldersInServiceTable}, client side ${clientMax})\n` +
      `grants ${counts.grants}, crashes ${counts.crashes}, p99 grant latency ${result.grantLatencyMs.p99} ms under contention (p50 ${result.grantLatencyMs.p50} ms), ` +
      `p99 ${result.uncontendedGrantLatencyMs.p99} ms uncontended\n` +
      `written to ${path.relative(process.cwd(), a.out)}\n`,
  );
  process.exit(result.invariantHeld ? 0 : 1);
}

main().catch((e) => {
  process.stderr.write(`lease-stress failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
