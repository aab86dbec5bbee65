import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireHostLock, HostBusyError } from './host-lock';

describe('host measurement lock', () => {
  const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'lock-'));

  it('is exclusive, bounded in waiting, and free again after release', async () => {
    const file = path.join(dir, 'a.lock');
    const release = await acquireHostLock(file, 'one', { waitMs: 1000 });
    const t0 = Date.now();
    await expect(acquireHostLock(file, 'two', { waitMs: 300, pollMs: 50 })).rejects.toBeInstanceOf(HostBusyError);
    expect(Date.now() - t0).toBeLessThan(2000);
    const waiting = acquireHostLock(file, 'three', { waitMs: 5000, pollMs: 50 });
    setTimeout(() => void release(), 200);
    const r3 = await waiting;
    await r3();
    await r3(); // idempotent
    expect(existsSync(file)).toBe(false);
  });

  it('takes over a lock whose holder process is gone, or that was half-written', async () => {
    const file = path.join(dir, 'b.lock');
    writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 12345, holder: 'dead' }));
    const r = await acquireHostLock(file, 'alive', { waitMs: 500 });
    await r();
    writeFileSync(file, '{"pi');
    const r2 = await acquireHostLock(file, 'alive', { waitMs: 500 });
    await r2();
  });

  it('stops waiting when aborted', async () => {
    const file = path.join(dir, 'c.lock');
    const release = await acquireHostLock(file, 'one', { waitMs: 1000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await expect(acquireHostLock(file, 'two', { waitMs: 10_000, pollMs: 20, signal: ac.signal })).rejects.toThrow();
    await release();
  });
});
