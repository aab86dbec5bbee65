#!/usr/bin/env node
'use strict';
/**
 * Why the data plane copies into and out of its SharedArrayBuffer slots with `copyBytes`
 * (Buffer#fill, Node's C++ memcpy) and not with Buffer#copy / TypedArray#set (V8's relaxed
 * atomic word copy for shared memory). A benchmark, not a test; alternating rounds, one run:
 *
 *   body  an HTTP server (child process) reads request bodies off the socket chunk by chunk into
 *         a shared slot (as `readBody` does) with Buffer#copy, then with copyBytes, and into an
 *         unshared buffer with Buffer#copy; the client sends the three model shapes' bodies
 *   worker a worker thread copies a slot the main thread has just written into its scratch, and
 *         its result back into a slot (as the ort-node worker does), with TypedArray#set and with
 *         copyBytes
 *
 *   node scripts/bench-shared-copy.js [--rounds 4] [--requests 40] [--out bench/results/shared-copy.json]
 *
 * Needs the build (dist/). Every wait is bounded.
 */
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { fork } = require('node:child_process');
const { Worker } = require('node:worker_threads');

const ROOT = path.resolve(__dirname, '..');
const { copyBytes } = require(path.join(ROOT, 'dist/apps/inference/src/buffers/shared-buffer-pool.js'));

// request bodies of the load benchmark's three shapes (float32 input + a small JSON header)
const SHAPES = { 'yolov8n 640': 3 * 640 * 640 * 4, classifier: 3 * 224 * 224 * 4, 'text recognizer': 3 * 48 * 320 * 4 };
const BODY_ARMS = ['shared, Buffer#copy', 'shared, copyBytes', 'unshared, Buffer#copy'];

function bodyServer() {
  // child: one slot per arm, each request's chunks copied in as they arrive; per request it keeps
  // the time spent in the copies and from the first byte to the last
  const arm = process.argv[3];
  const shared = arm.startsWith('shared');
  const viaHelper = arm.includes('copyBytes');
  let slot = Buffer.alloc(0);
  const copies = [];
  const reads = [];
  const server = http.createServer((req, res) => {
    const n = Number(req.headers['content-length']);
    if (slot.length < n) slot = shared ? Buffer.from(new SharedArrayBuffer(n)) : Buffer.allocUnsafeSlow(n);
    let at = 0;
    let spent = 0;
    const t0 = performance.now();
    req.on('data', (c) => {
      const t = performance.now();
      if (viaHelper) copyBytes(slot, c, at);
      else c.copy(slot, at);
      spent += performance.now() - t;
      at += c.length;
    });
    req.on('end', () => {
      copies.push(spent);
      reads.push(performance.now() - t0);
      res.end('ok');
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', () => {
    process.send({ copies: copies.splice(0), reads: reads.splice(0) });
  });
}

function post(port, agent, body) {
  return new Promise((resolve, reject) => {
    const r = http.request(
      { port, method: 'POST', agent, headers: { 'content-length': body.length }, timeout: 30_000 },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    r.on('timeout', () => r.destroy(new Error('request timed out')));
    r.on('error', reject);
    r.end(body);
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};
const round = (x, d = 3) => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

async function bodies(rounds, requests) {
  const servers = {};
  for (const arm of BODY_ARMS) {
    const child = fork(__filename, ['--server', arm], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    servers[arm] = { child, port: (await once(child)).port, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) };
  }
  const out = {};
  try {
    for (const [shape, bytes] of Object.entries(SHAPES)) {
      const body = Buffer.alloc(bytes + 200, 7);
      const acc = Object.fromEntries(BODY_ARMS.map((a) => [a, { copies: [], reads: [] }]));
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? [...BODY_ARMS].reverse() : BODY_ARMS;
        for (const arm of order) {
          const s = servers[arm];
          for (let i = 0; i < requests; i++) await post(s.port, s.agent, body);
          s.child.send('stats');
          const st = await once(s.child);
          acc[arm].copies.push(...st.copies.slice(2)); // the first requests grow the slot
          acc[arm].reads.push(...st.reads.slice(2));
        }
      }
      out[shape] = {
        bodyBytes: body.length,
        ...Object.fromEntries(
          BODY_ARMS.map((a) => [
            a,
            {
              copyMsP50: round(median(acc[a].copies)),
              bodyReadMsP50: round(median(acc[a].reads)),
              requests: acc[a].reads.length,
            },
          ]),
        ),
      };
      const shared = out[shape]['shared, Buffer#copy'].copyMsP50;
      out[shape].copyBytesSpeedup = round(shared / out[shape]['shared, copyBytes'].copyMsP50, 2);
      console.error(`[bench-shared-copy] body ${shape}: ${JSON.stringify(out[shape])}`);
    }
  } finally {
    for (const s of Object.values(servers)) {
      s.agent.destroy();
      s.child.kill();
    }
  }
  return out;
}

function once(child, ms = 60_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('child did not answer in time')), ms);
    child.once('message', (m) => {
      clearTimeout(t);
      resolve(m);
    });
  });
}

