import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { artifactKeyOf, assertArtifactKey, resolveArtifactKey } from './artifact-key';
import type { ArtifactLease, ArtifactStore } from './artifact-store';
import { ArtifactNotFoundError } from './errors';

/** At most this many files are published for one directory (a bench report dir holds a few dozen). */
const MAX_DIR_FILES = 10_000;
/** A tree (data set) is packed and unpacked by tar within this bound; data sets are capped at a few GB. */
const TAR_TIMEOUT_MS = 30 * 60_000;
/** Marks a tree unpacked completely on this host (written last, before the rename into place). */
const TREE_DONE = '.cvp-tree-complete';
const run = promisify(execFile);

/**
 * A service's view of the store: what its payloads carry for a file (a **reference**) and how it
 * opens a reference it received.
 *
 * References are keys (`models/m1/v2/model.onnx`) in `objectstore` mode, so any host resolves them
 * against its own cache. In `local` mode they stay what they always were (absolute paths in the
 * one data dir), so single-host payloads, database rows and files are unchanged. A reader accepts
 * both: an absolute path under its own data dir is turned into its key (rows written before keys).
 */
export class Artifacts {
  constructor(
    readonly store: ArtifactStore,
    readonly dataDir: string,
  ) {}

  get kind(): ArtifactStore['kind'] {
    return this.store.kind;
  }

  /** The reference a payload carries for the artifact under `key`. */
  refOf(key: string): string {
    assertArtifactKey(key);
    return this.store.kind === 'local' ? resolveArtifactKey(this.dataDir, key) : key;
  }

  /** The key of a reference: a key as it is, an absolute path under this host's data dir as its key. */
  keyOf(ref: string): string {
    return path.isAbsolute(ref) ? artifactKeyOf(this.dataDir, ref) : assertArtifactKey(ref);
  }

  /** The reference of a file under this host's data dir, without publishing it (local: the path itself). */
  refOfFile(file: string): string {
    return this.store.kind === 'local' ? file : artifactKeyOf(this.dataDir, file);
  }

  /**
   * A reference received from another service, checked and in this host's form: local mode an
   * absolute path, objectstore a key. Throws InvalidArtifactKeyError for anything outside the data
   * dir (an absolute path elsewhere, `..`, odd characters).
   */
  normalizeRef(ref: string): string {
    return this.refOf(this.keyOf(ref));
  }

  /** A reference to a file inside the directory `dirRef` (a key or a local path). */
  childRef(dirRef: string, ...names: string[]): string {
    return path.isAbsolute(dirRef) ? path.join(dirRef, ...names) : path.posix.join(dirRef, ...names);
  }

  /**
   * Publishes a file written (and renamed into place) under this host's data dir and returns the
   * reference for payloads. Local mode: nothing to do, the path itself.
   */
  async publishFile(file: string): Promise<string> {
    if (this.store.kind === 'local') return file;
    const key = artifactKeyOf(this.dataDir, file);
    await this.store.publish(key, file);
    return key;
  }

  /**
   * Removes from the store what a deleted record owned under the folder `folderKey`
   * (`models/<id>`). Called after the record's rows are gone, so a store that fails now only leaves
   * orphaned objects behind: that is logged, not thrown (the delete itself succeeded).
   */
  async discardTree(folderKey: string, logger: Pick<Logger, 'warn'>): Promise<void> {
    try {
      await this.store.removeTree(folderKey);
    } catch (e) {
      logger.warn({ err: e, key: folderKey }, 'artifacts of a deleted record left in the store');
    }
  }

  /**
   * Publishes every file under `dir` (each under its own key, in sorted order) and returns the
   * directory's reference; readers open the files they need by name (`childRef`). No manifest:
   * every reader of a directory knows the names it reads.
   */
  async publishDir(dir: string): Promise<string> {
    if (this.store.kind === 'local') return dir;
    const files = await listFiles(dir);
    for (const f of files) await this.store.publish(artifactKeyOf(this.dataDir, f), f);
    return artifactKeyOf(this.dataDir, dir);
  }

