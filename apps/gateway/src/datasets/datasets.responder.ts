import { Injectable } from '@nestjs/common';
import { REGISTRY_UNAVAILABLE, RegistryLookups } from '@cvp/contracts';
import { RespondsTo } from '@cvp/jobs';
import { DatasetsService } from './datasets.service';

/** Answers cvp.registry.dataset.describe: the folder a trainer passes as `data`, the format, the classes. */
@Injectable()
export class DatasetsResponder {
  constructor(private readonly datasets: DatasetsService) {}

  @RespondsTo(RegistryLookups.describeDataset, { onError: () => REGISTRY_UNAVAILABLE })
  async describe(req: { datasetId: string }) {
    const dataset = await this.datasets.describe(req.datasetId);
    return dataset ? { found: true, dataset } : { found: false, error: `dataset ${req.datasetId} not found` };
  }
}
