import { type DynamicModule, Module } from '@nestjs/common';
import type { AnyJobHandler } from './job-handler';
import { JOB_HANDLERS, JOB_WORKER_OPTIONS, type JobWorkerOptions, resolveWorkerOptions } from './job-worker.options';
import { JobWorkerService } from './job-worker.service';

/**
 * Registers job handlers of a worker service:
 * `JobWorkerModule.forRoot({ handlers: [TrainHandler], imports: [...] })`. Needs PlatformModule
 * (MessageBus, logger) in the application.
 */
@Module({})
export class JobWorkerModule {
  static forRoot(options: JobWorkerOptions): DynamicModule {
    const resolved = resolveWorkerOptions(options);
    const types = new Set<string>();
    return {
      module: JobWorkerModule,
      imports: options.imports ?? [],
      providers: [
        ...(options.providers ?? []),
        ...options.handlers,
        { provide: JOB_WORKER_OPTIONS, useValue: resolved },
        {
          provide: JOB_HANDLERS,
          inject: options.handlers,
          useFactory: (...handlers: AnyJobHandler[]) => {
            for (const h of handlers) {
              if (types.has(h.type)) throw new Error(`two job handlers for type ${h.type}`);
              types.add(h.type);
            }
            return handlers;
          },
        },
        JobWorkerService,
      ],
      exports: [JobWorkerService],
    };
  }
}
