#!/usr/bin/env node
'use strict';
/**
 * Puts and gets one artifact (100 MB by default) through the JetStream Object Store artifact store
 * between two "hosts" (two cache dirs, two NATS connections) on a real nats-server, in interleaved
 * rounds with the baselines a shared mount would cost on the same disk (a file copy) and the
 * SHA-256 of the file alone. Samples the process RSS during each operation to show that neither
 * put nor get holds the file in memory. Writes bench/results/artifact-store.json.
 *
 *   node scripts/bench-artifact-store.js [--mb 100] [--rounds 3] [--chunk-kib 128,1024] [--out file]
 *
 * Starts its own nats-server (JetStream, file storage) in a temp dir. Loads the TypeScript sources
 * directly (no build needed).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { createHash, randomBytes, randomUUID } = require('node:crypto');

const root = path.resolve(__dirname, '..');
require(path.join(root, 'libs/jobs/src/testing/register-ts.js'));
const { connect } = require('nats');
const { startNatsServer } = require('./lib/nats-server');
const { ObjectStoreArtifactStore } = require(path.join(root, 'libs/artifacts/src/index.ts'));

function args() {
  const a = { mb: 100, rounds: 3, chunkKib: [128, 1024], out: path.join(root, 'bench/results/artifact-store.json') };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (k === '--mb') a.mb = Number(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--chunk-kib') a.chunkKib = v.split(',').map(Number);
    else if (k === '--out') a.out = path.resolve(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!(a.mb > 0 && a.mb <= 4096)) throw new Error('--mb must be in (0, 4096]');
  if (!(a.rounds >= 1 && a.rounds <= 20)) throw new Error('--rounds must be 1..20');
  if (!a.chunkKib.every((c) => c >= 16 && c <= 1024)) throw new Error('--chunk-kib values must be 16..1024');
  return a;
}

const r2 = (x) => Math.round(x * 100) / 100;
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs fn, returning its seconds and the peak RSS growth over the RSS before it (sampled every 20 ms). */
async function measure(fn) {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = process.hrtime.bigint();
  try {
    await fn();
  } finally {
    clearInterval(t);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  peak = Math.max(peak, process.memoryUsage().rss);
  return { s, rssGrowthMiB: (peak - base) / 2 ** 20 };
}

/** Writes `mb` MB of random bytes in 1 MiB blocks (never the whole file in memory). */
function writeRandomFile(file, mb) {
  const fd = fs.openSync(file, 'w');
  try {
    let left = mb * 1e6;
    while (left > 0) {
      const n = Math.min(left, 1 << 20);
      fs.writeSync(fd, randomBytes(n));
      left -= n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function sha256(file) {
  const h = createHash('sha256');
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c);
  return h.digest('hex');
}

async function main() {
  const a = args();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvp-artifact-bench-'));
  const nats = await startNatsServer({ storeDir: path.join(dir, 'nats'), logFile: path.join(dir, 'nats.log') });
  const conns = [];
  try {
    const hostA = path.join(dir, 'host-a');
    const hostB = path.join(dir, 'host-b');
    fs.mkdirSync(path.join(hostA, 'models'), { recursive: true });
    fs.mkdirSync(hostB, { recursive: true });
    const file = path.join(hostA, 'models', 'model.onnx');
    writeRandomFile(file, a.mb);
    const bucket = `bench-${randomUUID().slice(0, 8)}`;
    const stores = {};
    for (const kib of a.chunkKib) {
      const open = async (host) => {
        const nc = await connect({ servers: nats.url });
        conns.push(nc);
        return ObjectStoreArtifactStore.open(nc, {
          bucket,
          replicas: 1,
          cacheDir: path.join(host, `cache-${kib}`),
          cacheMaxBytes: 4 * a.mb * 1e6,
          timeoutMs: 30000,
          chunkBytes: kib * 1024,
        });
      };
      stores[kib] = { a: await open(hostA), b: await open(hostB) };
    }

    const series = {};
    const add = (name, m) => (series[name] ??= []).push(m);
    const loads = [os.loadavg()[0]];
    for (let round = 0; round < a.rounds; round++) {
      for (const kib of a.chunkKib) {
        // New content each round, so neither the store nor a cache can answer from a previous one.
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, randomBytes(16), 0, 16, 0);
        fs.closeSync(fd);
        const key = `models/r${round}-c${kib}/model.onnx`;
        const { a: sa, b: sb } = stores[kib];
        let info;
        add(`put chunk ${kib} KiB`, await measure(async () => (info = await sa.publish(key, file))));
        let lease;
        add(`get chunk ${kib} KiB`, await measure(async () => (lease = await sb.materialize(key))));
        if (lease.sha256 !== info.sha256 || fs.statSync(lease.path).size !== a.mb * 1e6) {
          throw new Error(`round ${round}: got a different file back`);
        }
        lease.release();
        await sb.cache.drop(info.sha256);
        await sa.cache.drop(info.sha256);
        await sa.remove(key); // keeps the server's disk use to one copy at a time
      }
      const copy = path.join(hostB, 'copy.onnx');
      add('file copy (shared-mount baseline)', await measure(() => fs.promises.copyFile(file, copy)));
      fs.rmSync(copy);
      add('sha256 of the file alone', await measure(() => sha256(file)));
      loads.push(os.loadavg()[0]);
    }

    const mb = a.mb;
    const summary = Object.fromEntries(
      Object.entries(series).map(([name, ms]) => {
        const s = median(ms.map((m) => m.s));
        return [
          name,
          {
            medianSeconds: r2(s),
            medianMBps: r2(mb / s),
            seconds: ms.map((m) => r2(m.s)),
            peakRssGrowthMiB: r2(Math.max(...ms.map((m) => m.rssGrowthMiB))),
          },
        ];
      }),
    );
    const copyS = summary['file copy (shared-mount baseline)'].medianSeconds;
    const ratios = Object.fromEntries(
      Object.entries(summary)
        .filter(([n]) => n.startsWith('put') || n.startsWith('get'))
        .map(([n, v]) => [n, r2(v.medianSeconds / copyS)]),
    );
    const result = {
      at: new Date().toISOString(),
      settings: { megabytes: mb, rounds: a.rounds, chunkKib: a.chunkKib, replicas: 1, storage: 'file' },
      results: summary,
      timeRelativeToFileCopy: ratios,
      note:
        'One nats-server (JetStream, file storage, R1) on loopback, client and server on the same 2 shared cores and disk. ' +
        'put = ArtifactStore.publish (read + SHA-256 + chunk publishes, acks awaited every 8 MiB, metadata, read-back); ' +
        'get = materialize on the other host (pull consumer in 4 MiB batches + SHA-256 + write + fsync + rename into its cache). ' +
        'Rounds interleave put/get/copy/hash. ' +
        'peakRssGrowthMiB: RSS above the value before the operation, sampled every 20 ms.',
      machine: {
        cpus: os.cpus().length,
        loadAverage1m: loads.map(r2),
        node: process.version,
        natsServer: execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim(),
      },
    };
    fs.mkdirSync(path.dirname(a.out), { recursive: true });
    fs.writeFileSync(`${a.out}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
    fs.renameSync(`${a.out}.tmp`, a.out);
    for (const [n, v] of Object.entries(summary)) {
      process.stdout.write(
        `${n.padEnd(36)} ${String(v.medianMBps).padStart(8)} MB/s  (peak RSS +${v.peakRssGrowthMiB} MiB)\n`,
      );
    }
    process.stdout.write(
      `load average ${loads.map(r2).join(' -> ')}; written to ${path.relative(process.cwd(), a.out)}\n`,
    );
  } finally {
    for (const nc of conns) await nc.close().catch(() => undefined);
    await nats.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench-artifact-store failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
