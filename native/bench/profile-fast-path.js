#!/usr/bin/env node
'use strict';
/**
 * Where a request's time goes on the default fast path (a profile, not a test): Node calls the
 * core through libs/native-client at concurrency 1, in rounds alternating with onnxruntime-node in
 * process on the same model file and session options, and each stage is timed:
 *
 *   client  write the inputs into the region (write(2)), read the outputs out of it (read(2))
 *   core    read the request off the socket, parse it, handle it (of which: the session run),
 *           serialize the answer, write it (the core's per-connection counters, logged when the
 *           connection closes)
 *   rest    latency minus all of the above: encoding and decoding the small messages in JS, the
 *           two thread wake-ups (core thread, Node's event loop), promise resolution
 *   floor   the same hop with nothing in it: a 1x4-float model through the core and in process
 *
 *   node native/bench/profile-fast-path.js [--model text-recognizer|yolov8n] [--variant fp32|int8-static]
 *        [--level all] [--threads 1] [--requests 40] [--rounds 6] [--out FILE]
 *
 * Prints one JSON document (and writes it to --out when given). Every wait is bounded; the core is
 * stopped at the end.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requireTs, prepareModels, startCore, stopCore, percentile, round, cpuMsOf, ROOT } = require('../scripts/native-vs-ort.js');

function parseArgs(argv) {
  const a = { model: 'text-recognizer', variant: 'fp32', level: 'all', threads: 1, requests: 40, rounds: 6, out: null };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in a) || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    a[k] = typeof a[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return a;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const nc = requireTs('libs/native-client/src/index.ts');
  const { seededTensor } = requireTs('libs/measure/src/rng.ts');
  const ort = require('onnxruntime-node');
  const prep = prepareModels(args.model);
  const modelPath = prep.variants[args.variant];
  if (!modelPath) throw new Error(`no ${args.variant} variant: ${JSON.stringify(prep.skipped)}`);

  // the client's two system calls on the region, timed where it makes them
  const clientUs = { write: 0, read: 0 };
  const timed = (name, key) => {
    const orig = fs[name];
    fs[name] = function (...a) {
      const t = process.hrtime.bigint();
      try {
        return orig.apply(this, a);
      } finally {
        clientUs[key] += Number(process.hrtime.bigint() - t) / 1000;
      }
    };
  };
  timed('writeSync', 'write');
  timed('readSync', 'read');
  // when the request frame leaves Node and when the answer's first bytes reach it (the client
  // corks the socket, writes the frame and uncorks it)
  const net = require('node:net');
  const wire = { sent: 0n, received: 0n, preUs: 0, waitUs: 0, postUs: 0 };
  const uncork = net.Socket.prototype.uncork;
  net.Socket.prototype.uncork = function () {
    // the last frame sent counts: a request that first makes its region sends two
    wire.sent = process.hrtime.bigint();
    wire.received = 0n;
    return uncork.call(this);
  };
  const connect = net.connect;
  net.connect = function (...a) {
    const sock = connect.apply(this, a);
    sock.prependListener('data', () => {
      if (wire.received === 0n) wire.received = process.hrtime.bigint();
    });
    return sock;
  };

  const closed = [];
  const core = await startCore('info', (line) => {
    if (line.includes('fast socket: connection closed')) closed.push(JSON.parse(line));
  });
  const newClient = () => new nc.NativeCoreClient({ address: `127.0.0.1:${core.port}` });
  // The core logs a connection's counters when it closes: wait for that line (bounded).
  const closedLine = async (before) => {
    for (let i = 0; i < 150 && closed.length <= before; i++) await new Promise((r) => setTimeout(r, 20));
    if (closed.length <= before) throw new Error('the core did not log the closed connection within 3 s');
    return closed[closed.length - 1];
  };
  const client = newClient();
  const load0 = os.loadavg()[0];
  let doc;
  try {
    await client.waitForReady(15_000);
    const data = seededTensor(
      prep.shape.reduce((x, y) => x * y, 1),
      7,
    );
    const session = await ort.InferenceSession.create(modelPath, {
      graphOptimizationLevel: args.level,
      intraOpNumThreads: args.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, prep.shape) };
    await client.loadModel(
      {
        id: 'p',
        path: modelPath,
        engine: { provider: 'cpu', graphOptimization: args.level, intraOpThreads: args.threads, interOpThreads: 1 },
        batching: { maxBatch: 1, queueCapacity: 16, instanceCount: 1 },
        warmup: false,
      },
      300_000,
    );
    const req = {
      modelId: 'p',
      inputs: [
        { name: session.inputNames[0], datatype: 'FP32', shape: prep.shape, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) },
      ],
    };
    // Warm-up on a connection of its own, so that the measured connection's counters (logged
    // when it closes) cover the measured requests and nothing else: a first run is slower.
    const warm = newClient();
    for (let i = 0; i < 3; i++) {
      await session.run(feeds);
      await warm.infer(req, 120_000);
    }
    warm.close();
    await closedLine(closed.length);
    closed.length = 0;
    const stats0 = (await client.stats({ modelId: 'p' }, 10_000)).models[0].computeUs;
    const lat = { ort: [], native: [] };
    let nodeCpu = 0;
    let coreCpu = 0;
    clientUs.write = clientUs.read = 0;
    wire.preUs = wire.waitUs = wire.postUs = 0;
    for (let r = 0; r < args.rounds; r++) {
      const order = r % 2 ? ['native', 'ort'] : ['ort', 'native'];
      for (const e of order) {
        const c0 = process.cpuUsage();
        const k0 = cpuMsOf(core.proc.pid);
        for (let i = 0; i < args.requests; i++) {
          const t = process.hrtime.bigint();
          wire.received = 0n;
          if (e === 'ort') await session.run(feeds);
          else await client.infer(req, 120_000);
          const end = process.hrtime.bigint();
          lat[e].push(Number(end - t) / 1e6);
          if (e === 'native') {
            wire.preUs += Number(wire.sent - t) / 1000;
            wire.waitUs += Number(wire.received - wire.sent) / 1000;
            wire.postUs += Number(end - wire.received) / 1000;
          }
        }
        if (e === 'native') {
          const c = process.cpuUsage(c0);
          nodeCpu += (c.user + c.system) / 1000;
          coreCpu += cpuMsOf(core.proc.pid) - k0;
        }
      }
    }
    const stats1 = (await client.stats({ modelId: 'p' }, 10_000)).models[0].computeUs;
    await session.release();
    client.close();
    const measured = await closedLine(0);
    const floor = await measureFloor(newClient, closedLine, closed, ort, args);
    const n = lat.native.length;
    const mean = (xs) => xs.reduce((x, y) => x + y, 0) / xs.length;
    const per = (k) => round(measured[k] / measured.requests / 1000, 3);
    const stages = {
      clientWriteInputMs: round(clientUs.write / n / 1000, 3),
      coreReadRequestMs: per('read_us'),
      coreParseMs: per('parse_us'),
      coreHandleMs: per('handle_us'),
      coreRunMs: per('run_us'),
      coreSerializeMs: per('serialize_us'),
      coreWriteAnswerMs: per('write_us'),
      clientReadOutputMs: round(clientUs.read / n / 1000, 3),
    };
    const accounted = Object.entries(stages)
      .filter(([k]) => k !== 'coreRunMs')
      .reduce((x, [, v]) => x + v, 0);
    const sorted = (xs) => [...xs].sort((x, y) => x - y);
    doc = {
      benchmark: 'profile-fast-path',
      model: args.model,
      variant: args.variant,
      level: args.level,
      threads: args.threads,
      requests: n,
      rounds: args.rounds,
      at: new Date().toISOString(),
      loadavg: [round(load0, 2), round(os.loadavg()[0], 2)],
      ortNode: { p50Ms: round(percentile(sorted(lat.ort), 50)), meanMs: round(mean(lat.ort)) },
      native: {
        p50Ms: round(percentile(sorted(lat.native), 50)),
        meanMs: round(mean(lat.native)),
        engineMsFromStats: round((stats1.sum - stats0.sum) / Math.max(1, stats1.count - stats0.count) / 1000),
        nodeCpuMsPerRequest: round(nodeCpu / n),
        coreCpuMsPerRequest: round(coreCpu / n),
      },
      stages,
      floor,
      restMs: round(mean(lat.native) - accounted, 3),
      // Node's view: start -> frame sent (encode, write(2) of the inputs), sent -> answer's first
      // bytes (the core's whole handling plus both wake-ups), answer -> caller (decode, read(2) of
      // the outputs, promise hops); waitMs minus the core's read..write stages is the wake-ups
      node: {
        beforeSendMs: round(wire.preUs / n / 1000, 3),
        sendToAnswerMs: round(wire.waitUs / n / 1000, 3),
        answerToCallerMs: round(wire.postUs / n / 1000, 3),
        wakeUpsMs: round(
          wire.waitUs / n / 1000 - (per('read_us') + per('parse_us') + per('handle_us') + per('serialize_us') + per('write_us')),
          3,
        ),
      },
    };
  } finally {
    client.close();
    await stopCore(core);
  }
  const text = JSON.stringify(doc, null, 2) + '\n';
  if (args.out) {
    fs.mkdirSync(path.dirname(path.resolve(ROOT, args.out)), { recursive: true });
    fs.writeFileSync(`${args.out}.tmp`, text);
    fs.renameSync(`${args.out}.tmp`, args.out);
  }
  process.stdout.write(text);
}

/**
 * The serving path's fixed cost per request, apart from any tensor: the same tiny model (an
 * affine map of 4 floats, microseconds of compute) called in process through onnxruntime-node and
 * through the core at one caller, alternating rounds. The difference of the means is what one
 * hop (encode, two wake-ups, decode, promise hops) costs on this machine.
 */
