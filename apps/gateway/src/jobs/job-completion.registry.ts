import { Injectable } from '@nestjs/common';
import type { JobType } from '@cvp/contracts';

export interface CompletedJob {
  id: string;
  ownerId: string;
  input: Record<string, unknown>;
}
export type JobCompletionHook = (
  job: CompletedJob,
  result: Record<string, unknown>,
) => Promise<Record<string, unknown> | void>;

/**
 * Hooks other gateway modules register (in onModuleInit) to turn a worker's `succeeded` into
 * rows of their own (model versions, benchmarks, packages). They run BEFORE the job is stored as
 * succeeded: what they return is merged into the stored result; if one throws, the job is stored
 * failed with that error.
 */
@Injectable()
export class JobCompletionRegistry {
  private readonly hooks = new Map<JobType, JobCompletionHook[]>();

  register(type: JobType, hook: JobCompletionHook): void {
    const list = this.hooks.get(type) ?? [];
    list.push(hook);
    this.hooks.set(type, list);
  }

  /** Drops the hooks of a type (tests that stand in for the module owning that type). */
  clear(type: JobType): void {
    this.hooks.delete(type);
  }

  /** Runs every hook of the type in registration order; returns the merged result. */
  async complete(type: JobType, job: CompletedJob, result: Record<string, unknown>): Promise<Record<string, unknown>> {
    let merged = { ...result };
    for (const hook of this.hooks.get(type) ?? []) {
      const extra = await hook(job, merged);
      if (extra) merged = { ...merged, ...extra };
    }
    return merged;
  }
}
