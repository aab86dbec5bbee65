import {
  DescribeDatasetReply,
  DescribeDatasetRequest,
  DescribeModelReply,
  DescribeModelRequest,
  type DescribeDatasetReply as DatasetReply,
  type DescribeModelReply as ModelReply,
  Registry,
} from '@cvp/contracts';
import { MessageBus } from '@cvp/platform';
import pino from 'pino';

export type TestModel = NonNullable<ModelReply['model']>;
export type TestDataset = NonNullable<DatasetReply['dataset']>;

/**
 * Answers the gateway's registry RPCs on the real test nats-server from in-memory rows, so the
 * handlers are exercised through their real NATS client without the gateway's database.
 */
export class FakeRegistry {
  readonly models = new Map<string, TestModel>();
  readonly datasets = new Map<string, TestDataset>();
  readonly bus: MessageBus;

  constructor(url = process.env.CVP_NATS_URL!) {
    this.bus = new MessageBus({ url, name: 'fake-registry', logger: pino({ level: 'silent' }) });
  }

  async start(): Promise<this> {
    await this.bus.connect();
    this.bus.subscribe(DescribeModelRequest, Registry.describeModel, (req, msg) => {
      const model = this.models.get(req.modelId);
      this.bus.respond(
        msg,
        DescribeModelReply,
        model ? { found: true, model } : { found: false, error: 'no such model' },
      );
    });
    this.bus.subscribe(DescribeDatasetRequest, Registry.describeDataset, (req, msg) => {
      const dataset = this.datasets.get(req.datasetId);
      this.bus.respond(msg, DescribeDatasetReply, dataset ? { found: true, dataset } : { found: false });
    });
    await this.bus.connection.flush();
    return this;
  }

  stop(): Promise<void> {
    return this.bus.close();
  }
}
