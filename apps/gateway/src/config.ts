import { baseConfigSchema, portSetting } from '@cvp/platform';
import type { z } from 'zod';

/** gateway settings, validated at start-up; every key has a local default. */
export const gatewayConfigSchema = baseConfigSchema.extend({
  CVP_GATEWAY_PORT: portSetting(3000),
});
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