/** A worker copies a slot the main thread just wrote into its scratch, and a result back. */
async function workerCopies(rounds) {
  const src = `
    const { parentPort } = require('node:worker_threads');
    const { copyBytes } = require(${JSON.stringify(path.join(ROOT, 'dist/apps/inference/src/buffers/shared-buffer-pool.js'))});
    parentPort.on('message', ({ sab, how }) => {
      const shared = new Uint8Array(sab);
      const scratch = new Uint8Array(new ArrayBuffer(sab.byteLength));
      const t0 = performance.now();
      if (how === 'set') scratch.set(shared); else copyBytes(scratch, shared);
      const t1 = performance.now();
      if (how === 'set') shared.set(scratch); else copyBytes(shared, scratch);
      parentPort.postMessage({ inMs: t1 - t0, outMs: performance.now() - t1 });
    });`;
  const w = new Worker(src, { eval: true });
  const out = {};
  try {
    for (const [shape, bytes] of Object.entries(SHAPES)) {
      const sab = new SharedArrayBuffer(bytes);
      const acc = { set: { in: [], out: [] }, copyBytes: { in: [], out: [] } };
      for (let r = 0; r < rounds * 10; r++) {
        for (const how of r % 2 ? ['copyBytes', 'set'] : ['set', 'copyBytes']) {
          new Uint8Array(sab).fill(r & 255); // the main thread writes the slot, as readBody does
          w.postMessage({ sab, how });
          const m = await once(w);
          acc[how].in.push(m.inMs);
          acc[how].out.push(m.outMs);
        }
      }
      out[shape] = {
        bytes,
        'TypedArray#set': {
          slotToScratchMsP50: round(median(acc.set.in)),
          scratchToSlotMsP50: round(median(acc.set.out)),
        },
        copyBytes: {
          slotToScratchMsP50: round(median(acc.copyBytes.in)),
          scratchToSlotMsP50: round(median(acc.copyBytes.out)),
        },
      };
      console.error(`[bench-shared-copy] worker ${shape}: ${JSON.stringify(out[shape])}`);
    }
  } finally {
    await w.terminate();
  }
  return out;
}

async function main() {
  const a = { rounds: 4, requests: 40, out: path.join(ROOT, 'bench/results/shared-copy.json') };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in a) || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    a[k] = k === 'out' ? path.resolve(argv[i + 1]) : Number(argv[i + 1]);
  }
  const startedAt = new Date().toISOString();
  const load = os.loadavg()[0];
  const doc = {
    benchmark: 'shared-copy',
    startedAt,
    method:
      'alternating rounds in one run; body: an HTTP server in a child process reads each body chunk by chunk into a reused slot, the client (this process) sends them one at a time over loopback keep-alive; worker: a worker thread copies a SharedArrayBuffer slot the main thread has just written into scratch and back',
    environment: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      loadavg: [round(load, 2)],
    },
    body: await bodies(a.rounds, a.requests),
    worker: await workerCopies(a.rounds),
  };
  doc.environment.loadavg.push(round(os.loadavg()[0], 2));
  fs.mkdirSync(path.dirname(a.out), { recursive: true });
  fs.writeFileSync(`${a.out}.tmp`, JSON.stringify(doc, null, 2) + '\n');
  fs.renameSync(`${a.out}.tmp`, a.out);
  console.error(`[bench-shared-copy] wrote ${path.relative(process.cwd(), a.out)}`);
}

if (process.argv[2] === '--server') bodyServer();
else
  main().catch((e) => {
    console.error(`[bench-shared-copy] ${e.stack || e.message}`);
    process.exit(1);
  });
