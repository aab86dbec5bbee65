import { AdmissionPool, AdmissionRejectedError } from './admission-pool';

const later = () => {
  let resolve!: () => void;
  const p = new Promise<void>((r) => (resolve = r));
  return { p, resolve };
};

describe('AdmissionPool: bounded workers, capped FIFO queue, deadlines', () => {
  it('runs at most `workers` at once and hands slots to waiters in FIFO order', async () => {
    const pool = new AdmissionPool({ workers: 2, queueCap: 10 });
    const gates = [later(), later(), later(), later()];
    const order: number[] = [];
    let running = 0;
    let peak = 0;
    const jobs = gates.map((g, i) =>
      pool.run(Date.now() + 5000, async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await g.p;
        running--;
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(pool.inFlight).toBe(2);
    expect(pool.queued).toBe(2);
    gates.forEach((g) => g.resolve());
    expect(await Promise.all(jobs)).toEqual([0, 1, 2, 3]);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(peak).toBe(2);
    expect(pool.inFlight).toBe(0);
  });

  it('refuses at once when the queue is full, with a Retry-After estimate', async () => {
    const pool = new AdmissionPool({ workers: 1, queueCap: 1 });
    const g = later();
    const a = pool.run(Date.now() + 60_000, () => g.p);
    const b = pool.run(Date.now() + 60_000, async () => 'b');
    expect(pool.saturated()).toBe(true);
    const t0 = Date.now();
    const err = await pool.run(Date.now() + 60_000, async () => 'c').catch((e) => e);
    // "At once": far inside the deadline it would otherwise wait for, with room for a loaded machine.
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toBeInstanceOf(AdmissionRejectedError);
    expect(err.reason).toBe('queue_full');
    expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    g.resolve();
    await a;
    expect(await b).toBe('b');
  });

  it('refuses a queued request whose deadline passes, and one already past it', async () => {
    const pool = new AdmissionPool({ workers: 1, queueCap: 5 });
    const g = later();
    const a = pool.run(Date.now() + 5000, () => g.p);
    const late = await pool.run(Date.now() + 30, async () => 'x').catch((e) => e);
    expect(late.reason).toBe('deadline');
    expect(pool.queued).toBe(0);
    expect((await pool.run(Date.now() - 1, async () => 'y').catch((e) => e)).reason).toBe('deadline');
    g.resolve();
    await a;
  });

  it('drops a queued request when its client aborts, and refuses everything after close', async () => {
    const pool = new AdmissionPool({ workers: 1, queueCap: 5 });
    const g = later();
    const a = pool.run(Date.now() + 5000, () => g.p);
    const ac = new AbortController();
    const q = pool.run(Date.now() + 5000, async () => 'never', ac.signal).catch((e) => e);
    ac.abort();
    expect((await q).reason).toBe('aborted');
    expect((await pool.run(Date.now() + 5000, async () => 1, ac.signal).catch((e) => e)).reason).toBe('aborted');
    const waiting = pool.run(Date.now() + 5000, async () => 2).catch((e) => e);
    pool.close();
    expect((await waiting).reason).toBe('closed');
    expect((await pool.run(Date.now() + 5000, async () => 3).catch((e) => e)).reason).toBe('closed');
    g.resolve();
    await a;
    expect(() => new AdmissionPool({ workers: 0, queueCap: 1 })).toThrow(RangeError);
    expect(() => new AdmissionPool({ workers: 1, queueCap: -1 })).toThrow(RangeError);
  });

  it('takes a place at arrival, before the body: places count against the cap while bodies arrive', async () => {
    const pool = new AdmissionPool({ workers: 1, queueCap: 2 });
    const reading = [pool.admit(), pool.admit(), pool.admit()]; // three bodies on their way, none running
    expect(pool.queued).toBe(3);
    expect(pool.inFlight).toBe(0);
    expect(pool.saturated()).toBe(true);
    expect(() => pool.admit()).toThrow(expect.objectContaining({ reason: 'queue_full' }));
    // The first body in takes the worker; the next one waits for it, FIFO.
    expect(await reading[1].acquire(Date.now() + 5000)).toBeGreaterThanOrEqual(0);
    expect(pool.inFlight).toBe(1);
    const second = reading[0].acquire(Date.now() + 5000);
    let got = false;
    void second.then(() => (got = true));
    await new Promise((r) => setImmediate(r));
    expect(got).toBe(false);
    reading[1].release();
    await second;
    expect(pool.inFlight).toBe(1);
    // A request that ends while waiting (bad body, client gone) frees its place and never runs.
    const third = reading[2].acquire(Date.now() + 5000).catch((e) => e);
    reading[2].release();
    expect((await third).reason).toBe('aborted');
    reading[2].release(); // idempotent
    reading[0].release();
    expect(pool.inFlight).toBe(0);
    expect(pool.queued).toBe(0);
    expect(() => reading[0].acquire(Date.now() + 5000)).toThrow(/already used/);
  });
});
