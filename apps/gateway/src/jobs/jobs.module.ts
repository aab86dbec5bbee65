import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobCompletionRegistry } from './job-completion.registry';
import { JobDispatcher } from './job-dispatcher';
import { JobEventEntity } from './job-event.entity';
import { JobEventHub } from './job-event-hub';
import { JobEventsConsumer } from './job-events.consumer';
import { JobSse } from './job-sse';
import { JobStreamTokens } from './job-stream-tokens';
import { JobEntity } from './job.entity';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';

/**
 * Jobs: REST, SSE progress, durable dispatch on JetStream, worker events applied to the jobs
 * table. Other modules use JobsService.create and register completion hooks on JobCompletionRegistry.
 */
@Module({
  imports: [TypeOrmModule.forFeature([JobEntity, JobEventEntity])],
  controllers: [JobsController],
  providers: [
    JobsService,
    JobCompletionRegistry,
    JobDispatcher,
    JobEventHub,
    JobEventsConsumer,
    JobStreamTokens,
    JobSse,
  ],
  exports: [JobsService, JobCompletionRegistry],
})
export class JobsModule {}
