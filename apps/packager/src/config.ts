import { baseConfigSchema, portSetting } from '@cvp/platform';
import type { z } from 'zod';

/** packager settings, validated at start-up; every key has a local default. */
export const packagerConfigSchema = baseConfigSchema.extend({
  CVP_PACKAGER_PORT: portSetting(3103),
});
export type PackagerConfig = z.infer<typeof packagerConfigSchema>;
