import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { type DeploymentChanged, type EngineConfig } from '@cvp/contracts';
import { createLogger, createService, parseConfig } from '@cvp/platform';
import { AppModule } from '../app.module';
import { inferenceConfigSchema } from '../config';
import { ModelRepository } from '../repository/model-repository.service';
import { mountDataPlane } from '../start-inference';

export const FIXTURES = path.resolve(__dirname, '../../test/fixtures');

export interface Harness {
  app: INestApplication;
  url: string;
  dataDir: string;
  repository: ModelRepository;
  deploy(
    name: string,
    modelFile: string,
    extra?: Partial<DeploymentChanged> & {
      options?: Partial<EngineConfig['options']>;
      engine?: EngineConfig['engine'];
    },
  ): Promise<string>;
  close(): Promise<void>;
}

let seq = 0;

/** Starts the real inference app in process on a free loopback port. */
export async function startInference(env: Record<string, string> = {}): Promise<Harness> {
  const dataDir = env.CVP_DATA_DIR ?? mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? '/tmp', 'inference-'));
  const config = parseConfig(inferenceConfigSchema, {
    ...process.env,
    CVP_DATA_DIR: dataDir,
    CVP_LOG_LEVEL: 'warn',
    ...env,
  });
  const logger = createLogger('inference', config.CVP_LOG_LEVEL);
  const app = await createService({
    name: 'inference',
    module: AppModule.forRoot(config, logger),
    host: '127.0.0.1',
    port: 0,
    logger,
    configure: (app) => mountDataPlane(app, { authenticate: true }),
  });
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const repository = app.get(ModelRepository);
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    repository,
    async deploy(name, modelFile, extra = {}) {
      const deploymentId = extra.deploymentId ?? `dep-${process.pid}-${++seq}`;
      await repository.apply({
        schemaVersion: 1,
        action: 'deploy',
        deploymentId,
        modelName: name,
        task: extra.task,
        aliases: extra.aliases,
        labels: extra.labels,
        config: {
          engine: extra.engine ?? 'ort-node',
          modelPath: path.isAbsolute(modelFile) ? modelFile : path.join(FIXTURES, modelFile),
          options: {
            provider: 'cpu',
            precision: 'fp32',
            graphOptimization: 'all',
            threads: 1,
            maxBatch: 1,
            ...extra.options,
          },
        },
      });
      return deploymentId;
    },
    async close() {
      await app.close();
    },
  };
}
