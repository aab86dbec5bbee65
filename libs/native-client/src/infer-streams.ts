import { closeSync, fstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { copyInto, regionMapAddon } from './region-mapping';

/**
 * The fast path of NativeCoreClient.infer: requests travel on long-lived streams (one per
 * concurrent request), and, when the core runs on this host, their tensors travel through a
 * shared-memory region the core created for that stream instead of through the messages. On this
 * host a stream is a connection to the core's fast socket (the same messages, length-prefixed, on
 * an abstract Unix socket); elsewhere, or when the socket cannot be reached, an InferStream call.
 *
 * Why: grpc-js spends about a millisecond of CPU on every unary call (a new HTTP/2 stream,
 * headers, deadline timer, filters) and, with MB-sized tensors in the message, several more on
 * encoding, copying and collecting them. A message on an open stream costs tens of microseconds,
 * and a tensor in shared memory costs one copy (a memcpy into or out of the region mapped into this
 * process; pwrite/pread where the mapping addon is not built) and no garbage. The fast
 * socket also skips the core's gRPC thread hand-offs: on a busy machine every thread wake-up can
 * wait milliseconds for a CPU.
 *
 * Bounds and cleanup: at most `maxStreams` streams (each holds a thread of the core) and one region
 * per stream of at most `maxRegionBytes`; the core caps them too. The client unlinks a region's
 * name as soon as it has opened it, so the memory belongs to two open handles only (its descriptor
 * and the core's mapping) and goes away when either side exits, even when killed. A stream whose
 * request timed out, was aborted or broke is closed, never reused: the core may still be reading
 * its inputs.
 */

export interface InferStreamOptions {
  /** Streams open at once (each carries one request at a time); further concurrent calls go unary. */
  maxStreams: number;
  /** Prefer the core's fast socket over InferStream calls when the core is on this host. */
  socket: boolean;
  /** Use shared memory when the core is on this host (the region is the core's, mode 0600). */
  sharedMemory: boolean;
  /** Largest region per stream; a request that needs more sends its tensors in the messages. */
  maxRegionBytes: number;
  /** Where POSIX shared-memory objects appear as files (/dev/shm on Linux). */
  shmDir: string;
}

/** What the fast path did, for tests and diagnostics. */
export interface InferStreamStats {
  /** requests answered on a stream */
  streamed: number;
  /** ...of which on fast-socket connections */
  socket: number;
  /** ...of which had their tensors in shared memory (inputs and every output) */
  sharedMemory: number;
  /** requests sent as unary calls because no stream was free or streams were refused */
  unary: number;
  /** streams open now */
  open: number;
  /** why shared memory is not used, or null when it is (or has not been tried) */
  sharedMemoryOff: string | null;
  /** why the fast socket is not used, or null when it is (or has not been tried) */
  socketOff: string | null;
  /** why regions are copied with pwrite/pread instead of mapped into this process, or null */
  regionMappingOff: string | null;
}

interface WireTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: Buffer;
  sharedMemory?: { region: string; offset: number; byteSize: number } | null;
}
interface StreamAnswer {
  requestId: number;
  code: number;
  message: string;
  infer?: { modelId: string; outputs: WireTensor[]; timing: unknown } | null;
  sharedMemory?: { key: string; byteSize: number; region: string } | null;
}
export interface StreamInferOptions {
  correlationId?: string;
  signal?: AbortSignal;
  /** Where an output of `bytes` bytes is read into (exactly that length); by default a fresh Buffer. */
  outputBuffer?: (bytes: number) => Buffer;
}
export interface StreamInferRequest {
  modelId: string;
  inputs: { name: string; datatype: string; shape: number[]; data: Buffer }[];
  outputs?: string[];
}
export interface StreamInferResult {
  modelId: string;
  outputs: { name: string; datatype: string; shape: number[]; data: Buffer }[];
  timing: unknown;
}

/** One stream, whichever carries it: messages out, answers and the end in through callbacks. */
interface Channel {
  write(msg: Record<string, unknown>): void;
  close(): void;
  /** Whether the channel keeps the process alive: while a request waits on it, not while idle. */
  hold(busy: boolean): void;
}
type ChannelEvents = { answer: (a: StreamAnswer) => void; broken: (e?: { code?: number; message?: string }) => void };

/** What InferStreams needs from the gRPC client. */
export interface StreamTransport {
  openStream(): grpc.ClientDuplexStream<unknown, StreamAnswer>;
  serverInfo(): Promise<{ fastSocket: string }>;
  encodeRequest(msg: Record<string, unknown>): Buffer;
  decodeAnswer(buf: Buffer): StreamAnswer;
}

