import {
  DescribeDatasetReply,
  DescribeDatasetRequest,
  DescribeModelReply,
  DescribeModelRequest,
  LatestBenchmarkReply,
  LatestBenchmarkRequest,
  Registry,
} from '@cvp/contracts';
import { createLogger, MessageBus } from '@cvp/platform';
import { PermanentJobError, RetryableJobError } from './job-handler';
import { RegistryClient } from './registry.client';

describe('RegistryClient against a real nats-server (the test answers as the gateway)', () => {
  const logger = createLogger('registry-test', 'silent');
  let bus: MessageBus;
  let client: RegistryClient;

  beforeAll(async () => {
    bus = new MessageBus({ url: process.env.CVP_NATS_URL!, name: 'registry-test', logger });
    await bus.connect();
    client = new RegistryClient(bus, 500);
  });
  afterAll(() => bus.close());

  it('an unreachable gateway is retryable, bounded by the timeout', async () => {
    const t0 = Date.now();
    await expect(client.describeModel('m1')).rejects.toBeInstanceOf(RetryableJobError);
    await expect(client.latestBenchmark('m1')).rejects.toBeInstanceOf(RetryableJobError);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a gateway whose database is down answers "unavailable", which is retryable, never "not found"', async () => {
    const unavailable = { found: false, unavailable: true, error: 'registry unavailable' };
    const subs = [
      bus.subscribe(DescribeModelRequest, Registry.describeModel, (_req, msg) =>
        bus.respond(msg, DescribeModelReply, unavailable),
      ),
      bus.subscribe(DescribeDatasetRequest, Registry.describeDataset, (_req, msg) =>
        bus.respond(msg, DescribeDatasetReply, unavailable),
      ),
      bus.subscribe(LatestBenchmarkRequest, Registry.latestBenchmark, (_req, msg) =>
        bus.respond(msg, LatestBenchmarkReply, { found: false, unavailable: true }),
      ),
    ];
    await bus.connection.flush();
    await expect(client.describeModel('m1')).rejects.toBeInstanceOf(RetryableJobError);
    await expect(client.describeDataset('d1')).rejects.toBeInstanceOf(RetryableJobError);
    await expect(client.latestBenchmark('m1')).rejects.toBeInstanceOf(RetryableJobError);
    subs.forEach((s) => s.unsubscribe());
  });

  it('an unknown model fails the job at once; a model without benchmarks reads as null', async () => {
    const subs = [
      bus.subscribe(DescribeModelRequest, Registry.describeModel, (req, msg) =>
        bus.respond(
          msg,
          DescribeModelReply,
          req.modelId === 'known'
            ? { found: true, model: { id: 'known', name: 'n', task: 'detect', latestVersion: 0, versions: [] } }
            : { found: false, error: 'no such model' },
        ),
      ),
      bus.subscribe(LatestBenchmarkRequest, Registry.latestBenchmark, (_req, msg) =>
        bus.respond(msg, LatestBenchmarkReply, { found: false }),
      ),
    ];
    await bus.connection.flush();
    await expect(client.describeModel('known')).resolves.toMatchObject({ id: 'known', task: 'detect' });
    const err = await client.describeModel('nope').catch((e: Error) => e);
    expect(err).toBeInstanceOf(PermanentJobError);
    expect((err as Error).message).toMatch(/nope not found: no such model/);
    await expect(client.latestBenchmark('known')).resolves.toBeNull();
    subs.forEach((s) => s.unsubscribe());
  });
});
