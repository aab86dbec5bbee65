import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createService, parseConfig } from '@cvp/platform';
import pino from 'pino';
import { KserveRoutes } from '../kserve/kserve.routes';
import { OfflineMessageBus, standaloneConfigSchema, standaloneModule } from './standalone';

const ROOT = path.resolve(__dirname, '../../../..');
const MODEL = path.join(ROOT, 'native/tests/fixtures/tiny_det.onnx');
const log = pino({ level: 'silent' });

describe('standalone data plane (real KServe module, real ort-node engine, no NATS)', () => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'standalone-'));
    const file = path.join(dir, 'model-config.json');
    writeFileSync(
      file,
      JSON.stringify({
        schemaVersion: 1,
        action: 'deploy',
        deploymentId: 'bundle-tiny',
        modelName: 'tiny',
        task: 'detect',
        config: {
          engine: 'ort-node',
          options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 },
          modelPath: path.relative(dir, MODEL),
        },
      }),
    );
    // A NATS URL nobody listens on: standalone must never dial it.
    const config = parseConfig(standaloneConfigSchema, {
      CVP_INFER_MODEL_CONFIG: file,
      CVP_DATA_DIR: path.join(dir, 'var'),
      CVP_NATS_URL: 'nats://127.0.0.1:1',
      CVP_LOG_LEVEL: 'silent',
    });
    app = await createService({
      name: 'inference',
      module: standaloneModule(config, log),
      host: '127.0.0.1',
      port: 0,
      logger: log,
      configure: (a) => void a.use(a.get(KserveRoutes).middleware),
    });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  }, 60_000);

  afterAll(async () => {
    await app?.close();
  });

  it('becomes ready with the configured model loaded, without NATS', async () => {
    const end = Date.now() + 60_000;
    let status = 0;
    while (Date.now() < end && status !== 200) {
      status = (await fetch(`${url}/v2/health/ready`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    expect((await fetch(`${url}/v2/models/tiny/ready`)).status).toBe(200);
    expect((await fetch(`${url}/v2/models/other/ready`)).status).toBe(404);
  });

  it('refuses to start without a model config', () => {
    expect(() => parseConfig(standaloneConfigSchema, {})).toThrow(/CVP_INFER_MODEL_CONFIG/);
  });
});

describe('OfflineMessageBus', () => {
  it('drops publishes, never delivers, and fails requests at once', async () => {
    const bus = new OfflineMessageBus({ url: 'nats://127.0.0.1:1', name: 't', logger: log });
    await bus.connect();
    expect(bus.isConnected()).toBe(false);
    expect(() => bus.publish()).not.toThrow();
    const sub = bus.subscribe();
    expect(() => sub.unsubscribe()).not.toThrow();
    await expect(bus.request()).rejects.toThrow(/no NATS/);
    await expect(bus.publishDurable()).rejects.toThrow(/no NATS/);
    await expect(bus.close()).resolves.toBeUndefined();
  });
});