const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
/** Names the core gives its stream regions: one path component, nothing to traverse. */
const CORE_KEY = /^\/cvp-core-[A-Za-z0-9._-]+$/;
/** Output sizes remembered per model and input shapes (bounded). */
const MAX_LEARNED = 256;
/**
 * An idle InferStream call is closed after this long: grpc-js keeps an open call's connection
 * referenced, which would keep a process that forgot close() alive. Fast-socket connections stay
 * open (they are unreferenced while idle).
 */
const IDLE_STREAM_MS = 5000;

/** A grpc-js style error (code, details), so callers handle stream and unary failures alike. */
export function statusError(code: number, details: string): grpc.ServiceError {
  const e = new Error(`${code} ${grpc.status[code]}: ${details}`) as grpc.ServiceError;
  e.code = code;
  e.details = details;
  e.metadata = new grpc.Metadata();
  return e;
}

/** The stream died before it answered: the request may be sent again as a unary call. */
class StreamBroken extends Error {}

interface Region {
  fd: number;
  size: number;
  name: string;
  /** the region mapped into this process (null: copy with pwrite/pread on fd) */
  view: Buffer | null;
}

class Slot {
  pending: { id: number; resolve: (a: StreamAnswer) => void; reject: (e: Error) => void } | null = null;
  region: Region | null = null;
  retired = false;
  /** shared memory failed on this stream: close it after the current request */
  retireAfter = false;
  /** the core has answered on it at least once */
  answered = false;
  /** closes an idle InferStream call (which would keep the process alive) */
  idleTimer: NodeJS.Timeout | null = null;
  channel!: Channel;
  constructor(readonly socket: boolean) {}
}

/** An InferStream call. */
function grpcChannel(call: grpc.ClientDuplexStream<unknown, StreamAnswer>, on: ChannelEvents): Channel {
  call.on('data', on.answer);
  call.on('error', (e: grpc.ServiceError) => on.broken(e));
  call.on('end', () => on.broken());
  return {
    write: (msg) => call.write(msg),
    // grpc-js keeps its connection referenced while a call is open: idle streams are closed
    // after IDLE_STREAM_MS instead (InferStreams.release)
    hold: () => undefined,
    close: () => {
      // half-close first: the core's handler then leaves its Read at once, even where the
      // cancellation (RST_STREAM) right behind it is not noticed by a blocked sync handler
      call.end();
      call.cancel();
    },
  };
}

/** A connection to the core's fast socket: 4-byte little-endian length, then the message. */
function socketChannel(name: string, t: StreamTransport, maxFrame: number, on: ChannelEvents): Channel {
  // "@name": Linux's abstract namespace, where the name starts with a NUL byte
  const sock = net.connect({ path: `\0${name.slice(1)}` });
  let chunks: Buffer[] = [];
  let have = 0;
  sock.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    have += chunk.length;
    while (have >= 4) {
      if (chunks[0].length < 4) chunks = [Buffer.concat(chunks)];
      const n = chunks[0].readUInt32LE(0);
      if (n > maxFrame) return void sock.destroy(new Error(`fast socket frame of ${n} bytes is over the cap`));
      if (have < 4 + n) return;
      // the whole frame is here: join the chunks once, then cut the frame off
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, have);
      const frame = all.subarray(4, 4 + n);
      const rest = all.subarray(4 + n);
      chunks = rest.length ? [rest] : [];
      have = rest.length;
      let answer: StreamAnswer;
      try {
        answer = t.decodeAnswer(frame);
      } catch (e) {
        return void sock.destroy(e as Error);
      }
      on.answer(answer);
    }
  });
  sock.on('error', (e: NodeJS.ErrnoException) =>
    on.broken({ code: grpc.status.UNAVAILABLE, message: `fast socket: ${e.code ?? e.message}` }),
  );
  sock.on('close', () => on.broken());
  return {
    write: (msg) => {
      const body = t.encodeRequest(msg);
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32LE(body.length, 0);
      sock.cork();
      sock.write(head);
      sock.write(body);
      sock.uncork();
    },
    close: () => sock.destroy(),
    hold: (busy) => void (busy ? sock.ref() : sock.unref()),
  };
}

