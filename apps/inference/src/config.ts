import { baseConfigSchema, portSetting } from '@cvp/platform';
import type { z } from 'zod';

/** inference settings, validated at start-up; every key has a local default. */
export const inferenceConfigSchema = baseConfigSchema.extend({
  CVP_INFERENCE_PORT: portSetting(8000),
});
export type InferenceConfig = z.infer<typeof inferenceConfigSchema>;
