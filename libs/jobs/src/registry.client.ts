import {
  type DescribeDatasetReply,
  type DescribeModelReply,
  type LatestBenchmarkReply,
  RegistryLookups,
  type RequestReplyContract,
} from '@cvp/contracts';
import type { MessageBus } from '@cvp/platform';
import { PermanentJobError, RetryableJobError } from './job-handler';

export type ModelDescription = NonNullable<DescribeModelReply['model']>;
export type DatasetDescription = NonNullable<DescribeDatasetReply['dataset']>;
export type BenchmarkDescription = NonNullable<LatestBenchmarkReply['benchmark']>;

/**
 * The gateway's registry read over NATS by every worker service (the gateway owns the tables).
 * An unreachable gateway, or one that cannot read its database, is retried by the job machinery;
 * an unknown id fails the job at once.
 */
export class RegistryClient {
  constructor(
    private readonly bus: MessageBus,
    private readonly timeoutMs: number,
  ) {}

  private async ask<Req, Res>(
    what: string,
    lookup: RequestReplyContract<Req, Res>,
    req: Omit<Req, 'schemaVersion'>,
  ): Promise<Res> {
    try {
      return await this.bus.request(lookup.request, lookup.reply, lookup.subject, req, this.timeoutMs);
    } catch (e) {
      throw new RetryableJobError(`${what} registry did not answer: ${(e as Error).message}`);
    }
  }

  /** The gateway answered but could not look (its database is down): retried like no answer. */
  private retryIfUnavailable(what: string, reply: { unavailable?: boolean; error?: string }): void {
    if (reply.unavailable)
      throw new RetryableJobError(`${what} registry unavailable${reply.error ? `: ${reply.error}` : ''}`);
  }

  async describeModel(modelId: string): Promise<ModelDescription> {
    const reply = await this.ask('model', RegistryLookups.describeModel, { modelId });
    this.retryIfUnavailable('model', reply);
    if (!reply.found || !reply.model)
      throw new PermanentJobError(`model ${modelId} not found${reply.error ? `: ${reply.error}` : ''}`);
    return reply.model;
  }

  async describeDataset(datasetId: string): Promise<DatasetDescription> {
    const reply = await this.ask('data set', RegistryLookups.describeDataset, { datasetId });
    this.retryIfUnavailable('data set', reply);
    if (!reply.found || !reply.dataset)
      throw new PermanentJobError(`data set ${datasetId} not found${reply.error ? `: ${reply.error}` : ''}`);
    return reply.dataset;
  }

  /** The newest benchmark of a model, or null when it has none. */
  async latestBenchmark(modelId: string): Promise<BenchmarkDescription | null> {
    const reply = await this.ask('benchmark', RegistryLookups.latestBenchmark, { modelId });
    this.retryIfUnavailable('benchmark', reply);
    return reply.found && reply.benchmark ? reply.benchmark : null;
  }
}