export class InferStreams {
  private readonly idle: Slot[] = [];
  private open = 0;
  private max: number;
  private nextId = 1;
  private shmOff: string | null;
  private socketOff: string | null;
  private socketFailures = 0;
  /** the fast socket's "@name" once asked for (null: use InferStream calls) */
  private socketName: Promise<string | null> | null = null;
  /** per model and input shapes: the byte size of each output the last answer had (bounded) */
  private readonly outputSizes = new Map<string, number[]>();
  private readonly counts = { streamed: 0, socket: 0, sharedMemory: 0, unary: 0 };
  private closed = false;

  constructor(
    private readonly transport: StreamTransport,
    private readonly opts: InferStreamOptions & { maxFrameBytes: number },
    coreIsLocal: boolean,
  ) {
    regionMapAddon(); // decided (and loaded) once, before the first request needs it
    this.max = Math.max(0, Math.floor(opts.maxStreams));
    this.socketOff = !opts.socket
      ? 'disabled by the client options'
      : !coreIsLocal
        ? 'the core is not on this host'
        : process.platform !== 'linux'
          ? `no abstract Unix sockets on ${process.platform}`
          : null;
    this.shmOff = !opts.sharedMemory
      ? 'disabled by the client options'
      : !coreIsLocal
        ? 'the core is not on this host'
        : process.platform !== 'linux'
          ? `no POSIX shared-memory folder on ${process.platform}`
          : null;
  }

  stats(): InferStreamStats {
    return {
      ...this.counts,
      open: this.open,
      sharedMemoryOff: this.shmOff,
      socketOff: this.socketOff,
      regionMappingOff: regionMapAddon().off,
    };
  }

  /** Counts a request that went unary (no free stream). */
  countUnary(): void {
    this.counts.unary++;
  }

  /**
   * Runs the request on a free stream; null when there is none (or the stream broke before it
   * answered), and the caller sends it as a unary call instead.
   */
  async infer(
    req: StreamInferRequest,
    timeoutMs: number,
    opts: StreamInferOptions = {},
  ): Promise<StreamInferResult | null> {
    if (opts.signal?.aborted) throw statusError(grpc.status.CANCELLED, 'Cancelled on client');
    const socket = this.socketOff === null ? await this.fastSocket() : null;
    const slot = this.acquire(socket);
    if (!slot) return null;
    const deadline = Date.now() + Math.max(1, timeoutMs);
    try {
      const res = await this.run(slot, req, deadline, opts);
      this.release(slot);
      this.counts.streamed++;
      if (slot.socket) this.counts.socket++;
      return res;
    } catch (e) {
      if (e instanceof StreamBroken) return null;
      // the core answered with an error: the stream stays usable, unless the request may still
      // be running there (then its region is not ours to reuse)
      const code = (e as { code?: number }).code;
      if (code === grpc.status.DEADLINE_EXCEEDED || code === grpc.status.CANCELLED || slot.retired) this.retire(slot);
      else this.release(slot);
      throw e;
    }
  }

  close(): void {
    this.closed = true;
    for (const s of [...this.idle]) this.retire(s);
  }

  /**
   * The core's fast socket (ServerInfo, asked once and again after a failure: a restarted core
   * has a new name); null when there is none, it is off, or the core cannot be asked now.
   */
  private fastSocket(): Promise<string | null> {
    this.socketName ??= this.transport.serverInfo().then(
      (info) => {
        if (!info.fastSocket) this.socketOff = 'the core runs without a fast socket';
        return info.fastSocket || null;
      },
      (e: grpc.ServiceError) => {
        if (e.code === grpc.status.UNIMPLEMENTED) this.socketOff = 'the core has no ServerInfo (an older core)';
        this.socketName = null; // ask again next time
        return null;
      },
    );
    return this.socketName;
  }

  private acquire(socket: string | null): Slot | null {
    if (this.closed) return null;
    const idle = this.idle.pop();
    if (idle) {
      if (idle.idleTimer) clearTimeout(idle.idleTimer);
      idle.idleTimer = null;
      return idle;
    }
    if (this.open >= this.max) return null;
    const slot = new Slot(socket !== null && this.socketOff === null);
    this.open++;
    const on: ChannelEvents = {
      answer: (a) => {
        const p = slot.pending;
        if (p && Number(a.requestId) === p.id) {
          slot.pending = null;
          p.resolve(a);
        }
      },
      broken: (e) => {
        const p = slot.pending;
        slot.pending = null;
        // too many streams at the core: stay below what it allows; an older core without
        // InferStream: unary calls only
        if (e?.code === grpc.status.RESOURCE_EXHAUSTED) this.max = Math.max(0, this.open - 1);
        if (e?.code === grpc.status.UNIMPLEMENTED) this.max = 0;
        if (slot.socket && !slot.answered && e?.code === grpc.status.UNAVAILABLE) {
          // the name may be stale (the core restarted): ask again; a socket that stays
          // unreachable (another network namespace) means InferStream calls from now on
          this.socketName = null;
          if (++this.socketFailures >= 3) this.socketOff = e.message ?? 'unreachable';
        }
        this.retire(slot);
        p?.reject(new StreamBroken(e?.message ?? 'stream ended'));
      },
    };
    slot.channel = slot.socket
      ? socketChannel(socket!, this.transport, this.opts.maxFrameBytes, on)
      : grpcChannel(this.transport.openStream(), on);
    return slot;
  }

