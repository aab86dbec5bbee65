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
