import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { type NatsConnection, type ObjectInfo, type ObjectStore, StorageType } from 'nats';
import { assertArtifactKey } from './artifact-key';
import type { ArtifactInfo, ArtifactLease, ArtifactStore } from './artifact-store';
import { ContentCache } from './content-cache';
import {
  ArtifactChangedError,
  ArtifactCorruptError,
  ArtifactError,
  ArtifactNotFoundError,
  ArtifactTimeoutError,
  withTimeout,
} from './errors';

export interface ObjectStoreArtifactOptions {
  bucket: string;
  /** Bucket replicas: 1 on a single server, 3 in a cluster. */
  replicas: number;
  cacheDir: string;
  cacheMaxBytes: number;
  /** Bound of every single wait: a metadata request, one chunk of a get, one flush of a put. */
  timeoutMs: number;
  /** Bytes per stored chunk; clamped by the client to the server's max_payload. */
  chunkBytes?: number;
  /** A put waits for the server to take what was sent after this many bytes, so memory stays bounded. */
  flushEveryBytes?: number;
}

const READ_BLOCK = 256 * 1024;

/**
 * Artifacts in a JetStream Object Store bucket, with a content-addressed cache per service.
 * Puts and gets stream chunk by chunk (never a whole file in memory). SHA-256 both ends: the
 * writer's digest goes into the object's metadata; the reader hashes what it receives and keeps
 * the file only when it matches (the nats client also checks its own digest of the chunks).
 */
export class ObjectStoreArtifactStore implements ArtifactStore {
  readonly kind = 'objectstore' as const;
  private constructor(
    private readonly nc: NatsConnection,
    private readonly os: ObjectStore,
    readonly cache: ContentCache,
    private readonly opts: Required<ObjectStoreArtifactOptions>,
  ) {}

  /** Binds (creating if needed) the bucket and indexes the cache; fails fast on a mismatched bucket. */
  static async open(nc: NatsConnection, options: ObjectStoreArtifactOptions): Promise<ObjectStoreArtifactStore> {
    const opts: Required<ObjectStoreArtifactOptions> = {
      chunkBytes: 1024 * 1024,
      flushEveryBytes: 8 * 1024 * 1024,
      ...options,
    };
    const js = nc.jetstream({ timeout: opts.timeoutMs });
    const os = await withTimeout(
      js.views.os(opts.bucket, { replicas: opts.replicas, storage: StorageType.File }),
      opts.timeoutMs,
      `open object store bucket ${opts.bucket} (is JetStream enabled?)`,
    );
    const status = await withTimeout(os.status(), opts.timeoutMs, `status of bucket ${opts.bucket}`);
    if (status.replicas !== opts.replicas) {
      throw new ArtifactError(
        `bucket ${opts.bucket} exists with ${status.replicas} replica(s), configured ${opts.replicas}: ` +
          `change CVP_ARTIFACTS_REPLICAS or the bucket (nats stream edit OBJ_${opts.bucket} --replicas)`,
      );
    }
    const cache = new ContentCache(opts.cacheDir, opts.cacheMaxBytes);
    await cache.init();
    return new ObjectStoreArtifactStore(nc, os, cache, opts);
  }

