import 'reflect-metadata';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Logger } from 'pino';
import { correlationMiddleware } from './correlation.middleware';
import { NestPinoLogger } from './logger';
import { initProcessMetrics } from './metrics';
import { ProblemDetailsFilter } from './problem.filter';

export interface ServiceStartOptions {
  name: string;
  module: Type<unknown> | DynamicModule;
  host: string;
  port: number;
  logger: Logger;
  /** Hook for per-service HTTP set-up (Swagger, body limits) before listen. */
  configure?: (app: INestApplication) => void | Promise<void>;
}

/** Creates, configures and starts a service's HTTP side the same way everywhere. */
export async function createService(opts: ServiceStartOptions): Promise<INestApplication> {
  initProcessMetrics(opts.name);
  const app = await NestFactory.create(opts.module, { logger: new NestPinoLogger(opts.logger), bufferLogs: false });
  app.use(correlationMiddleware);
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.enableShutdownHooks();
  await opts.configure?.(app);
  return app;
}

export async function runService(opts: ServiceStartOptions): Promise<INestApplication> {
  const app = await createService(opts);
  await app.listen(opts.port, opts.host);
  opts.logger.info({ host: opts.host, port: opts.port }, `${opts.name} listening`);
  return app;
}
