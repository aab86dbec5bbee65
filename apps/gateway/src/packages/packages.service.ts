import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { PackageJobResult } from '@cvp/contracts';
import { OnJobSucceeded, type SucceededJob } from '@cvp/jobs';
import { ArtifactTimeoutError, Artifacts, assertArtifactKey } from '@cvp/artifacts';
import { InjectConfig, InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import type { Repository } from 'typeorm';
import { PackageEntity } from './package.entity';
import type { PackageView } from './packages.dto';
import { assertMayChange } from '../auth/ownership';
import type { AuthenticatedPrincipal } from '../auth/principal';

/** A package job result that cannot become a row; the job is stored failed with this message. */
export class InvalidPackageResultError extends Error {
  override name = 'InvalidPackageResultError';
}

const isInside = (root: string, p: string) => p === root || p.startsWith(root + path.sep);
const isKey = (k: string) => {
  try {
    return !!assertArtifactKey(k);
  } catch {
    return false;
  }
};

function toView(r: PackageEntity): PackageView {
  return {
    id: r.id,
    jobId: r.jobId,
    ownerId: r.ownerId,
    modelId: r.modelId,
    modelVersion: r.modelVersion,
    engine: r.engine,
    selected: !!r.selected,
    variant: r.variant,
    benchmarkId: r.benchmarkId,
    sha256: r.sha256,
    sizeBytes: Number(r.sizeBytes),
    fileCount: r.fileCount,
    createdAt: r.createdAt,
    downloadUrl: `/api/v1/packages/${r.id}/download`,
  };
}

export interface PackageDownload {
  file: string;
  fileName: string;
  sizeBytes: number;
  sha256: string;
  /** Unpins the file in the artifact cache: call when the response has been sent or dropped. */
  release(): void;
}

@Injectable()
export class PackagesService {
  private readonly dataDir: string;

  constructor(
    @InjectRepository(PackageEntity) private readonly repo: Repository<PackageEntity>,
    @InjectConfig() config: { CVP_DATA_DIR: string },
    private readonly artifacts: Artifacts,
    @InjectLogger() private readonly logger: Logger,
  ) {
    this.dataDir = path.resolve(config.CVP_DATA_DIR);
  }

  /** A succeeded package job becomes a row before the job is stored succeeded; its result gains the download URL. */
  @OnJobSucceeded('package')
  async onPackageSucceeded(job: SucceededJob<'package'>): Promise<{ packageId: string; downloadUrl: string }> {
    const view = await this.recordFromJob(job, job.result);
    return { packageId: view.id, downloadUrl: view.downloadUrl };
  }

  /**
   * Stores a succeeded package job as a row. The tarball must exist inside the data dir with the
   * reported size; the same packageId (same content) from another job updates the row's job, and
   * the package keeps its first owner (packaging someone's package again does not take it over).
   */
  async recordFromJob(job: { id: string; ownerId: string }, r: PackageJobResult): Promise<PackageView> {
    const tarball = path.resolve(this.dataDir, r.tarballPath);
    if (!isInside(path.join(this.dataDir, 'packages'), tarball) || !isKey(r.tarballPath))
      throw new InvalidPackageResultError(`tarball ${r.tarballPath} is outside the data dir's packages folder`);
    // The tarball path is its artifact key: checked where it is stored (this data dir, or the bucket).
    const info = await this.artifacts.store.stat(r.tarballPath).catch(() => null);
    if (info?.size !== r.sizeBytes)
      throw new InvalidPackageResultError(`tarball ${r.tarballPath} is missing or not ${r.sizeBytes} bytes`);
    const existing = await this.repo.findOne({ where: { id: r.packageId } });
    const row = this.repo.create({
      id: r.packageId,
      jobId: job.id,
      ownerId: existing?.ownerId ?? job.ownerId,
      modelId: r.modelId,
      modelVersion: r.modelVersion,
      engine: r.engine,
      selected: r.selected,
      variant: r.variant,
      benchmarkId: r.benchmarkId,
      sha256: r.sha256,
      sizeBytes: r.sizeBytes,
      fileCount: r.fileCount,
      tarballPath: path.relative(this.dataDir, tarball),
      createdAt: existing?.createdAt ?? new Date().toISOString(),
    });
    await this.repo.save(row);
    return toView(row);
  }

  async list(modelId?: string, limit = 100, ownerId?: string): Promise<PackageView[]> {
    const rows = await this.repo.find({
      where: { ...(modelId ? { modelId } : {}), ...(ownerId ? { ownerId } : {}) },
      order: { createdAt: 'DESC', id: 'DESC' },
      take: limit,
    });
    return rows.map(toView);
  }

  async get(id: string): Promise<PackageView> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new NotFoundException(`package ${id} not found`);
    return toView(row);
  }

  /** Deletes a package (its owner or an admin): the row, then its folder under packages/ and in the store. */
  async remove(id: string, who: Pick<AuthenticatedPrincipal, 'ownerId' | 'role'>): Promise<void> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new NotFoundException(`package ${id} not found`);
    assertMayChange(who, row, `package ${id}`);
    await this.repo.delete({ id });
    const dir = path.dirname(path.resolve(this.dataDir, row.tarballPath));
    // Only a folder of its own under packages/ goes (never the packages root or anything outside it).
    if (isInside(path.join(this.dataDir, 'packages'), dir) && dir !== path.join(this.dataDir, 'packages'))
      await fs.rm(dir, { recursive: true, force: true });
    await this.artifacts.discardTree(`packages/${id}`, this.logger);
  }

  /** The tarball of a package, checked to still be there (a deleted file is 404, never a 500). */
  async download(id: string): Promise<PackageDownload> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new NotFoundException(`package ${id} not found`);
    const gone = () => new NotFoundException(`the tarball of package ${id} is no longer in the data dir`);
    if (!isKey(row.tarballPath)) throw gone();
    // Brought onto this host from the store when the packager ran elsewhere; pinned while it streams.
    const lease = await this.artifacts.store.materialize(row.tarballPath).catch((e: unknown) => {
      throw e instanceof ArtifactTimeoutError ? e : gone(); // an unreachable store is 503, not 404
    });
    return {
      file: lease.path,
      fileName: path.posix.basename(row.tarballPath),
      sizeBytes: lease.size,
      sha256: row.sha256,
      release: () => lease.release(),
    };
  }
}