  async publish(key: string, file: string): Promise<ArtifactInfo> {
    assertArtifactKey(key);
    const before = await fs.promises.stat(file).catch(() => null);
    if (!before?.isFile()) throw new ArtifactNotFoundError(`no file to publish at ${file}`, key);

    // A retried publish of identical content is a no-op (the digest is checked, not assumed).
    const existing = await this.stat(key);
    if (existing?.size === before.size && existing.sha256 === (await sha256OfFile(file))) {
      await this.cache.adopt(existing.sha256, file, existing.size);
      return existing;
    }

    const fh = await fs.promises.open(file, 'r');
    const hash = createHash('sha256');
    let sent = 0;
    let sinceFlush = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          if (sinceFlush >= this.opts.flushEveryBytes) {
            // Back-pressure: the client queues publishes without waiting for acks, so wait until
            // the server has taken what was sent before reading more of the file.
            await withTimeout(this.nc.flush(), this.opts.timeoutMs, `put ${key}: flush`, key);
            sinceFlush = 0;
          }
          const buf = new Uint8Array(READ_BLOCK);
          const { bytesRead } = await fh.read(buf, 0, READ_BLOCK, null);
          if (bytesRead === 0) {
            controller.close();
            return;
          }
          const chunk = buf.subarray(0, bytesRead);
          hash.update(chunk);
          sent += bytesRead;
          sinceFlush += bytesRead;
          controller.enqueue(chunk);
        },
      },
      { highWaterMark: 0 },
    );
    let info: ObjectInfo;
    try {
      info = await this.os.put({ name: key, options: { max_chunk_size: this.opts.chunkBytes } }, source, {
        timeout: this.opts.timeoutMs,
      });
    } finally {
      await fh.close();
    }
    const sha256 = hash.digest('hex');
    const after = await fs.promises.stat(file).catch(() => null);
    if (!after || after.size !== before.size || after.mtimeMs !== before.mtimeMs || sent !== before.size) {
      await this.os.delete(key).catch(() => undefined);
      throw new ArtifactChangedError(`${file} changed while it was published under ${key}; publish it again`, key);
    }
    if (hexOfDigest(info.digest) !== sha256 || info.size !== sent) {
      await this.os.delete(key).catch(() => undefined);
      throw new ArtifactCorruptError(`store recorded ${info.digest} (${info.size} B) for ${key}, sent ${sha256}`, key);
    }
    await this.cache.adopt(sha256, file, sent);
    return { key, size: sent, sha256 };
  }

  async stat(key: string): Promise<ArtifactInfo | null> {
    assertArtifactKey(key);
    const info = await withTimeout(this.os.info(key), this.opts.timeoutMs, `info ${key}`, key);
    if (!info || info.deleted) return null;
    return { key, size: info.size, sha256: hexOfDigest(info.digest) };
  }

  async materialize(key: string): Promise<ArtifactLease> {
    const info = await this.stat(key);
    if (!info?.sha256) throw new ArtifactNotFoundError(`no artifact ${key} in bucket ${this.opts.bucket}`, key);
    const sha256 = info.sha256;
    const lease = this.cache.acquire(sha256) ?? (await this.cache.fill(sha256, (tmp) => this.download(key, tmp)));
    return { key, path: lease.path, size: lease.size, sha256, release: () => lease.release() };
  }

  async remove(key: string): Promise<void> {
    assertArtifactKey(key);
    const info = await withTimeout(this.os.info(key), this.opts.timeoutMs, `info ${key}`, key);
    if (info && !info.deleted) await withTimeout(this.os.delete(key), this.opts.timeoutMs, `delete ${key}`, key);
  }

  async close(): Promise<void> {
    /* the connection belongs to the caller */
  }

  /** Streams the object into `tmp`, hashing as it goes; every chunk wait is bounded. */
  private async download(key: string, tmp: string): Promise<{ sha256: string; size: number }> {
    const r = await withTimeout(this.os.get(key), this.opts.timeoutMs, `get ${key}`, key);
    if (!r) throw new ArtifactNotFoundError(`artifact ${key} disappeared from bucket ${this.opts.bucket}`, key);
    const reader = r.data.getReader();
    const hash = createHash('sha256');
    let size = 0;
    const fh = await fs.promises.open(tmp, 'wx');
    try {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await withTimeout(reader.read(), this.opts.timeoutMs, `get ${key}: next chunk`, key);
        } catch (e) {
          await reader.cancel().catch(() => undefined);
          if (e instanceof ArtifactTimeoutError) throw e;
          // The client errors the stream when its own digest of the chunks does not match.
          throw new ArtifactCorruptError(`get ${key}: ${(e as Error).message}`, key);
        }
        if (next.done) break;
        size += next.value.length;
        if (size > r.info.size) {
          await reader.cancel().catch(() => undefined);
          throw new ArtifactCorruptError(`get ${key}: more bytes than the ${r.info.size} recorded`, key);
        }
        hash.update(next.value);
        await fh.write(next.value);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const err = await withTimeout(r.error, this.opts.timeoutMs, `get ${key}: end`, key).catch((e: Error) => e);
    if (err) throw err instanceof ArtifactError ? err : new ArtifactCorruptError(`get ${key}: ${err.message}`, key);
    const sha256 = hash.digest('hex');
    if (sha256 !== hexOfDigest(r.info.digest) || size !== r.info.size) {
      throw new ArtifactCorruptError(
        `get ${key}: received ${size} B hashing to ${sha256}, recorded ${r.info.digest}`,
        key,
      );
    }
    return { sha256, size };
  }
}

/** `SHA-256=<base64url>` (the Object Store's digest) as hex. */
export function hexOfDigest(digest: string): string {
  if (!digest.startsWith('SHA-256=')) throw new ArtifactCorruptError(`unknown digest ${digest}`);
  const b64 = digest.slice('SHA-256='.length).replace(/-/g, '+').replace(/_/g, '/');
  return Buffer.from(b64, 'base64').toString('hex');
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
