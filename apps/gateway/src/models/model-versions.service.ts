import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { OnJobSucceeded, type SucceededJobOf } from '@cvp/jobs';
import { DataSource, Repository } from 'typeorm';
import { ModelEntity, ModelVersionEntity } from './model.entity';
import { GpuLeaseService } from '../gpu-leases/gpu-lease.service';
import { ModelFiles } from './model-files';

/** Registers the model versions that convert, train and tune workers make. */
@Injectable()
export class ModelVersionsService {
  constructor(
    @InjectRepository(ModelEntity) private readonly models: Repository<ModelEntity>,
    @InjectRepository(ModelVersionEntity) private readonly versions: Repository<ModelVersionEntity>,
    private readonly ds: DataSource,
    private readonly files: ModelFiles,
    private readonly leases: GpuLeaseService,
  ) {}

  /**
   * The worker made models/<id>/v<n>/ and reports it: the version row is written (or completed,
   * for an upload whose version 1 had only its source) before the job is stored as succeeded.
   * Paths must lie inside that model's folder before they are recorded.
   */
  @OnJobSucceeded('convert', 'train', 'tune')
  async registerFromJob(
    job: SucceededJobOf<'convert' | 'train' | 'tune'>,
  ): Promise<{ modelId: string; version: number }> {
    const { type, result } = job;
    const { modelId, version, onnxPath } = result;
    const model = await this.models.findOneBy({ id: modelId });
    if (!model) {
      // Deleted while the job ran: whatever the worker wrote must not stay behind.
      await this.files.removeModel(modelId, []);
      throw new Error(`model ${modelId} was deleted while the ${type} job ran`);
    }
    for (const p of [onnxPath, result.sourcePath]) {
      if (p && !this.files.insideModel(modelId, p))
        throw new Error(`${type} result path ${p} lies outside the model's folder`);
    }
    const existing = await this.versions.findOneBy({ modelId, version });
    // Fencing where GPU work is committed: a trainer (or the best tuning trial) that lost its lease
    // (paused past its ttl) must not record a version over whoever held the token next; its files
    // go with the refusal.
    const fencingToken = job.type === 'convert' ? undefined : job.result.leaseFencingToken;
    if (job.type === 'train' || fencingToken !== undefined) {
      await this.leases.assertCommittable(fencingToken!, `${job.type} job ${job.id}`).catch(async (e) => {
        if (!existing) await this.files.removeVersion(modelId, version);
        throw e;
      });
    }
    // What a conversion learnt about the ONNX it made (agreement with the source, checker verdict) stays with the version.
    const conversion =
      job.type === 'convert'
        ? {
            maxAbsDiff: job.result.maxAbsDiff,
            validation: job.result.validation,
            ...(job.result.comparison ? { comparison: job.result.comparison } : {}),
            ...(job.result.note !== undefined ? { note: job.result.note } : {}),
          }
        : {};
    const metadata: Record<string, unknown> = { ...(existing?.metadata ?? {}), ...result.metadata, ...conversion };
    const metrics = job.type === 'convert' ? (existing?.metrics ?? null) : job.result.metrics;
    await this.ds.transaction(async (tx) => {
      await tx.getRepository(ModelVersionEntity).save({
        modelId,
        version,
        sourcePath: result.sourcePath ?? existing?.sourcePath ?? null,
        sourceSha256: existing?.sourceSha256 ?? null,
        sourceSize: existing?.sourceSize ?? null,
        sourceFormat: result.sourceFormat,
        onnxPath,
        trained: result.trained,
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
}
