import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import pino from 'pino';
import { AppModule } from '../app.module';
import type { PackagerConfig } from '../config';
import { packagerConfig } from './fixtures';

/** Starts the real packager service module in process: its job worker on the test run's nats-server. */
export async function startPackagerWorker(
  env: Partial<Record<keyof PackagerConfig, string>>,
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot(packagerConfig(env), pino({ level: 'silent' })),
    {
      logger: false,
    },
  );
  await app.init();
  return app;
}
