import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { JobType } from '@cvp/contracts';
import { JobCompletionRegistry, type JobCompletionHook } from '../jobs/job-completion.registry';
import { JobsService } from '../jobs/jobs.service';

export interface CreatedJob {
  id: string;
  type: string;
  state: string;
}

/**
 * The models module's one door to the jobs module (issue #4): create a convert job, register
 * completion hooks. Resolved lazily so the two modules do not import each other.
 */
@Injectable()
export class ModelJobsPort {
  constructor(private readonly moduleRef: ModuleRef) {}

  private resolve<T>(token: new (...args: never[]) => T): T | undefined {
    try {
      return this.moduleRef.get(token, { strict: false });
    } catch {
      return undefined;
    }
  }

  async createConvertJob(modelId: string, ownerId: string): Promise<CreatedJob> {
    const jobs = this.resolve(JobsService);
    if (!jobs) throw new ServiceUnavailableException('the jobs module is not available; cannot queue the conversion');
    const job = await jobs.create('convert', { modelId }, ownerId);
    return { id: job.id, type: job.type, state: job.state };
  }

  /** False when the jobs module is absent (then nothing would ever complete). */
  registerCompletion(type: JobType, hook: JobCompletionHook): boolean {
    const registry = this.resolve(JobCompletionRegistry);
    if (!registry) return false;
    registry.register(type, hook);
    return true;
  }
}
