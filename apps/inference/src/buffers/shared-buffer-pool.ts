/**
 * Reusable SharedArrayBuffers for request bodies and model outputs on the hot path.
 *
 * Why: every ArrayBuffer the main thread creates, or receives from a worker by transfer, counts as
 * new external memory for V8, and tens of MB of it a second (1 MB outputs, image-sized inputs)
 * make V8 run a full mark-compact every second or so on the thread that serves every socket.
 * Slots here are made once and cycle: a body is read into one, a worker thread reads its tensors
 * from it and writes the outputs into another, the response is written from that one, and both go
 * back. Workers learn a slot's SharedArrayBuffer once (by id) and keep it until the pool drops it.
 */
export interface SharedSlot {
  readonly id: number;
  readonly sab: SharedArrayBuffer;
  /** Usable bytes (the size class; at least what was asked for). */
  readonly bytes: number;
}

export interface SharedBufferPoolOptions {
  /** Free slots kept beyond this many bytes are dropped (in use ones are never counted out). */
  maxIdleBytes: number;
  /** Slots idle longer than this are dropped by trim(). */
  idleMs: number;
}

/**
 * Copies `src` into `dst` at `at` with memcpy. V8 moves bytes into or out of SharedArrayBuffer
 * memory with relaxed atomic word copies (TypedArray#set, which Buffer#copy uses): for a 4.9 MB
 * request body read off a socket that took 2.9 ms here against 0.37 ms for memcpy
 * (`node scripts/bench-shared-copy.js`). Buffer#fill with a value exactly as long as its range is
 * Node's C++ memcpy, for shared and unshared memory alike.
 */
export function copyBytes(dst: Uint8Array, src: Uint8Array, at = 0): void {
  if (src.byteLength === 0) return;
  if (at < 0 || at + src.byteLength > dst.byteLength)
    throw new RangeError(`copy of ${src.byteLength} bytes at ${at} overruns ${dst.byteLength} bytes`);
  const target = Buffer.isBuffer(dst) ? dst : Buffer.from(dst.buffer, dst.byteOffset, dst.byteLength);
  target.fill(src, at, at + src.byteLength);
}

/** Size classes: at most 1/8 above the request, so bodies whose JSON header differs by a few bytes share slots. */
export function sizeClass(bytes: number): number {
  if (bytes <= 4096) return 4096;
  const step = Math.max(512, 2 ** Math.floor(Math.log2(bytes)) / 8);
  return Math.ceil(bytes / step) * step;
}

interface Idle {
  slot: SharedSlot;
  since: number;
}

export class SharedBufferPool {
  private seq = 0;
  private readonly bySab = new WeakMap<SharedArrayBuffer, SharedSlot>();
  private readonly idle = new Map<number, Idle[]>();
  private idleBytes = 0;
  private readonly dropListeners = new Set<(ids: number[]) => void>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: SharedBufferPoolOptions) {
    this.timer = setInterval(() => this.trim(), Math.max(1000, opts.idleMs)).unref();
  }

  take(bytes: number): SharedSlot {
    const size = sizeClass(bytes);
    const free = this.idle.get(size);
    const hit = free?.pop();
    if (hit) {
      this.idleBytes -= size;
      return hit.slot;
    }
    const slot = { id: ++this.seq, sab: new SharedArrayBuffer(size), bytes: size };
    this.bySab.set(slot.sab, slot);
    return slot;
  }

  /** The slot a buffer lives in, when it is one of this pool's. */
  slotOf(buf: ArrayBufferLike): SharedSlot | undefined {
    return buf instanceof SharedArrayBuffer ? this.bySab.get(buf) : undefined;
  }

  /** A Buffer over the first `bytes` of a slot (no copy, no new backing store). */
  static view(slot: SharedSlot, offset: number, bytes: number): Buffer {
    return Buffer.from(slot.sab, offset, bytes);
  }

  give(slot: SharedSlot): void {
    if (this.idleBytes + slot.bytes > this.opts.maxIdleBytes) {
      this.notifyDropped([slot.id]);
      return;
    }
    let free = this.idle.get(slot.bytes);
    if (!free) this.idle.set(slot.bytes, (free = []));
    free.push({ slot, since: Date.now() });
    this.idleBytes += slot.bytes;
  }

  /** Called with the ids of slots the pool let go, so holders of their buffers (workers) forget them. */
  onDropped(listener: (ids: number[]) => void): () => void {
    this.dropListeners.add(listener);
    return () => this.dropListeners.delete(listener);
  }

  /** Drops slots idle longer than idleMs: memory a burst needed is given back once it is over. */
  trim(now = Date.now()): void {
    const dropped: number[] = [];
    for (const [size, free] of this.idle) {
      const keep = free.filter((f) => now - f.since < this.opts.idleMs);
      for (const f of free) if (!keep.includes(f)) dropped.push(f.slot.id);
      this.idleBytes -= (free.length - keep.length) * size;
      if (keep.length) this.idle.set(size, keep);
      else this.idle.delete(size);
    }
    if (dropped.length) this.notifyDropped(dropped);
  }

  get idleByteCount(): number {
    return this.idleBytes;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private notifyDropped(ids: number[]): void {
    for (const l of this.dropListeners) l(ids);
  }
}
