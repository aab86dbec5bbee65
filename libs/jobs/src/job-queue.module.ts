import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { JobQueue } from './job-queue';
import { JOB_QUEUE_OPTIONS, type JobQueueOptions, resolveJobQueueOptions } from './job-queue.options';
import { JobSucceededHooks } from './on-job-succeeded';
import { Responders } from './responds-to';

/**
 * The gateway half of jobs: `JobQueueModule.forRoot()` gives JobQueue (dispatch, cancel, worker
 * events) and JobSucceededHooks, and finds the application's @OnJobSucceeded and @RespondsTo
 * methods. Needs PlatformModule (MessageBus, logger, readiness) in the application.
 */
@Module({})
export class JobQueueModule {
  static forRoot(options: JobQueueOptions = {}): DynamicModule {
    return {
      module: JobQueueModule,
      imports: [DiscoveryModule],
      providers: [
        { provide: JOB_QUEUE_OPTIONS, useValue: resolveJobQueueOptions(options) },
        JobQueue,
        JobSucceededHooks,
        Responders,
      ],
      exports: [JobQueue, JobSucceededHooks],
    };
  }
}
