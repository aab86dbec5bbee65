import { SharedBufferPool, sizeClass } from './shared-buffer-pool';

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
