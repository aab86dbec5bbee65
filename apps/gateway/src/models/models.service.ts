import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { HttpException, Injectable, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { InjectLogger } from '@cvp/platform';
import type { JobType, ModelFormat, ModelTask, ModelVersionInfo, PresetName } from '@cvp/contracts';
import type { Logger } from 'pino';
import { DataSource, Repository } from 'typeorm';
import { type Page, pageOf, skipTake } from '../common/pagination';
import type { CompletedJob } from '../jobs/job-completion.registry';
import { ModelEntity, ModelVersionEntity } from './model.entity';
import { ModelFiles } from './model-files';
import { type CreatedJob, ModelJobsPort } from './model-jobs.port';
import { sniffModelFile } from './model-sniffer';
import type { ListModelsQuery, UploadModelFields } from './models.dto';
import { ModelFileRejected } from './onnx-sniffer';
import type { StagedUpload } from '../common/upload/hashing-storage';

const SOURCE_FILE: Record<ModelFormat, string> = {
  onnx: 'source.onnx',
  torchscript: 'source.torchscript.pt',
  ultralytics: 'source.pt',
  'tensorflow-savedmodel': 'source.savedmodel.zip',
};

/** How each preset is built by the worker (python -m cvp_ml preset) and what it does. */
export const PRESET_SPECS: Record<PresetName, { task: ModelTask; sourceFormat: ModelFormat; architecture: string }> = {
  yolov8n: { task: 'detect', sourceFormat: 'ultralytics', architecture: 'Ultralytics yolov8n.yaml' },
  yolov8s: { task: 'detect', sourceFormat: 'ultralytics', architecture: 'Ultralytics yolov8s.yaml' },
  resnet50: { task: 'classify', sourceFormat: 'torchscript', architecture: 'torchvision resnet50(weights=None)' },
  efficientnet_b0: {
    task: 'classify',
    sourceFormat: 'torchscript',
    architecture: 'torchvision efficientnet_b0(weights=None)',
  },
};

export const UNTRAINED_NOTE =
  'Presets are built from their architecture definition with random weights (no weights can be downloaded here): the model is UNTRAINED and its outputs are meaningless until you train it (POST /jobs/train) or upload trained weights.';

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: (number | string)[];
}

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

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
/** Absolute paths are the workers' business; REST answers leave them out. */
const withoutPaths = (m: Record<string, unknown> | null) => {
  if (!m) return null;
  const { path: _p, ...rest } = m;
  return rest;
};

@Injectable()
export class ModelsService implements OnModuleInit {
  constructor(
    @InjectRepository(ModelEntity) private readonly models: Repository<ModelEntity>,
    @InjectRepository(ModelVersionEntity) private readonly versions: Repository<ModelVersionEntity>,
    private readonly ds: DataSource,
    private readonly files: ModelFiles,
    private readonly jobs: ModelJobsPort,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  /** Conversions, trainings and tunings that succeed register the version their worker made. */
  onModuleInit(): void {
    for (const type of ['convert', 'train', 'tune'] as JobType[]) {
      if (!this.jobs.registerCompletion(type, (job, result) => this.registerVersionFromJob(type, job, result))) {
        this.logger.warn({ type }, 'jobs module absent: model versions will not be registered from job results');
      }
    }
  }

  /**
   * Registers an uploaded file: sniffed for its declared format (4xx before anything is kept),
   * stored content-addressed as version 1's source, then a convert job is queued. If queuing
   * fails, the rows and files are removed again.
   */
  async upload(
    staged: StagedUpload,
    fields: UploadModelFields,
    ownerId: string,
  ): Promise<{ model: ModelView; job: CreatedJob }> {
    try {
      await sniffModelFile(fields.format, staged);
    } catch (e) {
      if (e instanceof ModelFileRejected) throw new HttpException(e.message, e.status);
      throw e;
    }
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
      const job = await this.jobs.createConvertJob(id, ownerId);
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
    ownerId: string,
  ): Promise<{ model: ModelView; job: CreatedJob; note: string }> {
    const spec = PRESET_SPECS[preset];
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
      const job = await this.jobs.createConvertJob(id, ownerId);
      return { model: await this.get(id), job, note: `${UNTRAINED_NOTE} Architecture: ${spec.architecture}.` };
    } catch (e) {
      await this.purge(id);
      throw e;
    }
  }

