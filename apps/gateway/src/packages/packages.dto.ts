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
