import { Injectable } from '@nestjs/common';
import { REGISTRY_UNAVAILABLE, RegistryLookups } from '@cvp/contracts';
import { RespondsTo } from '@cvp/jobs';
import { ModelsService } from './models.service';

/** Answers cvp.registry.model.describe: workers learn a model's versions, paths and metadata without the gateway's database. */
@Injectable()
export class ModelsResponder {
  constructor(private readonly models: ModelsService) {}

  @RespondsTo(RegistryLookups.describeModel, { onError: () => REGISTRY_UNAVAILABLE })
  async describe(req: { modelId: string; version?: number }) {
    const model = await this.models.describe(req.modelId, req.version);
    return model ? { found: true, model } : { found: false, error: `model ${req.modelId} not found` };
  }
}
