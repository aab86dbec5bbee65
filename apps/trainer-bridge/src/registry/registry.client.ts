import { Inject, Injectable } from '@nestjs/common';
import {
  DescribeDatasetReply,
  DescribeDatasetRequest,
  DescribeModelReply,
  DescribeModelRequest,
  Registry,
  type DescribeDatasetReply as DatasetReply,
  type DescribeModelReply as ModelReply,
} from '@cvp/contracts';
import { PermanentJobError, RetryableJobError } from '@cvp/jobs';
import { MessageBus } from '@cvp/platform';

export const REGISTRY_TIMEOUT_MS = Symbol('REGISTRY_TIMEOUT_MS');

export type ModelDescription = NonNullable<ModelReply['model']>;
export type DatasetDescription = NonNullable<DatasetReply['dataset']>;

/**
 * The gateway's registry, read over NATS (the gateway owns the tables). Unknown ids fail the job
 * at once; an unreachable gateway is retried by the job machinery.
 */
@Injectable()
export class RegistryClient {
  constructor(
    private readonly bus: MessageBus,
    @Inject(REGISTRY_TIMEOUT_MS) private readonly timeoutMs: number,
  ) {}

  async describeModel(modelId: string): Promise<ModelDescription> {
    const reply = await this.bus
      .request(DescribeModelRequest, DescribeModelReply, Registry.describeModel, { modelId }, this.timeoutMs)
      .catch((e: Error) => {
        throw new RetryableJobError(`model registry did not answer: ${e.message}`);
      });
    if (!reply.found || !reply.model) throw new PermanentJobError(`model ${modelId} not found${reply.error ? `: ${reply.error}` : ''}`);
    return reply.model;
  }

  async describeDataset(datasetId: string): Promise<DatasetDescription> {
    const reply = await this.bus
      .request(DescribeDatasetRequest, DescribeDatasetReply, Registry.describeDataset, { datasetId }, this.timeoutMs)
      .catch((e: Error) => {
        throw new RetryableJobError(`data set registry did not answer: ${e.message}`);
      });
    if (!reply.found || !reply.dataset) throw new PermanentJobError(`data set ${datasetId} not found${reply.error ? `: ${reply.error}` : ''}`);
    return reply.dataset;
  }
}
