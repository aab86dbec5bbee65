import { z } from 'zod';

/** One segment of an artifact key: no `.`/`..`, nothing a shell or a NATS subject treats specially. */
export const ARTIFACT_KEY_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
export const ARTIFACT_KEY_MAX_LENGTH = 512;

/**
 * Is `key` an artifact key: a data-dir-relative POSIX path (`models/<id>/v2/model.onnx`) that
 * names the same artifact on every host? (libs/artifacts' assertArtifactKey throws on the same rule.)
 */
export function isArtifactKey(key: unknown): key is string {
  return (
    typeof key === 'string' &&
    key.length > 0 &&
    key.length <= ARTIFACT_KEY_MAX_LENGTH &&
    key.split('/').every((seg) => ARTIFACT_KEY_SEGMENT.test(seg))
  );
}

/**
 * A file or folder one service names to another: an artifact key (any host resolves it through
 * the artifact store, CVP_ARTIFACTS=objectstore) or, on a single host (`local`, the default), the
 * absolute path in the shared data dir that payloads have always carried.
 */
export const artifactRefSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (s) => (s.startsWith('/') && !s.includes('\0') && !s.split('/').includes('..')) || isArtifactKey(s),
    'must be an artifact key (a data-dir-relative path of [A-Za-z0-9._-] segments) or an absolute path without ".."',
  );

/** A data-dir-relative artifact key, whatever the mode (package tarballs). */
export const artifactKeySchema = z
  .string()
  .refine(isArtifactKey, 'must be an artifact key (a data-dir-relative path of [A-Za-z0-9._-] segments)');
