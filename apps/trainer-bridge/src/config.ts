import { baseConfigSchema, portSetting } from '@cvp/platform';
import type { z } from 'zod';

/** trainer-bridge settings, validated at start-up; every key has a local default. */
export const trainerBridgeConfigSchema = baseConfigSchema.extend({
  CVP_TRAINER_PORT: portSetting(3101),
});
export type TrainerBridgeConfig = z.infer<typeof trainerBridgeConfigSchema>;
