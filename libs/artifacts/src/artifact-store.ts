/** What a store knows of one artifact. */
export interface ArtifactInfo {
  key: string;
  size: number;
  /** Hex SHA-256 of the content; absent in local mode, which never hashes (no slowdown). */
  sha256?: string;
}

/**
 * A file ready to open on this host. The path stays valid (never evicted) until release();
 * release is idempotent. Open the file, hand the path to a child or the native core, then release.
 */
export interface ArtifactLease {
  readonly key: string;
  readonly path: string;
  readonly size: number;
  readonly sha256?: string;
  release(): void;
}

/**
 * Where artifacts live between services. Writers write a file in their own data dir as today, then
 * publish(key, file); readers call materialize(key) before opening and release the lease after.
 */
export interface ArtifactStore {
  readonly kind: 'local' | 'objectstore';
  /** Makes the file at `file` available under `key` to every host. */
  publish(key: string, file: string): Promise<ArtifactInfo>;
  /** A local path holding the artifact's bytes, verified, pinned until release(). */
  materialize(key: string): Promise<ArtifactLease>;
  /** The artifact's info, or null when there is none under the key. */
  stat(key: string): Promise<ArtifactInfo | null>;
  /**
   * Claims `key` for `owner` once across every host that shares the store, and returns the key's
   * owner: `owner` itself when this call, or an earlier one by the same owner, made the claim.
   * Names that hosts pick by themselves (a model's next version) are decided here, so two hosts
   * never both write `models/m1/v3`. Local mode has one host, whose exclusive mkdir decides, so it
   * returns `owner`.
   */
  claim(key: string, owner: string): Promise<string>;
  /** Removes the key from the store (local mode: the file under the data dir). */
  remove(key: string): Promise<void>;
  /**
   * Removes everything under the folder `prefix` (`models/<id>`, two segments at least): each
   * artifact, a tree published as `<prefix>.tar`, and the claims under it. What a deleted record
   * owned, so the bucket does not keep it forever (local mode: the folder under the data dir).
   */
  removeTree(prefix: string): Promise<void>;
  close(): Promise<void>;
}

/** Runs `fn` with the artifact materialized, releasing it however `fn` ends. */
export async function withArtifact<T>(
  store: ArtifactStore,
  key: string,
  fn: (path: string, lease: ArtifactLease) => Promise<T>,
): Promise<T> {
  const lease = await store.materialize(key);
  try {
    return await fn(lease.path, lease);
  } finally {
    lease.release();
  }
}
