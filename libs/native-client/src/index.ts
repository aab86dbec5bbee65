export * from './native-client';