  async list(q: ListModelsQuery): Promise<Page<ModelView>> {
    const qb = this.models.createQueryBuilder('m');
    if (q.task) qb.andWhere('m.task = :task', { task: q.task });
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
        this.view(
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
    return this.view(m, await this.versions.find({ where: { modelId: id }, order: { version: 'ASC' } }));
  }

  /** Rows first (the model disappears from the API at once), then its folder and unshared blobs. */
  async remove(id: string): Promise<void> {
    const m = await this.models.findOneBy({ id });
    if (!m) throw new NotFoundException(`model ${id} not found`);
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

  /**
   * Completion hook of convert/train/tune: the worker made models/<id>/v<n>/ and reports it.
   * Paths are checked to lie inside that model's folder before they are recorded.
   */
  async registerVersionFromJob(
    type: JobType,
    job: CompletedJob,
    result: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const modelId = typeof result.modelId === 'string' ? result.modelId : String(job.input.modelId ?? '');
    const version = result.version;
    const onnxPath = result.onnxPath;
    if (
      !modelId ||
      typeof version !== 'number' ||
      !Number.isInteger(version) ||
      version < 1 ||
      typeof onnxPath !== 'string'
    ) {
      throw new Error(`${type} result lacks modelId, version or onnxPath`);
    }
    const model = await this.models.findOneBy({ id: modelId });
    if (!model) {
      // Deleted while the job ran: whatever the worker wrote must not stay behind.
      await this.files.removeModel(modelId, []);
      throw new Error(`model ${modelId} was deleted while the ${type} job ran`);
    }
    const sourcePath = typeof result.sourcePath === 'string' ? result.sourcePath : null;
    for (const p of [onnxPath, sourcePath]) {
      if (p && !this.files.insideModel(modelId, p))
        throw new Error(`${type} result path ${p} lies outside the model's folder`);
    }
    const existing = await this.versions.findOneBy({ modelId, version });
    const metadata: Record<string, unknown> = {
      ...(existing?.metadata ?? {}),
      ...((result.metadata as Record<string, unknown> | undefined) ?? {}),
      ...(result.maxAbsDiff !== undefined ? { maxAbsDiff: result.maxAbsDiff } : {}),
      ...(result.validation ? { validation: result.validation } : {}),
      ...(result.comparison ? { comparison: result.comparison } : {}),
      ...(typeof result.note === 'string' ? { note: result.note } : {}),
    };
    const sourceFormat = (
      typeof result.sourceFormat === 'string' ? result.sourceFormat : (existing?.sourceFormat ?? model.sourceFormat)
    ) as ModelFormat;
    const trained = typeof result.trained === 'boolean' ? result.trained : (existing?.trained ?? type !== 'convert');
    const metrics = (result.metrics as Record<string, unknown> | undefined) ?? existing?.metrics ?? null;
    await this.ds.transaction(async (tx) => {
      await tx.getRepository(ModelVersionEntity).save({
        modelId,
        version,
        sourcePath: sourcePath ?? existing?.sourcePath ?? null,
        sourceSha256: existing?.sourceSha256 ?? null,
        sourceSize: existing?.sourceSize ?? null,
        sourceFormat,
        onnxPath,
        trained,
        metadata,
        metrics,
        jobId: job.id,
        createdAt: existing?.createdAt ?? new Date().toISOString(),
      });
      await tx
        .getRepository(ModelEntity)
        .update(
          { id: modelId },
          { latestVersion: Math.max(model.latestVersion, version), updatedAt: new Date().toISOString() },
        );
    });
    return { modelId, version };
  }

  /** What workers read over NATS (cvp.registry.model.describe): absolute paths included. */
  async describe(modelId: string, version?: number) {
    const m = await this.models.findOneBy({ id: modelId });
    if (!m) return null;
    const vers = await this.versions.find({
      where: version ? { modelId, version } : { modelId },
      order: { version: 'ASC' },
    });
    const infos: ModelVersionInfo[] = vers.map((v) => ({
      version: v.version,
      onnxPath: v.onnxPath,
      sourcePath: v.sourcePath,
      sourceFormat: v.sourceFormat,
      trained: !!v.trained,
      createdAt: v.createdAt,
      metadata: v.metadata,
      metrics: v.metrics,
      jobId: v.jobId,
    }));
    return {
      id: m.id,
      name: m.name,
      task: m.task,
      ...(m.labels ? { labels: m.labels } : {}),
      preset: m.preset,
      latestVersion: m.latestVersion,
      versions: infos,
    };
  }

  private view(m: ModelEntity, vers: ModelVersionEntity[]): ModelView {
    const sorted = [...vers].sort((a, b) => a.version - b.version);
    const latest = sorted.find((v) => v.version === m.latestVersion) ?? sorted.at(-1);
    const meta = (latest?.onnxPath ? latest.metadata : null) ?? {};
    return {
      id: m.id,
      name: m.name,
      task: m.task,
      sourceFormat: m.sourceFormat,
      preset: m.preset,
      labels: m.labels,
      ownerId: m.ownerId,
      latestVersion: m.latestVersion,
      trained: !!latest?.trained,
      inputs: (meta.inputs as TensorInfo[] | undefined) ?? [],
      outputs: (meta.outputs as TensorInfo[] | undefined) ?? [],
      opset: num(meta.opset),
      parameters: num(meta.parameters),
      flops: num(meta.flops),
      sizeBytes: num(meta.size_bytes),
      sha256: typeof meta.sha256 === 'string' ? meta.sha256 : null,
      createdAt: m.createdAt,
      updatedAt: m.updatedAt,
      versions: sorted.map((v) => ({
        version: v.version,
        sourceFormat: v.sourceFormat,
        sourceSha256: v.sourceSha256,
        sourceSize: v.sourceSize,
        converted: !!v.onnxPath,
        trained: !!v.trained,
        metadata: withoutPaths(v.metadata),
        metrics: v.metrics,
        jobId: v.jobId,
        createdAt: v.createdAt,
      })),
    };
  }
}
