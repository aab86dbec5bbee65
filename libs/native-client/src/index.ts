export * from './native-client';
export { statusError, type InferStreamStats } from './infer-streams';
