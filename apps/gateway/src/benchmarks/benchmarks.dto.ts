import { z } from 'zod';
import { ownerQuery } from '../auth/ownership';

export const listBenchmarksQuery = z
  .object({
    modelId: z.string().min(1).max(64).optional(),
    owner: ownerQuery,
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

export const reportQuery = z
  .object({
    view: z.enum(['technical', 'simple']).default('technical'),
    format: z.enum(['json', 'html']).default('json'),
  })
  .strict();
