import 'reflect-metadata';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Logger } from 'pino';
import { correlationMiddleware } from './correlation.middleware';
import { NestPinoLogger } from './logger';
import { initProcessMetrics } from './metrics';
import { PROBLEM_CONTENT_TYPE } from '@cvp/contracts';
import { problem, ProblemDetailsFilter } from './problem.filter';

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
  answerMalformedRequests(app.getHttpServer() as Server);
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

/**
 * Requests Node's HTTP parser refuses (a control character in a header, a malformed request line)
 * never reach Express; Node's own answer is a bare 400 without a body. They get the same
 * problem+json as every other error instead.
 */
export function answerMalformedRequests(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET' && !socket.bytesWritten)) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify(problem(status, `malformed HTTP request (${err.code ?? 'parse error'})`));
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
