import { Injectable, NotFoundException } from '@nestjs/common';
import { DataSource, type EntityTarget } from 'typeorm';
import { ApiKeyEntity } from '../api-keys/api-key.entity';
import { BenchmarkEntity } from '../benchmarks/benchmark.entity';
import { DatasetEntity } from '../datasets/dataset.entity';
import { DeploymentEntity } from '../deployments/deployment.entity';
import { JobEntity } from '../jobs/job.entity';
import { ModelEntity } from '../models/model.entity';
import { PackageEntity } from '../packages/package.entity';
import { UsersService } from '../users/users.service';
import { type HandoverInput, type HandoverResult, OWNED_KINDS, type OwnedKind } from './handover.dto';

/** Every owned table has a string id and an owner_id column. */
interface Owned {
  id: string;
  ownerId: string;
}
const TABLES: Record<OwnedKind, EntityTarget<Owned>> = {
  models: ModelEntity,
  datasets: DatasetEntity,
  jobs: JobEntity,
  deployments: DeploymentEntity,
  packages: PackageEntity,
  benchmarks: BenchmarkEntity,
  apiKeys: ApiKeyEntity,
};

/**
 * Ownership handover (admins): everything a user owns, or named resources of theirs, move to
 * another user in one transaction. Used when someone leaves or a project changes hands; an API
 * key that moves then acts for its new owner (still capped by its own role).
 */
@Injectable()
export class HandoverService {
  constructor(
    private readonly ds: DataSource,
    private readonly users: UsersService,
  ) {}

  async handover(input: HandoverInput): Promise<HandoverResult> {
    const to = await this.users.findById(input.toUserId);
    if (!to) throw new NotFoundException(`user ${input.toUserId} not found`);
    const moved = Object.fromEntries(OWNED_KINDS.map((k) => [k, 0])) as Record<OwnedKind, number>;
    const notMoved: HandoverResult['notMoved'] = [];
    await this.ds.transaction(async (tx) => {
      if (!input.resources) {
        for (const kind of OWNED_KINDS) {
          const r = await tx.getRepository(TABLES[kind]).update({ ownerId: input.fromUserId }, { ownerId: to.id });
          moved[kind] = r.affected ?? 0;
        }
        return;
      }
      for (const { kind, id } of input.resources) {
        const repo = tx.getRepository(TABLES[kind]);
        const r = await repo.update({ id, ownerId: input.fromUserId }, { ownerId: to.id });
        if (r.affected) moved[kind] += r.affected;
        else
          notMoved.push({
            kind,
            id,
            reason: (await repo.existsBy({ id })) ? `not owned by ${input.fromUserId}` : 'not found',
          });
      }
    });
    return { fromUserId: input.fromUserId, toUserId: to.id, moved, notMoved };
  }
}
