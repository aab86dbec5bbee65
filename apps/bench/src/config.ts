import { baseConfigSchema, portSetting } from '@cvp/platform';
import type { z } from 'zod';

/** bench settings, validated at start-up; every key has a local default. */
export const benchConfigSchema = baseConfigSchema.extend({
  CVP_BENCH_PORT: portSetting(3102),
});
export type BenchConfig = z.infer<typeof benchConfigSchema>;
