import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { JOB_STATES, JOB_TYPES, type JobState, type JobType } from '@cvp/contracts';
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
  @ApiPropertyOptional({ nullable: true }) stage!: string | null;
  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true }) result!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true }) error!: string | null;
  @ApiProperty() attempts!: number;
  @ApiProperty() ownerId!: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) input!: Record<string, unknown>;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true }) startedAt!: string | null;
  @ApiProperty({ nullable: true }) finishedAt!: string | null;
}

/** One SSE event; `seq` is its SSE id. */
export interface JobEventView {
  seq: number;
  at: string;
  state?: JobState;
  progress?: number;
  stage?: string;
  detail?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: string;
  attempt?: number;
}

export class StreamTokenView {
  @ApiProperty({ description: 'Pass as ?streamToken= to GET /jobs/:id/events; valid for this job only' })
  streamToken!: string;
  @ApiProperty() expiresAt!: string;
  @ApiProperty({ description: 'Ready-made URL for EventSource' }) url!: string;
}
