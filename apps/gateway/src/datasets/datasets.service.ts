import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  HttpException,
  Injectable,
  NotFoundException,
  type OnModuleInit,
  UnprocessableEntityException,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Artifacts } from '@cvp/artifacts';
import { InjectConfig, InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import type { DatasetFormat } from '@cvp/contracts';
import { Repository } from 'typeorm';
import { type Page, pageOf, type PaginationQuery, skipTake } from '../common/pagination';
import type { GatewayConfig } from '../config';
import type { StagedUpload } from '../common/upload/hashing-storage';
import { DatasetEntity } from './dataset.entity';
import { ImageBombError, validateDataset, type ValidationReport } from './dataset-validator';
import { ArchiveRejected, extractZip } from '../common/safe-zip';
import { assertMayChange } from '../auth/ownership';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { UserLimitsService } from '../limits/user-limits.service';

export interface DatasetView {
  id: string;
  name: string;
  format: DatasetFormat;
  valid: boolean;
  classes: string[];
  sha256: string;
  size: number;
  ownerId: string;
  createdAt: string;
  report: ValidationReport;
}

const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const view = (d: DatasetEntity): DatasetView => ({
  id: d.id,
  name: d.name,
  format: d.format,
  valid: !!d.valid,
  classes: d.classes,
  sha256: d.sha256,
  size: d.size,
  ownerId: d.ownerId,
  createdAt: d.createdAt,
  report: d.report,
});

@Injectable()
export class DatasetsService implements OnModuleInit {
  private readonly root: string;
  constructor(
    @InjectRepository(DatasetEntity) private readonly datasets: Repository<DatasetEntity>,
    @InjectConfig() private readonly config: GatewayConfig,
    private readonly limits: UserLimitsService,
    private readonly artifacts: Artifacts,
    @InjectLogger() private readonly logger: Logger,
  ) {
    this.root = path.resolve(config.CVP_DATA_DIR, 'datasets');
  }

  get uploadTmpDir(): string {
    return path.resolve(this.config.CVP_DATA_DIR, 'tmp', 'dataset-uploads');
  }

  /** Half-extracted folders of a crash are removed at start-up. */
  async onModuleInit(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
    await fs.rm(this.uploadTmpDir, { recursive: true, force: true });
    await fs.mkdir(this.uploadTmpDir, { recursive: true });
    for (const e of await fs.readdir(this.root))
      if (e.startsWith('.tmp-')) await fs.rm(path.join(this.root, e), { recursive: true, force: true });
  }

  dir(id: string): string {
    return path.join(this.root, id);
  }

  /**
   * Extracts (streamed, capped, every entry checked) into a temp folder, validates, then renames
   * it into place. Hostile archives and image bombs: 4xx, nothing kept. Data sets that extract but
   * fail validation are kept as rejected (report only, no data) and answered 422 with the report.
   */
  async upload(
    staged: StagedUpload,
    fields: { format: DatasetFormat; name?: string },
    ownerId: string,
  ): Promise<DatasetView> {
    if (staged.size === 0) throw new HttpException('empty file (0 bytes)', 400);
    if (!staged.head.subarray(0, 4).equals(ZIP_MAGIC))
      throw new HttpException('a data set upload must be a zip archive', 415);
    await this.limits.assertMayStore(ownerId, staged.size);
    const id = randomUUID();
    const tmp = path.join(this.root, `.tmp-${id}`);
    await fs.mkdir(path.join(tmp, 'data'), { recursive: true });
    try {
      const c = this.config;
      await extractZip(staged.tmpPath, path.join(tmp, 'data'), {
        maxEntries: c.CVP_DATASET_MAX_ENTRIES,
        maxTotalBytes: c.CVP_DATASET_MAX_UNCOMPRESSED_BYTES,
        maxRatio: c.CVP_DATASET_MAX_RATIO,
      });
      const report = await validateDataset(fields.format, path.join(tmp, 'data'), c.CVP_IMAGE_MAX_PIXELS);
      if (!report.valid) await fs.rm(path.join(tmp, 'data'), { recursive: true, force: true }); // a rejected set keeps only its report
      await fs.writeFile(path.join(tmp, 'report.json'), JSON.stringify(report, null, 2));
      const row = this.datasets.create({
        id,
        name: fields.name ?? (path.basename(staged.originalName || 'dataset', '.zip').slice(0, 200) || 'dataset'),
        format: fields.format,
        valid: report.valid,
        classes: report.classes,
        report,
        sha256: staged.sha256,
        size: staged.size,
        ownerId,
        createdAt: new Date().toISOString(),
      });
      await fs.rename(tmp, this.dir(id));
      try {
        // Workers on other hosts unpack it from the store (one tar: any file names, one object).
        if (report.valid) await this.artifacts.publishTree(path.join(this.dir(id), 'data'));
        await this.datasets.insert(row);
      } catch (e) {
        await fs.rm(this.dir(id), { recursive: true, force: true });
        throw e;
      }
      if (!report.valid) {
        throw new UnprocessableEntityException({
          type: 'urn:cvp:problem:dataset-rejected',
          title: 'Unprocessable Content',
          status: 422,
          detail: `data set rejected: ${report.problems.length + report.problemsTruncated} problem(s); it is kept with its report and cannot be used for training`,
          datasetId: id,
          report,
        });
      }
      return view(row);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      if (e instanceof ArchiveRejected)
        throw new HttpException(
          {
            type: 'urn:cvp:problem:archive-rejected',
            title: e.status === 413 ? 'Payload Too Large' : 'Unprocessable Content',
            status: e.status,
            detail: e.message,
            ...(e.entry ? { entry: e.entry } : {}),
          },
          e.status,
        );
      if (e instanceof ImageBombError)
        throw new HttpException(
          {
            type: 'urn:cvp:problem:image-bomb',
            title: 'Payload Too Large',
            status: 413,
            detail: e.message,
            file: e.file,
          },
          413,
        );
      throw e;
    }
  }

  async list(
    q: PaginationQuery & { valid?: boolean; format?: DatasetFormat },
    ownerId?: string,
  ): Promise<Page<Omit<DatasetView, 'report'>>> {
    const where: Record<string, unknown> = {};
    if (q.valid !== undefined) where.valid = q.valid;
    if (q.format) where.format = q.format;
    if (ownerId) where.ownerId = ownerId;
    const [rows, total] = await this.datasets.findAndCount({
      where,
      order: { createdAt: 'DESC', id: 'ASC' },
      ...skipTake(q),
    });
    return pageOf(
      rows.map((d) => {
        const { report: _r, ...rest } = view(d);
        return rest;
      }),
      total,
      q,
    );
  }

  async get(id: string): Promise<DatasetView> {
    const d = await this.datasets.findOneBy({ id });
    if (!d) throw new NotFoundException(`dataset ${id} not found`);
    return view(d);
  }

  /** Its owner or an admin: the row, then its folder, here and in the store. */
  async remove(id: string, who: Pick<AuthenticatedPrincipal, 'ownerId' | 'role'>): Promise<void> {
    const d = await this.datasets.findOne({ where: { id }, select: { id: true, ownerId: true } });
    if (!d) throw new NotFoundException(`dataset ${id} not found`);
    assertMayChange(who, d, `dataset ${id}`);
    const r = await this.datasets.delete({ id });
    if (!r.affected) throw new NotFoundException(`dataset ${id} not found`);
    await fs.rm(this.dir(id), { recursive: true, force: true });
    await this.artifacts.discardTree(`datasets/${id}`, this.logger);
  }

  /** A data set as workers read it (cvp.registry.dataset.describe): the folder a trainer passes as `data`. */
  async describe(id: string) {
    const d = await this.datasets.findOneBy({ id });
    if (!d) return null;
    return {
      id: d.id,
      name: d.name,
      format: d.format,
      path: this.artifacts.refOfFile(path.join(this.dir(d.id), 'data', d.report.root ?? '')),
      valid: !!d.valid,
      classes: d.classes,
    };
  }
}
