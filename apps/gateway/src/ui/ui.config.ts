import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/** Web UI config of the gateway (merged into its config schema; every key has a default). */
export const uiConfigShape = {
  /** A session ends this long after sign-in, whatever happens. */
  CVP_UI_SESSION_TTL_S: int(12 * 3600, 60, 30 * 86_400),
  /** A session unused for this long ends. */
  CVP_UI_SESSION_IDLE_S: int(3600, 60, 30 * 86_400),
  /** How often the deployments page re-reads the data plane's metrics (and the GPU page its table). */
  CVP_UI_REFRESH_MS: int(2000, 250, 60_000),
  /** Bound on one read of the data plane's /metrics. */
  CVP_UI_METRICS_TIMEOUT_MS: int(2000, 100, 30_000),
};
export const uiConfigSchema = z.object(uiConfigShape);
export type UiConfig = z.infer<typeof uiConfigSchema>;

export function uiConfig(config: Record<string, unknown>): UiConfig {
  return uiConfigSchema.parse(config);
}
