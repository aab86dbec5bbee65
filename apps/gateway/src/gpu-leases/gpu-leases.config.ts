import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/** Lease service config (merged into the gateway's config schema; every key has a default). */
export const gpuLeaseConfigShape = {
  /** Concurrent GPU holders allowed, platform-wide. */
  CVP_GPU_TOKENS: int(2, 1, 64),
  /** How often expired holders and dead waiters are swept (and their tokens handed on). */
  CVP_GPU_LEASE_SWEEP_MS: int(200, 20, 10_000),
  /** A waiter that has not re-sent its acquire for this long is presumed dead (clients re-send every ~500 ms). */
  CVP_GPU_LEASE_WAITER_STALE_MS: int(5000, 500, 600_000),
  /** Queue cap: acquires beyond it are refused. */
  CVP_GPU_LEASE_MAX_WAITERS: int(1000, 1, 100_000),
  /** JetStream KV bucket holding the lease table. */
  CVP_GPU_LEASE_BUCKET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('CVP_GPU_LEASES'),
};
export const gpuLeaseConfigSchema = z.object(gpuLeaseConfigShape);
export type GpuLeaseConfig = z.infer<typeof gpuLeaseConfigSchema>;

export function gpuLeaseConfig(config: Record<string, unknown>): GpuLeaseConfig {
  return gpuLeaseConfigSchema.parse(config);
}
