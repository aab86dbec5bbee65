import { Injectable } from '@nestjs/common';
import { type JobStatusRequest, JobStatusLookup } from '@cvp/contracts';
import { RespondsTo } from '@cvp/jobs';
import { JobsService } from './jobs.service';

/** Answers the workers' check before they run a delivery: is this job finished, cancelled or unknown already? */
@Injectable()
export class JobsResponder {
  constructor(private readonly jobs: JobsService) {}

  // No answer on a database error: the worker retries the delivery later.
  @RespondsTo(JobStatusLookup)
  async status(req: JobStatusRequest) {
    return { jobId: req.jobId, state: await this.jobs.stateOf(req.jobId) };
  }
}
