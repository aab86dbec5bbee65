import { ApiProperty } from '@nestjs/swagger';
import { ENGINE_IDS } from '@cvp/contracts';
import { z } from 'zod';

export const listPackagesQuery = z
  .object({
    modelId: z.string().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

/** What the packager reports for a succeeded package job (apps/packager PackageJobHandler). */
export const packageJobResultSchema = z.object({
  packageId: z.string().regex(/^pkg-[0-9a-f]{24}$/),
  modelId: z.string().min(1).max(64),
  modelVersion: z.number().int().min(1),
  engine: z.enum(['native', 'ort-node']),
  selected: z.boolean(),
  variant: z.enum(['cpu', 'cuda']),
  benchmarkId: z.string().min(1).max(64).nullable(),
  tarballPath: z.string().min(1).max(1000),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().min(1),
  fileCount: z.number().int().min(1),
});
export type PackageJobResult = z.infer<typeof packageJobResultSchema>;

export interface PackageView {
  id: string;
  jobId: string;
  ownerId: string;
  modelId: string;
  modelVersion: number;
  engine: string;
  selected: boolean;
  variant: string;
  benchmarkId: string | null;
  sha256: string;
  sizeBytes: number;
  fileCount: number;
  createdAt: string;
  /** Where to fetch the tarball (same roles as reading it). */
  downloadUrl: string;
}

export class PackageDto implements PackageView {
  @ApiProperty({ example: 'pkg-0123456789abcdef01234567' }) id!: string;
  @ApiProperty() jobId!: string;
  @ApiProperty() ownerId!: string;
  @ApiProperty() modelId!: string;
  @ApiProperty() modelVersion!: number;
  @ApiProperty({ enum: ENGINE_IDS }) engine!: string;
  @ApiProperty({ description: "the engine is bench's selection" }) selected!: boolean;
  @ApiProperty({ enum: ['cpu', 'cuda'] }) variant!: string;
  @ApiProperty({ nullable: true, type: String }) benchmarkId!: string | null;
  @ApiProperty({ description: 'SHA-256 of the tarball' }) sha256!: string;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty() fileCount!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ example: '/api/v1/packages/<id>/download' }) downloadUrl!: string;
}
