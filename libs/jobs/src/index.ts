export * from './job-handler';
export * from './job-streams';
export * from './job-worker.module';
export * from './job-worker.options';
export * from './job-worker.service';
export * from './run-process';
export * from './registry.client';
