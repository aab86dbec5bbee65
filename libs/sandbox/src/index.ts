export * from './sandbox';
export * from './sandbox-exec';
export * from './sandbox-host';
export * from './sandbox-spec';
export * from './sandbox.config';
export * from './system-paths';
