import { createHash } from 'node:crypto';
import fs from 'node:fs';
import {
  AckPolicy,
  DeliverPolicy,
  headers,
  JsHeaders,
  nuid,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type NatsConnection,
  nanos,
  type ObjectStore,
  StorageType,
} from 'nats';
import { assertArtifactKey, assertArtifactTreeKey } from './artifact-key';
import type { ArtifactInfo, ArtifactLease, ArtifactStore } from './artifact-store';
import { ContentCache } from './content-cache';
import {
  ArtifactChangedError,
  ArtifactCorruptError,
  ArtifactError,
  ArtifactNotFoundError,
  ArtifactTimeoutError,
  asArtifactError,
  InvalidArtifactKeyError,
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
  /** A put waits for the server's acks after this many bytes in flight, so memory stays bounded. */
  flushEveryBytes?: number;
}

/** JetStream's "wrong last sequence": a create-only KV write found the key taken. */
const KV_KEY_EXISTS = 10071;

/** The KV bucket of claims beside the object bucket `bucket`. */
export const claimsBucketOf = (bucket: string) => `${bucket}_claims`;

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
    private readonly claims: KV,
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
    // Claims sit beside the bucket with its replicas: a claim must outlive any one server, as the
    // artifacts it names do.
    const claims = await withTimeout(
      js.views.kv(claimsBucketOf(opts.bucket), { replicas: opts.replicas, history: 1, storage: StorageType.File }),
      opts.timeoutMs,
      `open claims bucket ${claimsBucketOf(opts.bucket)}`,
    );
    const cache = new ContentCache(opts.cacheDir, opts.cacheMaxBytes);
    await cache.init();
    const jsm = await withTimeout(
      nc.jetstreamManager({ timeout: opts.timeoutMs }),
      opts.timeoutMs,
      'JetStream manager',
    );
    return new ObjectStoreArtifactStore(nc, js, jsm, os, claims, cache, opts);
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

    const old = await withTimeout(this.os.info(key), this.opts.timeoutMs, `info ${key}`, key);
    const { sha256, size, chunks, nuid: id } = await this.putChunks(key, file, before);
    // The object becomes visible only now, with the digest of what was read: a reader never sees
    // a half-uploaded object, and a failed put leaves the previous version in place.
    const meta = {
      name: key,
      description: '',
      options: { max_chunk_size: this.chunkBytes },
      bucket: this.opts.bucket,
      nuid: id,
      size,
      chunks,
      mtime: new Date().toISOString(),
      digest: digestOfHex(sha256),
      deleted: false,
    };
    const h = headers();
    h.set(JsHeaders.RollupHdr, JsHeaders.RollupValueSubject);
    try {
      await withTimeout(
        this.js.publish(metaSubject(this.opts.bucket, key), JSON.stringify(meta), {
          headers: h,
          timeout: this.opts.timeoutMs,
        }),
        this.opts.timeoutMs,
        `put ${key}: metadata`,
        key,
      );
    } catch (e) {
      await this.purge(chunkSubject(this.opts.bucket, id));
      throw e;
    }
    if (old && !old.deleted && old.nuid !== id) await this.purge(chunkSubject(this.opts.bucket, old.nuid));

    // The writer's end of the check: the store must now answer with what this host read.
    const stored = await this.stat(key);
    if (stored?.sha256 !== sha256 || stored.size !== size) {
      throw new ArtifactCorruptError(
        `store answers ${stored?.sha256} (${stored?.size} B) for ${key}, sent ${sha256}`,
        key,
      );
    }
    await this.cache.adopt(sha256, file, size);
    return { key, size, sha256 };
  }

  /**
   * Publishes the file's chunks (the Object Store's wire format, so any nats client can read the
   * object) and returns their SHA-256, computed with node's native hash (the client's put hashes
   * in JavaScript: a tenth of the speed here). Waits for the server's acks after every
   * `flushEveryBytes`, which bounds memory; removes its chunks on any failure.
   */
  private async putChunks(
    key: string,
    file: string,
    before: fs.Stats,
  ): Promise<{ sha256: string; size: number; chunks: number; nuid: string }> {
    const id = nuid.next();
    const subj = chunkSubject(this.opts.bucket, id);
    const hash = createHash('sha256');
    let size = 0;
    let chunks = 0;
    const fh = await fs.promises.open(file, 'r');
    try {
      let inFlight: Promise<unknown>[] = [];
      let inFlightBytes = 0;
      for (;;) {
        const buf = Buffer.allocUnsafe(this.chunkBytes);
        let filled = 0;
        while (filled < buf.length) {
          const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        if (filled === 0) break;
        const chunk = buf.subarray(0, filled);
        hash.update(chunk);
        size += filled;
        chunks++;
        inFlight.push(this.js.publish(subj, chunk, { timeout: this.opts.timeoutMs }));
        inFlightBytes += filled;
        if (inFlightBytes >= this.opts.flushEveryBytes) {
          await withTimeout(Promise.all(inFlight), this.opts.timeoutMs, `put ${key}: chunk acks`, key);
          inFlight = [];
          inFlightBytes = 0;
        }
        if (filled < buf.length) break;
      }
      await withTimeout(Promise.all(inFlight), this.opts.timeoutMs, `put ${key}: chunk acks`, key);
      const after = await fs.promises.stat(file);
      if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || size !== before.size) {
        throw new ArtifactChangedError(`${file} changed while it was published under ${key}; publish it again`, key);
      }
      return { sha256: hash.digest('hex'), size, chunks, nuid: id };
    } catch (e) {
      await this.purge(subj);
      throw asArtifactError(e, `put ${key}`, key);
    } finally {
      await fh.close();
    }
  }

  private get chunkBytes(): number {
    return Math.min(this.opts.chunkBytes, this.nc.info?.max_payload ?? 1024 * 1024);
  }

  private async purge(subject: string): Promise<void> {
    await withTimeout(
      this.jsm.streams.purge(`OBJ_${this.opts.bucket}`, { filter: subject }),
      this.opts.timeoutMs,
      `purge ${subject}`,
    ).catch(() => undefined); // best effort: leftover chunks cost space, never correctness
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

  /** Releases the cache's lock; the NATS connection belongs to the caller. */
  async removeTree(prefix: string): Promise<void> {
    assertArtifactTreeKey(prefix);
    const under = (k: string) => k.startsWith(`${prefix}/`) || k === `${prefix}.tar`;
    const wait = <T>(p: Promise<T>, what: string) => withTimeout(p, this.opts.timeoutMs, what, prefix);
    // The listing reads every object's metadata: one message each, bounded by the bucket's size.
    for (const info of await wait(this.os.list(), `list bucket ${this.opts.bucket}`))
      if (!info.deleted && under(info.name)) await wait(this.os.delete(info.name), `delete ${info.name}`);
    const keys: string[] = [];
    const it = await wait(this.claims.keys(), `list claims of ${this.opts.bucket}`);
    await wait(
      (async () => {
        for await (const k of it) keys.push(k);
      })(),
      `list claims of ${this.opts.bucket}`,
    );
    for (const k of keys) if (under(k)) await wait(this.claims.purge(k), `purge claim ${k}`);
  }

  /** A create-only write to the claims bucket: the server orders racing hosts, one wins. */
  async claim(key: string, owner: string): Promise<string> {
    assertArtifactKey(key);
    if (key.endsWith('.')) throw new InvalidArtifactKeyError(`a claimed key cannot end with ".": ${key}`, key);
    const made = this.claims.create(key, owner).then(
      () => true,
      (e: { api_error?: { err_code?: number } }) =>
        e?.api_error?.err_code === KV_KEY_EXISTS ? false : Promise.reject(e),
    );
    if (await withTimeout(made, this.opts.timeoutMs, `claim ${key}`, key)) return owner;
    const held = await withTimeout(this.claims.get(key), this.opts.timeoutMs, `owner of ${key}`, key);
    if (!held || held.operation !== 'PUT') throw new ArtifactError(`claim of ${key} changed while it was read`, key);
    return held.string();
  }

  async close(): Promise<void> {
    await this.cache.close();
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

const chunkSubject = (bucket: string, id: string) => `$O.${bucket}.C.${id}`;
/** The Object Store names an object's metadata subject by its name in padded URL-safe base64. */
const metaSubject = (bucket: string, name: string) =>
  `$O.${bucket}.M.${Buffer.from(name, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;

/** Hex SHA-256 as the Object Store's `SHA-256=<padded base64url>` digest. */
export function digestOfHex(hex: string): string {
  return `SHA-256=${Buffer.from(hex, 'hex').toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;
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
