import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ENGINE_IDS, engineOptionsSchema, GRAPH_OPT_LEVELS, PRECISIONS, PROVIDERS } from '@cvp/contracts';
import { z } from 'zod';
import { ownerQuery } from '../auth/ownership';
import { DEPLOYMENT_STATES } from './deployment.entity';

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

export class EngineOptionsDto {
  @ApiProperty({ enum: PROVIDERS }) provider!: string;
  @ApiProperty({ enum: PRECISIONS }) precision!: string;
  @ApiProperty({ enum: GRAPH_OPT_LEVELS }) graphOptimization!: string;
  @ApiProperty({ description: 'intra-op threads; 0 = the engine decides' }) threads!: number;
  @ApiProperty() maxBatch!: number;
}
class EngineOptionsOverrideDto {
  @ApiPropertyOptional({ enum: PROVIDERS }) provider?: string;
  @ApiPropertyOptional({ enum: PRECISIONS }) precision?: string;
  @ApiPropertyOptional({ enum: GRAPH_OPT_LEVELS }) graphOptimization?: string;
  @ApiPropertyOptional({ minimum: 0, maximum: 256 }) threads?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 256 }) maxBatch?: number;
}
export class CreateDeploymentDto {
  @ApiProperty() modelId!: string;
  @ApiPropertyOptional({
    enum: [...ENGINE_IDS, 'selected'],
    default: 'native',
    description: "an engine, or bench's choice for this model",
  })
  engine?: string;
  @ApiPropertyOptional({ type: EngineOptionsOverrideDto, description: 'overrides of the engine options' })
  options?: EngineOptionsOverrideDto;
}
export class DeploymentDto {
  @ApiProperty() id!: string;
  @ApiProperty() modelId!: string;
  @ApiProperty() modelVersion!: number;
  @ApiProperty({ description: 'engine as asked, possibly "selected"' }) requestedEngine!: string;
  @ApiProperty({ enum: ENGINE_IDS }) engine!: string;
  @ApiProperty({ type: EngineOptionsDto }) options!: EngineOptionsDto;
  @ApiProperty({ nullable: true, type: String }) benchmarkId!: string | null;
  @ApiProperty({ enum: DEPLOYMENT_STATES }) state!: string;
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
  @ApiProperty() ownerId!: string;
  @ApiProperty({ description: 'KServe v2 model path on the data plane', example: '/v2/models/<modelId>' })
  servedAs!: string;
  @ApiProperty({ description: 'the gateway route that proxies images to it' }) inferUrl!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}
