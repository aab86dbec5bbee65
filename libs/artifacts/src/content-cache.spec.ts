import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CacheWriter, ContentCache } from './content-cache';
import { ArtifactCorruptError } from './errors';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A writer that writes `data` (after an optional gate), counting its runs. */
function writerOf(data: Buffer, gate?: Promise<void>) {
  const w = {
    runs: 0,
    fn: (async (tmp: string) => {
      w.runs++;
      await gate;
      await fs.promises.writeFile(tmp, data);
      return { sha256: sha(data), size: data.length };
    }) as CacheWriter,
  };
  return w;
}

describe('ContentCache (real files)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'cache-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('stores by digest via a temp file and hits afterwards', async () => {
    const cache = new ContentCache(dir, 1 << 20);
    await cache.init();
    const data = randomBytes(1000);
    const w = writerOf(data);
    const lease = await cache.fill(sha(data), w.fn);
    expect(lease.path).toBe(path.join(dir, 'sha256', sha(data).slice(0, 2), sha(data)));
    expect(fs.readFileSync(lease.path).equals(data)).toBe(true);
    expect(fs.readdirSync(cache.tmpDir)).toEqual([]);
    lease.release();
    const again = await cache.acquire(sha(data));
    expect(again?.path).toBe(lease.path);
    expect(cache.stats()).toMatchObject({ fills: 1, hits: 1, entries: 1, bytes: 1000 });
    expect(w.runs).toBe(1);
  });

  it('runs one writer for concurrent fills of one digest', async () => {
    const cache = new ContentCache(dir, 1 << 20);
    await cache.init();
    const data = randomBytes(4096);
    let open!: () => void;
    const w = writerOf(data, new Promise((r) => (open = r)));
    const all = Promise.all(Array.from({ length: 8 }, () => cache.fill(sha(data), w.fn)));
    open();
    const leases = await all;
    expect(w.runs).toBe(1);
    expect(new Set(leases.map((l) => l.path)).size).toBe(1);
    expect(cache.stats().fills).toBe(1);
  });

  it('keeps nothing when the content does not hash to the digest, and tells every waiter', async () => {
    const cache = new ContentCache(dir, 1 << 20);
    await cache.init();
    const wanted = sha(Buffer.from('the real thing'));
    const w = writerOf(Buffer.from('something else'));
    const results = await Promise.allSettled([cache.fill(wanted, w.fn), cache.fill(wanted, w.fn)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ArtifactCorruptError);
    expect(cache.has(wanted)).toBe(false);
    expect(fs.readdirSync(cache.tmpDir)).toEqual([]);
    expect(fs.existsSync(cache.pathOf(wanted))).toBe(false);
  });

  it('evicts the least recently used file past the cap, never a pinned one', async () => {
    const cache = new ContentCache(dir, 2500);
    await cache.init();
    const [a, b, c, d] = [1, 2, 3, 4].map(() => randomBytes(1000));
    const la = await cache.fill(sha(a), writerOf(a).fn); // held: in use
    (await cache.fill(sha(b), writerOf(b).fn)).release();
    // c pushes the total to 3000 > 2500: b is the oldest unpinned (a is older but pinned).
    (await cache.fill(sha(c), writerOf(c).fn)).release();
    expect(cache.has(sha(a))).toBe(true);
    expect(cache.has(sha(b))).toBe(false);
    expect(fs.existsSync(cache.pathOf(sha(b)))).toBe(false);
    expect(fs.readFileSync(la.path).equals(a)).toBe(true);
    // Touch c, then d: a is still pinned, so c (older use than d) goes.
    (await cache.acquire(sha(c)))?.release();
    (await cache.fill(sha(d), writerOf(d).fn)).release();
    expect(cache.has(sha(a))).toBe(true);
    expect(cache.has(sha(c))).toBe(false);
    expect(cache.has(sha(d))).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 2000, pinned: 1, evictions: 2 });
    la.release();
    la.release(); // idempotent
    expect(cache.stats().pinned).toBe(0);
  });

  it('stays over the cap while everything is pinned and shrinks on release', async () => {
    const cache = new ContentCache(dir, 1500);
    await cache.init();
    const [a, b] = [1, 2].map(() => randomBytes(1000));
    const la = await cache.fill(sha(a), writerOf(a).fn);
    const lb = await cache.fill(sha(b), writerOf(b).fn);
    expect(cache.stats().bytes).toBe(2000);
    expect(fs.existsSync(la.path) && fs.existsSync(lb.path)).toBe(true);
    la.release();
    await cache.idle();
    expect(fs.existsSync(la.path)).toBe(false);
    expect(fs.existsSync(lb.path)).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 1000 });
    lb.release();
  });

  it('drops a cached file changed in place instead of serving it, and fills it again', async () => {
    const cache = new ContentCache(dir, 1 << 20);
    await cache.init();
    const a = randomBytes(800);
    const w = writerOf(a);
    const first = await cache.fill(sha(a), w.fn);
    first.release();
    // A writer that rewrites its published file in place changes the hard-linked cache entry too.
    fs.writeFileSync(first.path, randomBytes(800));
    fs.utimesSync(first.path, new Date(), new Date(Date.now() + 5000));
    expect(await cache.acquire(sha(a))).toBeNull();
    expect(cache.has(sha(a))).toBe(false);
    const again = await cache.fill(sha(a), w.fn);
    expect(fs.readFileSync(again.path).equals(a)).toBe(true);
    expect(w.runs).toBe(2);
    again.release();
  });

  it('refuses a cache dir held by another live process, takes over one left by a dead one', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'lock'), `${child.pid}\n`);
      await expect(new ContentCache(dir, 1 << 20).init()).rejects.toThrow(/in use by process/);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    // The same pid, now dead: a stale lock.
    const cache = new ContentCache(dir, 1 << 20);
    await cache.init();
    expect(fs.readFileSync(path.join(dir, 'lock'), 'utf8').trim()).toBe(String(process.pid));
    await cache.close();
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);
  });

  it('indexes what a previous run left and drops its temp files', async () => {
    const first = new ContentCache(dir, 1 << 20);
    await first.init();
    const a = randomBytes(100);
    (await first.fill(sha(a), writerOf(a).fn)).release();
    fs.writeFileSync(path.join(first.tmpDir, 'half-written'), 'x');
    await first.close();
    const second = new ContentCache(dir, 1 << 20);
    await second.init();
    expect((await second.acquire(sha(a)))?.size).toBe(100);
    expect(fs.readdirSync(second.tmpDir)).toEqual([]);
  });

  it('adopts a published file by hard link and can drop unpinned entries', async () => {
    const cache = new ContentCache(dir, 1 << 20);
    await cache.init();
    const src = path.join(dir, 'model.onnx');
    const a = randomBytes(500);
    fs.writeFileSync(src, a);
    expect(await cache.adopt(sha(a), src, a.length)).toBe(true);
    expect(fs.statSync(cache.pathOf(sha(a))).ino).toBe(fs.statSync(src).ino);
    const l = (await cache.acquire(sha(a)))!;
    expect(await cache.drop(sha(a))).toBe(false);
    l.release();
    expect(await cache.drop(sha(a))).toBe(true);
    expect(fs.existsSync(src)).toBe(true);
  });
});
