/** Base of every error the artifact store throws, so callers can map them in one place. */
export class ArtifactError extends Error {
  constructor(
    message: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The key is not a data-dir-relative path (absolute, `..`, odd characters). A caller's 400. */
export class InvalidArtifactKeyError extends ArtifactError {}

/** No artifact under this key, in the store or (local mode) in the data dir. A caller's 404. */
export class ArtifactNotFoundError extends ArtifactError {}

/** The bytes received do not hash to the SHA-256 the writer recorded; nothing was kept. */
export class ArtifactCorruptError extends ArtifactError {}

/** A bounded wait ran out (store unreachable, a get or put stalled). */
export class ArtifactTimeoutError extends ArtifactError {
  /** A socket-style code: HTTP callers answer 503 + Retry-After (a dependency is down), not 500. */
  readonly code = 'ETIMEDOUT';
}

/** The source file changed while it was being published; the upload was not kept as that file. */
export class ArtifactChangedError extends ArtifactError {}

/** Rejects with ArtifactTimeoutError when `p` has not settled within `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string, key?: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ArtifactTimeoutError(`${what}: no answer within ${ms} ms`, key)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } catch (e) {
    throw asArtifactError(e, what, key);
  } finally {
    clearTimeout(timer);
  }
}

/** NATS client errors as artifact errors: its own request timeouts are timeouts like ours. */
export function asArtifactError(e: unknown, what: string, key?: string): unknown {
  if (e instanceof ArtifactError || !(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return e;
  if (code === 'TIMEOUT') return new ArtifactTimeoutError(`${what}: the NATS request timed out`, key);
  if (code === '503') return new ArtifactError(`${what}: JetStream is not available (no responders)`, key);
  return new ArtifactError(`${what}: ${e.message} (${code})`, key);
}
