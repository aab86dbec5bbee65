import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ArtifactCorruptError, ArtifactError } from './errors';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

export interface CacheLease {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  release(): void;
}

export interface ContentCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  pinned: number;
  /** Fills that actually wrote content (downloads), as opposed to hits and joined fills. */
  fills: number;
  hits: number;
  evictions: number;
}

interface Entry {
  size: number;
  /** The file's mtime when it entered: a different one on open means it was changed in place. */
  mtimeMs: number;
  pins: number;
}

/**
 * A writer streams the content to `tmpPath` and returns the hex SHA-256 and size it computed while
 * writing; the cache keeps the file only when they match what was asked for.
 */
export type CacheWriter = (tmpPath: string) => Promise<{ sha256: string; size: number }>;

/**
 * A content-addressed file cache of one service process: `<dir>/sha256/ab/<hex>`. Files enter via
 * temp file + rename (a reader never sees half a file), are pinned while leased, and the least
 * recently used unpinned ones are evicted when the total passes `maxBytes`. Concurrent fills of one
 * digest share one write. Not shared between processes: each service instance has its own dir.
 */
export class ContentCache {
  private readonly entries = new Map<string, Entry>(); // insertion order = LRU order, oldest first
  private readonly inflight = new Map<string, Promise<void>>();
  private bytes = 0;
  private counters = { fills: 0, hits: 0, evictions: 0 };
  /** Evictions started by release(), which cannot wait for them. */
  private background: Promise<void> = Promise.resolve();

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /**
   * Takes the dir's lock, drops leftover temp files and indexes what a previous run left, oldest
   * access first. A dir locked by another live process is refused: its temp files and evictions
   * would be this one's to delete.
   */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    await this.lock();
    await fs.promises.rm(this.tmpDir, { recursive: true, force: true });
    await fs.promises.mkdir(this.tmpDir, { recursive: true });
    const root = path.join(this.dir, 'sha256');
    await fs.promises.mkdir(root, { recursive: true });
    const found: { sha: string; size: number; atime: number; mtimeMs: number }[] = [];
    for (const prefix of await fs.promises.readdir(root)) {
      const sub = path.join(root, prefix);
      for (const name of await fs.promises.readdir(sub).catch(() => [] as string[])) {
        if (!HEX64.test(name) || name.slice(0, 2) !== prefix) continue;
        const st = await fs.promises.stat(path.join(sub, name));
        found.push({ sha: name, size: st.size, atime: Math.max(st.atimeMs, st.mtimeMs), mtimeMs: st.mtimeMs });
      }
    }
    found.sort((a, b) => a.atime - b.atime);
    for (const f of found) this.insert(f.sha, f.size, f.mtimeMs);
    await this.evict();
  }

  /** Releases the dir's lock (the files stay for the next run). */
  async close(): Promise<void> {
    const owner = await fs.promises.readFile(this.lockPath, 'utf8').catch(() => '');
    if (owner.trim() === String(process.pid)) await fs.promises.rm(this.lockPath, { force: true });
  }

  private get lockPath(): string {
    return path.join(this.dir, 'lock');
  }

  private async lock(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.promises.writeFile(this.lockPath, `${process.pid}\n`, { flag: 'wx' });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number((await fs.promises.readFile(this.lockPath, 'utf8').catch(() => '')).trim());
      if (pid === process.pid) return;
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new ArtifactError(
          `artifact cache ${this.dir} is in use by process ${pid}: give each service instance its own ` +
            `CVP_ARTIFACTS_CACHE_DIR (or remove ${this.lockPath} if that process is not a cvp service)`,
        );
      }
      await fs.promises.rm(this.lockPath, { force: true }); // left by a process that is gone
    }
    throw new ArtifactError(`could not take the lock of artifact cache ${this.dir}`);
  }

  get tmpDir(): string {
    return path.join(this.dir, 'tmp');
  }

  pathOf(sha256: string): string {
    return path.join(this.dir, 'sha256', sha256.slice(0, 2), sha256);
  }

  has(sha256: string): boolean {
    return this.entries.has(sha256);
  }

  /**
   * A lease on a cached file (a hit), or null when it is not here. A file whose size or mtime
   * changed since it entered (edited in place through a hard link, truncated) is dropped, not
   * served: one stat per hit instead of re-hashing the file.
   */
  async acquire(sha256: string): Promise<CacheLease | null> {
    const e = this.entries.get(sha256);
    if (!e) return null;
    const lease = this.pin(sha256, e); // pinned while we look, so no eviction races the stat
    const st = await fs.promises.stat(lease.path).catch(() => null);
    if (st && st.size === e.size && st.mtimeMs === e.mtimeMs) {
      this.counters.hits++;
      return lease;
    }
    lease.release();
    if (this.entries.get(sha256) === e) {
      this.entries.delete(sha256);
      this.bytes -= e.size;
      this.counters.evictions++;
      await fs.promises.rm(lease.path, { force: true });
    }
    return null;
  }

  /**
   * The cached file of `sha256`, written by `writer` when it is not here. Concurrent calls for one
   * digest run one writer; the others wait for it. A writer whose result does not match leaves
   * nothing behind and every waiter gets ArtifactCorruptError.
   */
  async fill(sha256: string, writer: CacheWriter): Promise<CacheLease> {
    if (!HEX64.test(sha256)) throw new ArtifactCorruptError(`not a hex SHA-256: ${sha256}`);
    for (;;) {
      const hit = await this.acquire(sha256);
      if (hit) return hit;
      const running = this.inflight.get(sha256);
      if (running) {
        await running;
        continue;
      }
      const p = this.write(sha256, writer).finally(() => this.inflight.delete(sha256));
      this.inflight.set(sha256, p);
      await p;
      // The writer's own lease is taken before any eviction could run on its behalf.
      const e = this.entries.get(sha256);
      if (e) return this.pin(sha256, e);
    }
  }

  /**
   * Puts an existing file (one this process just published, so its digest is known) into the
   * cache by hard link, so the writer's host never downloads what it wrote. Copies when the cache
   * is on another filesystem; never throws (the cache is an optimisation here).
   */
  async adopt(sha256: string, file: string, size: number): Promise<boolean> {
    if (this.entries.has(sha256) || size > this.maxBytes) return this.entries.has(sha256);
    const tmp = this.tmpPath();
    try {
      await fs.promises.link(file, tmp).catch(() => fs.promises.copyFile(file, tmp));
      await fs.promises.mkdir(path.dirname(this.pathOf(sha256)), { recursive: true });
      await fs.promises.rename(tmp, this.pathOf(sha256));
      const st = await fs.promises.stat(this.pathOf(sha256));
      this.insert(sha256, st.size, st.mtimeMs);
      await this.evict();
      return true;
    } catch {
      await fs.promises.rm(tmp, { force: true });
      return false;
    }
  }

  /** Removes one entry unless it is pinned. */
  async drop(sha256: string): Promise<boolean> {
    const e = this.entries.get(sha256);
    if (!e || e.pins > 0) return false;
    await this.removeEntry(sha256, e);
    return true;
  }

  /** Resolves when the evictions that release() started are done. */
  idle(): Promise<void> {
    return this.background;
  }

  stats(): ContentCacheStats {
    let pinned = 0;
    for (const e of this.entries.values()) if (e.pins > 0) pinned++;
    return { entries: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes, pinned, ...this.counters };
  }

  private tmpPath(): string {
    return path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  private async write(sha256: string, writer: CacheWriter): Promise<void> {
    const tmp = this.tmpPath();
    try {
      const got = await writer(tmp);
      if (got.sha256 !== sha256) {
        throw new ArtifactCorruptError(`content hashes to ${got.sha256}, expected ${sha256}; not cached`);
      }
      const st = await fs.promises.stat(tmp);
      if (st.size !== got.size) throw new ArtifactCorruptError(`wrote ${st.size} bytes, writer counted ${got.size}`);
      await fs.promises.mkdir(path.dirname(this.pathOf(sha256)), { recursive: true });
      await fs.promises.rename(tmp, this.pathOf(sha256));
      this.counters.fills++;
      this.insert(sha256, st.size, st.mtimeMs);
      // Room is made around the new file (pinned by nobody yet, but the newest, so the last choice).
      await this.evict(sha256);
    } catch (e) {
      await fs.promises.rm(tmp, { force: true });
      throw e;
    }
  }

  private insert(sha256: string, size: number, mtimeMs: number): void {
    const old = this.entries.get(sha256);
    if (old) {
      this.entries.delete(sha256);
      this.entries.set(sha256, old);
      return;
    }
    this.entries.set(sha256, { size, mtimeMs, pins: 0 });
    this.bytes += size;
  }

  private pin(sha256: string, e: Entry): CacheLease {
    e.pins++;
    // Touch: move to the newest end of the LRU order.
    this.entries.delete(sha256);
    this.entries.set(sha256, e);
    let released = false;
    return {
      path: this.pathOf(sha256),
      sha256,
      size: e.size,
      release: () => {
        if (released) return;
        released = true;
        e.pins--;
        if (e.pins === 0 && this.bytes > this.maxBytes) {
          this.background = this.background.then(() => this.evict()).catch(() => undefined);
        }
      },
    };
  }

  /**
   * Evicts unpinned entries, oldest use first, until the total fits. Pinned files are never
   * evicted; if only pinned files remain the cache stays over its cap until they are released.
   * `keep` (a file just written for a waiting caller) goes only if nothing else can.
   */
  private async evict(keep?: string): Promise<void> {
    for (const [sha, e] of [...this.entries]) {
      if (this.bytes <= this.maxBytes) return;
      if (e.pins > 0 || sha === keep) continue;
      await this.removeEntry(sha, e);
    }
  }

  private async removeEntry(sha256: string, e: Entry): Promise<void> {
    if (this.entries.get(sha256) !== e) return;
    this.entries.delete(sha256);
    this.bytes -= e.size;
    this.counters.evictions++;
    await fs.promises.rm(this.pathOf(sha256), { force: true });
  }
}
