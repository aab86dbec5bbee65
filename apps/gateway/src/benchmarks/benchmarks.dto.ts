import { z } from 'zod';

export const listBenchmarksQuery = z
  .object({
    modelId: z.string().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

export const reportQuery = z
  .object({
    view: z.enum(['technical', 'simple']).default('technical'),
    format: z.enum(['json', 'html']).default('json'),
  })
  .strict();
