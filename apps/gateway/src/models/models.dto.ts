import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MODEL_FORMATS, MODEL_TASKS, type ModelFormat, type ModelTask, PRESETS } from '@cvp/contracts';
import { z } from 'zod';
import { paginationQuery } from '../common/pagination';
import { ownerQuery } from '../auth/ownership';

const labelsField = z
  .string()
  .max(64 * 1024)
  .transform((s, ctx) => {
    const t = s.trim();
    let list: unknown;
    try {
      list = t.startsWith('[') ? JSON.parse(t) : t.split(',').map((x) => x.trim());
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'labels: a JSON array or a comma-separated list' });
      return z.NEVER;
    }
    const r = z.array(z.string().min(1).max(200)).max(10_000).safeParse(list);
    if (!r.success) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'labels: non-empty strings of at most 200 characters' });
      return z.NEVER;
    }
    return r.data;
  });

/** Text fields of the multipart model upload (the file itself is the `file` part). */
export const uploadModelFields = z
  .object({
    format: z.enum(MODEL_FORMATS),
    task: z.enum(MODEL_TASKS),
    name: z.string().min(1).max(200).optional(),
    /** N,C,H,W for sources without fixed shapes (TorchScript), e.g. 1,3,224,224. */
    inputShape: z
      .string()
      .regex(/^\d{1,5}(,\d{1,5}){3}$/, 'N,C,H,W')
      .transform((s) => s.split(',').map(Number))
      .refine((d) => d.every((x) => x >= 1 && x <= 8192), 'dims between 1 and 8192')
      .optional(),
    labels: labelsField.optional(),
  })
  .strict();
export type UploadModelFields = z.infer<typeof uploadModelFields>;

export const presetBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    labels: z.array(z.string().min(1).max(200)).max(10_000).optional(),
  })
  .strict();
export const presetName = z.enum(PRESETS);
export const listModelsQuery = paginationQuery.extend({
  task: z.enum(MODEL_TASKS).optional(),
  name: z.string().max(200).optional(),
  owner: ownerQuery,
});
export type ListModelsQuery = z.infer<typeof listModelsQuery>;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: (number | string)[];
}

/** A model as REST answers it (models.mapper.ts builds it; ModelDto documents it). */
export interface ModelView {
  id: string;
  name: string;
  task: ModelTask;
  sourceFormat: ModelFormat;
  preset: string | null;
  labels: string[] | null;
  ownerId: string;
  latestVersion: number;
  trained: boolean;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  opset: number | null;
  parameters: number | null;
  flops: number | null;
  sizeBytes: number | null;
  sha256: string | null;
  createdAt: string;
  updatedAt: string;
  versions: {
    version: number;
    sourceFormat: ModelFormat;
    sourceSha256: string | null;
    sourceSize: number | null;
    converted: boolean;
    trained: boolean;
    metadata: Record<string, unknown> | null;
    metrics: Record<string, unknown> | null;
    jobId: string | null;
    createdAt: string;
  }[];
}

/** The conversion job an upload or a preset queued. */
export interface CreatedJob {
  id: string;
  type: string;
  state: string;
}

export class UploadModelDto {
  @ApiProperty({
    type: 'string',
    format: 'binary',
    description: 'the model file (ONNX, TorchScript .pt, Ultralytics .pt, or a zip of a TF SavedModel folder)',
  })
  file!: unknown;
  @ApiProperty({ enum: MODEL_FORMATS }) format!: string;
  @ApiProperty({ enum: MODEL_TASKS }) task!: string;
  @ApiPropertyOptional() name?: string;
  @ApiPropertyOptional({ example: '1,3,224,224', description: 'N,C,H,W for sources without fixed input shapes' })
  inputShape?: string;
  @ApiPropertyOptional({ example: 'cat,dog', description: 'class names: JSON array or comma-separated' })
  labels?: string;
}
export class PresetDto {
  @ApiPropertyOptional() name?: string;
  @ApiPropertyOptional({ type: [String] }) labels?: string[];
}
export class TensorDto {
  @ApiProperty() name!: string;
  @ApiProperty({ example: 'float32' }) dtype!: string;
  @ApiProperty({
    type: 'array',
    items: { oneOf: [{ type: 'integer' }, { type: 'string' }] },
    example: ['batch', 3, 640, 640],
  })
  shape!: (number | string)[];
}
export class ModelVersionDto {
  @ApiProperty() version!: number;
  @ApiProperty({ enum: MODEL_FORMATS }) sourceFormat!: string;
  @ApiProperty({ nullable: true, type: String }) sourceSha256!: string | null;
  @ApiProperty({ description: 'ONNX produced and validated' }) converted!: boolean;
  @ApiProperty() trained!: boolean;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true }) metadata!: Record<
    string,
    unknown
  > | null;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true }) metrics!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: String }) jobId!: string | null;
  @ApiProperty() createdAt!: string;
}
export class ModelDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: MODEL_TASKS }) task!: string;
  @ApiProperty({ enum: MODEL_FORMATS }) sourceFormat!: string;
  @ApiProperty({ nullable: true, type: String }) preset!: string | null;
  @ApiProperty() latestVersion!: number;
  @ApiProperty() trained!: boolean;
  @ApiProperty({ type: [TensorDto] }) inputs!: TensorDto[];
  @ApiProperty({ type: [TensorDto] }) outputs!: TensorDto[];
  @ApiProperty({ nullable: true, type: Number }) opset!: number | null;
  @ApiProperty({ nullable: true, type: Number }) parameters!: number | null;
  @ApiProperty({ nullable: true, type: Number }) flops!: number | null;
  @ApiProperty({ nullable: true, type: Number }) sizeBytes!: number | null;
  @ApiProperty({ nullable: true, type: String, description: 'SHA-256 of the latest ONNX' }) sha256!: string | null;
  @ApiProperty({ type: [ModelVersionDto] }) versions!: ModelVersionDto[];
}
export class ConversionJobDto {
  @ApiProperty() id!: string;
  @ApiProperty({ example: 'convert' }) type!: string;
  @ApiProperty({ example: 'queued' }) state!: string;
}
export class AcceptedModelDto {
  @ApiProperty({ type: ModelDto }) model!: ModelDto;
  @ApiProperty({ type: () => ConversionJobDto, description: 'the convert job (GET /jobs/{id}, or its events)' })
  job!: ConversionJobDto;
  @ApiPropertyOptional() note?: string;
}
export class ModelPageDto {
  @ApiProperty({ type: [ModelDto] }) items!: ModelDto[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
}
