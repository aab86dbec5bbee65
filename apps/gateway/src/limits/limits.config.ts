import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/** Per-user limits (merged into the gateway's config schema; every key has a default). */
export const limitsConfigShape = {
  /** Jobs one user may have queued or running at once; more are answered 429 + Retry-After. */
  CVP_USER_MAX_ACTIVE_JOBS: int(8, 1, 100_000),
  /** Bytes one user may keep stored (model sources, data set archives, packages), MiB; beyond it 413. */
  CVP_USER_MAX_STORED_MB: int(50 * 1024, 1, 1024 ** 3),
  /** Retry-After of a 429 for the job limit, seconds. */
  CVP_USER_LIMIT_RETRY_AFTER_S: int(30, 1, 3600),
};
export const limitsConfigSchema = z.object(limitsConfigShape);
export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
