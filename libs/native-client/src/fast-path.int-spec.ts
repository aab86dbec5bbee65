/**
 * Integration: infer()'s fast path against the real native/build/cvp-core (InferStream, the
 * stream's shared-memory region, fallbacks, deadlines, cleanup), on committed fixture models.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { isInvalidArgument, NativeCoreClient, type NativeTensor } from './native-client';
import { type CoreProcess, killCore, startCore } from './testing/core-process';

const root = path.resolve(__dirname, '../../..');
const fixture = (f: string) => path.join(root, 'native/tests/fixtures', f);

const f32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
const floats = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
const x = (values: number[], batch = 1): NativeTensor => ({
  name: 'x',
  datatype: 'FP32',
  shape: [batch, 4],
  data: f32(Array.from({ length: batch }, () => values).flat()),
});
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: number }) => e.code,
  );

/** Mappings of the core's stream regions (deleted names included) in its address space. */
function coreRegionMappings(pid: number): number {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => l.includes('/dev/shm/cvp-core-')).length;
}
/** Stream regions mapped into this (the client's) process: the mapping addon's. */
const ownRegionMappings = () => coreRegionMappings(process.pid);
/** Names of stream regions of this core still in /dev/shm (the client unlinks them once opened). */
const regionNames = (pid: number) => readdirSync('/dev/shm').filter((n) => n.startsWith(`cvp-core-${pid}-`));

async function until(pred: () => boolean, ms = 10000): Promise<boolean> {
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return pred();
}

