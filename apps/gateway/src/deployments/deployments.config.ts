import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/** Deployment and inference-proxy config of the gateway (merged into its config schema; every key has a default). */
export const deploymentsConfigShape = {
  /** The data plane's base URL (KServe v2 HTTP). */
  CVP_INFERENCE_URL: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(:\d+)?\/?$/, 'must be http(s)://host:port')
    .default('http://127.0.0.1:8000'),
  /** Bound on one proxied inference request, upload to last response byte. */
  CVP_INFER_PROXY_TIMEOUT_MS: int(60_000, 100, 600_000),
  /** Largest image the proxy forwards. */
  CVP_INFER_PROXY_MAX_BYTES: int(64 * 1024 * 1024, 1024, 1024 ** 3),
  /** Keep-alive sockets to the data plane (covers 100 concurrent users with room). */
  CVP_INFER_PROXY_SOCKETS: int(256, 1, 10_000),
};
export const deploymentsConfigSchema = z.object(deploymentsConfigShape);
export type DeploymentsConfig = z.infer<typeof deploymentsConfigSchema>;

export function deploymentsConfig(config: Record<string, unknown>): DeploymentsConfig {
  return deploymentsConfigSchema.parse(config);
}
