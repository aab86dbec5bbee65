import type { JobContext, JobProgressUpdate } from '@cvp/jobs';
import pino from 'pino';

export interface TestJobContext extends JobContext {
  readonly updates: JobProgressUpdate[];
  readonly controller: AbortController;
}

/** A JobContext as JobWorkerService builds it, recording progress for assertions. */
export function testJobContext(jobId: string, attempt = 1): TestJobContext {
  const controller = new AbortController();
  const updates: JobProgressUpdate[] = [];
  return {
    jobId,
    ownerId: 'test-owner',
    attempt,
    signal: controller.signal,
    logger: pino({ level: 'silent' }),
    progress: (u) => updates.push(u),
    updates,
    controller,
  };
}
