import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createLogger, parseConfig } from '@cvp/platform';
import { AppModule } from '../app.module';
import { benchConfigSchema } from '../config';
import { testBenchOptions } from './bench-fixtures';

/**
 * Starts the real bench service in process: its job worker on the test run's nats-server, the
 * child-process measurements, python variants and the native core when built, with measurement
 * sizes small enough for a whole protocol to run in minutes. `over`: config keys on top (e.g.
 * CVP_INFERENCE_URL of a data plane for steps 6, 8 and 9).
 */
export async function startBenchWorker(dataDir: string, over: Record<string, string> = {}): Promise<INestApplication> {
  const config = parseConfig(benchConfigSchema, {
    CVP_NATS_URL: process.env.CVP_NATS_URL,
    CVP_DATA_DIR: dataDir,
    CVP_LOG_LEVEL: 'silent',
    // The service config sees them too (CVP_ARTIFACTS and its keys are read from it).
    ...over,
  });
  const app = await NestFactory.create(
    AppModule.forRoot(config, createLogger('bench', 'silent'), testBenchOptions(dataDir, over)),
    { logger: false },
  );
  await app.init();
  return app;
}
