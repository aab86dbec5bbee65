import { baseConfigSchema, portSetting } from '@cvp/platform';
import { z } from 'zod';

/** gateway settings, validated at start-up; every key has a local default. */
export const gatewayConfigSchema = baseConfigSchema.extend({
  CVP_GATEWAY_PORT: portSetting(3000),
  CVP_DB_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
});
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
