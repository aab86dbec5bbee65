export * from './envelope';
export * from './enums';
export * from './engines';
export * from './subjects';
export * from './jobs';
export * from './deployments';
export * from './gpu-lease';
export * from './problem';
