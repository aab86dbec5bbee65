import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ENGINE_IDS,
  JOB_STATES,
  JOB_TYPES,
  type JobState,
  type JobStreamEvent,
  type JobType,
  TUNE_STRATEGIES,
} from '@cvp/contracts';
import { z } from 'zod';
import { paginationQuery } from '../common/pagination';
import { ownerQuery } from '../auth/ownership';

export const listJobsQuery = paginationQuery.extend({
  type: z.enum(JOB_TYPES).optional(),
  state: z.enum(JOB_STATES).optional(),
  owner: ownerQuery,
});
export type ListJobsQuery = z.infer<typeof listJobsQuery>;

export const jobTypeParam = z.enum(JOB_TYPES);

/** A job as the API returns it; `result` names what the job made (a model version, a benchmark, a package...). */
export class JobView {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: JOB_TYPES }) type!: JobType;
  @ApiProperty({ enum: JOB_STATES }) state!: JobState;
  @ApiProperty({ description: '0..1' }) progress!: number;
  @ApiProperty({ nullable: true, type: String }) stage!: string | null;
  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true }) result!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
  @ApiProperty() attempts!: number;
  @ApiProperty() ownerId!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) input!: Record<string, unknown>;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) startedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;
}

/** One SSE event as stored; the stream adds the job's id when it writes it. */
export type JobEventView = Omit<JobStreamEvent, 'jobId'>;

export class StreamTokenView {
  @ApiProperty({ description: 'Pass as ?streamToken= to GET /jobs/:id/events; valid for this job only' })
  streamToken!: string;
  @ApiProperty() expiresAt!: string;
  @ApiProperty({ description: 'Ready-made URL for EventSource' }) url!: string;
}

export class JobPageDto {
  @ApiProperty({ type: [JobView] }) items!: JobView[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
}

/* Job inputs as the document shows them; validated by jobInputSchemas (libs/contracts). */
const seed = { minimum: 0, maximum: 2 ** 31 - 1, default: 0 };
const device = { pattern: '^(cpu|\\d+)$', default: 'cpu', description: 'cpu or a CUDA device index' };
const imgsz = { minimum: 32, maximum: 2048, multipleOf: 32 };
const positive = { minimum: 0, exclusiveMinimum: true };

export class ConvertJobInputDto {
  @ApiProperty() modelId!: string;
}
export class TrainJobInputDto {
  @ApiProperty() modelId!: string;
  @ApiProperty() datasetId!: string;
  @ApiProperty({ minimum: 1, maximum: 1000 }) epochs!: number;
  @ApiProperty(imgsz) imgsz!: number;
  @ApiProperty({ minimum: 1, maximum: 512 }) batch!: number;
  @ApiPropertyOptional(device) device?: string;
  @ApiPropertyOptional(seed) seed?: number;
}
export class TuneJobInputDto {
  @ApiProperty() modelId!: string;
  @ApiProperty() datasetId!: string;
  @ApiProperty({ enum: TUNE_STRATEGIES }) strategy!: string;
  @ApiProperty({ minimum: 1, maximum: 500 }) trials!: number;
  @ApiProperty({ minimum: 1, maximum: 300 }) epochs!: number;
  @ApiProperty(imgsz) imgsz!: number;
  @ApiPropertyOptional(device) device?: string;
  @ApiPropertyOptional(seed) seed?: number;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'search space overrides' })
  space?: Record<string, unknown>;
}
export class BenchConstraintsDto {
  @ApiPropertyOptional(positive) maxP95Ms?: number;
  @ApiPropertyOptional(positive) maxRssMb?: number;
  @ApiPropertyOptional(positive) maxVramMb?: number;
  @ApiPropertyOptional({ minimum: 0, maximum: 1, description: 'e.g. 0.02 = 2 points of mAP@0.5 or top-1' })
  maxAccuracyDrop?: number;
  @ApiPropertyOptional({ ...positive, description: 'inferences per second' })
  minThroughput?: number;
}
export class BenchJobInputDto {
  @ApiProperty() modelId!: string;
  @ApiPropertyOptional({ type: [Number], description: 'fills symbolic dimensions, e.g. [1, 3, 640, 640]' })
  inputShape?: number[];
  @ApiPropertyOptional({ description: 'images for the inputs, labels for mAP' }) datasetId?: string;
  @ApiPropertyOptional({ type: BenchConstraintsDto }) constraints?: BenchConstraintsDto;
}
export class PackageJobInputDto {
  @ApiProperty() modelId!: string;
  @ApiProperty({ enum: [...ENGINE_IDS, 'selected'] }) engine!: string;
  @ApiPropertyOptional({ enum: ['cpu', 'cuda'], default: 'cpu' }) variant?: string;
}
export const JOB_INPUT_DTOS = [
  ConvertJobInputDto,
  TrainJobInputDto,
  TuneJobInputDto,
  BenchJobInputDto,
  PackageJobInputDto,
] as const;
