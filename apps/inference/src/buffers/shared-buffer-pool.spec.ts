import { copyBytes, SharedBufferPool, sizeClass } from './shared-buffer-pool';

describe('SharedBufferPool', () => {
  it('size classes stay within 1/8 above the request and let nearby sizes share a slot', () => {
    for (const n of [1, 4096, 4097, 184_400, 1_060_000, 4_915_200]) {
      expect(sizeClass(n)).toBeGreaterThanOrEqual(n);
      expect(sizeClass(n)).toBeLessThanOrEqual(Math.max(4096, n * 1.125));
    }
    expect(sizeClass(184_400)).toBe(sizeClass(184_520)); // the same tensor behind a longer JSON header
  });

  it('reuses a given-back slot, knows its buffers, and drops what exceeds the idle cap or idles too long', () => {
    const pool = new SharedBufferPool({ maxIdleBytes: 3 * 65_536, idleMs: 1000 });
    const dropped: number[] = [];
    pool.onDropped((ids) => dropped.push(...ids));
    const a = pool.take(60_000);
    expect(a.bytes).toBeGreaterThanOrEqual(60_000);
    expect(pool.slotOf(a.sab)).toBe(a);
    expect(pool.slotOf(new ArrayBuffer(8))).toBeUndefined();
    pool.give(a);
    expect(pool.take(59_000)).toBe(a); // same size class: the same memory again
    const slots = [a, pool.take(60_000), pool.take(60_000), pool.take(60_000)];
    for (const s of slots) pool.give(s);
    expect(dropped).toEqual([slots[3].id]); // past the idle cap: let go at once
    expect(pool.idleByteCount).toBe(3 * a.bytes);
    pool.trim(Date.now() + 2000);
    expect(dropped.sort()).toEqual(slots.map((s) => s.id).sort());
    expect(pool.idleByteCount).toBe(0);
    expect(pool.take(60_000)).not.toBe(a);
    pool.close();
  });
});

describe('copyBytes', () => {
  const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);

  it('copies exactly its bytes into and out of shared and unshared memory, at an offset, leaving the rest', () => {
    for (const [dstShared, srcShared] of [
      [true, false],
      [false, true],
      [true, true],
      [false, false],
    ]) {
      const src = pattern(70_001, 3);
      const from = srcShared ? new Uint8Array(new SharedArrayBuffer(src.length + 5), 5) : new Uint8Array(src.length);
      from.set(src);
      const dst = new Uint8Array(dstShared ? new SharedArrayBuffer(80_000) : new ArrayBuffer(80_000)).fill(9);
      copyBytes(dst, from, 1001);
      expect(Buffer.from(dst.subarray(1001, 1001 + src.length)).equals(Buffer.from(src))).toBe(true);
      expect(dst[1000]).toBe(9);
      expect(dst[1001 + src.length]).toBe(9);
    }
  });

  it('a view of a larger buffer is written only within the view; empty copies are no-ops; overruns throw', () => {
    const whole = new Uint8Array(new SharedArrayBuffer(64)).fill(1);
    const view = whole.subarray(8, 24);
    copyBytes(view, Uint8Array.from([5, 6, 7]), 2);
    expect([...whole.subarray(8, 14)]).toEqual([1, 1, 5, 6, 7, 1]);
    copyBytes(view, new Uint8Array(0), 16);
    expect(whole.every((b, i) => (i >= 10 && i < 13) || b === 1)).toBe(true);
    expect(() => copyBytes(view, new Uint8Array(4), 13)).toThrow(RangeError);
    expect(() => copyBytes(view, new Uint8Array(1), -1)).toThrow(RangeError);
  });
});
