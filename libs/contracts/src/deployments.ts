import { z } from 'zod';
import { contract, message } from './envelope';
import { engineConfigSchema } from './engines';
import { MODEL_TASKS } from './enums';

/** Gateway -> inference: a deployment was created or removed. */
export const deploymentChangedSchema = message({
  action: z.enum(['deploy', 'undeploy']),
  deploymentId: z.string().min(1).max(64),
  /** Name the data plane serves it under (/v2/models/{name}): the model id, on the platform and in bundles. */
  modelName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/),
  /** Other names it also answers to (a bundle adds the model's human name); a served name always wins over an alias. */
  aliases: z
    .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/))
    .max(8)
    .optional(),
  task: z.enum(MODEL_TASKS).optional(),
  labels: z.array(z.string().max(200)).max(10000).optional(),
  config: engineConfigSchema.optional(),
  /**
   * A short-lived deployment (bench's load steps): the data plane neither persists it across a
   * restart nor waits for it in its readiness. Absent = a regular deployment.
   */
  scratch: z.boolean().optional(),
  /**
   * With `scratch`: the SHA-256 (hex) of a bearer credential that the data plane accepts on this
   * deployment's own routes (/v2/models/{modelName}/...) while it serves it, so that bench's load
   * steps reach a data plane that requires credentials without holding a user's key. The
   * credential itself never travels on the bus.
   */
  scratchCredentialSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export type DeploymentChanged = z.infer<typeof deploymentChangedSchema>;
export const DeploymentChangedContract = contract<DeploymentChanged>('deployment.changed', deploymentChangedSchema);

/** Inference -> gateway: what a deployment became. */
export const deploymentStatusSchema = message({
  deploymentId: z.string().min(1).max(64),
  state: z.enum(['loading', 'ready', 'failed', 'removed']),
  error: z.string().max(4000).optional(),
});
export type DeploymentStatus = z.infer<typeof deploymentStatusSchema>;
export const DeploymentStatusContract = contract<DeploymentStatus>('deployment.status', deploymentStatusSchema);

/**
 * On `cvp.deployments.resync` (core NATS, the gateways' queue group): a data-plane replica started
 * and may have missed events (a rescheduled pod starts with an empty data dir); a gateway answers by
 * re-announcing every active deployment on `cvp.deployments.changed` (deploy is idempotent there).
 */
export const deploymentResyncSchema = message({ replica: z.string().min(1).max(200) });
export type DeploymentResync = z.infer<typeof deploymentResyncSchema>;
export const DeploymentResyncContract = contract<DeploymentResync>('deployment.resync', deploymentResyncSchema);
