import { ApiProperty } from '@nestjs/swagger';
import { ENGINE_IDS } from '@cvp/contracts';
import { z } from 'zod';
import { ownerQuery } from '../auth/ownership';
import { EngineOptionsDto } from '../deployments/deployments.dto';

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

const DECISION_STATUS = ['selected', 'infeasible', 'no-candidates'];

export class EngineConfigDto {
  @ApiProperty({ enum: ENGINE_IDS }) engine!: string;
  @ApiProperty({ type: EngineOptionsDto }) options!: EngineOptionsDto;
  @ApiProperty({ description: 'the model file the engine loads (a variant for fp16/int8)' }) modelPath!: string;
}
export class BenchmarkDto {
  @ApiProperty() id!: string;
  @ApiProperty() modelId!: string;
  @ApiProperty() modelVersion!: number;
  @ApiProperty() jobId!: string;
  @ApiProperty({ enum: DECISION_STATUS }) status!: string;
  @ApiProperty({ nullable: true, type: String }) selectedId!: string | null;
  @ApiProperty({ nullable: true, type: EngineConfigDto }) selected!: EngineConfigDto | null;
  @ApiProperty() baselineP50Ms!: number;
  @ApiProperty({ nullable: true, type: Number }) selectedP50Ms!: number | null;
  @ApiProperty() summary!: string;
  @ApiProperty() reportDir!: string;
  @ApiProperty() createdAt!: string;
}
/** view=simple&format=json: the plain-language verdict. */
export class SimpleReportDto {
  @ApiProperty() id!: string;
  @ApiProperty() modelId!: string;
  @ApiProperty() modelVersion!: number;
  @ApiProperty() headline!: string;
  @ApiProperty({ nullable: true, type: String, description: 'the chosen candidate' }) chosen!: string | null;
  @ApiProperty({ nullable: true, type: Number, description: 'baseline p50 / chosen p50' }) speedup!: number | null;
  @ApiProperty() baselineP50Ms!: number;
  @ApiProperty({ nullable: true, type: Number }) chosenP50Ms!: number | null;
  @ApiProperty() accuracyImpact!: string;
  @ApiProperty() recommendation!: string;
  @ApiProperty({ type: [String] }) caveats!: string[];
  @ApiProperty({ enum: DECISION_STATUS }) status!: string;
}
