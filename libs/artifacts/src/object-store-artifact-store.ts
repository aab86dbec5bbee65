import { createHash } from 'node:crypto';
import fs from 'node:fs';
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  nanos,
  type ObjectInfo,
  type ObjectStore,
  StorageType,
} from 'nats';
import { assertArtifactKey } from './artifact-key';
import type { ArtifactInfo, ArtifactLease, ArtifactStore } from './artifact-store';
import { ContentCache } from './content-cache';
import {
  ArtifactChangedError,
  ArtifactCorruptError,
  ArtifactError,
  ArtifactNotFoundError,
  ArtifactTimeoutError,
  asArtifactError,
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
/** A get holds at most about this much of an object in memory between fetch and disk. */
const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Artifacts in a JetStream Object Store bucket, with a content-addressed cache per service.
 * Puts and gets stream chunk by chunk (never a whole file in memory). SHA-256 both ends: the
 * writer checks the digest the store recorded against its own hash of the file; the reader hashes
 * what it receives and keeps the file only when it matches that digest.
 */
export class ObjectStoreArtifactStore implements ArtifactStore {
  readonly kind = 'objectstore' as const;
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
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
    const jsm = await withTimeout(
      nc.jetstreamManager({ timeout: opts.timeoutMs }),
      opts.timeoutMs,
      'JetStream manager',
    );
    return new ObjectStoreArtifactStore(nc, js, jsm, os, cache, opts);
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
    const lease = await this.cache.fill(sha256, (tmp) => this.download(key, tmp)); // a hit when cached
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

  /**
   * Streams the object into `tmp`, hashing as it goes. Reads the object's chunk messages with a
   * pull consumer a few MiB at a time and writes each batch before asking for the next, so
   * a slow disk slows the transfer instead of filling memory (the client's own get pushes every
   * chunk into an unbounded stream). Every fetch waits at most the timeout.
   */
  private async download(key: string, tmp: string): Promise<{ sha256: string; size: number }> {
    const info = await withTimeout(this.os.info(key), this.opts.timeoutMs, `info ${key}`, key);
    if (!info || info.deleted) {
      throw new ArtifactNotFoundError(`artifact ${key} disappeared from bucket ${this.opts.bucket}`, key);
    }
    if (info.options?.link) throw new ArtifactError(`artifact ${key} is a link; links are not supported`, key);
    const hash = createHash('sha256');
    let size = 0;
    const fh = await fs.promises.open(tmp, 'wx');
    try {
      if (info.size > 0) {
        const chunk = info.options?.max_chunk_size ?? 128 * 1024;
        const batch = Math.max(1, Math.floor(BATCH_BYTES / chunk));
        const stream = `OBJ_${this.opts.bucket}`;
        // A plain ephemeral pull consumer on this object's chunk subject: one reader, no acks, so
        // chunks come in stream order; it vanishes by itself if this process dies mid-get.
        const ci = await withTimeout(
          this.jsm.consumers.add(stream, {
            filter_subject: `$O.${this.opts.bucket}.C.${info.nuid}`,
            ack_policy: AckPolicy.None,
            deliver_policy: DeliverPolicy.All,
            inactive_threshold: nanos(Math.max(60_000, 2 * this.opts.timeoutMs)),
            mem_storage: true,
          }),
          this.opts.timeoutMs,
          `get ${key}: consumer`,
          key,
        ).catch((e) => Promise.reject(asArtifactError(e, `get ${key}: consumer`, key)));
        const consumer = await this.js.consumers.get(stream, ci.name);
        try {
          let received = 0;
          while (received < info.chunks) {
            const want = Math.min(batch, info.chunks - received);
            let got = 0;
            const msgs = await withTimeout(
              consumer.fetch({ max_messages: want, expires: this.opts.timeoutMs }),
              this.opts.timeoutMs,
              `get ${key}: fetch`,
              key,
            );
            for await (const m of msgs) {
              got++;
              size += m.data.length;
              if (size > info.size) {
                throw new ArtifactCorruptError(`get ${key}: more bytes than the ${info.size} recorded`, key);
              }
              hash.update(m.data);
              await fh.write(m.data);
              if (m.info.pending === 0 && received + got < info.chunks) {
                // The stream holds no more chunks of this object: some were lost.
                throw new ArtifactCorruptError(
                  `get ${key}: the store holds ${received + got} of ${info.chunks} chunks`,
                  key,
                );
              }
            }
            if (got === 0) {
              throw new ArtifactTimeoutError(
                `get ${key}: no chunk within ${this.opts.timeoutMs} ms (${received}/${info.chunks} received)`,
                key,
              );
            }
            received += got;
          }
        } catch (e) {
          throw asArtifactError(e, `get ${key}`, key);
        } finally {
          await this.jsm.consumers.delete(stream, ci.name).catch(() => undefined);
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const sha256 = hash.digest('hex');
    if (sha256 !== hexOfDigest(info.digest) || size !== info.size) {
      throw new ArtifactCorruptError(
        `get ${key}: received ${size} B hashing to ${sha256}, recorded ${info.digest}`,
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
