export * from './lease-client';
