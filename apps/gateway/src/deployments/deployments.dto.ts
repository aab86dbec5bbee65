import { ENGINE_IDS, engineOptionsSchema } from '@cvp/contracts';
import { z } from 'zod';
import { ownerQuery } from '../auth/ownership';

/** POST /deployments: a model, an engine (or bench's selection), optional engine options. */
export const createDeploymentSchema = z
  .object({
    modelId: z.string().min(1).max(64),
    /** native (the C++ core, the default), ort-node, or bench's choice for this model. */
    engine: z.enum([...ENGINE_IDS, 'selected']).default('native'),
    /** Overrides of the engine options (for "selected": over bench's chosen options). */
    options: engineOptionsSchema.partial().strict().optional(),
  })
  .strict();
export type CreateDeployment = z.infer<typeof createDeploymentSchema>;

export const listDeploymentsQuery = z
  .object({
    modelId: z.string().min(1).max(64).optional(),
    /** Include removed/replaced/failed ones (default: only active). */
    all: z.enum(['true', 'false']).optional(),
    owner: ownerQuery,
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
export type ListDeploymentsQuery = z.infer<typeof listDeploymentsQuery>;
