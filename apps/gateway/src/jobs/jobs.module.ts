import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobQueueModule } from '@cvp/jobs';
import { LimitsModule } from '../limits/limits.module';
import { ModelEntity } from '../models/model.entity';
import { JobEventEntity } from './job-event.entity';
import { JobEventHub } from './job-event-hub';
import { JobSse } from './job-sse';
import { JobStreamTokens } from './job-stream-tokens';
import { JobEntity } from './job.entity';
import { JobsController } from './jobs.controller';
import { JobsResponder } from './jobs.responder';
import { JobEventsPublisher } from './jobs.publisher';
import { JobsService } from './jobs.service';

/**
 * Jobs: REST, the jobs table and its state machine, SSE progress. The job protocol itself (durable
 * dispatch, worker events, completion hooks, responders) is libs/jobs' JobQueueModule; other
 * modules create jobs with JobsService.create and react to finished ones with @OnJobSucceeded.
 */
@Module({
  imports: [
    // ModelEntity: read-only, for the owner of the model a job changes.
    TypeOrmModule.forFeature([JobEntity, JobEventEntity, ModelEntity]),
    LimitsModule,
    JobQueueModule.forRoot({ responderQueue: 'gateway' }),
  ],
  controllers: [JobsController],
  providers: [JobsService, JobsResponder, JobEventsPublisher, JobEventHub, JobStreamTokens, JobSse],
  // The web UI's job pages stream the same events (as HTML) through the hub.
  exports: [JobsService, JobEventHub],
})
export class JobsModule {}
