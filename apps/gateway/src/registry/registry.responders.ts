import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  DescribeDatasetReply,
  DescribeDatasetRequest,
  DescribeModelReply,
  DescribeModelRequest,
  Registry,
} from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';
import { DatasetsService } from '../datasets/datasets.service';
import { ModelsService } from '../models/models.service';

/** A failed lookup is no "not found": the worker retries the job instead of failing it. */
export const UNAVAILABLE = {
  found: false,
  unavailable: true,
  error: 'registry unavailable: the database did not answer',
};

/**
 * Answers the registry RPCs workers use to learn model and data-set facts (paths, versions,
 * metadata) without touching the gateway database. Queue group: one gateway answers each request.
 */
@Injectable()
export class RegistryResponders implements OnApplicationBootstrap {
  constructor(
    private readonly bus: MessageBus,
    private readonly models: ModelsService,
    private readonly datasets: DatasetsService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.bus.subscribe(
      DescribeModelRequest,
      Registry.describeModel,
      async (req, msg) => {
        try {
          const model = await this.models.describe(req.modelId, req.version);
          this.bus.respond(
            msg,
            DescribeModelReply,
            model ? { found: true, model } : { found: false, error: `model ${req.modelId} not found` },
          );
        } catch (e) {
          this.logger.error({ err: e, modelId: req.modelId }, 'registry.model.describe failed');
          this.bus.respond(msg, DescribeModelReply, UNAVAILABLE);
        }
      },
      { queue: 'gateway' },
    );
    this.bus.subscribe(
      DescribeDatasetRequest,
      Registry.describeDataset,
      async (req, msg) => {
        try {
          const dataset = await this.datasets.describe(req.datasetId);
          this.bus.respond(
            msg,
            DescribeDatasetReply,
            dataset ? { found: true, dataset } : { found: false, error: `dataset ${req.datasetId} not found` },
          );
        } catch (e) {
          this.logger.error({ err: e, datasetId: req.datasetId }, 'registry.dataset.describe failed');
          this.bus.respond(msg, DescribeDatasetReply, UNAVAILABLE);
        }
      },
      { queue: 'gateway' },
    );
  }
}
