export * from './artifact-key';
export * from './artifact-store';
export * from './config';
export * from './content-cache';
export * from './errors';
export * from './local-artifact-store';
export * from './object-store-artifact-store';
export * from './artifacts.module';
