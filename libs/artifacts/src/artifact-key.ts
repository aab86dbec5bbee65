import path from 'node:path';
import { ARTIFACT_KEY_MAX_LENGTH, isArtifactKey } from '@cvp/contracts';
import { InvalidArtifactKeyError } from './errors';

/**
 * Checks that a key is a data-dir-relative POSIX path (`models/<id>/model.onnx`): the same string
 * names the artifact on every host, each resolving it against its own data dir or cache. No
 * absolute paths, no `.`/`..` segments, no empty segments, no characters a shell or a NATS subject
 * would treat specially.
 */
export function assertArtifactKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > ARTIFACT_KEY_MAX_LENGTH) {
    throw new InvalidArtifactKeyError(`artifact key must be 1-${ARTIFACT_KEY_MAX_LENGTH} characters`, String(key));
  }
  // The grammar lives with the contracts that carry keys; `.`/`..` never match a segment.
  if (!isArtifactKey(key)) {
    throw new InvalidArtifactKeyError(
      `artifact key ${JSON.stringify(key)} must be a relative path of [A-Za-z0-9._-] segments`,
      key,
    );
  }
  return key;
}

/** The key's path under `dataDir`; never outside it. */
export function resolveArtifactKey(dataDir: string, key: string): string {
  assertArtifactKey(key);
  const root = path.resolve(dataDir);
  const full = path.resolve(root, ...key.split('/'));
  if (!full.startsWith(root + path.sep)) throw new InvalidArtifactKeyError(`artifact key escapes the data dir`, key);
  return full;
}

/** The key of a file under `dataDir` (the inverse of resolveArtifactKey), for writers that hold a path. */
export function artifactKeyOf(dataDir: string, file: string): string {
  const rel = path.relative(path.resolve(dataDir), path.resolve(file));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new InvalidArtifactKeyError(`${file} is not under the data dir`, file);
  }
  return assertArtifactKey(rel.split(path.sep).join('/'));
}

/** A folder's key that removeTree accepts: two segments at least, so a bare `models` is refused. */
export function assertArtifactTreeKey(prefix: string): string {
  assertArtifactKey(prefix);
  if (!prefix.includes('/'))
    throw new InvalidArtifactKeyError(`a tree to remove needs two segments at least: ${prefix}`, prefix);
  return prefix;
}