  /**
   * Publishes a whole folder as one tar under `<dirKey>.tar` (data sets: thousands of files with
   * any names, read as a tree by a child). Returns the folder's reference. Local mode: nothing.
   */
  async publishTree(dir: string): Promise<string> {
    if (this.store.kind === 'local') return dir;
    const key = artifactKeyOf(this.dataDir, dir);
    const tar = `${dir}.${randomBytes(6).toString('hex')}.tar.tmp`;
    try {
      await run('tar', ['-cf', tar, '-C', dir, '.'], { timeout: TAR_TIMEOUT_MS, maxBuffer: 1024 * 1024 });
      await this.store.publish(`${key}.tar`, tar);
    } finally {
      await fs.rm(tar, { force: true });
    }
    return key;
  }

  /**
   * A folder (or a path inside one) published with publishTree, as a local folder: unpacked once
   * per host at the same data-dir-relative place (temp + rename, so a reader never sees half a
   * tree) and reused afterwards. The tar is found by walking up the key (`datasets/<id>/data/x`
   * finds `datasets/<id>/data.tar`). Local mode: the path itself.
   */
  async stageTree(ref: string): Promise<string> {
    if (this.store.kind === 'local' && path.isAbsolute(ref)) return ref;
    const key = this.keyOf(ref);
    if (this.store.kind === 'local') return resolveArtifactKey(this.dataDir, key);
    const segs = key.split('/');
    for (let n = segs.length; n >= 1; n--) {
      const treeKey = segs.slice(0, n).join('/');
      if (!(await this.store.stat(`${treeKey}.tar`))) continue;
      const target = resolveArtifactKey(this.dataDir, treeKey);
      const inside = path.join(target, ...segs.slice(n));
      if (await exists(path.join(target, TREE_DONE))) return inside;
      const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      await fs.mkdir(tmp, { recursive: true });
      try {
        await this.withFile(`${treeKey}.tar`, (tar) =>
          run('tar', ['-xf', tar, '-C', tmp, '--no-same-owner', '--no-same-permissions'], {
            timeout: TAR_TIMEOUT_MS,
            maxBuffer: 1024 * 1024,
          }),
        );
        await fs.writeFile(path.join(tmp, TREE_DONE), '');
        await fs.rm(target, { recursive: true, force: true });
        await fs.rename(tmp, target).catch(async (e: NodeJS.ErrnoException) => {
          // Another job unpacked the same tree meanwhile: theirs is as good as ours.
          if (!(await exists(path.join(target, TREE_DONE)))) throw e;
        });
      } finally {
        await fs.rm(tmp, { recursive: true, force: true });
      }
      return inside;
    }
    throw new ArtifactNotFoundError(`no published folder holds ${key}`, key);
  }

  /**
   * The local path of a reference, pinned until release(). Local mode opens an absolute path
   * where it is (today's behaviour, wherever it lies); anything else is materialized by key.
   */
  async open(ref: string): Promise<ArtifactLease> {
    if (this.store.kind === 'local' && path.isAbsolute(ref)) {
      const st = await fs.stat(ref).catch(() => null);
      if (!st?.isFile()) throw new ArtifactNotFoundError(`no artifact at ${ref}`, ref);
      return { key: ref, path: ref, size: st.size, release: () => undefined };
    }
    return this.store.materialize(this.keyOf(ref));
  }

  /**
   * The reference as a file named like its key (`model.pt`) inside `dir`, for a child that
   * goes by the file name (Ultralytics wants `.pt`); the cache names files by digest. Local mode:
   * the path where it is, nothing copied. Objectstore: a hard link to the cached file (a copy across
   * file systems), so it outlives the lease and any eviction.
   */
  async stage(ref: string, dir: string): Promise<string> {
    if (this.store.kind === 'local' && path.isAbsolute(ref)) return ref;
    const lease = await this.open(ref);
    try {
      if (this.store.kind === 'local') return lease.path;
      const target = path.join(dir, path.posix.basename(this.keyOf(ref)));
      await fs.mkdir(dir, { recursive: true });
      await fs.rm(target, { force: true });
      await fs.link(lease.path, target).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EXDEV' && e.code !== 'EPERM') throw e;
        await fs.copyFile(lease.path, target);
      });
      return target;
    } finally {
      lease.release();
    }
  }

  /** Runs `fn` with the reference opened, releasing it however `fn` ends. */
  async withFile<T>(ref: string, fn: (file: string) => Promise<T>): Promise<T> {
    const lease = await this.open(ref);
    try {
      return await fn(lease.path);
    } finally {
      lease.release();
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await fs.readdir(d, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(p);
      if (out.length > MAX_DIR_FILES) throw new Error(`${dir} holds more than ${MAX_DIR_FILES} files`);
    }
  };
  await walk(dir);
  return out;
}
