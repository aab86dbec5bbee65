import { z } from 'zod';
import { engineIdSchema, GRAPH_OPT_LEVELS, PRECISIONS, PROVIDERS } from './enums';

/** How an engine runs a model: chosen by bench, or given by the user. */
export const engineOptionsSchema = z
  .object({
    provider: z.enum(PROVIDERS).default('cpu'),
    precision: z.enum(PRECISIONS).default('fp32'),
    graphOptimization: z.enum(GRAPH_OPT_LEVELS).default('all'),
    /** Intra-op threads of each instance's session; 0 = ONNX Runtime's default (every core). */
    threads: z.number().int().min(0).max(256).default(0),
    maxBatch: z.number().int().min(1).max(256).default(1),
    /**
     * Model instances (Triton's instance group count): sessions that run requests at once, each
     * with `threads` intra-op threads; absent = 1 (configurations written before it existed).
     */
    instances: z.number().int().min(1).max(64).optional(),
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
