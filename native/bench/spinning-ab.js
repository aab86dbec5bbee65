#!/usr/bin/env node
'use strict';
/**
 * A/B of the core's session config (a benchmark, not a test): one core per arm, each started with
 * its own CVP_SESSION_CONFIG ("" = the core's defaults), the same model loaded in each with the
 * same instances x intra-op threads, driven from one Node process through libs/native-client in
 * alternating rounds (order flipped every round) at each concurrency. Reports p50 latency,
 * throughput and the core's CPU per request per arm, and each arm's ratios to the first.
 *
 *   node native/bench/spinning-ab.js [--model text-recognizer|yolov8n] [--variant fp32] [--level all]
 *        [--threads 2] [--instances 1] [--concurrency 1,2,4] [--rounds 6] [--requests 20]
 *        [--arms '{"default":"","no-spin":"session.intra_op.allow_spinning=0"}'] [--out FILE]
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requireTs, prepareModels, startCore, stopCore, percentile, round, cpuMsOf, ROOT } = require('../scripts/native-vs-ort.js');

function parseArgs(argv) {
  const a = {
    model: 'text-recognizer',
    variant: 'fp32',
    level: 'all',
    threads: 2,
    instances: 1,
    concurrency: '1,2,4',
    rounds: 6,
    requests: 20,
    arms: '{"default":"","no-spin":"session.intra_op.allow_spinning=0"}',
    out: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in a) || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    a[k] = typeof a[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return { ...a, concurrency: a.concurrency.split(',').map(Number), arms: JSON.parse(a.arms) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const nc = requireTs('libs/native-client/src/index.ts');
  const { seededTensor } = requireTs('libs/measure/src/rng.ts');
  const prep = prepareModels(args.model);
  const modelPath = prep.variants[args.variant];
  if (!modelPath) throw new Error(`no ${args.variant} variant: ${JSON.stringify(prep.skipped)}`);
  const data = seededTensor(
    prep.shape.reduce((x, y) => x * y, 1),
    7,
  );
  const arms = [];
  const started = new Date().toISOString();
  const load0 = os.loadavg();
  const levels = {};
  try {
    for (const [name, config] of Object.entries(args.arms)) {
      const core = await startCore('info', null, { ...process.env, CVP_SESSION_CONFIG: config });
      const client = new nc.NativeCoreClient({ address: `127.0.0.1:${core.port}` });
      arms.push({ name, config, core, client });
      await client.waitForReady(15_000);
      await client.loadModel(
        {
          id: 'm',
          path: modelPath,
          engine: { provider: 'cpu', graphOptimization: args.level, intraOpThreads: args.threads, interOpThreads: 1 },
          batching: { maxBatch: 1, queueCapacity: 1024, instanceCount: args.instances },
          warmup: false,
        },
        300_000,
      );
    }
    const inputName = (await arms[0].client.modelMetadata({ id: 'm' }, 10_000)).inputs[0].name;
    const req = {
      modelId: 'm',
      inputs: [{ name: inputName, datatype: 'FP32', shape: prep.shape, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }],
    };
    for (const a of arms) for (let i = 0; i < 3; i++) await a.client.infer(req, 120_000);
    for (const users of args.concurrency) {
      const acc = Object.fromEntries(arms.map((a) => [a.name, { lat: [], wallMs: 0, n: 0, coreCpuMs: 0 }]));
      const n = Math.max(users * 2, args.requests);
      for (let r = 0; r < args.rounds; r++) {
        for (const a of r % 2 ? [...arms].reverse() : arms) {
          const s = acc[a.name];
          let next = 0;
          const cpu0 = cpuMsOf(a.core.proc.pid);
          const t0 = process.hrtime.bigint();
          await Promise.all(
            Array.from({ length: users }, async () => {
              while (next < n) {
                next++;
                const t = process.hrtime.bigint();
                await a.client.infer(req, 120_000);
                s.lat.push(Number(process.hrtime.bigint() - t) / 1e6);
              }
            }),
          );
          s.wallMs += Number(process.hrtime.bigint() - t0) / 1e6;
          s.n += n;
          s.coreCpuMs += cpuMsOf(a.core.proc.pid) - cpu0;
        }
      }
      const out = {};
      for (const a of arms) {
        const s = acc[a.name];
        const sorted = [...s.lat].sort((x, y) => x - y);
        out[a.name] = {
          p50Ms: round(percentile(sorted, 50)),
          p95Ms: round(percentile(sorted, 95)),
          throughput: round((s.n * 1000) / s.wallMs, 2),
          coreCpuMsPerRequest: round(s.coreCpuMs / s.n),
        };
      }
      const base = out[arms[0].name];
      for (const a of arms.slice(1)) {
        out[a.name].p50VsFirst = round(out[a.name].p50Ms / base.p50Ms);
        out[a.name].throughputVsFirst = round(out[a.name].throughput / base.throughput);
      }
      out.loadavg = round(os.loadavg()[0], 2);
      levels[`c${users}`] = out;
      console.error(`[spinning-ab] c${users}: ${JSON.stringify(out)}`);
    }
  } finally {
    for (const a of arms) {
      a.client.close();
      await stopCore(a.core);
    }
  }
  const doc = {
    benchmark: 'native-spinning-ab',
    model: args.model,
    variant: args.variant,
    level: args.level,
    threads: args.threads,
    instances: args.instances,
    arms: args.arms,
    rounds: args.rounds,
    started,
    finished: new Date().toISOString(),
    environment: {
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      loadavgBefore: load0.map((x) => round(x, 2)),
      loadavgAfter: os.loadavg().map((x) => round(x, 2)),
    },
    concurrency: levels,
  };
  const text = JSON.stringify(doc, null, 2) + '\n';
  if (args.out) {
    const out = path.resolve(ROOT, args.out);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(`${out}.tmp`, text);
    fs.renameSync(`${out}.tmp`, out);
  }
  process.stdout.write(text);
}

main().catch((e) => {
  console.error(`[spinning-ab] ${e.stack || e.message}`);
  process.exit(1);
});