describe('native client fast path (real cvp-core)', () => {
  let core: CoreProcess;
  let addr: string;
  const clients: NativeCoreClient[] = [];
  const client = (fastPath?: ConstructorParameters<typeof NativeCoreClient>[0]['fastPath']) => {
    const c = new NativeCoreClient({ address: addr, fastPath });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    core = await startCore(['--max-streams', '8']);
    addr = `127.0.0.1:${core.port}`;
    const c = client();
    await c.waitForReady(10000);
    await c.loadModel({ id: 'wide', path: fixture('wide_out.onnx'), batching: { maxBatch: 4 } }, 30000);
    await c.loadModel({ id: 'aff', path: fixture('affine_dyn.onnx') }, 30000);
    await c.loadModel({ id: 'cnn', path: fixture('small_cnn.onnx') }, 30000);
  }, 60000);

  afterEach(async () => {
    while (clients.length) clients.pop()!.close();
    // closing a client ends its streams, and with them the core's hold on their regions
    expect(await until(() => coreRegionMappings(core.proc.pid!) === 0)).toBe(true);
    // ...and the client unmapped its side when it closed the streams
    expect(ownRegionMappings()).toBe(0);
  });
  afterAll(async () => {
    await killCore(core);
  });

  it('streams with shared memory give the same outputs as unary calls, with no name left in /dev/shm', async () => {
    const fast = client();
    const unary = client({ maxStreams: 0 });
    for (const values of [
      [1, 2, 3, 4],
      [-1, 0.5, 7, 1e6],
    ]) {
      const a = await fast.infer({ modelId: 'wide', inputs: [x(values)] }, 10000);
      const b = await unary.infer({ modelId: 'wide', inputs: [x(values)] }, 10000);
      expect(a.outputs.map((o) => [o.name, o.shape])).toEqual(b.outputs.map((o) => [o.name, o.shape]));
      for (let i = 0; i < a.outputs.length; i++) expect(a.outputs[i].data.equals(b.outputs[i].data)).toBe(true);
      const tiled = floats(a.outputs.find((o) => o.name === 'tiled')!.data);
      expect(tiled.length).toBe(262144);
      expect(Array.from(tiled.subarray(262140))).toEqual(values.map(Math.fround));
    }
    // the first answer teaches the client the outputs' size (they came in the message); from the
    // second request on, the stream's region holds inputs and outputs
    expect(fast.fastPathStats()).toMatchObject({
      streamed: 2,
      sharedMemory: 1,
      unary: 0,
      open: 1,
      sharedMemoryOff: null,
      regionMappingOff: null,
    });
    // the client copies through its own mapping of the region (native/build/cvp_region_map.node)
    expect(ownRegionMappings()).toBe(1);
    await fast.infer({ modelId: 'wide', inputs: [x([5, 5, 5, 5])] }, 10000);
    expect(fast.fastPathStats()).toMatchObject({ streamed: 3, sharedMemory: 2 });
    expect(unary.fastPathStats()).toMatchObject({ streamed: 0, unary: 2 });
    // the region is mapped by the core, and its name is already gone: a crash of either side frees it
    expect(coreRegionMappings(core.proc.pid!)).toBeGreaterThan(0);
    expect(regionNames(core.proc.pid!)).toEqual([]);
  });

  it('without the mapping addon, tensors move with pread/pwrite on the region and the answers are the same', async () => {
    // a fresh copy of the modules, which decide on the addon when the first client is made
    let plain!: NativeCoreClient;
    const before = process.env.CVP_REGION_MAP_ADDON;
    process.env.CVP_REGION_MAP_ADDON = path.join(os.tmpdir(), 'no-such-addon.node');
    try {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { NativeCoreClient: Unmapped } = require('./native-client') as typeof import('./native-client');
        plain = new Unmapped({ address: addr });
      });
    } finally {
      if (before === undefined) delete process.env.CVP_REGION_MAP_ADDON;
      else process.env.CVP_REGION_MAP_ADDON = before;
    }
    const mapped = client();
    try {
      for (const values of [
        [1, 2, 3, 4],
        [9, -8, 7.5, 0.25],
        [3, 1, 4, 1],
      ]) {
        const a = await plain.infer({ modelId: 'wide', inputs: [x(values)] }, 10000);
        const b = await mapped.infer({ modelId: 'wide', inputs: [x(values)] }, 10000);
        for (let i = 0; i < a.outputs.length; i++) expect(a.outputs[i].data.equals(b.outputs[i].data)).toBe(true);
        expect(Array.from(floats(a.outputs.find((o) => o.name === 'tiled')!.data).subarray(262140))).toEqual(
          values.map(Math.fround),
        );
      }
      expect(plain.fastPathStats()).toMatchObject({ sharedMemory: 2, sharedMemoryOff: null });
      expect(plain.fastPathStats().regionMappingOff).toMatch(/cannot load .*no-such-addon\.node/);
      expect(mapped.fastPathStats()).toMatchObject({ sharedMemory: 2, regionMappingOff: null });
      expect(ownRegionMappings()).toBe(1); // the mapped client's region only
    } finally {
      plain.close();
    }
  });

  it('serves concurrent requests on separate streams, each with its own answer; beyond maxStreams calls go unary', async () => {
    const c = client({ maxStreams: 3 });
    const values = Array.from({ length: 7 }, (_, i) => [i, i + 0.5, -i, 2 * i]);
    const results = await Promise.all(values.map((v) => c.infer({ modelId: 'wide', inputs: [x(v)] }, 20000)));
    results.forEach((r, i) => {
      const pairs = floats(r.outputs.find((o) => o.name === 'pairs')!.data);
      expect(Array.from(pairs)).toEqual([...values[i], ...values[i]].map(Math.fround));
      expect(floats(r.outputs.find((o) => o.name === 'tiled')!.data)[262143]).toBe(Math.fround(values[i][3]));
    });
    const s = c.fastPathStats();
    expect(s.streamed + s.unary).toBe(7);
    expect(s.streamed).toBeGreaterThanOrEqual(3);
    expect(s.unary).toBeGreaterThan(0);
    expect(s.open).toBeLessThanOrEqual(3);
  });

  it('sends tensors that do not fit the region in the messages, and the result is the same', async () => {
    const c = client({ maxRegionMb: 1 }); // a batch of 4 has 4 MiB of outputs
    const r = await c.infer({ modelId: 'wide', inputs: [x([9, 8, 7, 6], 4)] }, 20000);
    const tiled = floats(r.outputs.find((o) => o.name === 'tiled')!.data);
    expect(tiled.length).toBe(4 * 262144);
    expect(tiled[4 * 262144 - 1]).toBe(6);
    expect(c.fastPathStats()).toMatchObject({ streamed: 1, sharedMemory: 0 });
  });

  it('on this host requests use the fast socket; without it, InferStream calls give the same answers', async () => {
    const viaSocket = client();
    const viaGrpc = client({ socket: false });
    const a = await viaSocket.infer({ modelId: 'aff', inputs: [x([1, 2, 3, 4])] }, 10000);
    const b = await viaGrpc.infer({ modelId: 'aff', inputs: [x([1, 2, 3, 4])] }, 10000);
    expect(a.outputs.map((o) => o.data.toString('hex'))).toEqual(b.outputs.map((o) => o.data.toString('hex')));
    expect(viaSocket.fastPathStats()).toMatchObject({ streamed: 1, socket: 1, socketOff: null });
    expect(viaGrpc.fastPathStats()).toMatchObject({
      streamed: 1,
      socket: 0,
      socketOff: 'disabled by the client options',
    });
    // a remote core (not loopback) gets neither the socket nor shared memory
    const remote = new NativeCoreClient({ address: `192.0.2.1:${core.port}` });
    expect(remote.fastPathStats()).toMatchObject({
      socketOff: 'the core is not on this host',
      sharedMemoryOff: 'the core is not on this host',
    });
    remote.close();
  });

  it('keeps tensors in the messages when the region cannot be opened (another host or user)', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'no-shm-'));
    try {
      const c = client({ shmDir: empty });
      for (let i = 0; i < 2; i++) {
        const r = await c.infer({ modelId: 'aff', inputs: [x([1, 2, 3, 4])] }, 10000);
        expect(Array.from(floats(r.outputs[0].data))).toEqual([3, 5, 7, 9]);
      }
      const s = c.fastPathStats();
      expect(s.sharedMemoryOff).toMatch(/cannot open the core's region .*ENOENT/);
      expect(s).toMatchObject({ streamed: 2, sharedMemory: 0 });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('answers errors on a stream with the same gRPC codes as unary calls, and the stream keeps serving', async () => {
    const c = client();
    const bad = { ...x([1, 2, 3, 4]), shape: [1, 5] };
    const e = await c.infer({ modelId: 'aff', inputs: [bad] }, 10000).catch((err: unknown) => err);
    expect(isInvalidArgument(e)).toBe(true);
    expect((e as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((e as Error).message).toMatch(/shape/);
    expect(await codeOf(c.infer({ modelId: 'ghost', inputs: [x([1, 2, 3, 4])] }, 10000))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(c.infer({ modelId: 'aff', inputs: [x([1, 2, 3, 4])] }, 10000))).toBe('ok');
    expect(c.fastPathStats()).toMatchObject({ open: 1, unary: 0 });
  });

  const heavy = (batch: number) => ({
    modelId: 'cnn',
    inputs: [
      { name: 'input', datatype: 'FP32', shape: [batch, 3, 64, 64], data: Buffer.alloc(batch * 3 * 64 * 64 * 4) },
    ],
  });

  it('a request that cannot answer in time fails with DEADLINE_EXCEEDED, an aborted one with CANCELLED, and the client goes on', async () => {
    const c = client();
    // A few hundred ms each on the only instance; three in line, so the next request waits far
    // longer than its deadline however fast the machine is.
    const busyAll = [c.infer(heavy(256), 60000), c.infer(heavy(256), 60000), c.infer(heavy(256), 60000)];
    const busy = Promise.all(busyAll);
    for (let i = 0; i < 500 && (await c.stats({ modelId: 'cnn' }, 5000)).models[0].running !== 1; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect((await c.stats({ modelId: 'cnn' }, 5000)).models[0].running).toBe(1);
    const t0 = Date.now();
    expect(await codeOf(c.infer(heavy(1), 50))).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(5000);
    const ac = new AbortController();
    const aborted = c.infer(heavy(1), 60000, { signal: ac.signal });
    ac.abort();
    expect(await codeOf(aborted)).toBe(grpc.status.CANCELLED);
    expect(await codeOf(busy)).toBe('ok');
    expect(await codeOf(c.infer(heavy(1), 60000))).toBe('ok');
    // the abandoned streams were closed, not reused: only the busy requests' streams stay open
    expect(c.fastPathStats().open).toBeLessThanOrEqual(busyAll.length);
  });

  it('a client process that is killed leaves no shared memory behind in the core', async () => {
    // the clients of earlier tests are closed: their regions go once the core sees their streams end
    expect(await until(() => coreRegionMappings(core.proc.pid!) === 0)).toBe(true);
    const script = `
      const fs = require('node:fs');
      const swc = require(${JSON.stringify(require.resolve('@swc/core'))});
      require.extensions['.ts'] = (m, f) => m._compile(swc.transformSync(fs.readFileSync(f, 'utf8'),
        { filename: f, jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }).code, f);
      const { NativeCoreClient } = require(${JSON.stringify(path.join(__dirname, 'native-client.ts'))});
      const c = new NativeCoreClient({ address: ${JSON.stringify(addr)} });
      const x = { name: 'x', datatype: 'FP32', shape: [1, 4], data: Buffer.from(new Float32Array([1, 2, 3, 4]).buffer) };
      c.infer({ modelId: 'wide', inputs: [x] }, 20000)
        .then(() => Promise.all([1, 2, 3].map(() => c.infer({ modelId: 'wide', inputs: [x] }, 20000))))
        .then(() => {
        process.stdout.write(JSON.stringify(c.fastPathStats()) + '\\n');
        setInterval(() => {}, 1000);
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const stats = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error('the client child did not report')), 30000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) {
            clearTimeout(timer);
            resolve(out.trim());
          }
        });
      });
      expect(JSON.parse(stats)).toMatchObject({ streamed: 4, sharedMemory: 3, open: 3 });
      expect(coreRegionMappings(core.proc.pid!)).toBe(3);
    } finally {
      child.kill('SIGKILL');
    }
    // the core sees the streams end and unmaps their regions; no name was ever left behind
    expect(await until(() => coreRegionMappings(core.proc.pid!) === 0)).toBe(true);
    expect(regionNames(core.proc.pid!)).toEqual([]);
  });

  it('a client process that forgets close() still exits once its requests are answered', async () => {
    // fast socket: unreferenced while idle; InferStream calls: closed after being idle a while
    const exitOf = (fastPath: string) => {
      const script = `
        const fs = require('node:fs');
        const swc = require(${JSON.stringify(require.resolve('@swc/core'))});
        require.extensions['.ts'] = (m, f) => m._compile(swc.transformSync(fs.readFileSync(f, 'utf8'),
          { filename: f, jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }).code, f);
        const { NativeCoreClient } = require(${JSON.stringify(path.join(__dirname, 'native-client.ts'))});
        const c = new NativeCoreClient({ address: ${JSON.stringify(addr)}, fastPath: ${fastPath} });
        const x = { name: 'x', datatype: 'FP32', shape: [1, 4], data: Buffer.from(new Float32Array([1, 2, 3, 4]).buffer) };
        c.infer({ modelId: 'aff', inputs: [x] }, 20000).then(() => {
          const s = c.fastPathStats();
          process.stdout.write(JSON.stringify({ streamed: s.streamed, socket: s.socket }) + '\\n');
        });`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<{ code: number | null; stats: unknown }>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stats: out.trim() ? JSON.parse(out.trim()) : null });
        });
      });
    };
    const [viaSocket, viaStream] = await Promise.all([exitOf('{}'), exitOf('{ socket: false }')]);
    expect(viaSocket).toEqual({ code: 0, stats: { streamed: 1, socket: 1 } });
    expect(viaStream).toEqual({ code: 0, stats: { streamed: 1, socket: 0 } });
  }, 40000);

  it('instances: N sessions x T threads from LoadModel, and Stats per instance', async () => {
    const c = client();
    const info = await c.loadModel(
      {
        id: 'cnn2',
        path: fixture('small_cnn.onnx'),
        engine: { intraOpThreads: 1 },
        batching: { instanceCount: 2, instanceSessions: 'separate' },
      },
      30000,
    );
    expect(info.model.batching).toMatchObject({ instanceCount: 2, instanceSessions: 'separate' });
    expect(info.sessionCreateUs).toBeGreaterThan(0);
    await Promise.all([
      c.infer({ ...heavy(64), modelId: 'cnn2' }, 60000),
      c.infer({ ...heavy(64), modelId: 'cnn2' }, 60000),
    ]);
    const s = (await c.stats({ modelId: 'cnn2' }, 5000)).models[0];
    expect(s.instances).toHaveLength(2);
    expect(s.instances!.map((i) => i.session)).toEqual([0, 1]);
    expect(s.instances!.reduce((a, i) => a + i.executions, 0)).toBe(2);
    expect(s.instances!.every((i) => i.computeUs!.count === i.executions)).toBe(true);
  });

  it('the core drains at once on SIGTERM while idle streams are open, and a second core on its port exits naming the port', async () => {
    const own = await startCore(['--drain-timeout-ms', '20000']);
    try {
      const c = new NativeCoreClient({ address: `127.0.0.1:${own.port}` });
      await c.loadModel({ id: 'aff', path: fixture('affine_dyn.onnx') }, 30000);
      await Promise.all([1, 2].map(() => c.infer({ modelId: 'aff', inputs: [x([1, 2, 3, 4])] }, 10000)));
      expect(c.fastPathStats().open).toBe(2);

      const second = await startCore(['--port', String(own.port)]).then(
        () => 'started',
        (e: Error) => e.message,
      );
      expect(second).toMatch(new RegExp(`exited early \\(1\\)[\\s\\S]*port ${own.port} is already in use`));

      const t0 = Date.now();
      own.proc.kill('SIGTERM');
      expect(await own.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10000); // the idle streams did not hold the 20 s grace
      // after the drain the stream is gone and the call falls back to unary, which fails: the core is down
      expect(await codeOf(c.infer({ modelId: 'aff', inputs: [x([1, 2, 3, 4])] }, 3000))).toBe(grpc.status.UNAVAILABLE);
      c.close();
    } finally {
      await killCore(own);
    }
  });
});
