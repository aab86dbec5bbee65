import { Injectable } from '@nestjs/common';
import {
  DescribeModelReply,
  DescribeModelRequest,
  LatestBenchmarkReply,
  LatestBenchmarkRequest,
  Registry,
  type DescribeModelReply as DescribeModelReplyT,
  type LatestBenchmarkReply as LatestBenchmarkReplyT,
} from '@cvp/contracts';
import { RetryableJobError, PermanentJobError } from '@cvp/jobs';
import { InjectConfig, MessageBus } from '@cvp/platform';
import type { PackagerConfig } from '../config';

export type ModelFacts = NonNullable<DescribeModelReplyT['model']>;
export type BenchmarkFacts = NonNullable<LatestBenchmarkReplyT['benchmark']>;

/** The gateway's registry over NATS: model facts and the latest benchmark of a model. */
@Injectable()
export class RegistryClient {
  constructor(
    private readonly bus: MessageBus,
    @InjectConfig() private readonly config: PackagerConfig,
  ) {}

  private async ask<Res>(what: string, call: () => Promise<Res>): Promise<Res> {
    try {
      return await call();
    } catch (e) {
      // Timeouts and "no responders" mean the gateway is away for now: retry with backoff.
      throw new RetryableJobError(`registry ${what} failed: ${(e as Error).message}`);
    }
  }

  async describeModel(modelId: string): Promise<ModelFacts> {
    const reply = await this.ask('model.describe', () =>
      this.bus.request(DescribeModelRequest, DescribeModelReply, Registry.describeModel, { modelId }, this.config.CVP_PACKAGER_REGISTRY_TIMEOUT_MS),
    );
    if (!reply.found || !reply.model) throw new PermanentJobError(`model ${modelId} not found${reply.error ? `: ${reply.error}` : ''}`);
    return reply.model;
  }

  async latestBenchmark(modelId: string): Promise<BenchmarkFacts | null> {
    const reply = await this.ask('benchmark.latest', () =>
      this.bus.request(LatestBenchmarkRequest, LatestBenchmarkReply, Registry.latestBenchmark, { modelId }, this.config.CVP_PACKAGER_REGISTRY_TIMEOUT_MS),
    );
    return reply.found && reply.benchmark ? reply.benchmark : null;
  }
}
