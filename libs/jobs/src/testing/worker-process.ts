/**
 * A worker service for tests that kill a worker for real: `node -r libs/jobs/src/testing/register-ts.js
 * libs/jobs/src/testing/worker-process.ts`. Env: CVP_NATS_URL, CVP_TEST_ACK_WAIT_MS.
 * Prints "ready" on stdout once it consumes.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { baseConfigSchema, createLogger, PlatformModule } from '@cvp/platform';
import { JobWorkerModule } from '../job-worker.module';
import { FixtureConvertHandler } from './fixture-handlers';

async function main() {
  const config = baseConfigSchema.parse(process.env);
  const logger = createLogger('fixture-worker', process.env.CVP_TEST_LOG_LEVEL ?? 'silent');
  @Module({
    imports: [
      PlatformModule.forRoot({ serviceName: 'fixture-worker', config, logger }),
      JobWorkerModule.forRoot({
        handlers: [FixtureConvertHandler],
        ackWaitMs: Number(process.env.CVP_TEST_ACK_WAIT_MS ?? 2000),
        backoffMs: [200],
      }),
    ],
  })
  class WorkerModule {}
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  app.enableShutdownHooks();
  process.stdout.write('ready\n');
}
void main().catch((e) => {
  process.stderr.write(`fixture worker failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