async function measureFloor(newClient, closedLine, closed, ort, args) {
  const model = path.join(ROOT, 'native/tests/fixtures/affine_fixed.onnx');
  const x = new Float32Array([1, 2, 3, 4]);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const feeds = { x: new ort.Tensor('float32', x, [1, 4]) };
  const client = newClient();
  const lat = { ort: [], native: [] };
  const before = closed.length;
  try {
    await client.loadModel(
      { id: 'floor', path: model, engine: { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 }, batching: { maxBatch: 1, queueCapacity: 16, instanceCount: 1 }, warmup: false },
      60_000,
    );
    const req = { modelId: 'floor', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: Buffer.from(x.buffer) }] };
    for (let i = 0; i < 20; i++) {
      await session.run(feeds);
      await client.infer(req, 10_000);
    }
    const n = Math.max(50, args.requests * 5);
    for (let r = 0; r < args.rounds; r++) {
      for (const e of r % 2 ? ['native', 'ort'] : ['ort', 'native']) {
        for (let i = 0; i < n; i++) {
          const t = process.hrtime.bigint();
          if (e === 'ort') await session.run(feeds);
          else await client.infer(req, 10_000);
          lat[e].push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      }
    }
  } finally {
    client.close();
    await session.release();
  }
  const served = await closedLine(before);
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const p50 = (xs) => percentile([...xs].sort((a, b) => a - b), 50);
  return {
    model: 'native/tests/fixtures/affine_fixed.onnx (1x4 floats)',
    requestsEach: lat.ort.length,
    ortNodeP50Ms: round(p50(lat.ort), 3),
    nativeP50Ms: round(p50(lat.native), 3),
    // what the core itself spent per request (read .. write), the rest of the hop is Node and the kernel
    coreMsPerRequest: round((served.read_us + served.parse_us + served.handle_us + served.serialize_us + served.write_us) / served.requests / 1000, 3),
    hopMsPerRequest: round(mean(lat.native) - mean(lat.ort), 3),
  };
}

main().catch((e) => {
  console.error(`[profile-fast-path] ${e.stack || e.message}`);
  process.exit(1);
});
