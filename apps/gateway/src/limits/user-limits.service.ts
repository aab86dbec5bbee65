import { Injectable } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import { DataSource, In } from 'typeorm';
import { DatasetEntity } from '../datasets/dataset.entity';
import { JobEntity } from '../jobs/job.entity';
import { ModelEntity, ModelVersionEntity } from '../models/model.entity';
import { PackageEntity } from '../packages/package.entity';
import { limitsConfigSchema, type LimitsConfig } from './limits.config';
import { ActiveJobLimitReached, StorageLimitReached } from './user-limits.errors';

/** One user's limits and how much of each is used, as GET /users/me/limits shows them. */
export interface UserLimitsView {
  userId: string;
  activeJobs: { used: number; max: number };
  storedBytes: { used: number; max: number };
  /** Retry-After of a 429 for the job limit. */
  retryAfterSeconds: number;
}

const ACTIVE_STATES = ['queued', 'running'];

/**
 * Per-user limits: jobs queued or running at once (429 + Retry-After beyond it) and stored bytes
 * (413 beyond it). Stored bytes are what a user made the platform keep: uploaded model sources
 * (every version's source), data set archives and packages; derived files (ONNX, variants,
 * reports) grow with those and are not counted separately.
 */
@Injectable()
export class UserLimitsService {
  private readonly config: LimitsConfig;

  constructor(
    private readonly ds: DataSource,
    @InjectConfig() config: Record<string, unknown>,
  ) {
    this.config = limitsConfigSchema.parse(config);
  }

  async view(userId: string): Promise<UserLimitsView> {
    const [activeJobs, storedBytes] = await Promise.all([this.activeJobs(userId), this.storedBytes(userId)]);
    return {
      userId,
      activeJobs: { used: activeJobs, max: this.config.CVP_USER_MAX_ACTIVE_JOBS },
      storedBytes: { used: storedBytes, max: this.config.CVP_USER_MAX_STORED_MB * 1024 ** 2 },
      retryAfterSeconds: this.config.CVP_USER_LIMIT_RETRY_AFTER_S,
    };
  }

  /** 429 when the user already has the most jobs queued or running. */
  async assertMayQueueJob(userId: string): Promise<void> {
    if ((await this.activeJobs(userId)) >= this.config.CVP_USER_MAX_ACTIVE_JOBS)
      throw new ActiveJobLimitReached(this.config.CVP_USER_MAX_ACTIVE_JOBS, this.config.CVP_USER_LIMIT_RETRY_AFTER_S);
  }

  /** 413 when keeping `incoming` more bytes would take the user past the storage limit. */
  async assertMayStore(userId: string, incoming: number): Promise<void> {
    const max = this.config.CVP_USER_MAX_STORED_MB * 1024 ** 2;
    const used = await this.storedBytes(userId);
    if (used + Math.max(0, incoming) > max) throw new StorageLimitReached(used, incoming, max);
  }

  private activeJobs(userId: string): Promise<number> {
    return this.ds.getRepository(JobEntity).countBy({ ownerId: userId, state: In(ACTIVE_STATES) });
  }

  private async storedBytes(userId: string): Promise<number> {
    const sum = async (q: Promise<{ total: string | number | null } | undefined>) => Number((await q)?.total ?? 0);
    const [sources, datasets, packages] = await Promise.all([
      sum(
        this.ds
          .getRepository(ModelVersionEntity)
          .createQueryBuilder('v')
          .innerJoin(ModelEntity, 'm', 'm.id = v.model_id')
          .select('COALESCE(SUM(v.source_size), 0)', 'total')
          .where('m.owner_id = :userId', { userId })
          .getRawOne(),
      ),
      sum(
        this.ds
          .getRepository(DatasetEntity)
          .createQueryBuilder('d')
          .select('COALESCE(SUM(d.size), 0)', 'total')
          .where('d.owner_id = :userId', { userId })
          .getRawOne(),
      ),
      sum(
        this.ds
          .getRepository(PackageEntity)
          .createQueryBuilder('p')
          .select('COALESCE(SUM(p.size_bytes), 0)', 'total')
          .where('p.owner_id = :userId', { userId })
          .getRawOne(),
      ),
    ]);
    return sources + datasets + packages;
  }
}
