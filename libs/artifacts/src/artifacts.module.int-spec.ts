import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { PlatformModule } from '@cvp/platform';
import pino from 'pino';
import type { ArtifactStore } from './artifact-store';
import { ARTIFACT_STORE, ArtifactsModule } from './artifacts.module';
import { ObjectStoreArtifactStore } from './object-store-artifact-store';
import { LocalArtifactStore } from './local-artifact-store';

async function start(env: Record<string, string>, dataDir: string) {
  const config = { CVP_NATS_URL: process.env.CVP_NATS_URL!, CVP_DATA_DIR: dataDir, ...env };
  @Module({})
  class TestModule {}
  const app = await NestFactory.createApplicationContext(
    {
      module: TestModule,
      imports: [
        PlatformModule.forRoot({ serviceName: 'artifacts-test', config, logger: pino({ level: 'silent' }) }),
        ArtifactsModule.forRoot(),
      ],
    },
    { logger: false, abortOnError: false },
  );
  app.enableShutdownHooks();
  return app;
}

describe('ArtifactsModule: one store per service, from its config, on its NATS connection', () => {
  const root = path.join(process.env.CVP_TEST_DIR!, `artifacts-module-${randomUUID().slice(0, 8)}`);

  it('local by default: the store is the data dir itself', async () => {
    const app = await start({}, path.join(root, 'local'));
    const store = app.get<ArtifactStore>(ARTIFACT_STORE);
    expect(store).toBeInstanceOf(LocalArtifactStore);
    expect(store.kind).toBe('local');
    await app.close();
  });

  it('objectstore: opens the bucket at start-up, locks its cache, and releases the lock on close', async () => {
    const dataDir = path.join(root, 'os');
    const bucket = `mod-${randomUUID().slice(0, 8)}`;
    const app = await start({ CVP_ARTIFACTS: 'objectstore', CVP_ARTIFACTS_BUCKET: bucket }, dataDir);
    const store = app.get<ArtifactStore>(ARTIFACT_STORE);
    expect(store).toBeInstanceOf(ObjectStoreArtifactStore);
    const lock = path.join(dataDir, 'cache', 'artifacts', 'lock');
    expect(fs.existsSync(lock)).toBe(true);
    const file = path.join(dataDir, 'models', 'm1', 'v1', 'model.onnx');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'bytes');
    await expect(store.publish('models/m1/v1/model.onnx', file)).resolves.toMatchObject({ size: 5 });
    await app.close();
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('objectstore with a bucket of another replica count refuses to start', async () => {
    const bucket = `mod-${randomUUID().slice(0, 8)}`;
    const first = await start({ CVP_ARTIFACTS: 'objectstore', CVP_ARTIFACTS_BUCKET: bucket }, path.join(root, 'a'));
    await expect(
      start(
        { CVP_ARTIFACTS: 'objectstore', CVP_ARTIFACTS_BUCKET: bucket, CVP_ARTIFACTS_REPLICAS: '3' },
        path.join(root, 'b'),
      ),
    ).rejects.toThrow(/replica/);
    await first.close();
  });
});