  private release(slot: Slot): void {
    if (slot.retired) return;
    if (slot.retireAfter || this.closed) return this.retire(slot);
    this.idle.push(slot);
    if (!slot.socket) {
      slot.idleTimer = setTimeout(() => this.retire(slot), IDLE_STREAM_MS);
      slot.idleTimer.unref();
    }
  }

  private retire(slot: Slot): void {
    if (slot.retired) return;
    slot.retired = true;
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    this.open--;
    const i = this.idle.indexOf(slot);
    if (i >= 0) this.idle.splice(i, 1);
    slot.channel.close();
    if (slot.region) {
      closeRegion(slot.region);
      slot.region = null;
    }
  }

  /** Sends one message on the slot's stream and waits for its answer (bounded by the deadline). */
  private exchange(
    slot: Slot,
    body: Record<string, unknown>,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<StreamAnswer> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        slot.channel.hold(false);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      // abandoning a request abandons its stream: the core may still be running it
      const abandon = (e: Error) => {
        slot.pending = null;
        this.retire(slot);
        settle(() => reject(e));
      };
      const timer = setTimeout(
        () => abandon(statusError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded')),
        Math.max(1, deadline - Date.now()),
      );
      const onAbort = () => abandon(statusError(grpc.status.CANCELLED, 'Cancelled on client'));
      if (signal?.aborted) return onAbort(); // aborted while this request waited for its turn
      signal?.addEventListener('abort', onAbort, { once: true });
      slot.pending = {
        id,
        resolve: (a) => {
          slot.answered = true;
          if (slot.socket) this.socketFailures = 0;
          settle(() => resolve(a));
        },
        reject: (e) => settle(() => reject(e)),
      };
      slot.channel.hold(true);
      slot.channel.write({ requestId: id, ...body });
    });
  }

  private async run(
    slot: Slot,
    req: StreamInferRequest,
    deadline: number,
    opts: StreamInferOptions,
  ): Promise<StreamInferResult> {
    const key = `${req.modelId}|${req.inputs.map((t) => `${t.name}:${t.shape.join('x')}`).join(',')}`;
    const inBytes = req.inputs.reduce((a, t) => a + align(t.data.length), 0);
    const sizes = this.outputSizes.get(key);
    const needed = inBytes + (sizes ?? []).reduce((a, n) => a + align(n), 0);
    if (this.shmOff === null && needed <= this.opts.maxRegionBytes && (!slot.region || slot.region.size < needed))
      await this.makeRegion(slot, needed, deadline, opts.signal);
    const region = slot.region && slot.region.size >= needed ? slot.region : null;

    let offset = 0;
    const inputs = req.inputs.map((t) => {
      if (!region) return t;
      writeRegion(region, t.data, offset);
      const ref = { region: region.name, offset, byteSize: t.data.length };
      offset = align(offset + t.data.length);
      return { name: t.name, datatype: t.datatype, shape: t.shape, sharedMemory: ref };
    });
    const infer = {
      modelId: req.modelId,
      inputs,
      outputs: req.outputs ?? [],
      outputSharedMemory: region ? { region: region.name, offset, byteSize: region.size - offset } : null,
    };
    const answered = this.exchange(
      slot,
      { infer, timeoutUs: Math.max(1, deadline - Date.now()) * 1000, correlationId: opts.correlationId ?? '' },
      deadline,
      opts.signal,
    );
    // While the core computes, get the caller's output buffers ready: fresh memory costs a page
    // fault per 4 KB on first touch (~0.7 ms of CPU per MB on the development machine), which
    // would otherwise sit between the answer and the caller. A caller's own buffers are reused
    // memory and are asked for only once the sizes are known.
    const ready = region && sizes && !opts.outputBuffer ? sizes.map(prefaulted) : [];
    const answer = await answered;
    if (answer.code !== grpc.status.OK) throw statusError(answer.code, answer.message);
    const res = answer.infer!;
    let allShared = region !== null;
    const outputs = res.outputs.map((o, i) => {
      const sm = o.sharedMemory;
      let data = o.data;
      if (sm && sm.region && region && sm.region === region.name) {
        const n = Number(sm.byteSize);
        const into = opts.outputBuffer?.(n) ?? (ready[i]?.length === n ? ready[i] : undefined);
        data = readRegion(region, n, Number(sm.offset), into);
      } else {
        allShared = false;
      }
      return { name: o.name, datatype: o.datatype, shape: o.shape.map(Number), data };
    });
    if (this.outputSizes.size >= MAX_LEARNED && !this.outputSizes.has(key)) this.outputSizes.clear();
    this.outputSizes.set(
      key,
      outputs.map((o) => o.data.length),
    );
    if (allShared) this.counts.sharedMemory++;
    return { modelId: res.modelId, outputs, timing: res.timing };
  }

  /** Asks the core for a region of at least `needed` bytes for this stream and opens it. */
  private async makeRegion(slot: Slot, needed: number, deadline: number, signal?: AbortSignal): Promise<void> {
    const MB = 1 << 20;
    // a quarter of headroom, whole MB: growing takes a round trip and a fresh mapping each time
    const size = Math.min(this.opts.maxRegionBytes, Math.ceil(Math.max(needed * 1.25, MB) / MB) * MB);
    const answer = await this.exchange(slot, { sharedMemory: { byteSize: size } }, deadline, signal);
    if (slot.region) {
      closeRegion(slot.region); // the core dropped the old region when it read the request
      slot.region = null;
    }
    if (answer.code !== grpc.status.OK) {
      // the core's budget may free up again; anything else will not
      if (answer.code !== grpc.status.RESOURCE_EXHAUSTED) this.shmOff = `the core refused a region: ${answer.message}`;
      return;
    }
    const sm = answer.sharedMemory;
    if (!sm || !CORE_KEY.test(sm.key)) {
      this.shmOff = `the core named an unexpected region ${JSON.stringify(sm?.key)}`;
      slot.retireAfter = true;
      return;
    }
    const file = path.join(this.opts.shmDir, sm.key.slice(1));
    let fd: number;
    try {
      fd = openSync(file, 'r+');
    } catch (e) {
      // another host or container, or another user: tensors stay in the messages from now on
      this.shmOff = `cannot open the core's region ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      slot.retireAfter = true;
      return;
    }
    if (fstatSync(fd).size < Number(sm.byteSize)) {
      closeSync(fd);
      this.shmOff = `the core's region ${file} is smaller than announced`;
      slot.retireAfter = true;
      return;
    }
    try {
      unlinkSync(file);
    } catch {
      /* the core removes the name when the stream ends anyway */
    }
    const bytes = Number(sm.byteSize);
    const { addon } = regionMapAddon();
    let view: Buffer | null = null;
    try {
      view = addon ? Buffer.from(addon.map(fd, bytes)) : null;
    } catch {
      /* e.g. out of address space: pwrite/pread on the descriptor still work */
    }
    slot.region = { fd, size: bytes, name: sm.region, view };
  }
}

