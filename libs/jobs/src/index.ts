// Worker half: handlers, the worker module, child processes, registry lookups.
export * from './job-handler';
export * from './job-worker.module';
export * from './job-worker.options';
export * from './job-worker.service';
export * from './run-process';
export * from './registry.client';
// Gateway half: dispatch and worker events, completion hooks, request-reply responders.
export * from './job-queue';
export * from './job-queue.module';
export * from './job-queue.options';
export * from './on-job-succeeded';
export * from './responds-to';
// Both halves.
export * from './job-streams';
export * from './durable-consumer';
