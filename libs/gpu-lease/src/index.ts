export * from './lease-client';
export * from './nats-lease-client';
export * from './gpu-lease.module';