/** A fresh Buffer of n bytes whose pages are already mapped in (touched once per 4 KB). */
function prefaulted(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4096) b[i] = 0;
  return b;
}

function closeRegion(region: Region): void {
  // detached first, so a view kept by mistake reads as empty instead of touching unmapped memory
  if (region.view) regionMapAddon().addon!.unmap(region.view.buffer as ArrayBuffer);
  closeSync(region.fd);
}

function writeRegion(region: Region, buf: Buffer, position: number): void {
  if (position + buf.length > region.size)
    throw statusError(grpc.status.INTERNAL, 'input overruns the shared-memory region');
  if (region.view) return copyInto(region.view, position, buf);
  for (let done = 0; done < buf.length;) done += writeSync(region.fd, buf, done, buf.length - done, position + done);
}

function readRegion(region: Region, length: number, position: number, into?: Buffer): Buffer {
  if (position + length > region.size)
    throw statusError(grpc.status.INTERNAL, 'shared-memory region ended before the announced output');
  const out = into ?? Buffer.allocUnsafe(length);
  if (region.view) {
    copyInto(out, 0, region.view.subarray(position, position + length));
    return out;
  }
  for (let done = 0; done < length;) {
    const n = readSync(region.fd, out, done, length - done, position + done);
    if (n === 0) throw statusError(grpc.status.INTERNAL, 'shared-memory region ended before the announced output');
    done += n;
  }
  return out;
}
