import path from 'node:path';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import type { ArtifactStore } from './artifact-store';
import { ArtifactError } from './errors';
import { LocalArtifactStore } from './local-artifact-store';
import { ObjectStoreArtifactStore } from './object-store-artifact-store';

const GiB = 1024 ** 3;

/**
 * The artifact keys of every service's config (merge into the service schema). `local` is today's
 * single-host behaviour and the default; `objectstore` moves artifacts through JetStream.
 */
export const artifactsConfigSchema = z.object({
  CVP_ARTIFACTS: z.enum(['local', 'objectstore']).default('local'),
  CVP_ARTIFACTS_BUCKET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9_-] (a JetStream bucket name)')
    .default('cvp-artifacts'),
  CVP_ARTIFACTS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** Default: <CVP_DATA_DIR>/cache/artifacts (same filesystem, so publish() can hard-link). */
  CVP_ARTIFACTS_CACHE_DIR: z.string().min(1).optional(),
  CVP_ARTIFACTS_CACHE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(16 * 1024 * 1024)
    .default(20 * GiB),
  CVP_ARTIFACTS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
});
export type ArtifactsConfig = z.infer<typeof artifactsConfigSchema>;
/** The same keys, to spread into a service schema's `extend({...})`. */
export const artifactsConfigShape = artifactsConfigSchema.shape;

/**
 * The store the config asks for. `objectstore` needs the service's NATS connection and fails at
 * start-up (not at the first job) when JetStream or the bucket is not usable.
 */
export async function createArtifactStore(
  config: ArtifactsConfig & { CVP_DATA_DIR: string },
  nc?: NatsConnection,
): Promise<ArtifactStore> {
  if (config.CVP_ARTIFACTS === 'local') return new LocalArtifactStore(config.CVP_DATA_DIR);
  if (!nc) throw new ArtifactError('CVP_ARTIFACTS=objectstore needs a NATS connection');
  return ObjectStoreArtifactStore.open(nc, {
    bucket: config.CVP_ARTIFACTS_BUCKET,
    replicas: config.CVP_ARTIFACTS_REPLICAS,
    cacheDir: config.CVP_ARTIFACTS_CACHE_DIR ?? path.join(config.CVP_DATA_DIR, 'cache', 'artifacts'),
    cacheMaxBytes: config.CVP_ARTIFACTS_CACHE_MAX_BYTES,
    timeoutMs: config.CVP_ARTIFACTS_TIMEOUT_MS,
  });
}
