import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/** Job config of the gateway (merged into the gateway's config schema; every key has a default). */
export const jobsConfigShape = {
  /** Lifetime of an SSE stream token (EventSource reconnects reuse it until then). */
  CVP_JOB_STREAM_TOKEN_TTL_S: int(300, 5, 3600),
  /** SSE comment heartbeat, so proxies and clients see a live stream. */
  CVP_JOB_SSE_HEARTBEAT_MS: int(15_000, 100, 120_000),
  /** Each SSE stream re-reads the job's log this often, in case a notice from another gateway was lost. */
  CVP_JOB_SSE_POLL_MS: int(5000, 100, 120_000),
  /** Concurrent SSE streams the gateway serves at most (each holds a socket). */
  CVP_JOB_SSE_MAX_STREAMS: int(500, 1, 100_000),
};
export const jobsConfigSchema = z.object(jobsConfigShape);
export type JobsConfig = z.infer<typeof jobsConfigSchema>;

/** Reads the job config from the service config (absent keys take their defaults). */
export function jobsConfig(config: Record<string, unknown>): JobsConfig {
  return jobsConfigSchema.parse(config);
}
