import { z } from 'zod';
import { engineIdSchema, GRAPH_OPT_LEVELS, PRECISIONS, PROVIDERS } from './enums';

/** How an engine runs a model: chosen by bench, or given by the user. */
export const engineOptionsSchema = z
  .object({
    provider: z.enum(PROVIDERS).default('cpu'),
    precision: z.enum(PRECISIONS).default('fp32'),
    graphOptimization: z.enum(GRAPH_OPT_LEVELS).default('all'),
    threads: z.number().int().min(0).max(256).default(0),
    maxBatch: z.number().int().min(1).max(256).default(1),
  })
  .strict();
export type EngineOptions = z.infer<typeof engineOptionsSchema>;

export const engineConfigSchema = z
  .object({
    engine: engineIdSchema,
    options: engineOptionsSchema,
    /** Model file the engine loads (a variant path for fp16/int8). */
    modelPath: z.string().min(1),
  })
  .strict();
export type EngineConfig = z.infer<typeof engineConfigSchema>;
