import { ApiProperty } from '@nestjs/swagger';
import { ENGINE_IDS } from '@cvp/contracts';
import { z } from 'zod';
import { ownerQuery } from '../auth/ownership';

export const listPackagesQuery = z
  .object({
    modelId: z.string().min(1).max(64).optional(),
    owner: ownerQuery,
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

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
