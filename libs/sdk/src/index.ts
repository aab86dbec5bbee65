export * from './auth';
export * from './client';
export * from './data-plane-metrics';
export * from './errors';
export * from './job-events';
export * from './types';
export type { paths, components, operations } from './generated/openapi';
