import { GPU_NODE_PATTERN } from '@cvp/contracts';
import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/** Lease service config (merged into the gateway's config schema; every key has a default). */
export const gpuLeaseConfigShape = {
  /** Concurrent GPU holders allowed per node (or GPU) without a setting of its own. */
  CVP_GPU_TOKENS: int(2, 1, 64),
  /** Pool sizes per node, `node=tokens` separated by commas (e.g. `gpu-a=4,gpu-b=1`). */
  // The config is parsed again by each consumer, so the parsed form is accepted too.
  CVP_GPU_NODE_TOKENS: z
    .union([
      z.record(z.string().regex(GPU_NODE_PATTERN), z.number().int().min(1).max(64)),
      z
        .string()
        .default('')
        .transform((v, ctx) => {
          const pools: Record<string, number> = {};
          for (const part of v
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean)) {
            const m = /^(.+)=(\d+)$/.exec(part);
            const node = m?.[1].trim() ?? '';
            const tokens = Number(m?.[2]);
            if (!m || !GPU_NODE_PATTERN.test(node) || tokens < 1 || tokens > 64 || node in pools) {
              ctx.addIssue({
                code: z.ZodIssueCode.custom,
                message: `"${part}": expected node=tokens (tokens 1..64, each node once)`,
              });
              return z.NEVER;
            }
            pools[node] = tokens;
          }
          return pools;
        }),
    ])
    .default(''),
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
