import { artifactsConfigShape } from '@cvp/artifacts';
import { baseConfigSchema, portKey } from '@cvp/platform';
import { z } from 'zod';

/** packager config: environment values validated at start-up; every key has a local default. */
export const packagerConfigSchema = baseConfigSchema.extend({
  /** Where artifacts move between hosts (CVP_ARTIFACTS, local by default). */
  ...artifactsConfigShape,
  CVP_PACKAGER_PORT: portKey(3103),
  /** Platform checkout whose compiled data plane (dist/), lockfile and native/ sources go into bundles. */
  CVP_PACKAGER_PLATFORM_ROOT: z.string().min(1).default('.'),
  /** Bound on each registry RPC to the gateway. */
  CVP_PACKAGER_REGISTRY_TIMEOUT_MS: z.coerce.number().int().min(100).max(120000).default(5000),
  /** Package jobs run at once in this process. */
  CVP_PACKAGER_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(1),
  /** Largest model file a bundle may carry. */
  CVP_PACKAGER_MAX_MODEL_MB: z.coerce.number().int().min(1).max(65536).default(4096),
});
export type PackagerConfig = z.infer<typeof packagerConfigSchema>;
