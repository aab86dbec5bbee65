import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { HttpException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import {
  type ModelFormat,
  PRESET_CATALOG,
  presetArchitecture,
  type PresetName,
  UNTRAINED_PRESET_NOTE,
} from '@cvp/contracts';
import type { ModelDescription } from '@cvp/jobs';
import { DataSource, Repository } from 'typeorm';
import { type Page, pageOf, skipTake } from '../common/pagination';
import { assertMayChange } from '../auth/ownership';
import { JobsService, type JobRequester } from '../jobs/jobs.service';
import { UserLimitsService } from '../limits/user-limits.service';
import { ModelEntity, ModelVersionEntity } from './model.entity';
import { ModelFiles } from './model-files';
import { sniffModelFile } from './model-sniffer';
import type { CreatedJob, ListModelsQuery, ModelView, UploadModelFields } from './models.dto';
import { toModelDescription, toModelView } from './models.mapper';
import { ModelFileRejected } from './onnx-sniffer';
import type { StagedUpload } from '../common/upload/hashing-storage';

const SOURCE_FILE: Record<ModelFormat, string> = {
  onnx: 'source.onnx',
  torchscript: 'source.torchscript.pt',
  ultralytics: 'source.pt',
  'tensorflow-savedmodel': 'source.savedmodel.zip',
};

/**
 * Models and their versions: uploads and presets (each queues a convert job), reads, deletes.
 * Versions made by workers are registered by ModelVersionsService.
 */
@Injectable()
export class ModelsService {
  constructor(
    @InjectRepository(ModelEntity) private readonly models: Repository<ModelEntity>,
    @InjectRepository(ModelVersionEntity) private readonly versions: Repository<ModelVersionEntity>,
    private readonly ds: DataSource,
    private readonly files: ModelFiles,
    private readonly jobs: JobsService,
    private readonly limits: UserLimitsService,
  ) {}

  /**
   * Registers an uploaded file: sniffed for its declared format (4xx before anything is kept),
   * stored content-addressed as version 1's source, then a convert job is queued. If queuing
   * fails, the rows and files are removed again. The owner's limits are checked first: stored
   * bytes (413) and active jobs (429), so nothing is kept that could not be converted.
   */
  async upload(
    staged: StagedUpload,
    fields: UploadModelFields,
    who: JobRequester,
  ): Promise<{ model: ModelView; job: CreatedJob }> {
    const ownerId = who.ownerId;
    try {
      await sniffModelFile(fields.format, staged);
    } catch (e) {
      if (e instanceof ModelFileRejected) throw new HttpException(e.message, e.status);
      throw e;
    }
    await this.limits.assertMayStore(ownerId, staged.size);
    await this.limits.assertMayQueueJob(ownerId);
    const id = randomUUID();
    const now = new Date().toISOString();
    const sourcePath = await this.files.storeSource(staged.tmpPath, staged.sha256, id, 1, SOURCE_FILE[fields.format]);
    try {
      await this.ds.transaction(async (tx) => {
        await tx.getRepository(ModelEntity).insert({
          id,
          name: fields.name ?? (path.basename(staged.originalName || 'model').slice(0, 200) || 'model'),
          task: fields.task,
          sourceFormat: fields.format,
          preset: null,
          labels: fields.labels ?? null,
          ownerId,
          latestVersion: 1,
          createdAt: now,
          updatedAt: now,
        });
        await tx.getRepository(ModelVersionEntity).insert({
          modelId: id,
          version: 1,
          sourcePath,
          sourceSha256: staged.sha256,
          sourceSize: staged.size,
          sourceFormat: fields.format,
          onnxPath: null,
          trained: true,
          metadata: fields.inputShape ? { inputShape: fields.inputShape } : null,
          metrics: null,
          jobId: null,
          createdAt: now,
        });
      });
      const job = await this.queueConversion(id, who);
      return { model: await this.get(id), job };
    } catch (e) {
      await this.purge(id);
      throw e;
    }
  }

  /** A preset: a model row the convert worker builds from the architecture name (untrained). */
  async createPreset(
    preset: PresetName,
    body: { name?: string; labels?: string[] },
    who: JobRequester,
  ): Promise<{ model: ModelView; job: CreatedJob; note: string }> {
    const ownerId = who.ownerId;
    // Refused before a row exists: a user at the job limit gets a 429, not a model with no conversion.
    await this.limits.assertMayQueueJob(ownerId);
    const spec = PRESET_CATALOG[preset];
    const id = randomUUID();
    const now = new Date().toISOString();
    await this.models.insert({
      id,
      name: body.name ?? preset,
      task: spec.task,
      sourceFormat: spec.sourceFormat,
      preset,
      labels: body.labels ?? null,
      ownerId,
      latestVersion: 0,
      createdAt: now,
      updatedAt: now,
    });
    try {
      const job = await this.queueConversion(id, who);
      return {
        model: await this.get(id),
        job,
        note: `${UNTRAINED_PRESET_NOTE} Architecture: ${presetArchitecture(preset)}.`,
      };
    } catch (e) {
      await this.purge(id);
      throw e;
    }
  }

  async list(q: ListModelsQuery, ownerId?: string): Promise<Page<ModelView>> {
    const qb = this.models.createQueryBuilder('m');
    if (q.task) qb.andWhere('m.task = :task', { task: q.task });
    if (ownerId) qb.andWhere('m.owner_id = :ownerId', { ownerId });
    if (q.name) qb.andWhere('m.name = :name', { name: q.name });
    const { skip, take } = skipTake(q);
    const [rows, total] = await qb
      .orderBy('m.created_at', 'DESC')
      .addOrderBy('m.id', 'ASC')
      .skip(skip)
      .take(take)
      .getManyAndCount();
    const vers = rows.length
      ? await this.versions
          .createQueryBuilder('v')
          .where('v.model_id IN (:...ids)', { ids: rows.map((r) => r.id) })
          .getMany()
      : [];
    return pageOf(
      rows.map((m) =>
        toModelView(
          m,
          vers.filter((v) => v.modelId === m.id),
        ),
      ),
      total,
      q,
    );
  }

  async get(id: string): Promise<ModelView> {
    const m = await this.models.findOneBy({ id });
    if (!m) throw new NotFoundException(`model ${id} not found`);
    return toModelView(m, await this.versions.find({ where: { modelId: id }, order: { version: 'ASC' } }));
  }

  /** Its owner or an admin: rows first (the model disappears from the API at once), then its folder and unshared blobs. */
  async remove(id: string, who: JobRequester): Promise<void> {
    const m = await this.models.findOneBy({ id });
    if (!m) throw new NotFoundException(`model ${id} not found`);
    assertMayChange(who, m, `model ${id}`);
    await this.purge(id);
  }

  private async purge(id: string): Promise<void> {
    const vers = await this.versions.findBy({ modelId: id });
    await this.ds.transaction(async (tx) => {
      await tx.getRepository(ModelVersionEntity).delete({ modelId: id });
      await tx.getRepository(ModelEntity).delete({ id });
    });
    await this.files.removeModel(
      id,
      vers.map((v) => v.sourceSha256).filter((s): s is string => !!s),
    );
  }

  /** The owner of a model, or null when it does not exist. */
  async ownerOf(modelId: string): Promise<string | null> {
    const m = await this.models.findOne({ where: { id: modelId }, select: { id: true, ownerId: true } });
    return m?.ownerId ?? null;
  }

  /** A model as workers and the data plane read it (absolute paths included); null when it does not exist. */
  async describe(modelId: string, version?: number): Promise<ModelDescription | null> {
    const m = await this.models.findOneBy({ id: modelId });
    if (!m) return null;
    const vers = await this.versions.find({
      where: version ? { modelId, version } : { modelId },
      order: { version: 'ASC' },
    });
    return toModelDescription(m, vers);
  }

  private async queueConversion(modelId: string, who: JobRequester): Promise<CreatedJob> {
    const job = await this.jobs.create('convert', { modelId }, who);
    return { id: job.id, type: job.type, state: job.state };
  }
}
